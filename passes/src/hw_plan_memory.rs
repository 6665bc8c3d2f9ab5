//! `hw-plan-memory`: places the intermediate buffers of each model function in one arena.
//! A buffer lives from its first use to its last (through views of it) in the
//! function's schedule (its top-level ops in order); `memory_plan` packs them, and
//! each planned `memref.alloc` becomes `hw.alloc {arena, offset, size}`, its deallocations
//! gone (`convert-hw-to-memref` allocates the arena once). A kernel may write its result
//! over an input that dies at that call and reaches it through its
//! `ftensor.in_place_args` alone: `graph-eqsat-fuse` marks elementwise kernels, the CPU
//! lowering kernels of one runtime call over a full-size residual.

use crate::{
    memory_plan::{Buffer, plan},
    registry::{PassId, PassInfo, PassOptions, external_pass},
};
use fuser_dialects::{
    accessors::op_name,
    ffi::{erase_operation, make, memref_info, nested_operations, parse_attribute, replace_all_uses, set_attribute},
};
use melior::{
    ir::{
        BlockLike, OperationRef, RegionLike, Value, ValueLike,
        attribute::{DenseI64ArrayAttribute, StringAttribute},
        operation::{OperationBuilder, OperationLike},
    },
    pass::{ExternalPass, Pass},
};
use std::collections::HashMap;

static HW_PLAN_MEMORY_PASS_ID: PassId = PassId;

/// The arena every planned buffer of a function lives in.
pub const ARENA: &str = "activations";
/// The module attribute with the plan's totals.
pub const PLAN_ATTRIBUTE: &str = "hw.memory_plan";

pub const INFO: PassInfo = PassInfo {
    flag: "hw-plan-memory",
    type_name: "HwPlanMemoryPass",
    summary: "Pack the intermediate buffers of each model function into one arena (hw.alloc with offsets)",
    description: r#"Runs on bufferized IR. In each function that is not a kernel, every static
`memref.alloc` of the entry block that is not returned gets a live interval: from the
first to the last top-level op that uses it or a view of it (subview, cast,
reinterpret_cast, expand/collapse_shape, view). The intervals are packed greedily by size
into one arena with 64-byte aligned offsets, so buffers never live at the same time share
memory; a call of a kernel marked `ftensor.in_place_args` may write its result over such an
input that dies at the call and reaches it through those arguments only. Each planned
allocation becomes `hw.alloc {arena, offset, size}` and its deallocations go. The module
gets `hw.memory_plan = {naive_activation_bytes, arena_peak_bytes}`: the sum of the planned
buffers' sizes and the arena's size.

Before:
```mlir
func.func @f(%x: memref<4xf32>, %out: memref<4xf32>) {
  %a = memref.alloc() : memref<4xf32>
  call @k0(%x, %a) : (memref<4xf32>, memref<4xf32>) -> ()
  %b = memref.alloc() : memref<4xf32>
  call @k1(%a, %b) : (memref<4xf32>, memref<4xf32>) -> ()
  call @k2(%b, %out) : (memref<4xf32>, memref<4xf32>) -> ()
  memref.dealloc %a : memref<4xf32>
  memref.dealloc %b : memref<4xf32>
  return
}
```
After (`%a` and `%b` are live together at `@k1`):
```mlir
module attributes {hw.memory_plan = {arena_peak_bytes = 128 : i64, naive_activation_bytes = 32 : i64}} {
  %a = "hw.alloc"() {arena = "activations", offset = 0 : i64, size = 16 : i64} : () -> memref<4xf32>
  call @k0(%x, %a) : (memref<4xf32>, memref<4xf32>) -> ()
  %b = "hw.alloc"() {arena = "activations", offset = 64 : i64, size = 16 : i64} : () -> memref<4xf32>
  ...
```"#,
    options: &[],
    create,
};

fn create(_options: &PassOptions) -> Result<Pass, String> {
    Ok(external_pass(
        &HW_PLAN_MEMORY_PASS_ID,
        &INFO,
        |op: OperationRef, _pass: ExternalPass| plan_module(op),
    ))
}

/// Ops whose result is a view of their first operand's memory.
const VIEWS: &[&str] = &[
    "memref.subview",
    "memref.cast",
    "memref.reinterpret_cast",
    "memref.expand_shape",
    "memref.collapse_shape",
    "memref.view",
    "memref.transpose",
];

fn key(value: Value) -> usize {
    value.to_raw().ptr as usize
}

/// Bytes of one element of a memref element type.
fn element_bytes(element: &str) -> Option<u64> {
    Some(match element {
        "f64" | "i64" | "index" => 8,
        "f32" | "i32" => 4,
        "f16" | "bf16" | "i16" => 2,
        "i8" | "ui8" | "i1" => 1,
        _ => return None,
    })
}

fn plan_module(root: OperationRef) {
    let (mut naive, mut peak) = (0u64, 0u64);
    let in_place: HashMap<String, Vec<i64>> = nested_operations(root)
        .into_iter()
        .filter(|op| op_name(op) == "func.func")
        .filter_map(|f| {
            let name = StringAttribute::try_from(f.attribute("sym_name").ok()?)
                .ok()?
                .value()
                .to_string();
            let args = DenseI64ArrayAttribute::try_from(f.attribute("ftensor.in_place_args").ok()?).ok()?;
            Some((name, (0..args.len()).filter_map(|i| args.element(i).ok()).collect()))
        })
        .collect();
    // The functions first: planning erases ops, which a lazy walk would then visit.
    let functions: Vec<OperationRef> = nested_operations(root)
        .into_iter()
        .filter(|op| op_name(op) == "func.func" && op.attribute("ftensor.kernel").is_err())
        .collect();
    for function in functions {
        if let Some((n, p)) = plan_function(function, &in_place) {
            naive += n;
            peak = peak.max(p);
        }
    }
    if let Some(attribute) = parse_attribute(
        root.context(),
        &format!("{{naive_activation_bytes = {naive} : i64, arena_peak_bytes = {peak} : i64}}"),
    ) {
        set_attribute(root, PLAN_ATTRIBUTE, attribute);
    }
}

