//! `llvm-flatten-constant-globals`: the driver of `fuser_lowering::flatten_constant_globals`.

use crate::registry::{PassId, PassInfo, PassOptions, external_pass};
use melior::{
    ir::OperationRef,
    pass::{ExternalPass, Pass},
};

static LLVM_FLATTEN_CONSTANT_GLOBALS_PASS_ID: PassId = PassId;

pub const INFO: PassInfo = PassInfo {
    flag: "llvm-flatten-constant-globals",
    type_name: "LlvmFlattenConstantGlobalsPass",
    summary: "Store multi-dimensional constant llvm globals (weights) as 1-D arrays",
    description: r#"MLIR translates a nested `!llvm.array` constant to LLVM IR one innermost row
at a time; for the weights of a ResNet-50 that is millions of uniqued LLVM constants, most
of the compile time and memory. A 1-D array with the same elements
translates as one block of bytes. Users only take the global's address (LLVM pointers are
opaque), so nothing else changes. Run it last, on the llvm dialect.

Before:
```mlir
llvm.mlir.global private constant @w(dense<...> : tensor<2x3xf32>) : !llvm.array<2 x array<3 x f32>>
```
After:
```mlir
llvm.mlir.global private constant @w(dense<...> : tensor<6xf32>) : !llvm.array<6 x f32>
```"#,
    options: &[],
    create,
};

fn create(_options: &PassOptions) -> Result<Pass, String> {
    Ok(external_pass(
        &LLVM_FLATTEN_CONSTANT_GLOBALS_PASS_ID,
        &INFO,
        |op: OperationRef, _pass: ExternalPass| {
            fuser_lowering::flatten_constant_globals(op);
        },
    ))
}
