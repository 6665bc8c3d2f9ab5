//! `fuser-opt`: mlir-opt for fuser. Parses MLIR with fuser's dialects loaded, verifies
//! it (MLIR's verifier, then fuser's Rust verifier), runs a pass pipeline that mixes
//! fuser's Rust passes and upstream MLIR passes, and prints the result.

use clap::{ArgAction, Parser};
use fuser_dialects::{ffi::parse_module, verify_fuser_ops};
use fuser_passes::{
    PASSES, PipelineOptions, add_pipeline, enable_timing, find_pass,
    upstream::{UPSTREAM_PASSES, is_upstream_pass},
};
use fuser_tools::{
    diagnostics::{Collected, DiagnosticSink, render},
    input::split_chunks,
    session::Session,
    verify_diagnostics::{check, parse_expectations},
};
use melior::{
    Context,
    ir::operation::{OperationLike, OperationPrintingFlags},
    pass::{PassIrPrintingOptions, PassManager},
};
use std::process::ExitCode;

const AFTER_HELP: &str = "\
Passes can also be given one per flag, in order, as with mlir-opt: every pass listed by
--list-passes (fuser's and upstream MLIR's) is accepted as --<pass>[=<options>], e.g.
  fuser-opt in.mlir --graph-simplify --canonicalize='max-iterations=3'
is the same as
  fuser-opt in.mlir --pass-pipeline='builtin.module(graph-simplify,canonicalize{max-iterations=3})'

Exit status: 0 on success, 1 when the input is invalid, a pass fails, or expected
diagnostics do not match; 2 for a usage error.";

/// Command-line options (pass flags are extracted before clap sees the arguments).
#[derive(Parser, Debug)]
#[command(name = "fuser-opt", version, about = "Parse, verify and transform MLIR with fuser's dialects and passes", after_help = AFTER_HELP)]
struct Options {
    /// Input file (MLIR text or bytecode), or `-` for stdin.
    #[arg(default_value = "-")]
    input: String,
    /// Output file, or `-` for stdout. Regular files are written atomically.
    #[arg(short = 'o', default_value = "-", value_name = "FILE")]
    output: String,
    /// A textual pass pipeline, e.g. `builtin.module(func.func(graph-simplify,canonicalize,cse))`.
    #[arg(long, value_name = "PIPELINE")]
    pass_pipeline: Option<String>,
    /// Split the input at `// -----` lines and process each part on its own.
    #[arg(long)]
    split_input_file: bool,
    /// Check diagnostics against `expected-error` (etc.) annotations instead of printing them.
    #[arg(long)]
    verify_diagnostics: bool,
    /// Run the verifiers (MLIR's and fuser's) after every pass.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true", value_name = "BOOL")]
    verify_each: bool,
    /// Print the IR after every pass, to stderr.
    #[arg(long)]
    mlir_print_ir_after_all: bool,
    /// Print the IR before every pass, to stderr.
    #[arg(long)]
    mlir_print_ir_before_all: bool,
    /// Print the IR after a pass that fails, to stderr.
    #[arg(long)]
    mlir_print_ir_after_failure: bool,
    /// Print the location of every op in the output.
    #[arg(long)]
    mlir_print_debuginfo: bool,
    /// Print a pass timing report to stderr.
    #[arg(long)]
    mlir_timing: bool,
    /// List fuser's passes and the upstream MLIR passes, then exit.
    #[arg(long)]
    list_passes: bool,
}

/// Splits pass flags (`--graph-simplify`, `--cse`, `--canonicalize=opts`) from the rest.
fn extract_pass_flags(args: Vec<String>) -> (Vec<String>, Vec<String>) {
    let mut rest = Vec::new();
    let mut passes = Vec::new();
    for arg in args {
        let element = arg.strip_prefix("--").and_then(|flag| {
            let (name, options) = flag.split_once('=').unwrap_or((flag, ""));
            (find_pass(name).is_some() || is_upstream_pass(name)).then(|| {
                if options.is_empty() {
                    name.to_string()
                } else {
                    format!("{name}{{{options}}}")
                }
            })
        });
        match element {
            Some(element) => passes.push(element),
            None => rest.push(arg),
        }
    }
    (rest, passes)
}

