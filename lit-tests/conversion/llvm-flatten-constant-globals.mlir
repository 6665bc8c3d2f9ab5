// RUN: fuser-opt %s --llvm-flatten-constant-globals | FileCheck %s

// Non-splat data becomes its bytes (little-endian f32: 1.0 is 00 00 80 3F), with the
// alignment kept.
// CHECK: llvm.mlir.global private constant @w(dense<[0, 0, -128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, -128, 64, 0, 0, -96, 64, 0, 0, -64, 64]> : tensor<24xi8>) {{.*}}alignment = 64 : i64{{.*}} : !llvm.array<24 x i8>
llvm.mlir.global private constant @w(dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>) {alignment = 64 : i64} : !llvm.array<2 x array<3 x f32>>
// Without an alignment, the elements' own one.
// CHECK: llvm.mlir.global private constant @v(dense<[0, 0, -128, 63, 0, 0, 0, 64]> : tensor<8xi8>) {{.*}}alignment = 4 : i64{{.*}} : !llvm.array<8 x i8>
llvm.mlir.global private constant @v(dense<[1.0, 2.0]> : tensor<2xf32>) : !llvm.array<2 x f32>
// A splat keeps its element type, flattened.
// CHECK: llvm.mlir.global private constant @s(dense<1.500000e+00> : tensor<4xf32>) {{.*}} : !llvm.array<4 x f32>
llvm.mlir.global private constant @s(dense<1.5> : tensor<2x2xf32>) : !llvm.array<2 x array<2 x f32>>
// Bits are not whole bytes: left alone.
// CHECK: llvm.mlir.global private constant @b(dense<[true, false]> : tensor<2xi1>) {{.*}} : !llvm.array<2 x i1>
llvm.mlir.global private constant @b(dense<[true, false]> : tensor<2xi1>) : !llvm.array<2 x i1>
