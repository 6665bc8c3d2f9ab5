//! uint8 tensors. Upstream arith works on signless integers only, so before the graph
//! ops are lowered every `ui8` tensor type in the module becomes `i8` (same bytes), and
//! constants are rebuilt with the new type. The lowerings still see `DType::U8` in the
//! views read before the rewrite, and pick the unsigned operations where signedness
//! matters (comparisons, division, remainder, max/min, conversions).

use fuser_dialects::{
    accessors::op_name,
    constants::tensor_bytes,
    ffi::{dense_from_bytes, dense_to_tensor, function_type, nested_operations, parse_type, set_attribute},
};
use melior::ir::{
    BlockLike, OperationRef, RegionLike, Type, TypeLike, ValueLike,
    attribute::{AttributeLike, TypeAttribute},
    operation::OperationLike,
    r#type::FunctionType,
};

/// `ty` with `ui8` elements replaced by `i8`, if it has them.
fn signless<'c>(ty: Type<'c>) -> Option<Type<'c>> {
    let text = ty.to_string();
    if !text.contains("xui8>") && text != "tensor<ui8>" {
        return None;
    }
    parse_type(ty.context(), &text.replace("ui8", "i8"))
}

fn set_value_type(value: melior::ir::Value, ty: Type) {
    // SAFETY: both handles are valid; MLIR only records the new type.
    unsafe { mlir_sys::mlirValueSetType(value.to_raw(), ty.to_raw()) }
}

/// Rewrites every `ui8` tensor under `root` (results, block arguments, function types,
/// constant values) as `i8`. Fails with the first constant that could not be rebuilt.
pub fn make_signless<'c, 'a>(root: OperationRef<'c, 'a>) -> Result<(), OperationRef<'c, 'a>> {
    let mut failed = None;
    for op in nested_operations(root) {
        for index in 0..op.result_count() {
            let Ok(result) = op.result(index) else { continue };
            if let Some(ty) = signless(result.r#type()) {
                set_value_type(result.into(), ty);
            }
        }
        for region in 0..op.region_count() {
            let Some(block) = op.region(region).ok().and_then(|r| r.first_block()) else {
                continue;
            };
            for index in 0..block.argument_count() {
                let Ok(argument) = block.argument(index) else { continue };
                if let Some(ty) = signless(argument.r#type()) {
                    argument.set_type(ty);
                }
            }
        }
        let name = op_name(&op);
        if name == "graph.constant" || name == "arith.constant" {
            let Ok(value) = op.attribute("value") else { continue };
            let Some(ty) = signless(value.r#type()) else { continue };
            match dense_to_tensor(value).and_then(|t| dense_from_bytes(ty, &tensor_bytes(&t))) {
                Some(rebuilt) => set_attribute(op, "value", rebuilt),
                None => failed = failed.or(Some(op)),
            }
        }
        if name == "func.func"
            && let Some(ty) = op
                .attribute("function_type")
                .ok()
                .and_then(|a| TypeAttribute::try_from(a).ok())
                .and_then(|t| FunctionType::try_from(t.value()).ok())
        {
            let inputs: Vec<Type> = (0..ty.input_count())
                .filter_map(|i| ty.input(i).ok())
                .map(|t| signless(t).unwrap_or(t))
                .collect();
            let results: Vec<Type> = (0..ty.result_count())
                .filter_map(|i| ty.result(i).ok())
                .map(|t| signless(t).unwrap_or(t))
                .collect();
            let rebuilt = function_type(op.context(), &inputs, &results);
            set_attribute(op, "function_type", TypeAttribute::new(rebuilt).into());
        }
    }
    failed.map_or(Ok(()), Err)
}
