// RUN: fuser-opt %s --ftensor-blocked-layout="target=avx2" | FileCheck %s
// RUN: fuser-opt %s --ftensor-blocked-layout="target=avx2" --ftensor-blocked-layout="target=avx2" | FileCheck %s
// RUN: fuser-opt %s --ftensor-blocked-layout="target=avx2" --ftensor-blocked-layout="target=avx2" | FileCheck %s --check-prefix=TWICE
// RUN: fuser-opt %s --ftensor-blocked-layout="target=none" | FileCheck %s --check-prefix=NONE

// A chain of conv kernels: @stem's result feeds @body's input; @body is called twice; the
// second call's result feeds @tail's input, and the first call's result is @tail's
// residual; @tail's result feeds a kernel that is not a conv. So @tail writes NCHW, its
// residual (the first @body call's result) stays NCHW, and the second @body call reads
// NCHW: @body is needed with a blocked input and NCHW output (first call) and with an NCHW
// input and blocked output (second call), two functions. Running the pass twice changes
// nothing more: still four layout changes (@stem's and @body's outputs, @body_blocked_in's
// and @tail's inputs; a second clone would bring its own). With target=none nothing changes.
// TWICE-COUNT-4: "graph.transpose"
// TWICE-NOT: "graph.transpose"

// CHECK-LABEL: func.func private @stem
// CHECK-SAME: (%[[X:.*]]: tensor<1x32x6x6xf32>, %{{.*}}: tensor<32x32x1x1xf32>) -> tensor<1x4x6x6x8xf32>
// CHECK: %[[C:.*]] = "graph.conv"(%[[X]]
// CHECK: %[[R:.*]] = "graph.relu"(%[[C]])
// CHECK: %[[S:.*]] = "graph.constant"() {value = dense<[1, 4, 8, 6, 6]> : tensor<5xi64>}
// CHECK: %[[P:.*]] = "graph.reshape"(%[[R]], %[[S]]) {allowzero = 0 : i64} : (tensor<1x32x6x6xf32>, tensor<5xi64>) -> tensor<1x4x8x6x6xf32>
// CHECK: %[[T:.*]] = "graph.transpose"(%[[P]]) {perm = array<i64: 0, 1, 3, 4, 2>} : (tensor<1x4x8x6x6xf32>) -> tensor<1x4x6x6x8xf32>
// CHECK: return %[[T]] : tensor<1x4x6x6x8xf32>
// NONE-LABEL: func.func private @stem
// NONE-SAME: -> tensor<1x32x6x6xf32>
// NONE-NOT: graph.transpose
func.func private @stem(%x: tensor<1x32x6x6xf32>, %w: tensor<32x32x1x1xf32>) -> tensor<1x32x6x6xf32> attributes {ftensor.kernel} {
  %c = "graph.conv"(%x, %w) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x32x6x6xf32>, tensor<32x32x1x1xf32>) -> tensor<1x32x6x6xf32>
  %r = "graph.relu"(%c) : (tensor<1x32x6x6xf32>) -> tensor<1x32x6x6xf32>
  return %r : tensor<1x32x6x6xf32>
}

// @body itself takes the first of its layouts (none of its calls stays NCHW); the other
// is a clone placed after it.
// CHECK-LABEL: func.func private @body(
// CHECK-SAME: %[[X:.*]]: tensor<1x32x6x6xf32>, %{{.*}}: tensor<32x32x3x3xf32>, %{{.*}}: tensor<32xf32>) -> tensor<1x4x6x6x8xf32>
// CHECK: "graph.conv"(%[[X]]
// CHECK: return %{{.*}} : tensor<1x4x6x6x8xf32>
// CHECK-LABEL: func.func private @body_blocked_in
// CHECK-SAME: (%[[X:.*]]: tensor<1x4x6x6x8xf32>, %{{.*}}: tensor<32x32x3x3xf32>, %{{.*}}: tensor<32xf32>) -> tensor<1x32x6x6xf32>
// CHECK: %[[T:.*]] = "graph.transpose"(%[[X]]) {perm = array<i64: 0, 1, 4, 2, 3>} : (tensor<1x4x6x6x8xf32>) -> tensor<1x4x8x6x6xf32>
// CHECK: %[[S:.*]] = "graph.constant"() {value = dense<[1, 32, 6, 6]> : tensor<4xi64>}
// CHECK: %[[P:.*]] = "graph.reshape"(%[[T]], %[[S]]) {allowzero = 0 : i64} : (tensor<1x4x8x6x6xf32>, tensor<4xi64>) -> tensor<1x32x6x6xf32>
// CHECK: "graph.conv"(%[[P]]
// CHECK-NOT: graph.transpose
// CHECK: return %{{.*}} : tensor<1x32x6x6xf32>
func.func private @body(%x: tensor<1x32x6x6xf32>, %w: tensor<32x32x3x3xf32>, %b: tensor<32xf32>) -> tensor<1x32x6x6xf32> attributes {ftensor.kernel} {
  %c = "graph.conv"(%x, %w, %b) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<1x32x6x6xf32>, tensor<32x32x3x3xf32>, tensor<32xf32>) -> tensor<1x32x6x6xf32>
  %r = "graph.relu"(%c) : (tensor<1x32x6x6xf32>) -> tensor<1x32x6x6xf32>
  return %r : tensor<1x32x6x6xf32>
}

