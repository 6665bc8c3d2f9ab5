// Calibration over two samples whose values span [-1, 3]: u8, asymmetric, so the scale is
// 4/255 and the zero point round(1 / (4/255)) = 64. Weights per output channel: 0.5 and
// -1.0 become 127 and -127 with scales 0.5/127 and 1/127.
// RUN: fuser-opt %s --graph-quantize='calibration=%S/Inputs/quantize-calibration' | FileCheck %s
// RUN: fuser-opt %s --graph-quantize='calibration=%S/Inputs/quantize-calibration method=entropy activation-type=i8' | FileCheck %s --check-prefix=I8
// RUN: not fuser-opt %s --graph-quantize 2>&1 | FileCheck %s --check-prefix=NODIR
// RUN: not fuser-opt %s --graph-quantize='calibration=%S/Inputs/missing' 2>&1 | FileCheck %s --check-prefix=MISSING

// CHECK-LABEL: func.func @conv
// CHECK-DAG: %[[WQ:.+]] = "graph.constant"() {value = dense<{{\[\[\[\[}}127]]], {{\[\[\[}}-127]]]]> : tensor<2x1x1x1xi8>}
// CHECK-DAG: %[[WS:.+]] = "graph.constant"() {value = dense<[0.00393700786, 0.00787401571]> : tensor<2xf32>}
// CHECK-DAG: %[[XS:.+]] = "graph.constant"() {value = dense<0.0156862754> : tensor<f32>}
// CHECK-DAG: %[[XZ:.+]] = "graph.constant"() {value = dense<64> : tensor<ui8>}
// CHECK: "ftensor.quantized_conv"(%arg0, %[[WQ]], %[[WS]], %[[XS]], %[[XZ]])
// CHECK-NOT: graph.conv
// I8: dense<-64> : tensor<i8>
// I8: "ftensor.quantized_conv"
// NODIR: calibration=DIR is required
// MISSING: graph-quantize: cannot read '{{.*}}missing'
func.func @conv(%x: tensor<1x1x2x2xf32>) -> tensor<1x2x2x2xf32> {
  %w = "graph.constant"() {value = dense<[[[[0.5]]], [[[-1.0]]]]> : tensor<2x1x1x1xf32>} : () -> tensor<2x1x1x1xf32>
  %y = "graph.conv"(%x, %w) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>} : (tensor<1x1x2x2xf32>, tensor<2x1x1x1xf32>) -> tensor<1x2x2x2xf32>
  return %y : tensor<1x2x2x2xf32>
}
