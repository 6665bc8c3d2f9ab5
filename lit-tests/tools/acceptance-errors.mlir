// The three rejections of the acceptance criteria, without --verify-diagnostics:
// each prints a located `error:` and fuser-opt exits non-zero without crashing (`not`
// fails on a crash). tools/tests/cli.rs checks the exit code is exactly 1.
// RUN: not fuser-opt %s --split-input-file 2>&1 | FileCheck %s

// CHECK: acceptance-errors.mlir:[[@LINE+2]]:8: error: op expects exactly 2 operands, but got 1
func.func @operand_count(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "graph.add"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// CHECK: acceptance-errors.mlir:[[@LINE+2]]:8: error: 'graph.exp' op operand #0 has element type i32, expected one of f32, f64, f16, bf16
func.func @element_type(%x: tensor<4xi32>) -> tensor<4xi32> {
  %0 = "graph.exp"(%x) : (tensor<4xi32>) -> tensor<4xi32>
  return %0 : tensor<4xi32>
}

// -----

// CHECK: acceptance-errors.mlir:[[@LINE+3]]:8: error: 'graph.mat_mul' op inner dimensions differ: [2, 16] has K = 16, [15, 8] has K = 15
// CHECK-NEXT: "graph.mat_mul"(%a, %b)
func.func @static_shape(%a: tensor<2x16xf32>, %b: tensor<15x8xf32>) -> tensor<2x8xf32> {
  %0 = "graph.mat_mul"(%a, %b) : (tensor<2x16xf32>, tensor<15x8xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}
