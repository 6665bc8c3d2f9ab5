// RUN: fuser-opt %s --pass-pipeline='builtin.module(graph-infer-shapes)' --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @elementwise
// CHECK-SAME: -> tensor<2x3xf32>
// CHECK: "graph.relu"(%{{.+}}) : (tensor<2x3xf32>) -> tensor<2x3xf32>
func.func @elementwise(%x: tensor<2x3xf32>) -> tensor<?x?xf32> {
  %0 = "graph.relu"(%x) : (tensor<2x3xf32>) -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}

// -----

// A reshape with a constant target gets its static shape; the matmul after it too.
// CHECK-LABEL: func.func @through_reshape
// CHECK: "graph.reshape"{{.*}} -> tensor<3x4xf32>
// CHECK: "graph.mat_mul"{{.*}} -> tensor<3x5xf32>
func.func @through_reshape(%x: tensor<12xf32>, %w: tensor<4x5xf32>) -> tensor<?x?xf32> {
  %s = "graph.constant"() {value = dense<[3, -1]> : tensor<2xi64>} : () -> tensor<2xi64>
  %r = "graph.reshape"(%x, %s) {allowzero = 0 : i64} : (tensor<12xf32>, tensor<2xi64>) -> tensor<?x?xf32>
  %m = "graph.mat_mul"(%r, %w) : (tensor<?x?xf32>, tensor<4x5xf32>) -> tensor<?x?xf32>
  return %m : tensor<?x?xf32>
}

// -----

// A dynamic input stays dynamic where the inference cannot know better.
// CHECK-LABEL: func.func @partly_dynamic
// CHECK: "graph.conv"{{.*}} -> tensor<?x8x6x6xf32>
func.func @partly_dynamic(%x: tensor<?x3x8x8xf32>, %w: tensor<8x3x3x3xf32>) -> tensor<?x?x?x?xf32> {
  %c = "graph.conv"(%x, %w) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 3, 3>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>} : (tensor<?x3x8x8xf32>, tensor<8x3x3x3xf32>) -> tensor<?x?x?x?xf32>
  return %c : tensor<?x?x?x?xf32>
}
