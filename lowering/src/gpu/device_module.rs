//! The device side of a GPU module: the kernels that `gpu-kernel-outlining` put in one
//! `gpu.module` each are gathered into a single module, `@fuser_kernels`, so that the
//! target gets one PTX (or AMDGPU) module; and the machine code that
//! `gpu-module-to-binary{format=isa}` leaves in a `gpu.binary` is read back.
//!
//! # Safety
//! Raw C API calls take handles of ops and attributes alive at the call; a moved op is
//! detached from its block first and then owned by the block it is appended to.

use fuser_dialects::{
    accessors::op_name,
    ffi::{erase_operation, make, nested_operations, parse_attribute, set_attribute},
};
use melior::ir::{BlockLike, OperationRef, RegionLike, attribute::AttributeLike, operation::OperationLike};
use mlir_sys::{
    mlirArrayAttrGetElement, mlirArrayAttrGetNumElements, mlirAttributeIsAArray, mlirBlockAppendOwnedOperation,
    mlirGPUObjectAttrGetObject, mlirOperationRemoveFromParent,
};
use std::collections::HashMap;

/// The name of the one device module.
pub const DEVICE_MODULE: &str = "fuser_kernels";

/// The symbol name of `op` without quotes.
fn symbol(op: OperationRef) -> Option<String> {
    op.attribute("sym_name")
        .ok()
        .map(|a| a.to_string().trim_matches('"').to_string())
}

/// The top-level ops of `root`'s body named `name`.
fn top_level<'c, 'a>(root: OperationRef<'c, 'a>, name: &str) -> Vec<OperationRef<'c, 'a>> {
    let Some(block) = root.region(0).ok().and_then(|r| r.first_block()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut current = block.first_operation();
    while let Some(op) = current {
        current = op.next_in_block();
        if op_name(&op) == name {
            out.push(op);
        }
    }
    out
}

/// Gathers every kernel of `root` (a module after `gpu-kernel-outlining`) into one
/// `gpu.module @fuser_kernels`. Each kernel takes the name of the module it came from
/// (outlined module names are unique; the functions in them need not be) and every
/// `gpu.launch_func` is pointed at it. Returns the number of kernels.
pub fn merge_kernel_modules(root: OperationRef) -> Result<usize, String> {
    let modules = top_level(root, "gpu.module");
    let Some(&first) = modules.first() else {
        return Ok(0);
    };
    let target_block = first
        .region(0)
        .ok()
        .and_then(|r| r.first_block())
        .ok_or("a gpu.module without a body")?;
    let context = root.context();
    let mut renamed: HashMap<String, String> = HashMap::new();
    let mut count = 0;
    for module in &modules {
        let module_name = symbol(*module).ok_or("a gpu.module without a name")?;
        let functions: Vec<OperationRef> = nested_operations(*module)
            .into_iter()
            .filter(|op| op_name(op) == "gpu.func")
            .collect();
        if functions.len() != 1 {
            return Err(format!(
                "gpu.module @{module_name} holds {} kernels, outlining gives one",
                functions.len()
            ));
        }
        let function = functions[0];
        let function_name = symbol(function).ok_or("a gpu.func without a name")?;
        set_attribute(function, "sym_name", make::string(context, &module_name));
        if *module != first {
            // SAFETY: see the module note.
            unsafe {
                mlirOperationRemoveFromParent(function.to_raw());
                mlirBlockAppendOwnedOperation(target_block.to_raw(), function.to_raw());
            }
        }
        renamed.insert(format!("@{module_name}::@{function_name}"), module_name);
        count += 1;
    }
    for launch in nested_operations(root)
        .into_iter()
        .filter(|op| op_name(op) == "gpu.launch_func")
    {
        let kernel = launch
            .attribute("kernel")
            .map_err(|_| "a launch without a kernel")?
            .to_string();
        let name = renamed
            .get(&kernel)
            .ok_or_else(|| format!("a launch of {kernel}, which outlining did not make"))?;
        let reference = parse_attribute(context, &format!("@{DEVICE_MODULE}::@{name}"))
            .ok_or("a kernel reference that does not parse")?;
        set_attribute(launch, "kernel", reference);
    }
    for module in &modules[1..] {
        erase_operation(*module);
    }
    set_attribute(first, "sym_name", make::string(context, DEVICE_MODULE));
    Ok(count)
}

/// The assembly (PTX, or AMDGPU ISA) that `gpu-module-to-binary{format=isa}` left in
/// `gpu.binary @fuser_kernels` under `root`.
pub fn device_assembly(root: OperationRef) -> Result<String, String> {
    let binary = top_level(root, "gpu.binary")
        .into_iter()
        .find(|op| symbol(*op).as_deref() == Some(DEVICE_MODULE))
        .ok_or_else(|| format!("no gpu.binary @{DEVICE_MODULE}: the device module was not compiled"))?;
    let objects = binary
        .attribute("objects")
        .map_err(|_| "a gpu.binary without objects")?;
    // SAFETY: see the module note; the string is copied before the attribute can go.
    unsafe {
        let raw = objects.to_raw();
        if !mlirAttributeIsAArray(raw) || mlirArrayAttrGetNumElements(raw) != 1 {
            return Err("a gpu.binary with other than one object".into());
        }
        let object = mlirArrayAttrGetElement(raw, 0);
        let text = mlirGPUObjectAttrGetObject(object);
        let bytes = std::slice::from_raw_parts(text.data.cast::<u8>(), text.length);
        String::from_utf8(bytes.to_vec()).map_err(|_| "device assembly that is not text".into())
    }
}
