// RUN: fuser-opt %s --pass-pipeline='builtin.module(func.func(graph-simplify))' --split-input-file | FileCheck %s
// RUN: fuser-opt %s --graph-simplify --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @identity_and_dropout
// CHECK-SAME: (%[[X:.+]]: tensor<4xf32>)
// CHECK-NEXT: %[[R:.+]] = "graph.relu"(%[[X]])
// CHECK-NEXT: return %[[R]]
func.func @identity_and_dropout(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "graph.identity"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  %1 = "graph.dropout"(%0) {operandSegmentSizes = array<i32: 1, 0, 0>, resultSegmentSizes = array<i32: 1, 0>} : (tensor<4xf32>) -> tensor<4xf32>
  %2 = "graph.relu"(%1) : (tensor<4xf32>) -> tensor<4xf32>
  return %2 : tensor<4xf32>
}

// -----

// A dropout whose mask is used stays.
// CHECK-LABEL: func.func @dropout_mask_used
// CHECK: "graph.dropout"
func.func @dropout_mask_used(%x: tensor<4xf32>) -> tensor<4xi1> {
  %0, %mask = "graph.dropout"(%x) {operandSegmentSizes = array<i32: 1, 0, 0>, resultSegmentSizes = array<i32: 1, 1>} : (tensor<4xf32>) -> (tensor<4xf32>, tensor<4xi1>)
  return %mask : tensor<4xi1>
}

// -----

// CHECK-LABEL: func.func @transpose_pair_cancels
// CHECK-SAME: (%[[X:.+]]: tensor<2x3xf32>)
// CHECK-NOT: graph.transpose
// CHECK: return %[[X]]
func.func @transpose_pair_cancels(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = "graph.transpose"(%x) {perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %1 = "graph.transpose"(%0) {perm = array<i64: 1, 0>} : (tensor<3x2xf32>) -> tensor<2x3xf32>
  return %1 : tensor<2x3xf32>
}

// -----

// transpose(transpose(x, [0,2,3,1]), [0,2,1,3]) = transpose(x, [0,3,2,1]).
// CHECK-LABEL: func.func @transpose_chain_composes
// CHECK-SAME: (%[[X:.+]]: tensor<1x2x3x4xf32>)
// CHECK-NEXT: %[[T:.+]] = "graph.transpose"(%[[X]]) {perm = array<i64: 0, 3, 2, 1>} : (tensor<1x2x3x4xf32>) -> tensor<1x4x3x2xf32>
// CHECK-NEXT: return %[[T]]
func.func @transpose_chain_composes(%x: tensor<1x2x3x4xf32>) -> tensor<1x4x3x2xf32> {
  %0 = "graph.transpose"(%x) {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x3x4xf32>) -> tensor<1x3x4x2xf32>
  %1 = "graph.transpose"(%0) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x3x4x2xf32>) -> tensor<1x4x3x2xf32>
  return %1 : tensor<1x4x3x2xf32>
}

// -----

