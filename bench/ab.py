#!/usr/bin/env python3
"""Two builds of fuser on one model, in alternating rounds: the latency ratio NEW/BASE.

A change to a kernel is measured against the build before it. The machine's speed moves
within minutes, so the two builds run alternately, round after round, and the ratio is
the median of the rounds' ratios (each round: `fuser bench --no-cache --json` of both,
which goes first alternating). `--no-cache`: a copied binary finds no runtime library
beside it to link a cached library with, and would run JIT code against the other's
cached one.

`--kernels` runs `fuser bench --profile` instead and prints, for the `--top` kernels that
take the most time, the median over rounds of each kernel's time per run (all calls of one
kernel function summed) under both builds and their ratio, then the same for the sum over
kernels. A kernel-level change shows in the kernels it touches while the others stay near
1.0: on a noisy machine that is easier to read than the whole model's time.

Usage: bench/ab.py BASE_FUSER NEW_FUSER MODEL.onnx [--rounds 8] [--threads 2]
                   [--iterations 20] [--min] [--kernels [--top 20]]
`--min` compares each run's fastest iteration instead of its median.
Keep a copy of the build from before the change first (`cp target/release/fuser BASE_FUSER`).
"""
import argparse
import collections
import json
import statistics
import subprocess
import sys


def bench(fuser, model, args):
    """One `fuser bench` run's JSON report."""
    command = [fuser, "bench", model, "--threads", str(args.threads),
               "--iterations", str(args.iterations), "--no-cache", "--json"]
    if args.kernels:
        command.append("--profile")
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"{fuser} failed on {model}:\n{run.stderr}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def per_kernel(report):
    """Milliseconds per kernel function (its calls summed)."""
    times = collections.defaultdict(float)
    for kernel in report["kernels"]:
        times[kernel["kernel"]] += kernel["ms"]
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("new")
    parser.add_argument("model")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--min", action="store_true")
    parser.add_argument("--kernels", action="store_true")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    ratios = []
    kernels = {"base": collections.defaultdict(list), "new": collections.defaultdict(list)}
    totals = {"base": [], "new": []}
    for round_ in range(args.rounds):
        order = [("base", args.base), ("new", args.new)]
        latency = {}
        for name, fuser in order if round_ % 2 == 0 else order[::-1]:
            report = bench(fuser, args.model, args)
            latency[name] = report["min_ms"] if args.min else report["median_ms"]
            if args.kernels:
                times = per_kernel(report)
                for kernel, ms in times.items():
                    kernels[name][kernel].append(ms)
                totals[name].append(sum(times.values()))
        base, new = latency["base"], latency["new"]
        ratios.append(new / base)
        print(f"round {round_}: base {base:.2f} ms, new {new:.2f} ms, ratio {new / base:.3f}", flush=True)
    print(f"median ratio new/base over {args.rounds} rounds: {statistics.median(ratios):.3f}")
    if args.kernels:
        rows = sorted(((statistics.median(b), statistics.median(kernels["new"][k]), k)
                       for k, b in kernels["base"].items() if kernels["new"].get(k)), reverse=True)
        for base, new, kernel in rows[: args.top]:
            print(f"{kernel:44} base {base:8.3f} ms  new {new:8.3f} ms  ratio {new / base:.3f}")
        base, new = statistics.median(totals["base"]), statistics.median(totals["new"])
        print(f"{'all kernels':44} base {base:8.3f} ms  new {new:8.3f} ms  ratio {new / base:.3f}")


if __name__ == "__main__":
    main()
