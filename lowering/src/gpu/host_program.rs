//! The host side of a GPU module in the hw dialect: one function, `@<entry>_host`, that
//! replaces the host code left after kernel outlining. It takes the model's inputs and
//! outputs as host byte buffers and, on stream 0:
//!
//! - allocates each device buffer (`hw.alloc`, the arena's size from `hw-plan-memory`;
//!   `arena` names the buffer's role: `inputs`, `outputs`, `constants`, `temporaries`,
//!   or the planned arena's name);
//! - uploads the weights (`hw.copy` from their `memref.get_global`) and the inputs;
//! - launches every kernel in order (`hw.launch` with grid, block, dynamic shared bytes
//!   and each argument as a view of a byte buffer, see `fuser_dialects::hw_launch`);
//! - downloads the outputs and waits (`hw.wait`).
//!
//! The host plan a runtime loads (`HostPlan`, `--emit host-plan`) is read back from this
//! function, so the hw dialect is what the launches are taken from.

use super::host_plan::{Arg, Buffer, BufferKind, HostPlan, Launch, MemrefArg};
use crate::ffi::parse_in;
use fuser_dialects::{
    accessors::{self, op_name},
    eval::find_function,
    ffi::{erase_operation, value_key},
    hw_launch::{LaunchArg, launch_args},
};
use melior::ir::{
    BlockLike, OperationRef, RegionLike, Value,
    attribute::{FlatSymbolRefAttribute, StringAttribute, TypeAttribute},
    block::BlockArgument,
    operation::{OperationLike, OperationResult},
};
use std::{collections::HashMap, fmt::Write};

/// The name of the host function of `entry`.
pub fn host_function_name(entry: &str) -> String {
    format!("{entry}_host")
}

/// The `arena` of an `hw.alloc` for a buffer of this kind.
fn arena_name(kind: &BufferKind) -> &str {
    match kind {
        BufferKind::Input { .. } => "inputs",
        BufferKind::Output { .. } => "outputs",
        BufferKind::Arena { name } => name,
        BufferKind::Constant { .. } => "constants",
        BufferKind::Temporary => "temporaries",
    }
}

fn dense(values: &[i64]) -> String {
    if values.is_empty() {
        "array<i64>".into()
    } else {
        let list: Vec<String> = values.iter().map(i64::to_string).collect();
        format!("array<i64: {}>", list.join(", "))
    }
}

/// The host function's text, with a declaration of each global it reads (for parsing
/// alone). `global_types`: each constant global's memref type.
pub fn host_program_text(
    plan: &HostPlan,
    entry: &str,
    kernels_module: &str,
    global_types: &HashMap<String, String>,
) -> Result<String, String> {
    let bytes_type = |b: &Buffer| format!("memref<{}xi8>", b.bytes);
    let mut text = String::new();
    let mut host_args = Vec::new();
    for (i, buffer) in plan.buffers.iter().enumerate() {
        match &buffer.kind {
            BufferKind::Constant { global } => {
                let ty = global_types
                    .get(global)
                    .ok_or_else(|| format!("no memref.global @{global}"))?;
                let _ = writeln!(text, "memref.global \"private\" @{global} : {ty}");
            }
            BufferKind::Input { index } => host_args.push((0, *index, i)),
            BufferKind::Output { index } => host_args.push((1, *index, i)),
            _ => {}
        }
    }
    host_args.sort();
    let arguments: Vec<String> = host_args
        .iter()
        .map(|&(output, index, buffer)| {
            let role = if output == 1 { "output" } else { "input" };
            format!("%{role}{index}: {}", bytes_type(&plan.buffers[buffer]))
        })
        .collect();
    let _ = writeln!(
        text,
        "func.func @{}({}) {{",
        host_function_name(entry),
        arguments.join(", ")
    );
    for (i, buffer) in plan.buffers.iter().enumerate() {
        let _ = writeln!(
            text,
            "  %b{i} = \"hw.alloc\"() {{arena = \"{}\", offset = 0 : i64, size = {} : i64}} : () -> {}",
            arena_name(&buffer.kind),
            buffer.bytes,
            bytes_type(buffer)
        );
    }
    let copy = |from: &str, from_type: &str, to: &str, to_type: &str| {
        format!("  \"hw.copy\"({from}, {to}) {{stream = 0 : i64}} : ({from_type}, {to_type}) -> ()\n")
    };
    for (i, buffer) in plan.buffers.iter().enumerate() {
        let ty = bytes_type(buffer);
        match &buffer.kind {
            BufferKind::Constant { global } => {
                let global_type = &global_types[global];
                let _ = writeln!(text, "  %w{i} = memref.get_global @{global} : {global_type}");
                text.push_str(&copy(&format!("%w{i}"), global_type, &format!("%b{i}"), &ty));
            }
            BufferKind::Input { index } => {
                text.push_str(&copy(&format!("%input{index}"), &ty, &format!("%b{i}"), &ty));
            }
            _ => {}
        }
    }
    for (i, buffer) in plan.buffers.iter().enumerate() {
        let _ = writeln!(
            text,
            "  %v{i} = memref.cast %b{i} : {} to memref<?xi8>",
            bytes_type(buffer)
        );
    }
    for launch in &plan.launches {
        // Each buffer the launch reads is one operand, in order of first use.
        let mut operands: Vec<usize> = Vec::new();
        let mut args = Vec::new();
        for arg in &launch.args {
            match arg {
                Arg::Index(v) => args.push(format!("{{index = {v} : i64}}")),
                Arg::Memref(m) => {
                    let operand = operands.iter().position(|&b| b == m.buffer).unwrap_or_else(|| {
                        operands.push(m.buffer);
                        operands.len() - 1
                    });
                    args.push(format!(
                        "{{buffer = {operand} : i64, byte_offset = {} : i64, offset = {} : i64, sizes = {}, strides = {}}}",
                        m.byte_offset,
                        m.offset,
                        dense(&m.sizes),
                        dense(&m.strides)
                    ));
                }
            }
        }
        let values: Vec<String> = operands.iter().map(|b| format!("%v{b}")).collect();
        let types = vec!["memref<?xi8>"; operands.len()].join(", ");
        let grid: Vec<i64> = launch.grid.iter().map(|&v| v as i64).collect();
        let block: Vec<i64> = launch.block.iter().map(|&v| v as i64).collect();
        let _ = writeln!(
            text,
            "  \"hw.launch\"({}) {{kernel = @{kernels_module}::@{}, grid = {}, block = {}, shared_bytes = {} : i64, stream = 0 : i64, args = [{}], from = \"{}\"}} : ({types}) -> ()",
            values.join(", "),
            launch.kernel,
            dense(&grid),
            dense(&block),
            launch.dynamic_shared_bytes,
            args.join(", "),
            launch.from
        );
    }
    for (i, buffer) in plan.buffers.iter().enumerate() {
        if let BufferKind::Output { index } = buffer.kind {
            let ty = bytes_type(buffer);
            text.push_str(&copy(&format!("%b{i}"), &ty, &format!("%output{index}"), &ty));
        }
    }
    text.push_str("  \"hw.wait\"() {stream = 0 : i64} : () -> ()\n  return\n}\n");
    Ok(text)
}

