// RUN: fuser-opt %s --pass-pipeline='builtin.module(func.func(graph-fold-constants))' --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @shape_arithmetic
// CHECK-NEXT: %[[C:.+]] = "graph.constant"() {value = dense<[4, 6]> : tensor<2xi64>}
// CHECK-NEXT: return %[[C]]
func.func @shape_arithmetic(%x: tensor<2x3xf32>) -> tensor<2xi64> {
  %s = "graph.shape"(%x) {end = 2 : i64, start = 0 : i64} : (tensor<2x3xf32>) -> tensor<2xi64>
  %c = "graph.constant"() {value = dense<2> : tensor<2xi64>} : () -> tensor<2xi64>
  %m = "graph.mul"(%s, %c) : (tensor<2xi64>, tensor<2xi64>) -> tensor<2xi64>
  return %m : tensor<2xi64>
}

// -----

// A reshape whose shape folds keeps its data operand.
// CHECK-LABEL: func.func @reshape_target_folds
// CHECK: %[[S:.+]] = "graph.constant"() {value = dense<[3, 2]> : tensor<2xi64>}
// CHECK: "graph.reshape"(%{{.+}}, %[[S]])
func.func @reshape_target_folds(%x: tensor<2x3xf32>) -> tensor<3x2xf32> {
  %a = "graph.constant"() {value = dense<[2, 3]> : tensor<2xi64>} : () -> tensor<2xi64>
  %r = "graph.constant"() {value = dense<[1, 0]> : tensor<2xi64>} : () -> tensor<2xi64>
  %i = "graph.constant"() {value = dense<0> : tensor<1xi64>} : () -> tensor<1xi64>
  %p = "graph.gather"(%a, %r) {axis = 0 : i64} : (tensor<2xi64>, tensor<2xi64>) -> tensor<2xi64>
  %0 = "graph.reshape"(%x, %p) {allowzero = 0 : i64} : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}

// -----

// Float math folds with the evaluator's semantics.
// CHECK-LABEL: func.func @float_math
// CHECK-NEXT: %[[C:.+]] = "graph.constant"() {value = dense<[0.000000e+00, 2.000000e+00]> : tensor<2xf32>}
// CHECK-NEXT: return %[[C]]
func.func @float_math() -> tensor<2xf32> {
  %a = "graph.constant"() {value = dense<[-1.0, 1.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  %r = "graph.relu"(%a) : (tensor<2xf32>) -> tensor<2xf32>
  %s = "graph.add"(%r, %r) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  return %s : tensor<2xf32>
}

// -----

// Ops with a non-constant operand stay; the limit keeps large results out.
// CHECK-LABEL: func.func @not_folded
// CHECK: "graph.add"(%{{.+}}, %{{.+}})
// CHECK: "graph.range"
func.func @not_folded(%x: tensor<2xf32>) -> (tensor<2xf32>, tensor<100000xi64>) {
  %c = "graph.constant"() {value = dense<1.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %a = "graph.add"(%x, %c) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %s = "graph.constant"() {value = dense<0> : tensor<i64>} : () -> tensor<i64>
  %l = "graph.constant"() {value = dense<100000> : tensor<i64>} : () -> tensor<i64>
  %d = "graph.constant"() {value = dense<1> : tensor<i64>} : () -> tensor<i64>
  %r = "graph.range"(%s, %l, %d) : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<100000xi64>
  return %a, %r : tensor<2xf32>, tensor<100000xi64>
}

// -----

// A uniform result is a splat and folds whatever its size.
// CHECK-LABEL: func.func @splat_folds
// CHECK-NEXT: "graph.constant"() {value = dense<1.500000e+00> : tensor<512x512xf32>}
func.func @splat_folds() -> tensor<512x512xf32> {
  %shape = "graph.constant"() {value = dense<512> : tensor<2xi64>} : () -> tensor<2xi64>
  %f = "graph.constant_of_shape"(%shape) {value = dense<1.5> : tensor<1xf32>} : (tensor<2xi64>) -> tensor<512x512xf32>
  return %f : tensor<512x512xf32>
}
