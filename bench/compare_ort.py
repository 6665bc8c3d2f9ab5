"""Latency of fuser against onnxruntime on the same models, inputs and thread count.

Each model is built with the helpers of scripts/model_tests.py (random weights), saved as
ONNX, and timed by `fuser bench` (JIT, --target cpu) and by an onnxruntime session with
the same number of intra-op threads, warm-up runs and timed runs, on one input saved as
.npy and given to both. fuser compiles afresh (`--no-cache`), so its compile time is a
real compile. Both run in `--rounds` rounds (default 3) that alternate them, so that a
change of the machine's load moves both sides of a round's ratio. Prints a table with
the median over rounds of each side's median latency, the median of the rounds' ratios
fuser/onnxruntime, and their geometric mean; `--doc FILE` also writes it as markdown.

    .venv/bin/python bench/compare_ort.py ./target/release/fuser [--threads 2] [--iterations 20] [--rounds 3] [--doc docs/performance.md]
"""

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import model_tests  # noqa: E402

MODELS = {
    "resnet50": model_tests.resnet50,
    "mobilenetv2": model_tests.mobilenetv2,
    "bert_base_layer": model_tests.bert_base_layer,
}


def ort_median_ms(path, x, threads, warmup, iterations):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    for _ in range(warmup):
        session.run(None, {"input": x})
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        session.run(None, {"input": x})
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("fuser")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", default="target/bench")
    parser.add_argument("--doc")
    parser.add_argument("--only")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    rows = []
    for name, build in MODELS.items():
        if args.only and name != args.only:
            continue
        path = os.path.join(args.work, f"{name}.onnx")
        model = build()
        onnx.save(model, path)
        dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
        x = np.random.default_rng(1).uniform(-1, 1, dims).astype(np.float32)
        x_path = os.path.join(args.work, f"{name}.input.npy")
        np.save(x_path, x)
        # Rounds alternate the two runtimes, so that a change of the machine's load moves
        # both sides of a round's ratio; the table takes the median over rounds.
        rounds = []
        for _ in range(args.rounds):
            run = subprocess.run([args.fuser, "bench", path, "--threads", str(args.threads), "--iterations", str(args.iterations),
                                  "--warmup", str(args.warmup), "--input", f"input={x_path}", "--json", "--no-cache"],
                                 capture_output=True, text=True)
            if run.returncode != 0:
                print(f"{name}: fuser bench failed: {run.stderr.strip()}", file=sys.stderr)
                sys.exit(1)
            ours = json.loads(run.stdout.strip().splitlines()[-1])
            theirs = ort_median_ms(path, x, args.threads, args.warmup, args.iterations)
            rounds.append((ours["median_ms"], theirs, ours["median_ms"] / theirs, ours["compile_s"]))
        ours_ms, theirs_ms, ratio, compile_s = (float(np.median([r[i] for r in rounds])) for i in range(4))
        rows.append((name, ours_ms, theirs_ms, ratio, compile_s))
        spread = ", ".join(f"{r[2]:.2f}" for r in rounds)
        print(f"{name}: fuser {ours_ms:.2f} ms, onnxruntime {theirs_ms:.2f} ms, ratio {ratio:.2f} (rounds: {spread}), "
              f"compile {compile_s:.1f} s", flush=True)
    geomean = math.exp(sum(math.log(r[3]) for r in rows) / len(rows))
    print(f"geomean ratio fuser/onnxruntime: {geomean:.2f}")
    if args.doc:
        lines = [
            "| model | fuser median (ms) | onnxruntime median (ms) | ratio fuser/ort | fuser compile (s) |",
            "|---|---|---|---|---|",
        ]
        lines += [f"| {n} | {a:.2f} | {b:.2f} | {r:.2f} | {c:.1f} |" for n, a, b, r, c in rows]
        lines.append(f"| geomean | | | {geomean:.2f} | |")
        table = "\n".join(lines)
        context = (f"Measured with {args.threads} threads, {args.warmup} warm-up and {args.iterations} timed runs, batch 1, "
                   f"{args.rounds} rounds alternating fuser and onnxruntime (medians over rounds; the ratio is the median "
                   f"of the rounds' ratios), "
                   f"onnxruntime {ort.__version__}, on {platform.machine()} with {os.cpu_count()} cores.")
        with open(args.doc) as f:
            doc = f.read()
        start, end = "<!-- bench:start -->", "<!-- bench:end -->"
        before, rest = doc.split(start, 1)
        _, after = rest.split(end, 1)
        with open(args.doc, "w") as f:
            f.write(f"{before}{start}\n{context}\n\n{table}\n{end}{after}")


if __name__ == "__main__":
    main()
