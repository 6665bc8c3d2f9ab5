//! The argument list of an `hw.launch`: its `args` attribute, one dictionary per kernel
//! argument, read into typed values (for the verifier and for the runtimes' plans).

use melior::ir::{
    Attribute, OperationRef,
    attribute::{ArrayAttribute, DenseI64ArrayAttribute, DictionaryAttribute, IntegerAttribute},
    operation::OperationLike,
};

/// One argument of a launched kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LaunchArg {
    /// A view of byte-buffer operand `operand`, starting `byte_offset` bytes in, with
    /// MLIR's memref descriptor (`offset`, `sizes`, `strides`, in elements).
    View {
        operand: usize,
        byte_offset: u64,
        offset: i64,
        sizes: Vec<i64>,
        strides: Vec<i64>,
    },
    /// An `index` (64-bit) scalar.
    Index(i64),
}

fn integer(entry: &DictionaryAttribute, name: &str) -> Result<i64, String> {
    entry
        .element_by_name(name)
        .and_then(|a| IntegerAttribute::try_from(a).ok())
        .map(|a| a.value())
        .ok_or_else(|| format!("'{name}' must be an integer"))
}

fn integers(entry: &DictionaryAttribute, name: &str) -> Result<Vec<i64>, String> {
    let list = entry
        .element_by_name(name)
        .and_then(|a| DenseI64ArrayAttribute::try_from(a).ok())
        .ok_or_else(|| format!("'{name}' must be an array<i64>"))?;
    (0..list.len())
        .map(|i| list.element(i).map_err(|e| e.to_string()))
        .collect()
}

fn launch_arg(attribute: Attribute, operands: usize) -> Result<LaunchArg, String> {
    let entry =
        DictionaryAttribute::try_from(attribute).map_err(|_| "an entry that is not a dictionary".to_string())?;
    if entry.element_by_name("index").is_some() {
        return Ok(LaunchArg::Index(integer(&entry, "index")?));
    }
    let operand = integer(&entry, "buffer")?;
    let byte_offset = integer(&entry, "byte_offset")?;
    let (sizes, strides) = (integers(&entry, "sizes")?, integers(&entry, "strides")?);
    if operand < 0 || operand as usize >= operands {
        return Err(format!(
            "'buffer' {operand} names no operand (the launch has {operands})"
        ));
    }
    if byte_offset < 0 {
        return Err("'byte_offset' must be non-negative".into());
    }
    if sizes.len() != strides.len() {
        return Err(format!("{} sizes but {} strides", sizes.len(), strides.len()));
    }
    Ok(LaunchArg::View {
        operand: operand as usize,
        byte_offset: byte_offset as u64,
        offset: integer(&entry, "offset")?,
        sizes,
        strides,
    })
}

/// The kernel arguments of `launch` (an `hw.launch`), in order.
pub fn launch_args(launch: OperationRef) -> Result<Vec<LaunchArg>, String> {
    let list = launch
        .attribute("args")
        .ok()
        .and_then(|a| ArrayAttribute::try_from(a).ok())
        .ok_or("attribute 'args' must be an array")?;
    let operands = launch.operand_count();
    (0..list.len())
        .map(|i| {
            let entry = list.element(i).map_err(|e| e.to_string())?;
            launch_arg(entry, operands).map_err(|e| format!("kernel argument #{i} in 'args': {e}"))
        })
        .collect()
}
