//! ONNX backend node conformance: every case written by `scripts/onnx_node_cases.py`
//! (model.onnx plus test_data_set_*/{input,output}_*.pb) is imported, run on each asked
//! target (the reference evaluator, the CPU backend) and compared with its expected
//! outputs, all in one process.

use super::run::Target;
use fuser_dialects::ffi::clone_operation;
use fuser_dialects::{
    create_context,
    eval::evaluate_with_weights,
    semantics::{Data, Tensor},
};
use fuser_frontends::{ImportOptions, normalize::SUPPORTED_OPS, onnx::read_tensor_file};
use fuser_passes::{
    cpu_target::CpuRequest,
    phases::{Fusion, Phase},
    value_specialization::{Specialized, compile_cpu_for_inputs},
};
use melior::ir::Module;
use serde::Deserialize;
use std::{collections::BTreeMap, fmt::Write as _, path::Path};

/// One case of the manifest.
#[derive(Deserialize, Debug, Clone)]
pub struct Case {
    pub name: String,
    pub ops: Vec<String>,
    pub rtol: f64,
    pub atol: f64,
    pub data_sets: usize,
    pub tensors_only: bool,
}

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Passed,
    /// fuser says, with a reason, that it does not support something the case uses.
    Unsupported(String),
    Failed(String),
}

/// Whether every op of the case is in fuser's supported ONNX op set.
pub fn ops_supported(case: &Case) -> bool {
    case.ops
        .iter()
        .all(|op| op.strip_prefix("ai.onnx::").is_some_and(|o| SUPPORTED_OPS.contains(&o)))
}

/// The smallest relative tolerance for an output dtype: four units in the last place. The
/// evaluator computes in f64 and rounds once per op, while the expected outputs of f16 and
/// bf16 cases round at other points, which moves results by an ulp or two.
pub fn dtype_rtol(dtype: fuser_dialects::semantics::DType) -> f64 {
    use fuser_dialects::semantics::DType;
    match dtype {
        DType::F16 => 4.0 * (2f64).powi(-11),
        DType::BF16 => 4.0 * (2f64).powi(-8),
        _ => 0.0,
    }
}

fn compare(name: &str, actual: &Tensor, expected: &Tensor, rtol: f64, atol: f64) -> Result<(), String> {
    let rtol = rtol.max(dtype_rtol(expected.dtype));
    if actual.shape() != expected.shape() {
        return Err(format!(
            "{name}: shape {:?}, expected {:?}",
            actual.shape(),
            expected.shape()
        ));
    }
    if actual.dtype != expected.dtype {
        return Err(format!("{name}: dtype {}, expected {}", actual.dtype, expected.dtype));
    }
    match (&actual.data, &expected.data) {
        (Data::Float(a), Data::Float(e)) => {
            for (i, (x, y)) in a.iter().zip(e.iter()).enumerate() {
                let same = (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= atol + rtol * y.abs();
                if !same {
                    return Err(format!(
                        "{name}: element {i} is {x}, expected {y} (rtol {rtol}, atol {atol})"
                    ));
                }
            }
            Ok(())
        }
        _ if actual == expected => Ok(()),
        _ => Err(format!("{name}: values differ")),
    }
}

/// Runs one case directory. A panic is reported as a failure (it is a bug), so one case
/// cannot stop the run. With `through_export`, the imported model is exported to ONNX
/// (`fuser_frontends::export`) and that export is imported and run instead, so each case
/// checks the exporter against the case's expected outputs.
pub fn run_case(dir: &Path, case: &Case, target: Target, through_export: bool) -> Outcome {
    std::panic::catch_unwind(|| run_case_inner(dir, case, target, through_export)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Outcome::Failed(format!("panic: {message}"))
    })
}

