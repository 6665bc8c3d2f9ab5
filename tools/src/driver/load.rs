//! Loading a model of any accepted kind: `.onnx`, or `.mlir` at any level fuser produces
//! (with its `.safetensors` beside it).

use fuser_dialects::{
    accessors::{graph_name, is_entry_function, symbol_name},
    eval::{Weights, find_function},
    ffi::{nested_operations, parse_module, tensor_info},
    semantics::{DType, TypeInfo},
};
use fuser_frontends::{ImportOptions, import_graph, load_graph_file, weights};
use melior::{
    Context,
    ir::{BlockLike, Module, OperationRef, RegionLike, ValueLike, operation::OperationLike},
};
use std::path::Path;

/// A loaded model: its module, the function to run, its signature and weight data.
pub struct Loaded<'c> {
    pub module: Module<'c>,
    pub function: String,
    pub weights: Weights,
    /// Input names (ONNX names when known, else `arg<i>`) and types.
    pub inputs: Vec<(String, TypeInfo)>,
    /// Output names.
    pub outputs: Vec<String>,
}

/// Loads `path`: `.onnx` is imported, `.mlir` parsed (weights from the side file).
/// Errors are one line naming the file.
pub fn load<'c>(context: &'c Context, path: &Path, options: &ImportOptions) -> Result<Loaded<'c>, String> {
    let file = path.display().to_string();
    let (module, weights) = match path.extension().and_then(|e| e.to_str()) {
        Some("onnx" | "json") => {
            let graph = load_graph_file(path).map_err(|e| e.to_string())?;
            let imported = import_graph(context, &graph, &file, options).map_err(|e| e.to_string())?;
            let mut w = Weights::new();
            for i in &imported.weights {
                w.insert(
                    i.name.clone(),
                    i.tensor()
                        .ok_or_else(|| format!("{file}: weight '{}' is inconsistent", i.name))?,
                );
            }
            (imported.module, w)
        }
        Some("mlir") => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{file}: cannot read: {e}"))?;
            let module =
                parse_module(context, &text, &file).ok_or_else(|| format!("{file}: does not parse or verify"))?;
            if !fuser_dialects::verify_fuser_ops(module.as_operation()) {
                return Err(format!("{file}: does not verify"));
            }
            let side = weights::side_file(path);
            let w = if side.exists() {
                weights::load(&side).map_err(|e| format!("{file}: {e}"))?
            } else {
                Weights::new()
            };
            (module, w)
        }
        Some("mlirbc") => {
            let bytes = std::fs::read(path).map_err(|e| format!("{file}: cannot read: {e}"))?;
            let (module, w) = fuser_frontends::bytecode::read(context, &bytes, &file)?;
            if !module.as_operation().verify() || !fuser_dialects::verify_fuser_ops(module.as_operation()) {
                return Err(format!("{file}: does not verify"));
            }
            (module, w)
        }
        _ => {
            return Err(format!(
                "{file}: unknown model kind (expected .onnx, .json, .mlir or .mlirbc)"
            ));
        }
    };
    let function =
        entry_function(module.as_operation()).ok_or_else(|| format!("{file}: no public func.func to run"))?;
    let f = find_function(module.as_operation(), &function).expect("found above");
    let (inputs, outputs) = signature(&f).map_err(|m| format!("{file}: {m}"))?;
    Ok(Loaded {
        module,
        function,
        weights,
        inputs,
        outputs,
    })
}

/// The first `func.func` that is neither a kernel nor private.
fn entry_function(module_op: OperationRef) -> Option<String> {
    nested_operations(module_op)
        .into_iter()
        .find(is_entry_function)
        .and_then(|op| symbol_name(&op))
}

/// A function's inputs (name, type) and output names.
type Signature = (Vec<(String, TypeInfo)>, Vec<String>);

fn signature(f: &OperationRef) -> Result<Signature, String> {
    let block = f
        .region(0)
        .ok()
        .and_then(|r| r.first_block())
        .ok_or("the function has no body")?;
    let mut inputs = Vec::new();
    for i in 0..block.argument_count() {
        let arg = block.argument(i).map_err(|e| e.to_string())?;
        let info = tensor_info(arg.r#type()).ok_or("an argument is not a ranked tensor")?;
        let dtype = DType::from_mlir(&info.element)
            .ok_or_else(|| format!("argument #{i} has element type {}", info.element))?;
        inputs.push((
            graph_name(f.attribute("arg_attrs").ok(), i, "arg"),
            TypeInfo::new(dtype, info.shape),
        ));
    }
    let results = block.terminator().map(|t| t.operand_count()).unwrap_or(0);
    let outputs = (0..results)
        .map(|i| graph_name(f.attribute("res_attrs").ok(), i, "result"))
        .collect();
    Ok((inputs, outputs))
}
