//! `convert-graph-to-linalg`: the driver of `fuser_lowering::graph_to_linalg`, which
//! holds the op-by-op lowerings.

use crate::registry::{PassId, PassInfo, PassOptionInfo, PassOptions, external_pass};
use melior::{
    ir::OperationRef,
    pass::{ExternalPass, Pass},
};

static CONVERT_GRAPH_TO_LINALG_PASS_ID: PassId = PassId;

pub const INFO: PassInfo = PassInfo {
    flag: "convert-graph-to-linalg",
    type_name: "ConvertGraphToLinalgPass",
    summary: "Lower graph ops to upstream linalg, tensor, arith and math ops on tensors",
    description: r#"Replaces every graph op with upstream IR on tensors that computes the same
values as the reference evaluator: elementwise ops become one broadcasting
`linalg.generic`, MatMul/Gemm/Conv become `linalg.matmul`, `linalg.batch_matmul`,
`linalg.conv_2d_nchw_fchw` or a contraction generic, pooling and reductions become
reduction generics, and reshapes become `tensor.collapse_shape`/`expand_shape`.
`graph.constant` becomes `arith.constant`. Shapes must be static. An op (or an attribute
value) with no lowering is reported at its location and the pass fails; nothing is
guessed. `contractions=gpu` makes each fused conv/matmul kernel one tiled
shared-memory `gpu.launch` (GPU targets; `gpu-mma`: f16 ones on NVIDIA tensor cores,
`gpu-mfma`: f16 and bf16 ones on AMD matrix cores);
with `contractions=linalg` nothing calls the CPU runtime.
`graph.weight` is refused: the driver turns weights into constants first.

Before:
```mlir
func.func @f(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = "graph.relu"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}
```
After:
```mlir
func.func @f(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %cst = arith.constant 0.000000e+00 : f32
  %0 = tensor.empty() : tensor<2x3xf32>
  %1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<2x3xf32>) outs(%0 : tensor<2x3xf32>) {
  ^bb0(%in: f32, %out: f32):
    %2 = arith.maximumf %in, %cst : f32
    linalg.yield %2 : f32
  } -> tensor<2x3xf32>
  return %1 : tensor<2x3xf32>
}
```"#,
    options: &[PassOptionInfo {
        name: "contractions",
        default: "runtime",
        help: "how a kernel that is one conv/matmul and its epilogue lowers: `runtime` (one call of the CPU runtime's fused kernel; f32 row softmax a runtime call too), `gpu` (one tiled shared-memory gpu.launch), `gpu-mma` (the same, f16 ones on NVIDIA tensor cores with nvgpu.mma.sync), `gpu-mfma` (f16 and bf16 ones on AMD matrix cores with amdgpu.mfma), `linalg` (op by op; nothing calls the runtime)",
    }],
    create,
};

fn create(options: &PassOptions) -> Result<Pass, String> {
    let name = options.get("contractions").map_or("runtime", String::as_str);
    let contractions = fuser_lowering::Contractions::parse(name).ok_or_else(|| {
        format!("pass 'convert-graph-to-linalg': contractions must be runtime, gpu, gpu-mma, gpu-mfma or linalg, got '{name}'")
    })?;
    Ok(external_pass(
        &CONVERT_GRAPH_TO_LINALG_PASS_ID,
        &INFO,
        move |op: OperationRef, pass: ExternalPass| {
            if !fuser_lowering::convert_graph_to_linalg(op, contractions) {
                pass.signal_failure();
            }
        },
    ))
}
