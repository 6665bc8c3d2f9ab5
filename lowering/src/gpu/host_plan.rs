//! The host plan of a GPU module: the device buffers and the kernel launches, in order,
//! read off the host code that remains after kernel outlining (the entry function and
//! the kernel functions it calls). A runtime needs nothing else: it allocates the
//! buffers, uploads constants and inputs, launches, and downloads the outputs.
//!
//! Buffers are the entry's inputs and outputs, the planned arena (`hw.alloc` offsets
//! from `hw-plan-memory`), each constant global, and each temporary a kernel function
//! allocates. Views (subview, expand/collapse_shape, cast) need no code on the host: a
//! view is its source's buffer with the offset and strides its static type spells.
//!
//! Kernel arguments follow MLIR's default memref calling convention as
//! `convert-gpu-to-nvvm` lowers it: each memref is five kinds of scalars, the allocated
//! and aligned pointers, the offset (elements), then the sizes and the strides.
//!
//! # Safety
//! `mlirMemRefTypeGetStridesAndOffset` is called on a valid memref type with room for
//! its rank of strides.

use fuser_dialects::{
    accessors::op_name,
    eval::find_function,
    ffi::{memref_info, nested_operations, value_key},
    semantics::DType,
};
use melior::ir::{
    BlockLike, OperationRef, RegionLike, Type, TypeLike, Value, ValueLike,
    attribute::{AttributeLike, FlatSymbolRefAttribute, IntegerAttribute},
    block::BlockArgument,
    operation::{OperationLike, OperationResult},
};
use serde::Serialize;
use std::collections::HashMap;

/// What a device buffer holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum BufferKind {
    /// The entry's input `index`, uploaded before the launches.
    Input { index: usize },
    /// The entry's output `index`, downloaded after them.
    Output { index: usize },
    /// The arena `hw-plan-memory` planned intermediates into.
    Arena { name: String },
    /// A constant global (weights), uploaded once.
    Constant { global: String },
    /// A kernel function's own scratch buffer.
    Temporary,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Buffer {
    #[serde(flatten)]
    pub kind: BufferKind,
    pub bytes: u64,
}

/// A memref argument: a view of `buffer` starting `byte_offset` bytes in, with the
/// descriptor its type gives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MemrefArg {
    pub buffer: usize,
    pub byte_offset: u64,
    /// Elements, as in the descriptor.
    pub offset: i64,
    pub sizes: Vec<i64>,
    pub strides: Vec<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arg {
    Memref(MemrefArg),
    /// An `index` (64-bit) scalar.
    Index(i64),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Launch {
    /// The kernel's name in the device module.
    pub kernel: String,
    /// The kernel function (of the model) this launch belongs to.
    pub from: String,
    pub grid: [u32; 3],
    pub block: [u32; 3],
    pub dynamic_shared_bytes: u32,
    pub args: Vec<Arg>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HostPlan {
    pub buffers: Vec<Buffer>,
    pub launches: Vec<Launch>,
}

impl HostPlan {
    /// Device bytes of all buffers but the inputs and outputs.
    pub fn workspace_bytes(&self) -> u64 {
        self.buffers
            .iter()
            .filter(|b| !matches!(b.kind, BufferKind::Input { .. } | BufferKind::Output { .. }))
            .map(|b| b.bytes)
            .sum()
    }
}

/// Where a memref value lives: a buffer and a byte offset into it.
#[derive(Clone, Copy, Debug)]
struct Place {
    buffer: usize,
    byte_offset: u64,
}

/// Static strides and offset of a memref type.
fn strides_and_offset(ty: Type, rank: usize) -> Option<(Vec<i64>, i64)> {
    let mut strides = vec![0i64; rank];
    let mut offset = 0i64;
    // SAFETY: see the module note.
    let ok = unsafe {
        mlir_sys::mlirMemRefTypeGetStridesAndOffset(ty.to_raw(), strides.as_mut_ptr(), &mut offset).value != 0
    };
    // Dynamic strides or offsets come back as i64::MIN.
    (ok && offset != i64::MIN && strides.iter().all(|&s| s != i64::MIN)).then_some((strides, offset))
}

/// Bytes of a static memref type.
fn memref_bytes(ty: Type) -> Result<u64, String> {
    let (info, _) = memref_info(ty).ok_or_else(|| format!("{ty} is not a static memref"))?;
    let dtype = DType::from_mlir(&info.element)
        .or_else(|| (info.element == "i1").then_some(DType::Bool))
        .ok_or_else(|| format!("element type {} has no device layout", info.element))?;
    Ok(info.element_count().unwrap_or(0) as u64 * dtype.size() as u64)
}

/// The constant integer behind `value`, when an `arith.constant` defines it.
fn constant_int(value: Value) -> Option<i64> {
    let result = OperationResult::try_from(value).ok()?;
    let owner = result.owner();
    (op_name(&owner) == "arith.constant")
        .then(|| {
            IntegerAttribute::try_from(owner.attribute("value").ok()?)
                .ok()
                .map(|a| a.value())
        })
        .flatten()
}

/// The segment sizes of an op with variadic operand groups.
fn segments(op: OperationRef) -> Result<Vec<usize>, String> {
    let text = op
        .attribute("operandSegmentSizes")
        .map_err(|_| format!("{} without operand segments", op_name(&op)))?
        .to_string();
    let list = text
        .trim_start_matches("array<i32")
        .trim_start_matches(':')
        .trim_end_matches('>');
    list.split(',')
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| format!("operand segments {text}")))
        .collect()
}

