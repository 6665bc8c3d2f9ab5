// RUN: fuser-opt %s --convert-memref-copy-to-linalg | FileCheck %s
// RUN: fuser-opt %s --convert-memref-copy-to-linalg=dense=true | FileCheck %s --check-prefix=GPU

// CHECK-LABEL: func.func @strided
// CHECK-SAME: (%[[A:.+]]: memref<4xf32>, %[[B:.+]]: memref<4xf32, strided<[2]>>)
// CHECK-NOT: memref.copy
// CHECK: linalg.copy ins(%[[A]] : memref<4xf32>) outs(%[[B]] : memref<4xf32, strided<[2]>>)
func.func @strided(%a: memref<4xf32>, %b: memref<4xf32, strided<[2]>>) {
  memref.copy %a, %b : memref<4xf32> to memref<4xf32, strided<[2]>>
  return
}

// A copy between dense buffers stays (it becomes a memcpy); for a GPU (dense=true) it
// goes too, since a GPU's copies are kernels.
// CHECK-LABEL: func.func @dense
// CHECK: memref.copy
// GPU-LABEL: func.func @dense
// GPU-NOT: memref.copy
// GPU: linalg.copy
func.func @dense(%a: memref<4xf32>, %b: memref<4xf32>) {
  memref.copy %a, %b : memref<4xf32> to memref<4xf32>
  return
}
