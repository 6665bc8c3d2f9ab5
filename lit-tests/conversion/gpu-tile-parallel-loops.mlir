// RUN: fuser-opt %s --gpu-tile-parallel-loops | FileCheck %s
// RUN: fuser-opt %s --pass-pipeline='builtin.module(gpu-tile-parallel-loops,func.func(convert-parallel-loops-to-gpu))' | FileCheck %s --check-prefix=LAUNCH
// RUN: not fuser-opt %s --gpu-tile-parallel-loops=max-threads=0 2>&1 | FileCheck %s --check-prefix=OPTION

// A 4-D loop (an NCHW elementwise op): the unit batch dim is walked in each thread, W goes
// to x (28 threads), H to y (the 9 threads left of 256), C to z; the grid covers the rest,
// and a guard drops the threads past the end.
// CHECK-LABEL: func.func @relu
// CHECK: scf.parallel (%[[B0:.+]], %[[B1:.+]], %[[B2:.+]], %[[B3:.+]]) = {{.*}} to (%c1{{[_0-9]*}}, %c32{{[_0-9]*}}, %c4{{[_0-9]*}}, %c1{{[_0-9]*}})
// CHECK: scf.parallel (%[[T1:.+]], %[[T2:.+]], %[[T3:.+]]) = {{.*}} to (%c1{{[_0-9]*}}, %c9{{[_0-9]*}}, %c28{{[_0-9]*}})
// CHECK: %[[BASE:.+]] = arith.muli %[[B2]], %c9{{[_0-9]*}} : index
// CHECK: %[[H:.+]] = arith.addi %[[BASE]], %[[T2]] : index
// CHECK: arith.cmpi ult, %[[H]], %c28{{[_0-9]*}} : index
// CHECK: scf.if
// CHECK: memref.load %{{.+}}[%[[B0]], %{{.+}}, %[[H]], %{{.+}}]
// CHECK: arith.maximumf
// CHECK: memref.store
// CHECK: mapping = [#gpu.loop_dim_map<processor = thread_z{{.*}}>, #gpu.loop_dim_map<processor = thread_y{{.*}}>, #gpu.loop_dim_map<processor = thread_x{{.*}}>]
// CHECK: mapping = [#gpu.loop_dim_map<processor = sequential{{.*}}>, #gpu.loop_dim_map<processor = block_z{{.*}}>, #gpu.loop_dim_map<processor = block_y{{.*}}>, #gpu.loop_dim_map<processor = block_x{{.*}}>]

// LAUNCH-LABEL: func.func @relu
// LAUNCH: gpu.launch blocks({{.*}}) in ({{.*}}) threads({{.*}}) in ({{.*}})
// LAUNCH-NOT: scf.parallel
// LAUNCH: gpu.terminator
func.func @relu(%x: memref<1x32x28x28xf32>, %y: memref<1x32x28x28xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c28 = arith.constant 28 : index
  %c32 = arith.constant 32 : index
  %zero = arith.constant 0.0 : f32
  scf.parallel (%n, %c, %h, %w) = (%c0, %c0, %c0, %c0) to (%c1, %c32, %c28, %c28) step (%c1, %c1, %c1, %c1) {
    %v = memref.load %x[%n, %c, %h, %w] : memref<1x32x28x28xf32>
    %r = arith.maximumf %v, %zero : f32
    memref.store %r, %y[%n, %c, %h, %w] : memref<1x32x28x28xf32>
    scf.reduce
  }
  return
}

// OPTION: max-threads must be 1 to 1024, got '0'

// A sum to a scalar is a loop with no parallel dimension, and its initialization a bare
// store: both become one kernel of one thread (a one-iteration loop, mapped), leaving
// nothing but allocations for the host. The constants between them stay where they are.
// CHECK-LABEL: func.func @sum_to_scalar
// CHECK: %[[ACC:.+]] = memref.alloc
// CHECK: scf.parallel {{.*}} to (%c1{{[_0-9]*}}) step
// CHECK: scf.parallel {{.*}} to (%c1{{[_0-9]*}}) step
// CHECK: scf.if
// CHECK: memref.store %{{.*}}, %[[ACC]][] : memref<f32>
// CHECK: scf.for
// CHECK: memref.load %[[ACC]][]
// CHECK: memref.store
// CHECK: mapping = [#gpu.loop_dim_map<processor = thread_x
// CHECK: mapping = [#gpu.loop_dim_map<processor = block_x
// CHECK-NOT: memref.store
// CHECK: return %[[ACC]]

// LAUNCH-LABEL: func.func @sum_to_scalar
// LAUNCH: gpu.launch
// LAUNCH: scf.for
// LAUNCH: gpu.terminator
// LAUNCH-NOT: memref.store
// LAUNCH: return
func.func @sum_to_scalar(%x: memref<24xf32>) -> memref<f32> {
  %acc = memref.alloc() : memref<f32>
  %zero = arith.constant 0.0 : f32
  memref.store %zero, %acc[] : memref<f32>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c24 = arith.constant 24 : index
  scf.for %i = %c0 to %c24 step %c1 {
    %v = memref.load %x[%i] : memref<24xf32>
    %a = memref.load %acc[] : memref<f32>
    %s = arith.addf %a, %v : f32
    memref.store %s, %acc[] : memref<f32>
  }
  return %acc : memref<f32>
}