fn run_case_inner(dir: &Path, case: &Case, target: Target, through_export: bool) -> Outcome {
    if !case.tensors_only {
        return Outcome::Unsupported("sequence, map or optional values".into());
    }
    let context = match create_context() {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    context.enable_multi_threading(false);
    // Diagnostics of failed verifications would otherwise go to stderr.
    context.attach_diagnostic_handler(|_| true);
    let graph = match fuser_frontends::onnx::load_model(&dir.join("model.onnx")) {
        Ok(g) => g,
        Err(e) if e.unsupported => return Outcome::Unsupported(e.to_string()),
        Err(e) => return Outcome::Failed(format!("import: {e}")),
    };
    let file = dir.join("model.onnx").display().to_string();
    let mut imported = match fuser_frontends::import_graph(&context, &graph, &file, &ImportOptions::default()) {
        Ok(i) => i,
        Err(e) if e.unsupported => return Outcome::Unsupported(e.to_string()),
        Err(e) => return Outcome::Failed(format!("import: {e}")),
    };
    if through_export {
        let exported = fuser_frontends::export::export_graph(imported.module.as_operation(), &imported.weights)
            .and_then(|graph| fuser_frontends::onnx::model_bytes(&graph, "fuser conformance"));
        let reimported = exported.map_err(|e| format!("export: {e}")).and_then(|bytes| {
            let graph = fuser_frontends::onnx::parse_model(&bytes, "exported.onnx", dir).map_err(|e| e.to_string())?;
            fuser_frontends::import_graph(&context, &graph, "exported.onnx", &ImportOptions::default())
                .map_err(|e| format!("import of the export: {e}"))
        });
        imported = match reimported {
            Ok(i) => i,
            Err(message) if message.contains(fuser_frontends::export::NO_ONNX_FORM) => {
                return Outcome::Unsupported(message);
            }
            Err(message) => return Outcome::Failed(message),
        };
    }
    let weights: fuser_dialects::eval::Weights = imported
        .weights
        .iter()
        .filter_map(|w| Some((w.name.clone(), w.tensor()?)))
        .collect();
    let pristine = imported.module;
    let function = imported.function;
    let mut compiled: Option<(fuser_lowering::JitModel, Specialized, Module)> = None;
    for k in 0..case.data_sets {
        let data = dir.join(format!("test_data_set_{k}"));
        let mut inputs = Vec::new();
        let mut outputs = Vec::new();
        for (prefix, into) in [("input", &mut inputs), ("output", &mut outputs)] {
            for i in 0.. {
                let path = data.join(format!("{prefix}_{i}.pb"));
                if !path.exists() {
                    break;
                }
                match read_tensor_file(&path) {
                    Ok(t) => into.push(t),
                    Err(e) if e.contains("not supported") => return Outcome::Unsupported(e),
                    Err(e) => return Outcome::Failed(e),
                }
            }
        }
        // Compiled once, for the shapes of the first data set, unless the code is
        // specialized on input values that this data set does not share.
        let reusable = matches!(&compiled, Some((_, specialized, _)) if specialized.matches(&inputs));
        if target == Target::Cpu && !reusable {
            let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
            let Some(mut fresh) = Module::from_operation(clone_operation(pristine.as_operation())) else {
                return Outcome::Failed("the module does not clone".into());
            };
            let request = CpuRequest {
                function: &function,
                weights: &weights,
                input_shapes: Some(&shapes),
                up_to: Phase::Llvm,
                entry_symbol: format!("_mlir_ciface_{function}"),
                profile: false,
                object_file: None,
                fusion: Fusion::default(),
            };
            compiled = match compile_cpu_for_inputs(&context, &mut fresh, &request, &inputs) {
                // The lowered module stays alive beside its code.
                Ok((model, _, specialized)) => Some((model, specialized, fresh)),
                Err(e) if e.unsupported => return Outcome::Unsupported(e.message),
                Err(e) => return Outcome::Failed(format!("compile: {}", e.message)),
            };
        }
        let actual = match &compiled {
            None => match evaluate_with_weights(pristine.as_operation(), &function, &inputs, &weights) {
                Ok(a) => a,
                Err(e) if matches!(e.root(), fuser_dialects::eval::EvalError::Unsupported(_)) => {
                    return Outcome::Unsupported(e.to_string());
                }
                Err(e) => return Outcome::Failed(format!("evaluate: {e}")),
            },
            Some((model, _, _)) => match model.run(&inputs) {
                Ok(a) => a,
                Err(e) => return Outcome::Failed(format!("run: {e}")),
            },
        };
        if actual.len() != outputs.len() {
            return Outcome::Failed(format!("{} outputs, expected {}", actual.len(), outputs.len()));
        }
        for (i, (a, e)) in actual.iter().zip(&outputs).enumerate() {
            if let Err(message) = compare(&format!("output {i}"), a, e, case.rtol, case.atol) {
                return Outcome::Failed(message);
            }
        }
    }
    Outcome::Passed
}

/// Reads the manifest of a cases folder.
pub fn read_manifest(dir: &Path) -> Result<Vec<Case>, String> {
    let text = std::fs::read_to_string(dir.join("manifest.json")).map_err(|e| {
        format!(
            "cannot read {}/manifest.json: {e} (generate it with scripts/onnx_node_cases.py)",
            dir.display()
        )
    })?;
    serde_json::from_str(&text).map_err(|e| format!("bad manifest: {e}"))
}

/// Why a case was refused, by class; "other" is what fuser could support and does not yet.
pub fn refusal_class(reason: &str) -> &'static str {
    if reason.contains("element type") {
        "an element type outside fuser's (f32, f64, f16, bf16, i8, u8, i32, i64, bool)"
    } else if reason.contains("is outside the supported range") {
        "an opset outside 6-28"
    } else if reason.contains("training") {
        "training mode with a random mask (a Dropout without a seed)"
    } else if reason.contains("sequence, map or optional") {
        "non-tensor values (sequences, maps, optionals)"
    } else {
        "other"
    }
}

