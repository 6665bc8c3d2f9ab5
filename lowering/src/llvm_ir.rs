//! MLIR llvm dialect → LLVM IR text.
//!
//! # Safety
//! The LLVM C API objects created here (context, module, message) are owned locally and
//! disposed before return; the MLIR module is only read.

use melior::ir::Module;
use mlir_sys::{LLVMContextRef, LLVMModuleRef, mlirTranslateModuleToLLVMIR};
use std::ffi::{CStr, c_char};

// Part of libLLVMCore, which mlir-sys links statically.
unsafe extern "C" {
    fn LLVMContextCreate() -> LLVMContextRef;
    fn LLVMContextDispose(context: LLVMContextRef);
    fn LLVMDisposeModule(module: LLVMModuleRef);
    fn LLVMPrintModuleToString(module: LLVMModuleRef) -> *mut c_char;
    fn LLVMDisposeMessage(message: *mut c_char);
}

/// Why a module could not be translated.
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    /// The diagnostics explaining why were emitted through the context's handler.
    #[error("failed to translate the module to LLVM IR (is it fully in the llvm dialect?)")]
    Failed,
}

/// Translates `module` (llvm dialect only, plus dialects with an LLVM IR translation
/// interface) to LLVM IR text. The context must have the LLVM translations registered
/// (`fuser_dialects::register_upstream` does).
pub fn translate_to_llvm_ir(module: &Module) -> Result<String, TranslateError> {
    // SAFETY: see the module note. The translation result is null on failure, which is
    // checked before printing.
    unsafe {
        let context = LLVMContextCreate();
        let llvm_module = mlirTranslateModuleToLLVMIR(module.as_operation().to_raw(), context);
        if llvm_module.is_null() {
            LLVMContextDispose(context);
            return Err(TranslateError::Failed);
        }
        let message = LLVMPrintModuleToString(llvm_module);
        let text = CStr::from_ptr(message).to_string_lossy().into_owned();
        LLVMDisposeMessage(message);
        LLVMDisposeModule(llvm_module);
        LLVMContextDispose(context);
        Ok(text)
    }
}
