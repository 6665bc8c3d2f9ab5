//! Runtime tensors of the reference evaluator.
//!
//! One representation per kind keeps every op obviously correct: floats (f16, bf16, f32,
//! f64) are held as f64 and rounded to their dtype after each op; integers (i8, u8, i32,
//! i64) as i64 and wrapped to their dtype; booleans as bool. f64 holds every f32, f16
//! and bf16 value exactly, and i64 every integer of the smaller types.

use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};
use std::fmt;

/// The element types of the graph dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F64,
    F16,
    BF16,
    I8,
    U8,
    I32,
    I64,
    Bool,
}

impl DType {
    pub const ALL: [DType; 9] = [
        DType::F32,
        DType::F64,
        DType::F16,
        DType::BF16,
        DType::I8,
        DType::U8,
        DType::I32,
        DType::I64,
        DType::Bool,
    ];

    /// The MLIR spelling (`f32`, `ui8`, `i1`, ...).
    pub fn mlir(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::I8 => "i8",
            DType::U8 => "ui8",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::Bool => "i1",
        }
    }

    pub fn from_mlir(name: &str) -> Option<Self> {
        DType::ALL.into_iter().find(|d| d.mlir() == name)
    }

    /// The ONNX TensorProto data type code.
    pub fn onnx_code(self) -> i64 {
        match self {
            DType::F32 => 1,
            DType::U8 => 2,
            DType::I8 => 3,
            DType::I32 => 6,
            DType::I64 => 7,
            DType::Bool => 9,
            DType::F16 => 10,
            DType::F64 => 11,
            DType::BF16 => 16,
        }
    }

    pub fn from_onnx_code(code: i64) -> Option<Self> {
        DType::ALL.into_iter().find(|d| d.onnx_code() == code)
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64 | DType::F16 | DType::BF16)
    }

    pub fn is_int(self) -> bool {
        matches!(self, DType::I8 | DType::U8 | DType::I32 | DType::I64)
    }

    /// Bytes per element in memory (bool: 1).
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }

    /// Rounds an f64 to the nearest value of this float dtype.
    pub fn round_float(self, x: f64) -> f64 {
        match self {
            DType::F32 => x as f32 as f64,
            DType::F16 => f16::from_f64(x).to_f64(),
            DType::BF16 => bf16::from_f64(x).to_f64(),
            _ => x,
        }
    }

    /// Wraps an i64 to this integer dtype (two's complement, as a cast in C does).
    pub fn wrap_int(self, x: i64) -> i64 {
        match self {
            DType::I8 => x as i8 as i64,
            DType::U8 => x as u8 as i64,
            DType::I32 => x as i32 as i64,
            _ => x,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.mlir())
    }
}

/// `array` in row-major (standard) layout, so that every tensor can be reshaped.
pub fn standard<T: Clone>(array: ArrayD<T>) -> ArrayD<T> {
    if array.is_standard_layout() {
        array
    } else {
        array.as_standard_layout().into_owned()
    }
}

/// The elements of a tensor, by kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    Float(ArrayD<f64>),
    Int(ArrayD<i64>),
    Bool(ArrayD<bool>),
}

/// A tensor: a dtype and its elements.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub dtype: DType,
    pub data: Data,
}

impl Tensor {
    /// A float tensor, rounded to `dtype`.
    pub fn float(dtype: DType, mut array: ArrayD<f64>) -> Self {
        debug_assert!(dtype.is_float());
        // Rounded where it is: no second array of a constant's size.
        array.mapv_inplace(|x| dtype.round_float(x));
        Tensor {
            dtype,
            data: Data::Float(standard(array)),
        }
    }

    /// An integer tensor, wrapped to `dtype`.
    pub fn int(dtype: DType, array: ArrayD<i64>) -> Self {
        debug_assert!(dtype.is_int());
        Tensor {
            dtype,
            data: Data::Int(standard(array.mapv(|x| dtype.wrap_int(x)))),
        }
    }

