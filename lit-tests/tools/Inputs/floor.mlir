// A model with an op that has no aclnn mapping (compile-ascend.mlir).
func.func @floor_model(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "graph.floor"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