// CHECK-LABEL: func.func private @tail
// CHECK-SAME: (%{{.*}}: tensor<1x4x6x6x8xf32>, %{{.*}}: tensor<32x32x1x1xf32>, %{{.*}}: tensor<1x32x6x6xf32>) -> tensor<1x32x6x6xf32>
func.func private @tail(%x: tensor<1x32x6x6xf32>, %w: tensor<32x32x1x1xf32>, %residual: tensor<1x32x6x6xf32>) -> tensor<1x32x6x6xf32> attributes {ftensor.kernel} {
  %c = "graph.conv"(%x, %w) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x32x6x6xf32>, tensor<32x32x1x1xf32>) -> tensor<1x32x6x6xf32>
  %a = "graph.add"(%c, %residual) : (tensor<1x32x6x6xf32>, tensor<1x32x6x6xf32>) -> tensor<1x32x6x6xf32>
  %r = "graph.relu"(%a) : (tensor<1x32x6x6xf32>) -> tensor<1x32x6x6xf32>
  return %r : tensor<1x32x6x6xf32>
}

func.func private @last(%x: tensor<1x32x6x6xf32>) -> tensor<1x32x6x6xf32> attributes {ftensor.kernel} {
  %r = "graph.sigmoid"(%x) : (tensor<1x32x6x6xf32>) -> tensor<1x32x6x6xf32>
  return %r : tensor<1x32x6x6xf32>
}

// CHECK-LABEL: func.func @main
// CHECK: %[[A:.*]] = call @stem(%{{.*}}) : (tensor<1x32x6x6xf32>, tensor<32x32x1x1xf32>) -> tensor<1x4x6x6x8xf32>
// CHECK: %[[B:.*]] = call @body_blocked_in(%[[A]], {{.*}}) -> tensor<1x32x6x6xf32>
// CHECK: %[[C:.*]] = call @body(%[[B]], {{.*}}) -> tensor<1x4x6x6x8xf32>
// CHECK: %[[D:.*]] = call @tail(%[[C]], %{{.*}}, %[[B]]) : (tensor<1x4x6x6x8xf32>, tensor<32x32x1x1xf32>, tensor<1x32x6x6xf32>) -> tensor<1x32x6x6xf32>
// CHECK: call @last(%[[D]])
func.func @main(%x: tensor<1x32x6x6xf32>) -> tensor<1x32x6x6xf32> {
  %w1 = "graph.constant"() {value = dense<0.5> : tensor<32x32x1x1xf32>} : () -> tensor<32x32x1x1xf32>
  %w3 = "graph.constant"() {value = dense<0.25> : tensor<32x32x3x3xf32>} : () -> tensor<32x32x3x3xf32>
  %b = "graph.constant"() {value = dense<0.125> : tensor<32xf32>} : () -> tensor<32xf32>
  %a = call @stem(%x, %w1) : (tensor<1x32x6x6xf32>, tensor<32x32x1x1xf32>) -> tensor<1x32x6x6xf32>
  %b1 = call @body(%a, %w3, %b) : (tensor<1x32x6x6xf32>, tensor<32x32x3x3xf32>, tensor<32xf32>) -> tensor<1x32x6x6xf32>
  %b2 = call @body(%b1, %w3, %b) : (tensor<1x32x6x6xf32>, tensor<32x32x3x3xf32>, tensor<32xf32>) -> tensor<1x32x6x6xf32>
  %t = call @tail(%b2, %w1, %b1) : (tensor<1x32x6x6xf32>, tensor<32x32x1x1xf32>, tensor<1x32x6x6xf32>) -> tensor<1x32x6x6xf32>
  %l = call @last(%t) : (tensor<1x32x6x6xf32>) -> tensor<1x32x6x6xf32>
  return %l : tensor<1x32x6x6xf32>
}
