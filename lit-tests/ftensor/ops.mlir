// RUN: fuser-opt %s > %t.1.mlir
// RUN: fuser-opt %t.1.mlir > %t.2.mlir
// RUN: diff %t.1.mlir %t.2.mlir
// RUN: FileCheck %s < %t.1.mlir

// CHECK-LABEL: func.func private @kernel_0
// CHECK-SAME: attributes {ftensor.kernel}
func.func private @kernel_0(%x: tensor<4xf32>) -> tensor<4xf32> attributes {ftensor.kernel} {
  %0 = "graph.relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// CHECK-LABEL: func.func @model
func.func @model(%x: tensor<1x3x4x4xf32>, %s: tensor<f32>, %zp: tensor<i8>, %sa: tensor<3xf32>, %zpa: tensor<3xi8>, %v: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK: call @kernel_0
  %k = func.call @kernel_0(%v) : (tensor<4xf32>) -> tensor<4xf32>
  // CHECK: "ftensor.quantize"
  %q = "ftensor.quantize"(%x, %s, %zp) {axis = 1 : i64} : (tensor<1x3x4x4xf32>, tensor<f32>, tensor<i8>) -> tensor<1x3x4x4xi8>
  // CHECK: "ftensor.dequantize"
  %d = "ftensor.dequantize"(%q, %sa, %zpa) {axis = 1 : i64} : (tensor<1x3x4x4xi8>, tensor<3xf32>, tensor<3xi8>) -> tensor<1x3x4x4xf32>
  // CHECK: "ftensor.relayout"{{.*}}dst_layout = "NHWC", src_layout = "NCHW"
  %r = "ftensor.relayout"(%d) {src_layout = "NCHW", dst_layout = "NHWC"} : (tensor<1x3x4x4xf32>) -> tensor<1x4x4x3xf32>
  return %k : tensor<4xf32>
}
