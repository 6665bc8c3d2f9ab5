"""INT8 post-training quantization: fuser against onnxruntime's own `quantize_static`.

For each model (built by scripts/model_tests.py, random weights):
- 32 random inputs calibrate both quantizers: `fuser quantize --calibration DIR` (minmax,
  per-channel weights) and onnxruntime's `quantize_static` (QDQ, per-channel, minmax);
- 256 other inputs run through the f32 model (onnxruntime), the onnxruntime INT8 model
  and fuser's INT8 model (compiled to a shared library, called through ctypes);
- accuracy: top-1 agreement with f32 and the relative L2 error against f32 of each;
- latency (same run, same input, same thread count): onnxruntime FP32, fuser FP32
  (`fuser bench`) and fuser INT8 (`fuser bench` of the quantized model), in `--rounds`
  rounds (default 3) that alternate the three, each one's median over the rounds.

    .venv/bin/python bench/int8.py ./target/release/fuser [--threads 2] [--rounds 3] [--doc docs/performance.md]

Random-weight models have nearly flat outputs, so the figures only mean something next
to the peer's.
"""

import argparse
import ctypes
import json
import os
import platform
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import model_tests  # noqa: E402
from compare_ort import ort_median_ms  # noqa: E402
from doc_section import write_section  # noqa: E402

MODELS = {
    "resnet50": model_tests.resnet50,
    "mobilenetv2": model_tests.mobilenetv2,
}


class Reader(CalibrationDataReader):
    def __init__(self, inputs):
        self.items = iter([{"input": x} for x in inputs])

    def get_next(self):
        return next(self.items, None)


def fuser(args, *command):
    run = subprocess.run([args.fuser, *command], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"fuser {command[0]} failed: {run.stderr.strip()}")
    return run.stdout


def fuser_bench_ms(args, model, x_path):
    out = fuser(args, "bench", model, "--threads", str(args.threads), "--iterations", str(args.iterations),
                "--warmup", str(args.warmup), "--input", f"input={x_path}", "--json", "--no-cache")
    return json.loads(out.strip().splitlines()[-1])["median_ms"]


def run_library(path, symbol, inputs, out_elements):
    # The library exports its entry only; its runtime uses every core (the accuracy
    # figures do not depend on the thread count: integer sums are exact).
    library = ctypes.CDLL(os.path.abspath(path))
    entry = getattr(library, symbol)
    outputs = []
    for x in inputs:
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = np.empty(out_elements, dtype=np.float32)
        entry(x.ctypes.data_as(ctypes.c_void_p), y.ctypes.data_as(ctypes.c_void_p))
        outputs.append(y)
    return np.stack(outputs)


