//! The reference semantics of the `cann` ops: each is written as the graph op (ONNX
//! semantics) that computes the same thing, with its aclnn parameters translated into
//! ONNX attributes. This is what lets `convert-ftensor-to-cann` be checked against the
//! evaluator: a module gives the same values before and after the conversion.

use crate::semantics::{self, Attr, Attrs, DType, SemError, Tensor};
use ndarray::ArrayD;

/// A one-element tensor of `dtype` holding `value`.
fn scalar(dtype: DType, value: f64) -> Tensor {
    Tensor::float(dtype, ArrayD::from_elem(ndarray::IxDyn(&[]), value))
}

fn attrs(pairs: Vec<(&str, Attr)>) -> Attrs {
    let mut out = Attrs::default();
    for (name, value) in pairs {
        out.set(name, value);
    }
    out
}

fn one(op: &str, attributes: Attrs, inputs: &[Option<Tensor>]) -> Result<Tensor, SemError> {
    let mut outputs = semantics::evaluate(op, &attributes, inputs)?;
    if outputs.is_empty() {
        return Err(SemError::Invalid(format!("{op} gave no result")));
    }
    Ok(outputs.swap_remove(0))
}

/// `self + alpha · other` (`op` add) or `self - alpha · other` (`op` sub).
fn add_scaled(op: &str, attributes: &Attrs, inputs: &[Option<Tensor>]) -> Result<Tensor, SemError> {
    let alpha = attributes.float("alpha")?;
    let (x, y) = (inputs[0].clone(), inputs[1].clone());
    let y = match &y {
        Some(t) if alpha != 1.0 => Some(one(
            "mul",
            Attrs::default(),
            &[Some(t.clone()), Some(scalar(t.dtype, alpha))],
        )?),
        _ => y,
    };
    one(op, Attrs::default(), &[x, y])
}

