//! `memref-forward-copies`: the driver of `fuser_lowering::forward_copies_to_arguments`.

use crate::registry::{PassId, PassInfo, PassOptions, external_pass};
use melior::{
    ir::OperationRef,
    pass::{ExternalPass, Pass},
};

static MEMREF_FORWARD_COPIES_PASS_ID: PassId = PassId;

pub const INFO: PassInfo = PassInfo {
    flag: "memref-forward-copies",
    type_name: "MemrefForwardCopiesPass",
    summary: "Compute into out-parameters directly instead of copying a buffer into them",
    description: r#"After bufferization with results as out-parameters, a function often fills a
fresh buffer and ends with `memref.copy` of it (or of a reshaped view of it) into its
out-parameter. When the out-parameter has no other use, every user of the buffer comes
before the copy, and element types and counts match, the buffer is replaced by the
argument (or a row-major `memref.reinterpret_cast` of it), and the copy, the reshapes
that fed it, its deallocations and the allocation are removed. Run it after
`buffer-deallocation-pipeline`.

Before:
```mlir
func.func @k(%arg0: memref<4xf32>, %out: memref<2x2xf32>) {
  %alloc = memref.alloc() : memref<4xf32>
  linalg.map ... outs(%alloc : memref<4xf32>)
  %e = memref.expand_shape %alloc [[0, 1]] output_shape [2, 2] : memref<4xf32> into memref<2x2xf32>
  memref.copy %e, %out : memref<2x2xf32> to memref<2x2xf32>
  memref.dealloc %alloc : memref<4xf32>
  return
}
```
After:
```mlir
func.func @k(%arg0: memref<4xf32>, %out: memref<2x2xf32>) {
  %v = memref.reinterpret_cast %out to offset: [0], sizes: [4], strides: [1] : memref<2x2xf32> to memref<4xf32>
  linalg.map ... outs(%v : memref<4xf32>)
  return
}
```"#,
    options: &[],
    create,
};

fn create(_options: &PassOptions) -> Result<Pass, String> {
    Ok(external_pass(
        &MEMREF_FORWARD_COPIES_PASS_ID,
        &INFO,
        |op: OperationRef, _pass: ExternalPass| {
            fuser_lowering::forward_copies_to_arguments(op);
        },
    ))
}
