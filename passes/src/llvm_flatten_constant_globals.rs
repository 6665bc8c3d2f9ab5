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
    summary: "Store constant llvm globals (weights) as 1-D byte arrays",
    description: r#"MLIR translates a nested `!llvm.array` constant to LLVM IR one innermost row
at a time; for the weights of a ResNet-50 that is millions of uniqued LLVM constants, most
of the compile time and memory. A 1-D array with the same elements translates as one
block, and as bytes (`i8`) LLVM's assembler also writes it as one block, where it writes
a float array one element at a time. Users only take the global's address (LLVM pointers
are opaque) and the alignment is kept, so the memory is the same. A splat keeps its
element type (as a 1-D array). Run it last, on the llvm dialect.

Before:
```mlir
llvm.mlir.global private constant @w(dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>) {alignment = 64 : i64} : !llvm.array<2 x array<3 x f32>>
```
After (24 bytes, little-endian):
```mlir
llvm.mlir.global private constant @w(dense<[0, 0, -128, 63, ...]> : tensor<24xi8>) {alignment = 64 : i64} : !llvm.array<24 x i8>
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
