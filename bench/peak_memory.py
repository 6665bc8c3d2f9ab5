#!/usr/bin/env python3
"""Peak resident memory of fuser and onnxruntime on the same models: `fuser bench --json`
reports its own peak RSS (the whole process; measured on a second run, which loads the
compiled model from the cache instead of compiling it); onnxruntime runs in
a child Python process of its own, whose peak RSS is read with getrusage. Also prints the
memory plan of each model (`fuser compile --report`: activations laid end to end vs the
planned arena).

Usage: bench/peak_memory.py FUSER_BINARY [--threads N] [--doc docs/performance.md]
With --doc, the table replaces the section between the peak-memory markers.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import model_tests  # noqa: E402
from doc_section import write_section  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402

MODELS = ["resnet50", "mobilenetv2", "bert_base_layer"]
BEGIN, END = "<!-- peak-memory:begin -->", "<!-- peak-memory:end -->"

ORT_CHILD = """
import sys, resource, numpy as np, onnxruntime as ort
path, x, threads = sys.argv[1], np.load(sys.argv[2]), int(sys.argv[3])
options = ort.SessionOptions()
options.intra_op_num_threads = threads
session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
name = session.get_inputs()[0].name
for _ in range(5):
    session.run(None, {name: x})
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fuser", help="the fuser binary")
    parser.add_argument("--threads", default="2")
    parser.add_argument("--doc", help="replace the section between the peak-memory markers of this file")
    args = parser.parse_args()
    fuser, threads, doc = args.fuser, args.threads, args.doc
    work = os.path.join("target", "bench")
    os.makedirs(work, exist_ok=True)
    rows = []
    for name in MODELS:
        path = os.path.join(work, f"{name}.onnx")
        if not os.path.exists(path):
            onnx.save(getattr(model_tests, name)(), path)
        model = onnx.load(path, load_external_data=False)
        dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
        dtype = np.float32 if model.graph.input[0].type.tensor_type.elem_type == 1 else np.int64
        x = np.random.default_rng(0).standard_normal(dims).astype(dtype) if dtype == np.float32 \
            else np.random.default_rng(0).integers(0, 100, dims).astype(dtype)
        npy = os.path.join(work, f"{name}.peak_input.npy")
        np.save(npy, x)
        input_name = model.graph.input[0].name
        command = [fuser, "bench", path, "--threads", threads, "--iterations", "5", "--json", "--input",
                   f"{input_name}={npy}"]
        # The first run compiles and fills the model cache; the second, measured, loads it.
        subprocess.run(command, capture_output=True, text=True, check=True)
        ours = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
        theirs = float(subprocess.run([sys.executable, "-c", ORT_CHILD, path, npy, threads],
                                      capture_output=True, text=True, check=True).stdout.strip())
        report = os.path.join(work, f"{name}.memory.json")
        subprocess.run([fuser, "compile", path, "--emit", "mlir", "--compile-to", "bufferized", "--report", report,
                        "-o", os.path.join(work, f"{name}.bufferized.mlir")], capture_output=True, check=True)
        with open(report) as f:
            memory = json.load(f)["memory"]
        rows.append(f"| {name} | {ours['peak_rss_mb']:.0f} | {theirs:.0f} | {ours['peak_rss_mb'] / theirs:.2f} | "
                    f"{memory['naive_activation_bytes'] / 1e6:.1f} | {memory['arena_peak_bytes'] / 1e6:.1f} |")
        print(rows[-1], flush=True)
    table = "\n".join([
        BEGIN,
        f"Measured by `.venv/bin/python bench/peak_memory.py ./target/release/fuser --threads {threads}`: peak",
        "resident memory (MB) of `fuser bench` run a second time, so that the compiled model comes from",
        "the cache (the process still imports the model to key the cache, and the library holds its own",
        "copy of the weights), and of an onnxruntime session in its own process (5 runs each);",
        "activations (MB) laid end to end and in the planned arena, from `fuser compile --report`.",
        "",
        "| model | fuser peak RSS | onnxruntime peak RSS | ratio | activations (naive) | arena |",
        "|---|---|---|---|---|---|",
        *rows,
        END,
    ])
    print(table)
    if doc:
        write_section(doc, BEGIN, END, "Peak memory", table)


if __name__ == "__main__":
    main()
