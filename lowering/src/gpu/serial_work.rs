//! Work that `convert-linalg-to-parallel-loops` leaves outside any parallel loop — a
//! reduction to a scalar is an `scf.for` alone, a rank-0 op a load, some arithmetic and a
//! store at the top of its function — would otherwise stay on the host, where a GPU
//! plan has no computation. Each run of such ops becomes the body of a one-iteration
//! `scf.parallel`, which `gpu-tile-parallel-loops` maps like any other loop: a kernel of
//! one thread.
//!
//! A run is a maximal sequence of top-level ops of a function that the host cannot run
//! (constants between them stay where they are). The loop is placed after the run's last
//! op, so every value the run reads, constants included, is defined before it. A run
//! whose results are read after it is left alone (the host plan then names the op).

use crate::ffi::{clone_before, entry_block_operations, parse_in};
use fuser_dialects::{
    accessors::op_name,
    ffi::{erase_operation, nested_operations},
};
use melior::ir::{OperationRef, operation::OperationLike};
use mlir_sys::mlirOperationMoveBefore;
use std::collections::HashSet;

/// The callee of the placeholder call that marks where the run goes.
const BODY_MARKER: &str = "fuser_serial_body";

/// What the host plan takes at the top of a function: allocation, views, constants,
/// calls, and the GPU's own loops and launches.
fn runs_on_host(name: &str) -> bool {
    matches!(
        name,
        "arith.constant"
            | "func.return"
            | "func.call"
            | "hw.alloc"
            | "memref.alloc"
            | "memref.alloca"
            | "memref.dealloc"
            | "memref.get_global"
            | "memref.subview"
            | "memref.expand_shape"
            | "memref.collapse_shape"
            | "memref.cast"
            | "memref.reinterpret_cast"
            | "scf.parallel"
            | "scf.execute_region"
            | "gpu.launch"
    )
}

fn key(op: OperationRef) -> usize {
    op.to_raw().ptr as usize
}

/// Whether an op after the run (or nested in one) reads a result of the run.
fn read_after(run: &[OperationRef], after: &[OperationRef]) -> bool {
    let members: HashSet<usize> = run.iter().map(|op| key(*op)).collect();
    after.iter().flat_map(|op| nested_operations(*op)).any(|op| {
        op.operands().any(|v| {
            melior::ir::operation::OperationResult::try_from(v).is_ok_and(|r| members.contains(&key(r.owner())))
        })
    })
}

/// Moves `run` into a one-iteration `scf.parallel` placed before `before`.
fn wrap(run: &[OperationRef], before: OperationRef) -> Result<(), String> {
    let text = format!(
        "func.func private @{BODY_MARKER}()\nfunc.func @serial() {{\n scf.execute_region {{\n  %c0 = arith.constant 0 : index\n  \
         %c1 = arith.constant 1 : index\n  scf.parallel (%i) = (%c0) to (%c1) step (%c1) {{\n   func.call @{BODY_MARKER}() : () -> ()\n   \
         scf.reduce\n  }}\n  scf.yield\n }}\n return\n}}\n"
    );
    let parsed = parse_in(before.context(), &text).ok_or("internal error: the serial template does not parse")?;
    let function = entry_block_operations(parsed.as_operation())
        .into_iter()
        .find(|op| op.attribute("sym_name").is_ok_and(|a| a.to_string() == "\"serial\""))
        .ok_or("internal error: the serial template has no function")?;
    let region = entry_block_operations(function)
        .into_iter()
        .find(|op| op_name(op) == "scf.execute_region")
        .ok_or("internal error: the serial template has no region")?;
    let clone = clone_before(region, before);
    let marker = nested_operations(clone)
        .into_iter()
        .find(|op| op_name(op) == "func.call")
        .ok_or("internal error: the serial template lost its marker")?;
    for op in run {
        // SAFETY: both ops are alive; the marker's block takes ownership of `op`.
        unsafe { mlirOperationMoveBefore(op.to_raw(), marker.to_raw()) }
    }
    erase_operation(marker);
    Ok(())
}

/// Wraps every run of host-less work in the functions under `root`; returns how many.
pub fn wrap_serial_work(root: OperationRef) -> Result<usize, String> {
    let functions: Vec<OperationRef> = nested_operations(root)
        .into_iter()
        .filter(|op| op_name(op) == "func.func")
        .collect();
    let mut count = 0;
    for function in functions {
        let ops = entry_block_operations(function);
        let mut i = 0;
        while i < ops.len() {
            if runs_on_host(&op_name(&ops[i])) {
                i += 1;
                continue;
            }
            // The run: host-less ops, constants between them left in place.
            let mut run = Vec::new();
            let mut j = i;
            while j < ops.len() {
                let name = op_name(&ops[j]);
                if name == "arith.constant" {
                    j += 1;
                } else if runs_on_host(&name) {
                    break;
                } else {
                    run.push(ops[j]);
                    j += 1;
                }
            }
            // Constants at the run's end are not part of it.
            let mut end = j;
            while end > i && op_name(&ops[end - 1]) == "arith.constant" {
                end -= 1;
            }
            if !read_after(&run, &ops[end..])
                && let Some(&next) = ops.get(end)
            {
                wrap(&run, next)?;
                count += 1;
            }
            i = j;
        }
    }
    Ok(count)
}
