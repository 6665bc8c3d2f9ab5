//! One function per op: direct transcriptions of the ONNX definitions.

use super::{EvalError, Tensor, result_shape};
use crate::{
    accessors::{float, i64_array, integer},
    ffi::{dense_f32_values, dense_i64_values},
    verify::broadcast_shapes,
};
use melior::ir::{OperationRef, operation::OperationLike};
use ndarray::{ArrayD, IxDyn, Zip};

fn invalid(op: &str, message: impl Into<String>) -> EvalError {
    EvalError::Invalid { op: op.to_string(), message: message.into() }
}

fn f32_operand<'t>(op: &str, operands: &'t [Tensor], i: usize) -> Result<&'t ArrayD<f32>, EvalError> {
    match operands.get(i) {
        Some(Tensor::F32(a)) => Ok(a),
        Some(_) => Err(EvalError::Unsupported(format!("{op} on a non-f32 operand"))),
        None => Err(invalid(op, format!("missing operand #{i}"))),
    }
}

fn i64_operand<'t>(op: &str, operands: &'t [Tensor], i: usize) -> Result<&'t ArrayD<i64>, EvalError> {
    match operands.get(i) {
        Some(Tensor::I64(a)) => Ok(a),
        _ => Err(invalid(op, format!("operand #{i} must be an i64 tensor"))),
    }
}

fn unary(op: &str, operands: &[Tensor], f: impl Fn(f32) -> f32) -> Result<Vec<Tensor>, EvalError> {
    Ok(vec![Tensor::F32(f32_operand(op, operands, 0)?.mapv(f))])
}

/// Broadcasts `a` and `b` to their common shape and combines them elementwise.
fn binary(op: &str, a: &ArrayD<f32>, b: &ArrayD<f32>, f: impl Fn(f32, f32) -> f32) -> Result<ArrayD<f32>, EvalError> {
    let shape = broadcast_shapes(&[
        a.shape().iter().map(|&d| d as i64).collect(),
        b.shape().iter().map(|&d| d as i64).collect(),
    ])
    .map_err(|m| invalid(op, m))?;
    let shape: Vec<usize> = shape.into_iter().map(|d| d as usize).collect();
    let a = a.broadcast(IxDyn(&shape)).ok_or_else(|| invalid(op, "cannot broadcast"))?;
    let b = b.broadcast(IxDyn(&shape)).ok_or_else(|| invalid(op, "cannot broadcast"))?;
    Ok(Zip::from(&a).and(&b).map_collect(|&x, &y| f(x, y)))
}

fn variadic(op: &str, operands: &[Tensor], f: impl Fn(f32, f32) -> f32 + Copy) -> Result<Vec<Tensor>, EvalError> {
    let mut acc = f32_operand(op, operands, 0)?.clone();
    for i in 1..operands.len() {
        acc = binary(op, &acc, f32_operand(op, operands, i)?, f)?;
    }
    Ok(vec![Tensor::F32(acc)])
}

/// ONNX Reshape: `0` copies the input dim (unless allowzero), `-1` is inferred.
fn reshape(op: &str, data: &Tensor, shape: &ArrayD<i64>, allowzero: bool) -> Result<Tensor, EvalError> {
    let input = data.shape().to_vec();
    let count: usize = input.iter().product();
    let mut dims: Vec<i64> = shape.iter().copied().collect();
    for (i, d) in dims.iter_mut().enumerate() {
        if *d == 0 && !allowzero {
            *d = *input.get(i).ok_or_else(|| invalid(op, "a 0 in the shape has no input dim to copy"))? as i64;
        }
    }
    let known: i64 = dims.iter().filter(|&&d| d != -1).product();
    if dims.iter().filter(|&&d| d == -1).count() > 1 || dims.iter().any(|&d| d < -1) {
        return Err(invalid(op, "invalid target shape"));
    }
    let dims: Vec<usize> = dims
        .iter()
        .map(|&d| if d == -1 { if known == 0 { 0 } else { count / known as usize } } else { d as usize })
        .collect();
    if dims.iter().product::<usize>() != count {
        return Err(invalid(op, format!("cannot reshape {count} elements into {dims:?}")));
    }
    Ok(match data {
        Tensor::F32(a) => Tensor::F32(a.as_standard_layout().to_owned().into_shape_with_order(IxDyn(&dims)).expect("checked count")),
        Tensor::I64(a) => Tensor::I64(a.as_standard_layout().to_owned().into_shape_with_order(IxDyn(&dims)).expect("checked count")),
    })
}

