// RUN: fuser-opt %s --graph-mixed-precision | FileCheck %s
// RUN: fuser-opt %s --graph-mixed-precision='type=f16 keep-f32=relu' | FileCheck %s --check-prefix=F16
// RUN: not fuser-opt %s --graph-mixed-precision='type=f8' 2>&1 | FileCheck %s --check-prefix=BADTYPE
// RUN: not fuser-opt %s --graph-mixed-precision='keep-f32=nonsense' 2>&1 | FileCheck %s --check-prefix=BADOP

// The matmul and relu compute in bf16 (the relu reads the matmul's bf16 result
// directly); the softmax stays f32 behind one cast back.
// CHECK-LABEL: func.func @f
// CHECK: %[[A:.+]] = "graph.cast"(%arg0) {saturate = 1 : i64, to = 16 : i64} : (tensor<4x8xf32>) -> tensor<4x8xbf16>
// CHECK: %[[B:.+]] = "graph.cast"(%arg1) {saturate = 1 : i64, to = 16 : i64} : (tensor<8x2xf32>) -> tensor<8x2xbf16>
// CHECK: %[[Y:.+]] = "graph.mat_mul"(%[[A]], %[[B]]) : (tensor<4x8xbf16>, tensor<8x2xbf16>) -> tensor<4x2xbf16>
// CHECK-NEXT: %[[R:.+]] = "graph.relu"(%[[Y]]) : (tensor<4x2xbf16>) -> tensor<4x2xbf16>
// CHECK-NEXT: %[[BACK:.+]] = "graph.cast"(%[[R]]) {saturate = 1 : i64, to = 1 : i64} : (tensor<4x2xbf16>) -> tensor<4x2xf32>
// CHECK-NEXT: %[[S:.+]] = "graph.softmax"(%[[BACK]])
// CHECK: return %[[S]]
// F16: "graph.mat_mul"({{.*}}) : (tensor<4x8xf16>, tensor<8x2xf16>) -> tensor<4x2xf16>
// F16: "graph.relu"({{.*}}) : (tensor<4x2xf32>) -> tensor<4x2xf32>
// BADTYPE: type must be bf16 or f16, got 'f8'
// BADOP: keep-f32 names 'nonsense', which is not a graph op
func.func @f(%a: tensor<4x8xf32>, %b: tensor<8x2xf32>) -> tensor<4x2xf32> {
  %y = "graph.mat_mul"(%a, %b) : (tensor<4x8xf32>, tensor<8x2xf32>) -> tensor<4x2xf32>
  %r = "graph.relu"(%y) : (tensor<4x2xf32>) -> tensor<4x2xf32>
  %s = "graph.softmax"(%r) {axis = -1 : i64} : (tensor<4x2xf32>) -> tensor<4x2xf32>
  return %s : tensor<4x2xf32>
}
