// RUN: fuser-opt %s --split-input-file --verify-diagnostics
// Each case is rejected by IRDL (counts, base types) or fuser's Rust verifier
// (attributes, element types, static shapes).

func.func @wrong_operand_count(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{expects exactly 2 operands, but got 1}}
  %0 = "graph.add"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @wrong_base_type(%x: memref<4xf32>) {
  // expected-error @+1 {{expected base type 'builtin.tensor' but got 'builtin.memref'}}
  %0 = "graph.relu"(%x) : (memref<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @wrong_element_type(%x: tensor<4xi1>) -> tensor<4xi1> {
  // expected-error @+1 {{'graph.relu' op operand #0 has element type i1, expected one of f32, f64, f16, bf16, i8, ui8, i32, i64}}
  %0 = "graph.relu"(%x) : (tensor<4xi1>) -> tensor<4xi1>
  return %0 : tensor<4xi1>
}

// -----

func.func @result_element_type_differs(%x: tensor<4xf32>) -> tensor<4xf16> {
  // expected-error @+1 {{'graph.sigmoid' op result #0 has element type f16, but the operands have f32}}
  %0 = "graph.sigmoid"(%x) : (tensor<4xf32>) -> tensor<4xf16>
  return %0 : tensor<4xf16>
}

// -----

func.func @mat_mul_inner_dims(%a: tensor<2x16xf32>, %b: tensor<15x8xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{'graph.mat_mul' op inner dimensions differ: [2, 16] has K = 16, [15, 8] has K = 15}}
  %0 = "graph.mat_mul"(%a, %b) : (tensor<2x16xf32>, tensor<15x8xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @mat_mul_result_shape(%a: tensor<2x16xf32>, %b: tensor<16x8xf32>) -> tensor<2x9xf32> {
  // expected-error @+1 {{'graph.mat_mul' op result #0 has shape [2, 9], but the operands give [2, 8]}}
  %0 = "graph.mat_mul"(%a, %b) : (tensor<2x16xf32>, tensor<16x8xf32>) -> tensor<2x9xf32>
  return %0 : tensor<2x9xf32>
}

// -----

func.func @broadcast_mismatch(%a: tensor<2x3xf32>, %b: tensor<4xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{'graph.add' op operand shapes [2, 3] and [4] are not broadcast-compatible}}
  %0 = "graph.add"(%a, %b) : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @unknown_attribute(%x: tensor<4xf32>) -> tensor<4xf32> {
  // IRDL accepts undeclared attributes; the Rust verifier does not.
  // expected-error @+1 {{'graph.leaky_relu' op has unknown attribute 'alpah'; expected only: alpha}}
  %0 = "graph.leaky_relu"(%x) {alpha = 0.1 : f32, alpah = 0.2 : f32} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @misspelled_attribute(%x: tensor<4xf32>) -> tensor<4xf32> {
  // A typo alone is first caught by IRDL as the missing declared attribute.
  // expected-error @+1 {{'graph.leaky_relu' op attribute "alpha" is expected but not provided}}
  %0 = "graph.leaky_relu"(%x) {alpah = 0.1 : f32} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @attribute_kind(%x: tensor<2x3xf32>) -> tensor<3x2xf32> {
  // expected-error @+1 {{expected base attribute 'builtin.dense_array' but got 'builtin.array'}}
  %0 = "graph.transpose"(%x) {perm = [1, 0]} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}

// -----

func.func @attribute_width(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{'graph.softmax' op attribute 'axis' must be an i64 integer, got i32}}
  %0 = "graph.softmax"(%x) {axis = 1 : i32} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @missing_attribute(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{'graph.softmax' op attribute "axis" is expected but not provided}}
  %0 = "graph.softmax"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @conv_channels(%x: tensor<1x3x8x8xf32>, %w: tensor<8x4x3x3xf32>) -> tensor<1x8x6x6xf32> {
  // expected-error @+1 {{'graph.conv' op input has 3 channels, but the weight expects 4 x group 1 = 4}}
  %0 = "graph.conv"(%x, %w) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 3, 3>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>} : (tensor<1x3x8x8xf32>, tensor<8x4x3x3xf32>) -> tensor<1x8x6x6xf32>
  return %0 : tensor<1x8x6x6xf32>
}

// -----

func.func @conv_output_size(%x: tensor<1x4x8x8xf32>, %w: tensor<8x4x3x3xf32>) -> tensor<1x8x8x8xf32> {
  // expected-error @+1 {{'graph.conv' op result #0 has shape [1, 8, 8, 8], but the operands give [1, 8, 3, 3]}}
  %0 = "graph.conv"(%x, %w) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 3, 3>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 2, 2>} : (tensor<1x4x8x8xf32>, tensor<8x4x3x3xf32>) -> tensor<1x8x8x8xf32>
  return %0 : tensor<1x8x8x8xf32>
}

// -----

func.func @conv_pads_length(%x: tensor<1x4x8x8xf32>, %w: tensor<8x4x3x3xf32>) -> tensor<1x8x6x6xf32> {
  // expected-error @+1 {{'graph.conv' op attribute 'pads' has 2 values, expected 4 (begin and end per spatial dim)}}
  %0 = "graph.conv"(%x, %w) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 3, 3>, pads = array<i64: 0, 0>, strides = array<i64: 1, 1>} : (tensor<1x4x8x8xf32>, tensor<8x4x3x3xf32>) -> tensor<1x8x6x6xf32>
  return %0 : tensor<1x8x6x6xf32>
}

// -----

func.func @reshape_count(%x: tensor<2x3xf32>, %s: tensor<2xi64>) -> tensor<4x2xf32> {
  // expected-error @+1 {{'graph.reshape' op cannot reshape 6 elements into 8 elements}}
  %0 = "graph.reshape"(%x, %s) {allowzero = 0 : i64} : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

func.func @reshape_shape_type(%x: tensor<2x3xf32>, %s: tensor<2xf32>) -> tensor<3x2xf32> {
  // expected-error @+1 {{'graph.reshape' op operand 'shape' has element type f32, expected one of i64}}
  %0 = "graph.reshape"(%x, %s) {allowzero = 0 : i64} : (tensor<2x3xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}

// -----

func.func @concat_off_axis(%a: tensor<2x3xf32>, %b: tensor<2x4xf32>) -> tensor<4x3xf32> {
  // expected-error @+1 {{'graph.concat' op operand #1 has shape [2, 4], which differs from operand #0 outside the concat axis 0}}
  %0 = "graph.concat"(%a, %b) {axis = 0 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<2x3xf32>, tensor<2x4xf32>) -> tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

// -----

func.func @concat_axis_range(%a: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{'graph.concat' op axis 2 is out of range for rank 2}}
  %0 = "graph.concat"(%a) {axis = 2 : i64, operandSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @transpose_perm(%x: tensor<2x3xf32>) -> tensor<3x2xf32> {
  // expected-error @+1 {{'graph.transpose' op 'perm' [0, 0] is not a permutation of the 2 dims}}
  %0 = "graph.transpose"(%x) {perm = array<i64: 0, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}

// -----

func.func @cast_target(%x: tensor<4xf32>) -> tensor<4xf16> {
  // expected-error @+1 {{'graph.cast' op result element type f16 does not match 'to' = 1 (ONNX data type code)}}
  %0 = "graph.cast"(%x) {saturate = 1 : i64, to = 1 : i64} : (tensor<4xf32>) -> tensor<4xf16>
  return %0 : tensor<4xf16>
}

// -----

func.func @comparison_result(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'graph.less' op result #0 has element type f32, expected one of i1}}
  %0 = "graph.less"(%a, %b) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @constant_type() -> tensor<3xf32> {
  // expected-error @+1 {{'graph.constant' op attribute 'value' has type tensor<2xf32>, but the result has tensor<3xf32>}}
  %0 = "graph.constant"() {value = dense<[1.0, 2.0]> : tensor<2xf32>} : () -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

func.func @gemm_inner(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) -> tensor<2x5xf32> {
  // expected-error @+1 {{'graph.gemm' op inner dimensions differ: A gives K = 3, B gives K = 4}}
  %0 = "graph.gemm"(%a, %b) {alpha = 1.0 : f32, beta = 1.0 : f32, trans_a = 0 : i64, trans_b = 0 : i64} : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  return %0 : tensor<2x5xf32>
}

// -----

func.func @pool_output(%x: tensor<1x4x8x8xf32>) -> tensor<1x4x3x3xf32> {
  // expected-error @+1 {{'graph.max_pool' op result #0 has shape [1, 4, 3, 3], but the operands give [1, 4, 4, 4]}}
  %0 = "graph.max_pool"(%x) {ceil_mode = 0 : i64, dilations = array<i64: 1, 1>, kernel_shape = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, storage_order = 0 : i64, strides = array<i64: 2, 2>} : (tensor<1x4x8x8xf32>) -> tensor<1x4x3x3xf32>
  return %0 : tensor<1x4x3x3xf32>
}

// -----

func.func @dynamic_dims_are_not_errors(%a: tensor<?x16xf32>, %b: tensor<16x8xf32>) -> tensor<?x8xf32> {
  %0 = "graph.mat_mul"(%a, %b) : (tensor<?x16xf32>, tensor<16x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @unknown_op(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{unregistered operation 'graph.relux' found in dialect ('graph')}}
  %0 = "graph.relux"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Ops without a hand-written rule are checked against their inference.
func.func @gather_result(%x: tensor<5x3xf32>, %i: tensor<2xi64>) -> tensor<5x3xf32> {
  // expected-error @+1 {{'graph.gather' op result #0 has type tensor<5x3xf32>, but the operands give tensor<2x3xf32>}}
  %0 = "graph.gather"(%x, %i) {axis = 0 : i64} : (tensor<5x3xf32>, tensor<2xi64>) -> tensor<5x3xf32>
  return %0 : tensor<5x3xf32>
}

// -----

func.func @reduce_result(%x: tensor<5x3xf32>) -> tensor<5x1xf32> {
  %axes = "graph.constant"() {value = dense<0> : tensor<1xi64>} : () -> tensor<1xi64>
  // expected-error @+1 {{'graph.reduce_sum' op result #0 has type tensor<5x1xf32>, but the operands give tensor<1x3xf32>}}
  %0 = "graph.reduce_sum"(%x, %axes) {keepdims = 1 : i64, noop_with_empty_axes = 0 : i64} : (tensor<5x3xf32>, tensor<1xi64>) -> tensor<5x1xf32>
  return %0 : tensor<5x1xf32>
}

// -----

func.func @impossible_window(%x: tensor<1x1x4x4xf32>) -> tensor<1x1x1x1xf32> {
  // expected-error @+1 {{'graph.average_pool' op spatial dim 0 of size 4 is too small for the window}}
  %0 = "graph.average_pool"(%x) {ceil_mode = 0 : i64, count_include_pad = 0 : i64, dilations = array<i64: 1, 1>, kernel_shape = array<i64: 8, 8>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>} : (tensor<1x1x4x4xf32>) -> tensor<1x1x1x1xf32>
  return %0 : tensor<1x1x1x1xf32>
}
