//! `.mlirbc` models: MLIR bytecode with the weights inside, as a `graph.weights`
//! dictionary attribute on the module (name -> dense elements), which bytecode stores as
//! raw binary.

use crate::model::Initializer;
use fuser_dialects::{
    constants::tensor_attribute,
    ffi::{dense_from_bytes, dense_to_tensor, parse_module_bytes},
    semantics::{DType, Tensor, TypeInfo},
};
use melior::{
    Context,
    ir::{
        Identifier, Module, Type,
        attribute::{Attribute, DictionaryAttribute},
        operation::{OperationLike, OperationMutLike},
    },
};
use std::collections::HashMap;

/// The module attribute holding the weights.
pub const WEIGHTS_ATTRIBUTE: &str = "graph.weights";

/// Serializes `module` as bytecode, with `weights` inside.
pub fn write(context: &Context, module: &mut Module, weights: &[Initializer]) -> Result<Vec<u8>, String> {
    let mut entries: Vec<(Identifier, Attribute)> = Vec::new();
    for w in weights {
        let ty = Type::parse(context, &TypeInfo::fixed(w.dtype, &w.shape).mlir()).ok_or("weight type")?;
        let attribute = if w.dtype == DType::Bool {
            tensor_attribute(context, &w.tensor().ok_or("weight data")?)
        } else {
            dense_from_bytes(ty, &w.bytes)
        };
        entries.push((
            Identifier::new(context, &w.name),
            attribute.ok_or_else(|| format!("cannot encode weight '{}'", w.name))?,
        ));
    }
    let dictionary = DictionaryAttribute::new(context, &entries);
    module
        .as_operation_mut()
        .set_attribute(WEIGHTS_ATTRIBUTE, dictionary.into());
    Ok(module.as_operation().write_bytecode())
}

/// Parses bytecode written by [`write`]; returns the module and its weights.
pub fn read<'c>(
    context: &'c Context,
    bytes: &[u8],
    file: &str,
) -> Result<(Module<'c>, HashMap<String, Tensor>), String> {
    let module = parse_module_bytes(context, bytes).ok_or_else(|| format!("{file}: not valid MLIR bytecode"))?;
    let mut weights = HashMap::new();
    if let Ok(attribute) = module.as_operation().attribute(WEIGHTS_ATTRIBUTE) {
        let dictionary = DictionaryAttribute::try_from(attribute)
            .map_err(|_| format!("{file}: '{WEIGHTS_ATTRIBUTE}' is not a dictionary"))?;
        for i in 0..dictionary.len() {
            let (name, value) = dictionary.element(i).map_err(|e| e.to_string())?;
            let name = name.as_string_ref().as_str().unwrap_or_default().to_string();
            let tensor = dense_to_tensor(value)
                .ok_or_else(|| format!("{file}: weight '{name}' is not a supported dense tensor"))?;
            weights.insert(name, tensor);
        }
    }
    Ok((module, weights))
}
