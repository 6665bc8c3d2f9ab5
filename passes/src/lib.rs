//! fuser's passes: one registry table (`registry::PASSES`), the graph passes, and the
//! textual pipeline builder that mixes them with upstream MLIR passes.
//!
//! Passes are thin drivers over rewrites; each is a melior external pass, so it runs in
//! the same pass manager as upstream passes.

pub mod ascend_target;
pub mod calibration;
mod constant_ops;
pub mod convert_ftensor_to_cann;
pub mod convert_graph_to_linalg;
pub mod convert_hw_to_memref;
pub mod convert_linalg_to_microkernels;
pub mod convert_memref_copy_to_linalg;
pub mod cpu_target;
mod empty_boundaries;
mod ffi;
pub use ffi::enable_timing;
pub mod eqsat;
pub mod ftensor_blocked_layout;
pub mod ftensor_fold_transposes;
pub mod ftensor_int8_activations;
pub mod gpu_target;
pub mod gpu_tile_parallel_loops;
pub mod graph_eqsat_fuse;
pub mod graph_fold_batch_norm;
pub mod graph_fold_constants;
pub mod graph_form_kernels;
pub mod graph_infer_shapes;
pub mod graph_mixed_precision;
pub mod graph_quantize;
pub mod graph_simplify;
pub mod hw_plan_memory;
mod kernel_functions;
pub mod linalg_parallel_dims_first;
pub mod llvm_flatten_constant_globals;
pub mod math_expand_erf;
/// The arena planner lives in `fuser-lowering`, which the Ascend emitter shares.
pub use fuser_lowering::memory_plan;
pub mod memref_forward_copies;
pub mod phases;
pub mod pipeline;
pub mod registry;
pub mod tensor_distinct_results;
pub mod upstream;
pub mod value_specialization;
pub mod verify_pass;

#[cfg(test)]
mod fused_kernel_tests;
#[cfg(test)]
mod gpu_tests;
#[cfg(test)]
mod property_tests;
#[cfg(test)]
mod random_graphs;

pub use pipeline::{ExtraPass, PipelineError, PipelineOptions, add_pipeline, add_pipeline_with_extra};
pub use registry::PassOptions;
pub use registry::{PASSES, PassInfo, find_pass};
pub use verify_pass::create_verify_pass;
