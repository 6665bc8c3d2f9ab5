//! ONNX TensorProto to fuser tensors and weights, with external data.

use crate::model::Initializer;
use fuser_dialects::{
    constants::tensor_from_bytes,
    semantics::{DType, Tensor},
};
use onnx_protobuf::{TensorProto, tensor_proto::DataLocation};
use std::path::Path;

/// The fuser dtype of an ONNX element type code.
pub fn dtype_of(code: i32) -> Result<DType, String> {
    DType::from_onnx_code(code as i64).ok_or_else(|| {
        let name = match code {
            4 => "uint16",
            5 => "int16",
            8 => "string",
            12 => "uint32",
            13 => "uint64",
            14 => "complex64",
            15 => "complex128",
            17..=20 | 23 => "float8",
            21 | 22 => "int4/uint4",
            _ => "unknown",
        };
        format!("element type {name} (ONNX type {code}) is not supported")
    })
}

/// The little-endian bytes of a TensorProto in its dtype, from raw_data, the typed fields,
/// or an external file.
fn proto_bytes(t: &TensorProto, dtype: DType, count: usize, base: &Path) -> Result<Vec<u8>, String> {
    if t.data_location.enum_value() == Ok(DataLocation::EXTERNAL) {
        let entry = |key: &str| t.external_data.iter().find(|e| e.key == key).map(|e| e.value.clone());
        let location = entry("location").ok_or("external data without a location")?;
        if Path::new(&location).is_absolute() || location.contains("..") {
            return Err(format!(
                "external data location '{location}' must be relative and inside the model's folder"
            ));
        }
        let offset: u64 = entry("offset")
            .map(|o| o.parse().map_err(|_| "bad external data offset"))
            .transpose()?
            .unwrap_or(0);
        let path = base.join(&location);
        let data = std::fs::read(&path).map_err(|e| format!("cannot read external data '{}': {e}", path.display()))?;
        let length = entry("length")
            .map(|l| l.parse::<u64>().map_err(|_| "bad external data length"))
            .transpose()?
            .unwrap_or((count * dtype.size()) as u64);
        if length != (count * dtype.size()) as u64 {
            return Err(format!(
                "external data length {length} does not match the tensor ({} bytes)",
                count * dtype.size()
            ));
        }
        let end = offset
            .checked_add(length)
            .filter(|&e| e <= data.len() as u64)
            .ok_or_else(|| format!("external data '{location}' is shorter than the tensor"))?;
        return Ok(data[offset as usize..end as usize].to_vec());
    }
    if !t.raw_data.is_empty() {
        return Ok(t.raw_data.clone());
    }
    let mut out = Vec::new();
    match dtype {
        DType::F32 => t.float_data.iter().for_each(|v| out.extend(v.to_le_bytes())),
        DType::F64 => t.double_data.iter().for_each(|v| out.extend(v.to_le_bytes())),
        DType::I64 => t.int64_data.iter().for_each(|v| out.extend(v.to_le_bytes())),
        DType::I32 => t.int32_data.iter().for_each(|v| out.extend(v.to_le_bytes())),
        // int32_data holds the smaller types, one per entry (f16/bf16 as their bits).
        DType::I8 | DType::U8 | DType::Bool => t.int32_data.iter().for_each(|&v| out.push(v as u8)),
        DType::F16 | DType::BF16 => t.int32_data.iter().for_each(|&v| out.extend((v as u16).to_le_bytes())),
    }
    Ok(out)
}

fn shape_of(t: &TensorProto) -> Result<Vec<usize>, String> {
    t.dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dim {d}")))
        .collect()
}

/// The largest tensor fuser accepts: 2^40 bytes (a malformed dim must not become an
/// allocation).
const MAX_TENSOR_BYTES: usize = 1 << 40;

/// A weight from a TensorProto.
pub fn initializer_from_proto(t: &TensorProto, base: &Path) -> Result<Initializer, String> {
    let dtype = dtype_of(t.data_type)?;
    let shape = shape_of(t)?;
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&c| c.checked_mul(dtype.size()).is_some_and(|b| b <= MAX_TENSOR_BYTES))
        .ok_or_else(|| format!("dims {shape:?} are too large"))?;
    let bytes = proto_bytes(t, dtype, count, base)?;
    if bytes.len() != count * dtype.size() {
        return Err(format!(
            "holds {} bytes, but {:?} of {dtype} needs {}",
            bytes.len(),
            shape,
            count * dtype.size()
        ));
    }
    Ok(Initializer {
        name: t.name.clone(),
        dtype,
        shape,
        bytes,
    })
}

/// A tensor from a TensorProto.
pub fn tensor_from_proto(t: &TensorProto, base: &Path) -> Result<Tensor, String> {
    let w = initializer_from_proto(t, base)?;
    tensor_from_bytes(w.dtype, &w.shape, &w.bytes).ok_or_else(|| "inconsistent tensor data".to_string())
}
