//! Affine quantization (the ftensor ops): `quantize`, `dequantize`, and the quantized
//! contractions `quantized_conv` and `quantized_mat_mul`, which are defined as their
//! float contraction over dequantized operands:
//!
//! - `quantized_conv(x, w, w_scale, x_scale, x_zero_point, b?)` =
//!   `conv(dequantize(quantize(x, x_scale, x_zero_point)), dequantize(w, w_scale, 0, axis 0), b)`;
//! - `quantized_mat_mul(a, b, b_scale, a_scale, a_zero_point)` =
//!   `mat_mul(dequantize(quantize(a, ...)), dequantize(b, b_scale, 0, axis 1))`.
//!
//! An activation (`x`, `a`) of the zero point's integer type is already quantized: its
//! codes are dequantized as they are (a quantized kernel that hands its consumer codes,
//! `ftensor-int8-activations`).
//!
//! So the reference evaluator, constant folding and the e-graph all read one definition,
//! and a backend is free to compute the product in integers (the products of two 8-bit
//! values summed in 32 bits are exact) and scale once.
//!
//! Scales are f32, and quantization divides in f32 as ONNX `QuantizeLinear` does, so the
//! rounding matches onnxruntime's.

use super::{Args, Attr, Attrs, DType, Known, SemError, Tensor, TypeInfo, invalid};
use ndarray::ArrayD;

const OPS: &[&str] = &["quantize", "dequantize", "quantized_conv", "quantized_mat_mul"];

fn integer_range(dtype: DType) -> Result<(f64, f64), SemError> {
    Ok(match dtype {
        DType::I8 => (-128.0, 127.0),
        DType::U8 => (0.0, 255.0),
        DType::I32 => (i32::MIN as f64, i32::MAX as f64),
        other => return Err(SemError::Unsupported(format!("quantization to {other}"))),
    })
}

pub(super) fn infer(op: &str, attrs: &Attrs, args: &Args<Known>) -> Option<Result<Vec<TypeInfo>, SemError>> {
    if !OPS.contains(&op) {
        return None;
    }
    Some((|| -> Result<Vec<TypeInfo>, SemError> {
        let x = &args.get(0)?.info;
        Ok(match op {
            "quantize" => {
                let zero_point = &args.get(2)?.info;
                integer_range(zero_point.dtype)?;
                vec![TypeInfo::new(zero_point.dtype, x.shape.clone())]
            }
            "dequantize" => vec![TypeInfo::new(args.get(1)?.info.dtype, x.shape.clone())],
            _ => {
                let (float, slots) = contraction(op);
                let mut inputs = vec![Some(Known::of_type(TypeInfo::new(DType::F32, x.shape.clone())))];
                inputs.push(Some(Known::of_type(TypeInfo::new(
                    DType::F32,
                    args.get(1)?.info.shape.clone(),
                ))));
                inputs.extend(slots.iter().map(|&s| args.opt(s).cloned()));
                super::infer(float, attrs, &inputs)?
            }
        })
    })())
}

/// The float op of a quantized contraction and the slots it passes on after its two
/// operands (a conv's bias).
fn contraction(op: &str) -> (&'static str, &'static [usize]) {
    match op {
        "quantized_conv" => ("conv", &[5]),
        _ => ("mat_mul", &[]),
    }
}

