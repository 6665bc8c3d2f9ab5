//! `graph-mixed-precision`: computes the model's contractions and their neighbours in
//! bf16 or f16, keeping f32 where precision matters. Each converted op reads its f32
//! operands through a `graph.cast` to the low type and produces the low type; where an
//! op that stays f32 (or the function's return) reads a converted value, a cast back to
//! f32 sits between them. Consecutive converted ops pass low-precision values directly.
//!
//! The graph ops compute in f32 or better whatever their element type (the reference
//! evaluator in f64, the CPU lowering of half types in f32) and round their result once,
//! so products accumulate in f32.

use crate::registry::{PassId, PassInfo, PassOptionInfo, PassOptions, external_pass};
use fuser_dialects::{
    accessors::{AttrValue, build_op, op_name},
    ffi::{
        emit_error, erase_operation, has_uses, nested_operations, parse_type, replace_uses_except, set_operand,
        set_value_type, tensor_info,
    },
    semantics::DType,
    spec::find_op,
};
use melior::{
    ir::{BlockLike, OperationRef, TypeLike, Value, ValueLike, operation::OperationLike},
    pass::{ExternalPass, Pass},
};
use std::collections::HashMap;

static GRAPH_MIXED_PRECISION_PASS_ID: PassId = PassId;

/// The ops that may compute in the low type: contractions, elementwise arithmetic and
/// activations, pooling, and data movement. Ops outside the list stay f32.
pub const CONVERTIBLE: &[&str] = &[
    "conv",
    "conv_transpose",
    "mat_mul",
    "gemm",
    "add",
    "sub",
    "mul",
    "relu",
    "leaky_relu",
    "clip",
    "sigmoid",
    "tanh",
    "gelu",
    "hard_sigmoid",
    "hard_swish",
    "max_pool",
    "average_pool",
    "global_average_pool",
    "global_max_pool",
    "reshape",
    "flatten",
    "transpose",
    "concat",
    "squeeze",
    "unsqueeze",
    "identity",
];

pub const INFO: PassInfo = PassInfo {
    flag: "graph-mixed-precision",
    type_name: "GraphMixedPrecisionPass",
    summary: "Compute contractions, elementwise ops and data movement in bf16 or f16, with casts at the f32 boundaries",
    description: r#"Converts every graph op of the convertible list (conv, conv_transpose, mat_mul, gemm,
add, sub, mul, the activations, pooling, reshape/transpose/concat and the like) whose
results are f32 and that `keep-f32` does not name: its f32 operands are read through
`graph.cast` to `type`, its f32 results become `type`, and f32 readers (ops that stay f32,
the return) get a cast back. Consecutive converted ops pass the low type directly; casts
of constants fold in `graph-fold-constants`. Ops compute in f32 or better and round their
result once, so products accumulate in f32.

Before:
```mlir
%y = "graph.mat_mul"(%a, %b) : (tensor<4x8xf32>, tensor<8x2xf32>) -> tensor<4x2xf32>
%z = "graph.softmax"(%y) {axis = -1 : i64} : (tensor<4x2xf32>) -> tensor<4x2xf32>
```
After (`type=bf16`):
```mlir
%0 = "graph.cast"(%a) {saturate = 1 : i64, to = 16 : i64} : (tensor<4x8xf32>) -> tensor<4x8xbf16>
%1 = "graph.cast"(%b) {saturate = 1 : i64, to = 16 : i64} : (tensor<8x2xf32>) -> tensor<8x2xbf16>
%y = "graph.mat_mul"(%0, %1) : (tensor<4x8xbf16>, tensor<8x2xbf16>) -> tensor<4x2xbf16>
%2 = "graph.cast"(%y) {saturate = 1 : i64, to = 1 : i64} : (tensor<4x2xbf16>) -> tensor<4x2xf32>
%z = "graph.softmax"(%2) {axis = -1 : i64} : (tensor<4x2xf32>) -> tensor<4x2xf32>
```"#,
    options: &[
        PassOptionInfo {
            name: "type",
            default: "bf16",
            help: "the low type: bf16 or f16",
        },
        PassOptionInfo {
            name: "keep-f32",
            default: "",
            help: "graph ops (comma-separated, e.g. conv,add) that stay f32 although convertible",
        },
    ],
    create,
};

/// The parsed options.
#[derive(Clone, Debug)]
pub struct Options {
    pub low: DType,
    pub keep_f32: Vec<String>,
}

