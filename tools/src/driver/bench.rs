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
    /// Alternate the runtime's experiment switch run by run ([`AbResult`]).
    pub ab: bool,
}

/// `--ab`: the runs alternate the runtime's experiment switch
/// ([`fuser_runtime::set_experiment`]), off (A) and on (B): `warmup` runs of each, A and B
/// in turn, then one of each whose outputs are compared, then `iterations` timed pairs
/// whose order alternates (A B, B A, A B, ...). The model is compiled afresh, never loaded
/// from the model cache: a cached library links its own copy of the runtime, whose switch
/// `fuser bench` cannot reach.
#[derive(Debug, serde::Serialize)]
pub struct AbResult {
    pub a_median_ms: f64,
    pub b_median_ms: f64,
    /// The median (nearest rank, so the lower middle one of an even count) over the timed
    /// pairs of B's time over A's: the two runs of a pair are milliseconds apart, so a
    /// change of the machine's speed moves both.
    pub ratio: f64,
    /// B's outputs against A's: the relative L2 distance over all outputs (at most
    /// [`AB_TOLERANCE`], else the benchmark fails).
    pub b_rel_l2: f64,
}

/// How far `--ab`'s B outputs may lie from A's (relative L2), as the model tests allow
/// against onnxruntime: an experiment may round differently, not compute something else.
pub const AB_TOLERANCE: f64 = 1e-4;

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
    /// With --ab: both halves (the fields above are then A's runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ab: Option<AbResult>,
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

/// Runs `run` `warmup` times, calls `before_timing`, then times `timed` runs
/// (milliseconds, in order); a progress bar on a terminal. `run` is given each run's
/// index, warm-up runs first.
fn time_runs(
    (warmup, timed): (usize, usize),
    mut run: impl FnMut(usize) -> Result<(), String>,
    before_timing: impl FnOnce() -> Result<(), String>,
) -> Result<Vec<f64>, String> {
    let total = (warmup + timed) as u64;
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(ProgressStyle::with_template("{msg} {bar:40} {pos}/{len}").expect("template"));
    bar.set_message("warmup");
    for i in 0..warmup {
        run(i)?;
        bar.inc(1);
    }
    bar.set_message("timing");
    before_timing()?;
    let mut times = Vec::with_capacity(timed);
    for i in 0..timed {
        let start = Instant::now();
        run(warmup + i)?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(times)
}

/// Whether run `i` of an `--ab` benchmark (`warmup` warm-up runs first) is a B run:
/// warm-up runs alternate A and B; timed runs go in pairs that alternate their order, A B
/// then B A.
fn is_b_run(i: usize, warmup: usize) -> bool {
    match i.checked_sub(warmup) {
        None => i % 2 == 1,
        Some(j) => (j % 2 == 1) == (j / 2 % 2 == 0),
    }
}

/// One run with the experiment switch off and one with it on, on the same inputs: the
/// [`relative_distance`] of B's outputs (all of them, as one vector) from A's.
fn b_against_a(model: &fuser_lowering::JitModel, buffers: &mut fuser_lowering::Buffers) -> Result<f64, String> {
    let mut outputs = |experiment: bool| -> Result<Vec<f64>, String> {
        fuser_runtime::set_experiment(experiment);
        model.run_prepared(buffers).map_err(|e| e.to_string())?;
        let tensors = model.read_outputs(buffers).map_err(|e| e.to_string())?;
        Ok(tensors.iter().flat_map(|t| t.to_f64_vec()).collect())
    };
    Ok(relative_distance(&outputs(false)?, &outputs(true)?))
}

/// The L2 distance of `b` from `a` relative to `a`'s finite values. Values that are the
/// same on both sides (NaN where both are NaN) add nothing, so the same outputs give 0; a
/// NaN or infinity on one side only gives NaN or infinity.
fn relative_distance(a: &[f64], b: &[f64]) -> f64 {
    let norm = |v: &mut dyn Iterator<Item = f64>| v.map(|x| x * x).sum::<f64>().sqrt();
    let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
    let distance = norm(&mut a.iter().zip(b).map(|(&a, &b)| if same(a, b) { 0.0 } else { a - b }));
    match distance {
        0.0 => 0.0,
        d => d / norm(&mut a.iter().copied().filter(|a| a.is_finite())),
    }
}

/// `--ab`'s halves of the timed runs' `times` (in order): A's times, B's, and the median of
/// the pairs' ratios B/A.
fn split_ab(times: &[f64]) -> (Vec<f64>, Vec<f64>, f64) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (j, &t) in times.iter().enumerate() {
        match is_b_run(j, 0) {
            true => b.push(t),
            false => a.push(t),
        }
    }
    let mut ratios: Vec<f64> = a.iter().zip(&b).map(|(a, b)| b / a).collect();
    ratios.sort_by(f64::total_cmp);
    let ratio = if ratios.is_empty() {
        f64::NAN
    } else {
        quantile(&ratios, 0.5)
    };
    (a, b, ratio)
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

/// The result of `times` (milliseconds, sorted).
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
        ab: None,
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
    let mut times = time_runs(
        (request.warmup, request.iterations),
        |_| {
            model.model.launch().map_err(|e| e.to_string())?;
            model.model.synchronize().map_err(|e| e.to_string())
        },
        || Ok(()),
    )?;
    times.sort_by(f64::total_cmp);
    Ok(result(request, &times, compile_s, false, Vec::new()))
}

