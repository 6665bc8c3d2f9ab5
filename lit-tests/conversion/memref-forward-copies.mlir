// RUN: fuser-opt %s --memref-forward-copies | FileCheck %s

// CHECK-LABEL: func.func @into_out_param
// CHECK-SAME: (%[[X:.+]]: memref<4xf32>, %[[OUT:.+]]: memref<2x2xf32>)
// CHECK-NOT: memref.alloc
// CHECK: %[[V:.+]] = memref.reinterpret_cast %[[OUT]] to offset: [0], sizes: [4], strides: [1] : memref<2x2xf32> to memref<4xf32>
// CHECK: linalg.copy ins(%[[X]] : memref<4xf32>) outs(%[[V]] : memref<4xf32>)
// CHECK-NOT: memref.copy
// CHECK-NOT: memref.dealloc
func.func @into_out_param(%x: memref<4xf32>, %out: memref<2x2xf32>) {
  %alloc = memref.alloc() : memref<4xf32>
  linalg.copy ins(%x : memref<4xf32>) outs(%alloc : memref<4xf32>)
  %e = memref.expand_shape %alloc [[0, 1]] output_shape [2, 2] : memref<4xf32> into memref<2x2xf32>
  memref.copy %e, %out : memref<2x2xf32> to memref<2x2xf32>
  memref.dealloc %alloc : memref<4xf32>
  return
}

// An out-parameter read elsewhere is left alone.
// CHECK-LABEL: func.func @read_elsewhere
// CHECK: memref.alloc
// CHECK: memref.copy
func.func @read_elsewhere(%x: memref<4xf32>, %out: memref<4xf32>) {
  %alloc = memref.alloc() : memref<4xf32>
  linalg.copy ins(%out : memref<4xf32>) outs(%alloc : memref<4xf32>)
  memref.copy %alloc, %out : memref<4xf32> to memref<4xf32>
  memref.dealloc %alloc : memref<4xf32>
  return
}
