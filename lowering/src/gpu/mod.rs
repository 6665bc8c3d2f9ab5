//! The GPU lowering: fused contractions as tiled shared-memory kernels
//! (`contraction_kernel`; on matrix cores `tensor_core_kernel` for NVIDIA and
//! `mfma_kernel` for AMD, around `matrix_kernel`'s shared frame), linalg on buffers to `gpu.launch` kernels (`map_loops`), the
//! outlined kernels gathered into one device module whose assembly (PTX) is read back
//! (`device_module`), and the host's plan of buffers and launches (`host_plan`), which
//! becomes an hw-dialect host function (`host_program`).

pub mod contraction_kernel;
pub mod device_module;
pub mod expand_erf;
pub mod host_plan;
pub mod host_program;
pub mod kernel_resources;
pub mod map_loops;
pub mod matrix_kernel;
pub mod mfma_kernel;
pub mod parallel_dims_first;
pub mod serial_work;
pub mod tensor_core_kernel;
pub mod toolkit;