fn list_passes() {
    println!("fuser passes:");
    for pass in PASSES {
        println!("  --{:<40} - {}", pass.flag, pass.summary);
        for option in pass.options {
            println!("      {}={:<20} - {}", option.name, option.default, option.help);
        }
    }
    println!("\nUpstream MLIR passes:");
    for (name, summary) in UPSTREAM_PASSES {
        println!("  --{name:<40} - {summary}");
    }
}

/// Processes one buffer. Returns the printed module, or `None` on failure (the reasons
/// are in the sink).
fn process(
    context: &Context,
    sink: &DiagnosticSink,
    options: &Options,
    pipeline: &str,
    source_name: &str,
    text: &str,
) -> Option<String> {
    let mut module = parse_module(context, text, source_name)?;
    if !verify_fuser_ops(module.as_operation()) {
        return None;
    }
    if !pipeline.is_empty() {
        let manager = PassManager::new(context);
        manager.enable_verifier(options.verify_each);
        if options.mlir_print_ir_after_all || options.mlir_print_ir_before_all || options.mlir_print_ir_after_failure {
            manager.enable_ir_printing(&PassIrPrintingOptions {
                before_all: options.mlir_print_ir_before_all,
                after_all: options.mlir_print_ir_after_all || options.mlir_print_ir_after_failure,
                module_scope: false,
                on_change: false,
                on_failure: options.mlir_print_ir_after_failure && !options.mlir_print_ir_after_all,
                flags: OperationPrintingFlags::new(),
                tree_printing_path: Default::default(),
            });
        }
        if options.mlir_timing {
            enable_timing(&manager);
        }
        let pipeline_options = PipelineOptions {
            verify_each: options.verify_each,
        };
        if let Err(error) = add_pipeline(&manager.as_operation_pass_manager(), pipeline, pipeline_options) {
            sink.push(Collected::error(error.to_string()));
            return None;
        }
        if manager.run(&mut module).is_err() {
            return None;
        }
    }
    let flags = OperationPrintingFlags::new().enable_debug_info(options.mlir_print_debuginfo, false);
    module.as_operation().to_string_with_flags(flags).ok()
}

fn main() -> ExitCode {
    let (args, pass_flags) = extract_pass_flags(std::env::args().collect());
    let options = Options::parse_from(args);
    if options.list_passes {
        list_passes();
        return ExitCode::SUCCESS;
    }
    let pipeline = match (&options.pass_pipeline, pass_flags.is_empty()) {
        (Some(_), false) => {
            eprintln!("fuser-opt: error: use either --pass-pipeline or individual pass flags, not both");
            return ExitCode::from(2);
        }
        (Some(p), true) => p.clone(),
        (None, _) => pass_flags.join(","),
    };
    let session = match Session::open("fuser-opt", &options.input) {
        Ok(session) => session,
        Err(code) => return code,
    };
    let (context, sink, source_name, text) = (&session.context, &session.sink, &session.source_name, &session.text);

    let chunks = if options.split_input_file {
        split_chunks(text)
    } else {
        vec![text.clone()]
    };
    let mut outputs = Vec::new();
    let mut failed = false;
    let mut diagnostics = Vec::new();
    for chunk in &chunks {
        match process(context, sink, &options, &pipeline, source_name, chunk) {
            Some(out) => outputs.push(out),
            None => failed = true,
        }
        diagnostics.extend(sink.take());
    }

    if options.verify_diagnostics {
        let mut expectations = match parse_expectations(text) {
            Ok(e) => e,
            Err(message) => {
                eprintln!("{source_name}: error: {message}");
                return ExitCode::FAILURE;
            }
        };
        let problems = check(&diagnostics, &mut expectations, source_name);
        for p in &problems {
            eprintln!("{p}");
        }
        if !problems.is_empty() {
            return ExitCode::FAILURE;
        }
    } else {
        eprint!("{}", render(&diagnostics, source_name, text));
        if failed {
            return ExitCode::FAILURE;
        }
    }
    session.write(&options.output, outputs.join("// -----\n").as_bytes())
}
