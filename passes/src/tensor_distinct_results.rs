//! `tensor-distinct-results`: the driver of `fuser_lowering::make_results_distinct`.

use crate::registry::{PassId, PassInfo, PassOptions, external_pass};
use melior::{
    ir::OperationRef,
    pass::{ExternalPass, Pass},
};

static TENSOR_DISTINCT_RESULTS_PASS_ID: PassId = PassId;

pub const INFO: PassInfo = PassInfo {
    flag: "tensor-distinct-results",
    type_name: "TensorDistinctResultsPass",
    summary: "Copy each tensor a function returns more than once, so that every result is its own buffer",
    description: r#"CSE merges equal results (two empty tensors, two equal constants), and
MLIR 22's `buffer-results-to-out-params` with hoisted allocations crashes on a function
that returns one buffer twice. This pass gives every later occurrence of a returned
static tensor its own `linalg.copy`. Run it before bufferization.

Before:
```mlir
%0 = tensor.empty() : tensor<0xf32>
return %0, %0 : tensor<0xf32>, tensor<0xf32>
```
After:
```mlir
%0 = tensor.empty() : tensor<0xf32>
%1 = tensor.empty() : tensor<0xf32>
%2 = linalg.copy ins(%0 : tensor<0xf32>) outs(%1 : tensor<0xf32>) -> tensor<0xf32>
return %0, %2 : tensor<0xf32>, tensor<0xf32>
```"#,
    options: &[],
    create,
};

fn create(_options: &PassOptions) -> Result<Pass, String> {
    Ok(external_pass(
        &TENSOR_DISTINCT_RESULTS_PASS_ID,
        &INFO,
        |op: OperationRef, pass: ExternalPass| {
            if !fuser_lowering::make_results_distinct(op) {
                pass.signal_failure();
            }
        },
    ))
}
