//! `convert-linalg-to-microkernels`: the driver of `fuser_lowering::matmuls_to_microkernels`.

use crate::registry::{PassId, PassInfo, PassOptions, external_pass};
use melior::{
    ir::OperationRef,
    pass::{ExternalPass, Pass},
};

static CONVERT_LINALG_TO_MICROKERNELS_PASS_ID: PassId = PassId;

pub const INFO: PassInfo = PassInfo {
    flag: "convert-linalg-to-microkernels",
    type_name: "ConvertLinalgToMicrokernelsPass",
    summary: "Replace f32 linalg.matmul/batch_matmul on memrefs with calls of fuser's gemm microkernel",
    description: r#"Runs after bufferization, on a module. Each `linalg.matmul` or
`linalg.batch_matmul` on f32 memrefs becomes a call of `fuser_sgemm_f32`, which the
runtime implements with the `gemm` crate (packing, cache blocking, AVX-512, threads over
the output only). Operands are passed as aligned pointer, offset and strides, so strided
and transposed views need no copy; the declaration is added to the module once.

Before:
```mlir
linalg.matmul ins(%a, %b : memref<2x3xf32>, memref<3x4xf32>) outs(%c : memref<2x4xf32>)
```
After:
```mlir
%p0 = memref.extract_aligned_pointer_as_index %a : memref<2x3xf32> -> index
%base, %offset, %sizes:2, %strides:2 = memref.extract_strided_metadata %a : ...
...
call @fuser_sgemm_f32(%batch, %m, %n, %k, %p0, %offset, %zero, %strides#0, %strides#1, ...)
```"#,
    options: &[],
    create,
};

fn create(_options: &PassOptions) -> Result<Pass, String> {
    Ok(external_pass(
        &CONVERT_LINALG_TO_MICROKERNELS_PASS_ID,
        &INFO,
        |op: OperationRef, pass: ExternalPass| {
            if !fuser_lowering::matmuls_to_microkernels(op) {
                pass.signal_failure();
            }
        },
    ))
}
