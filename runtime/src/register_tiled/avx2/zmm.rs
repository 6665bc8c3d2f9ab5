//! [`super::block`]'s whole-width blocks (16 columns) in one 512-bit vector a row, on a
//! CPU with AVX-512F that runs the AVX2 tier (AMD Zen 4:
//! [`crate::vector_width::zmm_on_avx2_tier`]).
//!
//! Zen 4 does a 512-bit multiply-add as two 256-bit halves, so a step's 6 multiply-adds
//! here take as long as the 12 of the 256-bit block; they are half the instructions, with
//! one load of B's row instead of two. 6 accumulators cover the multiply-add's latency
//! (4 cycles at one a cycle). Each output is the same fused multiply-add a step in the
//! same order: the same bits.

use std::arch::x86_64::*;

/// As [`super::block`] with `V = 2` (16 columns).
///
/// # Safety
/// As [`super::block`], on a CPU with AVX-512F.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn block<const R: usize>(
    steps: usize,
    a: &[*const f32; R],
    a_col: isize,
    b: *const f32,
    dst: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    // SAFETY (every load and store): inside the buffers, as the caller promises.
    unsafe {
        let mut acc: [__m512; R] = match accumulate {
            true => std::array::from_fn(|i| _mm512_loadu_ps(dst.add(i * ldc))),
            false => [_mm512_setzero_ps(); R],
        };
        let mut b = b;
        for k in 0..steps as isize {
            let x = _mm512_loadu_ps(b);
            for (sum, &a_row) in acc.iter_mut().zip(a) {
                *sum = _mm512_fmadd_ps(_mm512_set1_ps(*a_row.offset(k * a_col)), x, *sum);
            }
            b = b.add(super::COLUMNS);
        }
        for (i, &sum) in acc.iter().enumerate() {
            _mm512_storeu_ps(dst.add(i * ldc), sum);
        }
    }
}
