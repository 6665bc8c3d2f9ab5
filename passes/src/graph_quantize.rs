//! `graph-quantize`: INT8 post-training quantization. The model function runs over the
//! calibration samples in the reference evaluator; the input of every quantizable
//! contraction is observed, a range is chosen for it (`calibration`), and the contraction
//! becomes its quantized form: `graph.conv` → `ftensor.quantized_conv`, `graph.mat_mul`
//! and `graph.gemm` with a constant matrix → `ftensor.quantized_mat_mul` (plus the bias
//! add of a gemm). Weights are quantized here, symmetric, per output channel.

use crate::calibration::{self, IntType, Method, Observation};
use crate::constant_ops::insert_constant;
use crate::registry::{PassId, PassInfo, PassOptionInfo, PassOptions, external_pass};
use fuser_dialects::{
    accessors::{AttrValue, build_op, graph_name, is_entry_function, op_name, symbol_name},
    eval::{Weights, evaluate_observed},
    ffi::{emit_error, erase_operation, nested_operations, parse_type, replace_all_uses, tensor_info},
    semantics::{DType, Tensor},
    spec::find_op,
};
use melior::{
    ir::{
        BlockLike, OperationRef, RegionLike, Value, ValueLike,
        operation::{OperationLike, OperationResult},
    },
    pass::{ExternalPass, Pass},
};
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

static GRAPH_QUANTIZE_PASS_ID: PassId = PassId;

pub const INFO: PassInfo = PassInfo {
    flag: "graph-quantize",
    type_name: "GraphQuantizePass",
    summary: "INT8 post-training quantization of conv and matmul, calibrated on sample inputs",
    description: r#"Runs each public function over the calibration samples with the reference evaluator
and records the input of every quantizable contraction: a `graph.conv` with one group and
constant 4-D weights at batch 1, a `graph.mat_mul` whose right operand is a constant matrix, and a
`graph.gemm` with a constant right matrix, no transposed left operand and alpha = beta = 1.
A BatchNormalization after a Conv is folded into it first (`graph-fold-batch-norm`). Each
contraction becomes `ftensor.quantized_conv` / `ftensor.quantized_mat_mul` (a gemm's bias follows
as a `graph.add`): weights symmetric int8 in [-127, 127] with one scale per output channel
(`per-channel=true`) or one per tensor; the activation per tensor, over the range the
method picks: `minmax`, `percentile` (of |x|, `percentile=99.999`) or `entropy` (KL
divergence, 2048 bins, 128 levels), asymmetric unless `symmetric-activations=true`, as
`activation-type=u8` or `i8`.

Calibration data (`calibration=DIR`): for a function of one input, one `.npy` per sample,
taken in sorted order; for several inputs, one subdirectory per sample holding `NAME.npy`
for each input (`NAME` the ONNX input name, else `arg<i>`). The weights must be constants
(`fuser quantize` makes them so).

Before:
```mlir
%y = "graph.conv"(%x, %w, %b) {...} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x6x6xf32>
```
After:
```mlir
%wq = "graph.constant"() {value = dense<...> : tensor<4x3x3x3xi8>} : () -> tensor<4x3x3x3xi8>
%ws = "graph.constant"() {value = dense<...> : tensor<4xf32>} : () -> tensor<4xf32>
%xs = "graph.constant"() {value = dense<0.0213> : tensor<f32>} : () -> tensor<f32>
%xz = "graph.constant"() {value = dense<121> : tensor<ui8>} : () -> tensor<ui8>
%y = "ftensor.quantized_conv"(%x, %wq, %ws, %xs, %xz, %b) {...} : (...) -> tensor<1x4x6x6xf32>
```"#,
    options: &[
        PassOptionInfo {
            name: "calibration",
            default: "",
            help: "directory of calibration samples (required)",
        },
        PassOptionInfo {
            name: "method",
            default: "minmax",
            help: "activation range: minmax, percentile or entropy",
        },
        PassOptionInfo {
            name: "percentile",
            default: "99.999",
            help: "the percentile of |x| that method=percentile keeps",
        },
        PassOptionInfo {
            name: "per-channel",
            default: "true",
            help: "one weight scale per output channel (false: one per tensor)",
        },
        PassOptionInfo {
            name: "activation-type",
            default: "u8",
            help: "u8 or i8",
        },
        PassOptionInfo {
            name: "symmetric-activations",
            default: "false",
            help: "zero point at the type's middle instead of fitted to the range",
        },
    ],
    create,
};

