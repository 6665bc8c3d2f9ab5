//! Gelu with erf, `0.5·x·(1 + erf(x/√2))`, as straight-line arithmetic that LLVM
//! vectorizes: the C library's `erff` is a call per element, which made the Gelu after
//! a transformer's FFN matmul cost as much as the matmul itself.
//!
//! Computed in f64 and rounded once to f32, with `u = x/√2`:
//! - `|u| < 0.5`: `1 + erf(u)` with erf's Taylor series to `u¹⁵` (truncation below 1e-9);
//! - `u ≥ 0.5`: `2 - erfc(u)`; `u ≤ -0.5`: `erfc(-u)`, so `1 + erf(u)` keeps its relative
//!   accuracy where it is tiny;
//! - `erfc(z) = t·exp(-z² + G(t))`, `t = 1/(1 + z/2)`, with `G` a degree-9 polynomial
//!   fitted by `scripts/fit_erfc.py` (relative error 2.2e-9 on `z ∈ [0.5, 11]`);
//!   `erfc(z) = 0` beyond `z = 11`, where Gelu rounds to 0 in f32 anyway;
//! - `exp` from [`crate::vector_math`].
//!
//! The runtime's tests measure the result against `libm`'s f64 `erf`/`erfc` and require
//! 2e-7 relative; the largest error they find is 6.1e-8, the final rounding to f32. NaN
//! propagates, `+∞` gives `+∞` and `-∞` gives NaN (`-∞ · 0`), as
//! `0.5·x·(1 + erff(x/√2))` does.

use crate::vector_math::{exp, polynomial};

/// `G(t)`, lowest degree first (printed by `scripts/fit_erfc.py`).
const ERFC_G: [f64; 10] = [
    -1.2655346717548068,
    1.0006749923242961,
    0.3662410844683483,
    0.14810607838973125,
    -0.3872136879158978,
    0.7702251685475838,
    -1.890965647286483,
    2.198370241232047,
    -1.1939140445500704,
    0.2540425849284178,
];

/// `erfc(z)` for `z ≥ 0.5` (any `z ≥ 0` gives a value; only `z ≥ 0.5` is accurate).
#[inline(always)]
fn erfc(z: f64) -> f64 {
    let clamped = z.clamp(0.5, 11.0);
    let t = 1.0 / (1.0 + 0.5 * clamped);
    let value = t * exp((-clamped).mul_add(clamped, polynomial(t, &ERFC_G)));
    if z > 11.0 { 0.0 } else { value }
}

/// `1 + erf(u)`, accurate relative to itself (see the module docs).
#[inline(always)]
fn one_plus_erf(u: f64) -> f64 {
    // erf(u) = 2/√π · Σ (-1)ⁿ u^(2n+1) / (n!·(2n+1)), n ≤ 7.
    const TWO_OVER_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;
    const SERIES: [f64; 8] = [
        TWO_OVER_SQRT_PI,
        -TWO_OVER_SQRT_PI / 3.0,
        TWO_OVER_SQRT_PI / 10.0,
        -TWO_OVER_SQRT_PI / 42.0,
        TWO_OVER_SQRT_PI / 216.0,
        -TWO_OVER_SQRT_PI / 1320.0,
        TWO_OVER_SQRT_PI / 9360.0,
        -TWO_OVER_SQRT_PI / 75600.0,
    ];
    let small = u.mul_add(polynomial(u * u, &SERIES), 1.0);
    let tail = erfc(u.abs());
    // Selects, not branches: every lane computes both forms.
    if u.abs() < 0.5 {
        small
    } else if u > 0.0 {
        2.0 - tail
    } else {
        tail
    }
}

/// `0.5·x·(1 + erf(x/√2))`.
#[inline(always)]
pub fn gelu_erf(x: f32) -> f32 {
    let x = x as f64;
    (0.5 * x * one_plus_erf(x * std::f64::consts::FRAC_1_SQRT_2)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector_math::tests::{random_points, worst};

    /// The exact value, from libm's f64 erf/erfc (each within an f64 ulp or so).
    fn exact(x: f32) -> f64 {
        let u = x as f64 / std::f64::consts::SQRT_2;
        let one_plus_erf = if u < 0.0 { libm::erfc(-u) } else { 1.0 + libm::erf(u) };
        0.5 * x as f64 * one_plus_erf
    }

    #[test]
    fn gelu_erf_is_within_2e_7_relative() {
        // Points over the range where Gelu is not 0 or x in f32, plus a dense sweep
        // around the switch points |u| = 0.5 and 11.
        let mut points = random_points(0x9E37_79B9_7F4A_7C15, -20.0, 10.0);
        for centre in [0.5f32, -0.5, 11.0, -11.0].map(|u| u * std::f32::consts::SQRT_2) {
            points.extend((-1000..=1000).map(|k| centre + k as f32 * 1e-4));
        }
        let (error, at) = worst(&points, gelu_erf, |x| exact(x as f32));
        eprintln!("gelu_erf: largest relative error {error:.2e} at {at}");
        assert!(error < 2e-7, "largest relative error {error:e} at x = {at}");
    }

    #[test]
    fn gelu_erf_special_values_follow_the_formula() {
        assert!(gelu_erf(f32::NAN).is_nan());
        assert_eq!(gelu_erf(f32::INFINITY), f32::INFINITY);
        // -∞ · (1 + erf(-∞)) = -∞ · 0.
        assert!(gelu_erf(f32::NEG_INFINITY).is_nan());
        assert_eq!(gelu_erf(0.0), 0.0);
        assert_eq!(gelu_erf(-30.0), 0.0);
        assert_eq!(gelu_erf(30.0), 30.0);
    }
}
