//! `fuser explain`: the model's graph drawn with Graphviz, each kernel that fusion formed
//! as a cluster labelled with its function, the rules that formed it and its cost before
//! and after (from the fusion report).

use super::load::load;
use crate::output::write_output;
use fuser_dialects::create_context;
use fuser_dialects::{accessors::op_name, eval::find_function};
use fuser_frontends::ImportOptions;
use fuser_passes::{
    cpu_target::{CpuRequest, lower_for_cpu},
    eqsat::translate::display_names,
    phases::{Fusion, Phase},
};
use melior::ir::{BlockLike, OperationRef, RegionLike, Value, ValueLike, operation::OperationLike};
use std::{collections::HashMap, path::Path, process::Command};

pub struct ExplainRequest<'p> {
    pub model: &'p Path,
    pub options: ImportOptions,
    pub fusion: Fusion,
    /// The SVG to write, if any.
    pub svg: Option<&'p Path>,
    /// Also write the Graphviz source here.
    pub dot: Option<&'p Path>,
}

/// One node of the drawn graph: a graph op by its model name.
struct Node {
    name: String,
    op: String,
    inputs: Vec<String>,
}

fn key(value: Value) -> usize {
    value.to_raw().ptr as usize
}

/// The graph ops of `function` (not constants or weights), with the nodes they read.
fn graph_nodes(function: OperationRef) -> Vec<Node> {
    let mut producer: HashMap<usize, String> = HashMap::new();
    let mut nodes = Vec::new();
    let Some(block) = function.region(0).ok().and_then(|r| r.first_block()) else {
        return nodes;
    };
    for i in 0..block.argument_count() {
        if let Ok(argument) = block.argument(i) {
            producer.insert(key(argument.into()), format!("input {i}"));
        }
    }
    let mut ops = Vec::new();
    let mut current = block.first_operation();
    while let Some(op) = current {
        current = op.next_in_block();
        ops.push(op);
    }
    // The names the fusion report uses.
    let names = display_names(&ops);
    for op in ops {
        let Some(node_name) = names.get(&(op.to_raw().ptr as usize)).cloned() else {
            continue;
        };
        let inputs = op.operands().filter_map(|v| producer.get(&key(v)).cloned()).collect();
        for result in op.results() {
            producer.insert(key(result.into()), node_name.clone());
        }
        nodes.push(Node {
            name: node_name,
            op: op_name(&op).trim_start_matches("graph.").to_string(),
            inputs,
        });
    }
    nodes
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The Graphviz source: one cluster per kernel of the report.
fn dot_source(nodes: &[Node], report: &serde_json::Value) -> String {
    let mut out = String::from(
        "digraph fusion {\n  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"Helvetica\", fontsize=10];\n  graph [fontname=\"Helvetica\", fontsize=10];\n",
    );
    let mut clustered: HashMap<String, ()> = HashMap::new();
    let groups = report["groups"].as_array().cloned().unwrap_or_default();
    for (i, group) in groups.iter().enumerate() {
        let ops: Vec<String> = group["ops"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
            .unwrap_or_default();
        let present: Vec<&String> = ops.iter().filter(|o| nodes.iter().any(|n| &n.name == *o)).collect();
        if present.is_empty() {
            continue;
        }
        let rules: Vec<&str> = group["rules"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let label = format!(
            "{}\\n{:.1} us -> {:.1} us{}",
            group["name"].as_str().unwrap_or("kernel"),
            group["cost_before"].as_f64().unwrap_or(0.0),
            group["cost_after"].as_f64().unwrap_or(0.0),
            if rules.is_empty() {
                String::new()
            } else {
                format!("\\n{}", rules.join(", "))
            }
        );
        out.push_str(&format!(
            "  subgraph cluster_{i} {{\n    label={};\n    style=\"rounded,filled\";\n    fillcolor=\"#eef4ff\";\n",
            quote(&label).replace("\\\\n", "\\n")
        ));
        for op in present {
            clustered.insert(op.clone(), ());
            out.push_str(&format!("    {};\n", quote(op)));
        }
        out.push_str("  }\n");
    }
    for node in nodes {
        let style = if clustered.contains_key(&node.name) {
            String::new()
        } else {
            // Views and folded ops: not part of any kernel.
            ", style=\"rounded,dashed\"".to_string()
        };
        out.push_str(&format!(
            "  {} [label={}{style}];\n",
            quote(&node.name),
            quote(&format!("{}\\n{}", node.name, node.op)).replace("\\\\n", "\\n")
        ));
        for input in &node.inputs {
            out.push_str(&format!("  {} -> {};\n", quote(input), quote(&node.name)));
        }
    }
    out.push_str("}\n");
    out
}

/// The fusion summary: the search, the costs, then one line per kernel.
pub fn summary(report: &serde_json::Value, graph_ops: usize) -> String {
    let eqsat = &report["eqsat"];
    let cost = &report["cost_us"];
    let mut out = format!(
        "fusion ({}, target {}): {} kernels ({} distinct functions) from {} graph ops\n\
         search: {:.1} ms, {} iterations, {} e-nodes, {}; extraction {}\n\
         cost by the model: {:.1} us (greedy strategy {:.1} us, tree extraction {:.1} us)\n",
        report["strategy"].as_str().unwrap_or("?"),
        report["target"].as_str().unwrap_or("?"),
        report["kernels"],
        report["kernel_functions"],
        graph_ops,
        eqsat["ms"].as_f64().unwrap_or(0.0),
        eqsat["iterations"],
        eqsat["enodes"],
        eqsat["stop_reason"].as_str().unwrap_or("?"),
        eqsat["extraction"].as_str().unwrap_or("?"),
        cost["chosen"].as_f64().unwrap_or(0.0),
        cost["greedy_strategy"].as_f64().unwrap_or(0.0),
        cost["tree_extraction"].as_f64().unwrap_or(0.0),
    );
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
            .unwrap_or_default()
    };
    for group in report["groups"].as_array().into_iter().flatten() {
        let rules = strings(&group["rules"]);
        out.push_str(&format!(
            "  {}: [{}] {:.1} us -> {:.1} us{}\n",
            group["name"].as_str().unwrap_or("?"),
            strings(&group["ops"]).join(", "),
            group["cost_before"].as_f64().unwrap_or(0.0),
            group["cost_after"].as_f64().unwrap_or(0.0),
            if rules.is_empty() {
                String::new()
            } else {
                format!(" by {}", rules.join(", "))
            }
        ));
    }
    out
}

/// Fuses the model for the CPU, prints the fusion summary on stdout, draws the graph
/// when asked, and returns a summary line.
pub fn explain(request: &ExplainRequest) -> Result<String, String> {
    let context = create_context().map_err(|e| e.to_string())?;
    context.enable_multi_threading(false);
    let mut loaded = load(&context, request.model, &request.options)?;
    let function = find_function(loaded.module.as_operation(), &loaded.function)
        .ok_or_else(|| format!("no function '{}'", loaded.function))?;
    let nodes = graph_nodes(function);
    let cpu_request = CpuRequest {
        function: &loaded.function,
        weights: &loaded.weights,
        input_shapes: None,
        up_to: Phase::Kernels,
        entry_symbol: loaded.function.clone(),
        profile: false,
        object_file: None,
        fusion: request.fusion,
    };
    let lowered = lower_for_cpu(&context, &mut loaded.module, &cpu_request).map_err(|e| e.message)?;
    let text = lowered.fusion_report.ok_or("the kernels phase left no fusion report")?;
    let report: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let source = dot_source(&nodes, &report);
    if let Some(path) = request.dot {
        write_output(&path.display().to_string(), source.as_bytes())?;
    }
    print!("{}", summary(&report, nodes.len()));
    match request.svg {
        Some(path) => {
            let svg = run_dot(&source)?;
            write_output(&path.display().to_string(), &svg)?;
            Ok(format!("fuser explain: wrote {}", path.display()))
        }
        None => Ok(String::new()),
    }
}

/// Renders Graphviz source to SVG with Debian's `dot`.
fn run_dot(source: &str) -> Result<Vec<u8>, String> {
    use std::io::Write;
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!("Graphviz `dot` could not run ({e}); install it with `apt-get install graphviz` (make setup does)")
        })?;
    child
        .stdin
        .take()
        .ok_or("dot has no stdin")?
        .write_all(source.as_bytes())
        .map_err(|e| e.to_string())?;
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "dot failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(output.stdout)
}
