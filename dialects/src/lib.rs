//! fuser's dialects, defined in IRDL (`irdl/*.mlir`):
//! - `graph`: ONNX operator semantics on ranked builtin tensors;
//! - `ftensor`: the tensor level (kernels are `func.func` marked `ftensor.kernel`);
//! - `hw`: the hardware level (targets, arenas, launches);
//! - `cann`: an extern dialect mirroring Huawei Ascend's aclnn API.
//!
//! This crate loads them into an MLIR context, generates typed builders and accessors
//! for every graph op from the IRDL file, and verifies what IRDL cannot (element types,
//! exact attribute sets, static shape rules).

pub mod accessors;
pub mod constants;
pub mod context;
pub mod docs;
pub mod eval;
pub mod ffi;
pub mod graph_ops;
pub mod hw_launch;
pub mod semantics;
pub mod spec;
pub mod verify;

pub use context::{create_context, load_fuser_dialects, register_upstream};
/// The melior version fuser is built on, for crates that embed fuser.
pub use melior;
pub use verify::verify_fuser_ops;

/// The attribute that marks a `func.func` as a fused kernel.
pub const KERNEL_ATTRIBUTE: &str = "ftensor.kernel";