/// Per-op counts for the report.
#[derive(Default, Debug, Clone, Copy)]
pub struct Counts {
    pub cases: usize,
    pub passed: usize,
    pub failed: usize,
    pub unsupported: usize,
}

/// A refusal without the file or node that names the case, and without the line that
/// names the failed phase, so that refusals group by cause.
fn short_reason(reason: &str) -> String {
    let first = reason.lines().next().unwrap_or_default();
    let without_node = match first.find("': ") {
        Some(at) if first.starts_with("node '") => &first[at + 3..],
        _ => first,
    };
    let without_file = without_node.rsplit(".onnx: ").next().unwrap_or(without_node);
    // Shapes differ per case; the kind of refusal does not.
    if without_file.starts_with("--target cpu needs static shapes") {
        return "dynamic dims that the inputs do not fix (the CPU backend compiles static shapes)".into();
    }
    without_file.to_string()
}

/// The name of a target in reports and flags.
pub fn target_name(target: Target) -> &'static str {
    match target {
        Target::Reference => "reference",
        Target::Cpu => "cpu",
        Target::Cuda => "cuda",
        Target::GpuLoops => "gpu-loops",
    }
}

fn bump(counts: &mut Counts, outcome: &Outcome) {
    counts.cases += 1;
    match outcome {
        Outcome::Passed => counts.passed += 1,
        Outcome::Failed(_) => counts.failed += 1,
        Outcome::Unsupported(_) => counts.unsupported += 1,
    }
}