/// The memref type of each `memref.global` at the top of `module`.
fn global_types(module: OperationRef) -> HashMap<String, String> {
    let mut types = HashMap::new();
    let Some(block) = module.region(0).ok().and_then(|r| r.first_block()) else {
        return types;
    };
    let mut current = block.first_operation();
    while let Some(op) = current {
        current = op.next_in_block();
        if op_name(&op) != "memref.global" {
            continue;
        }
        let name = op
            .attribute("sym_name")
            .ok()
            .and_then(|a| StringAttribute::try_from(a).ok());
        let ty = op.attribute("type").ok().and_then(|a| TypeAttribute::try_from(a).ok());
        if let (Some(name), Some(ty)) = (name, ty) {
            types.insert(fuser_dialects::ffi::string_value(name), ty.value().to_string());
        }
    }
    types
}

/// Replaces the host code of `module` (every top-level `func.func`: the entry and the
/// kernel functions it calls) with the hw function of `plan`.
pub fn replace_host_code(
    module: OperationRef,
    plan: &HostPlan,
    entry: &str,
    kernels_module: &str,
) -> Result<(), String> {
    let text = host_program_text(plan, entry, kernels_module, &global_types(module))?;
    let parsed = parse_in(module.context(), &format!("module {{\n{text}}}\n"))
        .ok_or_else(|| format!("internal error: the host program does not parse:\n{text}"))?;
    let body = module
        .region(0)
        .ok()
        .and_then(|r| r.first_block())
        .ok_or("a module without a body")?;
    let mut current = body.first_operation();
    while let Some(op) = current {
        current = op.next_in_block();
        if op_name(&op) == "func.func" {
            erase_operation(op);
        }
    }
    let function =
        find_function(parsed.as_operation(), &host_function_name(entry)).ok_or("the host program has no function")?;
    // SAFETY: the function is detached from the parsed module (which is then dropped
    // without it) and handed, owned, to the module's body block.
    unsafe {
        mlir_sys::mlirOperationRemoveFromParent(function.to_raw());
        mlir_sys::mlirBlockAppendOwnedOperation(body.to_raw(), function.to_raw());
    }
    Ok(())
}

/// A launch's grid or block, x y z (missing dimensions are 1).
fn dims(op: OperationRef, name: &str) -> Result<[u32; 3], String> {
    let list = accessors::i64_array(&op, name);
    if list.len() > 3 {
        return Err(format!("hw.launch with a {}-dimensional {name}", list.len()));
    }
    let mut out = [1u32; 3];
    for (slot, &v) in out.iter_mut().zip(&list) {
        *slot = u32::try_from(v).map_err(|_| format!("hw.launch {name} {v} is out of range"))?;
    }
    Ok(out)
}

