// RUN: fuser-opt %s --split-input-file --verify-diagnostics --convert-ftensor-to-cann

func.func @unmapped(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{convert-ftensor-to-cann: graph.floor has no aclnn mapping yet (cann dialect)}}
  %0 = "graph.floor"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @asymmetric_pads(%x: tensor<1x1x4x4xf32>, %w: tensor<1x1x3x3xf32>) -> tensor<1x1x3x3xf32> {
  // expected-error @+1 {{convert-ftensor-to-cann: asymmetric pads [1, 1, 0, 0]: aclnnConvolution pads each side of a dimension by the same amount}}
  %0 = "graph.conv"(%x, %w) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1, 0, 0>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x4x4xf32>, tensor<1x1x3x3xf32>) -> tensor<1x1x3x3xf32>
  return %0 : tensor<1x1x3x3xf32>
}

// -----

func.func @tanh_gelu(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{convert-ftensor-to-cann: Gelu with approximate = 'tanh' (aclnnGelu is the erf form)}}
  %0 = "graph.gelu"(%x) {approximate = "tanh"} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @clip_bound_not_constant(%x: tensor<4xf32>, %lo: tensor<f32>) -> tensor<4xf32> {
  // expected-error @+1 {{convert-ftensor-to-cann: a Clip min that is not a constant}}
  %0 = "graph.clip"(%x, %lo) {operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
