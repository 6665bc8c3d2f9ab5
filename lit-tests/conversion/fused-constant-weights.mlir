// RUN: fuser-opt %s --convert-graph-to-linalg --split-input-file | FileCheck %s

// A fused f32 matmul whose B is a constant at every call of its kernel carries a nonzero
// key in its descriptor (word 21, after the conv geometry): the runtime keeps B packed
// under it between calls. So does a conv whose weights are constant (last cases).
// CHECK-LABEL: func.func private @weights_at_every_call
// CHECK: arith.constant dense<[0, 4, 8, 16, 16, 1, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, {{-?[1-9][0-9]*}}, 0, 1, 0, 0, 0]> : tensor<27xi64>
// CHECK: call @fuser_fused_f32
module {
  func.func private @weights_at_every_call(%a: tensor<4x16xf32>, %b: tensor<16x8xf32>) -> tensor<4x8xf32> attributes {ftensor.kernel} {
    %0 = "graph.mat_mul"(%a, %b) : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    return %0 : tensor<4x8xf32>
  }
  func.func @model(%x: tensor<4x16xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
    %c = arith.constant dense<0.5> : tensor<16x8xf32>
    %d = arith.constant dense<-0.25> : tensor<16x8xf32>
    %0 = call @weights_at_every_call(%x, %c) : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    %1 = call @weights_at_every_call(%x, %d) : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    return %0, %1 : tensor<4x8xf32>, tensor<4x8xf32>
  }
}

// -----

// B is a runtime value at one of the calls: key 0 (the call takes the gemm crate's path,
// which packs B in every call).
// CHECK-LABEL: func.func private @runtime_b_at_one_call
// CHECK: arith.constant dense<[0, 4, 8, 16, 16, 1, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]> : tensor<27xi64>
module {
  func.func private @runtime_b_at_one_call(%a: tensor<4x16xf32>, %b: tensor<16x8xf32>) -> tensor<4x8xf32> attributes {ftensor.kernel} {
    %0 = "graph.mat_mul"(%a, %b) : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    return %0 : tensor<4x8xf32>
  }
  func.func @model(%x: tensor<4x16xf32>, %w: tensor<16x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
    %c = arith.constant dense<0.5> : tensor<16x8xf32>
    %0 = call @runtime_b_at_one_call(%x, %c) : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    %1 = call @runtime_b_at_one_call(%x, %w) : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    return %0, %1 : tensor<4x8xf32>, tensor<4x8xf32>
  }
}

// -----

// A constant inside the kernel is a constant too.
// CHECK-LABEL: func.func private @weights_inside
// CHECK: arith.constant dense<[0, 4, 8, 16, 16, 1, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, {{-?[1-9][0-9]*}}, 0, 1, 0, 0, 0]> : tensor<27xi64>
module {
  func.func private @weights_inside(%a: tensor<4x16xf32>) -> tensor<4x8xf32> attributes {ftensor.kernel} {
    %b = "graph.constant"() {value = dense<0.75> : tensor<16x8xf32>} : () -> tensor<16x8xf32>
    %0 = "graph.mat_mul"(%a, %b) : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    return %0 : tensor<4x8xf32>
  }
}

// -----

// A public kernel may be called from outside the module with any B: key 0.
// CHECK-LABEL: func.func @public_kernel
// CHECK: arith.constant dense<[0, 4, 8, 16, 16, 1, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]> : tensor<27xi64>
module {
  func.func @public_kernel(%a: tensor<4x16xf32>, %b: tensor<16x8xf32>) -> tensor<4x8xf32> attributes {ftensor.kernel} {
    %0 = "graph.mat_mul"(%a, %b) : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    return %0 : tensor<4x8xf32>
  }
  func.func @model(%x: tensor<4x16xf32>) -> tensor<4x8xf32> {
    %c = arith.constant dense<0.5> : tensor<16x8xf32>
    %0 = call @public_kernel(%x, %c) : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    return %0 : tensor<4x8xf32>
  }
}

// -----

// A conv's weights (its A, the graph op's operand 1) constant at every call: a nonzero key,
// under which the runtime keeps them packed (runtime/src/blocked_conv.rs).
// CHECK-LABEL: func.func private @conv_weights_at_every_call
// CHECK: arith.constant dense<[1, 4, 64, 27, 27, 1, 64, 1, 3, 8, 8, 3, 3, 8, 8, 1, 1, 1, 1, 1, 1, {{-?[1-9][0-9]*}}, 0, 1, 0, 0, 0]> : tensor<27xi64>
// CHECK: call @fuser_fused_f32
module {
  func.func private @conv_weights_at_every_call(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<1x4x8x8xf32> attributes {ftensor.kernel} {
    %0 = "graph.conv"(%x, %w) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x8x8xf32>
    return %0 : tensor<1x4x8x8xf32>
  }
  func.func @model(%x: tensor<1x3x8x8xf32>) -> tensor<1x4x8x8xf32> {
    %w = arith.constant dense<0.5> : tensor<4x3x3x3xf32>
    %0 = call @conv_weights_at_every_call(%x, %w) : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x8x8xf32>
    return %0 : tensor<1x4x8x8xf32>
  }
}

// -----

// The conv's input is the constant and its weights a runtime value: key 0 (the key follows
// the weights, not the input).
// CHECK-LABEL: func.func private @conv_runtime_weights
// CHECK: arith.constant dense<[1, 4, 64, 27, 27, 1, 64, 1, 3, 8, 8, 3, 3, 8, 8, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0]> : tensor<27xi64>
module {
  func.func private @conv_runtime_weights(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<1x4x8x8xf32> attributes {ftensor.kernel} {
    %0 = "graph.conv"(%x, %w) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x8x8xf32>
    return %0 : tensor<1x4x8x8xf32>
  }
  func.func @model(%w: tensor<4x3x3x3xf32>) -> tensor<1x4x8x8xf32> {
    %x = arith.constant dense<0.5> : tensor<1x3x8x8xf32>
    %0 = call @conv_runtime_weights(%x, %w) : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x8x8xf32>
    return %0 : tensor<1x4x8x8xf32>
  }
}
