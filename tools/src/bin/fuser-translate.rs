//! `fuser-translate`: translations out of MLIR. `--to llvm-ir` translates a module in
//! the llvm dialect to LLVM IR text.

use clap::{Parser, ValueEnum};
use fuser_dialects::{create_context, ffi::parse_module};
use fuser_lowering::translate_to_llvm_ir;
use fuser_tools::{
    diagnostics::{DiagnosticSink, render},
    input::read_input,
    output::write_output,
};
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Target {
    /// LLVM IR text, from a module in the llvm dialect.
    LlvmIr,
}

#[derive(Parser, Debug)]
#[command(name = "fuser-translate", version, about = "Translate MLIR to other representations")]
struct Options {
    /// Input file, or `-` for stdin.
    #[arg(default_value = "-")]
    input: String,
    /// Output file, or `-` for stdout. Regular files are written atomically.
    #[arg(short = 'o', default_value = "-", value_name = "FILE")]
    output: String,
    /// What to translate to.
    #[arg(long, value_enum)]
    to: Target,
}

fn main() -> ExitCode {
    let options = Options::parse();
    let (source_name, text) = match read_input(&options.input) {
        Ok(input) => input,
        Err(message) => {
            eprintln!("fuser-translate: error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let context = match create_context() {
        Ok(context) => context,
        Err(error) => {
            eprintln!("fuser-translate: internal error: {error}");
            return ExitCode::FAILURE;
        }
    };
    context.enable_multi_threading(false);
    let sink = DiagnosticSink::attach(&context);
    let result = parse_module(&context, &text, &source_name).ok_or(()).and_then(|module| match options.to {
        Target::LlvmIr => translate_to_llvm_ir(&module).map_err(|e| sink.push(fuser_tools::diagnostics::Collected {
            severity: fuser_tools::diagnostics::Severity::Error,
            position: None,
            message: e.to_string(),
            notes: vec![],
        })),
    });
    eprint!("{}", render(&sink.take(), &source_name, &text));
    match result {
        Ok(ir) => match write_output(&options.output, ir.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("fuser-translate: error: {message}");
                ExitCode::FAILURE
            }
        },
        Err(()) => ExitCode::FAILURE,
    }
}
