//! `fuser bench`: compile a model for the CPU (JIT) or this machine's NVIDIA GPU, run it
//! on random inputs, and report latency as one line of JSON on stdout. Progress goes to
//! stderr.

use super::{
    cache::{CacheOptions, compile_cached},
    load::load,
    run::{random_inputs, read_inputs},
    run_cuda::load_on_cuda,
};
use fuser_dialects::create_context;
use fuser_frontends::ImportOptions;
use fuser_passes::{
    cpu_target::{CpuRequest, compile_cpu_with},
    phases::{Fusion, Phase},
};
use indicatif::{ProgressBar, ProgressStyle};
use std::{io::IsTerminal, path::Path, time::Instant};

/// What `fuser bench` was asked to do.
pub struct BenchRequest<'p> {
    pub model: &'p Path,
    pub options: ImportOptions,
    /// Threads for the microkernels (0: all cores).
    pub threads: usize,
    pub iterations: usize,
    pub warmup: usize,
    pub seed: u64,
    /// Inputs from .npy files, by name (all of them, or none for random inputs).
    pub inputs: std::collections::HashMap<String, std::path::PathBuf>,
    /// Time each kernel.
    pub profile: bool,
    /// Look the compiled model up in (and store it into) the model cache.
    pub use_cache: bool,
    /// How ops are grouped into kernels.
    pub fusion: Fusion,
    /// Run on this machine's NVIDIA GPU instead of the CPU.
    pub cuda: bool,
    /// On the GPU: f16 contractions on tensor cores.
    pub tensor_cores: bool,
}

/// One kernel's share of a profiled run.
#[derive(Debug, serde::Serialize)]
pub struct KernelTime {
    pub kernel: String,
    /// Mean time per model run.
    pub ms: f64,
    pub percent: f64,
}

/// The measurements of one benchmark.
#[derive(Debug, serde::Serialize)]
pub struct BenchResult {
    pub model: String,
    pub threads: usize,
    pub iterations: usize,
    pub warmup: usize,
    pub median_ms: f64,
    pub p90_ms: f64,
    pub min_ms: f64,
    /// Seconds from loading the model to machine code (or to loading it from the cache),
    /// without the time spent storing it into the cache.
    pub compile_s: f64,
    /// Whether the compiled model came from the cache.
    pub cached: bool,
    pub peak_rss_mb: f64,
    /// Per kernel, slowest first (with --profile).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kernels: Vec<KernelTime>,
    /// With --profile: the mean time per run outside the kernels (views, copies,
    /// allocation), from the same timed runs as the kernels' means.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outside_kernels_ms: Option<f64>,
}

/// The process's peak resident set size in MB (VmHWM), or 0 where /proc is missing.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The value at quantile `q` of sorted `values` (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Runs `run` `warmup` times, calls `before_timing`, then times `iterations` runs
/// (milliseconds, sorted); a progress bar on a terminal.
fn time_runs(
    request: &BenchRequest,
    mut run: impl FnMut() -> Result<(), String>,
    before_timing: impl FnOnce(),
) -> Result<Vec<f64>, String> {
    let total = (request.warmup + request.iterations) as u64;
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(ProgressStyle::with_template("{msg} {bar:40} {pos}/{len}").expect("template"));
    bar.set_message("warmup");
    for _ in 0..request.warmup {
        run()?;
        bar.inc(1);
    }
    bar.set_message("timing");
    before_timing();
    let mut times = Vec::with_capacity(request.iterations);
    for _ in 0..request.iterations {
        let start = Instant::now();
        run()?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
        bar.inc(1);
    }
    bar.finish_and_clear();
    times.sort_by(f64::total_cmp);
    Ok(times)
}

/// The model and its inputs (from files, or random).
fn load_with_inputs<'c>(
    context: &'c melior::Context,
    request: &BenchRequest,
) -> Result<(super::load::Loaded<'c>, Vec<fuser_dialects::semantics::Tensor>), String> {
    let loaded = load(context, request.model, &request.options)?;
    let inputs = if request.inputs.is_empty() {
        random_inputs(&loaded.inputs, request.seed)?
    } else {
        read_inputs(&loaded.inputs, &request.inputs)?
    };
    Ok((loaded, inputs))
}

