// RUN: fuser-opt %s --ftensor-int8-activations --split-input-file | FileCheck %s

// An INT8 kernel feeding an INT8 kernel that quantizes its input with the same scale and
// zero point ends in that quantize and returns codes; the consumer takes the codes.

// CHECK-LABEL: func.func private @producer
// CHECK-SAME: -> tensor<1x4x6x6xui8>
// CHECK: %[[R:.*]] = "graph.relu"
// CHECK-DAG: %[[S:.*]] = "graph.constant"() {value = dense<2.500000e-02> : tensor<f32>}
// CHECK-DAG: %[[Z:.*]] = "graph.constant"() {value = dense<3> : tensor<ui8>}
// CHECK: %[[Q:.*]] = "ftensor.quantize"(%[[R]], %[[S]], %[[Z]]) {axis = 1 : i64} : (tensor<1x4x6x6xf32>, tensor<f32>, tensor<ui8>) -> tensor<1x4x6x6xui8>
// CHECK: return %[[Q]] : tensor<1x4x6x6xui8>
func.func private @producer(%x: tensor<1x2x6x6xf32>) -> tensor<1x4x6x6xf32> attributes {ftensor.kernel} {
  %w = "graph.constant"() {value = dense<3> : tensor<4x2x1x1xi8>} : () -> tensor<4x2x1x1xi8>
  %ws = "graph.constant"() {value = dense<0.5> : tensor<4xf32>} : () -> tensor<4xf32>
  %s = "graph.constant"() {value = dense<0.125> : tensor<f32>} : () -> tensor<f32>
  %z = "graph.constant"() {value = dense<10> : tensor<ui8>} : () -> tensor<ui8>
  %c = "ftensor.quantized_conv"(%x, %w, %ws, %s, %z) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0>} : (tensor<1x2x6x6xf32>, tensor<4x2x1x1xi8>, tensor<4xf32>, tensor<f32>, tensor<ui8>) -> tensor<1x4x6x6xf32>
  %r = "graph.relu"(%c) : (tensor<1x4x6x6xf32>) -> tensor<1x4x6x6xf32>
  return %r : tensor<1x4x6x6xf32>
}

// CHECK-LABEL: func.func private @consumer
// CHECK-SAME: (%{{.*}}: tensor<1x4x6x6xui8>) -> tensor<1x3x6x6xf32>
// CHECK: "ftensor.quantized_conv"(%{{.*}}) {{.*}} : (tensor<1x4x6x6xui8>,
func.func private @consumer(%x: tensor<1x4x6x6xf32>) -> tensor<1x3x6x6xf32> attributes {ftensor.kernel} {
  %w = "graph.constant"() {value = dense<-2> : tensor<3x4x1x1xi8>} : () -> tensor<3x4x1x1xi8>
  %ws = "graph.constant"() {value = dense<0.25> : tensor<3xf32>} : () -> tensor<3xf32>
  %s = "graph.constant"() {value = dense<0.025> : tensor<f32>} : () -> tensor<f32>
  %z = "graph.constant"() {value = dense<3> : tensor<ui8>} : () -> tensor<ui8>
  %c = "ftensor.quantized_conv"(%x, %w, %ws, %s, %z) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0>} : (tensor<1x4x6x6xf32>, tensor<3x4x1x1xi8>, tensor<3xf32>, tensor<f32>, tensor<ui8>) -> tensor<1x3x6x6xf32>
  return %c : tensor<1x3x6x6xf32>
}

// CHECK-LABEL: func.func @model
// CHECK: %[[P:.*]] = call @producer(%{{.*}}) : (tensor<1x2x6x6xf32>) -> tensor<1x4x6x6xui8>
// CHECK: call @consumer(%[[P]]) : (tensor<1x4x6x6xui8>) -> tensor<1x3x6x6xf32>
func.func @model(%x: tensor<1x2x6x6xf32>) -> tensor<1x3x6x6xf32> {
  %p = call @producer(%x) : (tensor<1x2x6x6xf32>) -> tensor<1x4x6x6xf32>
  %y = call @consumer(%p) : (tensor<1x4x6x6xf32>) -> tensor<1x3x6x6xf32>
  return %y : tensor<1x3x6x6xf32>
}

// -----

// The producer's result is also returned by the model: it stays f32.

