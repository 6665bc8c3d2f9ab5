//! `fuser`: the user driver. Imports, checks, runs, compiles and benchmarks models, and
//! checks conformance.

use clap::{Args, Parser, Subcommand};
use fuser_tools::{
    driver::conformance::{Outcome, ops_supported, read_manifest, report, run_case},
    output::write_output,
    session::fail,
};
use indicatif::{ProgressBar, ProgressStyle};
use std::{collections::HashMap, io::IsTerminal, path::PathBuf, process::ExitCode};

#[derive(Parser, Debug)]
#[command(name = "fuser", version, about = "The fuser deep-learning compiler")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Import a model (.onnx or .json) into the graph dialect (OUT.mlir plus OUT.safetensors).
    Import(ImportArgs),
    /// Pre-flight report: every unsupported op, attribute value or dtype, with its node;
    /// exits 1 if there is any, else summarizes the model (ops, parameters, FLOPs).
    Check(CheckArgs),
    /// Run a model (.onnx, or .mlir with its .safetensors) and write its outputs as .npy.
    Run(RunArgs),
    /// Compile a model for a CPU (a shared library with its C header, an object file,
    /// optimized LLVM IR), an NVIDIA GPU (PTX) or an AMD GPU (a code object, AMDGPU
    /// assembly), Huawei Ascend (C++ on the aclnn API), or to MLIR after any phase.
    Compile(CompileArgs),
    /// Measure a model's latency on the CPU (JIT) or this machine's NVIDIA GPU on random
    /// inputs; prints one line of JSON (median_ms, p90_ms, compile_s, peak_rss_mb) on stdout.
    Bench(BenchArgs),
    /// Say how the model's ops were fused: the search, the cost model's figures and each
    /// kernel's ops, rules and cost; with --svg, draw the graph with each kernel a cluster.
    Explain(ExplainArgs),
    /// Reduced precision: INT8 post-training quantization (calibrate on sample inputs,
    /// quantize each conv and matmul, weights per channel) or bf16/f16 mixed precision;
    /// writes graph-level MLIR or ONNX (QDQ) that run, bench and compile accept.
    Quantize(QuantizeArgs),
    /// Run the ONNX backend node test cases written by scripts/onnx_node_cases.py on the
    /// reference evaluator and/or compiled for the CPU (--targets).
    Conformance(ConformanceArgs),
}

#[derive(Args, Debug)]
struct ImportArgs {
    /// The model (.onnx or .json).
    model: PathBuf,
    /// The output: OUT.mlir, with its weights in OUT.safetensors beside it, OUT.mlirbc
    /// (MLIR bytecode with the weights inside), or OUT.onnx (the normalized graph written
    /// back as ONNX: every attribute explicit, at opset 21 or later).
    #[arg(short = 'o', value_name = "OUT.mlir|OUT.mlirbc|OUT.onnx")]
    output: PathBuf,
    /// Fix a dynamic input shape, e.g. `--shape input=1x3x224x224` (repeatable).
    #[arg(long = "shape", value_name = "NAME=DIMS")]
    shapes: Vec<String>,
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// The model (.onnx or .json).
    model: PathBuf,
    /// Fix a dynamic input shape, e.g. `--shape input=1x3x224x224` (repeatable).
    #[arg(long = "shape", value_name = "NAME=DIMS")]
    shapes: Vec<String>,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// The model: .onnx, .json, or .mlir/.mlirbc at any level fuser produces.
    model: PathBuf,
    /// Where to run: `reference` is the graph dialect's reference evaluator; `cpu`
    /// compiles for the host CPU and runs the machine code in-process (JIT); `cuda`
    /// compiles for this machine's NVIDIA GPU (device 0) and runs there (exits 1 when
    /// there is no GPU or driver); `gpu-loops` compiles as for a GPU and runs the
    /// kernels' loop nests (tiled for blocks and threads) on this CPU, a check of the
    /// GPU lowering without a GPU.
    #[arg(long, default_value = "reference", value_parser = ["reference", "cpu", "cuda", "gpu-loops"])]
    target: String,
    /// An input, by its ONNX name: `--input NAME=FILE.npy` (repeatable; NAME may contain `/`).
    #[arg(long = "input", value_name = "NAME=FILE.npy")]
    inputs: Vec<String>,
    /// Make random inputs (saved as input_<i>.npy beside the outputs).
    #[arg(long)]
    random_inputs: bool,
    /// The seed of --random-inputs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The folder for output_<i>.npy (created if missing).
    #[arg(long, value_name = "DIR")]
    output_dir: PathBuf,
    /// Fix a dynamic input shape of an .onnx/.json model, e.g. `--shape input=1x3x224x224`.
    #[arg(long = "shape", value_name = "NAME=DIMS")]
    shapes: Vec<String>,
    /// With --target cpu: compile afresh, without reading or writing the model cache
    /// ($FUSER_CACHE_DIR, else $XDG_CACHE_HOME/fuser, else ~/.cache/fuser).
    #[arg(long)]
    no_cache: bool,
    /// With --target cpu, cuda or gpu-loops: also run on this target (only `reference`)
    /// and compare: each kernel's result on the CPU, each output otherwise; prints the
    /// largest errors and fails naming the first kernel (or output) that diverges.
    #[arg(long, value_name = "TARGET", value_parser = ["reference"])]
    compare_with: Option<String>,
    /// With --target cpu: threads for the matmul/conv microkernels (0: all cores).
    /// Results do not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// With --target cuda: f16 convolutions and matrix products on tensor cores
    /// (experimental, as for `fuser compile --tensor-cores`).
    #[arg(long)]
    tensor_cores: bool,
}

