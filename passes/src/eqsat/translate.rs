//! MLIR → e-graph: each graph op of one result becomes an `Op` node; the function's
//! arguments, constants, weights and the results of everything else become leaves.
//! Ops the e-graph does not model (several results, regions, empty tensors, ops whose
//! attributes the semantics cannot read) stay as they are; their operands are roots.

use super::{
    analysis::{AttrsEntry, Graph, GraphAnalysis, LeafEntry, LeafOrigin, SMALL_VALUE_ELEMENTS},
    language::GraphLang,
};
use egg::{Id, Symbol};
use fuser_dialects::{
    accessors::{op_name, operand_group},
    eval::op_attrs,
    ffi::{dense_to_tensor, string_ref_text, tensor_info},
    semantics::{DType, TypeInfo},
    spec::{Arity, find_op},
};
use melior::ir::{BlockLike, Location, OperationRef, RegionLike, Value, ValueLike, operation::OperationLike};
use std::{collections::HashMap, sync::Arc};

/// A function in the e-graph.
pub struct Translation<'c, 'a> {
    pub egraph: Graph,
    /// The values that leaves stand for (`LeafOrigin::External(i)`).
    pub externals: Vec<Value<'c, 'a>>,
    /// The function's ops in order, `func.return` last.
    pub ops: Vec<OperationRef<'c, 'a>>,
    /// The e-class of each value the e-graph models.
    pub class_of: HashMap<usize, Id>,
    /// Ops kept as they are, and whether each is a kernel of its own (else it stays in
    /// the caller).
    pub kept: Vec<(OperationRef<'c, 'a>, bool)>,
    /// Each modeled op's class, node and name, as imported (the report's "before").
    pub originals: Vec<(Id, GraphLang, Option<String>)>,
    /// Each modeled op's class and location, in the function's order (the first op of a
    /// class gives it its location, whatever the iteration order of a map would say).
    pub locations: Vec<(Id, Location<'c>)>,
    /// Each graph op's display name (see [`display_names`]).
    pub names: HashMap<usize, String>,
}

pub fn value_key(value: Value) -> usize {
    value.to_raw().ptr as usize
}

fn type_info(value: Value) -> Option<TypeInfo> {
    let info = tensor_info(value.r#type())?;
    let dtype = DType::from_mlir(&info.element)?;
    Some(TypeInfo::new(dtype, info.shape.clone()))
}

/// The node name of an op, from its location (`loc("name")`).
pub fn node_name(location: Location) -> Option<String> {
    fuser_dialects::ffi::location_name(location)
}

/// The name the report and `fuser explain` give each graph op of `ops` (constants and
/// weights aside): its node name, or `<op>_<n>` counting those ops from 1 when the IR
/// carries no names (MLIR text printed without locations).
pub fn display_names(ops: &[OperationRef]) -> HashMap<usize, String> {
    let mut names = HashMap::new();
    let mut index = 0;
    for op in ops {
        let name = op_name(op);
        let graph_level = name.starts_with("graph.") || fuser_dialects::semantics::is_quantization_op(&name);
        if !graph_level || name == "graph.constant" || name == "graph.weight" {
            continue;
        }
        index += 1;
        let display =
            node_name(op.location()).unwrap_or_else(|| format!("{}_{index}", name.trim_start_matches("graph.")));
        names.insert(op.to_raw().ptr as usize, display);
    }
    names
}

/// Whether the e-graph models `op`: a graph op with one tensor result, no regions, at most
/// one value per operand slot, and attributes the semantics reads.
fn modeled(op: &OperationRef, name: &str) -> bool {
    let Some(spec) = find_op(name) else { return false };
    let graph_level = name.starts_with("graph.") || fuser_dialects::semantics::is_quantization_op(name);
    if !graph_level || op.result_count() != 1 || op.region_count() != 0 {
        return false;
    }
    let empty = |v: Value| tensor_info(v.r#type()).and_then(|i| i.element_count()) == Some(0);
    if op.operands().any(empty) || op.results().any(|r| empty(r.into())) {
        return false;
    }
    let single_slots = (0..spec.operands.len()).all(|slot| {
        let group = operand_group(op, spec, slot);
        group.len() <= 1 && (spec.operands[slot].arity != Arity::Variadic || group.len() == 1)
    });
    single_slots && op.result(0).is_ok_and(|r| type_info(r.into()).is_some()) && op_attrs(op).is_ok()
}

/// The attributes of `op` to rebuild it with: everything but the segment sizes, which
/// the rebuild recomputes.
fn mlir_attributes(op: &OperationRef) -> Vec<(String, String)> {
    let mut attributes: Vec<(String, String)> = op
        .attributes()
        .map(|(name, value)| (string_ref_text(name.as_string_ref()), value.to_string()))
        .filter(|(name, _)| name != "operandSegmentSizes" && name != "resultSegmentSizes")
        .collect();
    attributes.sort();
    attributes
}

pub fn translate<'c, 'a>(function: OperationRef<'c, 'a>) -> Option<Translation<'c, 'a>> {
    let block = function.region(0).ok()?.first_block()?;
    let mut t = Translation {
        egraph: Graph::new(GraphAnalysis::default()),
        externals: Vec::new(),
        ops: Vec::new(),
        class_of: HashMap::new(),
        kept: Vec::new(),
        originals: Vec::new(),
        locations: Vec::new(),
        names: HashMap::new(),
    };
    let mut all = Vec::new();
    let mut next = block.first_operation();
    while let Some(op) = next {
        next = op.next_in_block();
        all.push(op);
    }
    t.names = display_names(&all);
    for i in 0..block.argument_count() {
        let argument: Value = block.argument(i).ok()?.into();
        leaf(&mut t, argument, false, None);
    }
    let mut current = block.first_operation();
    while let Some(op) = current {
        current = op.next_in_block();
        t.ops.push(op);
        let name = op_name(&op);
        match name.as_str() {
            "func.return" => {}
            // Weights arrive as `graph.weight` (data outside the module) or, once
            // `fuser compile` has loaded them, as `arith.constant`.
            "graph.constant" | "graph.weight" | "arith.constant" => {
                let result: Value = op.result(0).ok()?.into();
                let value = (name != "graph.weight")
                    .then(|| op.attribute("value").ok())
                    .flatten()
                    .filter(|_| {
                        tensor_info(result.r#type())
                            .and_then(|i| i.element_count())
                            .is_some_and(|n| n as usize <= SMALL_VALUE_ELEMENTS)
                    })
                    .and_then(dense_to_tensor);
                if type_info(result).is_some() {
                    leaf(&mut t, result, true, value.map(Arc::new));
                } else {
                    t.kept.push((op, false));
                }
            }
            _ if modeled(&op, &name) => {
                let id = add_op(&mut t, op, &name);
                t.class_of.insert(value_key(op.result(0).ok()?.into()), id);
            }
            _ => {
                let kernel = name.starts_with("graph.")
                    && !op
                        .operands()
                        .chain(op.results().map(Into::into))
                        .any(|v| tensor_info(v.r#type()).and_then(|i| i.element_count()) == Some(0));
                t.kept.push((op, kernel));
                for result in op.results() {
                    if type_info(result.into()).is_some() {
                        leaf(&mut t, result.into(), false, None);
                    }
                }
            }
        }
    }
    t.egraph.rebuild();
    Some(t)
}

/// The class of `value`, which must be modeled or a leaf.
fn class<'c, 'a>(t: &mut Translation<'c, 'a>, value: Value<'c, 'a>) -> Id {
    match t.class_of.get(&value_key(value)) {
        Some(&id) => id,
        // A value defined by something the walk has not modeled (it cannot be: the
        // block is in order); an opaque leaf keeps the translation total.
        None => leaf(t, value, false, None),
    }
}

fn leaf<'c, 'a>(
    t: &mut Translation<'c, 'a>,
    value: Value<'c, 'a>,
    constant: bool,
    known: Option<Arc<fuser_dialects::semantics::Tensor>>,
) -> Id {
    let ty = type_info(value).unwrap_or_else(|| TypeInfo::new(DType::F32, vec![]));
    let key = t.egraph.analysis.add_leaf(LeafEntry {
        ty,
        constant,
        value: known,
        origin: LeafOrigin::External(t.externals.len()),
    });
    t.externals.push(value);
    let id = t.egraph.add(GraphLang::Leaf(key));
    t.class_of.insert(value_key(value), id);
    id
}

fn add_op<'c, 'a>(t: &mut Translation<'c, 'a>, op: OperationRef<'c, 'a>, name: &str) -> Id {
    let spec = find_op(name).expect("modeled ops have a spec");
    let mut children = Vec::new();
    for slot in 0..spec.operands.len() {
        match operand_group(&op, spec, slot).first() {
            Some(&v) => children.push(class(t, v)),
            None => children.push(t.egraph.add(GraphLang::Absent)),
        }
    }
    if !spec.attributes.is_empty() {
        let entry = AttrsEntry {
            semantic: op_attrs(&op).expect("modeled ops' attributes read"),
            mlir: mlir_attributes(&op),
        };
        let key = t.egraph.analysis.intern_attrs(entry);
        children.push(t.egraph.add(GraphLang::Attrs(key)));
    }
    let short = name.strip_prefix("graph.").unwrap_or(name);
    let node = GraphLang::Op(Symbol::from(short), children);
    let id = t.egraph.add(node.clone());
    // The op's own result type is the truth; inference only fills in new nodes.
    let result: Value = op.result(0).expect("one result").into();
    let data = &mut t.egraph[id].data;
    data.ty = type_info(result);
    data.originals.insert(t.originals.len() as u32);
    let name = t.names.get(&(op.to_raw().ptr as usize)).cloned();
    t.originals.push((id, node, name));
    t.locations.push((id, op.location()));
    id
}
