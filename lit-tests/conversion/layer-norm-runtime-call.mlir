// RUN: fuser-opt %s --convert-graph-to-linalg --split-input-file | FileCheck %s
// RUN: fuser-opt %s --convert-graph-to-linalg=contractions=linalg --split-input-file | FileCheck %s --check-prefix=GPU

// An f32 LayerNormalization along the last axis with a scale and bias per column is one
// call of the runtime's row kernel: input, scale, bias, output, rows, columns, epsilon's
// f64 bits (1e-5 as f32, widened).
// CHECK-LABEL: func.func @last_axis
// CHECK-DAG: %[[ROWS:.+]] = arith.constant 8 : index
// CHECK-DAG: %[[COLS:.+]] = arith.constant 16 : index
// CHECK-DAG: %[[EPS:.+]] = arith.constant 4532020583461814272 : index
// CHECK: call @fuser_layer_norm_f32(%{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %[[ROWS]], %[[COLS]], %[[EPS]])
// CHECK-NOT: linalg.generic
// CHECK: return
// The GPU lowering keeps linalg (no runtime calls).
// GPU-LABEL: func.func @last_axis
// GPU-NOT: fuser_layer_norm_f32
// GPU: linalg.generic
func.func @last_axis(%x: tensor<2x4x16xf32>, %s: tensor<16xf32>, %b: tensor<16xf32>) -> tensor<2x4x16xf32> {
  %y = "graph.layer_normalization"(%x, %s, %b) {axis = -1 : i64, epsilon = 9.99999974E-6 : f32, stash_type = 1 : i64, resultSegmentSizes = array<i32: 1, 0, 0>} : (tensor<2x4x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<2x4x16xf32>
  return %y : tensor<2x4x16xf32>
}

// -----

// Normalizing over more than the last axis stays on linalg.
// CHECK-LABEL: func.func @two_axes
// CHECK-NOT: fuser_layer_norm_f32
// CHECK: linalg.generic
func.func @two_axes(%x: tensor<2x4x16xf32>, %s: tensor<4x16xf32>) -> tensor<2x4x16xf32> {
  %y = "graph.layer_normalization"(%x, %s) {axis = 1 : i64, epsilon = 9.99999974E-6 : f32, stash_type = 1 : i64, resultSegmentSizes = array<i32: 1, 0, 0>} : (tensor<2x4x16xf32>, tensor<4x16xf32>) -> tensor<2x4x16xf32>
  return %y : tensor<2x4x16xf32>
}
