//! Weight side files: `m.mlir` comes with `m.safetensors` (the safetensors crate).

use crate::model::Initializer;
use fuser_dialects::semantics::{DType, Tensor};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use std::{collections::HashMap, path::Path};

fn st_dtype(dtype: DType) -> Dtype {
    match dtype {
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::I8 => Dtype::I8,
        DType::U8 => Dtype::U8,
        DType::I32 => Dtype::I32,
        DType::I64 => Dtype::I64,
        DType::Bool => Dtype::BOOL,
    }
}

fn from_st_dtype(dtype: Dtype) -> Option<DType> {
    Some(match dtype {
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        Dtype::I8 => DType::I8,
        Dtype::U8 => DType::U8,
        Dtype::I32 => DType::I32,
        Dtype::I64 => DType::I64,
        Dtype::BOOL => DType::Bool,
        _ => return None,
    })
}

/// The safetensors bytes holding `weights`.
pub fn serialize(weights: &[Initializer]) -> Result<Vec<u8>, String> {
    let views: Vec<(String, TensorView)> = weights
        .iter()
        .map(|w| {
            TensorView::new(st_dtype(w.dtype), w.shape.clone(), &w.bytes)
                .map(|v| (w.name.clone(), v))
                .map_err(|e| format!("weight '{}': {e}", w.name))
        })
        .collect::<Result<_, _>>()?;
    safetensors::serialize(views, None).map_err(|e| e.to_string())
}

/// Reads a safetensors file into tensors by name.
pub fn load(path: &Path) -> Result<HashMap<String, Tensor>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read '{}': {e}", path.display()))?;
    let file =
        SafeTensors::deserialize(&bytes).map_err(|e| format!("'{}' is not a safetensors file: {e}", path.display()))?;
    let mut out = HashMap::new();
    for (name, view) in file.tensors() {
        let dtype = from_st_dtype(view.dtype()).ok_or_else(|| format!("weight '{name}' has an unsupported dtype"))?;
        let tensor = fuser_dialects::constants::tensor_from_bytes(dtype, view.shape(), view.data())
            .ok_or_else(|| format!("weight '{name}' is inconsistent"))?;
        out.insert(name, tensor);
    }
    Ok(out)
}

/// The side file of an MLIR text file: `m.mlir` -> `m.safetensors`.
pub fn side_file(mlir: &Path) -> std::path::PathBuf {
    mlir.with_extension("safetensors")
}