struct Builder<'c, 'a> {
    module: OperationRef<'c, 'a>,
    plan: HostPlan,
    places: HashMap<usize, Place>,
    constants: HashMap<String, usize>,
    arenas: HashMap<String, usize>,
}

impl<'c, 'a> Builder<'c, 'a> {
    fn place(&self, value: Value) -> Result<Place, String> {
        self.places
            .get(&value_key(value))
            .copied()
            .ok_or_else(|| format!("a memref of type {} whose buffer is unknown", value.r#type()))
    }

    fn memref_arg(&self, value: Value) -> Result<MemrefArg, String> {
        let place = self.place(value)?;
        let ty = value.r#type();
        let (info, _) = memref_info(ty).ok_or_else(|| format!("a kernel argument of type {ty}"))?;
        let sizes = info.static_shape().ok_or("a dynamic kernel argument")?;
        let (strides, offset) =
            strides_and_offset(ty, sizes.len()).ok_or_else(|| format!("{ty} has no static layout"))?;
        Ok(MemrefArg {
            buffer: place.buffer,
            byte_offset: place.byte_offset,
            offset,
            sizes,
            strides,
        })
    }

    fn add_buffer(&mut self, kind: BufferKind, bytes: u64) -> usize {
        self.plan.buffers.push(Buffer { kind, bytes });
        self.plan.buffers.len() - 1
    }

    /// Walks the body of `function`, whose arguments are at `arguments`.
    fn walk(&mut self, function: OperationRef<'c, 'a>, arguments: &[Place]) -> Result<(), String> {
        let name = function
            .attribute("sym_name")
            .map(|a| a.to_string().trim_matches('"').to_string())
            .unwrap_or_default();
        let block = function
            .region(0)
            .ok()
            .and_then(|r| r.first_block())
            .ok_or_else(|| format!("function {name} has no body"))?;
        for (i, place) in arguments.iter().enumerate() {
            let argument: Value = block.argument(i).map_err(|e| e.to_string())?.into();
            self.places.insert(value_key(argument), *place);
        }
        let mut current = block.first_operation();
        while let Some(op) = current {
            current = op.next_in_block();
            self.step(op, &name)?;
        }
        Ok(())
    }

    fn step(&mut self, op: OperationRef<'c, 'a>, function: &str) -> Result<(), String> {
        let name = op_name(&op);
        let result = || -> Result<Value<'c, 'a>, String> { op.result(0).map(Into::into).map_err(|e| e.to_string()) };
        match name.as_str() {
            "arith.constant" | "memref.dealloc" | "func.return" => {}
            "hw.alloc" => {
                let arena = op
                    .attribute("arena")
                    .map(|a| a.to_string().trim_matches('"').to_string())
                    .map_err(|_| "hw.alloc without an arena")?;
                let int = |attr: &str| -> Result<u64, String> {
                    op.attribute(attr)
                        .ok()
                        .and_then(|a| IntegerAttribute::try_from(a).ok())
                        .map(|a| a.value() as u64)
                        .ok_or_else(|| format!("hw.alloc without {attr}"))
                };
                let (offset, size) = (int("offset")?, int("size")?);
                let buffer = match self.arenas.get(&arena) {
                    Some(&b) => b,
                    None => {
                        let b = self.add_buffer(BufferKind::Arena { name: arena.clone() }, 0);
                        self.arenas.insert(arena, b);
                        b
                    }
                };
                let bytes = &mut self.plan.buffers[buffer].bytes;
                *bytes = (*bytes).max(offset + size);
                self.places.insert(
                    value_key(result()?),
                    Place {
                        buffer,
                        byte_offset: offset,
                    },
                );
            }
            "memref.alloc" | "memref.alloca" => {
                let value = result()?;
                let buffer = self.add_buffer(BufferKind::Temporary, memref_bytes(value.r#type())?);
                self.places.insert(value_key(value), Place { buffer, byte_offset: 0 });
            }
            "memref.get_global" => {
                let global = op
                    .attribute("name")
                    .ok()
                    .and_then(|a| FlatSymbolRefAttribute::try_from(a).ok())
                    .map(|a| a.value().to_string())
                    .ok_or("memref.get_global without a name")?;
                let value = result()?;
                let buffer = match self.constants.get(&global) {
                    Some(&b) => b,
                    None => {
                        let b = self.add_buffer(
                            BufferKind::Constant { global: global.clone() },
                            memref_bytes(value.r#type())?,
                        );
                        self.constants.insert(global, b);
                        b
                    }
                };
                self.places.insert(value_key(value), Place { buffer, byte_offset: 0 });
            }
            "memref.subview"
            | "memref.expand_shape"
            | "memref.collapse_shape"
            | "memref.cast"
            | "memref.reinterpret_cast" => {
                let source = self.place(op.operand(0).map_err(|e| e.to_string())?)?;
                self.places.insert(value_key(result()?), source);
            }
            "func.call" => {
                let callee = op
                    .attribute("callee")
                    .ok()
                    .and_then(|a| FlatSymbolRefAttribute::try_from(a).ok())
                    .map(|a| a.value().to_string())
                    .ok_or("func.call without a callee")?;
                let target = find_function(self.module, &callee)
                    .ok_or_else(|| format!("a call of @{callee}, which the module does not define"))?;
                let arguments: Vec<Place> = op.operands().map(|v| self.place(v)).collect::<Result<_, _>>()?;
                self.walk(target, &arguments)?;
            }
            "gpu.launch_func" => {
                let sizes = segments(op)?;
                // asyncDependencies, grid x y z, block x y z, cluster x y z,
                // dynamicSharedMemorySize, kernelOperands, asyncObject.
                if sizes.len() < 12 || sizes[0] != 0 || sizes[7..10].iter().any(|&s| s != 0) {
                    return Err("an asynchronous or clustered launch".into());
                }
                let operands: Vec<Value> = op.operands().collect();
                // Where each segment starts among the operands.
                let starts: Vec<usize> = sizes
                    .iter()
                    .scan(0, |at, &n| {
                        let start = *at;
                        *at += n;
                        Some(start)
                    })
                    .collect();
                let dim = |segment: usize| -> Result<u32, String> {
                    constant_int(operands[starts[segment]])
                        .and_then(|v| u32::try_from(v).ok())
                        .ok_or_else(|| "a launch with a dynamic grid or block".to_string())
                };
                let dynamic_shared_bytes = if sizes[10] == 1 { dim(10)? } else { 0 };
                let position = starts[11];
                let mut args = Vec::new();
                for value in &operands[position..position + sizes[11]] {
                    if memref_info(value.r#type()).is_some() {
                        args.push(Arg::Memref(self.memref_arg(*value)?));
                    } else if let Some(v) = constant_int(*value) {
                        args.push(Arg::Index(v));
                    } else {
                        return Err(format!(
                            "a kernel argument of type {} computed on the host",
                            value.r#type()
                        ));
                    }
                }
                let kernel = op
                    .attribute("kernel")
                    .map_err(|_| "a launch without a kernel")?
                    .to_string();
                let kernel = kernel.rsplit("::@").next().unwrap_or(&kernel).to_string();
                self.plan.launches.push(Launch {
                    kernel,
                    from: function.to_string(),
                    grid: [dim(1)?, dim(2)?, dim(3)?],
                    block: [dim(4)?, dim(5)?, dim(6)?],
                    dynamic_shared_bytes,
                    args,
                });
            }
            other => {
                return Err(format!(
                    "{other} in {function} runs on the host, and a GPU plan has no host computation"
                ));
            }
        }
        Ok(())
    }
}

/// The host plan of `module` (after kernel outlining), whose entry `entry` takes
/// `inputs` inputs followed by its outputs (as out-parameters).
pub fn host_plan(module: OperationRef, entry: &str, inputs: usize) -> Result<HostPlan, String> {
    let function = find_function(module, entry).ok_or_else(|| format!("no entry function @{entry}"))?;
    let block = function
        .region(0)
        .ok()
        .and_then(|r| r.first_block())
        .ok_or("an entry function without a body")?;
    let mut builder = Builder {
        module,
        plan: HostPlan::default(),
        places: HashMap::new(),
        constants: HashMap::new(),
        arenas: HashMap::new(),
    };
    let mut arguments = Vec::new();
    for i in 0..block.argument_count() {
        let argument: BlockArgument = block.argument(i).map_err(|e| e.to_string())?;
        let bytes = memref_bytes(argument.r#type())?;
        let kind = if i < inputs {
            BufferKind::Input { index: i }
        } else {
            BufferKind::Output { index: i - inputs }
        };
        let buffer = builder.add_buffer(kind, bytes);
        arguments.push(Place { buffer, byte_offset: 0 });
    }
    builder.walk(function, &arguments)?;
    Ok(builder.plan)
}

/// The bytes of constant global `name` of `module` (a `memref.global` with a dense
/// initial value), as the device buffer holds them.
pub fn global_bytes(module: OperationRef, name: &str) -> Result<Vec<u8>, String> {
    let global = nested_operations(module)
        .into_iter()
        .find(|op| {
            op_name(op) == "memref.global"
                && op
                    .attribute("sym_name")
                    .is_ok_and(|a| a.to_string().trim_matches('"') == name)
        })
        .ok_or_else(|| format!("no memref.global @{name}"))?;
    let initial = global
        .attribute("initial_value")
        .map_err(|_| format!("memref.global @{name} has no initial value"))?;
    let ty = global
        .attribute("type")
        .ok()
        .and_then(|a| melior::ir::attribute::TypeAttribute::try_from(a).ok())
        .map(|t| t.value())
        .ok_or_else(|| format!("memref.global @{name} has no type"))?;
    let bytes = memref_bytes(ty)? as usize;
    // SAFETY: the attribute is checked to be dense elements; its raw data holds one
    // element for a splat and all of them otherwise, as many bytes as its type says
    // (i1 packed in bits, every other type in whole bytes).
    unsafe {
        let raw = initial.to_raw();
        if !mlir_sys::mlirAttributeIsADenseElements(raw) {
            return Err(format!("memref.global @{name} is not dense"));
        }
        let data = mlir_sys::mlirDenseElementsAttrGetRawData(raw).cast::<u8>();
        let (info, _) = memref_info(ty).ok_or("a global that is not a memref")?;
        if info.element == "i1" {
            // Dense i1 data is packed 8 to a byte (a splat in the first bit); a device
            // buffer holds one byte per element.
            let splat = mlir_sys::mlirDenseElementsAttrIsSplat(raw);
            return Ok((0..bytes)
                .map(|i| {
                    let bit = if splat { 0 } else { i };
                    (*data.add(bit / 8) >> (bit % 8)) & 1
                })
                .collect());
        }
        if mlir_sys::mlirDenseElementsAttrIsSplat(raw) {
            let count = info.element_count().unwrap_or(0).max(1) as usize;
            let width = bytes / count;
            if width == 0 {
                return Ok(Vec::new());
            }
            let element = std::slice::from_raw_parts(data, width);
            Ok(element.repeat(count))
        } else {
            Ok(std::slice::from_raw_parts(data, bytes).to_vec())
        }
    }
}