/// Plans one function; returns (naive bytes, arena bytes).
fn plan_function(function: OperationRef, in_place: &HashMap<String, Vec<i64>>) -> Option<(u64, u64)> {
    let block = function.region(0).ok()?.first_block()?;
    let mut top = Vec::new();
    let mut current = block.first_operation();
    while let Some(op) = current {
        current = op.next_in_block();
        top.push(op);
    }
    // Candidate buffers: static, dense allocations in the entry block.
    let mut allocs: Vec<(OperationRef, u64, usize)> = Vec::new();
    let mut buffer_of: HashMap<usize, usize> = HashMap::new();
    for (step, op) in top.iter().enumerate() {
        if op_name(op) != "memref.alloc" || op.operand_count() != 0 {
            continue;
        }
        let result: Value = op.result(0).ok()?.into();
        let Some((info, dense)) = memref_info(result.r#type()) else {
            continue;
        };
        let (Some(count), Some(bytes)) = (info.element_count(), element_bytes(&info.element)) else {
            continue;
        };
        if !dense {
            continue;
        }
        buffer_of.insert(key(result), allocs.len());
        allocs.push((*op, count as u64 * bytes, step));
    }
    if allocs.is_empty() {
        return None;
    }
    // Live from the first use to the last (the allocation itself touches no memory).
    let mut first: Vec<Option<usize>> = vec![None; allocs.len()];
    let mut last: Vec<usize> = allocs.iter().map(|a| a.2).collect();
    let mut escapes = vec![false; allocs.len()];
    let mut deallocs: Vec<Vec<OperationRef>> = vec![Vec::new(); allocs.len()];
    let mut in_place_of: Vec<Option<usize>> = vec![None; allocs.len()];
    for (step, op) in top.iter().enumerate() {
        for nested in nested_operations(*op) {
            let name = op_name(&nested);
            for (index, operand) in nested.operands().enumerate() {
                let Some(&b) = buffer_of.get(&key(operand)) else {
                    continue;
                };
                match name.as_str() {
                    "memref.dealloc" => {
                        deallocs[b].push(nested);
                        continue;
                    }
                    "func.return" => escapes[b] = true,
                    view if VIEWS.contains(&view) && index == 0 => {
                        for result in nested.results() {
                            buffer_of.insert(key(result.into()), b);
                        }
                    }
                    _ => {}
                }
                last[b] = last[b].max(step);
                first[b] = Some(first[b].map_or(step, |f| f.min(step)));
            }
        }
    }
    // In place: a call of a kernel marked in place (elementwise, or a runtime call's
    // residual) whose output buffer starts here may take the memory of an input buffer
    // whose last use is this call.
    for (step, op) in top.iter().enumerate() {
        if op_name(op) != "func.call" {
            continue;
        }
        let callee = op.attribute("callee").ok()?.to_string();
        let Some(args) = in_place.get(callee.trim_start_matches('@')) else {
            continue;
        };
        let count = op.operand_count();
        if count == 0 {
            continue;
        }
        let Some(&out) = op.operand(count - 1).ok().and_then(|v| buffer_of.get(&key(v))) else {
            continue;
        };
        for &arg in args {
            let Some(&input) = op.operand(arg as usize).ok().and_then(|v| buffer_of.get(&key(v))) else {
                continue;
            };
            let same_type = op.operand(arg as usize).ok()?.r#type() == op.operand(count - 1).ok()?.r#type();
            let starts_here = first[out] == Some(step);
            // The input's buffer reaches the kernel through in-place arguments only: a
            // conv's input passed again as its residual is read at other positions.
            let only_in_place_args = (0..count - 1).all(|i| {
                args.contains(&(i as i64)) || op.operand(i).ok().and_then(|v| buffer_of.get(&key(v))) != Some(&input)
            });
            if input != out
                && last[input] == step
                && starts_here
                && same_type
                && only_in_place_args
                && in_place_of[out].is_none()
            {
                in_place_of[out] = Some(input);
            }
        }
    }
    let planned: Vec<usize> = (0..allocs.len()).filter(|&b| !escapes[b]).collect();
    let buffers: Vec<Buffer> = planned
        .iter()
        .map(|&b| Buffer {
            size: allocs[b].1,
            first: first[b].unwrap_or(allocs[b].2),
            last: last[b],
            in_place_of: in_place_of[b].and_then(|i| planned.iter().position(|&p| p == i)),
        })
        .collect();
    let arena = plan(&buffers);
    let context = function.context();
    for (index, &b) in planned.iter().enumerate() {
        let (alloc, size, _) = allocs[b];
        let result: Value = alloc.result(0).ok()?.into();
        let hw = OperationBuilder::new("hw.alloc", alloc.location())
            .add_attributes(&[
                (make::identifier(context, "arena"), make::string(context, ARENA)),
                (
                    make::identifier(context, "offset"),
                    make::i64(context, arena.offsets[index] as i64),
                ),
                (make::identifier(context, "size"), make::i64(context, size as i64)),
            ])
            .add_results(&[result.r#type()])
            .build()
            .ok()?;
        let hw = block.insert_operation_before(alloc, hw);
        replace_all_uses(result, hw.result(0).ok()?.into());
        for dealloc in &deallocs[b] {
            erase_operation(*dealloc);
        }
        erase_operation(alloc);
    }
    let naive: u64 = buffers.iter().map(|b| b.size).sum();
    Some((naive, arena.peak))
}
