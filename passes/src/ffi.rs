//! The one pass-manager C API call melior 0.27 lacks.
//!
//! # Safety
//! `add_upstream_pipeline` passes a valid pass manager and a callback whose user data is
//! a `String` that outlives the call.

use melior::{StringRef, pass::OperationPassManager};
use mlir_sys::{MlirStringRef, mlirOpPassManagerAddPipeline};
use std::ffi::c_void;

unsafe extern "C" fn collect_error(message: MlirStringRef, data: *mut c_void) {
    // SAFETY: `data` is the `&mut String` handed to `mlirOpPassManagerAddPipeline` below,
    // and `message` is a valid string ref for the duration of the callback.
    unsafe {
        let out = &mut *(data as *mut String);
        if let Ok(text) = StringRef::from_raw(message).as_str() {
            out.push_str(text);
        }
    }
}

/// Adds upstream pipeline elements (`canonicalize,cse` or `func.func(cse)`) to `manager`.
/// An error callback is always given: with a null one, a parse error aborts the process.
pub fn add_upstream_pipeline(manager: &OperationPassManager, elements: &str) -> Result<(), String> {
    let mut error = String::new();
    // SAFETY: see the module note; `elements` outlives the call.
    let result = unsafe {
        mlirOpPassManagerAddPipeline(
            manager.to_raw(),
            StringRef::new(elements).to_raw(),
            Some(collect_error),
            &mut error as *mut String as *mut c_void,
        )
    };
    if result.value != 0 {
        Ok(())
    } else {
        Err(error.trim().to_string())
    }
}

/// Turns on MLIR's pass timing report (printed to stderr when the manager is dropped).
pub fn enable_timing(manager: &melior::pass::PassManager) {
    // SAFETY: the manager is valid for the call.
    unsafe { mlir_sys::mlirPassManagerEnableTiming(manager.to_raw()) }
}
