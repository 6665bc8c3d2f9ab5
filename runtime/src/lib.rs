//! fuser's runtime: the functions that compiled models call. The JIT binds them by
//! address; `fuser compile --emit shared-lib` links this crate's static library into the
//! library it writes. Nothing here depends on MLIR or LLVM.

pub mod microkernels;

pub use microkernels::{SGEMM_F32, fuser_sgemm_f32, runtime_functions, set_threads, threads};
