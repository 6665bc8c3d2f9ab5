// Without an NVIDIA driver, `fuser run --target cuda` and `fuser bench --target cuda`
// say so and exit 1, writing no output.
// UNSUPPORTED: cuda-driver
// RUN: rm -rf %t.out
// RUN: not fuser run %S/../../testdata/demo/resnet_bottleneck.onnx --target cuda --random-inputs --output-dir %t.out 2>&1 | FileCheck %s
// RUN: not ls %t.out/output_0.npy
// RUN: not fuser bench %S/../../testdata/demo/resnet_bottleneck.onnx --target cuda 2>&1 | FileCheck %s

// CHECK: error: no NVIDIA driver found (libcuda.so could not be loaded): --target cuda needs an NVIDIA GPU and its driver
