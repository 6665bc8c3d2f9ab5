#!/usr/bin/env python3
"""Two builds of fuser on one model, in alternating rounds: the latency ratio NEW/BASE.

A change to a kernel is measured against the build before it. The machine's speed moves
within minutes, so the two builds run alternately, round after round, and the ratio is
the median of the rounds' ratios (each round: `fuser bench --no-cache --json` of both,
which goes first alternating). `--no-cache`: a copied binary finds no runtime library
beside it to link a cached library with, and would run JIT code against the other's
cached one.

Usage: bench/ab.py BASE_FUSER NEW_FUSER MODEL.onnx [--rounds 8] [--threads 2]
                   [--iterations 20] [--min]
`--min` compares each run's fastest iteration instead of its median.
Keep a copy of the build from before the change first (`cp target/release/fuser BASE_FUSER`).
"""
import argparse
import json
import statistics
import subprocess
import sys


def latency(fuser, model, args):
    command = [fuser, "bench", model, "--threads", str(args.threads),
               "--iterations", str(args.iterations), "--no-cache", "--json"]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"{fuser} failed on {model}:\n{run.stderr}")
    report = json.loads(run.stdout)
    return report["min_ms"] if args.min else report["median_ms"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("new")
    parser.add_argument("model")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--min", action="store_true")
    args = parser.parse_args()
    ratios = []
    for round_ in range(args.rounds):
        if round_ % 2 == 0:
            base = latency(args.base, args.model, args)
            new = latency(args.new, args.model, args)
        else:
            new = latency(args.new, args.model, args)
            base = latency(args.base, args.model, args)
        ratios.append(new / base)
        print(f"round {round_}: base {base:.2f} ms, new {new:.2f} ms, ratio {new / base:.3f}", flush=True)
    print(f"median ratio new/base over {args.rounds} rounds: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
