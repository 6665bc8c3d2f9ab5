//! Elementary functions as straight-line f64 arithmetic (no branches, and no calls in the
//! loops compiled for AVX2 with FMA or AVX-512, where `mul_add` is an instruction), so
//! LLVM vectorizes the loops that use them; the C library's versions are a call per
//! element. Used where results are rounded to f32, which hides their last bits. The
//! polynomial evaluation comes in f32 too ([`polynomial_f32`], for Gelu).

macro_rules! polynomial_in {
    ($(#[$doc:meta])* $name:ident, $float:ty) => {
        $(#[$doc])*
        #[inline(always)]
        pub fn $name(x: $float, coefficients: &[$float]) -> $float {
            let (x2, x4) = (x * x, (x * x) * (x * x));
            let chain = |j: usize| {
                coefficients
                    .iter()
                    .skip(j)
                    .step_by(4)
                    .rev()
                    .fold(None, |acc: Option<$float>, &c| Some(acc.map_or(c, |acc| acc.mul_add(x4, c))))
                    .unwrap_or(0.0)
            };
            x2.mul_add(x.mul_add(chain(3), chain(2)), x.mul_add(chain(1), chain(0)))
        }
    };
}

polynomial_in!(
    /// The polynomial with `coefficients` (lowest degree first) at `x`, as four interleaved
    /// Horner chains in `x⁴` (coefficients `4i + j` for `j = 0..4`) combined as
    /// `(P₀ + x·P₁) + x²·(P₂ + x·P₃)`: the chain of dependent steps is about a quarter of the
    /// degree long, where plain Horner's is the degree. The functions here are long dependent
    /// chains, and a vectorized loop over them waits on latency, not on the arithmetic units
    /// (Gelu with erf took 1.3x less time per value this way, `gelu_timing`). Each step is a
    /// fused multiply-add: one rounding, and half the latency of a multiply then an add. The
    /// callers run inside functions compiled for AVX-512 or AVX2 with FMA
    /// ([`crate::fused::dispatch`]), where it is one instruction; elsewhere it is a call.
    /// Each chain starts from its highest coefficient (not from `0·x⁴ + c`, which LLVM may
    /// not fold away without fast-math).
    polynomial,
    f64
);
polynomial_in!(
    /// [`polynomial`] in f32.
    polynomial_f32,
    f32
);

/// Lanes of the row loops' sums and maxima ([`lane_sum`], the softmax's max).
pub(crate) const LANES: usize = 16;

/// The sum of `f(v)` over `x` in f64, in 16 lanes (element `i` into lane `i % 16`), then
/// the lanes folded in halves ([`fold_halves`]): a fixed order, the same for every thread
/// count, that vectorizes where one running sum is a chain of dependent adds.
#[inline(always)]
pub fn lane_sum(x: &[f32], f: impl Fn(f64) -> f64) -> f64 {
    let mut sums = [0.0f64; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (s, &v) in sums.iter_mut().zip(chunk) {
            *s += f(v as f64);
        }
    }
    for (s, &v) in sums.iter_mut().zip(tail) {
        *s += f(v as f64);
    }
    fold_halves(sums, |a, b| a + b)
}

/// The lanes folded by `f` in halves (lane `i` with lane `i + 8`, then with `i + 4`, ...):
/// a fixed order whose steps are vector operations. Folded lane by lane, the two chains of
/// dependent scalar steps of the softmax's max and sum took a 128-value row 1/0.946 of the
/// time (`fuser bench --ab` on `bench/op_models.py`'s `softmax`, two runs).
#[inline(always)]
pub(crate) fn fold_halves<T: Copy>(mut lanes: [T; LANES], f: impl Fn(T, T) -> T) -> T {
    let mut width = LANES / 2;
    while width > 0 {
        for i in 0..width {
            lanes[i] = f(lanes[i], lanes[i + width]);
        }
        width /= 2;
    }
    lanes[0]
}

/// `e^y` to about 1e-13 relative (1e-15 near 0, less as `|y|` grows); `y` is clamped to `[-708, 709]` (beyond, `e^y` is 0 or
/// infinite in f32 anyway), NaN stays NaN.
#[inline(always)]
pub fn exp(y: f64) -> f64 {
    // Adding 1.5·2⁵² rounds `y/ln2` to the nearest integer `n`, which then sits in the
    // low bits of the sum's representation (and survives the shift into the exponent).
    const ROUND: f64 = 6755399441055744.0;
    let y = y.clamp(-708.0, 709.0);
    let shifted = y.mul_add(std::f64::consts::LOG2_E, ROUND);
    let n = shifted - ROUND;
    let r = (-n).mul_add(std::f64::consts::LN_2, y);
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

/// Adding this (1.5·2²³) to an f32 of magnitude below 2²² rounds it to the nearest integer,
/// which then lies in the sum's low bits (`exp`'s range reduction in f32).
pub(crate) const EXP_ROUND_F32: f32 = 12582912.0;
/// ln 2 in two parts: `n·LN2_HIGH_F32` is exact for `|n| < 2⁸`.
pub(crate) const LN2_HIGH_F32: f32 = 0.693_359_4;
pub(crate) const LN2_LOW_F32: f32 = -2.121_944_4e-4;
/// `e^r = Σ rᵏ/k!`, `k ≤ 7`: the first term left out is below 1e-8 for `|r| ≤ 0.4`.
pub(crate) const EXP_TAYLOR_F32: [f32; 8] = [
    1.0,
    1.0,
    0.5,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
];

/// `e^y` in f32 arithmetic, within about 2 f32 ulps (the runtime's test holds it to 3e-7
/// relative of libm's f64 `exp` over [-87, 88], and below to that plus one subnormal
/// step): `y = n·ln2 + r` with `ln2` in two parts (`n·LN2_HIGH` is exact for the `|n| ≤
/// 150` that `y`'s clamp to `[-104, 89]` leaves), `e^r` by its Taylor series to `r⁷`
/// (the first term left out is below 1e-8 for `|r| ≤ ln2/2`), then `2ⁿ` in two factors so
/// that a result below the normal range is rounded once. NaN stays NaN; beyond the clamp
/// the result is 0 or infinite, as f32's `e^y` is. For the row softmax, whose f64
/// exponentials took most of its time.
#[inline(always)]
pub fn exp_f32(y: f32) -> f32 {
    // `clamp` keeps a NaN (where `max`/`min` would drop it).
    let y = y.clamp(-104.0, 89.0);
    let shifted = y.mul_add(std::f32::consts::LOG2_E, EXP_ROUND_F32);
    let n = shifted - EXP_ROUND_F32;
    let r = (-n).mul_add(LN2_LOW_F32, (-n).mul_add(LN2_HIGH_F32, y));
    // `n` as an integer from the sum's low bits (a float-to-int cast would not vectorize).
    let n = (shifted.to_bits() as i32).wrapping_sub(EXP_ROUND_F32.to_bits() as i32);
    let power = |e: i32| f32::from_bits(((e + 127) as u32) << 23);
    // 2^(n/2 rounded down) · 2^(the rest): both normal for n in [-150, 129], and the
    // second product rounds once where the result is subnormal.
    let half = n >> 1;
    (polynomial_f32(r, &EXP_TAYLOR_F32) * power(half)) * power(n - half)
}

/// The logistic function `1 / (1 + e^-x)` of an f32, computed in f64 and rounded once.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    (1.0 / (1.0 + exp(-(x as f64)))) as f32
}

/// `tanh` of an f32, computed in f64 and rounded once: its odd Taylor series to `x¹³`
/// for `|x| < 1/8` (where `1 - 2/(e^2x + 1)` would lose relative accuracy), that form
/// elsewhere.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    const SERIES: [f64; 7] = [
        1.0,
        -1.0 / 3.0,
        2.0 / 15.0,
        -17.0 / 315.0,
        62.0 / 2835.0,
        -1382.0 / 155925.0,
        21844.0 / 6081075.0,
    ];
    let x = x as f64;
    let small = x * polynomial(x * x, &SERIES);
    let large = 1.0 - 2.0 / (exp(2.0 * x) + 1.0);
    (if x.abs() < 0.125 { small } else { large }) as f32
}

