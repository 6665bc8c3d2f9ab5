#!/usr/bin/env python3
"""fuser on an NVIDIA GPU against PyTorch eager, side by side in one run.

For each model (built by scripts/model_tests.py with random weights):
  - `fuser run MODEL --target cuda --compare-with reference` checks the GPU's outputs
    against the reference evaluator;
  - `fuser bench MODEL --target cuda` gives fuser's median latency (inputs resident on
    the GPU; every launch and the wait for the last);
  - the same architecture in PyTorch eager (torchvision's ResNet-50 and MobileNetV2,
    nn.TransformerEncoderLayer), float32, batch 1, timed the same way (median of
    `--iterations` runs, each ended by torch.cuda.synchronize()).
Prints a markdown table with the ratio fuser / PyTorch (below 1: fuser is faster).
Needs a GPU, its driver, torch and torchvision: run it on the GPU machine.

With --f16 both sides compute in float16: fuser runs `fuser quantize MODEL --type f16`
with `--tensor-cores` (its mma.sync kernels), whose outputs must stay within a relative
L2 error of 1e-2 of the float32 reference evaluator's; PyTorch runs model.half().

Usage: bench/gpu_torch.py FUSER [--models a,b] [--iterations N] [--work DIR] [--f16] [--doc docs/performance.md]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))
sys.path.insert(0, HERE)

MODELS = ["mobilenetv2_inverted_residual", "transformer_encoder_layer", "mobilenetv2", "resnet50"]
BEGIN = "<!-- gpu-torch:begin -->"
END = "<!-- gpu-torch:end -->"
BEGIN_F16 = "<!-- gpu-torch-f16:begin -->"
END_F16 = "<!-- gpu-torch-f16:end -->"
F16_LIMIT = 1e-2


def torch_model(name):
    import torch
    import torchvision

    if name == "resnet50":
        return torchvision.models.resnet50(weights=None), (1, 3, 224, 224)
    if name == "mobilenetv2":
        return torchvision.models.mobilenet_v2(weights=None), (1, 3, 224, 224)
    if name == "mobilenetv2_inverted_residual":
        from torchvision.models.mobilenetv2 import InvertedResidual

        return InvertedResidual(32, 32, 1, 6), (1, 32, 28, 28)
    if name == "transformer_encoder_layer":
        layer = torch.nn.TransformerEncoderLayer(64, 4, 256, dropout=0.0, activation="gelu", batch_first=True)
        return layer, (1, 16, 64)
    raise ValueError(f"no PyTorch counterpart for {name}")


def torch_latency(name, iterations, warmup, f16=False):
    import torch

    model, shape = torch_model(name)
    model = model.cuda().eval()
    x = torch.randn(*shape, device="cuda")
    if f16:
        model, x = model.half(), x.half()
    times = []
    with torch.no_grad():
        for i in range(warmup + iterations):
            start = time.perf_counter()
            model(x)
            torch.cuda.synchronize()
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def check_f16(args, name, path):
    """The f16 model's path and whether its tensor-core run on the GPU stays within
    F16_LIMIT (relative L2) of the float32 model on the reference evaluator."""
    import numpy as np

    half = os.path.join(args.work, f"{name}.f16.mlir")
    steps = [
        [args.fuser, "quantize", path, "--type", "f16", "-o", half],
        [args.fuser, "run", path, "--target", "reference", "--random-inputs", "--seed", "1",
         "--output-dir", os.path.join(args.work, name + "-f32")],
        [args.fuser, "run", half, "--target", "cuda", "--tensor-cores", "--random-inputs", "--seed", "1",
         "--output-dir", os.path.join(args.work, name + "-f16")],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        print(done.stdout + done.stderr, flush=True)
        if done.returncode != 0:
            return half, False
    ours = np.load(os.path.join(args.work, name + "-f16", "output_0.npy")).astype(np.float64)
    ref = np.load(os.path.join(args.work, name + "-f32", "output_0.npy")).astype(np.float64)
    rel = float(np.linalg.norm(ours - ref) / max(np.linalg.norm(ref), 1e-30))
    print(f"{name} f16 on tensor cores: rel L2 {rel:.2e} vs the f32 reference (limit {F16_LIMIT:g})", flush=True)
    return half, rel <= F16_LIMIT


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("fuser")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--work", default="target/bench-gpu")
    parser.add_argument("--doc", help="write the table into this markdown file")
    parser.add_argument("--f16", action="store_true", help="both sides in float16 (fuser on tensor cores)")
    args = parser.parse_args()
    import model_tests
    import torch

    os.makedirs(args.work, exist_ok=True)
    device = torch.cuda.get_device_name(0)
    rows, failed = [], False
    for name in args.models.split(","):
        path = os.path.join(args.work, f"{name}.onnx")
        import onnx

        onnx.save(model_tests.MODELS[name](), path)
        if args.f16:
            path, correct = check_f16(args, name, path)
        else:
            check = subprocess.run(
                [args.fuser, "run", path, "--target", "cuda", "--random-inputs", "--seed", "1",
                 "--output-dir", os.path.join(args.work, name), "--compare-with", "reference"],
                capture_output=True, text=True)
            print(check.stdout + check.stderr, flush=True)
            correct = check.returncode == 0
        failed |= not correct
        bench = subprocess.run(
            [args.fuser, "bench", path, "--target", "cuda", "--iterations", str(args.iterations),
             "--warmup", str(args.warmup), "--json"] + (["--tensor-cores"] if args.f16 else []),
            capture_output=True, text=True)
        if bench.returncode != 0:
            print(bench.stderr, flush=True)
            failed = True
            continue
        fuser_ms = json.loads(bench.stdout)["median_ms"]
        torch_ms = torch_latency(name, args.iterations, args.warmup, args.f16)
        rows.append((name, fuser_ms, torch_ms, correct))
        print(f"{name}: fuser {fuser_ms:.3f} ms, PyTorch eager {torch_ms:.3f} ms, "
              f"ratio {fuser_ms / torch_ms:.2f}, {'matches' if correct else 'DIFFERS FROM'} the reference",
              flush=True)
    begin, end = (BEGIN_F16, END_F16) if args.f16 else (BEGIN, END)
    command = ["python3", "bench/gpu_torch.py", args.fuser, "--iterations", str(args.iterations)] + (["--f16"] if args.f16 else [])
    precision = "float16 (fuser: --tensor-cores)" if args.f16 else "float32"
    agreement = f"rel L2 within {F16_LIMIT:g} of the f32 reference" if args.f16 else "within 1e-3"
    table = [begin, "",
             f"`{' '.join(command)}` on {device}, batch 1, {precision}, median of {args.iterations} runs:", "",
             "| model | fuser cuda (ms) | PyTorch eager (ms) | fuser / PyTorch | outputs vs reference |",
             "|---|---|---|---|---|"]
    for name, f, t, ok in rows:
        table.append(f"| {name} | {f:.3f} | {t:.3f} | {f / t:.2f} | {agreement if ok else 'differ'} |")
    table += ["", end]
    text = "\n".join(table)
    print(text)
    if args.doc:
        from doc_section import write_section

        title = "NVIDIA GPU, float16 on tensor cores: fuser against PyTorch eager" if args.f16 else \
            "NVIDIA GPU: fuser against PyTorch eager"
        write_section(args.doc, begin, end, title, text)
    sys.exit(1 if failed or not rows else 0)


if __name__ == "__main__":
    main()
