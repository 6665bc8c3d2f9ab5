//! `graph-simplify`: inference-time cleanups of the graph dialect.
//!
//! IRDL ops carry no `Pure` trait and no folders, so upstream `canonicalize` and `cse`
//! leave graph ops alone. This pass does their work for the graph dialect:
//! - removes Identity, and Dropout whose mask is unused (inference);
//! - removes no-op Reshape (same static type), Transpose (identity perm) and Cast (same
//!   element type);
//! - folds transpose∘transpose into one transpose, and reshape∘reshape into the outer
//!   reshape when its target shape is a constant without `0` entries (a `0` would copy a
//!   dim of the intermediate, which differs from the source's);
//! - erases dead graph ops and merges identical ones (CSE within a block).
//!
//! It iterates to a fixpoint.

use crate::registry::{PassId, PassInfo, PassOptions, external_pass};
use fuser_dialects::{
    accessors::op_name,
    ffi::{dense_i64_values, erase_operation, has_uses, nested_operations, replace_all_uses, set_operand},
    graph_ops::{Cast, Reshape, Transpose},
};
use melior::{
    ir::{
        OperationRef, Value, ValueLike,
        block::BlockLike,
        operation::{OperationLike, OperationResult},
    },
    pass::{ExternalPass, Pass},
};
use std::collections::HashMap;

static GRAPH_SIMPLIFY_PASS_ID: PassId = PassId;

pub const INFO: PassInfo = PassInfo {
    flag: "graph-simplify",
    type_name: "GraphSimplifyPass",
    summary: "Remove Identity/Dropout and no-op Reshape/Transpose/Cast, fold reshape and transpose chains, erase dead graph ops and merge duplicates",
    description: r#"Inference-time cleanup of the graph dialect, iterated to a fixpoint. Upstream
`canonicalize` and `cse` cannot do this: IRDL ops have no `Pure` trait or folders.

Before:
```mlir
%0 = "graph.identity"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
%1 = "graph.transpose"(%0) {perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
%2 = "graph.transpose"(%1) {perm = array<i64: 1, 0>} : (tensor<3x2xf32>) -> tensor<2x3xf32>
%3 = "graph.relu"(%2) : (tensor<2x3xf32>) -> tensor<2x3xf32>
%4 = "graph.relu"(%2) : (tensor<2x3xf32>) -> tensor<2x3xf32>
%5 = "graph.add"(%3, %4) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
```
After:
```mlir
%0 = "graph.relu"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
%1 = "graph.add"(%0, %0) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
```"#,
    options: &[],
    create,
};

fn create(_options: &PassOptions) -> Result<Pass, String> {
    Ok(external_pass(
        &GRAPH_SIMPLIFY_PASS_ID,
        &INFO,
        |op: OperationRef, _pass: ExternalPass| {
            simplify(op);
        },
    ))
}

/// Runs all rewrites under `root` until nothing changes. Returns the number of changes.
pub fn simplify(root: OperationRef) -> usize {
    let mut total = 0;
    loop {
        let changes = rewrite_once(root) + eliminate_dead_graph_ops(root) + merge_duplicates(root);
        total += changes;
        if changes == 0 {
            return total;
        }
    }
}

fn graph_ops<'c, 'a>(root: OperationRef<'c, 'a>) -> Vec<OperationRef<'c, 'a>> {
    nested_operations(root)
        .into_iter()
        .filter(|op| op_name(op).starts_with("graph."))
        .collect()
}

fn defining_op<'c, 'a>(value: Value<'c, 'a>) -> Option<OperationRef<'c, 'a>> {
    OperationResult::try_from(value).ok().map(|r| r.owner())
}

/// Replaces the single result of `op` with `with` and erases `op`.
fn forward(op: OperationRef, with: Value) {
    if let Ok(result) = op.result(0) {
        replace_all_uses(result.into(), with);
    }
    erase_operation(op);
}

