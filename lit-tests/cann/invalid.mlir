// RUN: fuser-opt %s --split-input-file --verify-diagnostics

func.func @matmul_inner(%m: tensor<64x32xf16>, %n: tensor<16x16xf16>) {
  // expected-error @+1 {{'cann.matmul' op inner dimensions differ: [64, 32] has K = 32, [16, 16] has K = 16}}
  %mm = "cann.matmul"(%m, %n) {cube_math_type = 1 : i64} : (tensor<64x32xf16>, tensor<16x16xf16>) -> tensor<64x16xf16>
  return
}

// -----

func.func @integer_softmax(%x: tensor<4xi32>) {
  // expected-error @+1 {{'cann.softmax' op operand #0 has element type i32, expected one of f32, f64, f16, bf16}}
  %s = "cann.softmax"(%x) {dim = 0 : i64} : (tensor<4xi32>) -> tensor<4xi32>
  return
}

// -----

func.func @relu_unknown_attribute(%x: tensor<4xf16>) {
  // expected-error @+1 {{'cann.relu' op has unknown attribute 'inplace'; it takes no attributes}}
  %r = "cann.relu"(%x) {inplace = true} : (tensor<4xf16>) -> tensor<4xf16>
  return
}

// -----

func.func @add_missing_alpha(%x: tensor<4xf16>) {
  // expected-error @+1 {{'cann.add' op attribute "alpha" is expected but not provided}}
  %r = "cann.add"(%x, %x) : (tensor<4xf16>, tensor<4xf16>) -> tensor<4xf16>
  return
}
