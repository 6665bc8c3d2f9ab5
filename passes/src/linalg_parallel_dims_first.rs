//! `linalg-parallel-dims-first`: the driver of `fuser_lowering::gpu::parallel_dims_first`.

use crate::registry::{PassId, PassInfo, PassOptions, external_pass};
use melior::{
    ir::OperationRef,
    pass::{ExternalPass, Pass},
};

static LINALG_PARALLEL_DIMS_FIRST_PASS_ID: PassId = PassId;

pub const INFO: PassInfo = PassInfo {
    flag: "linalg-parallel-dims-first",
    type_name: "LinalgParallelDimsFirstPass",
    summary: "Reorder the loops of each linalg.generic so that its parallel dimensions come before its reductions",
    description: r#"A reduction over a leading dimension (a softmax over axis 0) is a generic
with iterators `[reduction, parallel]`, which `convert-linalg-to-parallel-loops` makes an
`scf.for` around an `scf.parallel`; only a parallel loop at the top of a kernel is mapped
to GPU blocks and threads, so GPU targets run this pass first: the dimensions are
renamed in every indexing map and `iterator_types` is permuted (parallel dimensions in
their order, then reductions in theirs), which keeps the iteration space and each output
element's order of accumulation. A generic whose body reads loop indices
(`linalg.index`) is left as it is.

Before:
```mlir
linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>],
                iterator_types = ["reduction", "parallel"]}
    ins(%x : memref<6x4xf32>) outs(%sum : memref<4xf32>) { ... }
```
After:
```mlir
linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1, d0)>, affine_map<(d0, d1) -> (d0)>],
                iterator_types = ["parallel", "reduction"]}
    ins(%x : memref<6x4xf32>) outs(%sum : memref<4xf32>) { ... }
```"#,
    options: &[],
    create,
};

fn create(_options: &PassOptions) -> Result<Pass, String> {
    Ok(external_pass(
        &LINALG_PARALLEL_DIMS_FIRST_PASS_ID,
        &INFO,
        |op: OperationRef, _pass: ExternalPass| {
            fuser_lowering::gpu::parallel_dims_first::parallel_dims_first(op);
        },
    ))
}
