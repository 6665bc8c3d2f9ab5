// RUN: fuser-opt %s --convert-linalg-to-microkernels | FileCheck %s

// A zero-filled matmul becomes one overwriting gemm call (accumulate = 0); the
// transposed B of the second swaps its strides.
// CHECK-LABEL: func.func @matmuls
// CHECK-NOT: linalg.fill
// CHECK-NOT: linalg.matmul
// CHECK: %[[ZERO:.+]] = arith.constant 0 : index
// CHECK: call @fuser_sgemm_f32
// CHECK: call @fuser_sgemm_f32
// CHECK: func.func private @fuser_sgemm_f32(index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index)
func.func @matmuls(%a: memref<2x3xf32>, %b: memref<3x4xf32>, %bt: memref<4x3xf32>, %c: memref<2x4xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%c : memref<2x4xf32>)
  linalg.matmul ins(%a, %b : memref<2x3xf32>, memref<3x4xf32>) outs(%c : memref<2x4xf32>)
  linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>] ins(%a, %bt : memref<2x3xf32>, memref<4x3xf32>) outs(%c : memref<2x4xf32>)
  return
}
