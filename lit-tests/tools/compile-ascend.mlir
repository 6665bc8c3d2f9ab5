// `fuser compile --target ascend:910b`: a C++17 library on CANN's aclnn API, an example
// main and the weights, in one directory; g++ checks it against the declaration
// headers in ascend/include (no CANN toolkit needed).
// RUN: rm -rf %t.out
// RUN: fuser compile %S/../../testdata/demo/resnet_bottleneck.onnx --target ascend:910b -o %t.out 2>&1 | FileCheck %s --check-prefix=SUMMARY
// RUN: g++ -std=c++17 -fsyntax-only -Wall -Wextra -Werror -I %{ascend-include} %t.out/model.cpp %t.out/main.cpp
// RUN: FileCheck %s < %t.out/model.cpp
// RUN: FileCheck %s --check-prefix=HEADER < %t.out/model.h
// RUN: ls %t.out/weights | FileCheck %s --check-prefix=WEIGHTS
// A second run replaces the directory.
// RUN: fuser compile %S/../../testdata/demo/resnet_bottleneck.onnx --target ascend:910b --emit cann-cpp -o %t.out
// The cann ops, after the kernels phase and convert-ftensor-to-cann.
// RUN: fuser compile %S/../../testdata/demo/resnet_bottleneck.onnx --target ascend:910b --emit mlir -o %t.cann.mlir
// RUN: FileCheck %s --check-prefix=MLIR < %t.cann.mlir
// RUN: fuser-opt %t.cann.mlir -o %t.cann.verified.mlir
// An op with no aclnn mapping is an error that names it, and nothing is written.
// RUN: not fuser compile %S/Inputs/floor.mlir --target ascend:910b -o %t.floor 2>&1 | FileCheck %s --check-prefix=UNMAPPED
// RUN: not ls %t.floor
// RUN: not fuser compile %S/../../testdata/demo/resnet_bottleneck.onnx --target ascend:310p -o %t.chip 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not fuser compile %S/../../testdata/demo/resnet_bottleneck.onnx --target ascend:910b --emit ptx -o %t.ptx 2>&1 | FileCheck %s --check-prefix=EMIT
// RUN: not fuser compile %S/../../testdata/demo/resnet_bottleneck.onnx --emit cann-cpp -o %t.cpu 2>&1 | FileCheck %s --check-prefix=CPU
// A directory fuser did not write is never replaced.
// RUN: rm -rf %t.mine && mkdir %t.mine && echo keep > %t.mine/notes.txt
// RUN: not fuser compile %S/../../testdata/demo/resnet_bottleneck.onnx --target ascend:910b -o %t.mine 2>&1 | FileCheck %s --check-prefix=MINE
// RUN: FileCheck %s --check-prefix=KEPT < %t.mine/notes.txt

// SUMMARY: fuser compile: wrote {{.*}}.out/ (C++ on aclnn for ascend:910b: 8 aclnn calls, 8 weight files)

// CHECK: #include "acl/acl.h"
// CHECK: #include "aclnnop/aclnn_add.h"
// CHECK: #include "aclnnop/aclnn_convolution.h"
// CHECK: #include "aclnnop/aclnn_relu.h"
// CHECK: constexpr size_t kArenaBytes =
// Setup: ACL, the device, a stream, the buffers, the weights, the descriptors.
// CHECK: m->t[i] = aclCreateTensor(
// CHECK: aclError init = aclInit(nullptr);
// CHECK: FUSER_CHECK(aclrtSetDevice(device));
// CHECK: FUSER_CHECK(aclrtCreateStream(&m->stream));
// CHECK: FUSER_CHECK(load_weight(m, weights_dir, k));
// CHECK: FUSER_CHECK(make_descriptors(m));
// Each call: the workspace query, the shared workspace, the launch on the stream.
// CHECK: int run(
// CHECK: aclrtMemcpy(m->inputs[i], {{.*}}ACL_MEMCPY_HOST_TO_DEVICE
// CHECK: {  // cann.convolution at node
// CHECK-NEXT: auto* p3 = ints({1, 1});
// CHECK-NEXT: auto* p4 = ints({0, 0});
// CHECK-NEXT: auto* p5 = ints({1, 1});
// CHECK-NEXT: auto* p7 = ints({0, 0});
// CHECK-NEXT: FUSER_CHECK(parameters.check());
// CHECK-NEXT: uint64_t workspace_bytes = 0;
// CHECK-NEXT: aclOpExecutor* executor = nullptr;
// CHECK-NEXT: FUSER_CHECK(aclnnConvolutionGetWorkspaceSize(m->t[0], m->t[1], m->t[2], p3, p4, p5, false, p7, 1, m->t[3], 0, &workspace_bytes, &executor));
// CHECK-NEXT: FUSER_CHECK(reserve_workspace(m, workspace_bytes));
// CHECK-NEXT: FUSER_CHECK(aclnnConvolution(m->workspace, workspace_bytes, executor, m->stream));
// CHECK: FUSER_CHECK(aclnnReluGetWorkspaceSize(
// CHECK: FUSER_CHECK(aclnnAddGetWorkspaceSize(
// CHECK: FUSER_CHECK(aclrtSynchronizeStream(m->stream));
// CHECK: ACL_MEMCPY_DEVICE_TO_HOST

// HEADER: Model* create(const char* weights_dir, int32_t device);
// HEADER: int run(Model* model, const void* const* inputs, void* const* outputs);
// HEADER: void destroy(Model* model);

// WEIGHTS: w0.bin
// WEIGHTS: w7.bin

// MLIR: func.func private @resnet_bottleneck_k0_conv
// MLIR: "cann.convolution"
// MLIR: "cann.relu"
// MLIR-NOT: "graph.{{[a-z_]+}}"(%

// UNMAPPED: error: {{.*}}floor.mlir:3:8: convert-ftensor-to-cann: graph.floor has no aclnn mapping yet (cann dialect)
// CHIP: error: unknown Ascend chip '310p' in --target ascend:310p; fuser emits for ascend:910b
// EMIT: error: --emit ptx is not for --target ascend:910b, which writes cann-cpp (default: a directory) or mlir
// CPU: error: --emit cann-cpp needs --target ascend:910b
// MINE: error: '{{.*}}.mine' is a directory that fuser did not write (it has no .fuser-cann-cpp); give a new or empty directory
// KEPT: keep
