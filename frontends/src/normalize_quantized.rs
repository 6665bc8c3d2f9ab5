//! The quantized ONNX operators, decomposed into the graph ops and ftensor quantization
//! ops they are defined by:
//!
//! - `QLinearConv` / `QLinearMatMul`: dequantize both operands (the weights per output
//!   channel when their scale is 1-D), the float contraction (a QLinearConv's int32 bias
//!   dequantized with scale `x_scale · w_scale`), then quantize the result;
//! - `ConvInteger` / `MatMulInteger`: the operands minus their zero points, as f64 (whose
//!   sums of 8-bit products are exact), the contraction, cast to int32.
//!
//! The convolutions go through the `Conv` normalization (auto_pad, defaults), given the
//! decomposed operands.

use super::{Builder, Lookup, NormError, OnnxAttrs, Operand, attrs, malformed, unsupported, window_op};
use crate::model::Node;
use fuser_dialects::semantics::{Attr, Attrs, DType, Tensor, TypeInfo};

pub(super) const OPS: &[&str] = &["QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"];

fn axis(value: i64) -> Attrs {
    attrs(vec![("axis", Attr::Int(value))])
}

/// The zero point of input `slot`, or a zero of `dtype` shaped like `scale` when absent.
fn zero_point(b: &Builder, slot: usize, dtype: DType, like: Option<&Operand>) -> Operand {
    b.input(slot).unwrap_or_else(|| {
        let shape = like
            .and_then(|s| b.info_of(s))
            .and_then(|i| i.static_shape())
            .unwrap_or_default();
        Operand::Const(Tensor::full(dtype, &shape, 0.0))
    })
}

/// The 8-bit integer type of `operand`, or why it is not supported.
fn int8_type(b: &Builder, operand: &Operand) -> Result<DType, NormError> {
    match b.info_of(operand).map(|i| i.dtype) {
        Some(t @ (DType::U8 | DType::I8)) => Ok(t),
        Some(t) => unsupported(format!("{} on {t} (int8 and uint8 are supported)", b.node.op_type)),
        None => malformed("an operand's type is unknown"),
    }
}

/// A lookup that also knows the types of this node's temporaries.
struct WithTemps<'l> {
    inner: &'l dyn Lookup,
    temps: Vec<(String, TypeInfo)>,
}

impl Lookup for WithTemps<'_> {
    fn info(&self, name: &str) -> Option<TypeInfo> {
        self.temps
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, i)| i.clone())
            .or_else(|| self.inner.info(name))
    }
    fn value(&self, name: &str) -> Option<Tensor> {
        self.inner.value(name)
    }
}

/// The conv ops take Conv's window attributes; the matmul ops none.
fn check_attributes(node: &Node, conv_op: bool) -> Result<(), NormError> {
    OnnxAttrs::new(node, if conv_op { &CONV_ATTRIBUTES } else { &[] }).map(|_| ())
}

const CONV_ATTRIBUTES: [&str; 6] = ["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"];

