// RUN: fuser-opt --list-passes | FileCheck %s
// CHECK: fuser passes:
// CHECK: --graph-simplify
// CHECK: Upstream MLIR passes:
// CHECK-DAG: --canonicalize
// CHECK-DAG: --cse
// CHECK-DAG: --one-shot-bufferize
// CHECK-DAG: --convert-func-to-llvm
