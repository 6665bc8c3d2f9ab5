//! `fuser run`: a model on the reference evaluator, compiled for the CPU, or compiled
//! for an NVIDIA GPU, with `.npy` inputs and outputs.

use super::load::load;
use super::{
    cache::{CacheOptions, compile_cached},
    compare::{TOLERANCE, compare_outputs, compare_with_reference},
    run_cuda::load_on_cuda,
};
use fuser_dialects::{
    create_context,
    eval::evaluate_with_weights,
    semantics::{DType, Tensor, TypeInfo},
};
use fuser_frontends::ImportOptions;
use fuser_frontends::npy;
use fuser_passes::{gpu_target::compile_gpu_loops_for_cpu, phases::Fusion};
use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::{collections::HashMap, path::Path};

/// Random inputs of the given types: floats uniform in [-1, 1), integers in [0, 10),
/// booleans fair coins. Never all zero.
pub fn random_inputs(types: &[(String, TypeInfo)], seed: u64) -> Result<Vec<Tensor>, String> {
    let mut rng = StdRng::seed_from_u64(seed);
    types
        .iter()
        .map(|(name, info)| {
            let shape = info.static_shape().ok_or_else(|| {
                format!(
                    "input '{name}' has a dynamic shape {}; fix it with `fuser import --shape`",
                    info.mlir()
                )
            })?;
            let count: usize = shape.iter().product();
            let dims = IxDyn(&shape);
            Ok(match info.dtype {
                d if d.is_float() => Tensor::float(
                    d,
                    ArrayD::from_shape_vec(dims, (0..count).map(|_| rng.random_range(-1.0..1.0)).collect())
                        .expect("count"),
                ),
                DType::Bool => Tensor::bool(
                    ArrayD::from_shape_vec(dims, (0..count).map(|_| rng.random_bool(0.5)).collect()).expect("count"),
                ),
                d => Tensor::int(
                    d,
                    ArrayD::from_shape_vec(dims, (0..count).map(|_| rng.random_range(0..10)).collect()).expect("count"),
                ),
            })
        })
        .collect()
}

/// Reads each input of `types` from its `.npy` file in `files` (by name), checking its
/// element type and shape.
pub fn read_inputs(
    types: &[(String, TypeInfo)],
    files: &HashMap<String, std::path::PathBuf>,
) -> Result<Vec<Tensor>, String> {
    types
        .iter()
        .map(|(name, info)| {
            let path = files
                .get(name)
                .ok_or_else(|| format!("missing --input {name}=FILE.npy"))?;
            let t = npy::read(path)?;
            let shape_ok = t.shape().len() == info.rank()
                && info
                    .shape
                    .iter()
                    .zip(t.shape())
                    .all(|(d, &s)| d.is_none_or(|d| d == s as i64));
            if t.dtype != info.dtype || !shape_ok {
                return Err(format!(
                    "input '{name}' ({}) is {} of shape {:?}, but the model takes {}",
                    path.display(),
                    t.dtype,
                    t.shape(),
                    info.mlir()
                ));
            }
            Ok(t)
        })
        .collect()
}

/// Where a model runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The graph dialect's reference evaluator.
    Reference,
    /// Machine code for the host CPU, through the JIT.
    Cpu,
    /// PTX for the NVIDIA GPU of this machine (device 0), through the CUDA driver.
    Cuda,
    /// The GPU kernels' loop nests (tiled and guarded for blocks and threads) run
    /// sequentially on this CPU: the GPU lowering checked without a GPU.
    GpuLoops,
}

/// What `fuser run` was asked to do.
pub struct RunRequest<'p> {
    pub target: Target,
    /// Look the compiled model up in (and store it into) the model cache.
    pub use_cache: bool,
    /// Also run the reference evaluator and compare: kernel by kernel on the CPU, output
    /// by output on a GPU.
    pub compare_with_reference: bool,
    /// With the CPU target: threads for the microkernels (0: all cores).
    pub threads: usize,
    /// With the CUDA target: f16 contractions on tensor cores.
    pub tensor_cores: bool,
    pub model: &'p Path,
    pub options: ImportOptions,
    pub inputs: HashMap<String, std::path::PathBuf>,
    pub random_seed: Option<u64>,
    pub output_dir: &'p Path,
}