/// The values of cann op `name` (with the dialect prefix) on `inputs` (per IRDL slot,
/// `None` for an absent optional); `out_shape` is the shape of its result.
pub fn evaluate(
    name: &str,
    attributes: &Attrs,
    inputs: &[Option<Tensor>],
    out_shape: &[usize],
) -> Result<Tensor, SemError> {
    let int = |n: &str| attributes.int(n);
    let float = |n: &str| attributes.float(n);
    let ints = |n: &str| attributes.ints(n);
    let input = |i: usize| -> Result<&Tensor, SemError> {
        inputs
            .get(i)
            .and_then(Option::as_ref)
            .ok_or_else(|| SemError::Invalid(format!("{name} is missing operand {i}")))
    };
    let op = name.trim_start_matches("cann.");
    match op {
        "convolution" => {
            if int("transposed")? != 0 {
                return Err(SemError::Unsupported("cann.convolution with transposed = 1".into()));
            }
            let padding = ints("padding")?;
            let kernel: Vec<i64> = input(1)?.shape()[2..].iter().map(|&d| d as i64).collect();
            let conv = attrs(vec![
                ("dilations", Attr::Ints(ints("dilation")?)),
                ("group", Attr::Int(int("groups")?)),
                ("kernel_shape", Attr::Ints(kernel)),
                ("pads", Attr::Ints(padding.iter().chain(&padding).copied().collect())),
                ("strides", Attr::Ints(ints("stride")?)),
            ]);
            one("conv", conv, inputs)
        }
        "matmul" => one("mat_mul", Attrs::default(), inputs),
        "addmm" => {
            let gemm = attrs(vec![
                ("alpha", Attr::Float(float("alpha")?)),
                ("beta", Attr::Float(float("beta")?)),
                ("trans_a", Attr::Int(0)),
                ("trans_b", Attr::Int(0)),
            ]);
            one("gemm", gemm, &[inputs[1].clone(), inputs[2].clone(), inputs[0].clone()])
        }
        "add" => add_scaled("add", attributes, inputs),
        "sub" => add_scaled("sub", attributes, inputs),
        "mul" | "div" | "relu" | "sigmoid" | "tanh" | "exp" | "sqrt" => one(op, Attrs::default(), inputs),
        "leaky_relu" => one(
            "leaky_relu",
            attrs(vec![("alpha", Attr::Float(float("negative_slope")?))]),
            inputs,
        ),
        "gelu" => {
            let approximate = if int("approximate")? == 1 { "tanh" } else { "none" };
            one(
                "gelu",
                attrs(vec![("approximate", Attr::Str(approximate.into()))]),
                inputs,
            )
        }
        "clamp" => {
            let x = input(0)?;
            let bounds = [float("min")?, float("max")?].map(|v| Some(scalar(x.dtype, v)));
            one(
                "clip",
                Attrs::default(),
                &[Some(x.clone()), bounds[0].clone(), bounds[1].clone()],
            )
        }
        "max_pool" => one(
            "max_pool",
            attrs(vec![
                ("ceil_mode", Attr::Int(int("ceil_mode")?)),
                ("dilations", Attr::Ints(ints("dilations")?)),
                ("kernel_shape", Attr::Ints(ints("kernel_shape")?)),
                ("pads", Attr::Ints(ints("pads")?)),
                ("storage_order", Attr::Int(0)),
                ("strides", Attr::Ints(ints("strides")?)),
            ]),
            inputs,
        ),
        "avg_pool2d" => {
            if int("divisor_override")? != 0 {
                return Err(SemError::Unsupported("cann.avg_pool2d with a divisor override".into()));
            }
            let paddings = ints("paddings")?;
            let kernel = ints("kernel_size")?;
            one(
                "average_pool",
                attrs(vec![
                    ("ceil_mode", Attr::Int(int("ceil_mode")?)),
                    ("count_include_pad", Attr::Int(int("count_include_pad")?)),
                    ("dilations", Attr::Ints(vec![1; kernel.len()])),
                    ("kernel_shape", Attr::Ints(kernel)),
                    ("pads", Attr::Ints(paddings.iter().chain(&paddings).copied().collect())),
                    ("strides", Attr::Ints(ints("strides")?)),
                ]),
                inputs,
            )
        }
        "adaptive_avg_pool2d" => {
            if ints("output_size")? != [1, 1] {
                return Err(SemError::Unsupported(
                    "cann.adaptive_avg_pool2d to an output other than 1x1".into(),
                ));
            }
            one("global_average_pool", Attrs::default(), inputs)
        }
        "softmax" => one("softmax", attrs(vec![("axis", Attr::Int(int("dim")?))]), inputs),
        "layer_norm" => {
            let rank = input(0)?.shape().len() as i64;
            let normalized = ints("normalized_shape")?.len() as i64;
            one(
                "layer_normalization",
                attrs(vec![
                    ("axis", Attr::Int(rank - normalized)),
                    ("epsilon", Attr::Float(float("eps")?)),
                    ("stash_type", Attr::Int(1)),
                ]),
                inputs,
            )
        }
        "batch_norm" => {
            if int("training")? != 0 {
                return Err(SemError::Unsupported("cann.batch_norm in training mode".into()));
            }
            one(
                "batch_normalization",
                attrs(vec![
                    ("epsilon", Attr::Float(float("eps")?)),
                    ("momentum", Attr::Float(float("momentum")?)),
                ]),
                inputs,
            )
        }
        "cat" => one("concat", attrs(vec![("axis", Attr::Int(int("dim")?))]), inputs),
        "permute" => one("transpose", attrs(vec![("perm", Attr::Ints(ints("dims")?))]), inputs),
        "reduce_sum" | "mean" => {
            let (dims, keep) = if op == "mean" {
                (ints("dim")?, int("keep_dim")?)
            } else {
                (ints("dims")?, int("keep_dims")?)
            };
            let axes = Tensor::i64(&[dims.len()], dims);
            one(
                if op == "mean" { "reduce_mean" } else { "reduce_sum" },
                attrs(vec![
                    ("keepdims", Attr::Int(keep)),
                    ("noop_with_empty_axes", Attr::Int(0)),
                ]),
                &[inputs[0].clone(), Some(axes)],
            )
        }
        "reshape" => {
            let dims: Vec<i64> = out_shape.iter().map(|&d| d as i64).collect();
            one(
                "reshape",
                // allowzero 1: a 0 in the result's shape is a zero-sized dimension.
                attrs(vec![("allowzero", Attr::Int(1))]),
                &[inputs[0].clone(), Some(Tensor::i64(&[dims.len()], dims))],
            )
        }
        _ => Err(SemError::Unsupported(name.to_string())),
    }
}
