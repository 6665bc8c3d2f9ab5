//! Extracted e-graph → MLIR: each chosen class is materialized once, before its first
//! user; a fused node becomes its ops in order and one group, a computing op a group of
//! one; constant classes are evaluated into `graph.constant` when their inputs are
//! known (folded weights), and views stay in the caller. The groups are then outlined as
//! `ftensor.kernel` functions by the same code as `graph-form-kernels`.

use super::{
    analysis::{Graph, LeafOrigin, Operand, is_absent, split_children},
    extract::Selection,
    language::{AttrsKey, GraphLang},
    rules::fusion::VIEWS,
    translate::{Translation, value_key},
};
use egg::Id;
use fuser_dialects::{
    accessors::op_name,
    constants::{tensor_attribute_in, tensor_bytes},
    ffi::{
        dense_from_bytes, dense_to_tensor, erase_operation, has_uses, make, parse_attribute, parse_type, set_operand,
    },
    semantics::{self, Attrs, DType, Tensor},
    spec::find_op,
};
use melior::ir::{
    BlockLike, BlockRef, Location, OperationRef, RegionLike, Value,
    operation::{OperationBuilder, OperationLike, OperationResult},
};
use std::{collections::HashMap, sync::Arc};

/// The ops of one kernel, in order, and the e-node they came from.
pub struct Group<'c, 'a> {
    pub ops: Vec<OperationRef<'c, 'a>>,
    pub class: Id,
    pub node: GraphLang,
}

struct Rebuild<'t, 'c, 'a> {
    t: &'t Translation<'c, 'a>,
    egraph: &'t Graph,
    selection: &'t Selection,
    block: BlockRef<'c, 'a>,
    fallback: Location<'c>,
    locations: HashMap<Id, Location<'c>>,
    values: HashMap<Id, Value<'c, 'a>>,
    tensors: HashMap<Id, Option<Arc<Tensor>>>,
    groups: Vec<Group<'c, 'a>>,
}

/// Rewrites `function` to compute the selection; returns its kernels' groups in order.
pub fn rebuild<'c, 'a>(
    function: OperationRef<'c, 'a>,
    t: &Translation<'c, 'a>,
    selection: &Selection,
) -> Result<Vec<Group<'c, 'a>>, String> {
    let block = function
        .region(0)
        .ok()
        .and_then(|r| r.first_block())
        .ok_or("a function without a body")?;
    let egraph = &t.egraph;
    let mut locations = HashMap::new();
    for &(id, location) in &t.locations {
        locations.entry(egraph.find(id)).or_insert(location);
    }
    let mut r = Rebuild {
        t,
        egraph,
        selection,
        block,
        fallback: function.location(),
        locations,
        values: HashMap::new(),
        tensors: HashMap::new(),
        groups: Vec::new(),
    };
    let kept: Vec<usize> = t.kept.iter().map(|(op, _)| op.to_raw().ptr as usize).collect();
    for &op in &t.ops {
        let is_kept = kept.contains(&(op.to_raw().ptr as usize));
        if !is_kept && op_name(&op) != "func.return" {
            continue;
        }
        for index in 0..op.operand_count() {
            let operand = op.operand(index).map_err(|e| e.to_string())?;
            if let Some(&class) = t.class_of.get(&value_key(operand)) {
                let value = r.value(class, op)?;
                if value_key(value) != value_key(operand) {
                    set_operand(op, index, value);
                }
            }
        }
    }
    // The imported ops that nothing reads now, last first.
    for &op in t.ops.iter().rev() {
        let is_kept = kept.contains(&(op.to_raw().ptr as usize));
        if is_kept || op_name(&op) == "func.return" {
            continue;
        }
        if op.results().all(|result| !has_uses(result.into())) {
            erase_operation(op);
        }
    }
    Ok(r.groups)
}

