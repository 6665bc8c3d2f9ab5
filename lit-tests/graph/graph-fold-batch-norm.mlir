// RUN: fuser-opt %s --graph-fold-batch-norm --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @folded
// CHECK-NOT: graph.batch_normalization
// CHECK: %[[W:.+]] = "graph.constant"() {value = dense<2.000000e+00> : tensor<2x1x1x1xf32>}
// CHECK: %[[B:.+]] = "graph.constant"() {value = dense<[1.000000e+00, -1.000000e+00]> : tensor<2xf32>}
// CHECK: %[[Y:.+]] = "graph.conv"(%{{.+}}, %[[W]], %[[B]])
// CHECK: return %[[Y]]
func.func @folded(%x: tensor<1x1x2x2xf32>) -> tensor<1x2x2x2xf32> {
  %w = "graph.constant"() {value = dense<1.0> : tensor<2x1x1x1xf32>} : () -> tensor<2x1x1x1xf32>
  // inv = scale / sqrt(var + eps) = 2 / sqrt(1) = 2; bias = (0 - mean) * 2 + b.
  %scale = "graph.constant"() {value = dense<2.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %b = "graph.constant"() {value = dense<[3.0, 1.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  %mean = "graph.constant"() {value = dense<1.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %var = "graph.constant"() {value = dense<1.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %y = "graph.conv"(%x, %w) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>} : (tensor<1x1x2x2xf32>, tensor<2x1x1x1xf32>) -> tensor<1x2x2x2xf32>
  %z = "graph.batch_normalization"(%y, %scale, %b, %mean, %var) {epsilon = 0.0 : f32, momentum = 0.9 : f32} : (tensor<1x2x2x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
  return %z : tensor<1x2x2x2xf32>
}

// -----

// Weights that are not constants (a function argument) stay as they are.
// CHECK-LABEL: func.func @runtime_weights
// CHECK: graph.batch_normalization
func.func @runtime_weights(%x: tensor<1x1x2x2xf32>, %w: tensor<2x1x1x1xf32>, %p: tensor<2xf32>) -> tensor<1x2x2x2xf32> {
  %y = "graph.conv"(%x, %w) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>} : (tensor<1x1x2x2xf32>, tensor<2x1x1x1xf32>) -> tensor<1x2x2x2xf32>
  %z = "graph.batch_normalization"(%y, %p, %p, %p, %p) {epsilon = 1.0e-5 : f32, momentum = 0.9 : f32} : (tensor<1x2x2x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
  return %z : tensor<1x2x2x2xf32>
}