#[derive(Args, Debug)]
#[command(after_help = format!("Phases (--compile-to), in order:\n{}", fuser_passes::phases::phases_table()))]
struct CompileArgs {
    /// The model: .onnx, .json, or .mlir/.mlirbc.
    model: PathBuf,
    /// `cpu` (this machine's CPU, all its features) or `cpu:<mcpu>[+feature...][,-feature...]`
    /// to cross-compile, e.g. `cpu:x86-64-v3`; `cuda:sm_80` or `cuda:sm_90` for an NVIDIA
    /// GPU, `rocm:gfx90a` or `rocm:gfx942` for an AMD GPU (no GPU needed to compile);
    /// `ascend:910b` for Huawei Ascend (C++ on CANN's aclnn API).
    #[arg(long, default_value = "cpu")]
    target: String,
    /// What to write: for a CPU shared-lib (default), obj, llvm-ir or mlir; for CUDA ptx
    /// (default: one PTX module of all kernels); for ROCm hsaco (default: a code object)
    /// or amdgcn (its assembly); for any GPU host-plan (JSON: buffers, kernels, launch
    /// dimensions and order) or mlir; for Ascend cann-cpp (default: -o names a directory
    /// that receives model.h, model.cpp, main.cpp and weights/) or mlir (the cann ops).
    #[arg(long, value_parser = ["shared-lib", "obj", "llvm-ir", "mlir", "ptx", "amdgcn", "hsaco", "host-plan", "cann-cpp"])]
    emit: Option<String>,
    /// Stop after this phase (with --emit mlir); the phases are listed below.
    #[arg(long, value_name = "PHASE")]
    compile_to: Option<String>,
    /// The output file (a shared library also gets OUT.h beside it); for --emit
    /// cann-cpp a directory, replaced only if empty or written by fuser before.
    #[arg(short = 'o', value_name = "OUT")]
    output: PathBuf,
    /// Fix a dynamic input shape, e.g. `--shape input=1x3x224x224` (repeatable).
    #[arg(long = "shape", value_name = "NAME=DIMS")]
    shapes: Vec<String>,
    /// How graph ops are grouped into kernels: `eqsat` (equality saturation and
    /// extraction by the cost model) or `greedy` (producer-epilogue heuristic).
    #[arg(long, default_value = "eqsat", value_parser = ["eqsat", "greedy"])]
    fusion: String,
    /// Write the fusion report here: kernels, the search's statistics and stop reason,
    /// and each kernel's ops, rules and cost before and after (JSON); the memory plan's
    /// totals; for GPU targets each kernel's launches, registers, shared memory, spills
    /// and theoretical occupancy.
    #[arg(long, value_name = "FILE.json")]
    report: Option<PathBuf>,
    /// GPU targets: 16-bit float convolutions and matrix products on matrix instructions:
    /// f16 on NVIDIA tensor cores (ldmatrix + mma.sync), f16 and bf16 on AMD matrix
    /// cores (MFMA). Experimental: the kernels pass ptxas / llvm-mc but have not yet run
    /// on a GPU.
    #[arg(long)]
    tensor_cores: bool,
}

