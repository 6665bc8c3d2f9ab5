//! `memref.copy` → `linalg.copy`. MLIR lowers a copy between non-contiguous memrefs
//! (into a padded buffer's interior, say) to a call of `memrefCopy` from MLIR's C runner
//! library, which compiled models must not depend on. As a `linalg.copy` it becomes
//! plain loops like every other linalg op. On a CPU, copies between dense buffers are
//! left to MLIR, which makes them a `memcpy`; for a GPU every copy becomes a kernel.

use crate::{ffi, graph_to_linalg::splice};
use fuser_dialects::{
    accessors::op_name,
    ffi::{memref_info, nested_operations},
};
use melior::ir::{OperationRef, ValueLike, operation::OperationLike};
use std::collections::HashMap;

/// Rewrites every `memref.copy` under `root` (`dense_too`: also those between dense
/// buffers). Returns whether all were rewritten.
pub fn memref_copy_to_linalg(root: OperationRef, dense_too: bool) -> bool {
    let context = root.context();
    let mut parsed = HashMap::new();
    let copies: Vec<OperationRef> = nested_operations(root)
        .into_iter()
        .filter(|op| op_name(op) == "memref.copy")
        .collect();
    for copy in copies {
        let (Ok(source), Ok(target)) = (copy.operand(0), copy.operand(1)) else {
            return false;
        };
        // Between dense buffers MLIR emits a memcpy, the fastest copy there is.
        let dense = |v: melior::ir::Value| memref_info(v.r#type()).is_some_and(|(_, dense)| dense);
        if !dense_too && dense(source) && dense(target) {
            continue;
        }
        let (s, t) = (source.r#type().to_string(), target.r#type().to_string());
        let text = format!(
            "func.func @lowered(%a0: {s}, %a1: {t}) {{\n  linalg.copy ins(%a0 : {s}) outs(%a1 : {t})\n  func.return\n}}\n"
        );
        let Some(lowered) = ffi::parse_cached(context, &mut parsed, &text) else {
            return false;
        };
        splice(copy, lowered);
    }
    true
}