pub fn bench(request: &BenchRequest) -> Result<BenchResult, String> {
    if request.iterations == 0 {
        return Err("--iterations must be at least 1".into());
    }
    if request.cuda {
        if request.profile || request.ab {
            return Err("--profile and --ab are for --target cpu".into());
        }
        return bench_cuda(request);
    }
    if request.tensor_cores {
        return Err("--tensor-cores is for --target cuda".into());
    }
    if request.ab && request.profile {
        return Err("--ab times whole runs; it does not go with --profile".into());
    }
    fuser_runtime::set_threads(request.threads);
    let context = create_context().map_err(|e| e.to_string())?;
    context.enable_multi_threading(false);
    let start = Instant::now();
    let (mut loaded, inputs) = load_with_inputs(&context, request)?;
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
    // A profiled model is instrumented, so it is compiled afresh, never cached; --ab's
    // needs the JIT's calls into this binary's runtime (see AbResult).
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
                use_cache: request.use_cache && !request.ab,
                fusion: request.fusion,
            },
        )?;
        (compiled.model, Vec::new(), compiled.cached, compiled.store_seconds)
    };
    // Storing into the cache is not compiling.
    let compile_s = start.elapsed().as_secs_f64() - store_seconds;
    // Inputs are copied in once; each run is the compiled code only.
    let mut buffers = model.prepare(&inputs).map_err(|e| e.to_string())?;
    if request.ab {
        let warmup = 2 * request.warmup;
        let mut b_rel_l2 = f64::NAN;
        // Both the runs and the outputs' check between warm-up and timing use the buffers.
        let buffers = std::cell::RefCell::new(buffers);
        let times = time_runs(
            (warmup, 2 * request.iterations),
            |i| {
                fuser_runtime::set_experiment(is_b_run(i, warmup));
                model.run_prepared(&mut buffers.borrow_mut()).map_err(|e| e.to_string())
            },
            || {
                b_rel_l2 = b_against_a(&model, &mut buffers.borrow_mut())?;
                match b_rel_l2 <= AB_TOLERANCE {
                    true => Ok(()),
                    false => Err(format!(
                        "--ab: the experiment's outputs lie {b_rel_l2:.2e} from the code's (relative L2, at most \
                         {AB_TOLERANCE:e} allowed): it computes something else"
                    )),
                }
            },
        );
        fuser_runtime::set_experiment(false);
        let (mut a, mut b, ratio) = split_ab(&times?);
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        let mut measured = result(request, &a, compile_s, cached, Vec::new());
        measured.ab = Some(AbResult {
            a_median_ms: quantile(&a, 0.5),
            b_median_ms: quantile(&b, 0.5),
            ratio,
            b_rel_l2,
        });
        return Ok(measured);
    }
    // The profile counts timed runs only.
    let mut times = time_runs(
        (request.warmup, request.iterations),
        |_| model.run_prepared(&mut buffers).map_err(|e| e.to_string()),
        || {
            drop(fuser_runtime::take_profile());
            Ok(())
        },
    )?;
    times.sort_by(f64::total_cmp);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Timed pairs alternate their order (A B, B A, ...), so each half has as many runs
    /// first in their pair as second, whatever the warm-up; the ratio is each pair's B
    /// over its A.
    #[test]
    fn ab_pairs_alternate_their_order() {
        let timed: Vec<bool> = (3..11).map(|i| is_b_run(i, 3)).collect();
        assert_eq!(timed, [false, true, true, false, false, true, true, false]);
        assert_eq!((0..3).map(|i| is_b_run(i, 3)).collect::<Vec<_>>(), [false, true, false]);
        let times = [1.0, 2.0, 4.0, 2.0, 1.0, 3.0, 3.0, 1.5];
        let (a, b, ratio) = split_ab(&times);
        assert_eq!((a, b), (vec![1.0, 2.0, 1.0, 1.5], vec![2.0, 4.0, 3.0, 3.0]));
        // Ratios 2, 2, 3 and 2: the median (nearest rank) is 2.
        assert_eq!(ratio, 2.0);
    }

    /// B's distance from A: 0 for the same values (NaN and infinity included), relative to
    /// A's finite values otherwise, and NaN or infinite (above any tolerance) when B has a
    /// NaN or an infinity that A lacks.
    #[test]
    fn b_is_measured_against_a() {
        let nan = f64::NAN;
        assert_eq!(
            relative_distance(&[1.0, nan, f64::INFINITY], &[1.0, nan, f64::INFINITY]),
            0.0
        );
        assert_eq!(relative_distance(&[3.0, 4.0, nan], &[3.0, 4.5, nan]), 0.1);
        assert!(relative_distance(&[3.0, 4.0], &[3.0, nan]).is_nan());
        assert_eq!(relative_distance(&[3.0, 4.0], &[3.0, f64::INFINITY]), f64::INFINITY);
    }
}
