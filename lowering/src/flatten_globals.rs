//! Constant globals as flat arrays. After lowering, a weight of shape 64x3x7x7 is an
//! `llvm.mlir.global` of type `!llvm.array<64 x array<3 x array<7 x array<7 x f32>>>>`,
//! which MLIR translates to LLVM IR one innermost row at a time (millions of uniqued
//! constants for a ResNet-50, most of its compile time and memory). A 1-D
//! array of the same elements translates in one piece. Users only take the global's
//! address (pointers are opaque), so the layout in memory is unchanged.

use fuser_dialects::{
    accessors::op_name,
    ffi::{nested_operations, parse_type, reshape_dense, set_attribute, tensor_info},
};
use melior::ir::{
    attribute::{AttributeLike, TypeAttribute},
    operation::OperationLike,
};

/// Rewrites every multi-dimensional constant `llvm.mlir.global` under `root` to a 1-D
/// array. Returns the number of globals rewritten.
pub fn flatten_constant_globals(root: melior::ir::OperationRef) -> usize {
    let mut count = 0;
    for op in nested_operations(root) {
        if op_name(&op) != "llvm.mlir.global" {
            continue;
        }
        let Ok(value) = op.attribute("value") else { continue };
        let Some(info) = tensor_info(value.r#type()) else {
            continue;
        };
        let Some(elements) = info.element_count() else { continue };
        if info.shape.len() <= 1 {
            continue;
        }
        let context = op.context();
        let (Some(flat_tensor), Some(flat_array)) = (
            parse_type(context, &format!("tensor<{elements}x{}>", info.element)),
            parse_type(context, &format!("!llvm.array<{elements} x {}>", info.element)),
        ) else {
            continue;
        };
        let Some(flat_value) = reshape_dense(value, flat_tensor) else {
            continue;
        };
        set_attribute(op, "value", flat_value);
        set_attribute(op, "global_type", TypeAttribute::new(flat_array).into());
        count += 1;
    }
    count
}