#[derive(Args, Debug)]
struct ExplainArgs {
    /// The model: .onnx, .json, or .mlir/.mlirbc.
    model: PathBuf,
    /// Also draw the graph, each fused kernel a cluster, into this SVG.
    #[arg(long, value_name = "OUT.svg")]
    svg: Option<PathBuf>,
    /// Also write the Graphviz source.
    #[arg(long, value_name = "OUT.dot")]
    dot: Option<PathBuf>,
    /// How graph ops are grouped into kernels: `eqsat` or `greedy` (see `fuser compile`).
    #[arg(long, default_value = "eqsat", value_parser = ["eqsat", "greedy"])]
    fusion: String,
    /// Fix a dynamic input shape, e.g. `--shape input=1x3x224x224` (repeatable).
    #[arg(long = "shape", value_name = "NAME=DIMS")]
    shapes: Vec<String>,
}

#[derive(Args, Debug)]
struct QuantizeArgs {
    /// The model: .onnx, .json, or .mlir/.mlirbc.
    model: PathBuf,
    /// int8 (post-training quantization, needs --calibration), or bf16/f16 mixed precision.
    #[arg(long = "type", default_value = "int8", value_parser = ["int8", "bf16", "f16"])]
    precision: String,
    /// INT8 calibration samples: one .npy per sample (a model of one input), or one
    /// directory per sample holding NAME.npy for each input.
    #[arg(long, value_name = "DIR")]
    calibration: Option<PathBuf>,
    /// bf16/f16: graph ops that stay f32 (comma-separated, e.g. `add,mul`).
    #[arg(long = "keep-f32", value_name = "OPS", default_value = "")]
    keep_f32: String,
    /// How activation ranges are chosen.
    #[arg(long, default_value = "minmax", value_parser = ["minmax", "percentile", "entropy"])]
    method: String,
    /// The percentile of |x| that --method percentile keeps.
    #[arg(long, default_value_t = 99.999)]
    percentile: f64,
    /// One weight scale per output channel (false: one per tensor).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    per_channel: bool,
    /// The activations' integer type.
    #[arg(long, default_value = "u8", value_parser = ["u8", "i8"])]
    activation_type: String,
    /// Symmetric activations (zero point at the type's middle).
    #[arg(long)]
    symmetric_activations: bool,
    /// The output: OUT.mlir (graph-level MLIR), or OUT.onnx (ONNX, quantized ops in QDQ
    /// form).
    #[arg(short = 'o', value_name = "OUT.onnx|OUT.mlir")]
    output: PathBuf,
    /// Fix a dynamic input shape, e.g. `--shape input=1x3x224x224` (repeatable).
    #[arg(long = "shape", value_name = "NAME=DIMS")]
    shapes: Vec<String>,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// The model: .onnx, .json, or .mlir/.mlirbc.
    model: PathBuf,
    /// Where to run: `cpu` (JIT) or `cuda` (this machine's NVIDIA GPU: inputs uploaded
    /// once, each timed run is every launch and the wait for the last).
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "cuda"])]
    target: String,
    /// Threads for the matmul/conv microkernels (0: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Timed runs.
    #[arg(long, default_value_t = 20)]
    iterations: usize,
    /// Untimed runs first.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// The seed of the random inputs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Run on these inputs instead of random ones: `--input NAME=FILE.npy` (repeatable).
    #[arg(long = "input", value_name = "NAME=FILE.npy")]
    inputs: Vec<String>,
    /// Print only the JSON line on stdout (without --profile's table on stderr).
    #[arg(long)]
    json: bool,
    /// Time each kernel: a table on stderr (slowest first), and `kernels` in the JSON.
    /// A profiled model is always compiled afresh.
    #[arg(long)]
    profile: bool,
    /// Compile afresh, without reading or writing the model cache.
    #[arg(long)]
    no_cache: bool,
    /// Fix a dynamic input shape, e.g. `--shape input=1x3x224x224` (repeatable).
    #[arg(long = "shape", value_name = "NAME=DIMS")]
    shapes: Vec<String>,
    /// How graph ops are grouped into kernels: `eqsat` or `greedy` (see `fuser compile`).
    #[arg(long, default_value = "eqsat", value_parser = ["eqsat", "greedy"])]
    fusion: String,
    /// With --target cuda: f16 convolutions and matrix products on tensor cores
    /// (experimental, as for `fuser compile --tensor-cores`).
    #[arg(long)]
    tensor_cores: bool,
    /// A/B in one process: alternate runs between the runtime's two versions of a kernel
    /// under measurement (its experiment switch off: A, on: B). --warmup runs of each, one
    /// of each whose outputs must agree (relative L2 at most 1e-4), then --iterations
    /// timed pairs; adds `ab` (both medians, the pairs' median ratio B/A, B's distance from
    /// A) to the JSON, whose other figures are then A's. Always compiles afresh (the JIT),
    /// never from the model cache. With no experiment in the runtime both halves run the
    /// same code: an A/A run, which shows the noise (docs/performance.md).
    #[arg(long)]
    ab: bool,
}