/// One sweep of the local rewrites; each erases at most the op it visits, so the
/// collected handles of later ops stay valid.
fn rewrite_once(root: OperationRef) -> usize {
    let mut changes = 0;
    for op in graph_ops(root) {
        let name = op_name(&op);
        let Ok(input) = op.operand(0) else { continue };
        let same_type = op.result(0).map(|r| r.r#type() == input.r#type()).unwrap_or(false);
        match name.as_str() {
            "graph.identity" => {
                forward(op, input);
                changes += 1;
            }
            "graph.dropout" => {
                let mask_used = op.result(1).map(|m| has_uses(m.into())).unwrap_or(false);
                if !mask_used {
                    forward(op, input);
                    changes += 1;
                }
            }
            "graph.cast" if same_type && Cast::cast(op).is_some() => {
                forward(op, input);
                changes += 1;
            }
            "graph.reshape"
                if same_type
                    && fuser_dialects::ffi::tensor_info(input.r#type())
                        .and_then(|t| t.static_shape())
                        .is_some() =>
            {
                forward(op, input);
                changes += 1;
            }
            "graph.reshape" => {
                changes += usize::from(fold_reshape_chain(op));
            }
            "graph.transpose" => {
                let Some(outer) = Transpose::cast(op) else { continue };
                let perm = outer.perm();
                if perm.iter().enumerate().all(|(i, &p)| p == i as i64) {
                    forward(op, input);
                    changes += 1;
                } else if let Some(inner) = defining_op(input).and_then(Transpose::cast) {
                    // transpose(transpose(x, p1), p2) = transpose(x, q), q[i] = p1[p2[i]].
                    let p1 = inner.perm();
                    let composed: Vec<i64> = perm.iter().map(|&p| p1[p as usize]).collect();
                    let Ok(result) = op.result(0) else { continue };
                    let Ok(new) = Transpose::build(op.location(), inner.data(), result.r#type(), &composed) else {
                        continue;
                    };
                    let Some(block) = op.block() else { continue };
                    let new = block.insert_operation_before(op, new);
                    let Ok(new_result) = new.result(0) else { continue };
                    forward(op, new_result.into());
                    changes += 1;
                }
            }
            _ => {}
        }
    }
    changes
}

/// reshape(reshape(x, s1), s2) -> reshape(x, s2) when s2 is a constant without zeros
/// (or allowzero is set), so it does not read the intermediate's dims.
fn fold_reshape_chain(op: OperationRef) -> bool {
    let Some(outer) = Reshape::cast(op) else { return false };
    let Some(inner) = defining_op(outer.data()).and_then(Reshape::cast) else {
        return false;
    };
    let Some(shape_op) = defining_op(outer.shape()) else {
        return false;
    };
    if op_name(&shape_op) != "graph.constant" {
        return false;
    }
    let Some(target) = shape_op.attribute("value").ok().and_then(dense_i64_values) else {
        return false;
    };
    if outer.allowzero() == 0 && target.contains(&0) {
        return false;
    }
    set_operand(op, 0, inner.data());
    true
}

/// Erases graph ops whose results are all unused, users first. Graph ops have no side
/// effects, so this is always sound.
pub fn eliminate_dead_graph_ops(root: OperationRef) -> usize {
    let mut changes = 0;
    for op in graph_ops(root).into_iter().rev() {
        if op.results().all(|r| !has_uses(r.into())) {
            erase_operation(op);
            changes += 1;
        }
    }
    changes
}

/// Merges graph ops with the same name, operands, attributes and result types within a
/// block: the later one is replaced by the earlier, which dominates it.
fn merge_duplicates(root: OperationRef) -> usize {
    let mut changes = 0;
    let mut seen: HashMap<String, OperationRef> = HashMap::new();
    for op in graph_ops(root) {
        let Some(block) = op.block() else { continue };
        let mut key = format!("{:?}|{}|", block.to_raw().ptr, op_name(&op));
        for operand in op.operands() {
            key.push_str(&format!("{:?},", operand.to_raw().ptr));
        }
        // Attributes are uniqued by the context: equal values are the same pointer, and
        // printing a weight-sized constant would cost more than the whole pass.
        let mut attributes: Vec<String> = op
            .attributes()
            .map(|(n, a)| {
                format!(
                    "{}={:?}",
                    fuser_dialects::ffi::string_ref_text(n.as_string_ref()),
                    melior::ir::attribute::AttributeLike::to_raw(&a).ptr
                )
            })
            .collect();
        attributes.sort();
        key.push_str(&attributes.join(","));
        for result in op.results() {
            key.push_str(&format!("|{}", result.r#type()));
        }
        match seen.get(&key) {
            Some(first) => {
                for (mine, theirs) in op.results().zip(first.results()) {
                    replace_all_uses(mine.into(), theirs.into());
                }
                erase_operation(op);
                changes += 1;
            }
            None => {
                seen.insert(key, op);
            }
        }
    }
    changes
}
