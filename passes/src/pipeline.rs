//! Builds a pass manager from MLIR's textual pipeline syntax, with fuser's Rust passes
//! and upstream passes in one string.
//!
//! The C API cannot register an external pass under a name for MLIR's own pipeline
//! parser, so this module walks the text itself: nesting `op(...)`, options `{k=v}`, and
//! comma-separated elements. Rust passes come from the registry; every other element is
//! handed to `mlirOpPassManagerAddPipeline`.

use crate::{
    ffi::add_upstream_pipeline,
    registry::{PassOptions, find_pass},
    verify_pass::create_verify_pass,
};
use melior::pass::OperationPassManager;
use std::collections::BTreeMap;

/// Why a pipeline could not be built.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PipelineError {
    #[error("invalid pass pipeline '{text}': {message} at offset {offset}")]
    Syntax {
        text: String,
        offset: usize,
        message: String,
    },
    #[error("{0}")]
    Pass(String),
    #[error("'{0}' does not refer to a registered pass (see --list-passes)")]
    UnknownPass(String),
}

/// One element of a textual pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Element {
    /// `name{options}`: a pass.
    Pass { name: String, options: String },
    /// `op(elements)`: a nested pipeline anchored on `op`.
    Nest { anchor: String, elements: Vec<Element> },
}

struct Parser<'t> {
    text: &'t str,
    pos: usize,
}

impl<'t> Parser<'t> {
    fn error(&self, message: &str) -> PipelineError {
        PipelineError::Syntax {
            text: self.text.to_string(),
            offset: self.pos,
            message: message.to_string(),
        }
    }
    fn skip_space(&mut self) {
        while self.text[self.pos..].starts_with(char::is_whitespace) {
            self.pos += 1;
        }
    }
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }
    fn name(&mut self) -> Result<String, PipelineError> {
        self.skip_space();
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || "_-.$".contains(c) {
                self.pos += 1;
            } else {
                break;
            }
        }
        if start == self.pos {
            return Err(self.error("expected a pass or operation name"));
        }
        Ok(self.text[start..self.pos].to_string())
    }
    /// The raw text between balanced braces (the opening brace already consumed).
    fn options(&mut self) -> Result<String, PipelineError> {
        let start = self.pos;
        let mut depth = 1;
        while let Some(c) = self.peek() {
            self.pos += c.len_utf8();
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(self.text[start..self.pos - 1].trim().to_string());
                    }
                }
                _ => {}
            }
        }
        Err(self.error("unbalanced '{'"))
    }
    fn elements(&mut self) -> Result<Vec<Element>, PipelineError> {
        let mut out = Vec::new();
        loop {
            self.skip_space();
            if matches!(self.peek(), None | Some(')')) && out.is_empty() {
                return Ok(out);
            }
            let name = self.name()?;
            self.skip_space();
            let mut options = String::new();
            if self.peek() == Some('{') {
                self.pos += 1;
                options = self.options()?;
                self.skip_space();
            }
            if self.peek() == Some('(') {
                if !options.is_empty() {
                    return Err(self.error("an operation anchor takes no options"));
                }
                self.pos += 1;
                let elements = self.elements()?;
                self.skip_space();
                if self.peek() != Some(')') {
                    return Err(self.error("expected ')'"));
                }
                self.pos += 1;
                out.push(Element::Nest { anchor: name, elements });
            } else {
                out.push(Element::Pass { name, options });
            }
            self.skip_space();
            match self.peek() {
                Some(',') => self.pos += 1,
                _ => return Ok(out),
            }
        }
    }
}

/// Parses a pipeline. A leading `builtin.module(...)` anchor is the root and is unwrapped;
/// a bare list of elements is also accepted and runs on the module.
pub fn parse_pipeline(text: &str) -> Result<Vec<Element>, PipelineError> {
    let mut parser = Parser { text, pos: 0 };
    let mut elements = parser.elements()?;
    parser.skip_space();
    if parser.pos != text.len() {
        return Err(parser.error("unexpected character"));
    }
    if let [Element::Nest { anchor, .. }] = elements.as_slice()
        && anchor == "builtin.module"
        && let Some(Element::Nest { elements: inner, .. }) = elements.pop()
    {
        return Ok(inner);
    }
    Ok(elements)
}

/// Parses `k=v k2=v2` pass options. Values may be braced (`{...}`) or quoted.
pub fn parse_options(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (key, after) = match rest.find(|c: char| c == '=' || c.is_whitespace()) {
            Some(i) if rest[i..].starts_with('=') => (&rest[..i], &rest[i + 1..]),
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (value, after) = if rest[key.len()..].starts_with('=') {
            let end = if after.starts_with('{') {
                let mut depth = 0;
                after
                    .char_indices()
                    .find(|&(_, c)| {
                        if c == '{' {
                            depth += 1
                        } else if c == '}' {
                            depth -= 1
                        }
                        depth == 0
                    })
                    .map(|(i, _)| i + 1)
                    .ok_or_else(|| format!("unbalanced '{{' in option '{key}'"))?
            } else if let Some(quoted) = after.strip_prefix('"') {
                quoted
                    .find('"')
                    .map(|i| i + 2)
                    .ok_or_else(|| format!("unterminated quote in option '{key}'"))?
            } else {
                after.find(char::is_whitespace).unwrap_or(after.len())
            };
            (after[..end].trim_matches('"').to_string(), &after[end..])
        } else {
            ("true".to_string(), after)
        };
        if key.is_empty() {
            return Err("empty option name".into());
        }
        out.insert(key.to_string(), value);
        rest = after.trim_start();
    }
    Ok(out)
}

