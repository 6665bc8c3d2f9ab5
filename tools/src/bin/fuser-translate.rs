//! `fuser-translate`: translations out of MLIR. `--to llvm-ir` translates a module in
//! the llvm dialect to LLVM IR text.

use clap::{Parser, ValueEnum};
use fuser_dialects::ffi::parse_module;
use fuser_lowering::translate_to_llvm_ir;
use fuser_tools::{
    diagnostics::{Collected, render},
    session::Session,
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
    /// Input file (MLIR text or bytecode), or `-` for stdin.
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
    let session = match Session::open("fuser-translate", &options.input) {
        Ok(session) => session,
        Err(code) => return code,
    };
    let sink = &session.sink;
    let result = parse_module(&session.context, &session.text, &session.source_name)
        .ok_or(())
        .and_then(|module| match options.to {
            Target::LlvmIr => translate_to_llvm_ir(&module).map_err(|e| sink.push(Collected::error(e.to_string()))),
        });
    eprint!("{}", render(&sink.take(), &session.source_name, &session.text));
    match result {
        Ok(ir) => session.write(&options.output, ir.as_bytes()),
        Err(()) => ExitCode::FAILURE,
    }
}
