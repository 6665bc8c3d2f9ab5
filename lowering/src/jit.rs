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
    MlirExecutionEngine, mlirExecutionEngineCreate, mlirExecutionEngineDestroy, mlirExecutionEngineDumpToObjectFile,
    mlirExecutionEngineInvokePacked, mlirExecutionEngineLookupPacked, mlirExecutionEngineRegisterSymbol,
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

/// A compiled model: its code, entry function and the types of its inputs and outputs.
pub struct JitModel {
    code: Code,
    entry: String,
    inputs: Vec<TypeInfo>,
    outputs: Vec<TypeInfo>,
}

/// Where the machine code lives: in the JIT, or in a shared library that the model
/// cache holds (the JIT's own object code, linked with the runtime).
enum Code {
    Engine(MlirExecutionEngine),
    Library {
        // Kept loaded while `packed` may be called.
        _library: libloading::Library,
        packed: unsafe extern "C" fn(*mut *mut std::ffi::c_void),
    },
}

/// The symbol of the packed wrapper of entry `entry` that the ExecutionEngine generates
/// (and that its object code, hence a cached library, contains).
pub fn packed_entry_symbol(entry: &str) -> String {
    format!("_mlir__mlir_ciface_{entry}")
}

/// The symbol a cached library exports to set its runtime's thread count.
pub const SET_THREADS_SYMBOL: &str = "fuser_runtime_set_threads";

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
    /// Compiles `module` (in the llvm dialect) and finds `entry`. With `object_file`, the
    /// compiled code (position independent) is also written there as an object file.
    pub fn new(
        module: &Module,
        entry: &str,
        inputs: Vec<TypeInfo>,
        outputs: Vec<TypeInfo>,
        object_file: Option<&std::path::Path>,
    ) -> Result<Self, JitError> {
        let dump = object_file.is_some();
        // SAFETY: the module is valid; the engine copies what it needs. A null engine
        // means compilation failed.
        let engine = unsafe { mlirExecutionEngineCreate(module.to_raw(), 3, 0, std::ptr::null(), dump, dump) };
        if engine.ptr.is_null() {
            return Err(JitError::Compile);
        }
        let model = JitModel {
            code: Code::Engine(engine),
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
        if let Some(path) = object_file {
            let path = path.display().to_string();
            // SAFETY: the engine is valid and compiled the module at the lookup above.
            unsafe { mlirExecutionEngineDumpToObjectFile(engine, StringRef::new(&path).to_raw()) };
        }
        Ok(model)
    }

    /// Loads a model from a shared library holding the JIT's code for it (see
    /// `packed_entry_symbol`), and gives its runtime `threads` threads (0: all cores).
    pub fn load_library(
        path: &std::path::Path,
        entry: &str,
        inputs: Vec<TypeInfo>,
        outputs: Vec<TypeInfo>,
        threads: usize,
    ) -> Result<Self, JitError> {
        let fail = |e: libloading::Error| JitError::Inputs(format!("cannot load {}: {e}", path.display()));
        // SAFETY: the library was written by fuser for this entry; loading runs no code
        // but the Rust runtime's static initializers, and the symbols have the types the
        // generated code gives them.
        unsafe {
            let library = libloading::Library::new(path).map_err(fail)?;
            let set_threads: libloading::Symbol<unsafe extern "C" fn(i64)> =
                library.get(SET_THREADS_SYMBOL.as_bytes()).map_err(fail)?;
            set_threads(threads as i64);
            let packed: libloading::Symbol<unsafe extern "C" fn(*mut *mut std::ffi::c_void)> =
                library.get(packed_entry_symbol(entry).as_bytes()).map_err(fail)?;
            let packed = *packed;
            Ok(JitModel {
                code: Code::Library {
                    _library: library,
                    packed,
                },
                entry: entry.to_string(),
                inputs,
                outputs,
            })
        }
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
        match &self.code {
            Code::Engine(engine) => {
                // SAFETY: every argument points at a live pointer to a buffer of the size
                // and alignment the compiled entry function expects.
                let result = unsafe {
                    mlirExecutionEngineInvokePacked(
                        *engine,
                        StringRef::new(&self.entry).to_raw(),
                        arguments.as_mut_ptr(),
                    )
                };
                if result.value == 0 {
                    return Err(JitError::Run(self.entry.clone()));
                }
            }
            // SAFETY: as above; the packed wrapper reads the same argument array.
            Code::Library { packed, .. } => unsafe { packed(arguments.as_mut_ptr()) },
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
        if let Code::Engine(engine) = self.code {
            // SAFETY: the engine was created in `new` and is destroyed once.
            unsafe { mlirExecutionEngineDestroy(engine) }
            // The INT8 kernels cache packed weights by address; this model's addresses
            // may now be reused by the next one.
            fuser_runtime::quantized::forget_packed_weights();
        }
    }
}
