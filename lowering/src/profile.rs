//! Instrumentation for per-kernel timing: every call of an `ftensor.kernel` function from
//! the entry function is bracketed by `fuser_profile_begin(id)` / `fuser_profile_end(id)`
//! (fuser's runtime), with ids in call order.

use crate::ffi;
use fuser_dialects::{
    accessors::op_name,
    eval::find_function,
    ffi::{clone_operation, make, nested_operations, parse_attribute, parse_type},
};
use fuser_runtime::{PROFILE_BEGIN, PROFILE_END};
use melior::ir::{
    BlockLike, OperationRef, RegionLike,
    operation::{OperationBuilder, OperationLike},
};

/// The symbols of the `ftensor.kernel` functions of module `root`.
pub fn kernel_symbols(root: OperationRef) -> Vec<String> {
    nested_operations(root)
        .into_iter()
        .filter(|op| op_name(op) == "func.func" && op.attribute("ftensor.kernel").is_ok())
        .filter_map(|op| {
            op.attribute("sym_name")
                .ok()
                .map(|a| a.to_string().trim_matches('"').to_string())
        })
        .collect()
}

/// Instruments the kernel calls inside function `entry` of module `root` (at any level
/// where kernels are still `func.call`s). Returns the kernel called under each id.
pub fn instrument_kernel_calls(root: OperationRef, entry: &str) -> Result<Vec<String>, String> {
    let kernels = kernel_symbols(root);
    let function = find_function(root, entry).ok_or_else(|| format!("no function '{entry}'"))?;
    let calls: Vec<(OperationRef, String)> = nested_operations(function)
        .into_iter()
        .filter(|op| op_name(op) == "func.call")
        .filter_map(|op| {
            let callee = fuser_dialects::ffi::callee(&op)?;
            kernels.contains(&callee).then_some((op, callee))
        })
        .collect();
    let context = root.context();
    let i64_type = parse_type(context, "i64").ok_or("i64")?;
    let mut names = Vec::new();
    for (id, (call, callee)) in calls.into_iter().enumerate() {
        let block = call.block().ok_or("a call outside a block")?;
        let constant = OperationBuilder::new("arith.constant", call.location())
            .add_attributes(&[(
                make::identifier(context, "value"),
                parse_attribute(context, &format!("{id} : i64")).ok_or("id")?,
            )])
            .add_results(&[i64_type])
            .build()
            .map_err(|e| e.to_string())?;
        let constant = block.insert_operation_before(call, constant);
        let id_value = constant.result(0).map_err(|e| e.to_string())?.into();
        for (symbol, after) in [(PROFILE_BEGIN, false), (PROFILE_END, true)] {
            let marker = OperationBuilder::new("func.call", call.location())
                .add_attributes(&[(
                    make::identifier(context, "callee"),
                    parse_attribute(context, &format!("@{symbol}")).ok_or("callee")?,
                )])
                .add_operands(&[id_value])
                .build()
                .map_err(|e| e.to_string())?;
            if after {
                block.insert_operation_after(call, marker);
            } else {
                block.insert_operation_before(call, marker);
            }
        }
        names.push(callee);
    }
    let text = format!("func.func private @{PROFILE_BEGIN}(i64)\nfunc.func private @{PROFILE_END}(i64)\n");
    let declarations = ffi::parse_in(context, &text).ok_or("profile declarations")?;
    let body = root
        .region(0)
        .ok()
        .and_then(|r| r.first_block())
        .ok_or("a module without a body")?;
    for op in ffi::entry_block_operations(declarations.as_operation()) {
        body.append_operation(clone_operation(op));
    }
    Ok(names)
}
