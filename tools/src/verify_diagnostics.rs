//! `--verify-diagnostics`: checks emitted diagnostics against `expected-*` annotations,
//! as mlir-opt does. An annotation is `expected-error {{text}}` (same line),
//! `expected-error @+N {{text}}` / `@-N` (relative line) or `@above` / `@below`, for
//! error, warning, note and remark. Each diagnostic must match an annotation on its line
//! whose text it contains, and each annotation must be matched.

use crate::diagnostics::{Collected, Severity};

/// One `expected-*` annotation.
#[derive(Debug, Clone)]
pub struct Expectation {
    pub severity: Severity,
    /// The 1-based line the diagnostic must be on.
    pub line: usize,
    /// The 1-based line of the annotation itself.
    pub annotation_line: usize,
    pub text: String,
    matched: bool,
}

/// Parses the annotations in `source`.
pub fn parse_expectations(source: &str) -> Result<Vec<Expectation>, String> {
    let mut out = Vec::new();
    for (index, line) in source.lines().enumerate() {
        let line_no = index + 1;
        let mut rest = line;
        while let Some(pos) = rest.find("expected-") {
            rest = &rest[pos + "expected-".len()..];
            let (severity, after) = [
                ("error", Severity::Error),
                ("warning", Severity::Warning),
                ("note", Severity::Note),
                ("remark", Severity::Remark),
            ]
            .iter()
            .find_map(|(word, sev)| rest.strip_prefix(word).map(|a| (*sev, a)))
            .ok_or_else(|| {
                format!(
                    "line {line_no}: unknown annotation 'expected-{}'",
                    rest.split_whitespace().next().unwrap_or("")
                )
            })?;
            let after = after.trim_start();
            let (target, after) = if let Some(spec) = after.strip_prefix('@') {
                let end = spec.find(|c: char| c.is_whitespace() || c == '{').unwrap_or(spec.len());
                let offset = &spec[..end];
                let target = match offset {
                    "above" => line_no.checked_sub(1),
                    "below" => Some(line_no + 1),
                    _ => offset
                        .parse::<i64>()
                        .ok()
                        .and_then(|o| usize::try_from(line_no as i64 + o).ok()),
                }
                .ok_or_else(|| format!("line {line_no}: invalid line offset '@{offset}'"))?;
                (target, spec[end..].trim_start())
            } else {
                (line_no, after)
            };
            let body = after
                .strip_prefix("{{")
                .ok_or_else(|| format!("line {line_no}: expected '{{{{' after the annotation"))?;
            let end = body
                .find("}}")
                .ok_or_else(|| format!("line {line_no}: unterminated '{{{{'"))?;
            out.push(Expectation {
                severity,
                line: target,
                annotation_line: line_no,
                text: body[..end].to_string(),
                matched: false,
            });
            rest = &body[end + 2..];
        }
    }
    Ok(out)
}

/// Matches `diagnostics` against `expectations`. Returns the problems, rendered as
/// diagnostics (empty when everything matched).
pub fn check(diagnostics: &[Collected], expectations: &mut [Expectation], source_name: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut flat = Vec::new();
    for d in diagnostics {
        flat.push(d);
        // mlir-opt attaches "see current operation" notes for humans; they are not
        // something tests annotate.
        flat.extend(
            d.notes
                .iter()
                .filter(|n| !n.message.starts_with("see current operation")),
        );
    }
    for d in flat {
        let line = d
            .position
            .as_ref()
            .filter(|p| p.file == source_name || fuser_dialects::ffi::is_unnamed_buffer(&p.file))
            .map(|p| p.line);
        let found = expectations
            .iter_mut()
            .find(|e| !e.matched && Some(e.line) == line && e.severity == d.severity && d.message.contains(&e.text));
        match found {
            Some(e) => e.matched = true,
            None => problems.push(match &d.position {
                Some(p) => format!(
                    "{source_name}:{}:{}: error: unexpected {}: {}",
                    p.line, p.column, d.severity, d.message
                ),
                None => format!(
                    "{source_name}: error: unexpected {} (no location): {}",
                    d.severity, d.message
                ),
            }),
        }
    }
    for e in expectations.iter().filter(|e| !e.matched) {
        problems.push(format!(
            "{source_name}:{}: error: expected {} \"{}\" on line {} was not produced",
            e.annotation_line, e.severity, e.text, e.line
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::FilePos;

    fn diag(line: usize, message: &str) -> Collected {
        Collected {
            severity: Severity::Error,
            position: Some(FilePos {
                file: "t.mlir".into(),
                line,
                column: 3,
            }),
            message: message.into(),
            notes: vec![],
        }
    }

    #[test]
    fn matches_relative_and_same_line_annotations() {
        let src = "// expected-error @+1 {{bad thing}}\nop\nop2 // expected-error {{other}}\n";
        let mut e = parse_expectations(src).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].line, e[1].line), (2, 3));
        assert!(check(&[diag(2, "a bad thing here"), diag(3, "other")], &mut e, "t.mlir").is_empty());
    }

    #[test]
    fn reports_missing_and_unexpected() {
        let mut e = parse_expectations("// expected-error @+1 {{needle}}\nx\n").unwrap();
        let problems = check(&[diag(2, "haystack")], &mut e, "t.mlir");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("unexpected error: haystack"));
        assert!(problems[1].contains("was not produced"));
    }

    #[test]
    fn rejects_malformed_annotations() {
        assert!(parse_expectations("// expected-eror {{x}}").is_err());
        assert!(parse_expectations("// expected-error @+x {{x}}").is_err());
        assert!(parse_expectations("// expected-error {{x").is_err());
    }
}
