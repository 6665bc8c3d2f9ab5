//! `ftensor.quantize` and `ftensor.dequantize` on their own (outside an INT8 kernel), as
//! elementwise `linalg.generic`s: `clamp(roundeven(x / scale) + zero_point)` converted to
//! the integer type, and `(x - zero_point) · scale`, in f32 as the reference semantics.
//! The scale and zero point broadcast numpy-style, so they are per tensor, or per axis
//! along the last dim; another axis is refused by name.

use super::{
    OpView,
    elementwise::{convert, map_elementwise},
    text::{FuncText, Lowered, refuse},
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
    if count > 1 && axis != rank - 1 {
        return refuse(format!(
            "{} along axis {axis} of a rank-{rank} tensor has no CPU lowering yet (per tensor or along the last axis only)",
            view.op
        ));
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
        map_elementwise(f, &[x, scale, zero], out, |b, a| {
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
        map_elementwise(f, &[x, scale, zero], out, |b, a| {
            let x = convert(b, &a[0], x_type, DType::F32)?;
            let z = convert(b, &a[2], zero_type, DType::F32)?;
            let centered = b.assign(format!("arith.subf {x}, {z} : f32"));
            Ok(b.assign(format!("arith.mulf {centered}, {} : f32", a[1])))
        })?
    };
    Ok(vec![result])
}