pub fn parse_options(options: &PassOptions) -> Result<Options, String> {
    let low = match options.get("type").map(String::as_str) {
        None | Some("bf16") => DType::BF16,
        Some("f16") => DType::F16,
        Some(v) => {
            return Err(format!(
                "pass 'graph-mixed-precision': type must be bf16 or f16, got '{v}'"
            ));
        }
    };
    let keep_f32: Vec<String> = options
        .get("keep-f32")
        .map(|list| {
            list.split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.trim().to_string())
                .collect()
        })
        .unwrap_or_default();
    if let Some(unknown) = keep_f32.iter().find(|op| find_op(&format!("graph.{op}")).is_none()) {
        return Err(format!(
            "pass 'graph-mixed-precision': keep-f32 names '{unknown}', which is not a graph op"
        ));
    }
    Ok(Options { low, keep_f32 })
}

fn create(options: &PassOptions) -> Result<Pass, String> {
    let options = parse_options(options)?;
    Ok(external_pass(
        &GRAPH_MIXED_PRECISION_PASS_ID,
        &INFO,
        move |op: OperationRef, pass: ExternalPass| {
            if let Err(message) = convert_module(op, &options) {
                emit_error(op.location(), &format!("graph-mixed-precision: {message}"));
                pass.signal_failure();
            }
        },
    ))
}

fn key(v: Value) -> usize {
    v.to_raw().ptr as usize
}

fn is_f32(v: Value) -> bool {
    tensor_info(v.r#type()).is_some_and(|i| i.element == "f32")
}

/// The type of `v` with element type `dtype`.
fn retyped<'c>(v: Value<'c, '_>, dtype: DType) -> Option<melior::ir::Type<'c>> {
    let info = tensor_info(v.r#type())?;
    let dims: Vec<String> = info
        .shape
        .iter()
        .map(|d| d.map_or("?".to_string(), |d| d.to_string()))
        .chain([dtype.mlir().to_string()])
        .collect();
    parse_type(v.r#type().context(), &format!("tensor<{}>", dims.join("x")))
}

/// A `graph.cast` of `value` to `dtype`, inserted before `before`.
fn cast<'c, 'a>(value: Value<'c, 'a>, dtype: DType, before: OperationRef<'c, 'a>) -> Option<OperationRef<'c, 'a>> {
    let ty = retyped(value, dtype)?;
    let op = build_op(
        before.location(),
        find_op("graph.cast")?,
        vec![vec![value]],
        vec![vec![ty]],
        vec![
            ("saturate", AttrValue::Integer(1)),
            ("to", AttrValue::Integer(dtype.onnx_code())),
        ],
    )
    .ok()?;
    Some(before.block()?.insert_operation_before(before, op))
}

/// Converts the convertible ops of every function under `root`.
pub fn convert_module(root: OperationRef, options: &Options) -> Result<(), String> {
    let ops: Vec<OperationRef> = nested_operations(root);
    // The low-type value of each f32 value already available in it (a converted op's
    // result, through the cast back that f32 readers use).
    let mut low: HashMap<usize, Value> = HashMap::new();
    let mut casts_back = Vec::new();
    for op in ops {
        let name = op_name(&op);
        let Some(short) = name.strip_prefix("graph.") else {
            continue;
        };
        let converts = CONVERTIBLE.contains(&short)
            && !options.keep_f32.iter().any(|k| k == short)
            && op.result_count() > 0
            && op.results().all(|r| is_f32(r.into()));
        if !converts {
            continue;
        }
        for i in 0..op.operand_count() {
            let operand = op.operand(i).map_err(|e| e.to_string())?;
            if !is_f32(operand) {
                continue;
            }
            let value = match low.get(&key(operand)) {
                Some(&v) => v,
                None => {
                    let c = cast(operand, options.low, op).ok_or("could not build a cast")?;
                    let v: Value = c.result(0).map_err(|e| e.to_string())?.into();
                    low.insert(key(operand), v);
                    v
                }
            };
            set_operand(op, i, value);
        }
        let next = op.next_in_block().ok_or("an op without a successor")?;
        for result in op.results() {
            let result: Value = result.into();
            let ty = retyped(result, options.low).ok_or("could not form the low type")?;
            set_value_type(result, ty);
            // f32 readers read a cast back; converted readers will find `result` itself.
            let back = cast(result, DType::F32, next).ok_or("could not build a cast")?;
            let back_value: Value = back.result(0).map_err(|e| e.to_string())?.into();
            replace_uses_except(result, back_value, back);
            low.insert(key(back_value), result);
            casts_back.push(back);
        }
    }
    // Casts back that only converted ops would have read are unused now.
    for back in casts_back {
        if !back.result(0).is_ok_and(|r| has_uses(r.into())) {
            erase_operation(back);
        }
    }
    Ok(())
}
