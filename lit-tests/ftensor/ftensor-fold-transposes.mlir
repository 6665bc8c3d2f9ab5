// RUN: fuser-opt %s --ftensor-fold-transposes | FileCheck %s --implicit-check-not=@heads --implicit-check-not=@keys --implicit-check-not=@scores(
// RUN: fuser-opt %s --ftensor-fold-transposes --ftensor-fold-transposes | FileCheck %s --implicit-check-not=@heads --implicit-check-not=@keys --implicit-check-not=@scores(
// RUN: fuser-opt %s --ftensor-fold-transposes --convert-graph-to-linalg | FileCheck %s --check-prefix=LOWERED

// Attention's scores on 2 heads of width 4 over 8 tokens: Q and Kᵀ come from kernels that
// only transpose, and the scores alone read them, so the scores' kernel takes them in
// (a copy, @scores_strided, starting with the transposes) and the transposes' kernels go.
// V's transpose feeds two calls: it stays. A second run finds nothing more to fold.

// CHECK-LABEL: func.func private @scores_strided(%arg0: tensor<1x8x2x4xf32>, %arg1: tensor<1x8x2x4xf32>) -> tensor<1x2x8x8xf32>
// CHECK-DAG: %[[Q:.*]] = "graph.transpose"(%arg0) {perm = array<i64: 0, 2, 1, 3>}
// CHECK-DAG: %[[K:.*]] = "graph.transpose"(%arg1) {perm = array<i64: 0, 2, 3, 1>}
// CHECK: "graph.mat_mul"(%[[Q]], %[[K]])
// CHECK-LABEL: func.func private @values(
// CHECK-LABEL: func.func @model
// CHECK: %[[S:.*]] = call @scores_strided(%arg0, %arg1)
// CHECK: %[[V:.*]] = call @values(%arg1)
// CHECK: call @mix(%[[S]], %[[V]])
// CHECK: call @mix(%[[S]], %[[V]])

// The lowering reads both through strides: A's rows 8 apart (columns 1), B's rows 1 apart
// (columns 8), both 4 apart between the 2 products (words 23–25); no transpose is copied.
// LOWERED-LABEL: func.func private @scores_strided
// LOWERED-NOT: linalg.transpose
// LOWERED: arith.constant dense<[0, 8, 8, 4, 8, 1, 1, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 4, 4, 1, 8, 1040187392, 0]> : tensor<30xi64>
// LOWERED: call @fuser_fused_f32
// LOWERED-LABEL: func.func private @values
module {
  func.func private @heads(%x: tensor<1x8x2x4xf32>) -> tensor<1x2x8x4xf32> attributes {ftensor.kernel} {
    %0 = "graph.transpose"(%x) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x8x2x4xf32>) -> tensor<1x2x8x4xf32>
    return %0 : tensor<1x2x8x4xf32>
  }
  func.func private @keys(%x: tensor<1x8x2x4xf32>) -> tensor<1x2x4x8xf32> attributes {ftensor.kernel} {
    %0 = "graph.transpose"(%x) {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x8x2x4xf32>) -> tensor<1x2x4x8xf32>
    return %0 : tensor<1x2x4x8xf32>
  }
  func.func private @scores(%q: tensor<1x2x8x4xf32>, %k: tensor<1x2x4x8xf32>) -> tensor<1x2x8x8xf32> attributes {ftensor.kernel} {
    %c = "graph.constant"() {value = dense<1.250000e-01> : tensor<f32>} : () -> tensor<f32>
    %0 = "graph.mat_mul"(%q, %k) : (tensor<1x2x8x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x8x8xf32>
    %1 = "graph.mul"(%0, %c) : (tensor<1x2x8x8xf32>, tensor<f32>) -> tensor<1x2x8x8xf32>
    return %1 : tensor<1x2x8x8xf32>
  }
  func.func private @values(%x: tensor<1x8x2x4xf32>) -> tensor<1x2x8x4xf32> attributes {ftensor.kernel} {
    %0 = "graph.transpose"(%x) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x8x2x4xf32>) -> tensor<1x2x8x4xf32>
    return %0 : tensor<1x2x8x4xf32>
  }
  func.func private @mix(%p: tensor<1x2x8x8xf32>, %v: tensor<1x2x8x4xf32>) -> tensor<1x2x8x4xf32> attributes {ftensor.kernel} {
    %0 = "graph.mat_mul"(%p, %v) : (tensor<1x2x8x8xf32>, tensor<1x2x8x4xf32>) -> tensor<1x2x8x4xf32>
    return %0 : tensor<1x2x8x4xf32>
  }
  func.func @model(%x: tensor<1x8x2x4xf32>, %y: tensor<1x8x2x4xf32>) -> (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>) {
    %q = call @heads(%x) : (tensor<1x8x2x4xf32>) -> tensor<1x2x8x4xf32>
    %k = call @keys(%y) : (tensor<1x8x2x4xf32>) -> tensor<1x2x4x8xf32>
    %s = call @scores(%q, %k) : (tensor<1x2x8x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x8x8xf32>
    %v = call @values(%y) : (tensor<1x8x2x4xf32>) -> tensor<1x2x8x4xf32>
    %a = call @mix(%s, %v) : (tensor<1x2x8x8xf32>, tensor<1x2x8x4xf32>) -> tensor<1x2x8x4xf32>
    %b = call @mix(%s, %v) : (tensor<1x2x8x8xf32>, tensor<1x2x8x4xf32>) -> tensor<1x2x8x4xf32>
    return %a, %b : tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>
  }
}