// CHECK-LABEL: func.func private @producer
// CHECK-NOT: ftensor.quantize"
// CHECK: return %{{.*}} : tensor<1x4x6x6xf32>
func.func private @producer(%x: tensor<1x2x6x6xf32>) -> tensor<1x4x6x6xf32> attributes {ftensor.kernel} {
  %w = "graph.constant"() {value = dense<3> : tensor<4x2x1x1xi8>} : () -> tensor<4x2x1x1xi8>
  %ws = "graph.constant"() {value = dense<0.5> : tensor<4xf32>} : () -> tensor<4xf32>
  %s = "graph.constant"() {value = dense<0.125> : tensor<f32>} : () -> tensor<f32>
  %z = "graph.constant"() {value = dense<10> : tensor<ui8>} : () -> tensor<ui8>
  %c = "ftensor.quantized_conv"(%x, %w, %ws, %s, %z) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0>} : (tensor<1x2x6x6xf32>, tensor<4x2x1x1xi8>, tensor<4xf32>, tensor<f32>, tensor<ui8>) -> tensor<1x4x6x6xf32>
  return %c : tensor<1x4x6x6xf32>
}

func.func private @consumer(%x: tensor<1x4x6x6xf32>) -> tensor<1x3x6x6xf32> attributes {ftensor.kernel} {
  %w = "graph.constant"() {value = dense<-2> : tensor<3x4x1x1xi8>} : () -> tensor<3x4x1x1xi8>
  %ws = "graph.constant"() {value = dense<0.25> : tensor<3xf32>} : () -> tensor<3xf32>
  %s = "graph.constant"() {value = dense<0.025> : tensor<f32>} : () -> tensor<f32>
  %z = "graph.constant"() {value = dense<3> : tensor<ui8>} : () -> tensor<ui8>
  %c = "ftensor.quantized_conv"(%x, %w, %ws, %s, %z) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0>} : (tensor<1x4x6x6xf32>, tensor<3x4x1x1xi8>, tensor<3xf32>, tensor<f32>, tensor<ui8>) -> tensor<1x3x6x6xf32>
  return %c : tensor<1x3x6x6xf32>
}

func.func @model(%x: tensor<1x2x6x6xf32>) -> (tensor<1x3x6x6xf32>, tensor<1x4x6x6xf32>) {
  %p = call @producer(%x) : (tensor<1x2x6x6xf32>) -> tensor<1x4x6x6xf32>
  %y = call @consumer(%p) : (tensor<1x4x6x6xf32>) -> tensor<1x3x6x6xf32>
  return %y, %p : tensor<1x3x6x6xf32>, tensor<1x4x6x6xf32>
}

// -----

// The consumer quantizes with another scale: the producer stays f32.

// CHECK-LABEL: func.func private @producer
// CHECK-NOT: ftensor.quantize"
// CHECK: return %{{.*}} : tensor<1x4x6x6xf32>
func.func private @producer(%x: tensor<1x2x6x6xf32>) -> tensor<1x4x6x6xf32> attributes {ftensor.kernel} {
  %w = "graph.constant"() {value = dense<3> : tensor<4x2x1x1xi8>} : () -> tensor<4x2x1x1xi8>
  %ws = "graph.constant"() {value = dense<0.5> : tensor<4xf32>} : () -> tensor<4xf32>
  %s = "graph.constant"() {value = dense<0.125> : tensor<f32>} : () -> tensor<f32>
  %z = "graph.constant"() {value = dense<10> : tensor<ui8>} : () -> tensor<ui8>
  %c = "ftensor.quantized_conv"(%x, %w, %ws, %s, %z) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0>} : (tensor<1x2x6x6xf32>, tensor<4x2x1x1xi8>, tensor<4xf32>, tensor<f32>, tensor<ui8>) -> tensor<1x4x6x6xf32>
  return %c : tensor<1x4x6x6xf32>
}

func.func private @consumer_a(%x: tensor<1x4x6x6xf32>) -> tensor<1x3x6x6xf32> attributes {ftensor.kernel} {
  %w = "graph.constant"() {value = dense<-2> : tensor<3x4x1x1xi8>} : () -> tensor<3x4x1x1xi8>
  %ws = "graph.constant"() {value = dense<0.25> : tensor<3xf32>} : () -> tensor<3xf32>
  %s = "graph.constant"() {value = dense<0.025> : tensor<f32>} : () -> tensor<f32>
  %z = "graph.constant"() {value = dense<3> : tensor<ui8>} : () -> tensor<ui8>
  %c = "ftensor.quantized_conv"(%x, %w, %ws, %s, %z) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0>} : (tensor<1x4x6x6xf32>, tensor<3x4x1x1xi8>, tensor<3xf32>, tensor<f32>, tensor<ui8>) -> tensor<1x3x6x6xf32>
  return %c : tensor<1x3x6x6xf32>
}