/// The result of `times` (sorted milliseconds).
fn result(
    request: &BenchRequest,
    times: &[f64],
    compile_s: f64,
    cached: bool,
    kernels: Vec<KernelTime>,
) -> BenchResult {
    BenchResult {
        model: request.model.display().to_string(),
        threads: if request.cuda { 0 } else { fuser_runtime::threads() },
        iterations: request.iterations,
        warmup: request.warmup,
        median_ms: quantile(times, 0.5),
        p90_ms: quantile(times, 0.9),
        min_ms: times[0],
        compile_s,
        cached,
        peak_rss_mb: peak_rss_mb(),
        kernels,
        outside_kernels_ms: None,
    }
}

/// The GPU benchmark: inputs uploaded once; each timed run is every launch and the wait
/// for the last (wall clock on the host).
fn bench_cuda(request: &BenchRequest) -> Result<BenchResult, String> {
    let context = create_context().map_err(|e| e.to_string())?;
    context.enable_multi_threading(false);
    let start = Instant::now();
    let (mut loaded, inputs) = load_with_inputs(&context, request)?;
    let model = load_on_cuda(
        &context,
        &mut loaded.module,
        &loaded.function,
        &loaded.weights,
        request.tensor_cores,
    )?;
    let compile_s = start.elapsed().as_secs_f64();
    let bytes: Vec<Vec<u8>> = inputs.iter().map(fuser_dialects::constants::tensor_bytes).collect();
    let slices: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
    model.model.set_inputs(&slices).map_err(|e| e.to_string())?;
    let times = time_runs(
        request,
        || {
            model.model.launch().map_err(|e| e.to_string())?;
            model.model.synchronize().map_err(|e| e.to_string())
        },
        || {},
    )?;
    Ok(result(request, &times, compile_s, false, Vec::new()))
}

pub fn bench(request: &BenchRequest) -> Result<BenchResult, String> {
    if request.iterations == 0 {
        return Err("--iterations must be at least 1".into());
    }
    if request.cuda {
        if request.profile {
            return Err("--profile is for --target cpu".into());
        }
        return bench_cuda(request);
    }
    if request.tensor_cores {
        return Err("--tensor-cores is for --target cuda".into());
    }
    fuser_runtime::set_threads(request.threads);
    let context = create_context().map_err(|e| e.to_string())?;
    context.enable_multi_threading(false);
    let start = Instant::now();
    let (mut loaded, inputs) = load_with_inputs(&context, request)?;
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
    // A profiled model is instrumented, so it is compiled afresh, never cached.
    let (model, kernel_names, cached, store_seconds) = if request.profile {
        let cpu_request = CpuRequest {
            function: &loaded.function,
            weights: &loaded.weights,
            input_shapes: Some(&shapes),
            up_to: Phase::Llvm,
            entry_symbol: format!("_mlir_ciface_{}", loaded.function),
            profile: true,
            object_file: None,
            fusion: request.fusion,
        };
        let (model, names) = compile_cpu_with(&context, &mut loaded.module, &cpu_request).map_err(|e| e.message)?;
        (model, names, false, 0.0)
    } else {
        let compiled = compile_cached(
            &context,
            &mut loaded.module,
            &loaded.function,
            &loaded.weights,
            &inputs,
            CacheOptions {
                threads: request.threads,
                use_cache: request.use_cache,
                fusion: request.fusion,
            },
        )?;
        (compiled.model, Vec::new(), compiled.cached, compiled.store_seconds)
    };
    // Storing into the cache is not compiling.
    let compile_s = start.elapsed().as_secs_f64() - store_seconds;
    // Inputs are copied in once; each run is the compiled code only.
    let mut buffers = model.prepare(&inputs).map_err(|e| e.to_string())?;
    // The profile counts timed runs only.
    let times = time_runs(
        request,
        || model.run_prepared(&mut buffers).map_err(|e| e.to_string()),
        || drop(fuser_runtime::take_profile()),
    )?;
    let total_ms: f64 = times.iter().sum();
    let mut kernels: Vec<KernelTime> = fuser_runtime::take_profile()
        .into_iter()
        .zip(&kernel_names)
        .map(|((seconds, _), name)| KernelTime {
            kernel: name.clone(),
            ms: seconds * 1e3 / request.iterations as f64,
            percent: 100.0 * seconds * 1e3 / total_ms,
        })
        .collect();
    kernels.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    // Means of the same runs: every kernel's time lies inside its run's.
    let inside: f64 = kernels.iter().map(|k| k.ms).sum();
    let outside = total_ms / request.iterations as f64 - inside;
    let mut measured = result(request, &times, compile_s, cached, kernels);
    measured.outside_kernels_ms = Some(outside);
    Ok(measured)
}
