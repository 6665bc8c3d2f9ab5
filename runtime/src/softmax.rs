//! Softmax along the last axis of an f32 tensor: `exp(x - max) / Σ exp(x - max)` per
//! row, with the exponentials from [`crate::vector_math`] so the row loops vectorize
//! (the op-by-op lowering calls the C library's `expf` twice per element).
//!
//! Each row's max and sum are taken over 16 lanes (element `i` into lane `i % 16`), then
//! the lanes folded in halves ([`fold_halves`]): a fixed order, the same for every thread
//! count. The exponentials
//! are f32 arithmetic ([`crate::vector_math::exp_f32`], within about 2 ulps); the sum is
//! in f64, and each output is rounded once from `e · (1 / sum)` in f64 (an f64 ulp or two
//! from `e / sum`). The exponentials were f64 rounded once until their time mattered: the
//! BERT layer's softmax (12×128 rows of 128) took 0.23–0.30 ms of its 15 (`fuser bench
//! target/bench/bert_base_layer.onnx --threads 2 --profile`), and 2.5 times
//! the time it takes now (`bench/interleaved_ort.py` on `bench/op_models.py`'s `softmax`,
//! `--versus` the build before). NaN propagates, and a row whose max is infinite gives NaN, as the
//! formula does.

use crate::fused::maximum;
use crate::vector_math::{LANES, fold_halves};

/// The symbol of the f32 softmax.
pub const SOFTMAX_F32: &str = "fuser_softmax_f32";
/// Its number of arguments: input, output, rows, columns.
pub const SOFTMAX_F32_ARITY: usize = 4;

#[inline(always)]
fn softmax_row_body(x: &[f32], y: &mut [f32]) {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (m, &v) in lanes.iter_mut().zip(chunk) {
            *m = maximum(*m, v);
        }
    }
    for (m, &v) in lanes.iter_mut().zip(tail) {
        *m = maximum(*m, v);
    }
    let max = fold_halves(lanes, maximum);
    for (o, &v) in y.iter_mut().zip(x) {
        *o = crate::vector_math::exp_f32(v - max);
    }
    // One division a row: a division per element (8 lanes of f64 at a time) was a large
    // part of the row's time.
    let inverse = 1.0 / crate::vector_math::lane_sum(y, |e| e);
    for o in y.iter_mut() {
        *o = (*o as f64 * inverse) as f32;
    }
}

crate::fused::dispatch!(softmax_row, softmax_row_avx512, softmax_row_body, (x: &[f32], y: &mut [f32]));

/// Softmax of each of `rows` rows of `cols` values at `input` into `output` (dense,
/// row-major, not overlapping).
///
/// # Safety
/// `input` and `output` must address `rows · cols` f32 values each.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fuser_softmax_f32(input: i64, output: i64, rows: i64, cols: i64) {
    let (rows, cols) = (rows.max(0) as usize, cols.max(0) as usize);
    if rows == 0 || cols == 0 {
        return;
    }
    // SAFETY: the caller passes buffers of `rows · cols` values that do not overlap.
    let (x, y) = unsafe {
        (
            std::slice::from_raw_parts(input as *const f32, rows * cols),
            std::slice::from_raw_parts_mut(output as *mut f32, rows * cols),
        )
    };
    crate::microkernels::for_each_row(x, y, cols, softmax_row);
}

#[cfg(test)]
mod tests {
    use super::fuser_softmax_f32;

    fn softmax(x: &[f32], cols: usize) -> Vec<f32> {
        let mut y = vec![0f32; x.len()];
        // SAFETY: both buffers hold `x.len()` values.
        unsafe {
            fuser_softmax_f32(
                x.as_ptr() as i64,
                y.as_mut_ptr() as i64,
                (x.len() / cols) as i64,
                cols as i64,
            )
        };
        y
    }

    /// Rows of many lengths (the 16 lanes' tails) and spreads, against the formula in f64
    /// from the f32 differences `x - max` (the op's type: that rounding, up to 4e-6 of the
    /// result where `x - max` is near -100, is the formula's): every output within 5e-7
    /// relative (about 4 ulps) where it is a normal f32.
    #[test]
    fn rows_match_the_formula_in_f64() {
        let mut worst = 0f64;
        for (cols, spread) in [
            (1usize, 1.0f64),
            (7, 3.0),
            (16, 10.0),
            (37, 30.0),
            (128, 8.0),
            (300, 60.0),
        ] {
            let points = crate::vector_math::tests::random_points(cols as u64 + 1, -spread, spread);
            let x = &points[..cols * 50];
            let y = softmax(x, cols);
            for (row, out) in x.chunks(cols).zip(y.chunks(cols)) {
                let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                let exp = |v: f32| libm::exp((v - max) as f64);
                let sum: f64 = row.iter().map(|&v| exp(v)).sum();
                for (&v, &got) in row.iter().zip(out) {
                    let want = exp(v) / sum;
                    if want >= f32::MIN_POSITIVE as f64 {
                        worst = worst.max((got as f64 - want).abs() / want);
                    }
                }
            }
        }
        eprintln!("softmax: largest relative error {worst:.2e}");
        assert!(worst < 5e-7, "relative error {worst:e}");
    }

    #[test]
    fn nan_and_infinite_rows_follow_the_formula() {
        let y = softmax(&[1.0, f32::NAN, 2.0, 0.5, 1.0, 2.0], 3);
        assert!(y[..3].iter().all(|v| v.is_nan()));
        assert!(y[3..].iter().all(|v| v.is_finite()));
        let y = softmax(&[f32::INFINITY, 0.0, f32::NEG_INFINITY, 0.0], 2);
        assert!(y[..2].iter().all(|v| v.is_nan()));
        assert_eq!(&y[2..], &[0.0, 1.0]);
    }
}