/// How a pipeline is assembled.
#[derive(Clone, Copy, Debug, Default)]
pub struct PipelineOptions {
    /// Run fuser's Rust verifier after every element (MLIR's own verifier is controlled
    /// on the pass manager).
    pub verify_each: bool,
}

/// A pass that an embedding compiler adds to the names a pipeline string may use.
pub struct ExtraPass<'f> {
    /// The name used in pipeline strings; it must not shadow a fuser or upstream pass.
    pub flag: &'f str,
    /// Creates the pass from its `{k=v}` options.
    pub create: &'f dyn Fn(&PassOptions) -> Result<melior::pass::Pass, String>,
}

/// Adds the pipeline `text` to `manager` (anchored on `builtin.module`).
pub fn add_pipeline(manager: &OperationPassManager, text: &str, options: PipelineOptions) -> Result<(), PipelineError> {
    add_pipeline_with_extra(manager, text, options, &[])
}

/// Like [`add_pipeline`], with passes of an embedding compiler also addressable by name.
pub fn add_pipeline_with_extra(
    manager: &OperationPassManager,
    text: &str,
    options: PipelineOptions,
    extra: &[ExtraPass],
) -> Result<(), PipelineError> {
    for pass in extra {
        if find_pass(pass.flag).is_some() || crate::upstream::is_upstream_pass(pass.flag) {
            return Err(PipelineError::Pass(format!(
                "extra pass '{}' shadows an existing pass",
                pass.flag
            )));
        }
    }
    let elements = parse_pipeline(text)?;
    add_elements(manager, &elements, options, extra)
}

fn add_elements(
    manager: &OperationPassManager,
    elements: &[Element],
    options: PipelineOptions,
    extra: &[ExtraPass],
) -> Result<(), PipelineError> {
    for element in elements {
        match element {
            Element::Nest { anchor, elements } => {
                let nested = manager.nested_under(anchor);
                add_elements(&nested, elements, options, extra)?;
            }
            Element::Pass { name, options: text } => {
                if let Some(pass) = extra.iter().find(|p| p.flag == name) {
                    let parsed = parse_options(text).map_err(|e| PipelineError::Pass(format!("pass '{name}': {e}")))?;
                    manager.add_pass((pass.create)(&parsed).map_err(PipelineError::Pass)?);
                } else if let Some(info) = find_pass(name) {
                    let parsed = parse_options(text).map_err(|e| PipelineError::Pass(format!("pass '{name}': {e}")))?;
                    manager.add_pass(info.instantiate(&parsed).map_err(PipelineError::Pass)?);
                } else if crate::upstream::is_upstream_pass(name) {
                    let element = if text.is_empty() {
                        name.clone()
                    } else {
                        format!("{name}{{{text}}}")
                    };
                    add_upstream_pipeline(manager, &element).map_err(|e| {
                        PipelineError::Pass(if e.is_empty() {
                            format!("invalid options for pass '{name}'")
                        } else {
                            e
                        })
                    })?;
                } else {
                    return Err(PipelineError::UnknownPass(name.clone()));
                }
                if options.verify_each {
                    manager.add_pass(create_verify_pass());
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(name: &str, options: &str) -> Element {
        Element::Pass {
            name: name.into(),
            options: options.into(),
        }
    }

    #[test]
    fn parses_nesting_and_options() {
        let parsed =
            parse_pipeline("builtin.module(func.func(graph-simplify, canonicalize{max-iterations=3}), cse)").unwrap();
        assert_eq!(
            parsed,
            vec![
                Element::Nest {
                    anchor: "func.func".into(),
                    elements: vec![pass("graph-simplify", ""), pass("canonicalize", "max-iterations=3")]
                },
                pass("cse", "")
            ]
        );
        assert_eq!(parse_pipeline("cse").unwrap(), vec![pass("cse", "")]);
        assert_eq!(parse_pipeline("builtin.module()").unwrap(), vec![]);
    }

    #[test]
    fn reports_syntax_errors_with_offsets() {
        let err = parse_pipeline("builtin.module(cse").unwrap_err();
        assert!(matches!(err, PipelineError::Syntax { offset: 18, .. }), "{err:?}");
        assert!(parse_pipeline("builtin.module(cse))").is_err());
        assert!(parse_pipeline("a{x=1").is_err());
        assert!(parse_pipeline(",").is_err());
    }

    #[test]
    fn parses_option_values() {
        let o = parse_options("target=cpu node-limit=10 ops={a,b} flag name=\"x y\"").unwrap();
        assert_eq!(o["target"], "cpu");
        assert_eq!(o["node-limit"], "10");
        assert_eq!(o["ops"], "{a,b}");
        assert_eq!(o["flag"], "true");
        assert_eq!(o["name"], "x y");
    }
}
