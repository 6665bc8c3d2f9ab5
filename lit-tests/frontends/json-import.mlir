// `fuser import` of the bundled JSON graph: one verified function named after the graph,
// ONNX names kept, weights outside the text, defaults explicit, the dynamic dim fixed.
// RUN: fuser import %S/../../testdata/json/mlp.json -o %t.mlir --shape features=4x8
// RUN: FileCheck %s < %t.mlir
// RUN: fuser-opt %t.mlir --graph-simplify | FileCheck %s
// RUN: not fuser import %S/../../testdata/json/mlp.json -o %t.bad.mlir --shape features=4x9 2>&1 | FileCheck %s --check-prefix=BAD

// CHECK-LABEL: func.func @mlp
// CHECK-SAME: (%[[X:.+]]: tensor<4x8xf32> {graph.name = "features"}) -> (tensor<4x10xf32> {graph.name = "probabilities"})
// CHECK: %[[W:.+]] = "graph.weight"() {name = "hidden.weight"} : () -> tensor<8x16xf32>
// CHECK: "graph.gemm"(%[[X]], %[[W]], %{{.+}}) {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = 0 : i64, trans_b = 0 : i64}
// CHECK: "graph.gelu"{{.*}}approximate = "tanh"
// CHECK: "graph.weight"() {name = "fc.weight"} : () -> tensor<10x16xf32>
// CHECK: "graph.gemm"{{.*}}trans_b = 1 : i64{{.*}} -> tensor<4x10xf32>
// CHECK: "graph.softmax"{{.*}}{axis = -1 : i64} : (tensor<4x10xf32>) -> tensor<4x10xf32>

// BAD: fuser import: error: {{.*}}mlp.json: --shape features=[4, 9] contradicts the declared shape