fn transpose(data: &Tensor, perm: &[usize]) -> Tensor {
    match data {
        Tensor::F32(a) => Tensor::F32(a.clone().permuted_axes(IxDyn(perm)).as_standard_layout().to_owned()),
        Tensor::I64(a) => Tensor::I64(a.clone().permuted_axes(IxDyn(perm)).as_standard_layout().to_owned()),
    }
}

fn constant(op: &OperationRef, name: &str) -> Result<Tensor, EvalError> {
    let shape = result_shape(op, 0).ok_or_else(|| invalid(name, "a constant needs a static shape"))?;
    let value = op.attribute("value").map_err(|_| invalid(name, "missing 'value'"))?;
    if let Some(values) = dense_f32_values(value) {
        return Ok(Tensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), values).map_err(|e| invalid(name, e.to_string()))?));
    }
    if let Some(values) = dense_i64_values(value) {
        return Ok(Tensor::I64(ArrayD::from_shape_vec(IxDyn(&shape), values).map_err(|e| invalid(name, e.to_string()))?));
    }
    Err(EvalError::Unsupported(format!("{name} of an element type other than f32 and i64")))
}

pub(super) fn evaluate_op(op: &OperationRef, name: &str, operands: &[Tensor]) -> Result<Vec<Tensor>, EvalError> {
    let short = name.strip_prefix("graph.").ok_or_else(|| EvalError::Unsupported(name.to_string()))?;
    match short {
        "constant" => Ok(vec![constant(op, name)?]),
        "identity" => Ok(vec![operands[0].clone()]),
        // Inference: Dropout is the identity, and its mask is all true (unsupported here).
        "dropout" if op.result_count() == 1 => Ok(vec![operands[0].clone()]),
        "cast" => {
            let to = integer(op, "to");
            match (&operands[0], to) {
                (Tensor::F32(a), 1) => Ok(vec![Tensor::F32(a.clone())]),
                (Tensor::I64(a), 7) => Ok(vec![Tensor::I64(a.clone())]),
                (Tensor::F32(a), 7) => Ok(vec![Tensor::I64(a.mapv(|x| x as i64))]),
                (Tensor::I64(a), 1) => Ok(vec![Tensor::F32(a.mapv(|x| x as f32))]),
                _ => Err(EvalError::Unsupported(format!("{name} to ONNX type {to}"))),
            }
        }
        "relu" => unary(name, operands, |x| x.max(0.0)),
        "neg" => unary(name, operands, |x| -x),
        "abs" => unary(name, operands, f32::abs),
        "exp" => unary(name, operands, f32::exp),
        "tanh" => unary(name, operands, f32::tanh),
        "sqrt" => unary(name, operands, f32::sqrt),
        "sigmoid" => unary(name, operands, |x| 1.0 / (1.0 + (-x).exp())),
        "leaky_relu" => {
            let alpha = float(op, "alpha") as f32;
            unary(name, operands, move |x| if x >= 0.0 { x } else { alpha * x })
        }
        "add" => variadic(name, operands, |a, b| a + b),
        "sub" => variadic(name, operands, |a, b| a - b),
        "mul" => variadic(name, operands, |a, b| a * b),
        "div" => variadic(name, operands, |a, b| a / b),
        "max" => variadic(name, operands, f32::max),
        "min" => variadic(name, operands, f32::min),
        "sum" => variadic(name, operands, |a, b| a + b),
        "transpose" => {
            let perm: Vec<usize> = i64_array(op, "perm").into_iter().map(|p| p as usize).collect();
            if perm.len() != operands[0].shape().len() {
                return Err(invalid(name, "'perm' does not match the rank"));
            }
            Ok(vec![transpose(&operands[0], &perm)])
        }
        "reshape" => {
            let shape = i64_operand(name, operands, 1)?;
            Ok(vec![reshape(name, &operands[0], shape, integer(op, "allowzero") != 0)?])
        }
        _ => Err(EvalError::Unsupported(name.to_string())),
    }
}