/// The parsed options.
#[derive(Clone, Debug)]
pub struct Options {
    pub calibration: PathBuf,
    pub method: Method,
    pub per_channel: bool,
    pub activation_type: IntType,
    pub symmetric_activations: bool,
}

fn flag(options: &PassOptions, name: &str, default: bool) -> Result<bool, String> {
    match options.get(name).map(String::as_str) {
        None => Ok(default),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(v) => Err(format!(
            "pass 'graph-quantize': {name} must be true or false, got '{v}'"
        )),
    }
}

pub fn parse_options(options: &PassOptions) -> Result<Options, String> {
    let calibration = options
        .get("calibration")
        .filter(|d| !d.is_empty())
        .ok_or("pass 'graph-quantize': calibration=DIR is required")?;
    let percentile: f64 = options.get("percentile").map_or(Ok(99.999), |v| {
        v.parse().ok().filter(|p| (0.0..=100.0).contains(p)).ok_or(format!(
            "pass 'graph-quantize': percentile must be in [0, 100], got '{v}'"
        ))
    })?;
    let method = match options.get("method").map(String::as_str) {
        None | Some("minmax") => Method::MinMax,
        Some("percentile") => Method::Percentile(percentile),
        Some("entropy") => Method::Entropy,
        Some(v) => {
            return Err(format!(
                "pass 'graph-quantize': method must be minmax, percentile or entropy, got '{v}'"
            ));
        }
    };
    let activation_type = match options.get("activation-type").map(String::as_str) {
        None | Some("u8") => IntType::U8,
        Some("i8") => IntType::I8,
        Some(v) => {
            return Err(format!(
                "pass 'graph-quantize': activation-type must be u8 or i8, got '{v}'"
            ));
        }
    };
    Ok(Options {
        calibration: PathBuf::from(calibration),
        method,
        per_channel: flag(options, "per-channel", true)?,
        activation_type,
        symmetric_activations: flag(options, "symmetric-activations", false)?,
    })
}

fn create(options: &PassOptions) -> Result<Pass, String> {
    let options = parse_options(options)?;
    Ok(external_pass(
        &GRAPH_QUANTIZE_PASS_ID,
        &INFO,
        move |op: OperationRef, pass: ExternalPass| {
            if let Err(message) = quantize_module(op, &options, &mut |_, _| {}) {
                emit_error(op.location(), &format!("graph-quantize: {message}"));
                pass.signal_failure();
            }
        },
    ))
}

fn op_key(op: &OperationRef) -> usize {
    op.to_raw().ptr as usize
}

/// The constant (graph or arith) defining `value`, as a tensor.
fn constant(value: Value) -> Option<Tensor> {
    let owner = OperationResult::try_from(value).ok()?.owner();
    matches!(op_name(&owner).as_str(), "graph.constant" | "arith.constant")
        .then(|| {
            owner
                .attribute("value")
                .ok()
                .and_then(fuser_dialects::ffi::dense_to_tensor)
        })
        .flatten()
}

fn f32_static(value: Value) -> Option<Vec<i64>> {
    let info = tensor_info(value.r#type())?;
    (info.element == "f32").then(|| info.static_shape()).flatten()
}

/// Whether `op` is a contraction this pass quantizes.
fn quantizable(op: &OperationRef) -> bool {
    let operand = |i| op.operand(i).ok();
    let (Some(x), Some(w)) = (operand(0), operand(1)) else {
        return false;
    };
    let (Some(x_shape), Some(w_shape)) = (f32_static(x), f32_static(w)) else {
        return false;
    };
    if constant(w).is_none() || constant(x).is_some() {
        return false;
    }
    let int = |name| fuser_dialects::accessors::integer(op, name);
    let float = |name| fuser_dialects::accessors::float(op, name);
    match op_name(op).as_str() {
        // Batch 1: the INT8 kernel's convolution (one image per call).
        "graph.conv" => x_shape.len() == 4 && x_shape[0] == 1 && w_shape.len() == 4 && int("group") == 1,
        "graph.mat_mul" => x_shape.len() >= 2 && w_shape.len() == 2,
        "graph.gemm" => {
            x_shape.len() == 2
                && int("trans_a") == 0
                && float("alpha") == 1.0
                && (op.operand_count() < 3 || float("beta") == 1.0)
        }
        _ => false,
    }
}

/// The input names of `f`: `graph.name` argument attributes, else `arg<i>`.
fn input_names(f: &OperationRef, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| graph_name(f.attribute("arg_attrs").ok(), i, "arg"))
        .collect()
}

