//! The frontend-neutral graph: ONNX's structure without its protobuf.

use fuser_dialects::semantics::{DType, Tensor};
use std::collections::BTreeMap;

/// A declared graph input or output.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueDecl {
    pub name: String,
    /// None when the model does not say (allowed for outputs).
    pub dtype: Option<DType>,
    /// None when the rank is unknown; a `None` dim is dynamic.
    pub shape: Option<Vec<Option<i64>>>,
}

/// An ONNX attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    Int(i64),
    Float(f32),
    Ints(Vec<i64>),
    Floats(Vec<f32>),
    Str(String),
    Strs(Vec<String>),
    Tensor(Tensor),
    /// A kind fuser does not use (graphs, sparse tensors, types); named for errors.
    Other(&'static str),
}

/// One node, with ONNX's op and attribute names. An empty input or output name is an
/// absent optional.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: String,
    pub op_type: String,
    pub domain: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attrs: BTreeMap<String, AttrValue>,
}

/// A weight: its element type, shape and little-endian bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Initializer {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl Initializer {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn tensor(&self) -> Option<Tensor> {
        fuser_dialects::constants::tensor_from_bytes(self.dtype, &self.shape, &self.bytes)
    }
}

/// A graph, ready to normalize.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    pub name: String,
    pub inputs: Vec<ValueDecl>,
    pub outputs: Vec<ValueDecl>,
    pub nodes: Vec<Node>,
    pub initializers: Vec<Initializer>,
    /// The default-domain opset.
    pub opset: i64,
}
