//! The reference evaluator of the graph dialect: the oracle that passes and rewrites are
//! checked against on random inputs.
//!
//! It is written to be obviously correct, not fast: each op is a direct transcription of
//! its ONNX definition over `ndarray`. Today it covers f32 and i64 tensors and the ops that
//! the graph passes touch (views, casts, elementwise math, broadcasting binaries); an op
//! it does not know is an `EvalError::Unsupported` naming the op, never a wrong answer. The
//! Frontends issue extends it to the whole op set and every dtype.

mod ops;

use crate::{accessors::op_name, ffi::nested_operations};
use melior::ir::{
    BlockLike, OperationRef, RegionLike, Value, ValueLike,
    operation::OperationLike,
};
use ndarray::ArrayD;
use std::collections::HashMap;

/// A runtime tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum Tensor {
    F32(ArrayD<f32>),
    I64(ArrayD<i64>),
}

impl Tensor {
    pub fn shape(&self) -> &[usize] {
        match self {
            Tensor::F32(a) => a.shape(),
            Tensor::I64(a) => a.shape(),
        }
    }
}

/// Why a function could not be evaluated.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EvalError {
    #[error("the reference evaluator does not support '{0}' yet")]
    Unsupported(String),
    #[error("'{op}': {message}")]
    Invalid { op: String, message: String },
    #[error("the function takes {expected} inputs, {got} were given")]
    InputCount { expected: usize, got: usize },
    #[error("no function named '{0}'")]
    NoFunction(String),
}

fn value_key(value: Value) -> usize {
    value.to_raw().ptr as usize
}

/// Evaluates the `func.func` named `name` in `module_op` on `inputs`.
pub fn evaluate(module_op: OperationRef, name: &str, inputs: &[Tensor]) -> Result<Vec<Tensor>, EvalError> {
    let function = nested_operations(module_op)
        .into_iter()
        .find(|op| {
            op_name(op) == "func.func"
                && op
                    .attribute("sym_name")
                    .ok()
                    .and_then(|a| melior::ir::attribute::StringAttribute::try_from(a).ok())
                    .is_some_and(|s| s.value() == name)
        })
        .ok_or_else(|| EvalError::NoFunction(name.to_string()))?;
    evaluate_function(function, inputs)
}

/// Evaluates a `func.func` whose body is one block of graph ops ended by `func.return`.
pub fn evaluate_function(function: OperationRef, inputs: &[Tensor]) -> Result<Vec<Tensor>, EvalError> {
    let region = function.region(0).map_err(|_| EvalError::Unsupported("a function without a body".into()))?;
    let block = region.first_block().ok_or_else(|| EvalError::Unsupported("a function without a body".into()))?;
    if block.argument_count() != inputs.len() {
        return Err(EvalError::InputCount { expected: block.argument_count(), got: inputs.len() });
    }
    let mut env: HashMap<usize, Tensor> = HashMap::new();
    for (i, input) in inputs.iter().enumerate() {
        let argument = block.argument(i).expect("index below argument_count");
        env.insert(value_key(argument.into()), input.clone());
    }
    let mut op = block.first_operation();
    while let Some(current) = op {
        let name = op_name(&current);
        let operands: Vec<Option<Tensor>> = current.operands().map(|v| env.get(&value_key(v)).cloned()).collect();
        if name == "func.return" {
            return operands
                .into_iter()
                .map(|t| t.ok_or_else(|| EvalError::Unsupported("a returned value with no definition".into())))
                .collect();
        }
        let operands: Vec<Tensor> = operands
            .into_iter()
            .map(|t| t.ok_or_else(|| EvalError::Invalid { op: name.clone(), message: "an operand has no value".into() }))
            .collect::<Result<_, _>>()?;
        let results = ops::evaluate_op(&current, &name, &operands)?;
        for (result, tensor) in current.results().zip(results) {
            env.insert(value_key(result.into()), tensor);
        }
        op = current.next_in_block();
    }
    Err(EvalError::Unsupported("a function without func.return".into()))
}

/// The static shape of result `index` of `op`, which the evaluator needs for constants.
pub(crate) fn result_shape(op: &OperationRef, index: usize) -> Option<Vec<usize>> {
    let result = op.result(index).ok()?;
    crate::ffi::tensor_info(result.r#type())?
        .static_shape()
        .map(|s| s.into_iter().map(|d| d as usize).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{create_context, ffi::parse_module};
    use ndarray::{ArrayD, IxDyn, array};

    fn run(text: &str, inputs: &[Tensor]) -> Result<Vec<Tensor>, EvalError> {
        let context = create_context().unwrap();
        let module = parse_module(&context, text, "test.mlir").expect("parses");
        evaluate(module.as_operation(), "f", inputs)
    }

    fn f32s(shape: &[usize], values: Vec<f32>) -> Tensor {
        Tensor::F32(ArrayD::from_shape_vec(IxDyn(shape), values).unwrap())
    }

    #[test]
    fn transpose_moves_elements_by_perm() {
        let out = run(
            r#"func.func @f(%x: tensor<2x3xf32>) -> tensor<3x2xf32> {
                 %0 = "graph.transpose"(%x) {perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
                 return %0 : tensor<3x2xf32> }"#,
            &[f32s(&[2, 3], vec![1., 2., 3., 4., 5., 6.])],
        )
        .unwrap();
        assert_eq!(out, vec![Tensor::F32(array![[1., 4.], [2., 5.], [3., 6.]].into_dyn())]);
    }

    #[test]
    fn reshape_copies_zero_dims_and_infers_minus_one() {
        let out = run(
            r#"func.func @f(%x: tensor<2x3x4xf32>) -> tensor<2x12xf32> {
                 %s = "graph.constant"() {value = dense<[0, -1]> : tensor<2xi64>} : () -> tensor<2xi64>
                 %0 = "graph.reshape"(%x, %s) {allowzero = 0 : i64} : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<2x12xf32>
                 return %0 : tensor<2x12xf32> }"#,
            &[f32s(&[2, 3, 4], (0..24).map(|v| v as f32).collect())],
        )
        .unwrap();
        assert_eq!(out[0].shape(), &[2, 12]);
        let Tensor::F32(a) = &out[0] else { panic!() };
        assert_eq!(a[[1, 0]], 12.0, "row-major order is kept");
    }

    #[test]
    fn binary_ops_broadcast_and_leaky_relu_scales_negatives() {
        let out = run(
            r#"func.func @f(%x: tensor<2x3xf32>, %r: tensor<3xf32>) -> tensor<2x3xf32> {
                 %0 = "graph.sub"(%x, %r) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
                 %1 = "graph.leaky_relu"(%0) {alpha = 0.5 : f32} : (tensor<2x3xf32>) -> tensor<2x3xf32>
                 return %1 : tensor<2x3xf32> }"#,
            &[f32s(&[2, 3], vec![1., 2., 3., 4., 5., 6.]), f32s(&[3], vec![2., 2., 2.])],
        )
        .unwrap();
        assert_eq!(out, vec![Tensor::F32(array![[-0.5, 0., 1.], [2., 3., 4.]].into_dyn())]);
    }

    #[test]
    fn unknown_ops_are_reported_not_guessed() {
        let err = run(
            r#"func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
                 %0 = "graph.erf"(%x) : (tensor<4xf32>) -> tensor<4xf32>
                 return %0 : tensor<4xf32> }"#,
            &[f32s(&[4], vec![1., 2., 3., 4.])],
        )
        .unwrap_err();
        assert_eq!(err, EvalError::Unsupported("graph.erf".into()));
    }
}
