//! `.npy` files (ndarray-npy) to and from evaluator tensors.

use fuser_dialects::semantics::{DType, Data, Tensor};
use ndarray::ArrayD;
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use std::{fs::File, io::BufReader, path::Path};

/// Reads an `.npy` file of f32, f64, i8, u8, i32, i64 or bool elements.
pub fn read(path: &Path) -> Result<Tensor, String> {
    let open = || {
        File::open(path)
            .map(BufReader::new)
            .map_err(|e| format!("cannot read '{}': {e}", path.display()))
    };
    macro_rules! attempt {
        ($t:ty, $make:expr) => {
            if let Ok(a) = ArrayD::<$t>::read_npy(open()?) {
                return Ok($make(a));
            }
        };
    }
    attempt!(f32, |a: ArrayD<f32>| Tensor::float(DType::F32, a.mapv(f64::from)));
    attempt!(f64, |a: ArrayD<f64>| Tensor::float(DType::F64, a));
    attempt!(i64, |a: ArrayD<i64>| Tensor::int(DType::I64, a));
    attempt!(i32, |a: ArrayD<i32>| Tensor::int(DType::I32, a.mapv(i64::from)));
    attempt!(i8, |a: ArrayD<i8>| Tensor::int(DType::I8, a.mapv(i64::from)));
    attempt!(u8, |a: ArrayD<u8>| Tensor::int(DType::U8, a.mapv(i64::from)));
    attempt!(bool, Tensor::bool);
    Err(format!(
        "'{}' is not an .npy file of f32, f64, i64, i32, i8, u8 or bool elements",
        path.display()
    ))
}

/// Writes a tensor as `.npy`; f16 and bf16 are written as f32 (npy readers rarely know bf16).
pub fn write(path: &Path, tensor: &Tensor) -> Result<(), String> {
    let file = File::create(path).map_err(|e| format!("cannot write '{}': {e}", path.display()))?;
    let result = match (&tensor.data, tensor.dtype) {
        (Data::Float(a), DType::F64) => a.write_npy(file),
        (Data::Float(a), _) => a.mapv(|v| v as f32).write_npy(file),
        (Data::Int(a), DType::I64) => a.write_npy(file),
        (Data::Int(a), DType::I32) => a.mapv(|v| v as i32).write_npy(file),
        (Data::Int(a), DType::I8) => a.mapv(|v| v as i8).write_npy(file),
        (Data::Int(a), _) => a.mapv(|v| v as u8).write_npy(file),
        (Data::Bool(a), _) => a.write_npy(file),
    };
    result.map_err(|e| format!("cannot write '{}': {e}", path.display()))
}
