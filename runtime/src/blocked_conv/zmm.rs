//! [`super::sum_positions`] in 512-bit vectors, for a unit of four 8-channel vectors (32
//! output channels) on a CPU with AVX-512F that runs the AVX2 tier (AMD Zen 4:
//! [`crate::vector_width`]).
//!
//! Zen 4 does a 512-bit multiply-add as two 256-bit halves, so this does not add
//! multiply-adds a cycle. It needs fewer instructions for them: a step's 32 weights are
//! two vectors, and with 32 registers a group is [`POSITIONS`] positions (16
//! accumulators) instead of 3, so each broadcast input value feeds 32 channels of one
//! position in two multiply-adds, and a group's sums are loaded and stored once a pass
//! for 8 positions' worth of them. The packed weights (`[step][32]`), the tile (`[position][32]`)
//! and the blocked output are laid out as the 256-bit loop has them, and every lane is
//! the same fused multiply-add a step in the same order: the same bits.

use super::{Finish, LANES};
use std::arch::x86_64::*;

/// Positions summed at once: 16 accumulators, two vectors of weights and the positions'
/// broadcast values take 26 of the 32 registers (LLVM loads every broadcast of a step
/// first: with 12 positions, 38 registers, and it spilled accumulators on every step).
pub(super) const POSITIONS: usize = 8;

/// Output channels of a unit: two 512-bit vectors.
const CHANNELS: usize = 32;

/// As [`super::sum_positions`] for 32 channels (`V` = 4), `P` positions.
///
/// # Safety
/// As [`super::sum_positions`], on a CPU with AVX-512F.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
pub(crate) unsafe fn sum_positions<const P: usize>(
    (weights, taps): (&[f32], &[usize]),
    blocked: &[f32],
    at: [usize; P],
    tile: &mut [f32],
    first: bool,
    finish: Option<Finish>,
) {
    debug_assert!(weights.len() >= taps.len() * CHANNELS && tile.len() >= P * CHANNELS);
    let tile = tile.as_mut_ptr();
    // SAFETY (every access): as the caller promises.
    unsafe {
        let mut acc: [[__m512; 2]; P] = match first {
            true => [[_mm512_setzero_ps(); 2]; P],
            false => std::array::from_fn(|p| std::array::from_fn(|h| _mm512_loadu_ps(tile.add(p * CHANNELS + h * 16)))),
        };
        let bases: [*const f32; P] = at.map(|o| blocked.as_ptr().add(o));
        let mut w = weights.as_ptr();
        for &tap in taps {
            let low = _mm512_loadu_ps(w);
            let high = _mm512_loadu_ps(w.add(16));
            for (acc, base) in acc.iter_mut().zip(&bases) {
                let x = _mm512_set1_ps(*base.add(tap));
                acc[0] = _mm512_fmadd_ps(low, x, acc[0]);
                acc[1] = _mm512_fmadd_ps(high, x, acc[1]);
            }
            w = w.add(CHANNELS);
        }
        if let Some(f) = finish {
            // A copy to index by group (as in [`super::sum_positions`]).
            let sums = acc;
            for g in 0..f.groups.min(CHANNELS / LANES) {
                for (p, acc) in sums.iter().enumerate() {
                    f.store(g, p, half(acc[g / 2], g % 2));
                }
            }
            return;
        }
        for (p, acc) in acc.iter().enumerate() {
            for (h, &sum) in acc.iter().enumerate() {
                _mm512_storeu_ps(tile.add(p * CHANNELS + h * 16), sum);
            }
        }
    }
}

/// The low (`which` 0) or high 8 lanes of `v`.
#[target_feature(enable = "avx512f")]
#[inline]
fn half(v: __m512, which: usize) -> __m256 {
    match which {
        0 => _mm512_castps512_ps256(v),
        _ => _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v))),
    }
}

/// [`sum_positions`] for a group of fewer than [`POSITIONS`] positions (`at`).
///
/// # Safety
/// As [`sum_positions`].
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn sum_last_positions(
    pass: (&[f32], &[usize]),
    blocked: &[f32],
    at: &[usize],
    tile: &mut [f32],
    first: bool,
    finish: Option<Finish>,
) {
    macro_rules! counts {
        ($($count:literal)*) => {
            match at.len() {
                0 => {}
                $($count => sum_positions::<$count>(pass, blocked, at.try_into().expect("the count"), tile, first, finish),)*
                _ => unreachable!("a group has at most {} positions", POSITIONS),
            }
        };
    }
    // SAFETY (each): as this function's contract.
    unsafe { counts!(1 2 3 4 5 6 7) }
}
