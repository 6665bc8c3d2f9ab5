//! `convert-ftensor-to-cann`: the driver of `fuser_lowering::cann::convert`.

use crate::registry::{PassId, PassInfo, PassOptions, external_pass};
use melior::{
    ir::OperationRef,
    pass::{ExternalPass, Pass},
};

static CONVERT_FTENSOR_TO_CANN_PASS_ID: PassId = PassId;

pub const INFO: PassInfo = PassInfo {
    flag: "convert-ftensor-to-cann",
    type_name: "ConvertFtensorToCannPass",
    summary: "Map every graph op of the fused kernels to the aclnn calls of the cann dialect (Huawei Ascend)",
    description: r#"Each graph op becomes the `cann` ops (one per aclnn entry point) that compute
it, so a fused kernel is a sequence of aclnn calls that the C++ emitter runs with one
shared workspace. aclnn's fused entry points are used where they exist: a convolution
and its bias are one `cann.convolution` (aclnnConvolution), a Gemm with C one
`cann.addmm` (a transposed operand goes through `cann.permute`). Reshape, Flatten,
Squeeze, Unsqueeze and Identity become `cann.reshape`, a new descriptor over the same
device memory. `graph.constant`s stay: they are the weights. The mapped ops: Conv,
MatMul, Gemm, Add, Sub, Mul, Div, Relu, LeakyRelu, Sigmoid, Tanh, Exp, Sqrt, Gelu, Clip, MaxPool,
AveragePool (2-D), GlobalAveragePool (2-D), Softmax, LayerNormalization,
BatchNormalization, Concat, Transpose, ReduceSum, ReduceMean and the reshapes. Any other
op, or an attribute aclnn cannot express (asymmetric padding, a non-constant Clip bound, a
pooling that is not 2-D, an axis out of range), or arithmetic on integer tensors, is an
error at the op that names it; nothing is dropped.

Before:
```mlir
%0 = "graph.conv"(%x, %w, %b) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 1, 1>} : (...) -> tensor<1x8x4x4xf32>
%1 = "graph.relu"(%0) : (tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32>
```
After:
```mlir
%0 = "cann.convolution"(%x, %w, %b) {cube_math_type = 0 : i64, dilation = array<i64: 1, 1>, groups = 1 : i64, output_padding = array<i64: 0, 0>, padding = array<i64: 1, 1>, stride = array<i64: 1, 1>, transposed = 0 : i64, operandSegmentSizes = array<i32: 1, 1, 1>} : (...) -> tensor<1x8x4x4xf32>
%1 = "cann.relu"(%0) : (tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32>
```"#,
    options: &[],
    create,
};

fn create(_options: &PassOptions) -> Result<Pass, String> {
    Ok(external_pass(
        &CONVERT_FTENSOR_TO_CANN_PASS_ID,
        &INFO,
        |op: OperationRef, pass: ExternalPass| {
            if !fuser_lowering::cann::convert_ftensor_to_cann(op) {
                pass.signal_failure();
            }
        },
    ))
}