def stats(reference, outputs):
    top1 = float(np.mean(np.argmax(reference, axis=1) == np.argmax(outputs, axis=1)) * 100)
    rel = float(np.linalg.norm(outputs - reference) / np.linalg.norm(reference))
    return top1, rel


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("fuser")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calibration", type=int, default=32)
    parser.add_argument("--eval", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", default="target/bench/int8")
    parser.add_argument("--only")
    parser.add_argument("--doc")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    rows = []
    for name, build in MODELS.items():
        if args.only and name != args.only:
            continue
        work = os.path.join(args.work, name)
        os.makedirs(os.path.join(work, "calibration"), exist_ok=True)
        path = os.path.join(work, "model.onnx")
        model = build()
        onnx.save(model, path)
        dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
        calibration = [np.random.default_rng(100 + i).uniform(-1, 1, dims).astype(np.float32) for i in range(args.calibration)]
        evaluation = [np.random.default_rng(10_000 + i).uniform(-1, 1, dims).astype(np.float32) for i in range(args.eval)]
        for i, x in enumerate(calibration):
            np.save(os.path.join(work, "calibration", f"{i:04d}.npy"), x)
        # onnxruntime's INT8 model: QDQ, per-channel weights, minmax.
        ort_int8 = os.path.join(work, "ort_int8.onnx")
        quantize_static(path, ort_int8, Reader(calibration), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        f32 = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        int8 = ort.InferenceSession(ort_int8, options, providers=["CPUExecutionProvider"])
        reference = np.stack([f32.run(None, {"input": x})[0].reshape(-1) for x in evaluation])
        theirs = np.stack([int8.run(None, {"input": x})[0].reshape(-1) for x in evaluation])
        # fuser's INT8 model, compiled to a library.
        ours_mlir = os.path.join(work, "fuser_int8.mlir")
        fuser(args, "quantize", path, "--calibration", os.path.join(work, "calibration"), "-o", ours_mlir)
        library = os.path.join(work, "fuser_int8.so")
        summary = subprocess.run([args.fuser, "compile", ours_mlir, "-o", library], capture_output=True, text=True)
        if summary.returncode != 0:
            sys.exit(f"fuser compile failed: {summary.stderr.strip()}")
        symbol = summary.stderr.split("(entry ")[1].split(",")[0] if "(entry " in summary.stderr else summary.stdout.split("(entry ")[1].split(",")[0]
        ours = run_library(library, symbol, evaluation, reference.shape[1])
        (t_top1, t_rel), (o_top1, o_rel) = stats(reference, theirs), stats(reference, ours)
        # Latency, one input for all.
        x_path = os.path.join(work, "input.npy")
        np.save(x_path, evaluation[0])
        # Rounds alternate the three, so that a change of the machine's load moves all of
        # them; the table takes each one's median over the rounds.
        rounds = [(ort_median_ms(path, evaluation[0], args.threads, args.warmup, args.iterations),
                   fuser_bench_ms(args, path, x_path), fuser_bench_ms(args, ours_mlir, x_path))
                  for _ in range(args.rounds)]
        ort_fp32, fuser_fp32, fuser_int8 = (float(np.median([r[i] for r in rounds])) for i in range(3))
        rows.append((name, o_top1, t_top1, o_rel, t_rel, fuser_int8, fuser_fp32, ort_fp32))
        print(f"{name}: top-1 vs f32 fuser {o_top1:.1f}% onnxruntime {t_top1:.1f}%; rel L2 fuser {o_rel:.4f} "
              f"onnxruntime {t_rel:.4f} (ratio {o_rel / t_rel:.2f}); latency fuser INT8 {fuser_int8:.1f} ms, "
              f"fuser FP32 {fuser_fp32:.1f} ms, onnxruntime FP32 {ort_fp32:.1f} ms", flush=True)
    if args.doc:
        lines = [
            "<!-- int8:start -->",
            f"{args.calibration} calibration inputs, {args.eval} evaluation inputs (uniform in [-1, 1]), "
            f"{args.threads} threads, onnxruntime {ort.__version__}, on {platform.machine()} with {os.cpu_count()} cores; "
            f"latencies are medians over {args.rounds} rounds that alternate onnxruntime FP32, fuser FP32 and fuser INT8.",
            "",
            "| model | top-1 vs f32: fuser | onnxruntime | rel L2 vs f32: fuser | onnxruntime | ratio | "
            "fuser INT8 (ms) | fuser FP32 (ms) | onnxruntime FP32 (ms) | INT8 / ort FP32 | INT8 / fuser FP32 |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for n, ot, tt, orl, trl, i8, f32_ms, ort_ms in rows:
            lines.append(f"| {n} | {ot:.1f}% | {tt:.1f}% | {orl:.4f} | {trl:.4f} | {orl / trl:.2f} | {i8:.1f} | "
                         f"{f32_ms:.1f} | {ort_ms:.1f} | {i8 / ort_ms:.2f} | {i8 / f32_ms:.2f} |")
        lines.append("<!-- int8:end -->")
        write_section(args.doc, "<!-- int8:start -->", "<!-- int8:end -->", "INT8", "\n".join(lines))


if __name__ == "__main__":
    main()
