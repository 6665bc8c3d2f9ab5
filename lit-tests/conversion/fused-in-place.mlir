// RUN: fuser-opt %s --convert-graph-to-linalg --split-input-file | FileCheck %s

// A kernel the runtime computes in one call may write its output over a residual its
// epilogue adds in full (argument 2, of the output's type): `hw-plan-memory` then lets
// the output take that buffer where it dies at the call.
// CHECK-LABEL: func.func private @residual
// CHECK-SAME: ftensor.in_place_args = array<i64: 2>
// CHECK: call @fuser_fused_f32
module {
  func.func private @residual(%a: tensor<4x16xf32>, %b: tensor<16x8xf32>, %r: tensor<4x8xf32>) -> tensor<4x8xf32> attributes {ftensor.kernel} {
    %0 = "graph.mat_mul"(%a, %b) : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    %1 = "graph.add"(%0, %r) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %2 = "graph.relu"(%1) : (tensor<4x8xf32>) -> tensor<4x8xf32>
    return %2 : tensor<4x8xf32>
  }
}

// -----

// The residual is the matmul's A as well: the product reads rows the output would have
// overwritten, so no argument is marked. Nor is a bias (a row, not the output's type).
// CHECK-LABEL: func.func private @residual_is_a
// CHECK-NOT: ftensor.in_place_args
// CHECK: call @fuser_fused_f32
// CHECK-LABEL: func.func private @bias
// CHECK-NOT: ftensor.in_place_args
// CHECK: call @fuser_fused_f32
module {
  func.func private @residual_is_a(%a: tensor<8x8xf32>, %b: tensor<8x8xf32>) -> tensor<8x8xf32> attributes {ftensor.kernel} {
    %0 = "graph.mat_mul"(%a, %b) : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
    %1 = "graph.add"(%0, %a) : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
    return %1 : tensor<8x8xf32>
  }
  func.func private @bias(%a: tensor<4x16xf32>, %b: tensor<16x8xf32>, %c: tensor<8xf32>) -> tensor<4x8xf32> attributes {ftensor.kernel} {
    %0 = "graph.mat_mul"(%a, %b) : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    %1 = "graph.add"(%0, %c) : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
    return %1 : tensor<4x8xf32>
  }
}
