// A ResNet-18 basic block (64 channels, 56x56) in the graph dialect, as an ONNX export
// typically arrives: Identity and Dropout nodes left by the exporter, an NCHW->NHWC->NCHW
// transpose pair around a no-op, a no-op Cast and a duplicated ReLU. Weights are
// `graph.weight` ops whose bytes live outside the text. `make demo` simplifies it.
func.func @resnet_block(%input: tensor<1x64x56x56xf32> {graph.name = "input"}) -> (tensor<1x64x56x56xf32> {graph.name = "output"}) {
  %w1 = "graph.weight"() {name = "layer1.0.conv1.weight"} : () -> tensor<64x64x3x3xf32>
  %g1 = "graph.weight"() {name = "layer1.0.bn1.weight"} : () -> tensor<64xf32>
  %b1 = "graph.weight"() {name = "layer1.0.bn1.bias"} : () -> tensor<64xf32>
  %m1 = "graph.weight"() {name = "layer1.0.bn1.running_mean"} : () -> tensor<64xf32>
  %v1 = "graph.weight"() {name = "layer1.0.bn1.running_var"} : () -> tensor<64xf32>
  %w2 = "graph.weight"() {name = "layer1.0.conv2.weight"} : () -> tensor<64x64x3x3xf32>
  %g2 = "graph.weight"() {name = "layer1.0.bn2.weight"} : () -> tensor<64xf32>
  %b2 = "graph.weight"() {name = "layer1.0.bn2.bias"} : () -> tensor<64xf32>
  %m2 = "graph.weight"() {name = "layer1.0.bn2.running_mean"} : () -> tensor<64xf32>
  %v2 = "graph.weight"() {name = "layer1.0.bn2.running_var"} : () -> tensor<64xf32>
  %unused = "graph.weight"() {name = "fc.weight.unused"} : () -> tensor<1000x512xf32>

  %x = "graph.identity"(%input) : (tensor<1x64x56x56xf32>) -> tensor<1x64x56x56xf32>
  %to_nhwc = "graph.transpose"(%x) {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x64x56x56xf32>) -> tensor<1x56x56x64xf32>
  %to_nchw = "graph.transpose"(%to_nhwc) {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x56x56x64xf32>) -> tensor<1x64x56x56xf32>
  %c1 = "graph.conv"(%to_nchw, %w1) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x64x56x56xf32>, tensor<64x64x3x3xf32>) -> tensor<1x64x56x56xf32>
  %n1 = "graph.batch_normalization"(%c1, %g1, %b1, %m1, %v1) {epsilon = 9.99999974E-6 : f32, momentum = 0.899999976 : f32} : (tensor<1x64x56x56xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<1x64x56x56xf32>
  %r1 = "graph.relu"(%n1) : (tensor<1x64x56x56xf32>) -> tensor<1x64x56x56xf32>
  %d1 = "graph.dropout"(%r1) {operandSegmentSizes = array<i32: 1, 0, 0>, resultSegmentSizes = array<i32: 1, 0>} : (tensor<1x64x56x56xf32>) -> tensor<1x64x56x56xf32>
  %c2 = "graph.conv"(%d1, %w2) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x64x56x56xf32>, tensor<64x64x3x3xf32>) -> tensor<1x64x56x56xf32>
  %n2 = "graph.batch_normalization"(%c2, %g2, %b2, %m2, %v2) {epsilon = 9.99999974E-6 : f32, momentum = 0.899999976 : f32} : (tensor<1x64x56x56xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<1x64x56x56xf32>
  %cast = "graph.cast"(%n2) {saturate = 1 : i64, to = 1 : i64} : (tensor<1x64x56x56xf32>) -> tensor<1x64x56x56xf32>
  %sum = "graph.add"(%cast, %x) : (tensor<1x64x56x56xf32>, tensor<1x64x56x56xf32>) -> tensor<1x64x56x56xf32>
  %out = "graph.relu"(%sum) : (tensor<1x64x56x56xf32>) -> tensor<1x64x56x56xf32>
  %out_again = "graph.relu"(%sum) : (tensor<1x64x56x56xf32>) -> tensor<1x64x56x56xf32>
  %y = "graph.max"(%out, %out_again) {operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<1x64x56x56xf32>, tensor<1x64x56x56xf32>) -> tensor<1x64x56x56xf32>
  return %y : tensor<1x64x56x56xf32>
}
