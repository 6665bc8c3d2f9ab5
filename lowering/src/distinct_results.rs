//! Functions return distinct values: a value returned more than once is copied for each
//! later occurrence. MLIR 22's `buffer-results-to-out-params` (with hoisted allocations)
//! crashes on a function that returns one buffer twice, which CSE produces when two
//! results are equal (two empty tensors, two equal constants).

use crate::ffi;
use fuser_dialects::{
    accessors::op_name,
    ffi::{nested_operations, set_operand},
};
use melior::ir::{ValueLike, operation::OperationLike};
use std::collections::HashMap;

/// Copies the repeated operands of every `func.return` under `root`. Returns whether
/// every copy parsed.
pub fn make_results_distinct(root: melior::ir::OperationRef) -> bool {
    let context = root.context();
    let mut parsed = HashMap::new();
    for ret in nested_operations(root)
        .into_iter()
        .filter(|op| op_name(op) == "func.return")
    {
        let mut seen = Vec::new();
        for index in 0..ret.operand_count() {
            let Ok(value) = ret.operand(index) else { continue };
            let key = value.to_raw().ptr as usize;
            if !seen.contains(&key) {
                seen.push(key);
                continue;
            }
            let ty = value.r#type().to_string();
            if !ty.starts_with("tensor<") || ty.contains('?') {
                continue;
            }
            let text = format!(
                "func.func @copy(%v: {ty}) -> {ty} {{\n  %e = tensor.empty() : {ty}\n  %c = linalg.copy ins(%v : {ty}) outs(%e : {ty}) -> {ty}\n  func.return %c : {ty}\n}}\n"
            );
            let Some(lowered) = ffi::parse_cached(context, &mut parsed, &text) else {
                return false;
            };
            let func = ffi::entry_block_operations(lowered.as_operation())[0];
            let body = ffi::entry_block_operations(func);
            let empty = ffi::clone_before(body[0], ret);
            let copy = ffi::clone_before(body[1], ret);
            set_operand(copy, 0, value);
            set_operand(copy, 1, empty.result(0).expect("tensor.empty result").into());
            set_operand(ret, index, copy.result(0).expect("linalg.copy result").into());
        }
    }
    true
}
