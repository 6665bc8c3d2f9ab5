// RUN: fuser-opt %s --convert-graph-to-linalg --split-input-file | FileCheck %s

// A batched f32 matmul (attention's Q·Kᵀ, here with its scale) lowers to one fused call
// whose descriptor carries the batch in words 23–25: the product count, then A's and
// B's strides between products (0 for a B shared by every product).

// CHECK-LABEL: func.func private @scores
// CHECK: arith.constant dense<[0, 16, 16, 8, 8, 1, 16, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 128, 128, 1, 8, 1040187392, 0]> : tensor<30xi64>
// CHECK: call @fuser_fused_f32
// CHECK-NOT: linalg.batch_matmul
module {
  func.func private @scores(%q: tensor<2x3x16x8xf32>, %k: tensor<2x3x8x16xf32>) -> tensor<2x3x16x16xf32> attributes {ftensor.kernel} {
    %s = "graph.constant"() {value = dense<1.250000e-01> : tensor<f32>} : () -> tensor<f32>
    %0 = "graph.mat_mul"(%q, %k) : (tensor<2x3x16x8xf32>, tensor<2x3x8x16xf32>) -> tensor<2x3x16x16xf32>
    %1 = "graph.mul"(%0, %s) : (tensor<2x3x16x16xf32>, tensor<f32>) -> tensor<2x3x16x16xf32>
    return %1 : tensor<2x3x16x16xf32>
  }
}

// -----

// One B for every product (its batch dimensions are all 1): B's batch stride is 0.
// CHECK-LABEL: func.func private @shared_b
// CHECK: arith.constant dense<[0, 4, 16, 8, 8, 1, 16, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 32, 0, 0]> : tensor<27xi64>
// CHECK: call @fuser_fused_f32
module {
  func.func private @shared_b(%a: tensor<5x4x8xf32>, %b: tensor<1x8x16xf32>) -> tensor<5x4x16xf32> attributes {ftensor.kernel} {
    %0 = "graph.mat_mul"(%a, %b) : (tensor<5x4x8xf32>, tensor<1x8x16xf32>) -> tensor<5x4x16xf32>
    return %0 : tensor<5x4x16xf32>
  }
}

// -----

// Batch dimensions that broadcast both ways have no batch strides: the kernel lowers op
// by op.
// CHECK-LABEL: func.func private @broadcast_both_ways
// CHECK-NOT: call @fuser_fused_f32
// CHECK: return
module {
  func.func private @broadcast_both_ways(%a: tensor<2x1x4x8xf32>, %b: tensor<1x3x8x16xf32>) -> tensor<2x3x4x16xf32> attributes {ftensor.kernel} {
    %0 = "graph.mat_mul"(%a, %b) : (tensor<2x1x4x8xf32>, tensor<1x3x8x16xf32>) -> tensor<2x3x4x16xf32>
    return %0 : tensor<2x3x4x16xf32>
  }
}
