// RUN: fuser-opt %s --graph-eqsat-fuse --split-input-file | FileCheck %s
// RUN: fuser-opt %s --pass-pipeline='builtin.module(graph-eqsat-fuse{strategy=greedy})' --split-input-file | FileCheck %s --check-prefix=GREEDY
// RUN: not fuser-opt %s --pass-pipeline='builtin.module(graph-eqsat-fuse{target=tpu})' 2>&1 | FileCheck %s --check-prefix=BADTARGET

// BADTARGET: unknown target 'tpu' (known: cpu, cuda:sm_90, rocm:gfx942, ascend:910b)

// A batch normalization after a conv folds into the conv's weights and bias (evaluated
// into constants), its relu joins the conv's kernel, and the identity (a view) goes.
// CHECK-LABEL: module attributes {ftensor.fusion_report =
// CHECK-SAME: stop_reason
// CHECK-SAME: fold-conv-batch-norm
// CHECK-SAME: fuse-epilogue-activation
// CHECK-LABEL: func.func private @bn_k0_conv
// CHECK-SAME: attributes {ftensor.kernel}
// CHECK: "graph.conv"
// CHECK-NEXT: "graph.relu"
// CHECK-NEXT: return
// CHECK-LABEL: func.func @bn
// CHECK-NOT: batch_normalization
// CHECK-NOT: graph.identity
// CHECK: call @bn_k0_conv
// CHECK-NEXT: return
// The greedy strategy does not fold: the normalization is an epilogue of the conv.
// GREEDY-LABEL: func.func private @bn_k0_conv
// GREEDY: "graph.conv"
// GREEDY-NEXT: "graph.batch_normalization"
// GREEDY-NEXT: "graph.relu"
func.func @bn(%x: tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32> {
  %w = "graph.constant"() {value = dense<[[[[0.5]], [[-1.0]]], [[[2.0]], [[0.25]]]]> : tensor<2x2x1x1xf32>} : () -> tensor<2x2x1x1xf32>
  %g = "graph.constant"() {value = dense<[1.5, 0.5]> : tensor<2xf32>} : () -> tensor<2xf32>
  %b = "graph.constant"() {value = dense<[0.1, -0.2]> : tensor<2xf32>} : () -> tensor<2xf32>
  %m = "graph.constant"() {value = dense<[0.3, 0.4]> : tensor<2xf32>} : () -> tensor<2xf32>
  %v = "graph.constant"() {value = dense<[2.0, 0.5]> : tensor<2xf32>} : () -> tensor<2xf32>
  %i = "graph.identity"(%x) : (tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  %c = "graph.conv"(%i, %w) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 0>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>} : (tensor<1x2x3x3xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x3x3xf32>
  %n = "graph.batch_normalization"(%c, %g, %b, %m, %v) {epsilon = 9.99999974E-6 : f32, momentum = 0.899999976 : f32} : (tensor<1x2x3x3xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x3x3xf32>
  %r = "graph.relu"(%n) : (tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  return %r : tensor<1x2x3x3xf32>
}

// -----

// An NCHW->NHWC->NCHW transpose pair around a relu cancels: the relu sinks below the
// first transpose, the two transposes compose to the identity.
// CHECK-LABEL: func.func private @pair_k0_relu
// CHECK-NEXT: "graph.relu"
// CHECK-NEXT: return
// CHECK-LABEL: func.func @pair
// CHECK-NOT: graph.transpose
// CHECK: call @pair_k0_relu
// The greedy strategy keeps both transposes, each a kernel.
// GREEDY-LABEL: func.func @pair
// GREEDY: call @pair_k0_transpose
// GREEDY: call @pair_k1_transpose
func.func @pair(%x: tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32> {
  %a = "graph.transpose"(%x) {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x3x4xf32>) -> tensor<1x3x4x2xf32>
  %r = "graph.relu"(%a) : (tensor<1x3x4x2xf32>) -> tensor<1x3x4x2xf32>
  %b = "graph.transpose"(%r) {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x3x4x2xf32>) -> tensor<1x2x3x4xf32>
  return %b : tensor<1x2x3x4xf32>
}

// -----

// A matmul plus a bias is a gemm with a bias; the scale after it folds into alpha and the
// bias, so the whole chain is one gemm kernel.
// CHECK-LABEL: func.func private @linear_k0_gemm
// CHECK: "graph.gemm"
// CHECK-SAME: alpha = 5.000000e-01
// CHECK-SAME: beta = 1.000000e+00
// CHECK-NEXT: return
func.func @linear(%a: tensor<2x3xf32>) -> tensor<2x4xf32> {
  %w = "graph.constant"() {value = dense<[[1.0, 2.0, 3.0, 4.0], [0.5, 0.25, -1.0, 2.0], [1.5, -0.5, 0.75, 1.0]]> : tensor<3x4xf32>} : () -> tensor<3x4xf32>
  %c = "graph.constant"() {value = dense<[0.1, 0.2, 0.3, 0.4]> : tensor<4xf32>} : () -> tensor<4xf32>
  %s = "graph.constant"() {value = dense<0.5> : tensor<f32>} : () -> tensor<f32>
  %p = "graph.mat_mul"(%a, %w) : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  %q = "graph.add"(%p, %c) : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %r = "graph.mul"(%q, %s) : (tensor<2x4xf32>, tensor<f32>) -> tensor<2x4xf32>
  return %r : tensor<2x4xf32>
}
