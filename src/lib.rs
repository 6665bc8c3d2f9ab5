//! fuser's embedding API. Another compiler that already has a melior `Context` uses
//! this crate to add fuser's dialects and passes to it and to run pipelines that mix
//! fuser's passes, upstream MLIR passes and its own:
//!
//! ```text
//! let context = melior::Context::new();
//! fuser::register(&context)?;                        // dialects + upstream passes
//! let manager = melior::pass::PassManager::new(&context);
//! fuser::add_pipeline(&manager.as_operation_pass_manager(),
//!     "builtin.module(func.func(my-pass, graph-simplify, canonicalize))",
//!     &[fuser::ExtraPass { flag: "my-pass", create: &|_| Ok(my_pass()) }])?;
//! ```
//! `examples/embedding` is a complete, tested program.

pub use fuser_dialects as dialects;
pub use fuser_lowering as lowering;
pub use fuser_passes as passes;
pub use fuser_passes::{ExtraPass, PassOptions, PipelineError, PipelineOptions};

use melior::{
    Context,
    ir::{Module, operation::OperationLike},
    pass::OperationPassManager,
};

/// Why fuser could not be set up in a context.
pub type RegisterError = fuser_dialects::context::LoadError;

/// Registers everything fuser needs in an existing context: the upstream dialects and
/// LLVM translations, every upstream pass (for textual pipelines), and fuser's
/// dialects (graph, ftensor, hw, cann).
pub fn register(context: &Context) -> Result<(), RegisterError> {
    fuser_dialects::register_upstream(context);
    fuser_dialects::load_fuser_dialects(context)
}

/// Adds a textual pipeline to `manager`, where every fuser pass, every upstream pass and
/// the given `extra` passes may be named. fuser's Rust verifier runs after each element.
pub fn add_pipeline(manager: &OperationPassManager, pipeline: &str, extra: &[ExtraPass]) -> Result<(), PipelineError> {
    fuser_passes::add_pipeline_with_extra(manager, pipeline, PipelineOptions { verify_each: true }, extra)
}

/// Runs fuser's Rust verifier (element types, attribute sets, static shapes) on a module.
/// Errors are emitted through the context's diagnostic handlers.
pub fn verify(module: &Module) -> bool {
    module.as_operation().verify() && fuser_dialects::verify_fuser_ops(module.as_operation())
}
