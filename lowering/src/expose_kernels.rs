//! For `fuser run --compare-with reference`: every kernel call's results become extra
//! results of the entry function, so that both the reference evaluator and the compiled
//! code report the value each kernel produced.

use crate::profile::kernel_symbols;
use fuser_dialects::{accessors::op_name, eval::find_function, ffi::erase_operation};
use melior::ir::{
    BlockLike, OperationRef, RegionLike, Value,
    attribute::FlatSymbolRefAttribute,
    operation::{OperationBuilder, OperationLike},
};

/// Appends the results of each kernel call in function `entry` to its results, in call
/// order. Returns the kernel called for each appended result.
pub fn expose_kernel_results(root: OperationRef, entry: &str) -> Result<Vec<String>, String> {
    let kernels = kernel_symbols(root);
    let function = find_function(root, entry).ok_or_else(|| format!("no function '{entry}'"))?;
    let block = function
        .region(0)
        .ok()
        .and_then(|r| r.first_block())
        .ok_or("a function without a body")?;
    let mut exposed: Vec<Value> = Vec::new();
    let mut names = Vec::new();
    let mut current = block.first_operation();
    while let Some(op) = current {
        if op_name(&op) == "func.call"
            && let Some(callee) = op
                .attribute("callee")
                .ok()
                .and_then(|a| FlatSymbolRefAttribute::try_from(a).ok())
                .map(|a| a.value().to_string())
            && kernels.contains(&callee)
        {
            for i in 0..op.result_count() {
                exposed.push(op.result(i).map_err(|e| e.to_string())?.into());
                names.push(callee.clone());
            }
        }
        current = op.next_in_block();
    }
    let ret = block.terminator().ok_or("a function without a return")?;
    let mut operands: Vec<Value> = (0..ret.operand_count()).filter_map(|i| ret.operand(i).ok()).collect();
    operands.extend(exposed);
    let new_return = OperationBuilder::new("func.return", ret.location())
        .add_operands(&operands)
        .build()
        .map_err(|e| e.to_string())?;
    block.insert_operation_before(ret, new_return);
    erase_operation(ret);
    fuser_dialects::ffi::sync_function_type(function)?;
    fuser_dialects::ffi::remove_attribute(function, "res_attrs");
    Ok(names)
}