func.func private @consumer_b(%x: tensor<1x4x6x6xf32>) -> tensor<1x3x6x6xf32> attributes {ftensor.kernel} {
  %w = "graph.constant"() {value = dense<-2> : tensor<3x4x1x1xi8>} : () -> tensor<3x4x1x1xi8>
  %ws = "graph.constant"() {value = dense<0.25> : tensor<3xf32>} : () -> tensor<3xf32>
  %s = "graph.constant"() {value = dense<0.05> : tensor<f32>} : () -> tensor<f32>
  %z = "graph.constant"() {value = dense<3> : tensor<ui8>} : () -> tensor<ui8>
  %c = "ftensor.quantized_conv"(%x, %w, %ws, %s, %z) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0>} : (tensor<1x4x6x6xf32>, tensor<3x4x1x1xi8>, tensor<3xf32>, tensor<f32>, tensor<ui8>) -> tensor<1x3x6x6xf32>
  return %c : tensor<1x3x6x6xf32>
}

func.func @model(%x: tensor<1x2x6x6xf32>) -> (tensor<1x3x6x6xf32>, tensor<1x3x6x6xf32>) {
  %p = call @producer(%x) : (tensor<1x2x6x6xf32>) -> tensor<1x4x6x6xf32>
  %a = call @consumer_a(%p) : (tensor<1x4x6x6xf32>) -> tensor<1x3x6x6xf32>
  %b = call @consumer_b(%p) : (tensor<1x4x6x6xf32>) -> tensor<1x3x6x6xf32>
  return %a, %b : tensor<1x3x6x6xf32>, tensor<1x3x6x6xf32>
}

// -----

// The producer is called twice: it stays f32 (changing it would change both calls).

// CHECK-LABEL: func.func private @producer
// CHECK-NOT: ftensor.quantize"
// CHECK: return %{{.*}} : tensor<1x4x6x6xf32>
func.func private @producer(%x: tensor<1x2x6x6xf32>) -> tensor<1x4x6x6xf32> attributes {ftensor.kernel} {
  %w = "graph.constant"() {value = dense<3> : tensor<4x2x1x1xi8>} : () -> tensor<4x2x1x1xi8>
  %ws = "graph.constant"() {value = dense<0.5> : tensor<4xf32>} : () -> tensor<4xf32>
  %s = "graph.constant"() {value = dense<0.125> : tensor<f32>} : () -> tensor<f32>
  %z = "graph.constant"() {value = dense<10> : tensor<ui8>} : () -> tensor<ui8>
  %c = "ftensor.quantized_conv"(%x, %w, %ws, %s, %z) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0>} : (tensor<1x2x6x6xf32>, tensor<4x2x1x1xi8>, tensor<4xf32>, tensor<f32>, tensor<ui8>) -> tensor<1x4x6x6xf32>
  return %c : tensor<1x4x6x6xf32>
}

func.func private @consumer(%x: tensor<1x4x6x6xf32>) -> tensor<1x3x6x6xf32> attributes {ftensor.kernel} {
  %w = "graph.constant"() {value = dense<-2> : tensor<3x4x1x1xi8>} : () -> tensor<3x4x1x1xi8>
  %ws = "graph.constant"() {value = dense<0.25> : tensor<3xf32>} : () -> tensor<3xf32>
  %s = "graph.constant"() {value = dense<0.025> : tensor<f32>} : () -> tensor<f32>
  %z = "graph.constant"() {value = dense<3> : tensor<ui8>} : () -> tensor<ui8>
  %c = "ftensor.quantized_conv"(%x, %w, %ws, %s, %z) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0>} : (tensor<1x4x6x6xf32>, tensor<3x4x1x1xi8>, tensor<3xf32>, tensor<f32>, tensor<ui8>) -> tensor<1x3x6x6xf32>
  return %c : tensor<1x3x6x6xf32>
}

func.func @model(%x: tensor<1x2x6x6xf32>) -> (tensor<1x3x6x6xf32>, tensor<1x4x6x6xf32>) {
  %p = call @producer(%x) : (tensor<1x2x6x6xf32>) -> tensor<1x4x6x6xf32>
  %q = call @producer(%x) : (tensor<1x2x6x6xf32>) -> tensor<1x4x6x6xf32>
  %y = call @consumer(%p) : (tensor<1x4x6x6xf32>) -> tensor<1x3x6x6xf32>
  return %y, %q : tensor<1x3x6x6xf32>, tensor<1x4x6x6xf32>
}
