//! Conversions between evaluator tensors and MLIR dense elements attributes.

use crate::semantics::{DType, Data, Tensor, TypeInfo};
use melior::{Context, ir::Attribute};
use std::fmt::Write as _;

/// The little-endian bytes of a tensor's elements in its dtype (bool: one byte each).
pub fn tensor_bytes(tensor: &Tensor) -> Vec<u8> {
    let mut out = Vec::with_capacity(tensor.len() * tensor.dtype.size());
    match (&tensor.data, tensor.dtype) {
        (Data::Float(a), DType::F32) => a.iter().for_each(|&v| out.extend((v as f32).to_le_bytes())),
        (Data::Float(a), DType::F64) => a.iter().for_each(|&v| out.extend(v.to_le_bytes())),
        (Data::Float(a), DType::F16) => a.iter().for_each(|&v| out.extend(half::f16::from_f64(v).to_le_bytes())),
        (Data::Float(a), DType::BF16) => a
            .iter()
            .for_each(|&v| out.extend(half::bf16::from_f64(v).to_le_bytes())),
        (Data::Int(a), DType::I8) => a.iter().for_each(|&v| out.push(v as i8 as u8)),
        (Data::Int(a), DType::U8) => a.iter().for_each(|&v| out.push(v as u8)),
        (Data::Int(a), DType::I32) => a.iter().for_each(|&v| out.extend((v as i32).to_le_bytes())),
        (Data::Int(a), DType::I64) => a.iter().for_each(|&v| out.extend(v.to_le_bytes())),
        (Data::Bool(a), _) => a.iter().for_each(|&v| out.push(u8::from(v))),
        _ => unreachable!("a tensor's data kind always matches its dtype"),
    }
    out
}

/// A tensor from little-endian bytes in `dtype` (the inverse of [`tensor_bytes`]).
pub fn tensor_from_bytes(dtype: DType, shape: &[usize], bytes: &[u8]) -> Option<Tensor> {
    use ndarray::{ArrayD, IxDyn};
    let count: usize = shape.iter().product();
    if bytes.len() != count * dtype.size() {
        return None;
    }
    let chunks = bytes.chunks_exact(dtype.size());
    let shape = IxDyn(shape);
    Some(match dtype {
        DType::F32 => Tensor::float(
            dtype,
            ArrayD::from_shape_vec(
                shape,
                chunks
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                    .collect(),
            )
            .ok()?,
        ),
        DType::F64 => Tensor::float(
            dtype,
            ArrayD::from_shape_vec(
                shape,
                chunks.map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect(),
            )
            .ok()?,
        ),
        DType::F16 => Tensor::float(
            dtype,
            ArrayD::from_shape_vec(
                shape,
                chunks
                    .map(|c| half::f16::from_le_bytes(c.try_into().unwrap()).to_f64())
                    .collect(),
            )
            .ok()?,
        ),
        DType::BF16 => Tensor::float(
            dtype,
            ArrayD::from_shape_vec(
                shape,
                chunks
                    .map(|c| half::bf16::from_le_bytes(c.try_into().unwrap()).to_f64())
                    .collect(),
            )
            .ok()?,
        ),
        DType::I8 => Tensor::int(
            dtype,
            ArrayD::from_shape_vec(shape, chunks.map(|c| c[0] as i8 as i64).collect()).ok()?,
        ),
        DType::U8 => Tensor::int(
            dtype,
            ArrayD::from_shape_vec(shape, chunks.map(|c| c[0] as i64).collect()).ok()?,
        ),
        DType::I32 => Tensor::int(
            dtype,
            ArrayD::from_shape_vec(
                shape,
                chunks
                    .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64)
                    .collect(),
            )
            .ok()?,
        ),
        DType::I64 => Tensor::int(
            dtype,
            ArrayD::from_shape_vec(
                shape,
                chunks.map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect(),
            )
            .ok()?,
        ),
        DType::Bool => Tensor::bool(ArrayD::from_shape_vec(shape, chunks.map(|c| c[0] != 0).collect()).ok()?),
    })
}