fn sorted_entries(dir: &Path, want_dirs: bool) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read '{}': {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            if want_dirs {
                p.is_dir()
            } else {
                p.extension().is_some_and(|e| e == "npy")
            }
        })
        .collect();
    paths.sort();
    Ok(paths)
}

/// The calibration samples of a function with `names` inputs.
fn samples(dir: &Path, names: &[String]) -> Result<Vec<Vec<Tensor>>, String> {
    let read = |p: &Path| fuser_frontends::npy::read(p);
    let samples: Vec<Vec<Tensor>> = if names.len() == 1 {
        sorted_entries(dir, false)?
            .iter()
            .map(|p| read(p).map(|t| vec![t]))
            .collect::<Result<_, _>>()?
    } else {
        sorted_entries(dir, true)?
            .iter()
            .map(|sample| {
                names
                    .iter()
                    .map(|n| read(&sample.join(format!("{n}.npy"))))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<_, _>>()?
    };
    if samples.is_empty() {
        return Err(format!(
            "'{}' holds no calibration samples ({})",
            dir.display(),
            if names.len() == 1 {
                "one .npy per sample"
            } else {
                "one directory per sample, one NAME.npy per input"
            }
        ));
    }
    Ok(samples)
}

fn f32_values(t: &Tensor) -> impl Iterator<Item = f32> + '_ {
    t.to_f64().into_iter().map(|v| v as f32)
}

/// Quantizes every quantizable contraction of the public functions under `root`;
/// `progress(done, total)` follows the calibration runs.
pub fn quantize_module(
    root: OperationRef,
    options: &Options,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(), String> {
    // A BatchNormalization after a Conv folds into its weights first: the quantized conv
    // then carries the folded weights (and no float BatchNormalization is left after it).
    crate::graph_fold_batch_norm::fold_batch_norms(root);
    // Calibration runs the model entries (public functions that are not kernels).
    let entries: Vec<OperationRef> = nested_operations(root).into_iter().filter(is_entry_function).collect();
    for f in entries {
        let targets: Vec<OperationRef> = nested_operations(f).into_iter().filter(quantizable).collect();
        if targets.is_empty() {
            continue;
        }
        let name = symbol_name(&f).unwrap_or_default();
        let count = f
            .region(0)
            .ok()
            .and_then(|r| r.first_block())
            .map_or(0, |b| b.argument_count());
        let samples = samples(&options.calibration, &input_names(&f, count))?;
        let mut observations: HashMap<usize, Observation> =
            targets.iter().map(|op| (op_key(op), Observation::default())).collect();
        let passes = if options.method == Method::MinMax { 1 } else { 2 };
        let total = passes * samples.len();
        for pass in 0..passes {
            for (index, sample) in samples.iter().enumerate() {
                progress(pass * samples.len() + index, total);
                let mut observe = |op: &OperationRef, inputs: &[Option<Tensor>]| {
                    if let (Some(o), Some(Some(x))) = (observations.get_mut(&op_key(op)), inputs.first()) {
                        if pass == 0 {
                            o.see_range(f32_values(x));
                        } else {
                            o.see_histogram(f32_values(x));
                        }
                    }
                };
                evaluate_observed(root, &name, sample, &Weights::new(), &mut observe).map_err(|e| match e.root() {
                    fuser_dialects::eval::EvalError::MissingWeight(_) => {
                        "the weights must be constants (`fuser quantize` makes them so)".to_string()
                    }
                    _ => format!("calibration of '{name}' failed: {e}"),
                })?;
            }
        }
        for op in targets {
            let observation = &observations[&op_key(&op)];
            let (lo, hi) = observation.range(options.method);
            let params = calibration::activation_params(lo, hi, options.activation_type, options.symmetric_activations);
            rewrite(op, params, options).ok_or_else(|| format!("could not rewrite {}", op_name(&op)))?;
        }
    }
    erase_dead_constants(root);
    Ok(())
}

/// Erases the constants nothing reads any more (the float weights that were quantized).
pub fn erase_dead_constants(root: OperationRef) {
    for op in nested_operations(root) {
        if matches!(op_name(&op).as_str(), "graph.constant" | "arith.constant")
            && op.result(0).is_ok_and(|r| !fuser_dialects::ffi::has_uses(r.into()))
        {
            erase_operation(op);
        }
    }
}

/// Replaces `op` by its quantized form, with activation scale and zero point `params`.
fn rewrite(op: OperationRef, (x_scale, x_zero): (f32, i64), options: &Options) -> Option<()> {
    let name = op_name(&op);
    let x = op.operand(0).ok()?;
    let w = constant(op.operand(1).ok()?)?;
    let shape: Vec<usize> = w.shape().to_vec();
    let conv = name == "graph.conv";
    let transposed = name == "graph.gemm" && fuser_dialects::accessors::integer(&op, "trans_b") != 0;
    // The weights channel-major, `[output channel][its weights]`: a conv's as stored, a
    // gemm's transposed B (stored `[N, K]`) too, and a `[K, N]` matrix transposed.
    let values: Vec<f32> = f32_values(&w).collect();
    let (channels, per_channel) = if conv || transposed {
        (shape[0], shape[1..].iter().product())
    } else {
        (shape[1], shape[0])
    };
    let channel_major: Vec<f32> = if conv || transposed {
        values
    } else {
        (0..channels)
            .flat_map(|c| (0..per_channel).map(move |k| k * channels + c))
            .map(|i| values[i])
            .collect()
    };
    let scales = calibration::weight_scales(&channel_major, if options.per_channel { channels } else { 1 });
    let scales = if options.per_channel {
        scales
    } else {
        vec![scales[0]; channels]
    };
    let quantized = calibration::quantize_weights(&channel_major, &scales);
    // A conv keeps its weights' shape; a matrix is `[K, N]` (a gemm's B transposed back).
    let weight_tensor = if conv {
        let codes = quantized.iter().map(|&q| i64::from(q)).collect();
        Tensor::int(DType::I8, ndarray::ArrayD::from_shape_vec(shape.clone(), codes).ok()?)
    } else {
        let codes: Vec<i64> = (0..per_channel)
            .flat_map(|k| (0..channels).map(move |c| c * per_channel + k))
            .map(|i| i64::from(quantized[i]))
            .collect();
        Tensor::int(
            DType::I8,
            ndarray::ArrayD::from_shape_vec(vec![per_channel, channels], codes).ok()?,
        )
    };
    let x_dtype = match options.activation_type {
        IntType::U8 => DType::U8,
        IntType::I8 => DType::I8,
    };
    let wq = insert_constant(op, &weight_tensor)?;
    let ws = insert_constant(op, &Tensor::f32(&[channels], scales))?;
    let xs = insert_constant(op, &Tensor::f32(&[], vec![x_scale]))?;
    let xz = insert_constant(
        op,
        &Tensor::int(x_dtype, ndarray::ArrayD::from_elem(ndarray::IxDyn(&[]), x_zero)),
    )?;
    let result_type = op.result(0).ok()?.r#type();
    let location = op.location();
    let new_op = if conv {
        let spec = find_op("ftensor.quantized_conv")?;
        let bias: Vec<Value> = op.operand(2).ok().into_iter().collect();
        let attributes = ["dilations", "group", "kernel_shape", "pads", "strides"]
            .into_iter()
            .map(|a| Some((a, AttrValue::Attribute(op.attribute(a).ok()?))))
            .collect::<Option<Vec<_>>>()?;
        build_op(
            location,
            spec,
            vec![vec![x], vec![wq], vec![ws], vec![xs], vec![xz], bias],
            vec![vec![result_type]],
            attributes,
        )
        .ok()?
    } else {
        let spec = find_op("ftensor.quantized_mat_mul")?;
        let product_type = if name == "graph.gemm" {
            let m = tensor_info(x.r#type())?.static_shape()?[0];
            parse_type(op.context(), &format!("tensor<{m}x{channels}xf32>"))?
        } else {
            result_type
        };
        build_op(
            location,
            spec,
            vec![vec![x], vec![wq], vec![ws], vec![xs], vec![xz]],
            vec![vec![product_type]],
            vec![],
        )
        .ok()?
    };
    let block = op.block()?;
    let new_op = block.insert_operation_before(op, new_op);
    let mut result: Value = new_op.result(0).ok()?.into();
    if name == "graph.gemm"
        && let Ok(c) = op.operand(2)
    {
        let add = build_op(
            location,
            find_op("graph.add")?,
            vec![vec![result], vec![c]],
            vec![vec![result_type]],
            vec![],
        )
        .ok()?;
        result = block.insert_operation_before(op, add).result(0).ok()?.into();
    }
    replace_all_uses(op.result(0).ok()?.into(), result);
    erase_operation(op);
    Some(())
}
