//! Copy elimination at function boundaries. After bufferization a kernel often computes
//! into a fresh buffer and ends with `memref.copy` of it (or of a reshaped view of it)
//! into its out-parameter; the entry function does the same for the model's outputs.
//! When the out-parameter is used by nothing but that copy, the buffer can be the
//! out-parameter itself: the allocation becomes a view of the argument, and the copy
//! and deallocation go away.

use crate::ffi;
use fuser_dialects::{
    accessors::op_name,
    ffi::{
        clone_operation, erase_operation, has_single_use, memref_info, nested_operations, replace_all_uses, set_operand,
    },
};
use melior::ir::{
    BlockLike, OperationRef, Value, ValueLike,
    block::BlockArgument,
    operation::{OperationLike, OperationResult},
};

/// The static shape and element type of a dense (identity-layout) memref.
fn dense_shape(value: Value) -> Option<(Vec<i64>, String)> {
    let (info, dense) = memref_info(value.r#type())?;
    dense.then_some((info.static_shape()?, info.element))
}

/// Follows reshapes back from `value` to the `memref.alloc` they view.
fn allocation_behind<'c, 'a>(value: Value<'c, 'a>) -> Option<(OperationRef<'c, 'a>, Vec<OperationRef<'c, 'a>>)> {
    let mut chain = Vec::new();
    let mut current = value;
    loop {
        let owner = OperationResult::try_from(current).ok()?.owner();
        match op_name(&owner).as_str() {
            "memref.alloc" => return Some((owner, chain)),
            "memref.expand_shape" | "memref.collapse_shape" if has_single_use(current) => {
                chain.push(owner);
                current = owner.operand(0).ok()?;
            }
            _ => return None,
        }
    }
}

/// Whether every use of `value` is in `allowed` ops or a dealloc.
fn only_used_by(value: Value, allowed: &[OperationRef], root: OperationRef) -> bool {
    let key = value.to_raw().ptr;
    nested_operations(root).into_iter().all(|op| {
        let uses = (0..op.operand_count()).any(|i| op.operand(i).is_ok_and(|v| v.to_raw().ptr == key));
        !uses || op_name(&op) == "memref.dealloc" || allowed.iter().any(|a| a.to_raw().ptr == op.to_raw().ptr)
    })
}

/// Forwards copies into out-parameters under `root` (a module). Returns how many
/// allocations became views of an argument.
pub fn forward_copies_to_arguments(root: OperationRef) -> usize {
    let mut forwarded = 0;
    let copies: Vec<OperationRef> = nested_operations(root)
        .into_iter()
        .filter(|op| op_name(op) == "memref.copy")
        .collect();
    for copy in copies {
        let (Ok(source), Ok(target)) = (copy.operand(0), copy.operand(1)) else {
            continue;
        };
        // The target: a function argument read or written by nothing but this copy.
        if BlockArgument::try_from(target).is_err() || !has_single_use(target) {
            continue;
        }
        let Some((target_shape, element)) = dense_shape(target) else {
            continue;
        };
        let Some((alloc, chain)) = allocation_behind(source) else {
            continue;
        };
        if alloc.block().map(|b| b.to_raw().ptr) != copy.block().map(|b| b.to_raw().ptr) {
            continue;
        }
        let Ok(buffer) = alloc.result(0) else { continue };
        let Some((alloc_shape, alloc_element)) = dense_shape(buffer.into()) else {
            continue;
        };
        if alloc_element != element {
            continue;
        }
        if alloc_shape.iter().product::<i64>() != target_shape.iter().product::<i64>() {
            continue;
        }
        // Every user of the buffer must come before the copy (in its block), apart from
        // the reshapes leading to the copy and deallocations.
        let function = nested_operations(root).into_iter().find(|f| {
            op_name(f) == "func.func"
                && nested_operations(*f)
                    .iter()
                    .any(|o| o.to_raw().ptr == copy.to_raw().ptr)
        });
        let Some(function) = function else { continue };
        if !only_used_by(buffer.into(), &ops_between(alloc, copy), function) {
            continue;
        }
        // The buffer becomes the argument itself, or a row-major view of it with the
        // buffer's (identity-layout) type.
        let Some(block) = alloc.block() else { continue };
        let replacement: Value = if alloc_shape == target_shape {
            target
        } else {
            let strides: Vec<i64> = (0..alloc_shape.len())
                .map(|i| alloc_shape[i + 1..].iter().product())
                .collect();
            let list = |v: &[i64]| v.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ");
            let (target_ty, buffer_ty) = (target.r#type().to_string(), buffer.r#type().to_string());
            let text = format!(
                "func.func @lowered(%a0: {target_ty}) -> {buffer_ty} {{\n  %v = memref.reinterpret_cast %a0 to offset: [0], sizes: [{}], strides: [{}] : {target_ty} to {buffer_ty}\n  func.return %v : {buffer_ty}\n}}\n",
                list(&alloc_shape),
                list(&strides)
            );
            let Some(parsed) = ffi::parse_in(root.context(), &text) else {
                continue;
            };
            let helper = ffi::entry_block_operations(parsed.as_operation())[0];
            let cast = ffi::entry_block_operations(helper)[0];
            let view = block.insert_operation_before(alloc, clone_operation(cast));
            set_operand(view, 0, target);
            match view.result(0) {
                Ok(r) => r.into(),
                Err(_) => continue,
            }
        };
        // The copy, then the reshapes that fed it (last first), the deallocations, and
        // the allocation go.
        erase_operation(copy);
        for reshape in chain {
            erase_operation(reshape);
        }
        let deallocs: Vec<OperationRef> = nested_operations(function)
            .into_iter()
            .filter(|op| {
                op_name(op) == "memref.dealloc" && op.operand(0).is_ok_and(|v| v.to_raw().ptr == buffer.to_raw().ptr)
            })
            .collect();
        for dealloc in deallocs {
            erase_operation(dealloc);
        }
        replace_all_uses(buffer.into(), replacement);
        erase_operation(alloc);
        forwarded += 1;
    }
    forwarded
}

/// The ops from `start` to `end` in their block, both included.
fn ops_between<'c, 'a>(start: OperationRef<'c, 'a>, end: OperationRef<'c, 'a>) -> Vec<OperationRef<'c, 'a>> {
    let mut out = Vec::new();
    let mut current = Some(start);
    while let Some(op) = current {
        out.extend(nested_operations(op));
        if op.to_raw().ptr == end.to_raw().ptr {
            break;
        }
        current = op.next_in_block();
    }
    out
}
