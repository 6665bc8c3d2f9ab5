// RUN: fuser-opt %s --graph-form-kernels --split-input-file | FileCheck %s

// A conv with its bias-free epilogue chain (relu, then a residual add) is one kernel;
// the max pool that reads it anchors a second one.
// CHECK-LABEL: func.func private @block_k0_conv
// CHECK-SAME: attributes {ftensor.kernel}
// CHECK: "graph.conv"
// CHECK-NEXT: "graph.relu"
// CHECK-NEXT: "graph.add"
// CHECK-NEXT: return
// CHECK-LABEL: func.func private @block_k1_max_pool
// CHECK: "graph.max_pool"
// CHECK-LABEL: func.func @block
// CHECK-SAME: (%[[X:.+]]: tensor<1x2x4x4xf32>, %[[W:.+]]: tensor<2x2x1x1xf32>)
// CHECK-NEXT: %[[K0:.+]] = call @block_k0_conv(%[[X]], %[[W]])
// CHECK-NEXT: %[[K1:.+]] = call @block_k1_max_pool(%[[K0]])
// CHECK-NEXT: return %[[K1]]
func.func @block(%x: tensor<1x2x4x4xf32>, %w: tensor<2x2x1x1xf32>) -> tensor<1x2x2x2xf32> {
  %0 = "graph.conv"(%x, %w) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>} : (tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x4x4xf32>
  %1 = "graph.relu"(%0) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %2 = "graph.add"(%1, %x) : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %3 = "graph.max_pool"(%2) {ceil_mode = 0 : i64, dilations = array<i64: 1, 1>, kernel_shape = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, storage_order = 0 : i64, strides = array<i64: 2, 2>} : (tensor<1x2x4x4xf32>) -> tensor<1x2x2x2xf32>
  return %3 : tensor<1x2x2x2xf32>
}

// -----

// A producer with two users ends its kernel: each user anchors its own. Small constants
// are copied into the kernel that reads them; views stay in the caller.
// CHECK-LABEL: func.func private @shared_k0_mul
// CHECK-NOT: "graph.relu"
// CHECK: return
// CHECK-LABEL: func.func private @shared_k1_relu
// CHECK-LABEL: func.func private @shared_k2_clip
// CHECK: "graph.constant"
// CHECK: "graph.constant"
// CHECK: "graph.clip"
// CHECK-LABEL: func.func @shared
// CHECK: call @shared_k0_mul
// CHECK: call @shared_k1_relu
// CHECK: call @shared_k2_clip
// CHECK: "graph.reshape"
func.func @shared(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<2x2xf32>) {
  %lo = "graph.constant"() {value = dense<0.0> : tensor<f32>} : () -> tensor<f32>
  %hi = "graph.constant"() {value = dense<6.0> : tensor<f32>} : () -> tensor<f32>
  %s = "graph.constant"() {value = dense<[2, 2]> : tensor<2xi64>} : () -> tensor<2xi64>
  %0 = "graph.mul"(%x, %x) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %1 = "graph.relu"(%0) : (tensor<4xf32>) -> tensor<4xf32>
  %2 = "graph.clip"(%0, %lo, %hi) {operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<4xf32>, tensor<f32>, tensor<f32>) -> tensor<4xf32>
  %3 = "graph.reshape"(%2, %s) {allowzero = 0 : i64} : (tensor<4xf32>, tensor<2xi64>) -> tensor<2x2xf32>
  return %1, %3 : tensor<4xf32>, tensor<2x2xf32>
}

// -----

// Kernels with the same body are one function: both calls go to the first.
// CHECK-LABEL: func.func private @twice_k0_relu
// CHECK-NOT: func.func private @twice_k1_relu
// CHECK-LABEL: func.func @twice
// CHECK: call @twice_k0_relu(%arg0)
// CHECK: call @twice_k0_relu(%arg1)
func.func @twice(%x: tensor<4xf32>, %y: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = "graph.relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  %1 = "graph.relu"(%y) : (tensor<4xf32>) -> tensor<4xf32>
  return %0, %1 : tensor<4xf32>, tensor<4xf32>
}
