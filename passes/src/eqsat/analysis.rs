//! The e-graph analysis: each e-class knows its tensor type, whether it is a compile-time
//! constant, its value when that is small and known, and the imported ops
//! that compute it. The analysis also owns the tables the leaves and fused nodes point
//! into: attribute dictionaries, leaf values and fused bodies.

use super::language::{AttrsKey, BodyKey, GraphLang, LeafKey};
use egg::{Analysis, DidMerge, EGraph, Id, Symbol};
use fuser_dialects::{
    semantics::{self, Attrs, Known, Tensor, TypeInfo},
    spec::find_op,
};
use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

pub type Graph = EGraph<GraphLang, GraphAnalysis>;

/// Constants up to this many elements carry their value in the analysis (shapes, axes,
/// scalars): rules read them, and inference needs them for shape operands.
pub const SMALL_VALUE_ELEMENTS: usize = 4096;

/// What an e-class is known to be.
#[derive(Clone, Debug, Default)]
pub struct ClassData {
    /// The tensor type; `None` for attribute and `absent` leaves, and for nodes whose
    /// type could not be inferred (rules never union those).
    pub ty: Option<TypeInfo>,
    /// Computed from constants only: folded at compile time, never a kernel.
    pub constant: bool,
    pub value: Option<Arc<Tensor>>,
    /// The imported ops (indices into `Translation::originals`) whose result this class
    /// is, or which a rule folded into it.
    pub originals: BTreeSet<u32>,
}

/// An attribute dictionary: the semantic form for inference and evaluation, and the
/// MLIR attributes (name, text) to rebuild the op with.
#[derive(Clone, Debug)]
pub struct AttrsEntry {
    pub semantic: Attrs,
    pub mlir: Vec<(String, String)>,
}

/// Where a leaf's value comes from.
#[derive(Clone, Debug)]
pub enum LeafOrigin {
    /// The function's value number `i` (an argument, a constant, a weight, a result of an
    /// op the e-graph does not model).
    External(usize),
    /// A constant a rule made.
    New(Arc<Tensor>),
}

#[derive(Clone, Debug)]
pub struct LeafEntry {
    pub ty: TypeInfo,
    pub constant: bool,
    pub value: Option<Arc<Tensor>>,
    pub origin: LeafOrigin,
}

/// Where a fused step reads an operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operand {
    /// The fused node's child number `i`.
    Input(usize),
    /// The result of an earlier step.
    Step(usize),
    Absent,
}

/// One op of a fused kernel.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Step {
    pub op: Symbol,
    pub attrs: Option<AttrsKey>,
    pub operands: Vec<Operand>,
    /// The result type, as MLIR writes it.
    pub ty: String,
}

/// The ops of a fused kernel, the first the anchor, the last the result, and the rules
/// that built it (part of its identity, so that the report names them per kernel).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FusedBody {
    pub steps: Vec<Step>,
    pub rules: Vec<&'static str>,
}

/// The step types of a fused body, as the cost model reads them.
#[derive(Clone, Debug)]
pub struct BodyMeta {
    pub step_types: Vec<TypeInfo>,
}

#[derive(Clone, Default)]
pub struct GraphAnalysis {
    pub attrs: Vec<AttrsEntry>,
    attrs_index: HashMap<String, AttrsKey>,
    pub leaves: Vec<LeafEntry>,
    /// Constants made by rules, by content, so that a rule firing again adds nothing.
    constants_index: HashMap<String, LeafKey>,
    pub bodies: Vec<FusedBody>,
    pub body_meta: Vec<BodyMeta>,
    body_index: HashMap<FusedBody, BodyKey>,
    /// The rule that first added each node (children as they were then).
    pub created_by: HashMap<GraphLang, &'static str>,
}

impl GraphAnalysis {
    pub fn intern_attrs(&mut self, entry: AttrsEntry) -> AttrsKey {
        let text: Vec<String> = entry.mlir.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let text = text.join(",");
        if let Some(&key) = self.attrs_index.get(&text) {
            return key;
        }
        let key = AttrsKey(self.attrs.len() as u32);
        self.attrs.push(entry);
        self.attrs_index.insert(text, key);
        key
    }

    /// The leaf of a constant a rule made, one per distinct value.
    pub fn constant_leaf(&mut self, tensor: Tensor) -> LeafKey {
        let text = format!(
            "{:?}{:?}{}",
            tensor.dtype,
            tensor.shape(),
            fuser_dialects::constants::dense_text(&tensor)
        );
        if let Some(&key) = self.constants_index.get(&text) {
            return key;
        }
        let tensor = Arc::new(tensor);
        let key = self.add_leaf(LeafEntry {
            ty: TypeInfo::fixed(tensor.dtype, tensor.shape()),
            constant: true,
            value: Some(tensor.clone()),
            origin: LeafOrigin::New(tensor),
        });
        self.constants_index.insert(text, key);
        key
    }

    pub fn add_leaf(&mut self, entry: LeafEntry) -> LeafKey {
        self.leaves.push(entry);
        LeafKey(self.leaves.len() as u32 - 1)
    }

    /// The key of `body`, interned; `meta` is kept for the first body of its kind.
    pub fn intern_body(&mut self, body: FusedBody, meta: BodyMeta) -> BodyKey {
        if let Some(&key) = self.body_index.get(&body) {
            return key;
        }
        let key = BodyKey(self.bodies.len() as u32);
        self.bodies.push(body.clone());
        self.body_meta.push(meta);
        self.body_index.insert(body, key);
        key
    }

    pub fn body(&self, key: BodyKey) -> &FusedBody {
        &self.bodies[key.0 as usize]
    }

