//! Gelu with erf, `0.5·x·(1 + erf(x/√2))`, as straight-line f32 arithmetic that LLVM
//! vectorizes: the C library's `erff` is a call per element, which made the Gelu after
//! a transformer's FFN matmul cost as much as the matmul itself.
//!
//! With `u = x/√2`:
//! - `|u| < 0.5`: `1 + erf(u)` with erf's Taylor series to `u¹⁵` (truncation below 1e-9);
//! - `u ≥ 0.5`: `2 - erfc(u)`; `u ≤ -0.5`: `erfc(-u)`, so `1 + erf(u)` keeps its relative
//!   accuracy where it is tiny;
//! - `erfc(z) = t·exp(-z² + G(t))`, `t = 1/(1 + z/2)`, with `G` a degree-9 polynomial
//!   fitted by `scripts/fit_erfc.py` (relative error 2.2e-9 on `z ∈ [0.5, 11]`);
//!   `erfc(z) = 0` beyond `z = 11`, where Gelu rounds to 0 in f32 anyway. `z²` is taken
//!   as `x²/2` with `x²` split into an exact part and a small rest, and `exp` is reduced by
//!   `n·ln 2` in two parts, so the large exponent loses no accuracy; the result's `2ⁿ` is
//!   applied last, so that a subnormal result is rounded once.
//!
//! It used to be computed in f64 and rounded once (6.1e-8 relative at worst); in f32 it
//! takes 2.3–2.8 instead of 6.8 ns a value on AVX2 (`gelu_timing`), and BERT's FFN Gelu about
//! a third of the time. The runtime's tests measure the result against `libm`'s f64
//! `erf`/`erfc` and require 6e-7 relative (about 4 ulps); the largest error they find is
//! 4.4e-7, where `erfc` is small. NaN propagates, `+∞` gives `+∞` and `-∞` gives NaN
//! (`-∞ · 0`), as `0.5·x·(1 + erff(x/√2))` does.

use crate::vector_math::polynomial_f32;

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

/// `G(t)` in f32 (the coefficients above, each rounded to f32).
const ERFC_G_F32: [f32; 10] = {
    let mut out = [0f32; 10];
    let mut i = 0;
    while i < 10 {
        out[i] = ERFC_G[i] as f32;
        i += 1;
    }
    out
};

/// `erf(u)/u = 2/√π · Σ (-1)ⁿ u²ⁿ / (n!·(2n+1))`, `n ≤ 7`, as a polynomial in `u²`.
const ERF_SERIES: [f32; 8] = {
    const TWO_OVER_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;
    let divisors = [1.0, -3.0, 10.0, -42.0, 216.0, -1320.0, 9360.0, -75600.0];
    let mut out = [0f32; 8];
    let mut i = 0;
    while i < 8 {
        out[i] = (TWO_OVER_SQRT_PI / divisors[i]) as f32;
        i += 1;
    }
    out
};

/// `e^(big + small) = p · 2ⁿ`: `(p, n)`, for an exact `big` in `[-122, 0]` (`-s²/2` with `s`
/// a value of 12 bits, so `big - n·LN2_HIGH` is exact for the `|n| < 2⁸` it gives) and
/// `|small| < 2`. `n` is returned apart, so that a caller can scale by a `2ⁿ` below f32's
/// normal range.
#[inline(always)]
fn exp_parts(big: f32, small: f32) -> (f32, i32) {
    use crate::vector_math::{
        EXP_ROUND_F32 as ROUND, EXP_TAYLOR_F32 as TAYLOR, LN2_HIGH_F32 as LN2_HIGH, LN2_LOW_F32 as LN2_LOW,
    };
    let shifted = (big + small).mul_add(std::f32::consts::LOG2_E, ROUND);
    let n = shifted - ROUND;
    // big - n·LN2_HIGH is exact (both are near each other, or n is 0), then the small terms.
    let r = (-n).mul_add(LN2_HIGH, big) + (-n).mul_add(LN2_LOW, small);
    // `n` as an integer from the sum's low bits (a float-to-int cast would not vectorize).
    let n_int = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    (polynomial_f32(r, &TAYLOR), n_int)
}

