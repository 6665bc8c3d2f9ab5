//! `math.erf` on f32 as arithmetic and one `math.exp`, for GPU targets whose toolchain
//! has no erf routine at hand (ROCm's device libraries are not part of fuser's build;
//! `math.exp` becomes an LLVM intrinsic the AMDGPU backend lowers itself).
//!
//! Near zero, where erf is nearly linear, the Taylor series to x⁹ (for |x| < 0.25 its
//! error is below 1e-9); elsewhere Abramowitz & Stegun 7.1.26,
//! `1 - (a1 t + … + a5 t⁵) e^(-x²)` with `t = 1 / (1 + p |x|)` (absolute error below
//! 1.5e-7), with the sign of x.

use crate::{ffi, graph_to_linalg::splice};
use fuser_dialects::{accessors::op_name, ffi::nested_operations};
use melior::ir::{OperationRef, ValueLike, operation::OperationLike};
use std::collections::HashMap;

/// The expansion as a function of one f32.
const EXPANSION: &str = "func.func @lowered(%x: f32) -> f32 {
  %ax = math.absf %x : f32
  %x2 = arith.mulf %x, %x : f32
  %c3 = arith.constant -0.333333333 : f32
  %c5 = arith.constant 0.1 : f32
  %c7 = arith.constant -0.0238095238 : f32
  %c9 = arith.constant 0.00462962963 : f32
  %two_over_sqrt_pi = arith.constant 1.12837917 : f32
  %s0 = arith.mulf %x2, %c9 : f32
  %s1 = arith.addf %s0, %c7 : f32
  %s2 = arith.mulf %x2, %s1 : f32
  %s3 = arith.addf %s2, %c5 : f32
  %s4 = arith.mulf %x2, %s3 : f32
  %s5 = arith.addf %s4, %c3 : f32
  %s6 = arith.mulf %x2, %s5 : f32
  %one = arith.constant 1.0 : f32
  %s7 = arith.addf %s6, %one : f32
  %s8 = arith.mulf %x, %s7 : f32
  %small = arith.mulf %s8, %two_over_sqrt_pi : f32
  %p = arith.constant 0.3275911 : f32
  %a1 = arith.constant 0.254829592 : f32
  %a2 = arith.constant -0.284496736 : f32
  %a3 = arith.constant 1.421413741 : f32
  %a4 = arith.constant -1.453152027 : f32
  %a5 = arith.constant 1.061405429 : f32
  %px = arith.mulf %p, %ax : f32
  %d = arith.addf %one, %px : f32
  %t = arith.divf %one, %d : f32
  %h0 = arith.mulf %t, %a5 : f32
  %h1 = arith.addf %h0, %a4 : f32
  %h2 = arith.mulf %t, %h1 : f32
  %h3 = arith.addf %h2, %a3 : f32
  %h4 = arith.mulf %t, %h3 : f32
  %h5 = arith.addf %h4, %a2 : f32
  %h6 = arith.mulf %t, %h5 : f32
  %h7 = arith.addf %h6, %a1 : f32
  %h8 = arith.mulf %t, %h7 : f32
  %nx2 = arith.negf %x2 : f32
  %e = math.exp %nx2 : f32
  %he = arith.mulf %h8, %e : f32
  %large_abs = arith.subf %one, %he : f32
  %large = math.copysign %large_abs, %x : f32
  %quarter = arith.constant 0.25 : f32
  %is_small = arith.cmpf olt, %ax, %quarter : f32
  %r = arith.select %is_small, %small, %large : f32
  return %r : f32
}
";

/// Expands every f32 `math.erf` under `root`; returns how many.
pub fn expand_erf(root: OperationRef) -> Result<usize, String> {
    let context = root.context();
    let mut parsed = HashMap::new();
    let mut count = 0;
    for op in nested_operations(root) {
        if op_name(&op) != "math.erf" {
            continue;
        }
        let ty = op.result(0).map_err(|e| e.to_string())?.r#type().to_string();
        if ty != "f32" {
            return Err(format!("math.erf on {ty}: only f32 is expanded"));
        }
        let lowered = ffi::parse_cached(context, &mut parsed, EXPANSION).ok_or("the erf expansion does not parse")?;
        splice(op, lowered);
        count += 1;
    }
    Ok(count)
}
