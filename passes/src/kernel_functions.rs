//! The kernel functions of a module (`ftensor.kernel`), by name: what the passes that
//! rewrite kernels across their call sites start from.

use fuser_dialects::{
    KERNEL_ATTRIBUTE,
    accessors::{op_name, symbol_name},
};
use melior::ir::{OperationRef, operation::OperationLike};
use std::collections::HashMap;

/// The `func.func` ops among `operations` marked `ftensor.kernel`, by symbol name.
pub(crate) fn kernels_by_name<'c, 'a>(operations: &[OperationRef<'c, 'a>]) -> HashMap<String, OperationRef<'c, 'a>> {
    operations
        .iter()
        .filter(|op| op_name(*op) == "func.func" && op.has_attribute(KERNEL_ATTRIBUTE))
        .filter_map(|op| Some((symbol_name(op)?, *op)))
        .collect()
}