    pub fn meta(&self, key: BodyKey) -> &BodyMeta {
        &self.body_meta[key.0 as usize]
    }

    pub fn attrs_of(&self, key: AttrsKey) -> &AttrsEntry {
        &self.attrs[key.0 as usize]
    }
}

/// The MLIR name of an `Op` node's symbol: graph ops are named without their prefix, the
/// quantization ops (`ftensor.quantized_conv`, ...) with it.
pub fn full_op_name(name: &str) -> String {
    if name.contains('.') {
        name.to_string()
    } else {
        format!("graph.{name}")
    }
}

/// The operand slots and attribute key of an `Op` node with children `children`.
pub fn split_children(egraph: &Graph, name: &str, children: &[Id]) -> (Vec<Id>, Option<AttrsKey>) {
    let has_attrs = find_op(&full_op_name(name)).is_some_and(|spec| !spec.attributes.is_empty());
    let last_is_attrs = children
        .last()
        .is_some_and(|&c| egraph[c].nodes.iter().any(|n| matches!(n, GraphLang::Attrs(_))));
    if has_attrs && last_is_attrs {
        let key = egraph[*children.last().expect("non-empty")]
            .nodes
            .iter()
            .find_map(|n| match n {
                GraphLang::Attrs(k) => Some(*k),
                _ => None,
            });
        (children[..children.len() - 1].to_vec(), key)
    } else {
        (children.to_vec(), None)
    }
}

/// Whether the class is the `absent` leaf.
pub fn is_absent(egraph: &Graph, id: Id) -> bool {
    egraph[id].nodes.iter().any(|n| matches!(n, GraphLang::Absent))
}

/// What inference knows of the class `id` as an operand, or `None` when absent; `Err`
/// when its type is unknown.
fn known(egraph: &Graph, id: Id) -> Result<Option<Known>, ()> {
    if is_absent(egraph, id) {
        return Ok(None);
    }
    let data = &egraph[id].data;
    let info = data.ty.clone().ok_or(())?;
    Ok(Some(Known {
        info,
        value: data.value.as_deref().cloned(),
    }))
}

/// Infers the type of `op` with operand classes `slots`, and folds it when its operands
/// are small known constants.
pub fn infer_op(egraph: &Graph, name: &str, slots: &[Id], attrs: Option<AttrsKey>) -> ClassData {
    let empty = Attrs::default();
    let attributes = attrs.map_or(&empty, |k| &egraph.analysis.attrs_of(k).semantic);
    let Ok(inputs) = slots.iter().map(|&c| known(egraph, c)).collect::<Result<Vec<_>, ()>>() else {
        return ClassData::default();
    };
    let Ok(types) = semantics::infer(name, attributes, &inputs) else {
        return ClassData::default();
    };
    let Some(ty) = types.into_iter().next() else {
        return ClassData::default();
    };
    let present: Vec<Id> = slots.iter().copied().filter(|&c| !is_absent(egraph, c)).collect();
    let constant = !present.is_empty() && present.iter().all(|&c| egraph[c].data.constant);
    let small = ty
        .static_shape()
        .is_some_and(|s| s.iter().product::<usize>() <= SMALL_VALUE_ELEMENTS);
    let value = if constant && small && inputs.iter().flatten().all(|k| k.value.is_some()) {
        let values: Vec<Option<Tensor>> = inputs.into_iter().map(|k| k.and_then(|k| k.value)).collect();
        semantics::evaluate(name, attributes, &values)
            .ok()
            .and_then(|mut v| (!v.is_empty()).then(|| Arc::new(v.swap_remove(0))))
    } else {
        None
    };
    ClassData {
        ty: Some(ty),
        constant,
        value,
        originals: BTreeSet::new(),
    }
}

impl Analysis<GraphLang> for GraphAnalysis {
    type Data = ClassData;

    fn make(egraph: &mut Graph, enode: &GraphLang) -> ClassData {
        match enode {
            GraphLang::Absent | GraphLang::Attrs(_) => ClassData::default(),
            GraphLang::Leaf(key) => {
                let leaf = &egraph.analysis.leaves[key.0 as usize];
                ClassData {
                    ty: Some(leaf.ty.clone()),
                    constant: leaf.constant,
                    value: leaf.value.clone(),
                    originals: BTreeSet::new(),
                }
            }
            GraphLang::Fused(key, _) => {
                let meta = egraph.analysis.meta(*key);
                ClassData {
                    ty: meta.step_types.last().cloned(),
                    ..ClassData::default()
                }
            }
            GraphLang::Op(name, children) => {
                let (slots, attrs) = split_children(egraph, name.as_str(), children);
                infer_op(egraph, name.as_str(), &slots, attrs)
            }
        }
    }

    fn merge(&mut self, a: &mut ClassData, b: ClassData) -> DidMerge {
        let mut changed_a = false;
        let mut changed_b = false;
        match (&a.ty, &b.ty) {
            (None, Some(_)) => {
                a.ty = b.ty.clone();
                changed_a = true;
            }
            (Some(_), None) => changed_b = true,
            _ => {}
        }
        if a.constant != b.constant {
            changed_a |= !a.constant;
            changed_b |= a.constant;
            a.constant = true;
        }
        match (&a.value, &b.value) {
            (None, Some(_)) => {
                a.value = b.value.clone();
                changed_a = true;
            }
            (Some(_), None) => changed_b = true,
            _ => {}
        }
        let before = a.originals.len();
        let b_len = b.originals.len();
        a.originals.extend(b.originals);
        changed_a |= a.originals.len() != before;
        changed_b |= a.originals.len() != b_len;
        DidMerge(changed_a, changed_b)
    }
}
