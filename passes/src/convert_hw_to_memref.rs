//! `convert-hw-to-memref`: each function's `hw.alloc`s become views of one arena buffer,
//! allocated (64-byte aligned) when the function starts and freed before it returns.

use crate::{
    hw_plan_memory::ARENA,
    memory_plan::ALIGNMENT,
    registry::{PassId, PassInfo, PassOptions, external_pass},
};
use fuser_dialects::{
    accessors::op_name,
    ffi::{erase_operation, make, nested_operations, parse_attribute, parse_type, replace_all_uses},
};
use melior::{
    ir::{
        BlockLike, OperationRef, RegionLike, Value, ValueLike,
        attribute::{IntegerAttribute, StringAttribute},
        operation::{OperationBuilder, OperationLike},
    },
    pass::{ExternalPass, Pass},
};

static CONVERT_HW_TO_MEMREF_PASS_ID: PassId = PassId;

pub const INFO: PassInfo = PassInfo {
    flag: "convert-hw-to-memref",
    type_name: "ConvertHwToMemrefPass",
    summary: "Lower hw.alloc to memref.view of one arena buffer per function",
    description: r#"Each function with `hw.alloc` ops gets one `memref.alloc` of the arena
(`i8`, as many bytes as the furthest `offset + size`, 64-byte aligned) at its start and a
`memref.dealloc` of it before each `func.return`; each `hw.alloc` becomes a
`memref.view` of the arena at its offset.

Before:
```mlir
%a = "hw.alloc"() {arena = "activations", offset = 64 : i64, size = 16 : i64} : () -> memref<4xf32>
```
After:
```mlir
%arena = memref.alloc() {alignment = 64 : i64} : memref<128xi8>
...
%c64 = arith.constant 64 : index
%a = memref.view %arena[%c64][] : memref<128xi8> to memref<4xf32>
```"#,
    options: &[],
    create,
};

fn create(_options: &PassOptions) -> Result<Pass, String> {
    Ok(external_pass(
        &CONVERT_HW_TO_MEMREF_PASS_ID,
        &INFO,
        |op: OperationRef, pass: ExternalPass| {
            // The functions first: lowering erases ops, which a lazy walk would then visit.
            let functions: Vec<OperationRef> = nested_operations(op)
                .into_iter()
                .filter(|f| op_name(f) == "func.func")
                .collect();
            for function in functions {
                if lower_function(function).is_none() {
                    fuser_dialects::ffi::emit_error(function.location(), "hw.alloc could not be lowered");
                    pass.signal_failure();
                }
            }
        },
    ))
}

fn int_attr(op: &OperationRef, name: &str) -> Option<i64> {
    IntegerAttribute::try_from(op.attribute(name).ok()?)
        .ok()
        .map(|a| a.value())
}

fn lower_function(function: OperationRef) -> Option<()> {
    let allocs: Vec<OperationRef> = nested_operations(function)
        .into_iter()
        .filter(|op| op_name(op) == "hw.alloc")
        .collect();
    if allocs.is_empty() {
        return Some(());
    }
    for alloc in &allocs {
        let arena = StringAttribute::try_from(alloc.attribute("arena").ok()?).ok()?;
        if fuser_dialects::ffi::string_value(arena) != ARENA {
            return None;
        }
    }
    let bytes = allocs
        .iter()
        .map(|a| Some(int_attr(a, "offset")? + int_attr(a, "size")?))
        .collect::<Option<Vec<i64>>>()?
        .into_iter()
        .max()?;
    let bytes = (bytes as u64).div_ceil(ALIGNMENT) * ALIGNMENT;
    let context = function.context();
    let location = function.location();
    let block = function.region(0).ok()?.first_block()?;
    let arena_type = parse_type(context, &format!("memref<{bytes}xi8>"))?;
    let arena_alloc = OperationBuilder::new("memref.alloc", location)
        .add_attributes(&[
            (
                make::identifier(context, "alignment"),
                make::i64(context, ALIGNMENT as i64),
            ),
            (
                make::identifier(context, "operandSegmentSizes"),
                make::i32_array(context, &[0, 0]),
            ),
        ])
        .add_results(&[arena_type])
        .build()
        .ok()?;
    let first = block.first_operation()?;
    let arena_alloc = block.insert_operation_before(first, arena_alloc);
    let arena: Value = arena_alloc.result(0).ok()?.into();
    let index = parse_type(context, "index")?;
    for alloc in allocs {
        let offset = int_attr(&alloc, "offset")?;
        let alloc_block = alloc.block()?;
        let constant = OperationBuilder::new("arith.constant", alloc.location())
            .add_attributes(&[(
                make::identifier(context, "value"),
                parse_attribute(context, &format!("{offset} : index"))?,
            )])
            .add_results(&[index])
            .build()
            .ok()?;
        let constant = alloc_block.insert_operation_before(alloc, constant);
        let result: Value = alloc.result(0).ok()?.into();
        let view = OperationBuilder::new("memref.view", alloc.location())
            .add_operands(&[arena, constant.result(0).ok()?.into()])
            .add_results(&[result.r#type()])
            .build()
            .ok()?;
        let view = alloc_block.insert_operation_before(alloc, view);
        replace_all_uses(result, view.result(0).ok()?.into());
        erase_operation(alloc);
    }
    for ret in nested_operations(function)
        .into_iter()
        .filter(|op| op_name(op) == "func.return")
    {
        let dealloc = OperationBuilder::new("memref.dealloc", ret.location())
            .add_operands(&[arena])
            .build()
            .ok()?;
        ret.block()?.insert_operation_before(ret, dealloc);
    }
    Some(())
}
