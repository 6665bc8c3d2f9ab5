//! `gpu-tile-parallel-loops`: the driver of `fuser_lowering::gpu::map_loops`.

use crate::registry::{PassId, PassInfo, PassOptionInfo, PassOptions, external_pass};
use fuser_dialects::ffi::emit_error;
use melior::{
    ir::{OperationRef, operation::OperationLike},
    pass::{ExternalPass, Pass},
};

static GPU_TILE_PARALLEL_LOOPS_PASS_ID: PassId = PassId;

pub const INFO: PassInfo = PassInfo {
    flag: "gpu-tile-parallel-loops",
    type_name: "GpuTileParallelLoopsPass",
    summary: "Tile outermost scf.parallel loops into a grid of thread blocks, mapped for convert-parallel-loops-to-gpu",
    description: r#"Each outermost `scf.parallel` with static bounds (what
`convert-linalg-to-parallel-loops` gives) is split into a loop over blocks and a loop over
the threads of a block, with a bounds check, and both get the `mapping` attribute that
upstream `convert-parallel-loops-to-gpu` turns into a `gpu.launch`. The innermost three
dimensions are mapped, innermost to `x` (neighbouring threads touch neighbouring
elements); a block has at most `max-threads` threads, given to the innermost dimension
first; outer dimensions become sequential loops in every thread. Unlike upstream
`scf-parallel-loop-tiling` + `gpu-map-parallel-loops`, each loop gets a shape of its own.
Work outside any parallel loop (a reduction to a scalar is an `scf.for` alone, a rank-0
op a load, arithmetic and a store) first becomes the body of a one-iteration
`scf.parallel`, so it runs as a kernel of one thread instead of staying on the host.

Before:
```mlir
scf.parallel (%i, %j) = (%c0, %c0) to (%c64, %c784) step (%c1, %c1) {
  ... %i, %j ...
}
```
After (sketch):
```mlir
scf.parallel (%bi, %bj) = (%c0, %c0) to (%c1, %c4) step (%c1, %c1) {
  scf.parallel (%ti, %tj) = (%c0, %c0) to (%c1, %c256) step (%c1, %c1) {
    %i = %bi * 1 + %ti ; %j = %bj * 256 + %tj
    scf.if (%i < 64 && %j < 784) { ... %i, %j ... }
  } {mapping = [thread_y, thread_x]}
} {mapping = [block_y, block_x]}
```"#,
    options: &[PassOptionInfo {
        name: "max-threads",
        default: "256",
        help: "threads per block at most",
    }],
    create,
};

fn create(options: &PassOptions) -> Result<Pass, String> {
    let max_threads: i64 = match options.get("max-threads") {
        None => 256,
        Some(v) => v
            .parse()
            .ok()
            .filter(|n| (1..=1024).contains(n))
            .ok_or_else(|| format!("pass 'gpu-tile-parallel-loops': max-threads must be 1 to 1024, got '{v}'"))?,
    };
    Ok(external_pass(
        &GPU_TILE_PARALLEL_LOOPS_PASS_ID,
        &INFO,
        move |op: OperationRef, pass: ExternalPass| {
            if let Err(message) = fuser_lowering::gpu::serial_work::wrap_serial_work(op) {
                emit_error(op.location(), &format!("gpu-tile-parallel-loops: {message}"));
                pass.signal_failure();
                return;
            }
            if let Err(error) = fuser_lowering::gpu::map_loops::tile_parallel_loops(op, max_threads) {
                emit_error(error.location, &format!("gpu-tile-parallel-loops: {}", error.message));
                pass.signal_failure();
            }
        },
    ))
}
