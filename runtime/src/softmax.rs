//! Softmax along the last axis of an f32 tensor: `exp(x - max) / Σ exp(x - max)` per
//! row, with the exponentials from [`crate::vector_math`] so the row loops vectorize
//! (the op-by-op lowering calls the C library's `expf` twice per element).
//!
//! Each row's max and sum are taken over 16 lanes (element `i` into lane `i % 16`), then
//! the lanes in order: a fixed order, the same for every thread count. Exponentials and
//! the sum are in f64; each output is rounded once from `e · (1 / sum)` in f64 (an f64
//! ulp or two from `e / sum`), after `e` itself was rounded to f32 (so within about 1 ulp
//! of the exact value). NaN propagates, and a row
//! whose max is infinite gives NaN, as the formula does.

use crate::fused::maximum;

/// The symbol of the f32 softmax.
pub const SOFTMAX_F32: &str = "fuser_softmax_f32";
/// Its number of arguments: input, output, rows, columns.
pub const SOFTMAX_F32_ARITY: usize = 4;

const LANES: usize = 16;

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
    let max = lanes.iter().fold(f32::NEG_INFINITY, |a, &b| maximum(a, b));
    for (o, &v) in y.iter_mut().zip(x) {
        *o = crate::vector_math::exp((v - max) as f64) as f32;
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
