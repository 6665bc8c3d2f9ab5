// RUN: fuser-opt %s --convert-graph-to-linalg --split-input-file | FileCheck %s

// A fused f32 matmul whose B is a constant at every call of its kernel carries a nonzero
// key in its descriptor (word 21, after the conv geometry): the runtime keeps B packed
// under it between calls.
// CHECK-LABEL: func.func private @weights_at_every_call
// CHECK: arith.constant dense<[0, 4, 8, 16, 16, 1, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, {{-?[1-9][0-9]*}}, 0]> : tensor<23xi64>
// CHECK: call @fuser_fused_f32
module {
  func.func private @weights_at_every_call(%a: tensor<4x16xf32>, %b: tensor<16x8xf32>) -> tensor<4x8xf32> attributes {ftensor.kernel} {
    %0 = "graph.mat_mul"(%a, %b) : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    return %0 : tensor<4x8xf32>
  }
  func.func @model(%x: tensor<4x16xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
    %c = arith.constant dense<0.5> : tensor<16x8xf32>
    %d = arith.constant dense<-0.25> : tensor<16x8xf32>
    %0 = call @weights_at_every_call(%x, %c) : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    %1 = call @weights_at_every_call(%x, %d) : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    return %0, %1 : tensor<4x8xf32>, tensor<4x8xf32>
  }
}

// -----

// B is a runtime value at one of the calls: key 0 (the call takes the gemm crate's path,
// which packs B in every call).
// CHECK-LABEL: func.func private @runtime_b_at_one_call
// CHECK: arith.constant dense<[0, 4, 8, 16, 16, 1, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]> : tensor<23xi64>
module {
  func.func private @runtime_b_at_one_call(%a: tensor<4x16xf32>, %b: tensor<16x8xf32>) -> tensor<4x8xf32> attributes {ftensor.kernel} {
    %0 = "graph.mat_mul"(%a, %b) : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    return %0 : tensor<4x8xf32>
  }
  func.func @model(%x: tensor<4x16xf32>, %w: tensor<16x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
    %c = arith.constant dense<0.5> : tensor<16x8xf32>
    %0 = call @runtime_b_at_one_call(%x, %c) : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    %1 = call @runtime_b_at_one_call(%x, %w) : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    return %0, %1 : tensor<4x8xf32>, tensor<4x8xf32>
  }
}

// -----

// A constant inside the kernel is a constant too.
// CHECK-LABEL: func.func private @weights_inside
// CHECK: arith.constant dense<[0, 4, 8, 16, 16, 1, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, {{-?[1-9][0-9]*}}, 0]> : tensor<23xi64>
module {
  func.func private @weights_inside(%a: tensor<4x16xf32>) -> tensor<4x8xf32> attributes {ftensor.kernel} {
    %b = "graph.constant"() {value = dense<0.75> : tensor<16x8xf32>} : () -> tensor<16x8xf32>
    %0 = "graph.mat_mul"(%a, %b) : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    return %0 : tensor<4x8xf32>
  }
}

// -----

// A public kernel may be called from outside the module with any B: key 0.
// CHECK-LABEL: func.func @public_kernel
// CHECK: arith.constant dense<[0, 4, 8, 16, 16, 1, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]> : tensor<23xi64>
module {
  func.func @public_kernel(%a: tensor<4x16xf32>, %b: tensor<16x8xf32>) -> tensor<4x8xf32> attributes {ftensor.kernel} {
    %0 = "graph.mat_mul"(%a, %b) : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    return %0 : tensor<4x8xf32>
  }
  func.func @model(%x: tensor<4x16xf32>) -> tensor<4x8xf32> {
    %c = arith.constant dense<0.5> : tensor<16x8xf32>
    %0 = call @public_kernel(%x, %c) : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    return %0 : tensor<4x8xf32>
  }
}
