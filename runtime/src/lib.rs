//! fuser's runtime: the functions that compiled models call. The JIT binds them by
//! address; `fuser compile --emit shared-lib` links this crate's static library into the
//! library it writes. Nothing here depends on MLIR or LLVM.

mod affinity;
mod aligned;
mod batched_matmul;
mod bf16;
#[cfg(target_arch = "x86_64")]
mod blocked_conv;
mod blocked_layout;
#[cfg(target_arch = "x86_64")]
mod conv_band;
#[cfg(target_arch = "x86_64")]
mod depthwise_channels;
#[cfg(target_arch = "x86_64")]
mod direct_conv;
pub mod experiment;
pub mod fused;
mod gelu;
pub mod global_pool;
pub mod layer_norm;
#[cfg(target_arch = "x86_64")]
mod max_pool_channels;
pub mod microkernels;
#[cfg(target_arch = "x86_64")]
mod packed_matmul;
mod pool;
pub mod profile;
pub mod quantized;
#[cfg(target_arch = "x86_64")]
mod register_tiled;
pub mod softmax;
pub mod transpose;
pub(crate) mod vector_math;
pub mod vector_width;
#[cfg(target_arch = "x86_64")]
mod weight_cache;
#[cfg(target_arch = "x86_64")]
mod winograd;

pub use experiment::set_experiment;
pub use fused::{FUSED_F32, FUSED_F32_ARITY, fuser_fused_f32};
pub use global_pool::{GLOBAL_AVERAGE_POOL_F32, GLOBAL_AVERAGE_POOL_F32_ARITY, fuser_global_average_pool_f32};
pub use layer_norm::{LAYER_NORM_F32, LAYER_NORM_F32_ARITY, fuser_layer_norm_f32};
pub use microkernels::{
    DEPTHWISE_F32, IM2COL_F32, SGEMM_F32, fuser_depthwise_conv2d_f32, fuser_im2col_f32, fuser_sgemm_f32, set_threads,
    threads,
};
pub use profile::{PROFILE_BEGIN, PROFILE_END, take_profile};
pub use quantized::{FUSED_Q8, FUSED_Q8_ARITY, fuser_fused_q8};
pub use softmax::{SOFTMAX_F32, SOFTMAX_F32_ARITY, fuser_softmax_f32};
pub use transpose::{TRANSPOSE_F32, TRANSPOSE_F32_ARITY, fuser_transpose_f32};

/// Every runtime function generated code may call: symbol and address.
pub fn runtime_functions() -> [(&'static str, *const std::ffi::c_void); 13] {
    [
        ("__truncsfbf2", bf16::__truncsfbf2 as *const std::ffi::c_void),
        ("__truncdfbf2", bf16::__truncdfbf2 as *const std::ffi::c_void),
        (SOFTMAX_F32, fuser_softmax_f32 as *const std::ffi::c_void),
        (TRANSPOSE_F32, fuser_transpose_f32 as *const std::ffi::c_void),
        (
            GLOBAL_AVERAGE_POOL_F32,
            fuser_global_average_pool_f32 as *const std::ffi::c_void,
        ),
        (LAYER_NORM_F32, fuser_layer_norm_f32 as *const std::ffi::c_void),
        (FUSED_F32, fuser_fused_f32 as *const std::ffi::c_void),
        (FUSED_Q8, fuser_fused_q8 as *const std::ffi::c_void),
        (DEPTHWISE_F32, fuser_depthwise_conv2d_f32 as *const std::ffi::c_void),
        (SGEMM_F32, fuser_sgemm_f32 as *const std::ffi::c_void),
        (IM2COL_F32, fuser_im2col_f32 as *const std::ffi::c_void),
        (PROFILE_BEGIN, profile::fuser_profile_begin as *const std::ffi::c_void),
        (PROFILE_END, profile::fuser_profile_end as *const std::ffi::c_void),
    ]
}

/// The marker of this build of the runtime: a fingerprint of its sources. The static
/// library carries it, and `fuser compile` refuses a `libfuser_runtime.a` without its own
/// copy's marker, since the generated code and the runtime's entry points must match.
pub const FINGERPRINT: &str = concat!("fuser-runtime-fingerprint:", env!("FUSER_RUNTIME_FINGERPRINT"), ";");

/// Keeps the marker's bytes in the static library.
#[used]
static FINGERPRINT_MARKER: &str = FINGERPRINT;

/// Sets the thread count of the runtime linked into a cached model library (the JIT
/// calls `set_threads` of fuser's own copy instead).
#[unsafe(no_mangle)]
pub extern "C" fn fuser_runtime_set_threads(threads: i64) {
    set_threads(threads.max(0) as usize);
}
