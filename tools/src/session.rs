//! What every tool does around its own job: read the input, set up a context with
//! fuser's dialects and a diagnostic sink, and write the result.

use crate::{
    diagnostics::DiagnosticSink,
    input::{input_text, read_input},
    output::write_output,
};
use fuser_dialects::create_context;
use melior::Context;
use std::process::ExitCode;

/// A tool run: its input and a context whose diagnostics go to `sink`.
pub struct Session {
    pub tool: &'static str,
    pub source_name: String,
    pub text: String,
    pub context: Context,
    pub sink: DiagnosticSink,
}

impl Session {
    /// Reads `input` (`-` is stdin) and creates the context. On failure the reason has
    /// been printed and the exit code is returned.
    pub fn open(tool: &'static str, input: &str) -> Result<Self, ExitCode> {
        let (source_name, bytes) = read_input(input).map_err(|message| fail(tool, &message))?;
        let context = create_context().map_err(|error| fail(tool, &format!("internal error: {error}")))?;
        // Diagnostics are collected and printed in order; MLIR's thread pool would
        // interleave them.
        context.enable_multi_threading(false);
        let sink = DiagnosticSink::attach(&context);
        // A bytecode parser's own diagnostics say nothing a user can act on beyond the
        // one-line reason.
        let text = input_text(&context, &source_name, bytes).map_err(|message| {
            sink.take();
            fail(tool, &message)
        })?;
        Ok(Self {
            tool,
            source_name,
            text,
            context,
            sink,
        })
    }

    /// Writes `bytes` to `path` (atomically for a regular file).
    pub fn write(&self, path: &str, bytes: &[u8]) -> ExitCode {
        match write_output(path, bytes) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => fail(self.tool, &message),
        }
    }
}

/// Prints `tool: error: message` and returns exit code 1.
pub fn fail(tool: &str, message: &str) -> ExitCode {
    eprintln!("{tool}: error: {message}");
    ExitCode::FAILURE
}