/// The host plan of the hw function `@<entry>_host` of `module`.
pub fn read_host_program(module: OperationRef, entry: &str) -> Result<HostPlan, String> {
    let name = host_function_name(entry);
    let function = find_function(module, &name).ok_or_else(|| format!("no host function @{name}"))?;
    let block = function
        .region(0)
        .ok()
        .and_then(|r| r.first_block())
        .ok_or("a host function without a body")?;
    let mut plan = HostPlan::default();
    let mut buffers: HashMap<usize, usize> = HashMap::new();
    let mut globals: HashMap<usize, String> = HashMap::new();
    let (mut inputs, mut outputs) = (Vec::new(), Vec::new());
    let argument_number = |v: Value| BlockArgument::try_from(v).ok().map(|a| a.argument_number());
    let mut current = block.first_operation();
    while let Some(op) = current {
        current = op.next_in_block();
        let result = || -> Result<Value, String> {
            op.result(0)
                .map(|r: OperationResult| r.into())
                .map_err(|e| e.to_string())
        };
        let operand = |i: usize| op.operand(i).map_err(|e| e.to_string());
        match op_name(&op).as_str() {
            "hw.alloc" => {
                // The verifier has checked that every declared attribute is there.
                let arena = accessors::string(&op, "arena");
                let bytes = (accessors::integer(&op, "offset") + accessors::integer(&op, "size")) as u64;
                // Inputs, outputs and constants get their index or global from their copy.
                let kind = match arena.as_str() {
                    "temporaries" | "inputs" | "outputs" | "constants" => BufferKind::Temporary,
                    _ => BufferKind::Arena { name: arena.clone() },
                };
                buffers.insert(value_key(result()?), plan.buffers.len());
                plan.buffers.push(Buffer { kind, bytes });
            }
            "memref.get_global" => {
                let global = op
                    .attribute("name")
                    .ok()
                    .and_then(|a| FlatSymbolRefAttribute::try_from(a).ok())
                    .map(|a| a.value().to_string())
                    .ok_or("memref.get_global without a name")?;
                globals.insert(value_key(result()?), global);
            }
            "memref.cast" => {
                let source = buffers
                    .get(&value_key(operand(0)?))
                    .copied()
                    .ok_or("memref.cast of a value that is not a device buffer")?;
                buffers.insert(value_key(result()?), source);
            }
            "hw.copy" => {
                let (source, dest) = (operand(0)?, operand(1)?);
                if let (Some(global), Some(&b)) = (globals.get(&value_key(source)), buffers.get(&value_key(dest))) {
                    plan.buffers[b].kind = BufferKind::Constant { global: global.clone() };
                } else if let (Some(n), Some(&b)) = (argument_number(source), buffers.get(&value_key(dest))) {
                    inputs.push((n, b));
                } else if let (Some(&b), Some(n)) = (buffers.get(&value_key(source)), argument_number(dest)) {
                    outputs.push((n, b));
                } else {
                    return Err(
                        "an hw.copy that is not an upload of a weight or an input, or a download of an output".into(),
                    );
                }
            }
            "hw.launch" => {
                let operand_buffers: Vec<usize> = op
                    .operands()
                    .map(|v| {
                        buffers
                            .get(&value_key(v))
                            .copied()
                            .ok_or("an hw.launch operand that is not a device buffer")
                    })
                    .collect::<Result<_, _>>()?;
                let args = launch_args(op)?
                    .into_iter()
                    .map(|arg| match arg {
                        LaunchArg::Index(v) => Arg::Index(v),
                        LaunchArg::View {
                            operand,
                            byte_offset,
                            offset,
                            sizes,
                            strides,
                        } => Arg::Memref(MemrefArg {
                            buffer: operand_buffers[operand],
                            byte_offset,
                            offset,
                            sizes,
                            strides,
                        }),
                    })
                    .collect();
                let kernel = op
                    .attribute("kernel")
                    .map_err(|_| "hw.launch without a kernel")?
                    .to_string();
                let from = accessors::string(&op, "from");
                plan.launches.push(Launch {
                    kernel: kernel.rsplit("::@").next().unwrap_or(&kernel).to_string(),
                    from,
                    grid: dims(op, "grid")?,
                    block: dims(op, "block")?,
                    dynamic_shared_bytes: u32::try_from(accessors::integer(&op, "shared_bytes"))
                        .map_err(|_| "hw.launch shared_bytes out of range")?,
                    args,
                });
            }
            "hw.wait" | "func.return" => {}
            other => return Err(format!("{other} in the host function @{name}")),
        }
    }
    // Inputs are the leading arguments, outputs the rest.
    let input_count = inputs.len();
    for (n, b) in inputs {
        plan.buffers[b].kind = BufferKind::Input { index: n };
    }
    for (n, b) in outputs {
        let index = n
            .checked_sub(input_count)
            .ok_or("an output downloaded into an input argument")?;
        plan.buffers[b].kind = BufferKind::Output { index };
    }
    Ok(plan)
}
