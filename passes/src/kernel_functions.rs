//! The kernel functions of a module (`ftensor.kernel`), by name: what the passes that
//! rewrite kernels across their call sites start from.

use fuser_dialects::{
    KERNEL_ATTRIBUTE,
    accessors::{AttrValue, build_op, op_name, symbol_name},
    ffi::{clone_operation, make, nested_operations, set_attribute},
    spec::find_op,
};
use melior::ir::{BlockLike, OperationRef, Value, operation::OperationLike};
use std::collections::HashMap;

/// Whether `function` is private: no caller outside the module sees its signature, so a
/// pass may change it or drop it.
pub(crate) fn is_private(function: OperationRef) -> bool {
    function
        .attribute("sym_visibility")
        .ok()
        .and_then(|a| melior::ir::attribute::StringAttribute::try_from(a).ok())
        .is_some_and(|a| fuser_dialects::ffi::string_value(a) == "private")
}

/// The `func.func` ops among `operations` marked `ftensor.kernel`, by symbol name.
pub(crate) fn kernels_by_name<'c, 'a>(operations: &[OperationRef<'c, 'a>]) -> HashMap<String, OperationRef<'c, 'a>> {
    operations
        .iter()
        .filter(|op| op_name(*op) == "func.func" && op.has_attribute(KERNEL_ATTRIBUTE))
        .filter_map(|op| Some((symbol_name(op)?, *op)))
        .collect()
}

/// A copy of `kernel` named `name` (or `name_2`, `name_3`, ... where a symbol of the
/// module has that name), placed after it.
pub(crate) fn clone_kernel<'c, 'a>(kernel: OperationRef<'c, 'a>, name: &str) -> Result<OperationRef<'c, 'a>, String> {
    let block = kernel.block().ok_or("a kernel outside a module")?;
    let module = block.parent_operation().ok_or("a kernel outside a module")?;
    let taken: std::collections::HashSet<String> = nested_operations(module).iter().filter_map(symbol_name).collect();
    let unique = std::iter::once(name.to_string())
        .chain((2..).map(|n| format!("{name}_{n}")))
        .find(|candidate| !taken.contains(candidate))
        .expect("an unused name");
    let copy = block.insert_operation_after(kernel, clone_operation(kernel));
    set_attribute(copy, "sym_name", make::string(kernel.context(), &unique));
    Ok(copy)
}

/// A one-operand, one-result graph op inserted before `before`.
pub(crate) fn build_graph_op<'c, 'a>(
    before: OperationRef<'c, 'a>,
    name: &str,
    operands: Vec<Value<'c, 'a>>,
    result: melior::ir::Type<'c>,
    attributes: Vec<(&str, AttrValue<'c>)>,
) -> Result<OperationRef<'c, 'a>, String> {
    let spec = find_op(name).ok_or_else(|| format!("{name} is not registered"))?;
    let groups = operands.into_iter().map(|v| vec![v]).collect();
    let op = build_op(before.location(), spec, groups, vec![vec![result]], attributes).map_err(|e| e.to_string())?;
    let block = before.block().ok_or("an op outside a block")?;
    Ok(block.insert_operation_before(before, op))
}
