// RUN: fuser-opt %s --pass-pipeline='builtin.module(func.func(graph-simplify,cse))' --mlir-print-ir-after-all -o /dev/null 2>&1 | FileCheck %s --check-prefix=AFTER
// RUN: fuser-opt %s --pass-pipeline='builtin.module(func.func(graph-simplify))' --mlir-print-ir-before-all -o /dev/null 2>&1 | FileCheck %s --check-prefix=BEFORE
// RUN: not fuser-opt %s --pass-pipeline='builtin.module(one-shot-bufferize)' --mlir-print-ir-after-failure -o /dev/null 2>&1 | FileCheck %s --check-prefix=FAILURE
// RUN: fuser-opt %s --graph-simplify --mlir-timing -o /dev/null 2>&1 | FileCheck %s --check-prefix=TIMING

// AFTER: IR Dump After GraphSimplifyPass (graph-simplify)
// AFTER-NOT: graph.identity
// AFTER: IR Dump After CSE
// BEFORE: IR Dump Before GraphSimplifyPass (graph-simplify)
// BEFORE: graph.identity
// FAILURE: IR Dump After {{.*}}Failed
// TIMING: Execution time report
// TIMING: GraphSimplifyPass
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "graph.identity"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  %1 = "graph.relu"(%0) : (tensor<4xf32>) -> tensor<4xf32>
  return %1 : tensor<4xf32>
}