/// The `dense<...>` attribute text of a tensor. Numbers are written as hex of their bytes,
/// which is exact for every dtype; a tensor whose elements are all equal is a splat (so a
/// ConstantOfShape never expands element by element).
pub fn dense_text(tensor: &Tensor) -> String {
    let ty = TypeInfo::fixed(tensor.dtype, tensor.shape()).mlir();
    let bytes = tensor_bytes(tensor);
    let size = tensor.dtype.size();
    let splat = tensor.len() > 1 && bytes.chunks_exact(size).all(|c| c == &bytes[..size]);
    if tensor.dtype == DType::Bool {
        let values: Vec<&str> = bytes.iter().map(|&b| if b != 0 { "true" } else { "false" }).collect();
        return if splat || tensor.len() == 1 {
            format!("dense<{}> : {ty}", values.first().copied().unwrap_or("false"))
        } else if tensor.is_empty() {
            format!("dense<> : {ty}")
        } else {
            format!("dense<{}> : {ty}", nested(&values, tensor.shape()))
        };
    }
    if tensor.is_empty() {
        return format!("dense<> : {ty}");
    }
    let payload = if splat { &bytes[..size] } else { &bytes[..] };
    let mut hex = String::with_capacity(payload.len() * 2 + 2);
    hex.push_str("0x");
    for b in payload {
        write!(hex, "{b:02X}").unwrap();
    }
    format!("dense<\"{hex}\"> : {ty}")
}

/// Writes a flat row-major list as nested brackets, as MLIR's literal syntax wants.
fn nested(values: &[&str], shape: &[usize]) -> String {
    match shape {
        [] => values[0].to_string(),
        [_] => format!("[{}]", values.join(", ")),
        [first, rest @ ..] => {
            let chunk = values.len() / first.max(&1);
            let parts: Vec<String> = values.chunks(chunk.max(1)).map(|c| nested(c, rest)).collect();
            format!("[{}]", parts.join(", "))
        }
    }
}

/// A dense elements attribute holding `tensor`.
pub fn tensor_attribute<'c>(context: &'c Context, tensor: &Tensor) -> Option<Attribute<'c>> {
    Attribute::parse(context, &dense_text(tensor))
}

/// Like [`tensor_attribute`], for code that holds a `ContextRef` (passes, builders).
pub fn tensor_attribute_in<'c>(context: melior::ContextRef<'c>, tensor: &Tensor) -> Option<Attribute<'c>> {
    crate::ffi::parse_attribute(context, &dense_text(tensor))
}

/// The value of `value` when a `graph.constant` defines it.
pub fn graph_constant_value(value: melior::ir::Value) -> Option<Tensor> {
    use melior::ir::operation::{OperationLike, OperationResult};
    let owner = OperationResult::try_from(value).ok()?.owner();
    (crate::accessors::op_name(&owner) == "graph.constant")
        .then(|| owner.attribute("value").ok().and_then(crate::ffi::dense_to_tensor))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{create_context, ffi::dense_to_tensor};

    #[test]
    fn every_dtype_round_trips_through_an_attribute() {
        let context = create_context().unwrap();
        let base = Tensor::f32(&[2, 3], vec![1.5, -2.25, 0.0, 3.0, -7.0, 100.0]);
        for dtype in DType::ALL {
            let t = base.cast(dtype);
            let attribute = tensor_attribute(&context, &t).unwrap_or_else(|| panic!("{dtype}: {}", dense_text(&t)));
            assert_eq!(dense_to_tensor(attribute).as_ref(), Some(&t), "{dtype}");
            assert_eq!(
                tensor_from_bytes(dtype, t.shape(), &tensor_bytes(&t)).as_ref(),
                Some(&t),
                "{dtype}"
            );
        }
    }

    #[test]
    fn uniform_tensors_become_splats() {
        let t = Tensor::full(DType::F32, &[64, 64], 0.5);
        let text = dense_text(&t);
        assert_eq!(text, "dense<\"0x0000003F\"> : tensor<64x64xf32>");
        let context = create_context().unwrap();
        assert_eq!(dense_to_tensor(tensor_attribute(&context, &t).unwrap()), Some(t));
    }
}