impl<'c, 'a> Rebuild<'_, 'c, 'a> {
    fn location(&self, class: Id) -> Location<'c> {
        self.locations
            .get(&self.egraph.find(class))
            .copied()
            .unwrap_or(self.fallback)
    }

    fn chosen(&self, class: Id) -> Result<&GraphLang, String> {
        self.selection
            .get(&self.egraph.find(class))
            .ok_or_else(|| format!("internal error: e-class {class} has no extracted node"))
    }

    /// The value of `class`, materialized before `before` if it is not yet.
    fn value(&mut self, class: Id, before: OperationRef<'c, 'a>) -> Result<Value<'c, 'a>, String> {
        let class = self.egraph.find(class);
        if let Some(&value) = self.values.get(&class) {
            return Ok(value);
        }
        let node = self.chosen(class)?.clone();
        let folds = self.egraph[class].data.constant && matches!(node, GraphLang::Op(..));
        let value = match self.constant_tensor(class).filter(|_| folds) {
            Some(tensor) => self.constant(&tensor, class, before)?,
            None => self.materialize(class, &node, before)?,
        };
        self.values.insert(class, value);
        Ok(value)
    }

    fn materialize(
        &mut self,
        class: Id,
        node: &GraphLang,
        before: OperationRef<'c, 'a>,
    ) -> Result<Value<'c, 'a>, String> {
        match node {
            GraphLang::Leaf(key) => match &self.egraph.analysis.leaves[key.0 as usize].origin {
                LeafOrigin::External(i) => Ok(self.t.externals[*i]),
                LeafOrigin::New(tensor) => self.constant(&tensor.clone(), class, before),
            },
            GraphLang::Op(name, children) => {
                let (slots, attrs) = split_children(self.egraph, name.as_str(), children);
                let mut operands = Vec::new();
                for &slot in &slots {
                    operands.push(if is_absent(self.egraph, slot) {
                        None
                    } else {
                        Some(self.value(slot, before)?)
                    });
                }
                let ty = self.type_text(class)?;
                let op = self.build(name.as_str(), attrs, &operands, &ty, self.location(class), before)?;
                let constant = self.egraph[class].data.constant;
                if !constant && !VIEWS.contains(&name.as_str()) {
                    self.groups.push(Group {
                        ops: vec![op],
                        class,
                        node: node.clone(),
                    });
                }
                Ok(op.result(0).map_err(|e| e.to_string())?.into())
            }
            GraphLang::Fused(key, children) => {
                let mut inputs = Vec::new();
                for &child in children {
                    inputs.push(self.value(child, before)?);
                }
                let body = self.egraph.analysis.body(*key).clone();
                let location = self.location(class);
                let mut ops: Vec<OperationRef> = Vec::new();
                for step in &body.steps {
                    let operands: Vec<Option<Value>> = step
                        .operands
                        .iter()
                        .map(|o| match *o {
                            Operand::Input(i) => Some(inputs[i]),
                            Operand::Step(j) => ops[j].result(0).ok().map(Into::into),
                            Operand::Absent => None,
                        })
                        .collect();
                    ops.push(self.build(step.op.as_str(), step.attrs, &operands, &step.ty, location, before)?);
                }
                let result = ops.last().ok_or("an empty fused body")?.result(0);
                let result: Value = result.map_err(|e| e.to_string())?.into();
                self.groups.push(Group {
                    ops,
                    class,
                    node: node.clone(),
                });
                Ok(result)
            }
            GraphLang::Absent | GraphLang::Attrs(_) => Err(format!("internal error: e-class {class} is not a value")),
        }
    }

    fn type_text(&self, class: Id) -> Result<String, String> {
        self.egraph[class]
            .data
            .ty
            .as_ref()
            .map(|t| t.mlir())
            .ok_or_else(|| format!("internal error: e-class {class} has no type"))
    }

    /// The value of a constant class, when every leaf under it is a known constant.
    fn constant_tensor(&mut self, class: Id) -> Option<Arc<Tensor>> {
        let class = self.egraph.find(class);
        if let Some(known) = self.tensors.get(&class) {
            return known.clone();
        }
        let value = self.compute_tensor(class);
        self.tensors.insert(class, value.clone());
        value
    }

    fn compute_tensor(&mut self, class: Id) -> Option<Arc<Tensor>> {
        let data = &self.egraph[class].data;
        if !data.constant {
            return None;
        }
        if let Some(value) = &data.value {
            return Some(value.clone());
        }
        match self.chosen(class).ok()?.clone() {
            GraphLang::Leaf(key) => match &self.egraph.analysis.leaves[key.0 as usize].origin {
                LeafOrigin::New(tensor) => Some(tensor.clone()),
                LeafOrigin::External(i) => {
                    let owner = OperationResult::try_from(self.t.externals[*i]).ok()?.owner();
                    matches!(op_name(&owner).as_str(), "graph.constant" | "arith.constant")
                        .then(|| owner.attribute("value").ok().and_then(dense_to_tensor))
                        .flatten()
                        .map(Arc::new)
                }
            },
            GraphLang::Op(name, children) => {
                let (slots, attrs) = split_children(self.egraph, name.as_str(), &children);
                let mut inputs = Vec::new();
                for slot in slots {
                    inputs.push(if is_absent(self.egraph, slot) {
                        None
                    } else {
                        Some(self.constant_tensor(slot)?.as_ref().clone())
                    });
                }
                let empty = Attrs::default();
                let attributes = attrs.map_or(&empty, |k| &self.egraph.analysis.attrs_of(k).semantic);
                let mut results = semantics::evaluate(name.as_str(), attributes, &inputs).ok()?;
                (!results.is_empty()).then(|| Arc::new(results.swap_remove(0)))
            }
            _ => None,
        }
    }

    fn constant(&mut self, tensor: &Tensor, class: Id, before: OperationRef<'c, 'a>) -> Result<Value<'c, 'a>, String> {
        let context = before.context();
        let ty = self.type_text(class)?;
        // Large folded weights go in as raw bytes; booleans and small ones as text.
        let attribute = if tensor.dtype != DType::Bool && tensor.len() > 64 {
            parse_type(context, &ty).and_then(|t| dense_from_bytes(t, &tensor_bytes(tensor)))
        } else {
            tensor_attribute_in(context, tensor)
        }
        .ok_or("internal error: a folded constant has no attribute")?;
        let op = OperationBuilder::new("graph.constant", self.location(class))
            .add_attributes(&[(make::identifier(context, "value"), attribute)])
            .add_results(&[parse_type(context, &ty).ok_or("internal error: a type does not parse")?])
            .build()
            .map_err(|e| e.to_string())?;
        let op = self.block.insert_operation_before(before, op);
        Ok(op.result(0).map_err(|e| e.to_string())?.into())
    }

    fn build(
        &mut self,
        name: &str,
        attrs: Option<AttrsKey>,
        operands: &[Option<Value<'c, 'a>>],
        ty: &str,
        location: Location<'c>,
        before: OperationRef<'c, 'a>,
    ) -> Result<OperationRef<'c, 'a>, String> {
        let context = before.context();
        let full = crate::eqsat::analysis::full_op_name(name);
        let spec = find_op(&full).ok_or_else(|| format!("internal error: no op {full}"))?;
        let mut named = Vec::new();
        if let Some(key) = attrs {
            for (attribute, text) in &self.egraph.analysis.attrs_of(key).mlir {
                let value = parse_attribute(context, text)
                    .ok_or_else(|| format!("internal error: attribute {attribute} = {text} does not parse"))?;
                named.push((make::identifier(context, attribute), value));
            }
        }
        if spec.needs_operand_segments() {
            let sizes: Vec<i32> = operands.iter().map(|o| i32::from(o.is_some())).collect();
            named.push((
                make::identifier(context, "operandSegmentSizes"),
                make::i32_array(context, &sizes),
            ));
        }
        if spec.needs_result_segments() {
            let sizes: Vec<i32> = (0..spec.results.len()).map(|i| i32::from(i == 0)).collect();
            named.push((
                make::identifier(context, "resultSegmentSizes"),
                make::i32_array(context, &sizes),
            ));
        }
        let present: Vec<Value> = operands.iter().flatten().copied().collect();
        let result = parse_type(context, ty).ok_or_else(|| format!("internal error: type {ty} does not parse"))?;
        let op = OperationBuilder::new(&full, location)
            .add_operands(&present)
            .add_results(&[result])
            .add_attributes(&named)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(self.block.insert_operation_before(before, op))
    }
}
