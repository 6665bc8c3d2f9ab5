//! Running a compiled model in-process with MLIR's ExecutionEngine (LLVM ORC JIT at O3,
//! for the host CPU and its features).
//!
//! The entry function uses the bare-pointer convention: one pointer per input, then one
//! per output, no results. The C API invokes the packed wrapper of
//! `_mlir_ciface_<name>` (an array of pointers to those arguments), so the compiled entry
//! function must carry that symbol name.
//!
//! # Safety
//! The engine handle is owned by [`JitModel`] and destroyed on drop. Buffers handed to
//! the compiled code are allocated here with the size and alignment their types need, and
//! outlive the call.

use fuser_dialects::{
    constants::{tensor_bytes, tensor_from_bytes},
    semantics::{Tensor, TypeInfo},
};
use melior::{StringRef, ir::Module};
use mlir_sys::{
    MlirExecutionEngine, mlirExecutionEngineCreate, mlirExecutionEngineDestroy, mlirExecutionEngineInvokePacked,
    mlirExecutionEngineLookupPacked, mlirExecutionEngineRegisterSymbol,
};
use std::alloc::{Layout, alloc_zeroed, dealloc};

/// Why a model could not be JIT-compiled or run.
#[derive(Debug, thiserror::Error)]
pub enum JitError {
    #[error("the JIT could not compile the module (is it fully in the llvm dialect?)")]
    Compile,
    #[error("the compiled module has no entry function '{0}'")]
    NoEntry(String),
    #[error("{0}")]
    Inputs(String),
    #[error("running '{0}' failed")]
    Run(String),
}

/// A model compiled in memory: its entry function and the types of its inputs and outputs.
pub struct JitModel {
    engine: MlirExecutionEngine,
    entry: String,
    inputs: Vec<TypeInfo>,
    outputs: Vec<TypeInfo>,
}

/// A zeroed heap buffer aligned for vector loads.
struct Buffer {
    ptr: *mut u8,
    layout: Layout,
}

impl Buffer {
    fn new(bytes: usize) -> Buffer {
        let layout = Layout::from_size_align(bytes.max(1), 64).expect("valid layout");
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "out of memory allocating {bytes} bytes");
        Buffer { ptr, layout }
    }
    fn bytes(&self, len: usize) -> &[u8] {
        // SAFETY: `len` is at most the allocated size, which was zero-initialised.
        unsafe { std::slice::from_raw_parts(self.ptr, len) }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

impl JitModel {
    /// Compiles `module` (in the llvm dialect) and finds `entry`.
    pub fn new(module: &Module, entry: &str, inputs: Vec<TypeInfo>, outputs: Vec<TypeInfo>) -> Result<Self, JitError> {
        // SAFETY: the module is valid; the engine copies what it needs. A null engine
        // means compilation failed.
        let engine = unsafe { mlirExecutionEngineCreate(module.to_raw(), 3, 0, std::ptr::null(), false, false) };
        if engine.ptr.is_null() {
            return Err(JitError::Compile);
        }
        let model = JitModel {
            engine,
            entry: entry.to_string(),
            inputs,
            outputs,
        };
        // Runtime functions the generated code calls, resolved when the module is first
        // materialized (at the lookup below).
        for (name, address) in fuser_runtime::runtime_functions() {
            // SAFETY: the engine is valid; each address is a function of this binary with
            // the signature the generated declaration has.
            unsafe { mlirExecutionEngineRegisterSymbol(engine, StringRef::new(name).to_raw(), address.cast_mut()) };
        }
        // SAFETY: the engine is valid; lookup only reads the symbol table.
        let found = unsafe {
            mlirExecutionEngineLookupPacked(engine, StringRef::new(&format!("_mlir_ciface_{entry}")).to_raw())
        };
        if found.is_null() {
            return Err(JitError::NoEntry(entry.to_string()));
        }
        Ok(model)
    }

    pub fn inputs(&self) -> &[TypeInfo] {
        &self.inputs
    }

    pub fn outputs(&self) -> &[TypeInfo] {
        &self.outputs
    }

    /// Runs the model on `inputs`, which must match the input types exactly.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, JitError> {
        let mut buffers = self.prepare(inputs)?;
        self.run_prepared(&mut buffers)?;
        self.read_outputs(&buffers)
    }

    /// Copies `inputs` (which must match the input types exactly) into buffers for the
    /// compiled code, with room for the outputs.
    pub fn prepare(&self, inputs: &[Tensor]) -> Result<Buffers, JitError> {
        if inputs.len() != self.inputs.len() {
            return Err(JitError::Inputs(format!(
                "expected {} inputs, got {}",
                self.inputs.len(),
                inputs.len()
            )));
        }
        let mut buffers = Vec::new();
        for (i, (tensor, info)) in inputs.iter().zip(&self.inputs).enumerate() {
            let expected = info.static_shape().unwrap_or_default();
            if tensor.dtype != info.dtype || tensor.shape() != expected.as_slice() {
                return Err(JitError::Inputs(format!(
                    "input {i} is {} {:?}, the model takes {}",
                    tensor.dtype,
                    tensor.shape(),
                    info.mlir()
                )));
            }
            let bytes = tensor_bytes(tensor);
            let buffer = Buffer::new(bytes.len());
            // SAFETY: the buffer holds at least `bytes.len()` bytes.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buffer.ptr, bytes.len()) };
            buffers.push(buffer);
        }
        for info in &self.outputs {
            buffers.push(Buffer::new(byte_size(info)));
        }
        Ok(Buffers(buffers))
    }

    /// Runs the compiled code on prepared buffers (what `fuser bench` times).
    pub fn run_prepared(&self, buffers: &mut Buffers) -> Result<(), JitError> {
        // The packed wrapper reads each argument through a pointer to it.
        let mut pointers: Vec<*mut u8> = buffers.0.iter().map(|b| b.ptr).collect();
        let mut arguments: Vec<*mut std::ffi::c_void> =
            pointers.iter_mut().map(|p| (p as *mut *mut u8).cast()).collect();
        // SAFETY: every argument points at a live pointer to a buffer of the size and
        // alignment the compiled entry function expects.
        let result = unsafe {
            mlirExecutionEngineInvokePacked(
                self.engine,
                StringRef::new(&self.entry).to_raw(),
                arguments.as_mut_ptr(),
            )
        };
        if result.value == 0 {
            return Err(JitError::Run(self.entry.clone()));
        }
        Ok(())
    }

    /// The outputs held in `buffers` after a run.
    pub fn read_outputs(&self, buffers: &Buffers) -> Result<Vec<Tensor>, JitError> {
        let first_output = self.inputs.len();
        self.outputs
            .iter()
            .enumerate()
            .map(|(i, info)| {
                let shape = info.static_shape().unwrap_or_default();
                tensor_from_bytes(info.dtype, &shape, buffers.0[first_output + i].bytes(byte_size(info)))
                    .ok_or_else(|| JitError::Run(format!("output {i} has the wrong size")))
            })
            .collect()
    }
}

/// The size in bytes of a dense tensor of type `info`.
fn byte_size(info: &TypeInfo) -> usize {
    info.static_shape().unwrap_or_default().iter().product::<usize>() * info.dtype.size()
}

/// The input and output buffers of one run, in the entry function's argument order.
pub struct Buffers(Vec<Buffer>);

impl Drop for JitModel {
    fn drop(&mut self) {
        // SAFETY: the engine was created in `new` and is destroyed once.
        unsafe { mlirExecutionEngineDestroy(self.engine) }
    }
}
