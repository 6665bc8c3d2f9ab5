#!/usr/bin/env python3
"""Writes the ONNX backend node test cases of the installed onnx package to a folder.

Each case becomes OUT/<name>/model.onnx plus OUT/<name>/test_data_set_<k>/{input,output}_<i>.pb,
the layout of onnx's own cmd_tools, and OUT/manifest.json lists every case with its ops,
opset and tolerances. Usage: scripts/onnx_node_cases.py OUT
"""
import json
import os
import sys
import warnings

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.case.node import collect_testcases


def write_value(path, value, info):
    if isinstance(value, onnx.TensorProto):
        with open(path, "wb") as f:
            f.write(value.SerializeToString())
        return True
    if isinstance(value, np.ndarray) or np.isscalar(value):
        tensor = numpy_helper.from_array(np.asarray(value), info.name if info is not None else "")
        with open(path, "wb") as f:
            f.write(tensor.SerializeToString())
        return True
    return False  # sequences, maps, optionals: not tensors


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    warnings.simplefilter("ignore")
    manifest = []
    for case in collect_testcases(None):
        if case.model is None:
            continue
        model = case.model
        directory = os.path.join(out, case.name)
        os.makedirs(directory, exist_ok=True)
        onnx.save(model, os.path.join(directory, "model.onnx"))
        tensors_only = True
        for k, (inputs, outputs) in enumerate(case.data_sets or []):
            data = os.path.join(directory, f"test_data_set_{k}")
            os.makedirs(data, exist_ok=True)
            for i, value in enumerate(inputs):
                info = model.graph.input[i] if i < len(model.graph.input) else None
                tensors_only &= write_value(os.path.join(data, f"input_{i}.pb"), value, info)
            for i, value in enumerate(outputs):
                info = model.graph.output[i] if i < len(model.graph.output) else None
                tensors_only &= write_value(os.path.join(data, f"output_{i}.pb"), value, info)
        ops = sorted({(n.domain or "ai.onnx") + "::" + n.op_type for n in model.graph.node})
        opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
        manifest.append({
            "name": case.name,
            "ops": ops,
            "opset": opset,
            "rtol": case.rtol,
            "atol": case.atol,
            "data_sets": len(case.data_sets or []),
            "tensors_only": bool(tensors_only),
        })
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"{len(manifest)} cases written to {out}")


if __name__ == "__main__":
    main()
