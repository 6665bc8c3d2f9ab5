//! `graph-eqsat-fuse`: fusion decided by equality saturation (see `eqsat/`). A thin
//! driver: options, then per function translate → saturate → extract → rebuild, then
//! the kernels outlined and deduplicated as `graph-form-kernels` does, and the report
//! left on the module.

use crate::{
    eqsat::{
        self, Extraction, Options, Strategy, cost, report,
        rules::fusion::{ACTIVATIONS, BINARY},
    },
    graph_form_kernels::{deduplicate_kernels, outline_group},
    registry::{PassId, PassInfo, PassOptionInfo, PassOptions, external_pass},
};
use fuser_dialects::{
    accessors::op_name,
    ffi::{emit_error, has_single_use, make, nested_operations, set_attribute},
};
use melior::{
    ir::{BlockLike, OperationRef, RegionLike, ValueLike, attribute::StringAttribute, operation::OperationLike},
    pass::{ExternalPass, Pass},
};
use std::time::Duration;

static GRAPH_EQSAT_FUSE_PASS_ID: PassId = PassId;

/// The module attribute holding the JSON report.
pub const REPORT_ATTRIBUTE: &str = "ftensor.fusion_report";

pub const INFO: PassInfo = PassInfo {
    flag: "graph-eqsat-fuse",
    type_name: "GraphEqsatFusePass",
    summary: "Discover fusions by equality saturation (egg) and outline each kernel as an ftensor.kernel function",
    description: r#"Each function becomes an egg e-graph whose nodes are the graph ops, their
attribute dictionaries, the function's opaque values, and fused kernels. The analysis
tracks each class's type, constness and known small values. The rule families
(algebraic, folding, layout, fusion; see passes/RULES.md) saturate it within the node,
iteration and time limits; the cheapest program by the target's roofline cost model is
extracted (DAG-aware: a kernel shared by several users is paid once), and the function is
rebuilt: each fused node is one kernel, each other computing op a kernel of one,
constants fold, and pure views (reshape, flatten, squeeze, unsqueeze, identity) stay in
the caller. Kernels are outlined and deduplicated as in `graph-form-kernels`. With
`strategy=greedy` the producer-epilogue heuristic decides instead (an epilogue joins its
producer's kernel when it is the producer's only user; no rewrites). The eqsat strategy
also costs the greedy grouping and keeps it if it is cheaper, so it is never worse by the
model. The module gets a string attribute `ftensor.fusion_report` with the JSON report
(`fuser compile --report` writes it to a file).

Before:
```mlir
func.func @f(%x: tensor<1x8x4x4xf32>, %w: tensor<8x8x1x1xf32>) -> tensor<1x8x4x4xf32> {
  %c = "graph.conv"(%x, %w) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 0>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>} : (tensor<1x8x4x4xf32>, tensor<8x8x1x1xf32>) -> tensor<1x8x4x4xf32>
  %r = "graph.relu"(%c) : (tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32>
  %i = "graph.identity"(%r) : (tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32>
  return %i : tensor<1x8x4x4xf32>
}
```
After:
```mlir
func.func private @f_k0_conv(%arg0: tensor<1x8x4x4xf32>, %arg1: tensor<8x8x1x1xf32>) -> tensor<1x8x4x4xf32> attributes {ftensor.kernel} {
  %0 = "graph.conv"(%arg0, %arg1) {...} : (tensor<1x8x4x4xf32>, tensor<8x8x1x1xf32>) -> tensor<1x8x4x4xf32>
  %1 = "graph.relu"(%0) : (tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32>
  return %1 : tensor<1x8x4x4xf32>
}
func.func @f(%x: tensor<1x8x4x4xf32>, %w: tensor<8x8x1x1xf32>) -> tensor<1x8x4x4xf32> {
  %0 = call @f_k0_conv(%x, %w) : (tensor<1x8x4x4xf32>, tensor<8x8x1x1xf32>) -> tensor<1x8x4x4xf32>
  return %0 : tensor<1x8x4x4xf32>
}
```"#,
    options: &[
        PassOptionInfo {
            name: "target",
            default: "cpu",
            help: "the cost model: cpu, cuda:sm_90, rocm:gfx942 or ascend:910b",
        },
        PassOptionInfo {
            name: "strategy",
            default: "eqsat",
            help: "eqsat (saturate and extract) or greedy (producer-epilogue heuristic)",
        },
        PassOptionInfo {
            name: "extraction",
            default: "dag",
            help: "dag (greedy DAG-aware heuristic) or ilp (exact 0-1 program, falls back to dag)",
        },
        PassOptionInfo {
            name: "node-limit",
            default: "50000",
            help: "stop saturating at this many e-nodes",
        },
        PassOptionInfo {
            name: "iter-limit",
            default: "16",
            help: "stop saturating after this many iterations",
        },
        PassOptionInfo {
            name: "time-limit-ms",
            default: "2000",
            help: "stop saturating after this many milliseconds",
        },
        PassOptionInfo {
            name: "ilp-time-limit-ms",
            default: "2000",
            help: "give the ILP solver this long before falling back to dag",
        },
    ],
    create,
};