    pub fn bool(array: ArrayD<bool>) -> Self {
        Tensor {
            dtype: DType::Bool,
            data: Data::Bool(standard(array)),
        }
    }

    /// An f32 tensor from a shape and values.
    pub fn f32(shape: &[usize], values: Vec<f32>) -> Self {
        Tensor::float(
            DType::F32,
            ArrayD::from_shape_vec(IxDyn(shape), values.into_iter().map(f64::from).collect()).expect("shape matches"),
        )
    }

    /// An i64 tensor from a shape and values.
    pub fn i64(shape: &[usize], values: Vec<i64>) -> Self {
        Tensor::int(
            DType::I64,
            ArrayD::from_shape_vec(IxDyn(shape), values).expect("shape matches"),
        )
    }

    pub fn shape(&self) -> &[usize] {
        match &self.data {
            Data::Float(a) => a.shape(),
            Data::Int(a) => a.shape(),
            Data::Bool(a) => a.shape(),
        }
    }

    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as f64 (booleans as 0/1), in row-major order.
    pub fn to_f64(&self) -> ArrayD<f64> {
        match &self.data {
            Data::Float(a) => a.clone(),
            Data::Int(a) => a.mapv(|x| x as f64),
            Data::Bool(a) => a.mapv(|x| if x { 1.0 } else { 0.0 }),
        }
    }

    /// The elements as i64 (floats truncated toward zero, booleans as 0/1).
    pub fn to_i64(&self) -> ArrayD<i64> {
        match &self.data {
            Data::Float(a) => a.mapv(|x| x as i64),
            Data::Int(a) => a.clone(),
            Data::Bool(a) => a.mapv(i64::from),
        }
    }

    /// The elements as a flat i64 list (shape operands, axes, indices).
    pub fn to_i64_vec(&self) -> Vec<i64> {
        self.to_i64().iter().copied().collect()
    }

    /// The elements as a flat f64 list.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        self.to_f64().iter().copied().collect()
    }

    /// The elements as booleans (non-zero is true).
    pub fn to_bool(&self) -> ArrayD<bool> {
        match &self.data {
            Data::Float(a) => a.mapv(|x| x != 0.0),
            Data::Int(a) => a.mapv(|x| x != 0),
            Data::Bool(a) => a.clone(),
        }
    }

    /// Converts to `dtype` with ONNX Cast semantics (float to int truncates toward zero
    /// and saturates like numpy's cast of in-range values; NaN becomes 0).
    pub fn cast(&self, dtype: DType) -> Tensor {
        match dtype {
            d if d.is_float() => Tensor::float(d, self.to_f64()),
            DType::Bool => Tensor::bool(self.to_bool()),
            d => Tensor::int(
                d,
                match &self.data {
                    Data::Float(a) => a.mapv(|x| if x.is_nan() { 0 } else { x as i64 }),
                    _ => self.to_i64(),
                },
            ),
        }
    }

    /// Applies `f` to the data with the same dtype (shape operations).
    pub fn map_array(&self, f: impl Fn(&Data) -> Data) -> Tensor {
        Tensor {
            dtype: self.dtype,
            data: crate::map_data!(f(&self.data), a => standard(a)),
        }
    }

    /// A tensor of `dtype` and `shape` with every element `value`.
    pub fn full(dtype: DType, shape: &[usize], value: f64) -> Tensor {
        Tensor::float(DType::F64, ArrayD::from_elem(IxDyn(shape), value)).cast(dtype)
    }
}

/// Applies one generic function to whichever array kind a `Data` holds.
#[macro_export]
macro_rules! map_data {
    ($data:expr, $a:ident => $body:expr) => {
        match $data {
            $crate::semantics::tensor::Data::Float($a) => $crate::semantics::tensor::Data::Float($body),
            $crate::semantics::tensor::Data::Int($a) => $crate::semantics::tensor::Data::Int($body),
            $crate::semantics::tensor::Data::Bool($a) => $crate::semantics::tensor::Data::Bool($body),
        }
    };
}
