//! Collects MLIR diagnostics (parser, MLIR verifier, fuser's Rust verifier, passes) and
//! prints them as mlir-opt does: `file:line:col: error: message`, the source line and a
//! caret.

use melior::{
    Context,
    diagnostic::{Diagnostic, DiagnosticSeverity},
    ir::Location,
};
use std::{cell::RefCell, fmt, rc::Rc};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
    Note,
    Remark,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
            Severity::Remark => "remark",
        })
    }
}

/// A file position (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilePos {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

/// One collected diagnostic with its notes. A position in an unnamed buffer comes from
/// the parser, which does not know the buffer's name (see `parse_module`).
#[derive(Clone, Debug)]
pub struct Collected {
    pub severity: Severity,
    pub position: Option<FilePos>,
    pub message: String,
    pub notes: Vec<Collected>,
}

impl Collected {
    /// An error with no location (e.g. a pipeline syntax error).
    pub fn error(message: String) -> Self {
        Self {
            severity: Severity::Error,
            position: None,
            message,
            notes: vec![],
        }
    }
}

/// The first file position inside `location` (through name, call-site and fused locs).
pub fn file_position(location: Location) -> Option<FilePos> {
    if location.is_file_line_col_range() {
        return Some(FilePos {
            file: location
                .file_line_col_range_filename()
                .as_string_ref()
                .as_str()
                .unwrap_or_default()
                .to_string(),
            line: location.file_line_col_range_start_line(),
            column: location.file_line_col_range_start_column(),
        });
    }
    if location.is_name() {
        return file_position(location.name_child_location());
    }
    if location.is_call_site() {
        return file_position(location.call_site_callee());
    }
    if location.is_fused() {
        return (0..location.fused_num_locations()).find_map(|i| file_position(location.fused_location(i)));
    }
    None
}

fn collect(diagnostic: &Diagnostic) -> Collected {
    let severity = match diagnostic.severity() {
        DiagnosticSeverity::Error => Severity::Error,
        DiagnosticSeverity::Warning => Severity::Warning,
        DiagnosticSeverity::Note => Severity::Note,
        DiagnosticSeverity::Remark => Severity::Remark,
    };
    Collected {
        severity,
        position: file_position(diagnostic.location()),
        message: diagnostic.to_string(),
        notes: (0..diagnostic.note_count())
            .filter_map(|i| diagnostic.note(i).ok())
            .map(|n| collect(&n))
            .collect(),
    }
}

/// A diagnostic sink attached to a context. Every diagnostic is captured here and
/// none reaches MLIR's default printer.
#[derive(Clone, Default)]
pub struct DiagnosticSink {
    collected: Rc<RefCell<Vec<Collected>>>,
}

impl DiagnosticSink {
    /// Attaches a new sink to `context`.
    pub fn attach(context: &Context) -> Self {
        let sink = Self::default();
        let store = sink.collected.clone();
        context.attach_diagnostic_handler(move |diagnostic| {
            store.borrow_mut().push(collect(&diagnostic));
            true
        });
        sink
    }

    /// Takes everything collected so far.
    pub fn take(&self) -> Vec<Collected> {
        std::mem::take(&mut self.collected.borrow_mut())
    }

    /// Adds a diagnostic produced outside MLIR (e.g. a pipeline syntax error).
    pub fn push(&self, diagnostic: Collected) {
        self.collected.borrow_mut().push(diagnostic);
    }
}

/// Renders diagnostics, with the source line and a caret when `source` is the text of
/// the file the position names.
pub fn render(diagnostics: &[Collected], source_name: &str, source: &str) -> String {
    let mut out = String::new();
    for d in diagnostics {
        render_one(&mut out, d, source_name, source);
    }
    out
}

fn render_one(out: &mut String, d: &Collected, source_name: &str, source: &str) {
    match &d.position {
        Some(p) => {
            let file = if fuser_dialects::ffi::is_unnamed_buffer(&p.file) {
                source_name
            } else {
                &p.file
            };
            out.push_str(&format!(
                "{file}:{}:{}: {}: {}\n",
                p.line, p.column, d.severity, d.message
            ));
            if file == source_name
                && let Some(line) = source.lines().nth(p.line.saturating_sub(1))
            {
                out.push_str(line);
                out.push('\n');
                out.push_str(&" ".repeat(p.column.saturating_sub(1)));
                out.push_str("^\n");
            }
        }
        None => out.push_str(&format!("{source_name}: {}: {}\n", d.severity, d.message)),
    }
    for note in &d.notes {
        render_one(out, note, source_name, source);
    }
}
