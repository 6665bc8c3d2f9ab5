#!/usr/bin/env python3
"""Where fuser's time goes against onnxruntime's, conv by conv, on one model.

`fuser bench --profile` gives each kernel's time, and an onnxruntime session with
profiling on gives each node's; both are summed per conv shape (weights and output shape:
a kernel function called for several layers counts them all), then side by side with their
ratio, the costliest first. A whole-model ratio says how far behind fuser is; this says on
which layers. The two run in `--rounds` alternating rounds, and each shape keeps its
fastest round on each side (the machine's load moves within minutes).

onnxruntime fuses a conv with its activation (FusedConv) and runs its convs in its own
blocked layout; its layout changes (ReorderInput/Output) and other nodes are listed by type
at the end, their warm-up runs left out as fuser's are. fuser's kernels that hold no conv
are listed without an onnxruntime time: a matmul or gemm (the classifier) by its shapes,
the others (pooling) under their own names. A kernel holding two convs counts against both
of theirs. onnxruntime's convs that match no kernel's follow, marked as its only: it pads
MobileNetV2's 24 channels to 32 in its blocked layout, so their shapes differ from fuser's.

Usage: bench/layers_ort.py FUSER MODEL.onnx [--rounds 3] [--threads 2] [--iterations 30]
(MODEL's input from MODEL.input.npy beside it, as bench/compare_ort.py writes it).
"""
import argparse
import collections
import json
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort

# Untimed runs before each side's timed ones (`fuser bench`'s default warm-up).
WARMUP = 3


def kernel_convs(fuser, model, work):
    """Each kernel function's convs (and other contractions) as (op, weights, output)."""
    mlir = f"{work}/kernels.mlir"
    subprocess.run([fuser, "compile", model, "--emit", "mlir", "--compile-to", "kernels", "-o", mlir],
                   check=True, capture_output=True)
    keys, current = {}, None
    with open(mlir) as f:
        for line in f:
            if line.startswith("module"):
                continue  # its attributes (the fusion report) are one long line
            found = re.search(r"func\.func private @(\w+)\(", line)
            if found:
                current = found.group(1)
                continue
            op = re.search(r'"graph\.(conv|gemm|mat_mul)"\(.*: \((.*?)\) -> tensor<([^>]*)>', line)
            if current and op:
                shapes = re.findall(r"tensor<([^>]*)>", op.group(2))
                weights = shapes[1].removesuffix("xf32") if len(shapes) > 1 else ""
                keys.setdefault(current, []).append((op.group(1), weights, op.group(3).removesuffix("xf32")))
    return keys


def fuser_times(fuser, model, keys, args):
    run = subprocess.run([fuser, "bench", model, "--threads", str(args.threads), "--iterations",
                          str(args.iterations), "--profile", "--json"], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"{fuser} failed on {model}:\n{run.stderr}")
    report = json.loads(run.stdout.strip().splitlines()[-1])
    times = collections.defaultdict(float)
    for kernel in report["kernels"]:
        times[tuple(keys.get(kernel["kernel"], [(kernel["kernel"], "", "")]))] += kernel["ms"]
    return times


def ort_times(model, x, args, work):
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.enable_profiling = True
    options.profile_file_prefix = f"{work}/onnxruntime"
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    feeds = {session.get_inputs()[0].name: x}
    for _ in range(WARMUP + args.iterations):
        session.run(None, feeds)
    with open(session.end_profiling()) as f:
        events = json.load(f)
    convs, others = collections.defaultdict(float), collections.defaultdict(float)
    shape = lambda s: "x".join(str(d) for d in list(s.values())[0])
    # Each node's event of every run, in order: the first WARMUP are the warm-up runs.
    seen = collections.Counter()
    for event in events:
        if event.get("cat") != "Node" or not event["name"].endswith("_kernel_time"):
            continue
        seen[event["name"]] += 1
        if seen[event["name"]] <= WARMUP:
            continue
        node, ms = event["args"], event["dur"] / 1000 / args.iterations
        if node["op_name"] in ("Conv", "FusedConv"):
            convs[("conv", shape(node["input_type_shape"][1]), shape(node["output_type_shape"][0]))] += ms
        else:
            others[node["op_name"]] += ms
    return convs, others


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("fuser")
    parser.add_argument("model")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args()
    inputs = args.model.removesuffix(".onnx") + ".input.npy"
    try:
        x = np.load(inputs)
    except OSError as error:
        sys.exit(f"layers_ort: no input for {args.model}: {inputs} ({error}); bench/compare_ort.py writes it")
    with tempfile.TemporaryDirectory() as work:
        keys = kernel_convs(args.fuser, args.model, work)
        best_fuser, best_ort, others = {}, {}, {}
        for _ in range(args.rounds):
            for key, ms in fuser_times(args.fuser, args.model, keys, args).items():
                best_fuser[key] = min(best_fuser.get(key, ms), ms)
            convs, rest = ort_times(args.model, x, args, work)
            for key, ms in convs.items():
                best_ort[key] = min(best_ort.get(key, ms), ms)
            for op, ms in rest.items():
                others[op] = min(others.get(op, ms), ms)
    print(f"{'fuser ms':>9} {'ort ms':>8} {'ratio':>6}  kernel's contractions (op, weights, output)")
    rows = []
    for key, ms in best_fuser.items():
        theirs = [best_ort[c] for c in key if c in best_ort]
        ort_ms = sum(theirs) if len(theirs) == len(key) else None
        rows.append((ms, ort_ms, key))
    for ms, ort_ms, key in sorted(rows, key=lambda r: -r[0]):
        ratio = f"{ms / ort_ms:6.2f}" if ort_ms else f"{'':>6}"
        theirs = f"{ort_ms:8.3f}" if ort_ms else f"{'':>8}"
        print(f"{ms:9.3f} {theirs} {ratio}  {', '.join(' '.join(filter(None, c)) for c in key)}")
    matched = {c for key in best_fuser for c in key}
    for key, ms in sorted(best_ort.items(), key=lambda kv: -kv[1]):
        if key not in matched:
            print(f"{'':>9} {ms:8.3f} {'':>6}  {' '.join(key)} (onnxruntime's only)")
    print(f"fuser's kernels {sum(best_fuser.values()):.3f} ms; onnxruntime's convs "
          f"{sum(best_ort.values()):.3f} ms, other nodes: "
          + ", ".join(f"{op} {ms:.3f}" for op, ms in sorted(others.items(), key=lambda kv: -kv[1])))


if __name__ == "__main__":
    main()