fn parse_count(options: &PassOptions, name: &str, default: u64) -> Result<u64, String> {
    match options.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| format!("pass 'graph-eqsat-fuse': {name} must be a count, got '{v}'")),
    }
}

pub fn parse_options(options: &PassOptions) -> Result<Options, String> {
    let target_name = options.get("target").map_or("cpu", String::as_str);
    let target = cost::target(target_name).ok_or_else(|| {
        let known: Vec<&str> = cost::TARGETS.iter().map(|t| t.name).collect();
        format!(
            "pass 'graph-eqsat-fuse': unknown target '{target_name}' (known: {})",
            known.join(", ")
        )
    })?;
    let strategy = match options.get("strategy").map(String::as_str) {
        None | Some("eqsat") => Strategy::Eqsat,
        Some("greedy") => Strategy::Greedy,
        Some(v) => {
            return Err(format!(
                "pass 'graph-eqsat-fuse': strategy must be eqsat or greedy, got '{v}'"
            ));
        }
    };
    let extraction = match options.get("extraction").map(String::as_str) {
        None | Some("dag") => Extraction::Dag,
        Some("ilp") => Extraction::Ilp,
        Some(v) => {
            return Err(format!(
                "pass 'graph-eqsat-fuse': extraction must be dag or ilp, got '{v}'"
            ));
        }
    };
    Ok(Options {
        target,
        strategy,
        extraction,
        node_limit: parse_count(options, "node-limit", 50_000)? as usize,
        iter_limit: parse_count(options, "iter-limit", 16)? as usize,
        time_limit: Duration::from_millis(parse_count(options, "time-limit-ms", 2000)?),
        ilp_time_limit: Duration::from_millis(parse_count(options, "ilp-time-limit-ms", 2000)?),
    })
}

fn create(options: &PassOptions) -> Result<Pass, String> {
    let options = parse_options(options)?;
    Ok(external_pass(
        &GRAPH_EQSAT_FUSE_PASS_ID,
        &INFO,
        move |op: OperationRef, pass: ExternalPass| {
            if let Err(message) = fuse_module(op, &options) {
                emit_error(op.location(), &message);
                pass.signal_failure();
            }
        },
    ))
}

