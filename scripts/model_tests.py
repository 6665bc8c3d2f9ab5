#!/usr/bin/env python3
"""Model tests: models built with the onnx helper API and random weights are run by
`fuser run --target reference` and `--target cpu` and by onnxruntime on the same random
inputs, and must agree to a relative L2 error of at most 1e-5 (reference) or 1e-4 (cpu,
computed in f32).

Usage: scripts/model_tests.py FUSER_BINARY WORK_DIR [--only NAME]
Prints one line per model and `N passed, M failed`; exits 1 on any failure.
"""
import json
import os
import platform
import shutil
import subprocess
import time
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(2026)


class Builder:
    def __init__(self):
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, prefix):
        self.count += 1
        return f"{prefix}_{self.count}"

    def weight(self, shape, scale=None):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        scale = scale if scale is not None else (2.0 / max(fan_in, 1)) ** 0.5
        w = (RNG.standard_normal(shape) * scale).astype(np.float32)
        n = self.name("w")
        self.inits.append(numpy_helper.from_array(w, n))
        return n

    def positive(self, shape):
        n = self.name("p")
        self.inits.append(numpy_helper.from_array(RNG.uniform(0.5, 1.5, shape).astype(np.float32), n))
        return n

    def op(self, op_type, inputs, **attrs):
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def conv_bn(self, x, cin, cout, k, stride=1, group=1, relu=True, relu6=False):
        w = self.weight([cout, cin // group, k, k])
        y = self.op("Conv", [x, w], kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4, group=group)
        y = self.op("BatchNormalization", [y, self.positive([cout]), self.weight([cout], 0.1), self.weight([cout], 0.1), self.positive([cout])], epsilon=1e-5)
        if relu6:
            lo = self.const(np.float32(0.0))
            hi = self.const(np.float32(6.0))
            y = self.op("Clip", [y, lo, hi])
        elif relu:
            y = self.op("Relu", [y])
        return y

    def const(self, value):
        n = self.name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(value), n))
        return n

    def model(self, name, x_shape, out, out_shape, opset=17):
        g = helper.make_graph(self.nodes, name, [helper.make_tensor_value_info("input", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, out_shape)], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m


def bottleneck(b, x, cin, mid, cout, stride):
    y = b.conv_bn(x, cin, mid, 1)
    y = b.conv_bn(y, mid, mid, 3, stride)
    y = b.conv_bn(y, mid, cout, 1, relu=False)
    skip = x if (cin == cout and stride == 1) else b.conv_bn(x, cin, cout, 1, stride, relu=False)
    return b.op("Relu", [b.op("Add", [y, skip])])


def resnet_bottleneck_block():
    b = Builder()
    y = bottleneck(b, "input", 64, 32, 128, 1)
    return b.model("resnet_bottleneck", [1, 64, 28, 28], y, [1, 128, 28, 28])


def mobilenetv2_inverted_residual():
    b = Builder()
    x = "input"
    y = b.conv_bn(x, 32, 192, 1, relu6=True)
    y = b.conv_bn(y, 192, 192, 3, group=192, relu6=True)  # depthwise
    y = b.conv_bn(y, 192, 32, 1, relu=False)
    y = b.op("Add", [y, x])
    return b.model("mobilenetv2_block", [1, 32, 28, 28], y, [1, 32, 28, 28])


def inception_module():
    b = Builder()
    x = "input"
    a = b.conv_bn(x, 64, 32, 1)
    c = b.conv_bn(b.conv_bn(x, 64, 48, 1), 48, 64, 3)
    d = b.conv_bn(b.conv_bn(b.conv_bn(x, 64, 32, 1), 32, 48, 3), 48, 48, 3)
    p = b.op("AveragePool", [x], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=0)
    e = b.conv_bn(p, 64, 16, 1)
    y = b.op("Concat", [a, c, d, e], axis=1)
    return b.model("inception_module", [1, 64, 17, 17], y, [1, 160, 17, 17])


def densenet_block(layers=6, growth=12, cin=24, hw=16):
    """A DenseNet dense block: each layer (BN, ReLU, 1x1 conv, BN, ReLU, 3x3 conv) reads the
    concatenation of every earlier layer's output (concat-heavy)."""
    b = Builder()
    feats, c = ["input"], cin

    def bn_relu(x, ch):
        bn = b.op("BatchNormalization", [x, b.positive([ch]), b.weight([ch], 0.1), b.weight([ch], 0.1), b.positive([ch])], epsilon=1e-5)
        return b.op("Relu", [bn])

    for _ in range(layers):
        x = feats[0] if len(feats) == 1 else b.op("Concat", feats, axis=1)
        y = b.op("Conv", [bn_relu(x, c), b.weight([4 * growth, c, 1, 1])], kernel_shape=[1, 1])
        y = b.op("Conv", [bn_relu(y, 4 * growth), b.weight([growth, 4 * growth, 3, 3])], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        feats.append(y)
        c += growth
    y = b.op("Concat", feats, axis=1)
    return b.model("densenet_block", [1, cin, hw, hw], y, [1, c, hw, hw])


def transformer_encoder_layer(seq=16, d=64, heads=4, ff=256, name="transformer_encoder_layer", legacy=False):
    """A Transformer encoder layer; `legacy` writes it as PyTorch exports at opset 13:
    LayerNormalization and Gelu spelled out op by op."""
    b = Builder()
    hd = d // heads
    x = "input"

    def linear(x, din, dout):
        return b.op("Add", [b.op("MatMul", [x, b.weight([din, dout], (1.0 / din) ** 0.5)]), b.weight([dout], 0.02)])

    def heads_split(t):
        t = b.op("Reshape", [t, b.const(np.array([1, seq, heads, hd], np.int64))])
        return b.op("Transpose", [t], perm=[0, 2, 1, 3])

    q, k, v = (heads_split(linear(x, d, d)) for _ in range(3))
    s = b.op("MatMul", [q, b.op("Transpose", [k], perm=[0, 1, 3, 2])])
    s = b.op("Mul", [s, b.const(np.float32(1.0 / hd ** 0.5))])
    a = b.op("MatMul", [b.op("Softmax", [s], axis=-1), v])
    a = b.op("Reshape", [b.op("Transpose", [a], perm=[0, 2, 1, 3]), b.const(np.array([1, seq, d], np.int64))])
    def layer_norm(t):
        if not legacy:
            return b.op("LayerNormalization", [t, b.positive([d]), b.weight([d], 0.1)], axis=-1, epsilon=1e-5)
        mean = b.op("ReduceMean", [t], axes=[-1], keepdims=1)
        dev = b.op("Sub", [t, mean])
        var = b.op("ReduceMean", [b.op("Pow", [dev, b.const(np.float32(2.0))])], axes=[-1], keepdims=1)
        norm = b.op("Div", [dev, b.op("Sqrt", [b.op("Add", [var, b.const(np.float32(1e-5))])])])
        return b.op("Add", [b.op("Mul", [norm, b.positive([d])]), b.weight([d], 0.1)])

    def gelu(t):
        if not legacy:
            return b.op("Gelu", [t])
        erf = b.op("Erf", [b.op("Div", [t, b.const(np.float32(2.0 ** 0.5))])])
        return b.op("Mul", [b.op("Mul", [t, b.op("Add", [erf, b.const(np.float32(1.0))])]), b.const(np.float32(0.5))])

    h = layer_norm(b.op("Add", [x, linear(a, d, d)]))
    f = linear(gelu(linear(h, d, ff)), ff, d)
    y = layer_norm(b.op("Add", [h, f]))
    return b.model(name, [1, seq, d], y, [1, seq, d], opset=13 if legacy else 20)


def bert_base_layer():
    """One BERT-base encoder layer (sequence 128, width 768, 12 heads, feed-forward 3072)."""
    return transformer_encoder_layer(128, 768, 12, 3072, "bert_base_layer")


def mobilenetv2():
    """The full MobileNetV2 (width 1.0, 224x224): 17 inverted residual blocks."""
    b = Builder()
    y = b.conv_bn("input", 3, 32, 3, 2, relu6=True)
    cin = 32
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(n):
            stride = s if i == 0 else 1
            x = y
            hidden = cin * t
            if t != 1:
                y = b.conv_bn(y, cin, hidden, 1, relu6=True)
            y = b.conv_bn(y, hidden, hidden, 3, stride, group=hidden, relu6=True)
            y = b.conv_bn(y, hidden, c, 1, relu=False)
            if stride == 1 and cin == c:
                y = b.op("Add", [y, x])
            cin = c
    y = b.conv_bn(y, cin, 1280, 1, relu6=True)
    y = b.op("Flatten", [b.op("GlobalAveragePool", [y])], axis=1)
    y = b.op("Gemm", [y, b.weight([1000, 1280], 0.02), b.weight([1000], 0.02)], transB=1)
    return b.model("mobilenetv2", [1, 3, 224, 224], y, [1, 1000])


def resnet50():
    b = Builder()
    y = b.conv_bn("input", 3, 64, 7, 2)
    y = b.op("MaxPool", [y], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 64
    for blocks, mid, stride in [(3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)]:
        for i in range(blocks):
            y = bottleneck(b, y, cin, mid, mid * 4, stride if i == 0 else 1)
            cin = mid * 4
    y = b.op("Flatten", [b.op("GlobalAveragePool", [y])], axis=1)
    y = b.op("Gemm", [y, b.weight([1000, 2048], 0.02), b.weight([1000], 0.02)], transB=1)
    return b.model("resnet50", [1, 3, 224, 224], y, [1, 1000])


MODELS = {
    "resnet_bottleneck_block": resnet_bottleneck_block,
    "mobilenetv2_inverted_residual": mobilenetv2_inverted_residual,
    "inception_module": inception_module,
    "densenet_block": densenet_block,
    "transformer_encoder_layer": transformer_encoder_layer,
    "transformer_encoder_layer_opset13": lambda: transformer_encoder_layer(name="transformer_encoder_layer_opset13", legacy=True),
    "resnet50": resnet50,
    "mobilenetv2": mobilenetv2,
}


def json_graph_matches_onnx(fuser, work):
    """testdata/json/mlp.json run by fuser must match the same graph written as ONNX and
    run by onnxruntime: a check of the JSON importer against an independent reader."""
    import json
    here = os.path.join(os.path.dirname(__file__), "..", "testdata", "json")
    doc = json.load(open(os.path.join(here, "mlp.json")))
    inits = []
    for w in doc["weights"]:
        data = np.load(os.path.join(here, w["npy"])) if "npy" in w else np.array(w["data"], np.float32).reshape(w["shape"])
        inits.append(numpy_helper.from_array(data.astype(np.float32), w["name"]))
    nodes = [helper.make_node(n["op"], n["inputs"], n["outputs"], name=n["name"], **n.get("attrs", {})) for n in doc["nodes"]]
    graph = helper.make_graph(nodes, doc["name"], [helper.make_tensor_value_info("features", TensorProto.FLOAT, [2, 8])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", doc["opset"])])
    model.ir_version = 8
    path = os.path.join(work, "mlp_from_json.onnx")
    onnx.save(model, path)
    out = os.path.join(work, "mlp_json")
    run = subprocess.run([fuser, "run", os.path.join(here, "mlp.json"), "--shape", "features=2x8", "--random-inputs", "--seed", "3", "--output-dir", out], capture_output=True, text=True)
    if run.returncode != 0:
        return False, run.stderr.strip()
    x = np.load(os.path.join(out, "input_0.npy"))
    ours = np.load(os.path.join(out, "output_0.npy"))
    theirs = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"features": x})[0]
    rel = float(np.linalg.norm(ours.astype(np.float64) - theirs) / np.linalg.norm(theirs))
    return rel <= 1e-5, f"rel L2 {rel:.2e}"


def onnx_export_checks(fuser, work):
    """`fuser import MODEL.onnx -o OUT.onnx` writes the imported graph back as ONNX: the
    export must pass onnx's checker and onnxruntime must compute what it computes on the
    original model."""
    results = []
    for name in ("resnet_bottleneck_block", "mobilenetv2_inverted_residual", "inception_module", "transformer_encoder_layer"):
        path = os.path.join(work, f"{name}.onnx")
        if not os.path.exists(path):
            onnx.save(MODELS[name](), path)
        exported = os.path.join(work, f"{name}.fuser_export.onnx")
        run = subprocess.run([fuser, "import", path, "-o", exported], capture_output=True, text=True)
        if run.returncode != 0:
            results.append((False, f"onnx export {name}: {run.stderr.strip()}"))
            continue
        try:
            onnx.checker.check_model(onnx.load(exported))
            original = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            feed = {i.name: RNG.standard_normal([d if isinstance(d, int) else 1 for d in i.shape]).astype(np.float32)
                    for i in original.get_inputs()}
            theirs = original.run(None, feed)[0]
            ours = ort.InferenceSession(exported, providers=["CPUExecutionProvider"]).run(None, feed)[0]
        except Exception as error:  # a bad export is a failed check, not a crash of the suite
            results.append((False, f"onnx export {name}: {str(error).splitlines()[0] if str(error) else type(error).__name__}"))
            continue
        rel = rel_l2(ours, theirs)
        results.append((rel <= 1e-5, f"onnx export {name}: onnxruntime on fuser's export vs on the original, rel L2 {rel:.2e} (limit 1e-5)"))
    return results


def storage_variants(fuser, work):
    """The same model saved with external data, and as IR version 3 with its initializers
    also listed as graph inputs, must import and run like the plain one."""
    base = resnet_bottleneck_block()
    plain = os.path.join(work, "storage_plain.onnx")
    onnx.save(base, plain)
    ir3 = onnx.ModelProto()
    ir3.CopyFrom(base)
    ext_dir = os.path.join(work, "external")
    os.makedirs(ext_dir, exist_ok=True)
    external = os.path.join(ext_dir, "model.onnx")
    # (Saving with external data rewrites `base`'s tensors, hence the copy first.)
    onnx.save(base, external, save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    ir3.ir_version = 3
    ir3.opset_import[0].version = 8
    for init in ir3.graph.initializer:
        ir3.graph.input.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    legacy = os.path.join(work, "storage_ir3.onnx")
    onnx.save(ir3, legacy)
    outputs = []
    for path in (plain, external, legacy):
        out = path + ".out"
        run = subprocess.run([fuser, "run", path, "--random-inputs", "--seed", "11", "--output-dir", out], capture_output=True, text=True)
        if run.returncode != 0:
            return False, f"{os.path.basename(path)}: {run.stderr.strip()}"
        outputs.append(np.load(os.path.join(out, "output_0.npy")))
    same = all(np.array_equal(outputs[0], o) for o in outputs[1:])
    return same, "external data and IR 3 initializers-as-inputs give identical outputs" if same else "outputs differ"


def fusion_report(fuser, path, work, fusion):
    """`fuser compile --report` of `path` with `--fusion` (eqsat or greedy), as a dict."""
    out = os.path.join(work, f"{os.path.basename(path)}.{fusion}.kernels.mlir")
    report = os.path.join(work, f"{os.path.basename(path)}.{fusion}.report.json")
    subprocess.run([fuser, "compile", path, "--emit", "mlir", "--compile-to", "kernels", "--fusion", fusion,
                    "--report", report, "-o", out], check=True, capture_output=True)
    with open(report) as f:
        return json.load(f)


# E-graph fusion acceptance: ResNet-50 in at most 57 kernels with the search and
# extraction under a second; eqsat never worse than greedy by the cost model.
FUSION_MODELS = ["resnet50", "inception_module", "densenet_block", "transformer_encoder_layer",
                 "transformer_encoder_layer_opset13"]


def fusion_checks(fuser, work):
    results = []
    for name in FUSION_MODELS:
        path = os.path.join(work, f"{name}.onnx")
        if not os.path.exists(path):
            onnx.save(MODELS[name](), path)
        eqsat, greedy = fusion_report(fuser, path, work, "eqsat"), fusion_report(fuser, path, work, "greedy")
        ms = eqsat["eqsat"]["ms"]
        ok = eqsat["cost_us"]["chosen"] <= greedy["cost_us"]["chosen"] + 1e-6
        limits = ""
        if name == "resnet50":
            ok = ok and eqsat["kernels"] <= 57 and ms < 1000
            limits = " (limits: 57 kernels, 1000 ms)"
        results.append((ok, f"fusion {name}: eqsat {eqsat['kernels']} kernels, greedy {greedy['kernels']}; "
                            f"cost {eqsat['cost_us']['chosen']:.0f} us vs greedy {greedy['cost_us']['chosen']:.0f} us "
                            f"(tree extraction {eqsat['cost_us']['tree_extraction']:.0f} us); "
                            f"eqsat {ms:.0f} ms, {eqsat['eqsat']['stop_reason']}{limits}"))
    return results


def memory_check(fuser, work):
    """ResNet-50's planned arena must be at most a third of its activations laid end to end."""
    path = os.path.join(work, "resnet50.onnx")
    out, report = (os.path.join(work, f"resnet50.bufferized.{ext}") for ext in ("mlir", "report.json"))
    subprocess.run([fuser, "compile", path, "--emit", "mlir", "--compile-to", "bufferized", "--report", report,
                    "-o", out], check=True, capture_output=True)
    with open(report) as f:
        memory = json.load(f)["memory"]
    naive, peak = memory["naive_activation_bytes"], memory["arena_peak_bytes"]
    ok = 0 < peak <= naive / 3
    return ok, (f"memory plan resnet50: arena {peak / 1e6:.1f} MB for {naive / 1e6:.1f} MB of activations "
                f"({peak / naive:.2f}; limit 1/3)")


def rel_l2(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def fuser_run(fuser, model, x_path, target, out):
    subprocess.run([fuser, "run", model, "--target", target, "--input", f"input={x_path}", "--output-dir", out]
                   + (["--no-cache"] if target == "cpu" else []), check=True, capture_output=True)
    return np.load(os.path.join(out, "output_0.npy"))


def cpu_has_vnni():
    """Whether onnxruntime's u8 x s8 kernels sum without saturating here: an x86 CPU needs
    an 8-bit dot product instruction (AVX-512 VNNI, AVX-VNNI or AMX); other CPUs' (Arm's
    dot products) do not saturate."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return True
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & set(flags))


def int8_checks(fuser, work):
    """INT8 on the ResNet bottleneck block: (1) fuser's own quantization (`fuser quantize`,
    8 random calibration inputs) runs on the CPU as the reference evaluator computes the
    quantized model, and stays near the float model; (2) its INT8 kernels are integer code:
    each calls the runtime's INT8 kernel, whose object code has VNNI `vpdpbusd`; (3) the
    model quantized by onnxruntime's `quantize_static` (QDQ, per-channel) imports and
    agrees with onnxruntime's execution of it; (4) fuser's quantization written as ONNX
    (QDQ) runs in onnxruntime as in fuser."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    results = []
    path = os.path.join(work, "int8_bottleneck.onnx")
    onnx.save(resnet_bottleneck_block(), path)
    calibration_dir = os.path.join(work, "int8_calibration")
    os.makedirs(calibration_dir, exist_ok=True)
    samples = [np.random.default_rng(300 + i).uniform(-1, 1, (1, 64, 28, 28)).astype(np.float32) for i in range(8)]
    for i, x in enumerate(samples):
        np.save(os.path.join(calibration_dir, f"{i:02d}.npy"), x)
    x = np.random.default_rng(400).uniform(-1, 1, (1, 64, 28, 28)).astype(np.float32)
    x_path = os.path.join(work, "int8_input.npy")
    np.save(x_path, x)
    float_out = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    # (1) fuser's quantization.
    quantized = os.path.join(work, "int8_bottleneck.mlir")
    subprocess.run([fuser, "quantize", path, "--calibration", calibration_dir, "-o", quantized], check=True, capture_output=True)
    cpu = fuser_run(fuser, quantized, x_path, "cpu", os.path.join(work, "int8-cpu"))
    ref = fuser_run(fuser, quantized, x_path, "reference", os.path.join(work, "int8-reference"))
    exact, error = rel_l2(cpu, ref), rel_l2(cpu, float_out)
    results.append((exact <= 1e-4 and error <= 5e-2,
                    f"int8 fuser quantize bottleneck: CPU vs reference evaluator rel L2 {exact:.2e} (limit 1e-4); "
                    f"vs the float model {error:.2e} (limit 5e-2)"))
    # (2) Integer code.
    report = os.path.join(work, "int8_bottleneck.report.json")
    llvm = os.path.join(work, "int8_bottleneck.llvm.mlir")
    subprocess.run([fuser, "compile", quantized, "--emit", "mlir", "--report", report, "-o", llvm], check=True, capture_output=True)
    with open(report) as f:
        kernels = [g for g in json.load(f)["groups"] if g["compute"] == "i8xi8->i32"]
    with open(llvm) as f:
        text = f.read()
    calls = text.count("llvm.call @fuser_fused_q8(")
    library = os.path.join(work, "int8_bottleneck.so")
    subprocess.run([fuser, "compile", quantized, "-o", library], check=True, capture_output=True)
    disassembly = subprocess.run(["objdump", "-d", "--no-show-raw-insn", library], check=True, capture_output=True, text=True).stdout
    vnni = [block.split(">:")[0].split("<")[-1] for block in disassembly.split("\n\n") if "vpdpbusd" in block]
    results.append((len(kernels) == 4 and calls == len(kernels) and any("quantized" in v for v in vnni),
                    f"int8 object code: {len(kernels)} i8xi8->i32 kernels (expected 4), {calls} calls of fuser_fused_q8, "
                    f"vpdpbusd in {len(vnni)} functions of the library ({', '.join(v[:60] for v in vnni[:2])})"))
    # (3) onnxruntime's own QDQ model.
    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"input": s} for s in samples])

        def get_next(self):
            return next(self.items, None)

    ort_int8 = os.path.join(work, "int8_bottleneck.ort_qdq.onnx")
    quantize_static(path, ort_int8, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    # Without graph optimizations onnxruntime computes the QDQ graph as written; with them
    # it runs its own integer kernels, whose rounding differs (hence 1e-2), and which on a
    # CPU without VNNI saturate (u8 x s8 pairs summed in 16 bits, as onnxruntime's
    # quantization docs warn): there only the graph as written is a fair oracle.
    plain = ort.SessionOptions()
    plain.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    vnni = cpu_has_vnni()
    theirs = ort.InferenceSession(ort_int8, None if vnni else plain,
                                  providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    # Against the graph as written, values differ only where a requantization rounds a
    # float sum taken in another order to the neighbouring code: rare (0 measured).
    how, limit = ("its int8 kernels", 1e-2) if vnni else ("as written: no VNNI on this CPU", 1e-3)
    for target in ("reference", "cpu"):
        ours = fuser_run(fuser, ort_int8, x_path, target, os.path.join(work, f"int8-ort-{target}"))
        rel = rel_l2(ours, theirs)
        results.append((rel <= limit, f"int8 onnxruntime QDQ bottleneck ({target}): rel L2 {rel:.2e} vs onnxruntime's "
                                      f"execution ({how}; limit {limit:g}; its own error vs float "
                                      f"{rel_l2(theirs, float_out):.2e})"))
    # (4) fuser's quantization written as ONNX (QDQ): onnxruntime runs it as the
    # reference evaluator runs the quantized MLIR, and fuser imports it back.
    exported = os.path.join(work, "int8_bottleneck.fuser_qdq.onnx")
    subprocess.run([fuser, "quantize", path, "--calibration", calibration_dir, "-o", exported], check=True, capture_output=True)
    model = onnx.load(exported)
    try:
        onnx.checker.check_model(model)
    except Exception as error:
        return results + [(False, f"int8 fuser quantize -o .onnx bottleneck: onnx checker: {error}")]
    op_types = {n.op_type for n in model.graph.node}
    # As in (3): onnxruntime's integer kernels are held to 1e-2 where they do not
    # saturate, and elsewhere only to a bound that a wrong export would break (their
    # saturation alone measured 5-9%).
    as_written = ort.InferenceSession(exported, plain, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    optimized = ort.InferenceSession(exported, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    reimported = fuser_run(fuser, exported, x_path, "reference", os.path.join(work, "int8-export-reference"))
    by_ort, by_ort_int8, by_fuser = rel_l2(as_written, ref), rel_l2(optimized, ref), rel_l2(reimported, ref)
    qdq = {"QuantizeLinear", "DequantizeLinear"} <= op_types
    int8_limit = 1e-2 if vnni else 0.2
    results.append((qdq and by_ort <= 1e-5 and by_ort_int8 <= int8_limit and by_fuser <= 1e-5,
                    f"int8 fuser quantize -o .onnx bottleneck: QDQ nodes {qdq}; vs the quantized MLIR, onnxruntime "
                    f"unoptimized {by_ort:.2e} (limit 1e-5), optimized (its int8 kernels) {by_ort_int8:.2e} "
                    f"(limit {int8_limit:g}{'' if vnni else ': no VNNI on this CPU, they saturate'}), "
                    f"fuser's run of the .onnx {by_fuser:.2e} (limit 1e-5)"))
    return results


# Each target and the relative L2 error it must stay within: the reference evaluator
# rounds once per op from f64; the CPU backend computes in f32.
# gpu-loops: the GPU lowering (kernels tiled and guarded for blocks and threads) run on
# this CPU, so that every model checks it without a GPU.
TARGETS = [("reference", 1e-5), ("cpu", 1e-4), ("gpu-loops", 1e-4)]


def ptxas_path():
    import glob
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".venv", "lib")
    found = sorted(glob.glob(os.path.join(here, "python*", "site-packages", "nvidia", "cuda_nvcc", "bin", "ptxas")))
    return found[0] if found else None


def gpu_checks(fuser, work):
    """The acceptance models of the GPU backend compile for cuda:sm_80 and cuda:sm_90 into
    one PTX module each, which ptxas (from `make setup`) accepts with no spill stores, and
    for rocm:gfx90a and rocm:gfx942 into AMDGPU assembly that llvm-mc-22 assembles. Their
    f16 versions compile with --tensor-cores to mma.sync (CUDA) and v_mfma (ROCm), the
    bf16 version to v_mfma on gfx942."""
    import re
    ptxas = ptxas_path()
    if ptxas is None:
        return [(False, "gpu: ptxas not found in .venv (run `make setup`)")]
    results = []
    for name in ["resnet50", "mobilenetv2_inverted_residual", "transformer_encoder_layer"]:
        path = os.path.join(work, f"{name}.onnx")
        if not os.path.exists(path):
            onnx.save(MODELS[name](), path)
        for chip in ["sm_80", "sm_90"]:
            ptx = os.path.join(work, f"{name}.{chip}.ptx")
            build = subprocess.run([fuser, "compile", path, "--target", f"cuda:{chip}", "-o", ptx], capture_output=True, text=True)
            if build.returncode != 0:
                results.append((False, f"gpu {name} cuda:{chip}: {build.stderr.strip()}"))
                continue
            check = subprocess.run([ptxas, f"-arch={chip}", "-v", ptx, "-o", ptx + ".cubin"], capture_output=True, text=True)
            log = check.stdout + check.stderr
            entries = len(re.findall(r"Compiling entry function", log))
            spills = [int(n) for n in re.findall(r"(\d+) bytes spill stores", log)]
            ok = check.returncode == 0 and entries > 0 and not any(spills)
            results.append((ok, f"gpu {name} cuda:{chip}: ptxas accepts {entries} kernels, "
                                f"{'no spill stores' if not any(spills) else f'{max(spills)} bytes of spill stores'}"
                                + ("" if check.returncode == 0 else f": {log.strip()[:300]}")))
        # f16 on tensor cores (experimental: compiled and checked by ptxas only).
        half = os.path.join(work, f"{name}.f16.mlir")
        quantize = subprocess.run([fuser, "quantize", path, "--type", "f16", "-o", half], capture_output=True, text=True)
        for chip in ["sm_80", "sm_90"]:
            ptx = os.path.join(work, f"{name}.f16.{chip}.ptx")
            build = quantize if quantize.returncode != 0 else subprocess.run(
                [fuser, "compile", half, "--target", f"cuda:{chip}", "--tensor-cores", "-o", ptx], capture_output=True, text=True)
            if build.returncode != 0:
                results.append((False, f"gpu {name} f16 cuda:{chip} --tensor-cores: {build.stderr.strip()[:300]}"))
                continue
            check = subprocess.run([ptxas, f"-arch={chip}", "-v", ptx, "-o", ptx + ".cubin"], capture_output=True, text=True)
            log = check.stdout + check.stderr
            mma = open(ptx).read().count("mma.sync.aligned.m16n8k16")
            spills = [int(n) for n in re.findall(r"(\d+) bytes spill stores", log)]
            ok = check.returncode == 0 and mma > 0 and not any(spills)
            results.append((ok, f"gpu {name} f16 cuda:{chip} --tensor-cores: {mma} mma.sync, ptxas "
                                + ("accepts it, no spill stores" if ok else f"fails or spills: {log.strip()[:300]}")))
        # f16 (and bf16 on gfx942) on AMD matrix cores (experimental: assembled only).
        bf16 = os.path.join(work, f"{name}.bf16.mlir")
        quantize_bf16 = subprocess.run([fuser, "quantize", path, "--type", "bf16", "-o", bf16], capture_output=True, text=True)
        for chip, low, quantized in [("gfx90a", "f16", quantize), ("gfx942", "f16", quantize), ("gfx942", "bf16", quantize_bf16)]:
            asm = os.path.join(work, f"{name}.{low}.{chip}.s")
            build = quantized if quantized.returncode != 0 else subprocess.run(
                [fuser, "compile", half if low == "f16" else bf16, "--target", f"rocm:{chip}", "--tensor-cores",
                 "--emit", "amdgcn", "-o", asm], capture_output=True, text=True)
            if build.returncode != 0:
                results.append((False, f"gpu {name} {low} rocm:{chip} --tensor-cores: {build.stderr.strip()[:300]}"))
                continue
            check = subprocess.run(["llvm-mc-22", "-triple=amdgcn-amd-amdhsa", f"-mcpu={chip}", "-filetype=obj", asm, "-o", asm + ".o"],
                                   capture_output=True, text=True)
            text = open(asm).read()
            mfma = len(re.findall(r"^\s*v_mfma_f32_16x16x16", text, re.MULTILINE))
            spills = [int(n) for n in re.findall(r"\.[sv]gpr_spill_count:\s*(\d+)", text)]
            ok = check.returncode == 0 and mfma > 0 and not any(spills)
            results.append((ok, f"gpu {name} {low} rocm:{chip} --tensor-cores: {mfma} v_mfma, llvm-mc "
                                + ("assembles it, no spills" if ok else f"fails or spills: {check.stderr.strip()[:300]} {spills}")))
        for chip in ["gfx90a", "gfx942"]:
            asm = os.path.join(work, f"{name}.{chip}.s")
            build = subprocess.run([fuser, "compile", path, "--target", f"rocm:{chip}", "--emit", "amdgcn", "-o", asm], capture_output=True, text=True)
            if build.returncode != 0:
                results.append((False, f"gpu {name} rocm:{chip}: {build.stderr.strip()}"))
                continue
            check = subprocess.run(["llvm-mc-22", "-triple=amdgcn-amd-amdhsa", f"-mcpu={chip}", "-filetype=obj", asm, "-o", asm + ".o"],
                                   capture_output=True, text=True)
            kernels = open(asm).read().count(".amdhsa_kernel ")
            ok = check.returncode == 0 and kernels > 0
            results.append((ok, f"gpu {name} rocm:{chip}: llvm-mc assembles {kernels} kernels"
                                + ("" if check.returncode == 0 else f": {check.stderr.strip()[:300]}")))
    return results


def ascend_checks(fuser, work):
    """The acceptance models of the Ascend backend (ResNet-50, an Inception module, a
    Transformer encoder layer; MobileNetV2 and a DenseNet block too) compile for
    ascend:910b into C++ on the aclnn API that g++ accepts against the declaration headers
    in ascend/include."""
    include = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ascend", "include")
    results = []
    for name in ["resnet50", "inception_module", "transformer_encoder_layer", "mobilenetv2", "densenet_block"]:
        path = os.path.join(work, f"{name}.onnx")
        if not os.path.exists(path):
            onnx.save(MODELS[name](), path)
        out = os.path.join(work, f"{name}.ascend")
        shutil.rmtree(out, ignore_errors=True)
        build = subprocess.run([fuser, "compile", path, "--target", "ascend:910b", "-o", out], capture_output=True, text=True)
        if build.returncode != 0:
            results.append((False, f"ascend {name}: {build.stderr.strip()[:400]}"))
            continue
        check = subprocess.run(["g++", "-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-I", include,
                                os.path.join(out, "model.cpp"), os.path.join(out, "main.cpp")], capture_output=True, text=True)
        calls = open(os.path.join(out, "model.cpp")).read().count("GetWorkspaceSize(")
        results.append((check.returncode == 0 and calls > 0,
                        f"ascend {name}: {calls} aclnn calls, g++ -fsyntax-only "
                        + ("accepts model.cpp and main.cpp" if check.returncode == 0 else f"fails: {check.stderr.strip()[:400]}")))
    return results


def main():
    fuser, work = sys.argv[1], sys.argv[2]
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    os.makedirs(work, exist_ok=True)
    passed = failed = 0
    for name, build in MODELS.items():
        if only and name != only:
            continue
        path = os.path.join(work, f"{name}.onnx")
        onnx.save(build(), path)
        x = None
        for target, tolerance in TARGETS:
            out = os.path.join(work, f"{name}-{target}")
            start = time.perf_counter()
            # --no-cache: every run tests the compiler, not a library an earlier run cached.
            extra = ["--no-cache"] if target == "cpu" else []
            run = subprocess.run([fuser, "run", path, "--target", target, "--random-inputs", "--seed", "7", "--output-dir", out] + extra, capture_output=True, text=True)
            seconds = time.perf_counter() - start
            if run.returncode != 0:
                print(f"FAIL {name} ({target}): fuser run: {run.stderr.strip()}")
                failed += 1
                continue
            x = np.load(os.path.join(out, "input_0.npy"))
            ours = np.load(os.path.join(out, "output_0.npy"))
            session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            theirs = session.run(None, {"input": x})[0]
            rel = float(np.linalg.norm(ours.astype(np.float64) - theirs) / max(np.linalg.norm(theirs), 1e-30))
            ok = ours.shape == theirs.shape and rel <= tolerance
            print(f"{'ok  ' if ok else 'FAIL'} {name} ({target}): rel L2 {rel:.2e} (limit {tolerance:g}) vs onnxruntime {ort.__version__}; fuser run {seconds:.1f} s")
            passed += ok
            failed += not ok
    if not only:
        # The CPU run is the fused model (eqsat kernels); the reference run is the model
        # as imported: the two must agree.
        cpu, ref = (os.path.join(work, f"resnet50-{t}", "output_0.npy") for t in ("cpu", "reference"))
        if os.path.exists(cpu) and os.path.exists(ref):
            a, b = np.load(cpu).astype(np.float64), np.load(ref).astype(np.float64)
            rel = float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))
            ok = a.shape == b.shape and rel <= 1e-4
            print(f"{'ok  ' if ok else 'FAIL'} fusion resnet50: fused CPU output vs the reference evaluator's: rel L2 {rel:.2e} (limit 1e-4)")
            passed += ok
            failed += not ok
        for ok, detail in (fusion_checks(fuser, work) + [memory_check(fuser, work)] + int8_checks(fuser, work)
                           + onnx_export_checks(fuser, work) + gpu_checks(fuser, work) + ascend_checks(fuser, work)):
            print(f"{'ok  ' if ok else 'FAIL'} {detail}")
            passed += ok
            failed += not ok
        ok, detail = storage_variants(fuser, work)
        print(f"{'ok  ' if ok else 'FAIL'} storage variants: {detail}")
        passed += ok
        failed += not ok
        ok, detail = json_graph_matches_onnx(fuser, work)
        print(f"{'ok  ' if ok else 'FAIL'} json graph testdata/json/mlp.json vs the same graph in onnxruntime: {detail}")
        passed += ok
        failed += not ok
    # The import of the largest model: its time is reported (a figure, not a test: these
    # machines are noisy); the text size is deterministic and checked.
    r50 = os.path.join(work, "resnet50.onnx")
    if os.path.exists(r50) and not only:
        start = time.perf_counter()
        subprocess.run([fuser, "import", r50, "-o", os.path.join(work, "resnet50.mlir")], check=True, capture_output=True)
        seconds = time.perf_counter() - start
        text = os.path.getsize(os.path.join(work, "resnet50.mlir"))
        ok = text < 1 << 20
        print(f"{'ok  ' if ok else 'FAIL'} import resnet50 ({os.path.getsize(r50) / 1e6:.0f} MB): {seconds:.2f} s, text {text / 1e3:.0f} KB")
        passed += ok
        failed += not ok
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
