//! `graph-fold-batch-norm`: an inference BatchNormalization that follows a Conv is folded
//! into the Conv's weights and bias, when all of them are constants. A whole pass over
//! the activations, with a square root and a division per element, disappears.

use crate::registry::{PassId, PassInfo, PassOptions, external_pass};
use fuser_dialects::{
    accessors::op_name,
    ffi::{dense_f32_raw, erase_operation, has_single_use, make, nested_operations, replace_all_uses, tensor_info},
};
use melior::{
    ir::{
        BlockLike, OperationRef, Value, ValueLike,
        attribute::FloatAttribute,
        operation::{OperationBuilder, OperationLike, OperationResult},
    },
    pass::{ExternalPass, Pass},
};

static GRAPH_FOLD_BATCH_NORM_PASS_ID: PassId = PassId;

pub const INFO: PassInfo = PassInfo {
    flag: "graph-fold-batch-norm",
    type_name: "GraphFoldBatchNormPass",
    summary: "Fold an inference BatchNormalization into the Conv before it (constant weights)",
    description: r#"With `inv = scale / sqrt(var + epsilon)` per output channel, a Conv followed by
a BatchNormalization equals one Conv with weights `W * inv` (per output channel) and bias
`(b - mean) * inv + B`. The fold applies when the Conv's only user is the normalization,
and the Conv's weights and bias and the normalization's four parameters are constants
(`graph.constant`, or `arith.constant` once a driver has made weights constants), in f32.

Before:
```mlir
%y = "graph.conv"(%x, %w) {...} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
%z = "graph.batch_normalization"(%y, %scale, %b, %mean, %var) {epsilon = 1.0e-05 : f32, momentum = 0.9 : f32} : (...) -> tensor<1x4x6x6xf32>
```
After:
```mlir
%w2 = "graph.constant"() {value = dense<...> : tensor<4x3x3x3xf32>} : () -> tensor<4x3x3x3xf32>
%b2 = "graph.constant"() {value = dense<...> : tensor<4xf32>} : () -> tensor<4xf32>
%z = "graph.conv"(%x, %w2, %b2) {...} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x6x6xf32>
```"#,
    options: &[],
    create,
};

fn create(_options: &PassOptions) -> Result<Pass, String> {
    Ok(external_pass(
        &GRAPH_FOLD_BATCH_NORM_PASS_ID,
        &INFO,
        |op: OperationRef, _pass: ExternalPass| fold_batch_norms(op),
    ))
}

/// Folds every BatchNormalization under `root` that follows a Conv, where it can.
pub fn fold_batch_norms(root: OperationRef) {
    for bn in nested_operations(root) {
        if op_name(&bn) == "graph.batch_normalization" {
            fold(bn);
        }
    }
}

/// The f32 elements of a constant (graph or arith) operand.
fn constant(value: Value) -> Option<Vec<f32>> {
    let owner = OperationResult::try_from(value).ok()?.owner();
    matches!(op_name(&owner).as_str(), "graph.constant" | "arith.constant")
        .then(|| owner.attribute("value").ok().and_then(dense_f32_raw))
        .flatten()
}

/// A new `graph.constant` of shape `shape` holding `values` (f32) before `before`.
fn new_constant<'c, 'a>(before: OperationRef<'c, 'a>, shape: &[i64], values: &[f32]) -> Option<Value<'c, 'a>> {
    let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    crate::constant_ops::insert_constant(before, &fuser_dialects::semantics::Tensor::f32(&dims, values.to_vec()))
}

/// Folds `bn` into the conv that produces its input, if every condition holds.
fn fold(bn: OperationRef) -> Option<()> {
    // Training-mode outputs (running statistics) are never folded away.
    if bn.result_count() != 1 || bn.operand_count() != 5 {
        return None;
    }
    let input = bn.operand(0).ok()?;
    let conv = OperationResult::try_from(input).ok()?.owner();
    if op_name(&conv) != "graph.conv" || !has_single_use(input) {
        return None;
    }
    let weight_value = conv.operand(1).ok()?;
    let weight_shape = tensor_info(weight_value.r#type())?.static_shape()?;
    let mut weights = constant(weight_value)?;
    let features = weight_shape[0] as usize;
    let conv_bias = match conv.operand(2) {
        Ok(b) => constant(b)?,
        Err(_) => vec![0.0; features],
    };
    let params: Vec<Vec<f32>> = (1..5)
        .map(|i| bn.operand(i).ok().and_then(constant))
        .collect::<Option<_>>()?;
    let (scale, beta, mean, var) = (&params[0], &params[1], &params[2], &params[3]);
    if [scale, beta, mean, var, &conv_bias].iter().any(|p| p.len() != features) || weights.len() % features != 0 {
        return None;
    }
    let epsilon = FloatAttribute::try_from(bn.attribute("epsilon").ok()?).ok()?.value();
    // In f64, rounded once to f32, as the evaluator computes the unfolded pair.
    let inv: Vec<f64> = (0..features)
        .map(|f| scale[f] as f64 / (var[f] as f64 + epsilon).sqrt())
        .collect();
    let per_feature = weights.len() / features;
    for (f, row) in weights.chunks_mut(per_feature).enumerate() {
        for w in row {
            *w = (*w as f64 * inv[f]) as f32;
        }
    }
    let bias: Vec<f32> = (0..features)
        .map(|f| ((conv_bias[f] as f64 - mean[f] as f64) * inv[f] + beta[f] as f64) as f32)
        .collect();
    let new_weights = new_constant(conv, &weight_shape, &weights)?;
    let new_bias = new_constant(conv, &[features as i64], &bias)?;
    let x = conv.operand(0).ok()?;
    let attributes: Vec<_> = ["dilations", "group", "kernel_shape", "pads", "strides"]
        .into_iter()
        .map(|name| Some((make::identifier(conv.context(), name), conv.attribute(name).ok()?)))
        .collect::<Option<_>>()?;
    let result_type = bn.result(0).ok()?.r#type();
    let new_conv = OperationBuilder::new("graph.conv", bn.location())
        .add_operands(&[x, new_weights, new_bias])
        .add_attributes(&attributes)
        .add_results(&[result_type])
        .build()
        .ok()?;
    let new_conv = bn.block()?.insert_operation_before(bn, new_conv);
    replace_all_uses(bn.result(0).ok()?.into(), new_conv.result(0).ok()?.into());
    erase_operation(bn);
    erase_operation(conv);
    Some(())
}
