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

func.func @integer_add(%x: tensor<4xi64>) -> tensor<4xi64> {
  // expected-error @+1 {{convert-ftensor-to-cann: graph.add on i64 tensors (the aclnn mapping here is for f32, f16 and bf16)}}
  %0 = "graph.add"(%x, %x) : (tensor<4xi64>, tensor<4xi64>) -> tensor<4xi64>
  return %0 : tensor<4xi64>
}

// -----

func.func @max_pool_1d(%x: tensor<1x2x8xf32>) -> tensor<1x2x4xf32> {
  // expected-error @+1 {{convert-ftensor-to-cann: a 1-D MaxPool (aclnnMaxPool here is 2-D, NCHW)}}
  %0 = "graph.max_pool"(%x) {ceil_mode = 0 : i64, dilations = array<i64: 1>, kernel_shape = array<i64: 2>, pads = array<i64: 0, 0>, storage_order = 0 : i64, strides = array<i64: 2>, resultSegmentSizes = array<i32: 1, 0>} : (tensor<1x2x8xf32>) -> tensor<1x2x4xf32>
  return %0 : tensor<1x2x4xf32>
}
