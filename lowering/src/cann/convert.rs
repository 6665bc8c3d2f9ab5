//! `convert-ftensor-to-cann`: every graph op (in the fused kernels, and anywhere else)
//! becomes the aclnn calls of the `cann` dialect that compute it. A fused kernel is then
//! a sequence of aclnn calls, which the C++ emitter runs with one shared workspace.
//!
//! Where aclnn has a fused entry point it is used: a convolution with its bias is one
//! `aclnnConvolution`, a Gemm with a bias one `aclnnAddmm`. Reshapes (Reshape, Flatten,
//! Squeeze, Unsqueeze, Identity) are `cann.reshape`: a new descriptor over the same
//! device memory, no call. Graph constants stay (the emitter writes them as weight
//! files). An op with no mapping, or an attribute aclnn cannot express (asymmetric
//! padding, a non-constant Clip bound...), is an error at the op naming what is missing;
//! nothing is dropped silently.

use crate::graph_to_linalg::constant_value;
use fuser_dialects::{
    accessors::{AttrValue, build_op, op_name, operand_group, result_group},
    eval::op_attrs,
    ffi::{emit_error, erase_operation, has_uses, nested_operations, parse_type, replace_all_uses, tensor_info},
    semantics::Attrs,
    spec::find_op,
};
use melior::ir::{
    BlockLike, Location, OperationRef, Type, TypeLike, Value, ValueLike,
    operation::{Operation, OperationLike},
};

/// The graph ops that become a `cann.reshape`.
const RESHAPES: &[&str] = &["reshape", "flatten", "squeeze", "unsqueeze", "identity"];

/// Why an op cannot be converted.
type Refused = String;

/// What the conversion of one graph op builds: cann ops before it, in order, and the
/// value that replaces its (first) result.
struct Builder<'c, 'a> {
    at: OperationRef<'c, 'a>,
    location: Location<'c>,
}

