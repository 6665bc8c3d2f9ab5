//! Lowering and emission: the conversion of graph ops to upstream linalg/tensor IR
//! (`convert-graph-to-linalg`) and translation of llvm-dialect modules to LLVM IR. The
//! GPU and Ascend lowerings build on this crate.

pub mod cann;
mod distinct_results;
mod expose_kernels;
mod ffi;
mod flatten_globals;
mod forward_copies;
pub mod gpu;
pub mod graph_to_linalg;
mod jit;
mod llvm_ir;
mod matmul_calls;
pub mod memory_plan;
mod memref_copy;
pub mod object;
mod profile;
mod split_module;
mod weights;

pub use distinct_results::make_results_distinct;
pub use expose_kernels::expose_kernel_results;
pub use flatten_globals::flatten_constant_globals;
pub use forward_copies::forward_copies_to_arguments;
pub use graph_to_linalg::{Contractions, MatrixCores, convert_graph_to_linalg, is_fused_kernel};
pub use jit::{Buffers, JitError, JitModel, SET_THREADS_SYMBOL, packed_entry_symbol};
pub use llvm_ir::{TranslateError, translate_to_llvm_ir};
pub use matmul_calls::matmuls_to_microkernels;
pub use memref_copy::memref_copy_to_linalg;
pub use profile::instrument_kernel_calls;
pub use weights::{materialize_weights, materialize_weights_as};
