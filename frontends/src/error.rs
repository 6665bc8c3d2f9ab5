//! Import errors: one line naming the file, and the node when there is one.

use std::fmt;

/// Why a model could not be imported.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportError {
    pub file: String,
    /// `(node name, op type)` of the offending node, if any.
    pub node: Option<(String, String)>,
    pub message: String,
    /// True when the model is valid but uses something fuser does not support (an op,
    /// an attribute value, a dtype), as opposed to a malformed model.
    pub unsupported: bool,
}

impl ImportError {
    pub fn file(file: &str, message: impl Into<String>) -> Self {
        ImportError {
            file: file.to_string(),
            node: None,
            message: message.into(),
            unsupported: false,
        }
    }
    pub fn node(file: &str, name: &str, op: &str, message: impl Into<String>) -> Self {
        ImportError {
            file: file.to_string(),
            node: Some((name.to_string(), op.to_string())),
            message: message.into(),
            unsupported: false,
        }
    }
    pub fn unsupported(mut self) -> Self {
        self.unsupported = true;
        self
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match &self.node {
            Some((name, op)) => write!(f, "{}: node '{name}' ({op}): {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ImportError {}