#[derive(Args, Debug)]
struct ConformanceArgs {
    /// The folder of cases (with manifest.json).
    cases: PathBuf,
    /// Run every case, not only those whose ops are all supported.
    #[arg(long)]
    all: bool,
    /// Write the markdown report here.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Only cases whose name contains this.
    #[arg(long, value_name = "TEXT")]
    filter: Option<String>,
    /// List the reasons cases were unsupported, most common first.
    #[arg(long)]
    verbose: bool,
    /// The targets to run each case on, comma-separated: reference, cpu.
    #[arg(long, default_value = "reference", value_name = "LIST")]
    targets: String,
    /// Export each imported case back to ONNX and run what that export imports to: a
    /// check of the ONNX exporter (`fuser quantize -o OUT.onnx`).
    #[arg(long)]
    through_onnx_export: bool,
}

/// Parses `NAME=1x3x224x224`; the name may itself contain `=` or `/`.
fn parse_shape(spec: &str) -> Result<(String, Vec<i64>), String> {
    let (name, dims) = spec
        .rsplit_once('=')
        .ok_or_else(|| format!("--shape '{spec}' is not NAME=DIMS"))?;
    let dims = dims
        .split('x')
        .map(|d| {
            d.parse::<i64>()
                .ok()
                .filter(|&d| d >= 0)
                .ok_or_else(|| format!("--shape '{spec}': '{d}' is not a dim"))
        })
        .collect::<Result<_, _>>()?;
    Ok((name.to_string(), dims))
}

/// Import options from `--shape` flags.
fn import_options(shapes: &[String]) -> Result<fuser_frontends::ImportOptions, String> {
    let mut options = fuser_frontends::ImportOptions::default();
    for spec in shapes {
        let (name, dims) = parse_shape(spec)?;
        options.shapes.insert(name, dims);
    }
    Ok(options)
}

fn import(args: ImportArgs) -> ExitCode {
    let options = match import_options(&args.shapes) {
        Ok(o) => o,
        Err(message) => return fail("fuser import", &message),
    };
    let context = match fuser_dialects::create_context() {
        Ok(c) => c,
        Err(e) => return fail("fuser import", &e.to_string()),
    };
    let file = args.model.display().to_string();
    let graph = match fuser_frontends::load_graph_file(&args.model) {
        Ok(g) => g,
        Err(e) => return fail("fuser import", &e.to_string()),
    };
    let mut imported = match fuser_frontends::import_graph(&context, &graph, &file, &options) {
        Ok(i) => i,
        Err(e) => return fail("fuser import", &e.to_string()),
    };
    if args.output.extension().and_then(|e| e.to_str()) == Some("onnx") {
        // The normalized graph as ONNX: every attribute explicit, at one recent opset.
        let bytes = fuser_frontends::export::export_graph(imported.module.as_operation(), &imported.weights)
            .and_then(|graph| fuser_frontends::onnx::model_bytes(&graph, "fuser import"));
        let written = bytes.and_then(|b| write_output(&args.output.display().to_string(), &b).map(|()| b.len()));
        return match written {
            Ok(size) => {
                eprintln!("fuser import: wrote {} ({size} bytes)", args.output.display());
                ExitCode::SUCCESS
            }
            Err(e) => fail("fuser import", &e),
        };
    }
    if args.output.extension().and_then(|e| e.to_str()) == Some("mlirbc") {
        // Bytecode holds the weights itself.
        let bytes = match fuser_frontends::bytecode::write(&context, &mut imported.module, &imported.weights) {
            Ok(b) => b,
            Err(e) => return fail("fuser import", &e),
        };
        if let Err(e) = write_output(&args.output.display().to_string(), &bytes) {
            return fail("fuser import", &e);
        }
        eprintln!(
            "fuser import: wrote {} ({} bytes, {} weights inside)",
            args.output.display(),
            bytes.len(),
            imported.weights.len()
        );
        return ExitCode::SUCCESS;
    }
    let text = imported.module.as_operation().to_string();
    let weights = match fuser_frontends::weights::serialize(&imported.weights) {
        Ok(w) => w,
        Err(e) => return fail("fuser import", &e),
    };
    let side = fuser_frontends::weights::side_file(&args.output);
    // The weights first: a module never names weights that are not on disk.
    if let Err(e) = write_output(&side.display().to_string(), &weights) {
        return fail("fuser import", &e);
    }
    if let Err(e) = write_output(&args.output.display().to_string(), text.as_bytes()) {
        return fail("fuser import", &e);
    }
    eprintln!(
        "fuser import: wrote {} ({} bytes) and {} ({} weights, {} bytes)",
        args.output.display(),
        text.len(),
        side.display(),
        imported.weights.len(),
        weights.len()
    );
    ExitCode::SUCCESS
}

