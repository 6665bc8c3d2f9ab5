//! `convert-memref-copy-to-linalg`: the driver of `fuser_lowering::memref_copy_to_linalg`.

use crate::registry::{PassId, PassInfo, PassOptionInfo, PassOptions, external_pass};
use melior::{
    ir::OperationRef,
    pass::{ExternalPass, Pass},
};

static CONVERT_MEMREF_COPY_TO_LINALG_PASS_ID: PassId = PassId;

pub const INFO: PassInfo = PassInfo {
    flag: "convert-memref-copy-to-linalg",
    type_name: "ConvertMemrefCopyToLinalgPass",
    summary: "Rewrite memref.copy as linalg.copy, so that no copy needs MLIR's C runner library",
    description: r#"MLIR lowers a `memref.copy` between non-contiguous memrefs to a call of
`memrefCopy` in `libmlir_c_runner_utils`, a library compiled models must not need. This
pass turns every such copy into a `linalg.copy`, which `convert-linalg-to-loops` lowers
like any other linalg op. Copies between dense (identity-layout) buffers stay: MLIR makes
them a `memcpy`; with `dense=true` (GPU targets, whose copies are kernels) they go too.
Run it after bufferization.

Before:
```mlir
memref.copy %a, %b : memref<4xf32> to memref<4xf32, strided<[2]>>
```
After:
```mlir
linalg.copy ins(%a : memref<4xf32>) outs(%b : memref<4xf32, strided<[2]>>)
```"#,
    options: &[PassOptionInfo {
        name: "dense",
        default: "false",
        help: "also rewrite copies between dense buffers (for GPU targets)",
    }],
    create,
};

fn create(options: &PassOptions) -> Result<Pass, String> {
    let dense_too = match options.get("dense").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(v) => {
            return Err(format!(
                "pass 'convert-memref-copy-to-linalg': dense must be true or false, got '{v}'"
            ));
        }
    };
    Ok(external_pass(
        &CONVERT_MEMREF_COPY_TO_LINALG_PASS_ID,
        &INFO,
        move |op: OperationRef, pass: ExternalPass| {
            if !fuser_lowering::memref_copy_to_linalg(op, dense_too) {
                pass.signal_failure();
            }
        },
    ))
}
