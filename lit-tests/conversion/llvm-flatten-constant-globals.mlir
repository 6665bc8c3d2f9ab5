// RUN: fuser-opt %s --llvm-flatten-constant-globals | FileCheck %s

// CHECK: llvm.mlir.global private constant @w(dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 5.000000e+00, 6.000000e+00]> : tensor<6xf32>) {{.*}} : !llvm.array<6 x f32>
llvm.mlir.global private constant @w(dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>) : !llvm.array<2 x array<3 x f32>>
// A 1-D global is left alone.
// CHECK: llvm.mlir.global private constant @v(dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>) {{.*}} : !llvm.array<2 x f32>
llvm.mlir.global private constant @v(dense<[1.0, 2.0]> : tensor<2xf32>) : !llvm.array<2 x f32>
