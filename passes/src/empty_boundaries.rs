//! Empty inputs and outputs of the compiled entry. MLIR 22's bare-pointer calling
//! convention leaves a function unconverted when an argument is an empty memref of rank
//! 2 or more (rank 1 works). An empty tensor carries no data, so its value is known:
//! each empty input is replaced inside the function by an empty constant, each empty
//! output is returned as one, and both become `tensor<0xE>` in the signature. Callers
//! still pass (and read) buffers of the original types: no element is ever accessed.

use crate::cpu_target::entry_and_block;
use fuser_dialects::ffi::{make, parse_attribute, parse_type, replace_all_uses, set_operand, tensor_info};
use melior::ir::{
    Block, BlockLike, Module, OperationRef, Type, Value, ValueLike,
    attribute::AttributeLike,
    operation::{OperationBuilder, OperationLike},
    r#type::TypeLike,
};

fn is_empty(ty: Type) -> Option<String> {
    let info = tensor_info(ty)?;
    let shape = info.static_shape()?;
    (shape.contains(&0) && shape.len() > 1).then_some(info.element)
}

/// A `graph.constant` holding an empty tensor of type `ty`, placed before `before` (or
/// at the end of `block`).
fn empty_constant<'c, 'a>(
    block: &'a Block<'c>,
    before: Option<OperationRef<'c, 'a>>,
    ty: Type<'c>,
    location: melior::ir::Location<'c>,
) -> Result<Value<'c, 'a>, String> {
    let context = ty.context();
    let value = parse_attribute(context, &format!("dense<> : {ty}")).ok_or("an empty dense attribute")?;
    let op = OperationBuilder::new("graph.constant", location)
        .add_attributes(&[(make::identifier(context, "value"), value)])
        .add_results(&[value.r#type()])
        .build()
        .map_err(|e| e.to_string())?;
    let op = match before {
        Some(before) => block.insert_operation_before(before, op),
        None => block.append_operation(op),
    };
    Ok(op.result(0).map_err(|e| e.to_string())?.into())
}

/// Rewrites the empty inputs and outputs (of rank 2 or more) of `function` as described
/// in the module docs.
pub fn replace_empty_boundaries(module: &Module, function: &str) -> Result<(), String> {
    let (entry, block) = entry_and_block(module, function)?;
    let context = entry.context();
    let flat = |element: &str| parse_type(context, &format!("tensor<0x{element}>")).ok_or("a flat empty type");
    for index in 0..block.argument_count() {
        let argument = block.argument(index).map_err(|e| e.to_string())?;
        let Some(element) = is_empty(argument.r#type()) else {
            continue;
        };
        let constant = empty_constant(&block, block.first_operation(), argument.r#type(), entry.location())?;
        replace_all_uses(argument.into(), constant);
        argument.set_type(flat(&element)?);
    }
    let ret = block.terminator().ok_or("an entry function without a return")?;
    for index in 0..ret.operand_count() {
        let value = ret.operand(index).map_err(|e| e.to_string())?;
        let Some(element) = is_empty(value.r#type()) else {
            continue;
        };
        let constant = empty_constant(&block, Some(ret), flat(&element)?, ret.location())?;
        set_operand(ret, index, constant);
    }
    fuser_dialects::ffi::sync_function_type(entry)
}
