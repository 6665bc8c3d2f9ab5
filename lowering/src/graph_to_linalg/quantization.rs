//! `ftensor.quantize` and `ftensor.dequantize` on their own (outside an INT8 kernel), as
//! elementwise `linalg.generic`s: `clamp(roundeven(x / scale) + zero_point)` converted to
//! the integer type, and `(x - zero_point) · scale`, in f32 as the reference semantics.
//! The scale and zero point are per tensor (read at index 0 for every element) or per
//! axis (read at the element's index along the axis).

use super::{
    OpView,
    elementwise::convert,
    text::{
        Body, FuncText, GenericInput, Lowered, affine_map, element, generic, identity_map, refuse, static_shape,
        tensor_type,
    },
};
use fuser_dialects::semantics::DType;

pub fn handles(op: &str) -> bool {
    matches!(op, "ftensor.quantize" | "ftensor.dequantize")
}

pub fn lower(f: &mut FuncText, view: &OpView) -> Lowered<Vec<String>> {
    let (x, scale, zero) = (view.input(0)?, view.input(1)?, view.input(2)?);
    let out = view.result(0)?;
    let rank = x.info.rank() as i64;
    let count: i64 = scale.info.shape.iter().map(|d| d.unwrap_or(0)).product();
    let axis = view.int("axis")?;
    let axis = if axis < 0 { axis + rank } else { axis };
    let per_axis = count > 1;
    if per_axis && !(0..rank).contains(&axis) {
        return refuse(format!("{}: axis {axis} is out of range for rank {rank}", view.op));
    }
    if scale.info.dtype != DType::F32 {
        return refuse(format!(
            "{} with a {} scale has no CPU lowering yet",
            view.op, scale.info.dtype
        ));
    }
    let (x_type, zero_type, out_type) = (x.info.dtype, zero.info.dtype, out.dtype);
    let result = if view.op == "ftensor.quantize" {
        let (lo, hi) = match out_type {
            DType::U8 => (0.0, 255.0),
            DType::I8 => (-128.0, 127.0),
            other => return refuse(format!("ftensor.quantize to {other} has no CPU lowering yet")),
        };
        map_with_parameters(f, [x, scale, zero], out, per_axis.then_some(axis as usize), |b, a| {
            let x = convert(b, &a[0], x_type, DType::F32)?;
            let z = convert(b, &a[2], zero_type, DType::F32)?;
            let v = b.assign(format!("arith.divf {x}, {} : f32", a[1]));
            let r = b.assign(format!("math.roundeven {v} : f32"));
            let shifted = b.assign(format!("arith.addf {r}, {z} : f32"));
            let (low, high) = (b.constant(lo, DType::F32)?, b.constant(hi, DType::F32)?);
            let above = b.assign(format!("arith.maximumf {shifted}, {low} : f32"));
            let clamped = b.assign(format!("arith.minimumf {above}, {high} : f32"));
            convert(b, &clamped, DType::F32, out_type)
        })?
    } else {
        map_with_parameters(f, [x, scale, zero], out, per_axis.then_some(axis as usize), |b, a| {
            let x = convert(b, &a[0], x_type, DType::F32)?;
            let z = convert(b, &a[2], zero_type, DType::F32)?;
            let centered = b.assign(format!("arith.subf {x}, {z} : f32"));
            Ok(b.assign(format!("arith.mulf {centered}, {} : f32", a[1])))
        })?
    };
    Ok(vec![result])
}

/// One `linalg.generic` over `x`'s elements reading the scale and zero point at index 0
/// (per tensor) or at the element's index along `axis`.
fn map_with_parameters(
    f: &mut FuncText,
    [x, scale, zero]: [&super::Operand; 3],
    out: &fuser_dialects::semantics::TypeInfo,
    axis: Option<usize>,
    body: impl FnOnce(&mut Body, &[String]) -> Lowered<String>,
) -> Lowered<String> {
    let shape = static_shape(out)?;
    let rank = shape.len();
    let mut inputs = vec![GenericInput {
        name: x.name.clone(),
        ty: tensor_type(&static_shape(&x.info)?, x.info.dtype)?,
        map: identity_map(rank),
        element: element(x.info.dtype)?.to_string(),
    }];
    for parameter in [scale, zero] {
        let parameter_shape = static_shape(&parameter.info)?;
        let index = match axis {
            Some(a) => format!("d{a}"),
            None => "0".to_string(),
        };
        let exprs = vec![index; parameter_shape.len()];
        inputs.push(GenericInput {
            name: parameter.name.clone(),
            ty: tensor_type(&parameter_shape, parameter.info.dtype)?,
            map: affine_map(rank, &exprs),
            element: element(parameter.info.dtype)?.to_string(),
        });
    }
    let out_ty = tensor_type(&shape, out.dtype)?;
    let init = f.empty(&out_ty);
    generic(
        f,
        &inputs,
        (&init, &out_ty, &identity_map(rank), element(out.dtype)?),
        &vec![false; rank],
        body,
    )
}
