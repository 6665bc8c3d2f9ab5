// Rust passes and upstream passes in one pipeline string, nested and at module level.
// RUN: fuser-opt %s --pass-pipeline='builtin.module(func.func(graph-simplify,canonicalize,cse))' | FileCheck %s
// RUN: fuser-opt %s --pass-pipeline='builtin.module(graph-simplify,canonicalize,cse)' | FileCheck %s
// RUN: fuser-opt %s --graph-simplify --canonicalize --cse | FileCheck %s

// CHECK-LABEL: func.func @mixed
// CHECK-SAME: (%[[X:.+]]: tensor<4xf32>, %[[I:.+]]: i32)
// CHECK-NEXT: %[[R:.+]] = "graph.relu"(%[[X]])
// CHECK-NEXT: return %[[R]], %[[I]]
func.func @mixed(%x: tensor<4xf32>, %i: i32) -> (tensor<4xf32>, i32) {
  %0 = "graph.identity"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  %1 = "graph.relu"(%0) : (tensor<4xf32>) -> tensor<4xf32>
  %c0 = arith.constant 0 : i32
  %2 = arith.addi %i, %c0 : i32
  return %1, %2 : tensor<4xf32>, i32
}
