//! What `graph-eqsat-fuse` decided, as JSON: `fuser compile --report` writes it, and the
//! pass leaves it on the module as the string attribute `ftensor.fusion_report`.

use super::Strategy;
use serde_json::{Value, json};

/// One kernel: its function, the model's nodes it computes, the rules that formed it,
/// and its cost (seconds) as separate kernels before and as one after.
#[derive(Clone, Debug, Default)]
pub struct GroupReport {
    pub kernel: String,
    pub ops: Vec<String>,
    pub rules: Vec<String>,
    pub cost_before: f64,
    pub cost_after: f64,
    /// The arithmetic of its contraction or ops: `i8xi8->i32` for an INT8 contraction,
    /// else the element type it computes in (`f32`, `bf16`, ...).
    pub compute: String,
}

/// The compute type of a kernel made of `ops`.
pub fn compute_type(ops: &[melior::ir::OperationRef]) -> String {
    use fuser_dialects::accessors::op_name;
    use melior::ir::{ValueLike, operation::OperationLike};
    if ops.iter().any(|op| op_name(op).starts_with("ftensor.quantized_")) {
        return "i8xi8->i32".into();
    }
    ops.iter()
        .find_map(|op| op.result(0).ok())
        .and_then(|r| fuser_dialects::ffi::tensor_info(r.r#type()))
        .map_or_else(|| "unknown".into(), |info| info.element)
}

/// One function's search and choice.
#[derive(Clone, Debug)]
pub struct FunctionReport {
    pub function: String,
    pub strategy: Strategy,
    pub ms: f64,
    pub iterations: usize,
    pub enodes: usize,
    pub eclasses: usize,
    pub stop_reason: String,
    pub extraction: String,
    /// "eqsat", or "greedy" when the greedy grouping cost less and was kept.
    pub chosen: &'static str,
    pub cost: f64,
    pub cost_greedy: f64,
    pub cost_tree: f64,
    pub groups: Vec<GroupReport>,
}

impl Default for FunctionReport {
    fn default() -> Self {
        FunctionReport {
            function: String::new(),
            strategy: Strategy::Eqsat,
            ms: 0.0,
            iterations: 0,
            enodes: 0,
            eclasses: 0,
            stop_reason: "not run".into(),
            extraction: "none".into(),
            chosen: "eqsat",
            cost: 0.0,
            cost_greedy: 0.0,
            cost_tree: 0.0,
            groups: Vec::new(),
        }
    }
}

/// Seconds to microseconds, rounded for reading.
fn us(seconds: f64) -> f64 {
    if seconds.is_finite() {
        (seconds * 1e9).round() / 1e3
    } else {
        -1.0
    }
}

/// The report of a module: the totals, then each function and its groups.
pub fn to_json(target: &str, functions: &[FunctionReport], kernel_functions: usize) -> Value {
    let kernels: usize = functions.iter().map(|f| f.groups.len()).sum();
    let sum = |f: fn(&FunctionReport) -> f64| functions.iter().map(f).sum::<f64>();
    let first = functions.first();
    json!({
        "target": target,
        "strategy": first.map_or("eqsat", |f| match f.strategy { Strategy::Eqsat => "eqsat", Strategy::Greedy => "greedy" }),
        "kernels": kernels,
        "kernel_functions": kernel_functions,
        "eqsat": {
            "ms": (sum(|f| f.ms) * 1000.0).round() / 1000.0,
            "iterations": functions.iter().map(|f| f.iterations).max().unwrap_or(0),
            "enodes": functions.iter().map(|f| f.enodes).sum::<usize>(),
            "eclasses": functions.iter().map(|f| f.eclasses).sum::<usize>(),
            "stop_reason": functions.iter().map(|f| f.stop_reason.clone()).collect::<Vec<_>>().join("; "),
            "extraction": functions.iter().map(|f| f.extraction.clone()).collect::<Vec<_>>().join("; "),
        },
        "cost_us": {
            "chosen": us(sum(|f| f.cost)),
            "greedy_strategy": us(sum(|f| f.cost_greedy)),
            "tree_extraction": us(sum(|f| f.cost_tree)),
        },
        "chosen": functions.iter().map(|f| f.chosen).collect::<Vec<_>>(),
        "groups": functions.iter().flat_map(|f| f.groups.iter()).map(|g| json!({
            "name": g.kernel,
            "ops": g.ops,
            "rules": g.rules,
            "cost_before": us(g.cost_before),
            "cost_after": us(g.cost_after),
            "compute": g.compute,
        })).collect::<Vec<_>>(),
    })
}
