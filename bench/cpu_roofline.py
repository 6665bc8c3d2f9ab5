#!/usr/bin/env python3
"""The CPU row of graph-eqsat-fuse's cost table (passes/src/eqsat/cost.rs), measured here.

- bandwidth: bytes read plus bytes written per second by numpy copying a 256 MiB array
  (one thread: the copy is memory-bound);
- peak: the best float32 matrix product measured, numpy's (2048^3) or fuser's own
  (`fuser bench` of a 1024^3 MatMul model): the attainable FMA throughput;
- launch: the median latency of a fuser model of one tiny kernel (`fuser bench`), i.e. the
  cost of one kernel call, its argument set-up and the thread pool's hand-off.

Usage: bench/cpu_roofline.py FUSER_BINARY [--threads N]
Prints one line per figure; the machine is noisy, so each is the best of several runs.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnx.numpy_helper
from onnx import TensorProto, helper


def best_of(runs, fn):
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    fuser = sys.argv[1]
    threads = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "2"
    a = np.ones(64 << 20, np.float32)  # 256 MiB
    b = np.empty_like(a)
    seconds = best_of(5, lambda: np.copyto(b, a))
    print(f"bandwidth: {2 * a.nbytes / seconds / 1e9:.1f} GB/s (numpy copy, read + write)")
    n = 2048
    x = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    seconds = best_of(5, lambda: x @ x)
    print(f"sgemm: {2 * n ** 3 / seconds / 1e9:.0f} GFLOP/s (numpy float32 {n}x{n} matmul)")
    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, "matmul.onnx")
        m = 1024
        w = onnx.numpy_helper.from_array(np.random.default_rng(1).standard_normal((m, m)).astype(np.float32), "w")
        node = helper.make_node("MatMul", ["x", "w"], ["y"], name="matmul")
        graph = helper.make_graph([node], "matmul", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, m])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, m])], [w])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.save(model, path)
        run = subprocess.run([fuser, "bench", path, "--threads", threads, "--iterations", "20", "--json", "--no-cache"],
                             capture_output=True, text=True, check=True)
        ms = json.loads(run.stdout)["median_ms"]
        print(f"gemm: {2 * m ** 3 / (ms / 1000) / 1e9:.0f} GFLOP/s (fuser bench of a {m}x{m}x{m} MatMul, {threads} threads)")
        path = os.path.join(work, "tiny.onnx")
        node = helper.make_node("Relu", ["x"], ["y"], name="relu")
        graph = helper.make_graph([node], "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [16])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [16])])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.save(model, path)
        run = subprocess.run([fuser, "bench", path, "--threads", threads, "--iterations", "2000", "--json", "--no-cache"],
                             capture_output=True, text=True, check=True)
        result = json.loads(run.stdout)
        print(f"launch: {result['median_ms'] * 1000:.1f} us (fuser bench of one 16-element kernel, median)")


if __name__ == "__main__":
    main()
