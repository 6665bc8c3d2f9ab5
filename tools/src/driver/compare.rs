//! `fuser run --target cpu --compare-with reference`: the model runs compiled and on the
//! reference evaluator side by side, kernel by kernel. Each kernel's result is exposed
//! as an extra output of the model; the table gives each kernel's largest error, and the
//! first kernel whose error exceeds the tolerance is named: where a miscompilation starts.

use fuser_dialects::ffi::clone_operation;
use fuser_dialects::{eval::evaluate_with_weights, semantics::Tensor};
use fuser_lowering::expose_kernel_results;
use fuser_passes::{
    cpu_target::{CpuError, compile_cpu},
    phases::{Fusion, Phase, run_phases},
    value_specialization::{lifted_by_values, specialize},
};
use melior::{
    Context,
    ir::{BlockLike, RegionLike, operation::OperationLike},
};

/// One kernel's comparison.
pub struct KernelError {
    pub kernel: String,
    /// Largest |cpu - reference| over the kernel's result.
    pub max_abs: f64,
    /// `max_abs` relative to the largest |reference| value.
    pub relative: f64,
}

/// Relative error above which a kernel diverges (f32 computed in f32 against the
/// evaluator's once-rounded f64; see docs/floating-point.md).
pub const TOLERANCE: f64 = 1e-3;

/// Compares each output with the reference's (`names` in order), prints one line each,
/// and fails naming the first beyond [`TOLERANCE`].
pub fn compare_outputs(outputs: &[Tensor], reference: &[Tensor], names: &[String]) -> Result<(), String> {
    if outputs.len() != reference.len() {
        return Err(format!(
            "{} outputs, the reference gave {}",
            outputs.len(),
            reference.len()
        ));
    }
    println!("{:>12} {:>12}  output (vs reference)", "max |error|", "relative");
    let mut first_bad = None;
    for (i, (o, r)) in outputs.iter().zip(reference).enumerate() {
        let name = names.get(i).cloned().unwrap_or_else(|| format!("output {i}"));
        if o.shape() != r.shape() {
            return Err(format!(
                "output '{name}' has shape {:?}, the reference {:?}",
                o.shape(),
                r.shape()
            ));
        }
        let (max_abs, relative) = error(o, r);
        println!("{max_abs:>12.3e} {relative:>12.3e}  {name}");
        if (relative.is_nan() || relative > TOLERANCE) && first_bad.is_none() {
            first_bad = Some((name, relative));
        }
    }
    match first_bad {
        Some((name, relative)) => Err(format!(
            "output '{name}' diverges from the reference (relative error {relative:.3e} > {TOLERANCE:e})"
        )),
        None => {
            println!("every output is within {TOLERANCE:e} of the reference");
            Ok(())
        }
    }
}

fn error(a: &Tensor, b: &Tensor) -> (f64, f64) {
    let (a, b) = (a.to_f64_vec(), b.to_f64_vec());
    let max_abs = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    let scale = b.iter().map(|y| y.abs()).fold(0.0, f64::max);
    (max_abs, if scale > 0.0 { max_abs / scale } else { max_abs })
}

/// Runs `module` (entry `function`) both ways on `inputs`; returns the model's outputs
/// (compiled) and the per-kernel errors in call order. When the CPU backend refuses
/// because shapes or axes depend on input values, both sides run again on the module
/// specialized on `inputs` (see `fuser_passes::value_specialization`), as `fuser run`
/// does.
pub fn compare_with_reference(
    context: &Context,
    module: &mut melior::ir::Module,
    function: &str,
    weights: &fuser_dialects::eval::Weights,
    inputs: &[Tensor],
) -> Result<(Vec<Tensor>, Vec<KernelError>), String> {
    let original = clone_operation(module.as_operation());
    match compare_once(context, module, function, weights, inputs) {
        Err(Failure::Compile(error)) if lifted_by_values(&error) => {
            let fresh = melior::ir::Module::from_operation(original).ok_or("the module could not be copied")?;
            specialize(&fresh, function, inputs)?;
            *module = fresh;
            compare_once(context, module, function, weights, inputs).map_err(Failure::message)
        }
        other => other.map_err(Failure::message),
    }
}

/// Why one comparison did not complete.
enum Failure {
    Compile(CpuError),
    Other(String),
}

impl Failure {
    fn message(self) -> String {
        match self {
            Failure::Compile(error) => error.message,
            Failure::Other(message) => message,
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Other(message)
    }
}

fn compare_once(
    context: &Context,
    module: &mut melior::ir::Module,
    function: &str,
    weights: &fuser_dialects::eval::Weights,
    inputs: &[Tensor],
) -> Result<(Vec<Tensor>, Vec<KernelError>), Failure> {
    run_phases(context, module, None, Phase::Kernels, Fusion::default()).map_err(|e| e.to_string())?;
    let model_outputs = fuser_dialects::eval::find_function(module.as_operation(), function)
        .and_then(|f| {
            f.region(0)
                .ok()
                .and_then(|r| r.first_block())
                .and_then(|b| b.terminator())
        })
        .map(|ret| ret.operand_count())
        .ok_or_else(|| "no entry function".to_string())?;
    let kernels = expose_kernel_results(module.as_operation(), function)?;
    let reference =
        evaluate_with_weights(module.as_operation(), function, inputs, weights).map_err(|e| e.to_string())?;
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
    let compiled = compile_cpu(context, module, function, weights, Some(&shapes)).map_err(Failure::Compile)?;
    let actual = compiled.run(inputs).map_err(|e| e.to_string())?;
    let errors = kernels
        .into_iter()
        .enumerate()
        .map(|(i, kernel)| {
            let (max_abs, relative) = error(&actual[model_outputs + i], &reference[model_outputs + i]);
            KernelError {
                kernel,
                max_abs,
                relative,
            }
        })
        .collect();
    Ok((actual[..model_outputs].to_vec(), errors))
}