impl<'c, 'a> Builder<'c, 'a> {
    /// Builds `cann.<name>` before the graph op; returns its result.
    fn op(
        &self,
        name: &str,
        operands: Vec<Vec<Value<'c, 'a>>>,
        result: Type<'c>,
        attributes: Vec<(&str, AttrValue<'c>)>,
    ) -> Result<Value<'c, 'a>, Refused> {
        let full = format!("cann.{name}");
        let spec = find_op(&full).ok_or_else(|| format!("internal error: no op {full}"))?;
        let built: Operation<'c> = build_op(self.location, spec, operands, vec![vec![result]], attributes)
            .map_err(|e| format!("internal error: {full} does not build: {e}"))?;
        let block = self.at.block().ok_or("an op outside a block")?;
        let inserted = block.insert_operation_before(self.at, built);
        inserted
            .result(0)
            .map(Into::into)
            .map_err(|e| format!("internal error: {e}"))
    }
}

fn shape_of(value: Value) -> Result<Vec<i64>, Refused> {
    tensor_info(value.r#type())
        .and_then(|info| info.static_shape())
        .ok_or_else(|| "a dynamic shape (aclnn descriptors need static shapes here)".to_string())
}

/// A negative ONNX axis counted from the end, made non-negative.
fn axis(value: i64, rank: usize) -> i64 {
    if value < 0 { value + rank as i64 } else { value }
}

/// `axis`, refused when it is outside a tensor of rank `rank`.
fn checked_axis(value: i64, rank: usize) -> Result<usize, Refused> {
    let a = axis(value, rank);
    if (0..rank as i64).contains(&a) {
        Ok(a as usize)
    } else {
        Err(format!("axis {value} is outside a tensor of rank {rank}"))
    }
}

/// The per-dimension padding of symmetric ONNX pads `[b0, b1, ..., e0, e1, ...]`.
fn symmetric_padding(pads: &[i64], what: &str) -> Result<Vec<i64>, Refused> {
    let (begin, end) = pads.split_at(pads.len() / 2);
    if begin != end {
        return Err(format!(
            "asymmetric pads {pads:?}: {what} pads each side of a dimension by the same amount"
        ));
    }
    Ok(begin.to_vec())
}

/// The constant value of an optional scalar operand, as f64.
fn constant_scalar(value: Option<Value>, what: &str) -> Result<Option<f64>, Refused> {
    let Some(value) = value else {
        return Ok(None);
    };
    let tensor = constant_value(value).ok_or_else(|| format!("a {what} that is not a constant"))?;
    match tensor.to_f64_vec().as_slice() {
        [v] => Ok(Some(*v)),
        _ => Err(format!("a {what} with more than one value")),
    }
}

/// The cann ops of one graph op; returns the value replacing its result.
fn convert<'c, 'a>(op: OperationRef<'c, 'a>, b: &Builder<'c, 'a>) -> Result<Value<'c, 'a>, Refused> {
    let name = op_name(&op);
    let short = name.trim_start_matches("graph.");
    let spec = find_op(&name).ok_or_else(|| format!("{name} is not a graph op"))?;
    let slot = |i: usize| operand_group(&op, spec, i).first().copied();
    let input = |i: usize| slot(i).ok_or_else(|| format!("{name} is missing operand {i}"));
    let attrs: Attrs = op_attrs(&op).map_err(|e| e.to_string())?;
    let int = |n: &str| attrs.int(n).map_err(|e| e.to_string());
    let float = |n: &str| attrs.float(n).map_err(|e| e.to_string());
    let ints = |n: &str| attrs.ints(n).map_err(|e| e.to_string());
    for (i, _) in spec.results.iter().enumerate().skip(1) {
        if result_group(&op, spec, i).iter().any(|r| has_uses(*r)) {
            return Err(format!(
                "{name}'s optional result {i} is used; aclnn computes only the first here"
            ));
        }
    }
    let result = result_group(&op, spec, 0)
        .first()
        .copied()
        .ok_or_else(|| format!("{name} without a result"))?;
    let out = result.r#type();
    let rank = shape_of(input(0)?)?.len();
    // Scalars (alpha, clamp bounds) are emitted as floats, and ONNX integer Div truncates
    // where aclnnDiv divides: arithmetic is mapped for floating-point tensors only.
    let element = tensor_info(out).map(|i| i.element).unwrap_or_default();
    let moves_data = RESHAPES.contains(&short) || matches!(short, "transpose" | "concat");
    if !matches!(element.as_str(), "f32" | "f16" | "bf16") && !moves_data {
        return Err(format!(
            "{name} on {element} tensors (the aclnn mapping here is for f32, f16 and bf16)"
        ));
    }
    let single = |v: Value<'c, 'a>| vec![v];
    match short {
        "conv" => {
            let pads = ints("pads")?;
            let dims = ints("kernel_shape")?.len();
            b.op(
                "convolution",
                vec![single(input(0)?), single(input(1)?), slot(2).into_iter().collect()],
                out,
                vec![
                    ("stride", AttrValue::I64Array(ints("strides")?)),
                    (
                        "padding",
                        AttrValue::I64Array(symmetric_padding(&pads, "aclnnConvolution")?),
                    ),
                    ("dilation", AttrValue::I64Array(ints("dilations")?)),
                    ("transposed", AttrValue::Integer(0)),
                    ("output_padding", AttrValue::I64Array(vec![0; dims])),
                    ("groups", AttrValue::Integer(int("group")?)),
                    // KEEP_DTYPE: compute in the tensors' own type (f32 stays f32).
                    ("cube_math_type", AttrValue::Integer(0)),
                ],
            )
        }
        "mat_mul" => b.op(
            "matmul",
            vec![single(input(0)?), single(input(1)?)],
            out,
            vec![("cube_math_type", AttrValue::Integer(0))],
        ),
        "gemm" => {
            let transposed = |v: Value<'c, 'a>| -> Result<Value<'c, 'a>, Refused> {
                let shape = shape_of(v)?;
                let ty = parse_type(
                    v.r#type().context(),
                    &v.r#type().to_string().replacen(
                        &format!("{}x{}x", shape[0], shape[1]),
                        &format!("{}x{}x", shape[1], shape[0]),
                        1,
                    ),
                )
                .ok_or("internal error: a transposed type")?;
                b.op(
                    "permute",
                    vec![single(v)],
                    ty,
                    vec![("dims", AttrValue::I64Array(vec![1, 0]))],
                )
            };
            let mut a = input(0)?;
            let mut m = input(1)?;
            if int("trans_a")? != 0 {
                a = transposed(a)?;
            }
            if int("trans_b")? != 0 {
                m = transposed(m)?;
            }
            let (alpha, beta) = (float("alpha")?, float("beta")?);
            match slot(2) {
                Some(c) => b.op(
                    "addmm",
                    vec![single(c), single(a), single(m)],
                    out,
                    vec![
                        ("beta", AttrValue::Float(beta)),
                        ("alpha", AttrValue::Float(alpha)),
                        ("cube_math_type", AttrValue::Integer(0)),
                    ],
                ),
                None if alpha == 1.0 => b.op(
                    "matmul",
                    vec![single(a), single(m)],
                    out,
                    vec![("cube_math_type", AttrValue::Integer(0))],
                ),
                None => Err(format!("Gemm with alpha {alpha} and no C (aclnnAddmm needs self)")),
            }
        }
        "add" | "sub" => b.op(
            short,
            vec![single(input(0)?), single(input(1)?)],
            out,
            vec![("alpha", AttrValue::Float(1.0))],
        ),
        "mul" | "div" => b.op(short, vec![single(input(0)?), single(input(1)?)], out, vec![]),
        "relu" | "sigmoid" | "tanh" | "exp" | "sqrt" => b.op(short, vec![single(input(0)?)], out, vec![]),
        "leaky_relu" => b.op(
            "leaky_relu",
            vec![single(input(0)?)],
            out,
            vec![("negative_slope", AttrValue::Float(float("alpha")?))],
        ),
        "gelu" => {
            let approximate = match attrs.string("approximate").map_err(|e| e.to_string())?.as_str() {
                "none" => 0,
                "tanh" => 1,
                other => return Err(format!("Gelu with approximate = '{other}'")),
            };
            b.op(
                "gelu",
                vec![single(input(0)?)],
                out,
                vec![("approximate", AttrValue::Integer(approximate))],
            )
        }
        "clip" => {
            let min = constant_scalar(slot(1), "Clip min")?.unwrap_or(f32::MIN as f64);
            let max = constant_scalar(slot(2), "Clip max")?.unwrap_or(f32::MAX as f64);
            b.op(
                "clamp",
                vec![single(input(0)?)],
                out,
                vec![("min", AttrValue::Float(min)), ("max", AttrValue::Float(max))],
            )
        }
        "max_pool" => {
            if int("storage_order")? != 0 {
                return Err("MaxPool with storage_order = 1".into());
            }
            // aclnnMaxPool reads a 3-D tensor as one unbatched image and runs dilation 1 only.
            if rank != 4 {
                return Err(format!(
                    "a {}-D MaxPool (aclnnMaxPool here is 2-D, NCHW)",
                    rank.saturating_sub(2)
                ));
            }
            if ints("dilations")?.iter().any(|&d| d != 1) {
                return Err("a dilated MaxPool (aclnnMaxPool runs dilation 1)".into());
            }
            b.op(
                "max_pool",
                vec![single(input(0)?)],
                out,
                vec![
                    ("kernel_shape", AttrValue::I64Array(ints("kernel_shape")?)),
                    ("strides", AttrValue::I64Array(ints("strides")?)),
                    ("pads", AttrValue::I64Array(ints("pads")?)),
                    ("dilations", AttrValue::I64Array(ints("dilations")?)),
                    ("ceil_mode", AttrValue::Integer(int("ceil_mode")?)),
                ],
            )
        }
        "average_pool" => {
            if rank != 4 {
                return Err(format!(
                    "a {}-D AveragePool (aclnnAvgPool2d is 2-D)",
                    rank.saturating_sub(2)
                ));
            }
            if ints("dilations")?.iter().any(|&d| d != 1) {
                return Err("a dilated AveragePool".into());
            }
            b.op(
                "avg_pool2d",
                vec![single(input(0)?)],
                out,
                vec![
                    ("kernel_size", AttrValue::I64Array(ints("kernel_shape")?)),
                    ("strides", AttrValue::I64Array(ints("strides")?)),
                    (
                        "paddings",
                        AttrValue::I64Array(symmetric_padding(&ints("pads")?, "aclnnAvgPool2d")?),
                    ),
                    ("ceil_mode", AttrValue::Integer(int("ceil_mode")?)),
                    ("count_include_pad", AttrValue::Integer(int("count_include_pad")?)),
                    ("divisor_override", AttrValue::Integer(0)),
                    ("cube_math_type", AttrValue::Integer(0)),
                ],
            )
        }
        "global_average_pool" if rank == 4 => b.op(
            "adaptive_avg_pool2d",
            vec![single(input(0)?)],
            out,
            vec![("output_size", AttrValue::I64Array(vec![1, 1]))],
        ),
        "softmax" => b.op(
            "softmax",
            vec![single(input(0)?)],
            out,
            vec![("dim", AttrValue::Integer(checked_axis(int("axis")?, rank)? as i64))],
        ),
        "layer_normalization" => {
            let first = checked_axis(int("axis")?, rank)?;
            let shape = shape_of(input(0)?)?;
            b.op(
                "layer_norm",
                vec![single(input(0)?), single(input(1)?), slot(2).into_iter().collect()],
                out,
                vec![
                    ("normalized_shape", AttrValue::I64Array(shape[first..].to_vec())),
                    ("eps", AttrValue::Float(float("epsilon")?)),
                ],
            )
        }
        "batch_normalization" => b.op(
            "batch_norm",
            (0..5).map(|i| input(i).map(single)).collect::<Result<_, _>>()?,
            out,
            vec![
                ("training", AttrValue::Integer(0)),
                ("momentum", AttrValue::Float(float("momentum")?)),
                ("eps", AttrValue::Float(float("epsilon")?)),
            ],
        ),
        "concat" => {
            let groups: Vec<Vec<Value>> = (0..spec.operands.len()).map(|i| operand_group(&op, spec, i)).collect();
            b.op(
                "cat",
                groups,
                out,
                vec![("dim", AttrValue::Integer(checked_axis(int("axis")?, rank)? as i64))],
            )
        }
        "transpose" => b.op(
            "permute",
            vec![single(input(0)?)],
            out,
            vec![("dims", AttrValue::I64Array(ints("perm")?))],
        ),
        "reduce_sum" | "reduce_mean" => {
            let given: Vec<i64> = match slot(1) {
                Some(v) => constant_value(v)
                    .ok_or_else(|| format!("{name} with axes that are not a constant"))?
                    .to_i64_vec(),
                None => Vec::new(),
            };
            // No axes (absent or empty) reduce everything, or nothing with noop_with_empty_axes.
            let dims: Vec<i64> = if given.is_empty() {
                if int("noop_with_empty_axes")? != 0 {
                    return input(0);
                }
                (0..rank as i64).collect()
            } else {
                given
                    .into_iter()
                    .map(|a| checked_axis(a, rank).map(|a| a as i64))
                    .collect::<Result<_, _>>()?
            };
            let keep = int("keepdims")?;
            if short == "reduce_sum" {
                b.op(
                    "reduce_sum",
                    vec![single(input(0)?)],
                    out,
                    vec![
                        ("dims", AttrValue::I64Array(dims)),
                        ("keep_dims", AttrValue::Integer(keep)),
                    ],
                )
            } else {
                b.op(
                    "mean",
                    vec![single(input(0)?)],
                    out,
                    vec![
                        ("dim", AttrValue::I64Array(dims)),
                        ("keep_dim", AttrValue::Integer(keep)),
                    ],
                )
            }
        }
        _ if RESHAPES.contains(&short) => b.op("reshape", vec![single(input(0)?)], out, vec![]),
        _ => Err(format!("{name} has no aclnn mapping yet (cann dialect)")),
    }
}

/// Converts every graph op but `graph.constant` under `root`. Errors are reported at the
/// ops; returns whether all were converted.
pub fn convert_ftensor_to_cann(root: OperationRef) -> bool {
    let mut ok = true;
    let ops: Vec<OperationRef> = nested_operations(root)
        .into_iter()
        .filter(|op| {
            let name = op_name(op);
            name.starts_with("graph.") && name != "graph.constant"
        })
        .collect();
    for op in ops {
        let builder = Builder {
            at: op,
            location: op.location(),
        };
        match convert(op, &builder) {
            Ok(value) => {
                let result: Value = op.result(0).expect("checked by convert").into();
                replace_all_uses(result, value);
                erase_operation(op);
            }
            Err(message) => {
                emit_error(op.location(), &format!("convert-ftensor-to-cann: {message}"));
                ok = false;
            }
        }
    }
    // Shape and axes operands that only the graph ops read.
    for op in nested_operations(root).into_iter().rev() {
        let constant = matches!(op_name(&op).as_str(), "graph.constant" | "arith.constant");
        if constant && op.results().all(|r| !has_uses(r.into())) {
            erase_operation(op);
        }
    }
    ok
}
