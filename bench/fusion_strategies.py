#!/usr/bin/env python3
"""Fusion strategies side by side: for each model, `graph-eqsat-fuse` with strategy=eqsat
and strategy=greedy — kernel count, the cost model's estimate, the search's time and stop
reason (from `fuser compile --report`) — and the measured latency of both (`fuser bench
--fusion`), the two run alternately in one command so that the machine's noise hits both.

Usage: bench/fusion_strategies.py FUSER_BINARY [--threads N] [--rounds N] [--doc docs/performance.md]
With --doc, the table replaces the section between the fusion-strategies markers.
"""
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
import model_tests  # noqa: E402
from doc_section import write_section  # noqa: E402

import onnx  # noqa: E402

MODELS = model_tests.FUSION_MODELS
BEGIN, END = "<!-- fusion-strategies:begin -->", "<!-- fusion-strategies:end -->"


def bench(fuser, path, fusion, threads):
    run = subprocess.run([fuser, "bench", path, "--fusion", fusion, "--threads", threads, "--iterations", "20",
                          "--warmup", "3", "--json"], capture_output=True, text=True, check=True)
    return json.loads(run.stdout)["median_ms"]


def main():
    fuser = sys.argv[1]
    threads = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "2"
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 3
    doc = sys.argv[sys.argv.index("--doc") + 1] if "--doc" in sys.argv else None
    work = os.path.join("target", "bench")
    os.makedirs(work, exist_ok=True)
    rows = []
    for name in MODELS:
        path = os.path.join(work, f"{name}.onnx")
        if not os.path.exists(path):
            onnx.save(model_tests.MODELS[name](), path)
        reports = {f: model_tests.fusion_report(fuser, path, work, f) for f in ("eqsat", "greedy")}
        times = {"eqsat": [], "greedy": []}
        for _ in range(rounds):
            for fusion in ("eqsat", "greedy"):
                times[fusion].append(bench(fuser, path, fusion, threads))
        e, g = reports["eqsat"], reports["greedy"]
        me, mg = statistics.median(times["eqsat"]), statistics.median(times["greedy"])
        rows.append(f"| {name} | {e['kernels']} | {g['kernels']} | {e['cost_us']['chosen']:.0f} | "
                    f"{g['cost_us']['chosen']:.0f} | {e['cost_us']['tree_extraction']:.0f} | {e['eqsat']['ms']:.0f} | "
                    f"{e['eqsat']['stop_reason']} | {me:.2f} | {mg:.2f} | {me / mg:.2f} |")
        print(rows[-1], flush=True)
    command = f"`.venv/bin/python bench/fusion_strategies.py ./target/release/fuser --threads {threads} --rounds {rounds}`"
    table = "\n".join([
        BEGIN,
        f"Measured by {command}: kernel counts and the cost model's estimate (us) from",
        "`fuser compile --report`, and the median latency (ms, `fuser bench`, CPU JIT) of each strategy,",
        f"the two alternating over {rounds} rounds in one command. Latencies are this machine's, at the",
        "time of the run; the ratio is the figure to read.",
        "",
        "| model | kernels eqsat | kernels greedy | cost eqsat | cost greedy | cost tree extraction | eqsat ms | stop | latency eqsat | latency greedy | eqsat/greedy |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        END,
    ])
    print(table)
    if doc:
        write_section(doc, BEGIN, END, "Fusion strategies (eqsat vs greedy)", table)


if __name__ == "__main__":
    main()