#[cfg(test)]
pub(crate) mod tests {
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

    /// 200,000 deterministic pseudo-random points in `[low, high)` (xorshift from `seed`).
    pub(crate) fn random_points(seed: u64, low: f64, high: f64) -> Vec<f32> {
        let mut state = seed;
        (0..200_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ((state >> 11) as f64 / (1u64 << 53) as f64 * (high - low) + low) as f32
            })
            .collect()
    }

    /// Random points over [-range, range], plus a dense sweep near 0.
    fn points(range: f64) -> Vec<f32> {
        let mut points = random_points(0x2545_F491_4F6C_DD1D, -range, range);
        points.extend((-2000..=2000).map(|k| k as f32 * 1e-4));
        points.extend([1e-30, -1e-30, 1e-8, 0.125, -0.125, 0.12499999]);
        points
    }

    /// Largest relative error of `f` against `exact` (f64) over `points`, with the
    /// smallest normal f32 as the floor of the scale (values below it are subnormal).
    pub(crate) fn worst(points: &[f32], f: impl Fn(f32) -> f32, exact: impl Fn(f64) -> f64) -> (f64, f32) {
        let mut worst = (0.0f64, 0.0f32);
        for &x in points {
            let (got, want) = (f(x) as f64, exact(x as f64));
            let error = (got - want).abs() / want.abs().max(f32::MIN_POSITIVE as f64);
            if error > worst.0 {
                worst = (error, x);
            }
        }
        worst
    }

    #[test]
    fn sigmoid_and_tanh_are_within_2e_7_relative() {
        let points = points(40.0);
        let (error, at) = worst(&points, super::sigmoid, |x| 1.0 / (1.0 + libm::exp(-x)));
        eprintln!("sigmoid: largest relative error {error:.2e} at {at}");
        assert!(error < 2e-7, "sigmoid: relative error {error:e} at {at}");
        let (error, at) = worst(&points, super::tanh, libm::tanh);
        eprintln!("tanh: largest relative error {error:.2e} at {at}");
        assert!(error < 2e-7, "tanh: relative error {error:e} at {at}");
    }

    #[test]
    fn exp_f32_is_within_3e_7_relative() {
        let mut points = random_points(0x9E37_79B9_7F4A_7C15, -87.0, 88.0);
        points.extend((-3000..=3000).map(|k| k as f32 * 1e-3));
        let (error, at) = worst(&points, super::exp_f32, libm::exp);
        eprintln!("exp_f32: largest relative error {error:.2e} at {at}");
        assert!(error < 3e-7, "exp_f32: relative error {error:e} at {at}");
        // Below the normal range: the same relative error, and the rounding to a subnormal
        // (one subnormal step).
        for y in random_points(7, -103.9, -87.4) {
            let (got, want) = (super::exp_f32(y) as f64, libm::exp(y as f64));
            let step = f32::from_bits(1) as f64;
            assert!(
                (got - want).abs() <= 3e-7 * want + step,
                "exp_f32({y}) = {got}, want {want}"
            );
        }
    }

    #[test]
    fn exp_f32_special_values() {
        use super::exp_f32;
        assert!(exp_f32(f32::NAN).is_nan());
        assert_eq!((exp_f32(f32::NEG_INFINITY), exp_f32(-200.0)), (0.0, 0.0));
        assert_eq!((exp_f32(f32::INFINITY), exp_f32(100.0)), (f32::INFINITY, f32::INFINITY));
        assert_eq!(exp_f32(0.0), 1.0);
    }

    #[test]
    fn sigmoid_and_tanh_special_values() {
        use super::{sigmoid, tanh};
        assert!(sigmoid(f32::NAN).is_nan() && tanh(f32::NAN).is_nan());
        assert_eq!((sigmoid(f32::INFINITY), sigmoid(f32::NEG_INFINITY)), (1.0, 0.0));
        assert_eq!((tanh(f32::INFINITY), tanh(f32::NEG_INFINITY)), (1.0, -1.0));
        assert_eq!((tanh(0.0), sigmoid(0.0)), (0.0, 0.5));
    }
}
