#!/usr/bin/env python3
"""Per-kernel A/B of two fuser builds on one model.

Usage: bench/ab_kernels.py BASE_FUSER NEW_FUSER MODEL.onnx [--rounds 8] [--threads 2]
                           [--iterations 30] [--top 20]

Runs `fuser bench --profile --json --no-cache` with each build in turn, alternating which
goes first, and prints, for the kernels that take the most time, the median over rounds of
each kernel's time per run (all calls of one kernel function summed), and the ratio
new/base; then the same for the sum over kernels. A kernel-level change shows in the
kernels it touches while the others stay near 1.0: on a noisy machine that is easier to
read than the whole model's time (`bench/ab.py`). `--no-cache` makes each build compile
the model with its own runtime (a cached library would carry the runtime it was built
with).

Keep a copy of the build from before the change first (`cp target/release/fuser BASE_FUSER`).
"""
import argparse
import collections
import json
import statistics
import subprocess
import sys


def profile(fuser: str, model: str, threads: int, iterations: int) -> dict[str, float]:
    """One run's milliseconds per kernel function (its calls summed)."""
    command = [fuser, "bench", model, "--threads", str(threads), "--iterations", str(iterations),
               "--profile", "--json", "--no-cache"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    per_kernel: dict[str, float] = collections.defaultdict(float)
    for kernel in report["kernels"]:
        per_kernel[kernel["kernel"]] += kernel["ms"]
    return per_kernel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base")
    parser.add_argument("new")
    parser.add_argument("model")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    times = {build: collections.defaultdict(list) for build in ("base", "new")}
    totals: dict[str, list[float]] = {"base": [], "new": []}
    for r in range(args.rounds):
        order = [("base", args.base), ("new", args.new)]
        for name, fuser in order if r % 2 == 0 else order[::-1]:
            per_kernel = profile(fuser, args.model, args.threads, args.iterations)
            for kernel, ms in per_kernel.items():
                times[name][kernel].append(ms)
            totals[name].append(sum(per_kernel.values()))
        print(f"round {r}: base {totals['base'][-1]:.2f} ms, new {totals['new'][-1]:.2f} ms in kernels",
              file=sys.stderr)
    rows = []
    for kernel, base in times["base"].items():
        new = times["new"].get(kernel)
        if new:
            rows.append((statistics.median(base), statistics.median(new), kernel))
    rows.sort(reverse=True)
    for base, new, kernel in rows[: args.top]:
        print(f"{kernel:44} base {base:8.3f} ms  new {new:8.3f} ms  ratio {new / base:.3f}")
    base, new = statistics.median(totals["base"]), statistics.median(totals["new"])
    print(f"{'all kernels':44} base {base:8.3f} ms  new {new:8.3f} ms  ratio {new / base:.3f}")


if __name__ == "__main__":
    main()