pub(super) fn evaluate(op: &str, attrs: &Attrs, args: &Args<Tensor>) -> Option<Result<Vec<Tensor>, SemError>> {
    if !OPS.contains(&op) {
        return None;
    }
    Some((|| -> Result<Vec<Tensor>, SemError> {
        let x = args.get(0)?;
        Ok(match op {
            "quantize" => vec![quantize(x, args.get(1)?, args.get(2)?, attrs.int("axis")?)?],
            "dequantize" => vec![dequantize(x, args.get(1)?, args.get(2)?, attrs.int("axis")?)?],
            _ => {
                let (float, slots) = contraction(op);
                let (w, w_scale) = (args.get(1)?, args.get(2)?);
                let (x_scale, x_zero_point) = (args.get(3)?, args.get(4)?);
                // An integer activation is already quantized (its codes).
                let codes = if x.dtype.is_float() {
                    quantize(x, x_scale, x_zero_point, 0)?
                } else if x.dtype == x_zero_point.dtype {
                    x.clone()
                } else {
                    return invalid("an integer activation must have its zero point's type");
                };
                let x = dequantize(&codes, x_scale, x_zero_point, 0)?;
                let w_axis = if op == "quantized_conv" {
                    0
                } else {
                    w.shape().len() as i64 - 1
                };
                let w_zero = Tensor::full(w.dtype, w_scale.shape(), 0.0);
                let w = dequantize(w, w_scale, &w_zero, w_axis)?;
                let mut inputs = vec![Some(x), Some(w)];
                inputs.extend(slots.iter().map(|&s| args.opt(s).cloned()));
                super::evaluate(float, attrs, &inputs)?
            }
        })
    })())
}

/// The scale and zero point of each element of `x`: per tensor when `scale` is 0-d or has
/// one value, else per slice of `axis`.
fn per_element(
    x: &Tensor,
    scale: &Tensor,
    zero_point: &Tensor,
    axis: i64,
) -> Result<impl Fn(&ndarray::IxDyn) -> (f32, f64), SemError> {
    let rank = x.shape().len();
    let (scales, zeros) = (scale.to_f64_vec(), zero_point.to_f64_vec());
    if scales.len() != zeros.len() || scales.is_empty() {
        return invalid("scale and zero point must have the same, non-zero number of values");
    }
    let per_axis = scale.shape().len() == 1 && scales.len() > 1;
    // The axis only matters per axis (ONNX's default of 1 comes with per-tensor
    // quantization of rank-1 tensors too).
    let axis = if per_axis { super::axis(axis, rank)? } else { 0 };
    if per_axis && x.shape()[axis] != scales.len() {
        return invalid("a per-axis scale must have one value per slice of the axis");
    }
    Ok(move |p: &ndarray::IxDyn| {
        let i = if per_axis { p[axis] } else { 0 };
        (scales[i] as f32, zeros[i])
    })
}

/// `saturate(round_half_even(x / scale) + zero_point)`, the division in f32.
pub fn quantize(x: &Tensor, scale: &Tensor, zero_point: &Tensor, axis: i64) -> Result<Tensor, SemError> {
    let (lo, hi) = integer_range(zero_point.dtype)?;
    let at = per_element(x, scale, zero_point, axis)?;
    let values = x.to_f64();
    let out = ArrayD::from_shape_fn(values.raw_dim(), |p| {
        let (s, z) = at(&p);
        let q = f64::from((values[&p] as f32 / s).round_ties_even()) + z;
        q.clamp(lo, hi) as i64
    });
    Ok(Tensor::int(zero_point.dtype, out))
}

/// `(x - zero_point) · scale`, in f32.
pub fn dequantize(x: &Tensor, scale: &Tensor, zero_point: &Tensor, axis: i64) -> Result<Tensor, SemError> {
    if x.dtype.is_float() {
        return invalid("dequantize reads an integer tensor");
    }
    let at = per_element(x, scale, zero_point, axis)?;
    let values = x.to_f64();
    let out = ArrayD::from_shape_fn(values.raw_dim(), |p| {
        let (s, z) = at(&p);
        f64::from((values[&p] - z) as f32 * s)
    });
    Ok(Tensor::float(scale.dtype, out))
}

/// The attributes of `quantize`/`dequantize` along `axis`.
pub fn axis_attrs(axis: i64) -> Attrs {
    let mut attrs = Attrs::default();
    attrs.set("axis", Attr::Int(axis));
    attrs
}
