// Input from stdin, output to a file, debug info, split output.
// RUN: fuser-opt - < %s | FileCheck %s
// RUN: fuser-opt %s -o %t.out.mlir && FileCheck %s < %t.out.mlir
// RUN: fuser-opt %s --mlir-print-debuginfo | FileCheck %s --check-prefix=DEBUGINFO
// RUN: fuser-opt %s --split-input-file | FileCheck %s --check-prefix=SPLIT
// RUN: fuser-opt %s --verify-each=false --graph-simplify | FileCheck %s
// RUN: fuser-opt %s --verify-each --graph-simplify | FileCheck %s

// CHECK-LABEL: func.func @first
// DEBUGINFO-NOT: loc("-"
// DEBUGINFO: loc("{{.*}}io.mlir":[[@LINE+4]]:8)
// SPLIT: func.func @first
// SPLIT-NEXT: graph.relu
func.func @first(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "graph.relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// CHECK-LABEL: func.func @second
// SPLIT: // -----
// SPLIT: func.func @second
func.func @second(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
