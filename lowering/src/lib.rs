//! Lowering and emission. Today: translation of a module already in the llvm dialect to
//! LLVM IR text (`fuser-translate --to llvm-ir`). The CPU, GPU and Ascend lowerings
//! build on this crate.

mod llvm_ir;

pub use llvm_ir::{TranslateError, translate_to_llvm_ir};
