// RUN: fuser-opt %s --convert-graph-to-linalg --split-input-file --verify-diagnostics | FileCheck %s
// RUN: fuser-opt %s --convert-graph-to-linalg=contractions=linalg --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=GPU

// CHECK-LABEL: func.func @relu
// CHECK-SAME: (%[[X:.+]]: tensor<2x3xf32>)
// CHECK: %[[E:.+]] = tensor.empty() : tensor<2x3xf32>
// CHECK: %[[R:.+]] = linalg.generic {{.*}} ins(%[[X]] : tensor<2x3xf32>) outs(%[[E]] : tensor<2x3xf32>)
// CHECK: arith.maximumf
// CHECK: return %[[R]]
func.func @relu(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = "graph.relu"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// Broadcasting reads the stretched dim at index 0.
// CHECK-DAG: #[[BCAST:.+]] = affine_map<(d0, d1) -> (0, d1)>
// CHECK-LABEL: func.func @add_broadcast
// CHECK: linalg.generic {indexing_maps = [#{{.+}}, #[[BCAST]], #{{.+}}]
// CHECK: arith.addf
func.func @add_broadcast(%x: tensor<2x3xf32>, %y: tensor<1x3xf32>) -> tensor<2x3xf32> {
  %0 = "graph.add"(%x, %y) : (tensor<2x3xf32>, tensor<1x3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// CHECK-LABEL: func.func @matmul
// CHECK: %[[Z:.+]] = linalg.fill
// CHECK: linalg.matmul ins(%{{.+}}, %{{.+}} : tensor<2x3xf32>, tensor<3x4xf32>) outs(%[[Z]] : tensor<2x4xf32>)
func.func @matmul(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>) -> tensor<2x4xf32> {
  %0 = "graph.mat_mul"(%a, %b) : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

// A batch-1 padded conv with bias: the input is padded, its windows gathered (im2col,
// tagged for the microkernel), and one matmul accumulates onto the broadcast bias.
// CHECK-LABEL: func.func @conv
// CHECK: tensor.pad %{{.+}} low[0, 0, 1, 1] high[0, 0, 1, 1]
// CHECK: linalg.generic {{.*}} outs(%{{.+}} : tensor<3x3x3x8x8xf32>) attrs = {fuser.im2col = array<i64: 1, 1, 1, 1, 3, 10, 10>}
// CHECK: %[[INIT:.+]] = linalg.generic {{.*}} ins(%{{.+}} : tensor<4xf32>) outs(%{{.+}} : tensor<4x64xf32>)
// CHECK: linalg.matmul ins(%{{.+}}, %{{.+}} : tensor<4x27xf32>, tensor<27x64xf32>) outs(%[[INIT]] : tensor<4x64xf32>)
// CHECK: tensor.expand_shape {{.*}} into tensor<1x4x8x8xf32>
func.func @conv(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<4xf32>) -> tensor<1x4x8x8xf32> {
  %0 = "graph.conv"(%x, %w, %b) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 1, 1>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  return %0 : tensor<1x4x8x8xf32>
}

// -----

// Batch 2: the named conv op.
// CHECK-LABEL: func.func @conv_batch
// CHECK: linalg.conv_2d_nchw_fchw
func.func @conv_batch(%x: tensor<2x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<2x4x6x6xf32> {
  %0 = "graph.conv"(%x, %w) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 3, 3>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>} : (tensor<2x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<2x4x6x6xf32>
  return %0 : tensor<2x4x6x6xf32>
}

// -----

// A depthwise conv (group = channels) splits channels into (group, per group), tagged
// for the depthwise microkernel.
// CHECK-LABEL: func.func @depthwise
// CHECK: tensor.expand_shape {{.*}} into tensor<1x4x1x6x6xf32>
// CHECK: linalg.generic {{.*}} attrs = {fuser.depthwise = array<i64: 1, 1, 1, 1>}
// CHECK: tensor.collapse_shape {{.*}} into tensor<1x4x4x4xf32>
func.func @depthwise(%x: tensor<1x4x6x6xf32>, %w: tensor<4x1x3x3xf32>) -> tensor<1x4x4x4xf32> {
  %0 = "graph.conv"(%x, %w) {dilations = array<i64: 1, 1>, group = 4 : i64, kernel_shape = array<i64: 3, 3>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>} : (tensor<1x4x6x6xf32>, tensor<4x1x3x3xf32>) -> tensor<1x4x4x4xf32>
  return %0 : tensor<1x4x4x4xf32>
}

// -----

// Softmax along another axis than the last: max, then exp-sum, then divide; all
// reductions over the axis only.
// CHECK-LABEL: func.func @softmax
// CHECK: arith.maximumf
// CHECK: arith.subf
// CHECK: math.exp
// CHECK: arith.divf
func.func @softmax(%x: tensor<2x5xf32>) -> tensor<2x5xf32> {
  %0 = "graph.softmax"(%x) {axis = 0 : i64} : (tensor<2x5xf32>) -> tensor<2x5xf32>
  return %0 : tensor<2x5xf32>
}

// -----

// An f32 Softmax along the last axis is one call of the runtime's row softmax over
// 2·3 rows of 5, its input read in place and its result in a fresh buffer.
// CHECK-LABEL: func.func @softmax_rows
// CHECK-DAG: %[[ROWS:.+]] = arith.constant 6 : index
// CHECK-DAG: %[[COLS:.+]] = arith.constant 5 : index
// CHECK: call @fuser_softmax_f32(%{{.+}}, %{{.+}}, %[[ROWS]], %[[COLS]]) : (index, index, index, index) -> ()
// CHECK-NOT: math.exp
// CHECK: func.func private @fuser_softmax_f32(index, index, index, index)
// Without runtime calls (contractions=linalg or gpu) it is pure linalg: max, exp, sum, divide.
// GPU-LABEL: func.func @softmax_rows
// GPU-NOT: fuser_softmax_f32
// GPU: math.exp
// GPU-NOT: fuser_softmax_f32
func.func @softmax_rows(%x: tensor<2x3x5xf32>) -> tensor<2x3x5xf32> {
  %0 = "graph.softmax"(%x) {axis = -1 : i64} : (tensor<2x3x5xf32>) -> tensor<2x3x5xf32>
  return %0 : tensor<2x3x5xf32>
}

// -----

// An f32 Transpose of at least 2^14 values is one call of the runtime's transpose, its
// descriptor [rank, input dims.., perm..] a constant; a smaller one, or any without
// runtime calls, stays a linalg.transpose.
// CHECK-LABEL: func.func @transpose_heads
// CHECK: arith.constant dense<[4, 1, 12, 128, 64, 0, 2, 1, 3]> : tensor<9xi64>
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<1x128x12x64xf32>
// CHECK: call @fuser_transpose_f32(%{{.+}}, %{{.+}}, %{{.+}}) : (index, index, index) -> ()
// CHECK-NOT: linalg.transpose
// CHECK-LABEL: func.func @transpose_small
// CHECK: linalg.transpose ins(%{{.+}} : tensor<2x3x4xf32>) outs(%{{.+}} : tensor<4x2x3xf32>) permutation = [2, 0, 1]
// CHECK: func.func private @fuser_transpose_f32(index, index, index)
// GPU-LABEL: func.func @transpose_heads
// GPU-NOT: fuser_transpose_f32
// GPU: linalg.transpose
func.func @transpose_heads(%x: tensor<1x12x128x64xf32>) -> tensor<1x128x12x64xf32> {
  %0 = "graph.transpose"(%x) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x12x128x64xf32>) -> tensor<1x128x12x64xf32>
  return %0 : tensor<1x128x12x64xf32>
}
func.func @transpose_small(%x: tensor<2x3x4xf32>) -> tensor<4x2x3xf32> {
  %0 = "graph.transpose"(%x) {perm = array<i64: 2, 0, 1>} : (tensor<2x3x4xf32>) -> tensor<4x2x3xf32>
  return %0 : tensor<4x2x3xf32>
}

// -----

// An f32 GlobalAveragePool is one call of the runtime's row mean over the N·C maps of
// H·W values, into a fresh buffer of the output's shape; without runtime calls it is a
// sum and a division in linalg.
// CHECK-LABEL: func.func @global_average_pool
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<2x3x1x1xf32>
// CHECK-DAG: %[[ROWS:.+]] = arith.constant 6 : index
// CHECK-DAG: %[[COLS:.+]] = arith.constant 35 : index
// CHECK: call @fuser_global_average_pool_f32(%{{.+}}, %{{.+}}, %[[ROWS]], %[[COLS]]) : (index, index, index, index) -> ()
// CHECK-NOT: arith.divf
// CHECK: func.func private @fuser_global_average_pool_f32(index, index, index, index)
// GPU-LABEL: func.func @global_average_pool
// GPU-NOT: fuser_global_average_pool_f32
// GPU: arith.divf
func.func @global_average_pool(%x: tensor<2x3x5x7xf32>) -> tensor<2x3x1x1xf32> {
  %0 = "graph.global_average_pool"(%x) : (tensor<2x3x5x7xf32>) -> tensor<2x3x1x1xf32>
  return %0 : tensor<2x3x1x1xf32>
}

// -----

// Reshapes are views through a rank-1 form; constants become arith constants.
// CHECK-LABEL: func.func @reshape
// CHECK: tensor.collapse_shape %{{.+}} {{\[\[}}0, 1]] : tensor<2x3xf32> into tensor<6xf32>
// CHECK: tensor.expand_shape %{{.+}} {{\[\[}}0, 1]] output_shape [3, 2] : tensor<6xf32> into tensor<3x2xf32>
func.func @reshape(%x: tensor<2x3xf32>) -> tensor<3x2xf32> {
  %s = "graph.constant"() {value = dense<[3, 2]> : tensor<2xi64>} : () -> tensor<2xi64>
  %0 = "graph.reshape"(%x, %s) {allowzero = 0 : i64} : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}

// -----

// An op with no lowering is refused at its location, by name.
func.func @refused(%x: tensor<2x5xf32>) -> tensor<2x3xf32> {
  %k = "graph.constant"() {value = dense<3> : tensor<1xi64>} : () -> tensor<1xi64>
  // expected-error @+1 {{graph.top_k has no CPU lowering yet}}
  %0, %1 = "graph.top_k"(%x, %k) {axis = -1 : i64, largest = 1 : i64, sorted = 1 : i64} : (tensor<2x5xf32>, tensor<1xi64>) -> (tensor<2x3xf32>, tensor<2x3xi64>)
  return %0 : tensor<2x3xf32>
}

// -----

// Dynamic dims are refused: the CPU backend compiles static shapes.
func.func @dynamic(%x: tensor<?x3xf32>) -> tensor<?x3xf32> {
  // expected-error @+1 {{dynamic dims need fixed shapes}}
  %0 = "graph.relu"(%x) : (tensor<?x3xf32>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}

// -----

// ArgMax: one reduction with two accumulators (value and index).
// CHECK-LABEL: func.func @arg_max
// CHECK: %{{.+}}:2 = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]
// CHECK: arith.cmpf ogt
// CHECK: linalg.index 1
func.func @arg_max(%x: tensor<2x5xf32>) -> tensor<2x1xi64> {
  %0 = "graph.arg_max"(%x) {axis = 1 : i64, keepdims = 1 : i64, select_last_index = 0 : i64} : (tensor<2x5xf32>) -> tensor<2x1xi64>
  return %0 : tensor<2x1xi64>
}

// -----

// Trilu compares the last two indices with k.
// CHECK-LABEL: func.func @trilu
// CHECK: linalg.index 0
// CHECK: linalg.index 1
// CHECK: arith.cmpi sge
func.func @trilu(%x: tensor<3x4xf32>) -> tensor<3x4xf32> {
  %0 = "graph.trilu"(%x) {operandSegmentSizes = array<i32: 1, 0>, upper = 1 : i64} : (tensor<3x4xf32>) -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}
