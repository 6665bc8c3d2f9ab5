// RUN: fuser-opt %s --split-input-file --verify-diagnostics

// expected-error @+1 {{'func.func' op attribute 'ftensor.kernel' must be a unit attribute}}
func.func private @kernel_0(%x: tensor<4xf32>) -> tensor<4xf32> attributes {ftensor.kernel = 1 : i64} {
  return %x : tensor<4xf32>
}

// -----

func.func @quantize_to_float(%x: tensor<4xf32>, %s: tensor<f32>, %zp: tensor<f32>) {
  // expected-error @+1 {{'ftensor.quantize' op result #0 has element type f32, expected one of i8, ui8, i32}}
  %q = "ftensor.quantize"(%x, %s, %zp) {axis = 0 : i64} : (tensor<4xf32>, tensor<f32>, tensor<f32>) -> tensor<4xf32>
  return
}

// -----

func.func @zero_point_type(%x: tensor<4xf32>, %s: tensor<f32>, %zp: tensor<ui8>) {
  // expected-error @+1 {{'ftensor.quantize' op zero_point has element type ui8, but the result has i8}}
  %q = "ftensor.quantize"(%x, %s, %zp) {axis = 0 : i64} : (tensor<4xf32>, tensor<f32>, tensor<ui8>) -> tensor<4xi8>
  return
}

// -----

func.func @quantize_operand_count(%x: tensor<4xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{expects exactly 3 operands, but got 2}}
  %q = "ftensor.quantize"(%x, %s) {axis = 0 : i64} : (tensor<4xf32>, tensor<f32>) -> tensor<4xi8>
  return
}

// -----

func.func @relayout_letters(%x: tensor<1x3x4x4xf32>) {
  // expected-error @+1 {{'ftensor.relayout' op layouts 'NCHW' and 'NHWD' must be permutations of the same distinct letters}}
  %r = "ftensor.relayout"(%x) {src_layout = "NCHW", dst_layout = "NHWD"} : (tensor<1x3x4x4xf32>) -> tensor<1x4x4x3xf32>
  return
}

// -----

func.func @relayout_shape(%x: tensor<1x3x4x5xf32>) {
  // expected-error @+1 {{'ftensor.relayout' op result #0 has shape [1, 3, 4, 5], but the operands give [1, 4, 5, 3]}}
  %r = "ftensor.relayout"(%x) {src_layout = "NCHW", dst_layout = "NHWC"} : (tensor<1x3x4x5xf32>) -> tensor<1x3x4x5xf32>
  return
}

// -----

func.func @relayout_extra_attribute(%x: tensor<2x3xf32>) {
  // expected-error @+1 {{'ftensor.relayout' op has unknown attribute 'perm'; expected only: src_layout, dst_layout}}
  %r = "ftensor.relayout"(%x) {src_layout = "AB", dst_layout = "BA", perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  return
}