/// The markdown report of a run: `results` holds each case's outcome per target, in the
/// order of `targets`.
pub fn report(results: &[(Case, Vec<Outcome>)], targets: &[Target], command: &str) -> String {
    let mut per_op: BTreeMap<String, Vec<Counts>> = BTreeMap::new();
    let mut total = vec![Counts::default(); targets.len()];
    let mut in_set = vec![Counts::default(); targets.len()];
    for (case, outcomes) in results {
        for (t, outcome) in outcomes.iter().enumerate() {
            bump(&mut total[t], outcome);
            if ops_supported(case) {
                bump(&mut in_set[t], outcome);
            }
            for op in &case.ops {
                let entry = per_op
                    .entry(op.trim_start_matches("ai.onnx::").to_string())
                    .or_insert_with(|| vec![Counts::default(); targets.len()]);
                bump(&mut entry[t], outcome);
            }
        }
    }
    let mut out = String::new();
    writeln!(out, "# ONNX backend node conformance\n").unwrap();
    writeln!(out, "Generated by `{command}`; do not edit by hand.\n").unwrap();
    writeln!(out, "Each case of the installed onnx package's backend node tests is imported, run on each target, and compared with its expected outputs (the case's tolerance, else rtol 1e-3 / atol 1e-7; for f16 and bf16 outputs rtol is at least four ulps, since the evaluator rounds once per op in f64 where the expected outputs round at other points). The targets: `reference` is the graph dialect's reference evaluator; `cpu` compiles the model through every phase to machine code for this CPU and runs it (JIT). *Unsupported* means fuser refused the case with a reason (an op, attribute value or dtype it does not support, or has no CPU lowering for yet); *failed* means a wrong or missing result.\n").unwrap();
    writeln!(
        out,
        "| target | cases | passed | failed | unsupported |\n|---|---|---|---|---|"
    )
    .unwrap();
    for (t, target) in targets.iter().enumerate() {
        let name = target_name(*target);
        let (a, s) = (total[t], in_set[t]);
        writeln!(
            out,
            "| {name}, all cases | {} | {} | {} | {} |",
            a.cases, a.passed, a.failed, a.unsupported
        )
        .unwrap();
        writeln!(
            out,
            "| {name}, cases whose ops are all supported | {} | {} | {} | {} |",
            s.cases, s.passed, s.failed, s.unsupported
        )
        .unwrap();
    }
    writeln!(out).unwrap();
    let mut classes: BTreeMap<&str, usize> = BTreeMap::new();
    for (case, outcomes) in results {
        if let (true, Some(Outcome::Unsupported(reason))) = (ops_supported(case), outcomes.first()) {
            *classes.entry(refusal_class(reason)).or_default() += 1;
        }
    }
    writeln!(
        out,
        "Refusals on the {} target among the cases whose ops are all supported, by reason:\n\n| reason | cases |\n|---|---|",
        target_name(targets[0])
    )
    .unwrap();
    for class in [
        "an element type outside fuser's (f32, f64, f16, bf16, i8, u8, i32, i64, bool)",
        "an opset outside 6-28",
        "training mode with a random mask (a Dropout without a seed)",
        "non-tensor values (sequences, maps, optionals)",
        "other",
    ] {
        writeln!(out, "| {class} | {} |", classes.get(class).copied().unwrap_or(0)).unwrap();
    }
    writeln!(out).unwrap();
    // Beyond the first target: why it refuses cases the first one passes.
    for (t, target) in targets.iter().enumerate().skip(1) {
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for (_, outcomes) in results {
            if let (Some(Outcome::Passed), Some(Outcome::Unsupported(reason))) = (outcomes.first(), outcomes.get(t)) {
                *reasons.entry(short_reason(reason)).or_default() += 1;
            }
        }
        let mut reasons: Vec<(String, usize)> = reasons.into_iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        if reasons.is_empty() {
            writeln!(
                out,
                "Every case that passes on {} passes on {} too.\n",
                target_name(targets[0]),
                target_name(*target)
            )
            .unwrap();
            continue;
        }
        writeln!(
            out,
            "Cases that pass on {} but that {} refuses, by reason:\n\n| reason | cases |\n|---|---|",
            target_name(targets[0]),
            target_name(*target)
        )
        .unwrap();
        for (reason, n) in reasons {
            writeln!(out, "| {} | {n} |", reason.replace('|', "\\|")).unwrap();
        }
        writeln!(out).unwrap();
    }
    let mut header = String::from("| op | supported | cases |");
    let mut rule = String::from("|---|---|---|");
    for target in targets {
        let n = target_name(*target);
        header.push_str(&format!(" {n} passed | {n} failed | {n} unsupported |"));
        rule.push_str("---|---|---|");
    }
    writeln!(
        out,
        "## Per op\n\nA case counts once for each op it uses.\n\n{header}\n{rule}"
    )
    .unwrap();
    for (op, counts) in &per_op {
        let supported = if SUPPORTED_OPS.contains(&op.as_str()) {
            "yes"
        } else {
            "no"
        };
        let mut row = format!("| {op} | {supported} | {} |", counts[0].cases);
        for c in counts {
            row.push_str(&format!(" {} | {} | {} |", c.passed, c.failed, c.unsupported));
        }
        writeln!(out, "{row}").unwrap();
    }
    let mut failures = Vec::new();
    for (case, outcomes) in results {
        for (t, outcome) in outcomes.iter().enumerate() {
            if let Outcome::Failed(m) = outcome {
                failures.push(format!(
                    "- `{}` ({}): {}",
                    case.name,
                    target_name(targets[t]),
                    m.replace('|', "\\|")
                ));
            }
        }
    }
    if !failures.is_empty() {
        writeln!(out, "\n## Failures\n\n{}", failures.join("\n")).unwrap();
    }
    out
}