/// Fuses every function of `root` that is not a kernel; leaves the report on `root`.
pub fn fuse_module(root: OperationRef, options: &Options) -> Result<(), String> {
    let functions: Vec<OperationRef> = nested_operations(root)
        .into_iter()
        .filter(|op| op_name(op) == "func.func" && op.attribute("ftensor.kernel").is_err())
        .filter(|op| op.region(0).is_ok_and(|r| r.first_block().is_some()))
        .collect();
    let mut reports = Vec::new();
    for function in functions {
        let name = function
            .attribute("sym_name")
            .ok()
            .and_then(|a| StringAttribute::try_from(a).ok())
            .map(fuser_dialects::ffi::string_value)
            .unwrap_or_else(|| "f".into());
        let (mut report, groups, kept) = eqsat::fuse_function(function, options)?;
        report.function = name.clone();
        // Kernels in the order of their results in the function.
        let mut all: Vec<Vec<OperationRef>> = groups.into_iter().map(|g| g.ops).collect();
        all.extend(kept.into_iter().map(|op| vec![op]));
        let order = position_order(function, &all);
        let mut symbols = vec![String::new(); all.len()];
        for (index, &g) in order.iter().enumerate() {
            symbols[g] = outline_group(function, &format!("{name}_k{index}"), &all[g]);
        }
        for (group, symbol) in report.groups.iter_mut().zip(symbols) {
            group.kernel = symbol;
        }
        reports.push(report);
    }
    let renamed = deduplicate_kernels(root);
    for group in reports.iter_mut().flat_map(|r| r.groups.iter_mut()) {
        if let Some(first) = renamed.get(&group.kernel) {
            group.kernel = first.clone();
        }
    }
    let kernels: Vec<OperationRef> = nested_operations(root)
        .into_iter()
        .filter(|op| op_name(op) == "func.func" && op.attribute("ftensor.kernel").is_ok())
        .collect();
    for &kernel in &kernels {
        mark_in_place_args(kernel);
    }
    let kernel_functions = kernels.len();
    let json = report::to_json(options.target.name, &reports, kernel_functions);
    set_attribute(root, REPORT_ATTRIBUTE, make::string(root.context(), &json.to_string()));
    Ok(())
}

/// Marks a kernel whose body is elementwise (same-index reads and writes) with the
/// arguments its result may overwrite (`ftensor.in_place_args`, for `hw-plan-memory`):
/// those of the result's type read once, by the body's first op. Bufferization may write
/// any op's result into the output buffer, so an argument read by a later op could be
/// overwritten before it is read.
fn mark_in_place_args(kernel: OperationRef) {
    let Some(block) = kernel.region(0).ok().and_then(|r| r.first_block()) else {
        return;
    };
    let mut elementwise = true;
    let mut result_type = None;
    let mut first_op = None;
    let mut current = block.first_operation();
    while let Some(op) = current {
        current = op.next_in_block();
        let name = op_name(&op);
        match name.strip_prefix("graph.") {
            Some("constant") => {}
            Some(short) if ACTIVATIONS.contains(&short) || BINARY.contains(&short) => {
                first_op.get_or_insert(op);
            }
            _ if name == "func.return" => result_type = op.operand(0).ok().map(|v| v.r#type()),
            _ => elementwise = false,
        }
    }
    let (Some(result_type), Some(first_op)) = (result_type.filter(|_| elementwise), first_op) else {
        return;
    };
    let args: Vec<i64> = (0..block.argument_count())
        .filter(|&i| {
            block.argument(i).is_ok_and(|a| {
                let value: melior::ir::Value = a.into();
                a.r#type() == result_type && has_single_use(value) && first_op.operands().any(|o| o == value)
            })
        })
        .map(|i| i as i64)
        .collect();
    if !args.is_empty() {
        set_attribute(
            kernel,
            "ftensor.in_place_args",
            make::i64_array(kernel.context(), &args),
        );
    }
}

/// The groups' indices ordered by where their last op sits in the function.
fn position_order(function: OperationRef, groups: &[Vec<OperationRef>]) -> Vec<usize> {
    let mut position = std::collections::HashMap::new();
    for (i, op) in nested_operations(function).into_iter().enumerate() {
        position.insert(op.to_raw().ptr as usize, i);
    }
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&g| {
        groups[g]
            .last()
            .and_then(|op| position.get(&(op.to_raw().ptr as usize)).copied())
            .unwrap_or(usize::MAX)
    });
    order
}
