//! The Rust verifier as a pass, so it can run between pipeline elements
//! (`fuser-opt --verify-each`, the default). Not in the registry: users get it implicitly.

use melior::{
    ir::{OperationRef, r#type::TypeId},
    pass::{ExternalPass, Pass, create_external},
};

#[repr(align(8))]
struct PassId;
static VERIFY_PASS_ID: PassId = PassId;

/// A pass that runs `fuser_dialects::verify_fuser_ops` and fails on any error.
pub fn create_verify_pass() -> Pass {
    create_external(
        |op: OperationRef, pass: ExternalPass| {
            if !fuser_dialects::verify_fuser_ops(op) {
                pass.signal_failure();
            }
        },
        TypeId::create(&VERIFY_PASS_ID),
        "FuserVerifyPass",
        "fuser-verify",
        "Run fuser's Rust verifier",
        "",
        &[],
    )
}
