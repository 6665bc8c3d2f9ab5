// graph-simplify over a graph with an exporter's debris (testdata/demo/resnet_block.mlir).
// RUN: fuser-opt %S/../../testdata/demo/resnet_block.mlir --pass-pipeline='builtin.module(func.func(graph-simplify,canonicalize,cse))' | FileCheck %s

// CHECK-LABEL: func.func @resnet_block
// CHECK-SAME: (%[[IN:.+]]: tensor<1x64x56x56xf32> {graph.name = "input"})
// CHECK-NOT: graph.identity
// CHECK-NOT: graph.transpose
// CHECK-NOT: fc.weight.unused
// CHECK: %[[C1:.+]] = "graph.conv"(%[[IN]],
// CHECK: %[[N1:.+]] = "graph.batch_normalization"(%[[C1]],
// CHECK: %[[R1:.+]] = "graph.relu"(%[[N1]])
// CHECK-NOT: graph.dropout
// CHECK: %[[C2:.+]] = "graph.conv"(%[[R1]],
// CHECK: %[[N2:.+]] = "graph.batch_normalization"(%[[C2]],
// CHECK-NOT: graph.cast
// CHECK: %[[S:.+]] = "graph.add"(%[[N2]], %[[IN]])
// CHECK: %[[R:.+]] = "graph.relu"(%[[S]])
// CHECK-NOT: graph.relu
// CHECK: "graph.max"(%[[R]], %[[R]])
