//! The semantics of every graph op, independent of MLIR: shape and dtype inference, and
//! evaluation on tensors (the reference evaluator). The importer uses inference to type
//! results, `graph-infer-shapes` refines types with it, `graph-fold-constants` and the
//! evaluator run ops with it, so all of them share one definition per op.
//!
//! Operands are given per IRDL slot (`inputs[i]` is slot `i`; a missing optional operand
//! is `None`; a family `x_0 .. x_15` occupies its sixteen slots). Each op is a direct
//! transcription of its ONNX definition, written to be obviously correct, not fast.

mod elementwise;
mod nn;
mod quantization;
mod reduce;
mod shape_ops;
pub mod tensor;

pub use nn::{expand_ellipsis, window_out};
pub use quantization::{axis_attrs, dequantize, quantize};
pub use shape_ops::slice_bounds;
pub use tensor::{DType, Data, Tensor};

use std::collections::BTreeMap;

/// An attribute value, in the graph dialect's encodings.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    Int(i64),
    Float(f64),
    Ints(Vec<i64>),
    Str(String),
    Tensor(Tensor),
}

/// The attributes of one op.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attrs(pub BTreeMap<String, Attr>);

impl Attrs {
    pub fn set(&mut self, name: &str, value: Attr) -> &mut Self {
        self.0.insert(name.to_string(), value);
        self
    }
    fn get(&self, name: &str) -> Result<&Attr, SemError> {
        self.0
            .get(name)
            .ok_or_else(|| SemError::Invalid(format!("missing attribute '{name}'")))
    }
    pub fn int(&self, name: &str) -> Result<i64, SemError> {
        match self.get(name)? {
            Attr::Int(v) => Ok(*v),
            _ => Err(SemError::Invalid(format!("attribute '{name}' must be an integer"))),
        }
    }
    pub fn float(&self, name: &str) -> Result<f64, SemError> {
        match self.get(name)? {
            Attr::Float(v) => Ok(*v),
            Attr::Int(v) => Ok(*v as f64),
            _ => Err(SemError::Invalid(format!("attribute '{name}' must be a float"))),
        }
    }
    pub fn ints(&self, name: &str) -> Result<Vec<i64>, SemError> {
        match self.get(name)? {
            Attr::Ints(v) => Ok(v.clone()),
            _ => Err(SemError::Invalid(format!("attribute '{name}' must be an integer list"))),
        }
    }
    pub fn string(&self, name: &str) -> Result<String, SemError> {
        match self.get(name)? {
            Attr::Str(v) => Ok(v.clone()),
            _ => Err(SemError::Invalid(format!("attribute '{name}' must be a string"))),
        }
    }
    pub fn tensor(&self, name: &str) -> Result<&Tensor, SemError> {
        match self.get(name)? {
            Attr::Tensor(v) => Ok(v),
            _ => Err(SemError::Invalid(format!("attribute '{name}' must be a tensor"))),
        }
    }
}

/// Why an op could not be inferred or evaluated.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SemError {
    /// The op, or this use of it, is not supported (yet); never a wrong answer.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The operands or attributes break the op's definition.
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn invalid<T>(message: impl Into<String>) -> Result<T, SemError> {
    Err(SemError::Invalid(message.into()))
}

/// A tensor type with possibly dynamic dims (`None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeInfo {
    pub dtype: DType,
    pub shape: Vec<Option<i64>>,
}

impl TypeInfo {
    pub fn new(dtype: DType, shape: Vec<Option<i64>>) -> Self {
        TypeInfo { dtype, shape }
    }
    pub fn fixed(dtype: DType, shape: &[usize]) -> Self {
        TypeInfo {
            dtype,
            shape: shape.iter().map(|&d| Some(d as i64)).collect(),
        }
    }
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
    pub fn static_shape(&self) -> Option<Vec<usize>> {
        self.shape.iter().map(|d| d.map(|d| d as usize)).collect()
    }
    /// `tensor<2x?x3xf32>`.
    pub fn mlir(&self) -> String {
        let mut dims: Vec<String> = self
            .shape
            .iter()
            .map(|d| d.map_or("?".to_string(), |d| d.to_string()))
            .collect();
        dims.push(self.dtype.mlir().to_string());
        format!("tensor<{}>", dims.join("x"))
    }
}

/// What inference knows of one operand: its type, and its value when constant.
#[derive(Clone, Debug)]
pub struct Known {
    pub info: TypeInfo,
    pub value: Option<Tensor>,
}

impl Known {
    /// What is known of a value of type `info` whose value is not known, except that an
    /// empty tensor has only one value.
    pub fn of_type(info: TypeInfo) -> Self {
        let value = info
            .static_shape()
            .filter(|s| s.iter().product::<usize>() == 0)
            .map(|s| Tensor::full(info.dtype, &s, 0.0));
        Known { info, value }
    }

    pub fn of(tensor: &Tensor) -> Self {
        Known {
            info: TypeInfo::fixed(tensor.dtype, tensor.shape()),
            value: Some(tensor.clone()),
        }
    }
}

/// Operand accessors shared by the op files.
pub(crate) struct Args<'a, T> {
    pub op: &'a str,
    pub items: &'a [Option<T>],
}

