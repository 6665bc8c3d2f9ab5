//! Constant globals as flat byte arrays. After lowering, a weight of shape 64x3x7x7 is
//! an `llvm.mlir.global` of type `!llvm.array<64 x array<3 x array<7 x array<7 x f32>>>>`,
//! which MLIR translates to LLVM IR one innermost row at a time (millions of uniqued
//! constants for a ResNet-50, most of its compile time and memory). A 1-D array of the
//! same elements translates in one piece; as bytes (`i8`), LLVM's assembler also writes
//! it in one piece, where a float array is written one element at a time. Users only
//! take the global's address (pointers are opaque), and the alignment is kept, so the
//! memory is the same.

use fuser_dialects::{
    accessors::op_name,
    ffi::{dense_as_bytes, nested_operations, parse_attribute, parse_type, reshape_dense, set_attribute, tensor_info},
};
use melior::ir::{
    attribute::{AttributeLike, TypeAttribute},
    operation::OperationLike,
};

/// Rewrites every constant `llvm.mlir.global` under `root` to a 1-D byte array (a splat:
/// a 1-D array of its elements). Returns the number of globals rewritten.
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
        let one_dimensional = info.shape.len() <= 1;
        if one_dimensional && info.element == "i8" {
            continue;
        }
        // Non-splat data as bytes; a splat stays a splat of its own type (LLVM writes a
        // zero splat as zeros without looking at elements).
        let bytes = dense_as_bytes(value);
        if bytes.is_none() && one_dimensional {
            continue;
        }
        let context = op.context();
        let element_bytes = bytes.as_ref().map(|b| b.2);
        let (flat_value, flat_array) = match bytes {
            Some((bytes, len, _)) => (Some(bytes), parse_type(context, &format!("!llvm.array<{len} x i8>"))),
            None => (
                parse_type(context, &format!("tensor<{elements}x{}>", info.element))
                    .and_then(|t| reshape_dense(value, t)),
                parse_type(context, &format!("!llvm.array<{elements} x {}>", info.element)),
            ),
        };
        let (Some(flat_value), Some(flat_array)) = (flat_value, flat_array) else {
            continue;
        };
        // Bytes have no alignment of their own: keep the elements' where none is set.
        if let Some(element_bytes) = element_bytes
            && op.attribute("alignment").is_err()
            && let Some(alignment) = parse_attribute(context, &format!("{element_bytes} : i64"))
        {
            set_attribute(op, "alignment", alignment);
        }
        set_attribute(op, "value", flat_value);
        set_attribute(op, "global_type", TypeAttribute::new(flat_array).into());
        count += 1;
    }
    count
}