/// `Conv` of `x`, `w` (and `bias`) with this node's window attributes, into `output`.
fn conv(
    b: &mut Builder,
    x: (Operand, TypeInfo),
    w: (Operand, TypeInfo),
    bias: Option<Operand>,
    output: &str,
) -> Result<(), NormError> {
    let mut temps = Vec::new();
    let mut name_of = |operand: &Operand, info: &TypeInfo| match operand {
        Operand::Value(n) => {
            temps.push((n.clone(), info.clone()));
            Ok(n.clone())
        }
        Operand::Const(_) => malformed("a constant operand where a value was expected"),
    };
    let inputs = vec![
        name_of(&x.0, &x.1)?,
        name_of(&w.0, &w.1)?,
        match &bias {
            Some(Operand::Value(n)) => n.clone(),
            _ => String::new(),
        },
    ];
    let node = Node {
        name: b.node.name.clone(),
        op_type: "Conv".into(),
        domain: String::new(),
        inputs,
        outputs: vec![output.to_string()],
        attrs: b
            .node
            .attrs
            .iter()
            .filter(|(k, _)| CONV_ATTRIBUTES.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    };
    let lookup = WithTemps { inner: b.lookup, temps };
    // The inner builder names its temporaries after the same node: start its count past
    // any the outer builder can reach. The opset only matters to pooling (ceil_mode).
    let mut inner = Builder {
        node: &node,
        lookup: &lookup,
        out: Vec::new(),
        temps: b.temps + 100,
    };
    window_op(&mut inner, "Conv", 11)?;
    b.out.extend(inner.out);
    Ok(())
}

/// The type of `operand` as another dtype.
fn as_dtype(b: &Builder, operand: &Operand, dtype: DType) -> Result<TypeInfo, NormError> {
    b.info_of(operand)
        .map(|i| TypeInfo::new(dtype, i.shape))
        .map_or_else(|| malformed("an operand's type is unknown"), Ok)
}

pub(super) fn normalize(b: &mut Builder) -> Result<(), NormError> {
    let node = b.node;
    let op = node.op_type.as_str();
    match op {
        "QLinearConv" | "QLinearMatMul" => {
            let conv_op = op == "QLinearConv";
            check_attributes(node, conv_op)?;
            let (x, x_scale, w, w_scale, y_scale) = (
                b.required(0)?,
                b.required(1)?,
                b.required(3)?,
                b.required(4)?,
                b.required(6)?,
            );
            let (x_type, w_type) = (int8_type(b, &x)?, int8_type(b, &w)?);
            let x_zero = zero_point(b, 2, x_type, Some(&x_scale));
            let w_zero = zero_point(b, 5, w_type, Some(&w_scale));
            let y_zero = match b.input(7) {
                Some(z) => {
                    int8_type(b, &z)?;
                    z
                }
                None => Operand::Const(Tensor::full(x_type, &[], 0.0)),
            };
            // A per-row scale of a matmul's A is along its rows; B's per column.
            let x_axis = if conv_op { 1 } else { -2 };
            let w_axis = if conv_op { 0 } else { -1 };
            let xd = b.push_temp(
                "ftensor.dequantize",
                axis(x_axis),
                vec![Some(x.clone()), Some(x_scale.clone()), Some(x_zero)],
            );
            let wd = b.push_temp(
                "ftensor.dequantize",
                axis(w_axis),
                vec![Some(w.clone()), Some(w_scale.clone()), Some(w_zero)],
            );
            let y = b.temp();
            if conv_op {
                // The int32 bias has scale x_scale · w_scale and zero point 0.
                let bias = match b.input(8) {
                    Some(bias) => {
                        let scale = b.push_temp(
                            "mul",
                            Attrs::default(),
                            vec![Some(x_scale.clone()), Some(w_scale.clone())],
                        );
                        let channels = b.info_of(&bias).and_then(|i| i.static_shape()).unwrap_or_default();
                        let scale_shape = b.info_of(&w_scale).and_then(|i| i.static_shape()).unwrap_or_default();
                        let zero = Operand::Const(Tensor::full(
                            DType::I32,
                            if scale_shape.is_empty() { &[] } else { &channels },
                            0.0,
                        ));
                        Some(b.push_temp("ftensor.dequantize", axis(0), vec![Some(bias), Some(scale), Some(zero)]))
                    }
                    None => None,
                };
                let x_info = as_dtype(b, &x, DType::F32)?;
                let w_info = as_dtype(b, &w, DType::F32)?;
                conv(b, (xd, x_info), (wd, w_info), bias, &y)?;
            } else {
                b.push(
                    "mat_mul",
                    Attrs::default(),
                    vec![Some(xd), Some(wd)],
                    vec![Some(y.clone())],
                );
            }
            b.simple(
                "ftensor.quantize",
                axis(1),
                vec![Some(Operand::Value(y)), Some(y_scale), Some(y_zero)],
            )
        }
        _ => {
            // ConvInteger / MatMulInteger: (x - x_zero) * (w - w_zero) in exact f64.
            let conv_op = op == "ConvInteger";
            check_attributes(node, conv_op)?;
            let (x, w) = (b.required(0)?, b.required(1)?);
            let to_f64 = || {
                attrs(vec![
                    ("saturate", Attr::Int(1)),
                    ("to", Attr::Int(DType::F64.onnx_code())),
                ])
            };
            // A zero point per tensor, or per column of MatMulInteger's B, broadcasts
            // numpy-style; one per output channel (ConvInteger's weights) or per row
            // (MatMulInteger's A) is subtracted along that axis by a dequantization with
            // scale 1 (small integers, exact in f32).
            let centered = |b: &mut Builder, v: Operand, zero_slot: usize| -> Result<Operand, NormError> {
                let Some(zero) = b.input(zero_slot) else {
                    return Ok(b.push_temp("cast", to_f64(), vec![Some(v)]));
                };
                let shape = b.info_of(&zero).and_then(|i| i.static_shape());
                let Some(shape) = shape else {
                    return unsupported(format!("{op} with a zero point of unknown shape"));
                };
                let broadcasts = shape.iter().product::<usize>() == 1 || (!conv_op && zero_slot == 3);
                if broadcasts {
                    let wide = b.push_temp("cast", to_f64(), vec![Some(v)]);
                    let zero = b.push_temp("cast", to_f64(), vec![Some(zero)]);
                    return Ok(b.push_temp("sub", Attrs::default(), vec![Some(wide), Some(zero)]));
                }
                let ones = Operand::Const(Tensor::full(DType::F32, &shape, 1.0));
                let along = if conv_op { 0 } else { -2 };
                let exact = b.push_temp("ftensor.dequantize", axis(along), vec![Some(v), Some(ones), Some(zero)]);
                Ok(b.push_temp("cast", to_f64(), vec![Some(exact)]))
            };
            int8_type(b, &x)?;
            int8_type(b, &w)?;
            let xc = centered(b, x.clone(), 2)?;
            let wc = centered(b, w.clone(), 3)?;
            let y = b.temp();
            if conv_op {
                let (x_info, w_info) = (as_dtype(b, &x, DType::F64)?, as_dtype(b, &w, DType::F64)?);
                conv(b, (xc, x_info), (wc, w_info), None, &y)?;
            } else {
                b.push(
                    "mat_mul",
                    Attrs::default(),
                    vec![Some(xc), Some(wc)],
                    vec![Some(y.clone())],
                );
            }
            b.simple(
                "cast",
                attrs(vec![
                    ("saturate", Attr::Int(1)),
                    ("to", Attr::Int(DType::I32.onnx_code())),
                ]),
                vec![Some(Operand::Value(y))],
            )
        }
    }
}