// CHECK-LABEL: func.func @identity_transpose
// CHECK-NOT: graph.transpose
func.func @identity_transpose(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = "graph.transpose"(%x) {perm = array<i64: 0, 1>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// CHECK-LABEL: func.func @reshape_chain
// CHECK-SAME: (%[[X:.+]]: tensor<2x3x4xf32>)
// CHECK: %[[S:.+]] = "graph.constant"() {value = dense<[4, 6]> : tensor<2xi64>}
// CHECK-NEXT: %[[R:.+]] = "graph.reshape"(%[[X]], %[[S]])
// CHECK-NEXT: return %[[R]]
func.func @reshape_chain(%x: tensor<2x3x4xf32>) -> tensor<4x6xf32> {
  %s1 = "graph.constant"() {value = dense<[6, 4]> : tensor<2xi64>} : () -> tensor<2xi64>
  %s2 = "graph.constant"() {value = dense<[4, 6]> : tensor<2xi64>} : () -> tensor<2xi64>
  %0 = "graph.reshape"(%x, %s1) {allowzero = 0 : i64} : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<6x4xf32>
  %1 = "graph.reshape"(%0, %s2) {allowzero = 0 : i64} : (tensor<6x4xf32>, tensor<2xi64>) -> tensor<4x6xf32>
  return %1 : tensor<4x6xf32>
}

// -----

// A 0 in the outer shape copies a dim of the intermediate (allowzero = 0): keep both.
// CHECK-LABEL: func.func @reshape_chain_with_zero
// CHECK-COUNT-2: "graph.reshape"
func.func @reshape_chain_with_zero(%x: tensor<2x3x4xf32>) -> tensor<6x2x2xf32> {
  %s1 = "graph.constant"() {value = dense<[6, 4]> : tensor<2xi64>} : () -> tensor<2xi64>
  %s2 = "graph.constant"() {value = dense<[0, 2, -1]> : tensor<3xi64>} : () -> tensor<3xi64>
  %0 = "graph.reshape"(%x, %s1) {allowzero = 0 : i64} : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<6x4xf32>
  %1 = "graph.reshape"(%0, %s2) {allowzero = 0 : i64} : (tensor<6x4xf32>, tensor<3xi64>) -> tensor<6x2x2xf32>
  return %1 : tensor<6x2x2xf32>
}

// -----

// CHECK-LABEL: func.func @noop_reshape_and_cast
// CHECK-SAME: (%[[X:.+]]: tensor<2x3xf32>
// CHECK-NOT: graph.reshape
// CHECK-NOT: graph.cast
// CHECK: return %[[X]]
func.func @noop_reshape_and_cast(%x: tensor<2x3xf32>, %s: tensor<2xi64>) -> tensor<2x3xf32> {
  %0 = "graph.reshape"(%x, %s) {allowzero = 0 : i64} : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<2x3xf32>
  %1 = "graph.cast"(%0) {saturate = 1 : i64, to = 1 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %1 : tensor<2x3xf32>
}

// -----

// A real cast stays.
// CHECK-LABEL: func.func @real_cast
// CHECK: "graph.cast"
func.func @real_cast(%x: tensor<2x3xf32>) -> tensor<2x3xf16> {
  %0 = "graph.cast"(%x) {saturate = 1 : i64, to = 10 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf16>
  return %0 : tensor<2x3xf16>
}

// -----

// CHECK-LABEL: func.func @dead_code_and_cse
// CHECK-SAME: (%[[X:.+]]: tensor<4xf32>)
// CHECK-NEXT: %[[R:.+]] = "graph.relu"(%[[X]])
// CHECK-NEXT: %[[A:.+]] = "graph.add"(%[[R]], %[[R]])
// CHECK-NEXT: return %[[A]]
func.func @dead_code_and_cse(%x: tensor<4xf32>) -> tensor<4xf32> {
  %dead = "graph.exp"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  %dead2 = "graph.sigmoid"(%dead) : (tensor<4xf32>) -> tensor<4xf32>
  %0 = "graph.relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  %1 = "graph.relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  %2 = "graph.add"(%0, %1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %2 : tensor<4xf32>
}

// -----

// Ops that differ in an attribute are not merged.
// CHECK-LABEL: func.func @cse_respects_attributes
// CHECK-COUNT-2: "graph.leaky_relu"
func.func @cse_respects_attributes(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = "graph.leaky_relu"(%x) {alpha = 0.1 : f32} : (tensor<4xf32>) -> tensor<4xf32>
  %1 = "graph.leaky_relu"(%x) {alpha = 0.2 : f32} : (tensor<4xf32>) -> tensor<4xf32>
  return %0, %1 : tensor<4xf32>, tensor<4xf32>
}

// -----

// Non-graph ops are left alone, even when dead.
// CHECK-LABEL: func.func @other_dialects_untouched
// CHECK: arith.constant
func.func @other_dialects_untouched() {
  %c = arith.constant 1 : i32
  return
}