fn check(args: CheckArgs) -> ExitCode {
    let options = match import_options(&args.shapes) {
        Ok(o) => o,
        Err(message) => return fail("fuser check", &message),
    };
    match fuser_tools::driver::check::check(&args.model, &options) {
        Ok(report) => {
            for line in &report.lines {
                println!("{line}");
            }
            if report.supported {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(message) => fail("fuser check", &message),
    }
}

fn run(args: RunArgs) -> ExitCode {
    let mut inputs = HashMap::new();
    for spec in &args.inputs {
        let Some((name, file)) = spec.rsplit_once('=') else {
            return fail("fuser run", &format!("--input '{spec}' is not NAME=FILE.npy"));
        };
        inputs.insert(name.to_string(), PathBuf::from(file));
    }
    let options = match import_options(&args.shapes) {
        Ok(o) => o,
        Err(message) => return fail("fuser run", &message),
    };
    let request = fuser_tools::driver::run::RunRequest {
        model: &args.model,
        options,
        inputs,
        random_seed: args.random_inputs.then_some(args.seed),
        output_dir: &args.output_dir,
        use_cache: !args.no_cache,
        compare_with_reference: args.compare_with.is_some(),
        threads: args.threads,
        tensor_cores: args.tensor_cores,
        target: match args.target.as_str() {
            "cpu" => fuser_tools::driver::run::Target::Cpu,
            "cuda" => fuser_tools::driver::run::Target::Cuda,
            "gpu-loops" => fuser_tools::driver::run::Target::GpuLoops,
            _ => fuser_tools::driver::run::Target::Reference,
        },
    };
    match fuser_tools::driver::run::run(&request) {
        Ok(summary) => {
            for line in summary {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(message) => fail("fuser run", &message),
    }
}

fn conformance(args: ConformanceArgs) -> ExitCode {
    use fuser_tools::driver::{conformance::target_name, run::Target};
    let cases = match read_manifest(&args.cases) {
        Ok(c) => c,
        Err(e) => return fail("fuser conformance", &e),
    };
    let mut targets = Vec::new();
    for name in args.targets.split(',') {
        match name.trim() {
            "reference" => targets.push(Target::Reference),
            "cpu" => targets.push(Target::Cpu),
            other => {
                return fail(
                    "fuser conformance",
                    &format!("unknown target '{other}' (reference, cpu)"),
                );
            }
        }
    }
    let selected: Vec<_> = cases
        .into_iter()
        .filter(|c| args.all || ops_supported(c))
        .filter(|c| args.filter.as_ref().is_none_or(|f| c.name.contains(f.as_str())))
        .collect();
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new((selected.len() * targets.len()) as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}").expect("template"));
    let mut results = Vec::new();
    for case in selected {
        bar.set_message(case.name.clone());
        let outcomes: Vec<Outcome> = targets
            .iter()
            .map(|&target| {
                let outcome = run_case(&args.cases.join(&case.name), &case, target, args.through_onnx_export);
                bar.inc(1);
                outcome
            })
            .collect();
        results.push((case, outcomes));
    }
    bar.finish_and_clear();
    let mut any_failed = false;
    for (t, target) in targets.iter().enumerate() {
        let name = if args.through_onnx_export {
            format!("{}, through ONNX export", target_name(*target))
        } else {
            target_name(*target).to_string()
        };
        let outcomes: Vec<(&str, &Outcome)> = results.iter().map(|(c, o)| (c.name.as_str(), &o[t])).collect();
        let passed = outcomes.iter().filter(|(_, o)| **o == Outcome::Passed).count();
        let failed: Vec<_> = outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
            .collect();
        let unsupported = outcomes.len() - passed - failed.len();
        for (case, outcome) in &failed {
            if let Outcome::Failed(m) = outcome {
                eprintln!("FAIL {case} ({name}): {m}");
            }
        }
        if args.verbose {
            let mut counts: HashMap<String, usize> = HashMap::new();
            for (_, o) in &outcomes {
                if let Outcome::Unsupported(m) = o {
                    // Group by the reason, without the file and node that name the case.
                    let reason = m.rsplit("): ").next().unwrap_or(m).to_string();
                    *counts.entry(reason).or_default() += 1;
                }
            }
            let mut counts: Vec<_> = counts.into_iter().collect();
            counts.sort_by_key(|c| std::cmp::Reverse(c.1));
            for (reason, n) in counts {
                eprintln!("unsupported ({name}) x{n}: {reason}");
            }
        }
        println!(
            "conformance ({name}): {passed} passed, {} failed, {unsupported} unsupported",
            failed.len()
        );
        any_failed |= !failed.is_empty();
    }
    if let Some(path) = &args.report {
        let command = if args.all {
            "make conformance".to_string()
        } else {
            "fuser conformance CASES".to_string()
        };
        if let Err(e) = write_output(
            &path.display().to_string(),
            report(&results, &targets, &command).as_bytes(),
        ) {
            return fail("fuser conformance", &e);
        }
    }
    if any_failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn compile(args: CompileArgs) -> ExitCode {
    use fuser_passes::phases::Phase;
    use fuser_tools::driver::compile::{CompileRequest, Emit, compile};
    let options = match import_options(&args.shapes) {
        Ok(o) => o,
        Err(message) => return fail("fuser compile", &message),
    };
    let compile_to = match args.compile_to.as_deref().map(|p| Phase::from_name(p).ok_or(p)) {
        None => None,
        Some(Ok(phase)) => Some(phase),
        Some(Err(name)) => {
            let names: Vec<&str> = Phase::ALL.iter().map(|p| p.name()).collect();
            return fail(
                "fuser compile",
                &format!("unknown phase '{name}'; phases: {}", names.join(", ")),
            );
        }
    };
    let request = CompileRequest {
        model: &args.model,
        options,
        target: &args.target,
        emit: Emit::parse(args.emit.as_deref().unwrap_or(
            match fuser_passes::gpu_target::GpuTarget::parse(&args.target) {
                Some(Ok(t)) if t.vendor == fuser_passes::gpu_target::Vendor::Rocm => "hsaco",
                Some(_) => "ptx",
                None if args.target.starts_with("ascend:") => "cann-cpp",
                None => "shared-lib",
            },
        ))
        .expect("clap checked the value"),
        compile_to,
        output: &args.output,
        fusion: fuser_passes::phases::Fusion::from_name(&args.fusion).expect("clap checked the value"),
        report: args.report.as_deref(),
        tensor_cores: args.tensor_cores,
    };
    match compile(&request) {
        Ok(summary) => {
            eprintln!("{summary}");
            ExitCode::SUCCESS
        }
        Err(message) => fail("fuser compile", &message),
    }
}

fn explain(args: ExplainArgs) -> ExitCode {
    use fuser_tools::driver::explain::{ExplainRequest, explain};
    let options = match import_options(&args.shapes) {
        Ok(o) => o,
        Err(message) => return fail("fuser explain", &message),
    };
    let request = ExplainRequest {
        model: &args.model,
        options,
        fusion: fuser_passes::phases::Fusion::from_name(&args.fusion).expect("clap checked the value"),
        svg: args.svg.as_deref(),
        dot: args.dot.as_deref(),
    };
    match explain(&request) {
        Ok(summary) => {
            if !summary.is_empty() {
                eprintln!("{summary}");
            }
            ExitCode::SUCCESS
        }
        Err(message) => fail("fuser explain", &message),
    }
}

fn quantize(args: QuantizeArgs) -> ExitCode {
    use fuser_passes::{
        calibration::{IntType, Method},
        graph_quantize::Options,
    };
    use fuser_tools::driver::quantize::{Precision, QuantizeRequest, quantize};
    let options = match import_options(&args.shapes) {
        Ok(o) => o,
        Err(message) => return fail("fuser quantize", &message),
    };
    if !(0.0..=100.0).contains(&args.percentile) {
        return fail("fuser quantize", "--percentile must be in [0, 100]");
    }
    let precision = if args.precision == "int8" {
        let Some(calibration) = args.calibration.clone() else {
            return fail("fuser quantize", "--type int8 needs --calibration DIR");
        };
        Precision::Int8(Options {
            calibration,
            method: match args.method.as_str() {
                "percentile" => Method::Percentile(args.percentile),
                "entropy" => Method::Entropy,
                _ => Method::MinMax,
            },
            per_channel: args.per_channel,
            activation_type: if args.activation_type == "i8" {
                IntType::I8
            } else {
                IntType::U8
            },
            symmetric_activations: args.symmetric_activations,
        })
    } else {
        let mut pass_options = fuser_passes::PassOptions::new();
        pass_options.insert("type".into(), args.precision.clone());
        pass_options.insert("keep-f32".into(), args.keep_f32.clone());
        match fuser_passes::graph_mixed_precision::parse_options(&pass_options) {
            Ok(options) => Precision::Mixed(options),
            Err(message) => return fail("fuser quantize", &message),
        }
    };
    let request = QuantizeRequest {
        model: &args.model,
        options,
        precision,
        output: &args.output,
    };
    match quantize(&request) {
        Ok(summary) => {
            eprintln!("fuser quantize: {summary}");
            ExitCode::SUCCESS
        }
        Err(message) => fail("fuser quantize", &message),
    }
}

fn bench(args: BenchArgs) -> ExitCode {
    use fuser_tools::driver::bench::{BenchRequest, bench};
    let options = match import_options(&args.shapes) {
        Ok(o) => o,
        Err(message) => return fail("fuser bench", &message),
    };
    let mut inputs = HashMap::new();
    for spec in &args.inputs {
        match spec.rsplit_once('=') {
            Some((name, path)) => {
                inputs.insert(name.to_string(), PathBuf::from(path));
            }
            None => return fail("fuser bench", &format!("--input '{spec}' is not NAME=FILE.npy")),
        }
    }
    let request = BenchRequest {
        inputs,
        profile: args.profile,
        use_cache: !args.no_cache,
        model: &args.model,
        options,
        threads: args.threads,
        iterations: args.iterations,
        warmup: args.warmup,
        seed: args.seed,
        fusion: fuser_passes::phases::Fusion::from_name(&args.fusion).expect("clap checked the value"),
        cuda: args.target == "cuda",
        tensor_cores: args.tensor_cores,
        ab: args.ab,
    };
    match bench(&request) {
        Ok(result) => {
            if args.profile && !args.json {
                // Means over the timed runs (the median of whole runs is printed below).
                eprintln!("{:>9} {:>6}  kernel", "ms/run", "%");
                for k in &result.kernels {
                    eprintln!("{:>9.3} {:>6.1}  {}", k.ms, k.percent, k.kernel);
                }
                eprintln!(
                    "{:>9.3} {:>6}  (outside kernels: views, copies, allocation)",
                    result.outside_kernels_ms.unwrap_or(0.0),
                    ""
                );
            }
            println!("{}", serde_json::to_string(&result).expect("serializable"));
            ExitCode::SUCCESS
        }
        Err(message) => fail("fuser bench", &message),
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Import(args) => import(args),
        Command::Run(args) => run(args),
        Command::Compile(args) => compile(args),
        Command::Bench(args) => bench(args),
        Command::Explain(args) => explain(args),
        Command::Check(args) => check(args),
        Command::Quantize(args) => quantize(args),
        Command::Conformance(args) => conformance(args),
    }
}