/// `v · 2ⁿ` for `n` in `[-190, 63]`, rounded once (to a subnormal or 0 where the result is
/// that small).
#[inline(always)]
fn scale(v: f32, n: i32) -> f32 {
    let power = |e: i32| f32::from_bits(((e + 127) as u32) << 23);
    // 2^(n + 64) is normal; the product by 2^-64 is exact unless it falls below the normal
    // range, where it rounds once.
    (v * power(n + 64)) * power(-64)
}

/// `0.5·x·(1 + erf(x/√2))` in f32 (see the module docs).
#[inline(always)]
pub fn gelu_erf(x: f32) -> f32 {
    use std::f32::consts::{FRAC_1_SQRT_2, SQRT_2};
    let u = x * FRAC_1_SQRT_2;
    let half_x = 0.5 * x;
    // |u| < 0.5: 1 + erf(u) from the series.
    let small = u.mul_add(polynomial_f32(u * u, &ERF_SERIES), 1.0);
    // |u| ≥ 0.5: erfc(z), z = |u|, as t · e^(-a²/2 + G(t)), a = |x| (so z² = a²/2 needs no
    // rounded product by 1/√2). `a` is clamped to z in [0.5, 11]: beyond 11, erfc is below
    // f32's range after the product with x.
    let a = x.abs().clamp(0.5 * SQRT_2, 11.0 * SQRT_2);
    let t = 1.0 / (0.5 * FRAC_1_SQRT_2).mul_add(a, 1.0);
    // a² = s² + (a - s)(a + s), s = a to 12 bits: s² and s²/2 are exact.
    let s = f32::from_bits(a.to_bits() & 0xffff_f000);
    let rest = (a - s) * (a + s);
    let (p, n) = exp_parts(-0.5 * (s * s), (-0.5f32).mul_add(rest, polynomial_f32(t, &ERFC_G_F32)));
    // 1 + erf(u) is 2 - erfc(z) above 0 and erfc(z) below, where the product by x/2 comes
    // before the `2ⁿ` so that a subnormal result is rounded once. Beyond z = 11 erfc is 0
    // (the clamped value times a huge x would not be).
    let tail = scale(if u > 0.0 { t * p } else { half_x * (t * p) }, n);
    let tail = if x.abs() > 11.0 * SQRT_2 { tail * 0.0 } else { tail };
    let value = if u.abs() < 0.5 {
        half_x * small
    } else if u > 0.0 {
        half_x * (2.0 - tail)
    } else {
        tail
    };
    // NaN stays NaN; -∞ gives NaN (-∞ · 0), +∞ gives +∞, as the formula.
    if x.is_nan() || x == f32::NEG_INFINITY {
        x * 0.0
    } else {
        value
    }
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
    fn gelu_erf_is_within_6e_7_relative() {
        // Points over the range where Gelu is not 0 or x in f32, plus a dense sweep
        // around the switch points |u| = 0.5 and 11.
        let mut points = random_points(0x9E37_79B9_7F4A_7C15, -20.0, 10.0);
        for centre in [0.5f32, -0.5, 11.0, -11.0].map(|u| u * std::f32::consts::SQRT_2) {
            points.extend((-1000..=1000).map(|k| centre + k as f32 * 1e-4));
        }
        let (error, at) = worst(&points, gelu_erf, |x| exact(x as f32));
        eprintln!("gelu_erf: largest relative error {error:.2e} at {at}");
        assert!(error < 6e-7, "largest relative error {error:e} at x = {at}");
    }

    #[test]
    fn gelu_erf_special_values_follow_the_formula() {
        assert!(gelu_erf(f32::NAN).is_nan());
        assert_eq!(gelu_erf(f32::INFINITY), f32::INFINITY);
        // -∞ · (1 + erf(-∞)) = -∞ · 0.
        assert!(gelu_erf(f32::NEG_INFINITY).is_nan());
        let bits = |v: f32| v.to_bits();
        assert_eq!(bits(gelu_erf(0.0)), bits(0.0));
        assert_eq!(bits(gelu_erf(-0.0)), bits(-0.0));
        assert_eq!(bits(gelu_erf(-30.0)), bits(-0.0));
        // Far past z = 11 too, where the product with x could lift a clamped erfc.
        assert_eq!(bits(gelu_erf(-1e10)), bits(-0.0));
        assert_eq!(bits(gelu_erf(-f32::MAX)), bits(-0.0));
        assert_eq!(gelu_erf(30.0), 30.0);
        assert_eq!(gelu_erf(1e10), 1e10);
    }
}
