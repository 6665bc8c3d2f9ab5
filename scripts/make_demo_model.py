#!/usr/bin/env python3
"""Writes testdata/demo/resnet_bottleneck.onnx, the model `make demo` compiles: a ResNet
bottleneck block (1x1, 3x3 and 1x1 convs, each with BatchNormalization, ReLUs, a residual
add) at 64 channels and 28x28, with random weights from a fixed seed.

Usage: .venv/bin/python scripts/make_demo_model.py
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import model_tests  # noqa: E402

import onnx  # noqa: E402

if __name__ == "__main__":
    path = os.path.join(os.path.dirname(__file__), "..", "testdata", "demo", "resnet_bottleneck.onnx")
    onnx.save(model_tests.resnet_bottleneck_block(), path)
    print(f"wrote {os.path.normpath(path)}")
