#!/usr/bin/env python3
"""Small ONNX models of single pieces of the benchmark models, for timing one piece
against onnxruntime in one process (`bench/interleaved_ort.py FUSER --work DIR --models
NAME,...`) or two fuser builds (`--versus`), where a whole model's noise hides it.

Writes DIR/NAME.onnx and DIR/NAME.input.npy (random normal values, seeded) for:
- ffn1, ffn2, proj: the BERT-base layer's matmuls with their bias ([1,128,768]·[768,3072],
  [1,128,3072]·[3072,768], [1,128,768]·[768,768]);
- qk: Q's transpose times a constant Kᵀ, scaled (12 heads of 128×64);
- softmax: a softmax over [1,12,128,128]; av: that softmax times a constant V;
- attention: the attention core on one input x [1,128,12,64]: Q = V = x's heads
  (one transpose, two uses), Kᵀ from x, the scaled scores, softmax, P·V, the transpose back;
- c256, c64: a 3×3 conv with bias and ReLU (256 channels at 14×14, 64 at 56×56);
  p64_256, p1024_256: 1×1 convs (64→256 at 56×56, 1024→256 at 14×14 with ReLU);
- chain256, chain64: six of those 3×3 convs in a row;
- pw64_7, pw64_14: 32 1×1 convs of 64 channels with ReLU in a row, at 7×7 and 14×14 (a
  kernel's fixed cost and its threads' balance on small convs).

With `--segments MODEL.onnx` it also writes MODEL's segments, each a stem or a
block from one residual add (or a BatchNormalization that no Clip or Add follows) to the
next, and the rest, as NAME_s00, NAME_s01, ... (MobileNetV2's inverted-residual blocks).

Usage: bench/op_models.py DIR [--segments MODEL.onnx]
"""
import argparse
import os

import numpy as np
import onnx
import onnx.utils
from onnx import TensorProto, helper, numpy_helper


def save(work, name, nodes, x_shape, y_shape, weights, rng):
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)],
        [numpy_helper.from_array(np.asarray(v, dtype=np.float32), k) for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, os.path.join(work, f"{name}.onnx"))
    np.save(os.path.join(work, f"{name}.input.npy"), rng.standard_normal(x_shape).astype(np.float32))


def conv_nodes(prefix, x, y, cin, cout, k, relu, rng, weights):
    weights[f"{prefix}w"] = rng.standard_normal((cout, cin, k, k)) * np.sqrt(2 / (cin * k * k))
    weights[f"{prefix}b"] = rng.standard_normal(cout) * 0.1
    conv_out = f"{prefix}c" if relu else y
    nodes = [helper.make_node("Conv", [x, f"{prefix}w", f"{prefix}b"], [conv_out], pads=[k // 2] * 4)]
    if relu:
        nodes.append(helper.make_node("Relu", [conv_out], [y]))
    return nodes


def segments(work, source, rng):
    """Writes `source`'s segments between block ends (see the module docs)."""
    model = onnx.load(source)
    consumers = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node.op_type)
    ends = [node.output[0] for node in model.graph.node
            if node.op_type == "Add" or (node.op_type == "BatchNormalization"
                                         and not {"Clip", "Add"} & set(consumers.get(node.output[0], [])))]
    inferred = onnx.shape_inference.infer_shapes(model).graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.value_info) + list(inferred.input)}
    stem = os.path.splitext(os.path.basename(source))[0]
    first = model.graph.input[0].name
    for i, (start, end) in enumerate(zip([first] + ends, ends + [model.graph.output[0].name])):
        path = os.path.join(work, f"{stem}_s{i:02d}")
        onnx.utils.extract_model(source, f"{path}.onnx", [start], [end])
        np.save(f"{path}.input.npy", rng.standard_normal(shapes[start]).astype(np.float32))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work")
    parser.add_argument("--segments", metavar="MODEL", help="also write MODEL's segments")
    args = parser.parse_args()
    work = args.work
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, (m, k, n) in {"ffn1": (128, 768, 3072), "ffn2": (128, 3072, 768), "proj": (128, 768, 768)}.items():
        nodes = [helper.make_node("MatMul", ["x", "w"], ["t"]), helper.make_node("Add", ["t", "b"], ["y"])]
        save(work, name, nodes, [1, m, k], [1, m, n],
             {"w": rng.standard_normal((k, n)) * 0.03, "b": rng.standard_normal(n)}, rng)
    heads = [0, 2, 1, 3]
    save(work, "qk", [helper.make_node("Transpose", ["x"], ["q"], perm=heads),
                      helper.make_node("MatMul", ["q", "kt"], ["s"]),
                      helper.make_node("Mul", ["s", "c"], ["y"])],
         [1, 128, 12, 64], [1, 12, 128, 128], {"kt": rng.standard_normal((1, 12, 64, 128)), "c": 0.125}, rng)
    save(work, "softmax", [helper.make_node("Softmax", ["x"], ["y"], axis=-1)],
         [1, 12, 128, 128], [1, 12, 128, 128], {}, rng)
    save(work, "av", [helper.make_node("Softmax", ["x"], ["p"], axis=-1),
                      helper.make_node("MatMul", ["p", "v"], ["y"])],
         [1, 12, 128, 128], [1, 12, 128, 64], {"v": rng.standard_normal((1, 12, 128, 64))}, rng)
    nodes = [helper.make_node("Transpose", ["x"], ["q"], perm=heads),
             helper.make_node("Transpose", ["x"], ["kt"], perm=[0, 2, 3, 1]),
             helper.make_node("MatMul", ["q", "kt"], ["s"]), helper.make_node("Mul", ["s", "c"], ["s2"]),
             helper.make_node("Softmax", ["s2"], ["p"], axis=-1),
             helper.make_node("Transpose", ["x"], ["v"], perm=heads), helper.make_node("MatMul", ["p", "v"], ["o"]),
             helper.make_node("Transpose", ["o"], ["y"], perm=heads)]
    save(work, "attention", nodes, [1, 128, 12, 64], [1, 128, 12, 64], {"c": 0.125}, rng)
    for name, (cin, cout, size, k, relu) in {"c256": (256, 256, 14, 3, True), "c64": (64, 64, 56, 3, True),
                                            "p64_256": (64, 256, 56, 1, False),
                                            "p1024_256": (1024, 256, 14, 1, True)}.items():
        weights = {}
        nodes = conv_nodes("", "x", "y", cin, cout, k, relu, rng, weights)
        save(work, name, nodes, [1, cin, size, size], [1, cout, size, size], weights, rng)
    for name, (channels, size) in {"chain256": (256, 14), "chain64": (64, 56)}.items():
        weights, nodes, previous = {}, [], "x"
        for i in range(6):
            out = "y" if i == 5 else f"r{i}"
            nodes += conv_nodes(f"l{i}", previous, out, channels, channels, 3, True, rng, weights)
            previous = out
        save(work, name, nodes, [1, channels, size, size], [1, channels, size, size], weights, rng)
    for name, size in {"pw64_7": 7, "pw64_14": 14}.items():
        weights, nodes, previous = {}, [], "x"
        for i in range(32):
            out = "y" if i == 31 else f"r{i}"
            nodes += conv_nodes(f"l{i}", previous, out, 64, 64, 1, True, rng, weights)
            previous = out
        save(work, name, nodes, [1, 64, size, size], [1, 64, size, size], weights, rng)
    if args.segments:
        segments(work, args.segments, rng)


if __name__ == "__main__":
    main()
