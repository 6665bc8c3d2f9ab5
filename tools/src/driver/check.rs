//! `fuser check`: the pre-flight report. It imports as far as it can and lists every
//! node fuser cannot take (op, attribute value, dtype, shape it cannot resolve), each with
//! the node name and the reason; otherwise it summarizes the model.

use fuser_dialects::{
    accessors::{i64_array, integer, op_name},
    ffi::{nested_operations, tensor_info},
};
use fuser_frontends::{ImportOptions, check_graph, load_graph_file, model::Graph};
use melior::ir::{ValueLike, operation::OperationLike};
use std::{collections::BTreeMap, path::Path};

/// The outcome of a check.
pub struct CheckReport {
    pub lines: Vec<String>,
    pub supported: bool,
}

fn elements(v: melior::ir::Value) -> Option<u64> {
    tensor_info(v.r#type())?.element_count().map(|c| c as u64)
}

/// FLOPs of one graph op: 2 per multiply-add for conv, matmul and gemm, one per output
/// element for the rest (None when a shape is dynamic).
fn op_flops(op: &melior::ir::OperationRef) -> Option<u64> {
    let name = op_name(op);
    let out = op.result(0).ok().and_then(|r| elements(r.into()));
    match name.as_str() {
        "graph.constant" | "graph.weight" | "graph.reshape" | "graph.flatten" | "graph.squeeze" | "graph.unsqueeze"
        | "graph.identity" | "graph.shape" => Some(0),
        "graph.conv" => {
            let w = tensor_info(op.operand(1).ok()?.r#type())?.static_shape()?;
            let per_output: i64 = w[1..].iter().product();
            Some(2 * out? * per_output as u64)
        }
        "graph.conv_transpose" => {
            let x = elements(op.operand(0).ok()?)?;
            let w = tensor_info(op.operand(1).ok()?.r#type())?.static_shape()?;
            // Each input element meets M/group output channels over the kernel.
            let per_input: i64 = w[1..].iter().product();
            Some(2 * x * per_input as u64)
        }
        "graph.mat_mul" | "graph.gemm" => {
            let a = tensor_info(op.operand(0).ok()?.r#type())?.static_shape()?;
            let k = if name == "graph.gemm" && integer(op, "trans_a") != 0 {
                a[0]
            } else {
                *a.last()?
            };
            Some(2 * out? * k as u64)
        }
        "graph.average_pool" | "graph.max_pool" => {
            Some(out? * i64_array(op, "kernel_shape").iter().product::<i64>() as u64)
        }
        _ => out,
    }
}

/// Checks a model file.
pub fn check(path: &Path, options: &ImportOptions) -> Result<CheckReport, String> {
    let file = path.display().to_string();
    let graph: Graph = load_graph_file(path).map_err(|e| e.to_string())?;
    let context = fuser_dialects::create_context().map_err(|e| e.to_string())?;
    context.enable_multi_threading(false);
    context.attach_diagnostic_handler(|_| true);
    let (imported, problems) = check_graph(&context, &graph, &file, options).map_err(|e| e.to_string())?;
    let mut lines = Vec::new();
    for p in &problems {
        lines.push(format!("unsupported: {p}"));
    }
    for input in &graph.inputs {
        if let Some(shape) = &input.shape {
            let dynamic: Vec<usize> = (0..shape.len())
                .filter(|&i| shape[i].is_none() && !options.shapes.contains_key(&input.name))
                .collect();
            if !dynamic.is_empty() {
                lines.push(format!(
                    "note: {file}: input '{}' has dynamic dims {dynamic:?}; fix them with --shape {}=...",
                    input.name, input.name
                ));
            }
        }
    }
    let mut histogram: BTreeMap<String, usize> = BTreeMap::new();
    for node in &graph.nodes {
        let key = if node.domain.is_empty() || node.domain == "ai.onnx" {
            node.op_type.clone()
        } else {
            format!("{}::{}", node.domain, node.op_type)
        };
        *histogram.entry(key).or_default() += 1;
    }
    let params: usize = graph.initializers.iter().map(|w| w.len()).sum();
    let mut flops = Some(0u64);
    for op in nested_operations(imported.module.as_operation()) {
        if op_name(&op).starts_with("graph.") {
            flops = flops.zip(op_flops(&op)).map(|(a, b)| a + b);
        }
    }
    let supported = problems.is_empty();
    lines.push(format!(
        "{file}: opset {}, {} nodes, {params} parameters, {} FLOPs{}",
        graph.opset,
        graph.nodes.len(),
        flops.map_or("unknown (dynamic shapes)".to_string(), |f| format!("{f}")),
        if supported {
            String::new()
        } else {
            format!(", {} unsupported node(s)", problems.len())
        }
    ));
    let ops: Vec<String> = histogram.iter().map(|(op, n)| format!("{op} x{n}")).collect();
    lines.push(format!("ops: {}", ops.join(", ")));
    Ok(CheckReport { lines, supported })
}
