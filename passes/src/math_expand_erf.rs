//! `math-expand-erf`: the driver of `fuser_lowering::gpu::expand_erf`.

use crate::registry::{PassId, PassInfo, PassOptions, external_pass};
use fuser_dialects::ffi::emit_error;
use melior::{
    ir::{OperationRef, operation::OperationLike},
    pass::{ExternalPass, Pass},
};

static MATH_EXPAND_ERF_PASS_ID: PassId = PassId;

pub const INFO: PassInfo = PassInfo {
    flag: "math-expand-erf",
    type_name: "MathExpandErfPass",
    summary: "Expand f32 math.erf into arithmetic and one math.exp (for GPU targets without an erf routine)",
    description: r#"Each f32 `math.erf` becomes its Taylor series to x⁹ for |x| < 0.25
(error below 1e-9) and Abramowitz & Stegun 7.1.26 elsewhere
(`1 - (a1 t + … + a5 t⁵) e^(-x²)`, `t = 1 / (1 + 0.3275911 |x|)`, absolute error below
1.5e-7), with the sign of x. The ROCm pipeline runs it so that kernels need no device
library: `math.exp` becomes an LLVM intrinsic the AMDGPU backend lowers itself. Other
element types are refused.

Before:
```mlir
%y = math.erf %x : f32
```
After (sketch):
```mlir
%t = arith.divf %one, (1 + p·|x|)
%e = math.exp (-x²)
%y = arith.select (|x| < 0.25), taylor(x), copysign(1 - poly(t)·e, x)
```"#,
    options: &[],
    create,
};

fn create(_options: &PassOptions) -> Result<Pass, String> {
    Ok(external_pass(
        &MATH_EXPAND_ERF_PASS_ID,
        &INFO,
        |op: OperationRef, pass: ExternalPass| {
            if let Err(message) = fuser_lowering::gpu::expand_erf::expand_erf(op) {
                emit_error(op.location(), &format!("math-expand-erf: {message}"));
                pass.signal_failure();
            }
        },
    ))
}