impl<'a, T> Args<'a, T> {
    pub fn get(&self, i: usize) -> Result<&'a T, SemError> {
        self.items
            .get(i)
            .and_then(Option::as_ref)
            .ok_or_else(|| SemError::Invalid(format!("'{}' is missing operand #{i}", self.op)))
    }
    pub fn opt(&self, i: usize) -> Option<&'a T> {
        self.items.get(i).and_then(Option::as_ref)
    }
    /// The present operands from slot `from` on (a family, or trailing variadics).
    pub fn present_from(&self, from: usize) -> Vec<&'a T> {
        self.items.iter().skip(from).flatten().collect()
    }
}

/// Infers the result types of `op` (`graph.` prefix optional).
pub fn infer(op: &str, attrs: &Attrs, inputs: &[Option<Known>]) -> Result<Vec<TypeInfo>, SemError> {
    let name = short_name(op);
    let args = Args {
        op: name,
        items: inputs,
    };
    let inferred = elementwise::infer(name, attrs, &args)
        .or_else(|| shape_ops::infer(name, attrs, &args))
        .or_else(|| reduce::infer(name, attrs, &args))
        .or_else(|| nn::infer(name, attrs, &args))
        .or_else(|| quantization::infer(name, attrs, &args))
        .unwrap_or_else(|| Err(SemError::Unsupported(format!("graph.{name}"))))?;
    // Shape rules compute dims from attributes, which may describe an impossible op
    // (a window larger than the padded input): that is an error, not a type.
    for info in &inferred {
        if let Some(d) = info.shape.iter().flatten().find(|&&d| d < 0) {
            return invalid(format!("the operands and attributes give a result dim of {d}"));
        }
    }
    Ok(inferred)
}

/// Evaluates `op` on `inputs`.
pub fn evaluate(op: &str, attrs: &Attrs, inputs: &[Option<Tensor>]) -> Result<Vec<Tensor>, SemError> {
    let name = short_name(op);
    let args = Args {
        op: name,
        items: inputs,
    };
    if let Some(r) = elementwise::evaluate(name, attrs, &args) {
        return r;
    }
    if let Some(r) = shape_ops::evaluate(name, attrs, &args) {
        return r;
    }
    if let Some(r) = reduce::evaluate(name, attrs, &args) {
        return r;
    }
    if let Some(r) = nn::evaluate(name, attrs, &args) {
        return r;
    }
    if let Some(r) = quantization::evaluate(name, attrs, &args) {
        return r;
    }
    Err(SemError::Unsupported(format!("graph.{name}")))
}

/// The ftensor ops with graph-op semantics (affine quantization and the quantized
/// contractions): the e-graph, the evaluator and constant folding treat them as graph ops.
pub const QUANTIZATION_OPS: &[&str] = &[
    "ftensor.quantize",
    "ftensor.dequantize",
    "ftensor.quantized_conv",
    "ftensor.quantized_mat_mul",
];

pub fn is_quantization_op(full_name: &str) -> bool {
    QUANTIZATION_OPS.contains(&full_name)
}

/// An op's name without its dialect prefix (no graph op shares a quantization op's name).
fn short_name(op: &str) -> &str {
    op.strip_prefix("graph.")
        .or_else(|| op.strip_prefix("ftensor."))
        .unwrap_or(op)
}

/// Normalizes a possibly negative axis for `rank`.
pub(crate) fn axis(axis: i64, rank: usize) -> Result<usize, SemError> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        return invalid(format!("axis {axis} is out of range for rank {rank}"));
    }
    Ok(if axis < 0 { (axis + r) as usize } else { axis as usize })
}

/// Multidirectional broadcasting of dims that may be dynamic.
pub(crate) fn broadcast_dims(shapes: &[&[Option<i64>]]) -> Result<Vec<Option<i64>>, SemError> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out: Vec<Option<i64>> = vec![Some(1); rank];
    for shape in shapes {
        let offset = rank - shape.len();
        for (i, &d) in shape.iter().enumerate() {
            let o = &mut out[offset + i];
            *o = match (*o, d) {
                (Some(1), d) => d,
                (o, Some(1)) => o,
                (Some(a), Some(b)) if a == b => Some(a),
                (Some(a), Some(b)) => return invalid(format!("dims {a} and {b} do not broadcast")),
                // A dynamic dim broadcast with a known a != 1 must be 1 or a: the result is a.
                (Some(a), None) | (None, Some(a)) => Some(a),
                (None, None) => None,
            };
        }
    }
    Ok(out)
}

/// Broadcasts static shapes.
pub(crate) fn broadcast_static(shapes: &[&[usize]]) -> Result<Vec<usize>, SemError> {
    let dims: Vec<Vec<Option<i64>>> = shapes
        .iter()
        .map(|s| s.iter().map(|&d| Some(d as i64)).collect())
        .collect();
    let refs: Vec<&[Option<i64>]> = dims.iter().map(|d| d.as_slice()).collect();
    Ok(broadcast_dims(&refs)?
        .into_iter()
        .map(|d| d.unwrap_or(1) as usize)
        .collect())
}
