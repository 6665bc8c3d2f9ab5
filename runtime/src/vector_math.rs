//! Elementary functions as straight-line f64 arithmetic (no calls, no branches), so
//! LLVM vectorizes the loops that use them; the C library's versions are a call per
//! element. Used where results are rounded to f32, which hides their last bits.

/// Horner's rule, lowest degree first.
#[inline(always)]
pub fn polynomial(x: f64, coefficients: &[f64]) -> f64 {
    coefficients.iter().rev().fold(0.0, |acc, &c| acc * x + c)
}

/// `e^y` to about 1e-13 relative (1e-15 near 0, less as `|y|` grows); `y` is clamped to `[-708, 709]` (beyond, `e^y` is 0 or
/// infinite in f32 anyway), NaN stays NaN.
#[inline(always)]
pub fn exp(y: f64) -> f64 {
    // Adding 1.5·2⁵² rounds `y/ln2` to the nearest integer `n`, which then sits in the
    // low bits of the sum's representation (and survives the shift into the exponent).
    const ROUND: f64 = 6755399441055744.0;
    let y = y.clamp(-708.0, 709.0);
    let shifted = y * std::f64::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = y - n * std::f64::consts::LN_2;
    // e^r = Σ r^k / k!, k ≤ 11: the first term left out is below 3e-17 for |r| ≤ ln2/2.
    const TAYLOR: [f64; 12] = [
        1.0,
        1.0,
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5040.0,
        1.0 / 40320.0,
        1.0 / 362880.0,
        1.0 / 3628800.0,
        1.0 / 39916800.0,
    ];
    let scale = f64::from_bits(shifted.to_bits().wrapping_add(1023) << 52);
    polynomial(r, &TAYLOR) * scale
}

#[cfg(test)]
mod tests {
    use super::exp;

    #[test]
    fn exp_matches_the_c_library_to_1e_13() {
        for k in -70_800..=70_899 {
            let y = k as f64 * 0.01 + 0.003;
            let (got, want) = (exp(y), y.exp());
            assert!((got - want).abs() <= 1e-13 * want, "exp({y}) = {got}, want {want}");
        }
        assert!(exp(f64::NAN).is_nan());
        assert!(exp(-1e6) < 1e-300);
    }
}
