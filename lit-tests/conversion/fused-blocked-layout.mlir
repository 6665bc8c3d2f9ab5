// RUN: fuser-opt %s --ftensor-blocked-layout="target=avx2" --convert-graph-to-linalg | FileCheck %s --implicit-check-not=linalg.transpose

// The CPU's fused-kernel lowering takes the conversions that ftensor-blocked-layout wrote
// into conv kernels as the runtime's blocked layout (descriptor word 22: 1 the input, 2 the
// output and its residuals): no transpose is left, and each call passes the blocked
// tensors as they are. @stem writes its result blocked (@mid's input and @tail's
// residual), @mid reads and writes blocked, @tail reads its input and residual and writes
// blocked, and @head reads blocked and writes NCHW (the model's result).

// CHECK-LABEL: func.func private @stem
// CHECK: arith.constant dense<[1, 32, 36, 32, 32, 1, 36, 1, 32, 6, 6, 1, 1, 6, 6, 1, 1, 1, 1, 0, 0, {{-?[1-9][0-9]*}}, 2, 1, 0, 0, 1, 10, 0, 0]> : tensor<30xi64>
// CHECK: call @fuser_fused_f32
// CHECK-LABEL: func.func private @mid
// CHECK: arith.constant dense<[1, 32, 36, 288, 288, 1, 36, 1, 32, 6, 6, 3, 3, 6, 6, 1, 1, 1, 1, 1, 1, {{-?[1-9][0-9]*}}, 3, 1, 0, 0, 2, 1, 0, 0, 10, 0, 0]> : tensor<33xi64>
// CHECK-LABEL: func.func private @tail
// CHECK: arith.constant dense<[1, 32, 36, 32, 32, 1, 36, 1, 32, 6, 6, 1, 1, 6, 6, 1, 1, 1, 1, 0, 0, {{-?[1-9][0-9]*}}, 3, 1, 0, 0, 2, 3, 0, 0, 10, 0, 0]> : tensor<33xi64>
// CHECK: %[[R:.*]] = bufferization.to_buffer %arg2 read_only : tensor<1x4x6x6x8xf32> to memref<1x4x6x6x8xf32>
// CHECK-LABEL: func.func private @head
// CHECK: arith.constant dense<[1, 32, 36, 288, 288, 1, 36, 1, 32, 6, 6, 3, 3, 6, 6, 1, 1, 1, 1, 1, 1, {{-?[1-9][0-9]*}}, 1, 1, 0, 0, 1, 1, 0, 0]> : tensor<30xi64>
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<1x32x6x6xf32>
func.func private @stem(%x: tensor<1x32x6x6xf32>, %w: tensor<32x32x1x1xf32>) -> tensor<1x32x6x6xf32> attributes {ftensor.kernel} {
  %c = "graph.conv"(%x, %w) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x32x6x6xf32>, tensor<32x32x1x1xf32>) -> tensor<1x32x6x6xf32>
  %r = "graph.relu"(%c) : (tensor<1x32x6x6xf32>) -> tensor<1x32x6x6xf32>
  return %r : tensor<1x32x6x6xf32>
}

func.func private @mid(%x: tensor<1x32x6x6xf32>, %w: tensor<32x32x3x3xf32>, %b: tensor<32xf32>) -> tensor<1x32x6x6xf32> attributes {ftensor.kernel} {
  %c = "graph.conv"(%x, %w, %b) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<1x32x6x6xf32>, tensor<32x32x3x3xf32>, tensor<32xf32>) -> tensor<1x32x6x6xf32>
  %r = "graph.relu"(%c) : (tensor<1x32x6x6xf32>) -> tensor<1x32x6x6xf32>
  return %r : tensor<1x32x6x6xf32>
}

func.func private @tail(%x: tensor<1x32x6x6xf32>, %w: tensor<32x32x1x1xf32>, %residual: tensor<1x32x6x6xf32>) -> tensor<1x32x6x6xf32> attributes {ftensor.kernel} {
  %c = "graph.conv"(%x, %w) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x32x6x6xf32>, tensor<32x32x1x1xf32>) -> tensor<1x32x6x6xf32>
  %a = "graph.add"(%c, %residual) : (tensor<1x32x6x6xf32>, tensor<1x32x6x6xf32>) -> tensor<1x32x6x6xf32>
  %r = "graph.relu"(%a) : (tensor<1x32x6x6xf32>) -> tensor<1x32x6x6xf32>
  return %r : tensor<1x32x6x6xf32>
}

func.func private @head(%x: tensor<1x32x6x6xf32>, %w: tensor<32x32x3x3xf32>, %b: tensor<32xf32>) -> tensor<1x32x6x6xf32> attributes {ftensor.kernel} {
  %c = "graph.conv"(%x, %w, %b) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<1x32x6x6xf32>, tensor<32x32x3x3xf32>, tensor<32xf32>) -> tensor<1x32x6x6xf32>
  return %c : tensor<1x32x6x6xf32>
}

func.func @main(%x: tensor<1x32x6x6xf32>) -> tensor<1x32x6x6xf32> {
  %w1 = "graph.constant"() {value = dense<0.5> : tensor<32x32x1x1xf32>} : () -> tensor<32x32x1x1xf32>
  %w3 = "graph.constant"() {value = dense<0.25> : tensor<32x32x3x3xf32>} : () -> tensor<32x32x3x3xf32>
  %b = "graph.constant"() {value = dense<0.125> : tensor<32xf32>} : () -> tensor<32xf32>
  %a = call @stem(%x, %w1) : (tensor<1x32x6x6xf32>, tensor<32x32x1x1xf32>) -> tensor<1x32x6x6xf32>
  %m = call @mid(%a, %w3, %b) : (tensor<1x32x6x6xf32>, tensor<32x32x3x3xf32>, tensor<32xf32>) -> tensor<1x32x6x6xf32>
  %t = call @tail(%m, %w1, %a) : (tensor<1x32x6x6xf32>, tensor<32x32x1x1xf32>, tensor<1x32x6x6xf32>) -> tensor<1x32x6x6xf32>
  %h = call @head(%t, %w3, %b) : (tensor<1x32x6x6xf32>, tensor<32x32x3x3xf32>, tensor<32xf32>) -> tensor<1x32x6x6xf32>
  return %h : tensor<1x32x6x6xf32>
}