/// Runs the model and writes `output_<i>.npy` (and `input_<i>.npy` for random inputs).
/// Returns a summary line per output.
pub fn run(request: &RunRequest) -> Result<Vec<String>, String> {
    if request.tensor_cores && request.target != Target::Cuda {
        return Err("--tensor-cores is for --target cuda".into());
    }
    let context = create_context().map_err(|e| e.to_string())?;
    context.enable_multi_threading(false);
    let mut loaded = load(&context, request.model, &request.options)?;
    for name in request.inputs.keys() {
        if !loaded.inputs.iter().any(|(n, _)| n == name) {
            let known: Vec<&str> = loaded.inputs.iter().map(|(n, _)| n.as_str()).collect();
            return Err(format!(
                "the model has no input '{name}'; its inputs are: {}",
                known.join(", ")
            ));
        }
    }
    let inputs: Vec<Tensor> = match request.random_seed {
        Some(seed) => {
            if !request.inputs.is_empty() {
                return Err("give either --input or --random-inputs, not both".into());
            }
            random_inputs(&loaded.inputs, seed)?
        }
        None => read_inputs(&loaded.inputs, &request.inputs)?,
    };
    std::fs::create_dir_all(request.output_dir)
        .map_err(|e| format!("cannot create '{}': {e}", request.output_dir.display()))?;
    let outputs = match request.target {
        Target::Reference => {
            evaluate_with_weights(loaded.module.as_operation(), &loaded.function, &inputs, &loaded.weights)
                .map_err(|e| e.to_string())?
        }
        Target::Cpu if request.compare_with_reference => {
            fuser_runtime::set_threads(request.threads);
            let (outputs, errors) =
                compare_with_reference(&context, &mut loaded.module, &loaded.function, &loaded.weights, &inputs)?;
            println!("{:>12} {:>12}  kernel (cpu vs reference)", "max |error|", "relative");
            for e in &errors {
                println!("{:>12.3e} {:>12.3e}  {}", e.max_abs, e.relative, e.kernel);
            }
            if let Some(first) = errors.iter().find(|e| e.relative.is_nan() || e.relative > TOLERANCE) {
                return Err(format!(
                    "kernel {} is the first to diverge from the reference (relative error {:.3e} > {TOLERANCE:e})",
                    first.kernel, first.relative
                ));
            }
            println!("every kernel is within {TOLERANCE:e} of the reference");
            outputs
        }
        Target::Cuda | Target::GpuLoops => {
            let reference = if request.compare_with_reference {
                Some(
                    evaluate_with_weights(loaded.module.as_operation(), &loaded.function, &inputs, &loaded.weights)
                        .map_err(|e| e.to_string())?,
                )
            } else {
                None
            };
            let outputs = if request.target == Target::Cuda {
                let model = load_on_cuda(
                    &context,
                    &mut loaded.module,
                    &loaded.function,
                    &loaded.weights,
                    request.tensor_cores,
                )?;
                println!(
                    "running on {} ({} kernel launches)",
                    model.model.device_name,
                    model.model.launches()
                );
                model.run(&inputs)?
            } else {
                let model = compile_gpu_loops_for_cpu(&context, &mut loaded.module, &loaded.function, &loaded.weights)
                    .map_err(|e| e.message)?;
                model.run(&inputs).map_err(|e| e.to_string())?
            };
            if let Some(reference) = reference {
                compare_outputs(&outputs, &reference, &loaded.outputs)?;
            }
            outputs
        }
        Target::Cpu => {
            fuser_runtime::set_threads(request.threads);
            let compiled = compile_cached(
                &context,
                &mut loaded.module,
                &loaded.function,
                &loaded.weights,
                &inputs,
                CacheOptions {
                    threads: request.threads,
                    use_cache: request.use_cache,
                    fusion: Fusion::default(),
                },
            )?;
            compiled.model.run(&inputs).map_err(|e| e.to_string())?
        }
    };
    if request.random_seed.is_some() {
        for (i, t) in inputs.iter().enumerate() {
            npy::write(&request.output_dir.join(format!("input_{i}.npy")), t)?;
        }
    }
    let mut summary = Vec::new();
    for (i, t) in outputs.iter().enumerate() {
        let path = request.output_dir.join(format!("output_{i}.npy"));
        npy::write(&path, t)?;
        let values = t.to_f64_vec();
        let (min, max) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        let mean = if values.is_empty() {
            0.0
        } else {
            values.iter().sum::<f64>() / values.len() as f64
        };
        summary.push(format!(
            "{} '{}': {} min {min:.6} max {max:.6} mean {mean:.6}",
            path.display(),
            loaded.outputs.get(i).cloned().unwrap_or_default(),
            TypeInfo::fixed(t.dtype, t.shape()).mlir()
        ));
    }
    Ok(summary)
}
