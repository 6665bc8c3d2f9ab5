// RUN: fuser-opt %s > %t.1.mlir
// RUN: fuser-opt %t.1.mlir > %t.2.mlir
// RUN: diff %t.1.mlir %t.2.mlir
// RUN: FileCheck %s < %t.1.mlir

// CHECK-LABEL: func.func @aclnn_ops
func.func @aclnn_ops(%x: tensor<1x4x8x8xf16>, %w: tensor<8x4x3x3xf16>, %b: tensor<8xf16>, %m: tensor<64x32xf16>, %n: tensor<32x16xf16>) {
  // CHECK: "cann.convolution"
  %c = "cann.convolution"(%x, %w, %b) {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, transposed = false, output_padding = array<i64: 0, 0>, groups = 1 : i64, cube_math_type = 1 : i64} : (tensor<1x4x8x8xf16>, tensor<8x4x3x3xf16>, tensor<8xf16>) -> tensor<1x8x8x8xf16>
  // CHECK: "cann.relu"
  %r = "cann.relu"(%c) : (tensor<1x8x8x8xf16>) -> tensor<1x8x8x8xf16>
  // CHECK: "cann.add"{{.*}}alpha = 1.000000e+00 : f32
  %a = "cann.add"(%r, %c) {alpha = 1.0 : f32} : (tensor<1x8x8x8xf16>, tensor<1x8x8x8xf16>) -> tensor<1x8x8x8xf16>
  // CHECK: "cann.mul"
  %p = "cann.mul"(%a, %a) : (tensor<1x8x8x8xf16>, tensor<1x8x8x8xf16>) -> tensor<1x8x8x8xf16>
  // CHECK: "cann.max_pool"
  %mp = "cann.max_pool"(%p) {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, ceil_mode = 0 : i64} : (tensor<1x8x8x8xf16>) -> tensor<1x8x4x4xf16>
  // CHECK: "cann.avg_pool2d"
  %ap = "cann.avg_pool2d"(%mp) {kernel_size = array<i64: 2, 2>, strides = array<i64: 2, 2>, paddings = array<i64: 0, 0>, ceil_mode = false, count_include_pad = true, divisor_override = 0 : i64, cube_math_type = 0 : i64} : (tensor<1x8x4x4xf16>) -> tensor<1x8x2x2xf16>
  // CHECK: "cann.matmul"
  %mm = "cann.matmul"(%m, %n) {cube_math_type = 1 : i64} : (tensor<64x32xf16>, tensor<32x16xf16>) -> tensor<64x16xf16>
  // CHECK: "cann.softmax"
  %s = "cann.softmax"(%mm) {dim = 1 : i64} : (tensor<64x16xf16>) -> tensor<64x16xf16>
  return
}
