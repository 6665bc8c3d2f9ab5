//! fuser's Rust verifier: the checks IRDL cannot express.
//!
//! IRDL checks operand/result counts and base types. This verifier adds, for every op of
//! fuser's dialects: the exact attribute set (an unknown or misspelled attribute is an
//! error) and each attribute's kind; element types; and, when shapes are static, each
//! op's shape rule. Errors go through MLIR's diagnostic engine at the op's location, so
//! they print, and match `expected-error`, exactly like MLIR's own verifier.

mod attributes;
mod element_types;
mod inferred;
mod shapes;

use crate::{ffi, spec::find_op};
use melior::ir::{
    OperationRef, ValueLike,
    operation::{OperationLike, WalkOrder, WalkResult},
};

pub use shapes::broadcast_shapes;

/// An op under verification: its spec and operand/result tensor types.
pub(crate) struct OpView<'c, 'a> {
    pub op: OperationRef<'c, 'a>,
    pub spec: &'static crate::spec::OpSpec,
    pub name: String,
}

impl<'c, 'a> OpView<'c, 'a> {
    pub fn operand_info(&self, index: usize) -> Option<ffi::TensorInfo> {
        self.op.operand(index).ok().and_then(|v| ffi::tensor_info(v.r#type()))
    }
    pub fn result_info(&self, index: usize) -> Option<ffi::TensorInfo> {
        self.op.result(index).ok().and_then(|v| ffi::tensor_info(v.r#type()))
    }
    pub fn operand_infos(&self) -> Vec<Option<ffi::TensorInfo>> {
        (0..self.op.operand_count()).map(|i| self.operand_info(i)).collect()
    }
    /// The operand of slot `slot`, if present (handles optional/variadic groups).
    pub fn slot_operand(&self, slot: usize) -> Option<ffi::TensorInfo> {
        crate::accessors::operand_group(&self.op, self.spec, slot)
            .first()
            .and_then(|v| ffi::tensor_info(v.r#type()))
    }
    pub fn ints(&self, name: &str) -> Vec<i64> {
        crate::accessors::i64_array(&self.op, name)
    }
    pub fn int(&self, name: &str) -> i64 {
        crate::accessors::integer(&self.op, name)
    }
    pub fn string(&self, name: &str) -> String {
        crate::accessors::string(&self.op, name)
    }
}

/// Verifies every op of fuser's dialects nested in `root` (root included). Returns
/// whether all passed; each failure has been emitted as an error diagnostic.
pub fn verify_fuser_ops(root: OperationRef) -> bool {
    let mut ok = true;
    root.walk(WalkOrder::PreOrder, |op| {
        if let Err(message) = verify_op(op) {
            ffi::emit_error(op.location(), &message);
            ok = false;
        }
        WalkResult::Advance
    });
    ok
}

fn verify_op(op: OperationRef) -> Result<(), String> {
    let name = crate::accessors::op_name(&op);
    if name == "func.func" {
        return attributes::check_kernel_marker(&op);
    }
    let Some(spec) = find_op(&name) else { return Ok(()) };
    let view = OpView {
        op,
        spec,
        name: name.clone(),
    };
    let prefix = |e: String| format!("'{name}' op {e}");
    attributes::check(&view).map_err(prefix)?;
    element_types::check(&view).map_err(prefix)?;
    shapes::check(&view).map_err(prefix)?;
    inferred::check(&view).map_err(prefix)
}
