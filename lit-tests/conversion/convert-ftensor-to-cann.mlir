// RUN: fuser-opt %s --convert-ftensor-to-cann | FileCheck %s

// A fused kernel (conv + bias + residual add + relu) becomes its aclnn calls: the bias
// rides in aclnnConvolution, ONNX pads become aclnn's per-dimension padding.
// CHECK-LABEL: func.func private @k0
// CHECK: %[[C:.+]] = "cann.convolution"(%arg0, %arg1, %arg2) {cube_math_type = 0 : i64, dilation = array<i64: 1, 1>, groups = 1 : i64, output_padding = array<i64: 0, 0>, padding = array<i64: 1, 1>, stride = array<i64: 1, 1>, transposed = 0 : i64}
// CHECK: %[[A:.+]] = "cann.add"(%arg3, %[[C]]) {alpha = 1.000000e+00 : f32}
// CHECK: %[[R:.+]] = "cann.relu"(%[[A]])
// CHECK: return %[[R]]
func.func private @k0(%x: tensor<1x4x8x8xf32>, %w: tensor<4x4x3x3xf32>, %b: tensor<4xf32>, %r: tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32> attributes {ftensor.kernel} {
  %0 = "graph.conv"(%x, %w, %b) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<1x4x8x8xf32>, tensor<4x4x3x3xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  %1 = "graph.add"(%r, %0) : (tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %2 = "graph.relu"(%1) : (tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  return %2 : tensor<1x4x8x8xf32>
}

// A classifier head: the reshape is a descriptor (no call), Gemm with C and a transposed
// B is aclnnPermute + aclnnAddmm; the reshape's shape constant goes, the weights stay.
// CHECK-LABEL: func.func private @k1
// CHECK-NOT: graph.
// CHECK: "cann.adaptive_avg_pool2d"(%arg0) {output_size = array<i64: 1, 1>}
// CHECK: "cann.reshape"
// CHECK: "cann.permute"(%arg1) {dims = array<i64: 1, 0>} : (tensor<10x4xf32>) -> tensor<4x10xf32>
// CHECK: "cann.addmm"(%arg2, %{{.+}}, %{{.+}}) {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, cube_math_type = 0 : i64}
func.func private @k1(%x: tensor<1x4x8x8xf32>, %w: tensor<10x4xf32>, %b: tensor<10xf32>) -> tensor<1x10xf32> attributes {ftensor.kernel} {
  %0 = "graph.global_average_pool"(%x) : (tensor<1x4x8x8xf32>) -> tensor<1x4x1x1xf32>
  %1 = "graph.flatten"(%0) {axis = 1 : i64} : (tensor<1x4x1x1xf32>) -> tensor<1x4xf32>
  %2 = "graph.gemm"(%1, %w, %b) {alpha = 1.0 : f32, beta = 1.0 : f32, trans_a = 0 : i64, trans_b = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<1x4xf32>, tensor<10x4xf32>, tensor<10xf32>) -> tensor<1x10xf32>
  return %2 : tensor<1x10xf32>
}

// CHECK-LABEL: func.func @model
// CHECK: "graph.constant"
// CHECK: call @k0
// CHECK: call @k1
func.func @model(%x: tensor<1x4x8x8xf32>) -> tensor<1x10xf32> {
  %w = "graph.constant"() {value = dense<0.5> : tensor<4x4x3x3xf32>} : () -> tensor<4x4x3x3xf32>
  %b = "graph.constant"() {value = dense<[0.1, 0.2, 0.3, 0.4]> : tensor<4xf32>} : () -> tensor<4xf32>
  %fw = "graph.constant"() {value = dense<0.25> : tensor<10x4xf32>} : () -> tensor<10x4xf32>
  %fb = "graph.constant"() {value = dense<1.0> : tensor<10xf32>} : () -> tensor<10xf32>
  %0 = call @k0(%x, %w, %b, %x) : (tensor<1x4x8x8xf32>, tensor<4x4x3x3xf32>, tensor<4xf32>, tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %1 = call @k1(%0, %fw, %fb) : (tensor<1x4x8x8xf32>, tensor<10x4xf32>, tensor<10xf32>) -> tensor<1x10xf32>
  return %1 : tensor<1x10xf32>
}
