#!/usr/bin/env python3
"""fuser's ONNX export against onnxruntime, over the ONNX backend node cases: each case
that fuser imports is written back with `fuser import CASE/model.onnx -o OUT.onnx`,
checked with onnx's checker and run by onnxruntime on the case's first data set. Cases
that onnxruntime cannot run in their original form are left out (its limits, not the
export's). Prints one line per export that fails, then the counts.

Usage: scripts/onnx_export_check.py FUSER_BINARY CASES_DIR WORK_DIR
"""
import glob
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

ort.set_default_logger_severity(4)


def load(paths):
    return [numpy_helper.to_array(onnx.load_tensor(p)) for p in sorted(paths)]


def run(path, inputs):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs)})


def main():
    fuser, cases, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    counts = {"agree": 0, "differ": 0, "not imported": 0, "onnxruntime refuses the original": 0}
    for case in json.load(open(os.path.join(cases, "manifest.json"))):
        folder = os.path.join(cases, case["name"])
        exported = os.path.join(work, case["name"] + ".onnx")
        if subprocess.run([fuser, "import", os.path.join(folder, "model.onnx"), "-o", exported],
                          capture_output=True).returncode != 0:
            counts["not imported"] += 1
            continue
        inputs = load(glob.glob(os.path.join(folder, "test_data_set_0", "input_*.pb")))
        expected = load(glob.glob(os.path.join(folder, "test_data_set_0", "output_*.pb")))
        try:
            run(os.path.join(folder, "model.onnx"), inputs)
        except Exception:
            counts["onnxruntime refuses the original"] += 1
            continue
        try:
            onnx.checker.check_model(exported)
            for got, want in zip(run(exported, inputs), expected):
                if want.dtype.kind in "fc":
                    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64),
                                               rtol=max(case["rtol"], 1e-3), atol=max(case["atol"], 1e-6))
                else:
                    np.testing.assert_array_equal(got, want)
            counts["agree"] += 1
        except Exception as e:
            counts["differ"] += 1
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            print(f"{case['name']}: {first[:200]}")
    print(", ".join(f"{v} {k}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
