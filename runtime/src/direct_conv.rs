//! The f32 convs of the fused kernel ([`crate::fused`]) with a short reduction (fewer than
//! 32 steps: an RGB image's 3×3 stem) on AVX2 without AVX-512, computed directly: output
//! channels in the vectors, input values broadcast, no gathered windows.
//!
//! The register-tiled kernel ([`crate::register_tiled`]) puts output positions in its
//! vectors and packs the windows first; for a few steps that packing and the copy-out cost
//! more than the sums, and the `gemm` crate path (windows gathered per tile) took these
//! convs before. Here, as onnxruntime's kernel for an NCHW input does:
//! - The weights are laid out per call as `[step][channel]`, zero past the output channels
//!   (a few KB).
//! - A work unit is a band of output rows. Its input rows are copied, zero-padded, per
//!   input channel; each output position's sums for 32 channels are 4 vectors, and 3
//!   positions are summed at once (12 accumulators), each step one broadcast input value a
//!   position and one weight vector a group of 8 channels, fused multiply-adds in
//!   reduction order from zero.
//! - The band's sums, `[position][channel]`, are transposed by 8×8 register transposes
//!   into the output's channel rows, and the epilogue runs on each row's run.

use crate::conv_band::{BandShape, finish_channel_runs};
use crate::fused::{Descriptor, Operands};
use std::arch::x86_64::*;
use std::cell::RefCell;

/// Output channels in a vector.
const LANES: usize = 8;
/// Vectors of output channels summed at once.
const GROUPS: usize = 4;
/// Output positions summed at once.
const POSITIONS: usize = 3;

/// Whether [`run`] computes the contraction of `d`: a conv whose windows are gathered (not
/// a 1×1, stride-1 conv) with fewer reduction steps than the register-tiled kernel takes
/// ([`crate::register_tiled::AVX2_MIN_WINDOW_STEPS`]), on AVX2 with FMA and without
/// AVX-512. `direct_conv_timing` (three runs each on 1 and 2 threads): MobileNetV2's stem
/// (27 steps) 0.64–0.98 of the `gemm` path's time, which took it before, and 0.49–0.88 of
/// the register-tiled kernel's; ResNet-50's stem (147 steps) 1.02–1.28 of the
/// register-tiled kernel's, so it stays there.
pub(crate) fn computes(d: &Descriptor) -> bool {
    d.contraction == crate::fused::Contraction::Conv2d
        && d.k < crate::register_tiled::AVX2_MIN_WINDOW_STEPS
        && d.m > 0
        && d.n > 0
        && !crate::fused::reads_input_directly(&d.conv)
        && !crate::fused::has_avx512()
        && crate::fused::has_avx2_fma()
}

/// Per-thread buffers: the band's padded input rows, its sums `[position][channel]`, and
/// its channel rows when they cannot be written in place.
#[derive(Default)]
struct Scratch {
    input: Vec<f32>,
    sums: Vec<f32>,
    rows: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The fused call for a descriptor that [`computes`] accepts.
///
/// # Safety
/// As [`crate::fused::fuser_fused_f32`]; the CPU has AVX2 and FMA ([`computes`]).
pub(crate) unsafe fn run(d: &Descriptor, a: i64, b: i64, out: i64, operands: &Operands) {
    let s = BandShape::new(&d.conv);
    let (m, k) = (d.m as usize, d.k as usize);
    let padded_m = m.next_multiple_of(LANES * GROUPS);
    // The weights as `[step][channel]`, zero past M.
    let [a_row, a_col] = [d.strides[0] as isize, d.strides[1] as isize];
    let mut weights = vec![0f32; k * padded_m];
    for (step, row) in weights.chunks_exact_mut(padded_m).enumerate() {
        for (r, w) in row.iter_mut().enumerate().take(m) {
            // SAFETY: element (r, step) of A, as the caller promises.
            *w = unsafe { *(a as *const f32).offset(r as isize * a_row + step as isize * a_col) };
        }
    }
    // SAFETY: the caller passes the conv's input.
    let input = unsafe { std::slice::from_raw_parts(b as *const f32, s.channels * s.height * s.width) };
    let out_addr = out as usize;
    let in_place = !crate::fused::epilogue_reads_output(&d.epilogue, operands, m, out_addr);
    // Bands of output rows, about 8 a thread.
    let rows_per_band = s.out_h.div_ceil(8 * crate::microkernels::threads()).max(1);
    let bands: Vec<usize> = (0..s.out_h).step_by(rows_per_band).collect();
    crate::microkernels::for_each_item(bands, |y0| {
        let y1 = (y0 + rows_per_band).min(s.out_h);
        let band_rows = s.band_rows(y0, y1);
        // Where each step's tap starts in the band, for the band's first output row's
        // column 0.
        let plane = band_rows * s.padded_width;
        let taps: Vec<usize> = (0..s.channels)
            .flat_map(|c| {
                (0..s.kernel_h).flat_map(move |i| {
                    (0..s.kernel_w).map(move |j| c * plane + i * s.dilation_h * s.padded_width + j * s.dilation_w)
                })
            })
            .collect();
        SCRATCH.with(|scratch| {
            let Scratch {
                input: padded,
                sums,
                rows,
            } = &mut *scratch.borrow_mut();
            padded.clear();
            padded.resize(s.channels * plane, 0.0);
            pad_band(&s, input, y0 * s.stride_h, band_rows, padded);
            let positions = (y1 - y0) * s.out_w;
            // Every sum is written below: no need to clear them.
            sums.resize(sums.len().max(positions * padded_m), 0.0);
            for y in y0..y1 {
                let row = &mut sums[(y - y0) * s.out_w * padded_m..][..s.out_w * padded_m];
                let base = (y - y0) * s.stride_h * s.padded_width;
                // SAFETY: the CPU has AVX2 and FMA, as this function's contract.
                unsafe { output_row(&s, (&weights, padded_m), padded, (&taps, base), row) };
            }
            // SAFETY: the band's runs of the channel rows, this band's alone; the CPU has
            // AVX2, as this function's contract.
            unsafe {
                finish_channel_runs(
                    d,
                    operands,
                    (in_place, out_addr),
                    (sums, padded_m),
                    (0, m),
                    (y0 * s.out_w, positions),
                    rows,
                )
            };
        });
    });
}

/// Copies padded input rows `first..first + rows` of every channel into `band`
/// (`[channel][row][padded column]`, zeros on entry).
fn pad_band(s: &BandShape, input: &[f32], first: usize, rows: usize, band: &mut [f32]) {
    let (start, used) = s.input_columns();
    let inside = s.input_rows(first, rows);
    for (c, channel) in band.chunks_exact_mut(rows * s.padded_width).enumerate() {
        for r in inside.clone() {
            let iy = first + r - s.pad_top;
            let line = &input[(c * s.height + iy) * s.width..][..used];
            channel[r * s.padded_width + start..][..used].copy_from_slice(line);
        }
    }
}

/// One output row's sums (`sums`, `[position][padded_m]`): for each position and output
/// channel, `Σ_step weights[step][channel] · input[step's tap]` in step order from zero, one
/// fused multiply-add a step. `taps[step]` is where a step's tap starts in the band for
/// output column 0 of the band's first row, and `base` how far past that this row's taps lie.
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn output_row(
    s: &BandShape,
    (weights, padded_m): (&[f32], usize),
    band: &[f32],
    (taps, base): (&[usize], usize),
    sums: &mut [f32],
) {
    let furthest = base + taps.iter().max().copied().unwrap_or(0) + (s.out_w - 1) * s.stride_w;
    assert!(furthest < band.len() && weights.len() >= taps.len() * padded_m && sums.len() >= s.out_w * padded_m);
    let (band, sums) = (band.as_ptr(), sums.as_mut_ptr());
    let mut x0 = 0;
    // SAFETY (every call): positions `x0..x0 + P` are below `out_w`, so every tap read is at
    // most `furthest` and every store inside `sums` (asserted above).
    unsafe {
        while x0 + POSITIONS <= s.out_w {
            positions::<POSITIONS>(s, weights, padded_m, band, (taps, base), sums, x0);
            x0 += POSITIONS;
        }
        while x0 < s.out_w {
            positions::<1>(s, weights, padded_m, band, (taps, base), sums, x0);
            x0 += 1;
        }
    }
}

/// The sums of positions `x0..x0 + P` of [`output_row`], for every group of output
/// channels.
///
/// # Safety
/// As [`output_row`] checks.
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn positions<const P: usize>(
    s: &BandShape,
    weights: &[f32],
    padded_m: usize,
    band: *const f32,
    (taps, base): (&[usize], usize),
    sums: *mut f32,
    x0: usize,
) {
    for g0 in (0..padded_m).step_by(LANES * GROUPS) {
        let mut acc = [[_mm256_setzero_ps(); GROUPS]; P];
        for (step, &tap) in taps.iter().enumerate() {
            // The positions' input values, then one weight vector at a time: 12
            // accumulators, 3 broadcasts and a weight in the 16 registers.
            // SAFETY: as the caller promises.
            let x: [__m256; P] =
                std::array::from_fn(|p| unsafe { _mm256_broadcast_ss(&*band.add(base + tap + (x0 + p) * s.stride_w)) });
            for g in 0..GROUPS {
                // SAFETY: the step's weights for channels `g0 + 8g..` (below `padded_m`).
                let w = unsafe { _mm256_loadu_ps(weights.as_ptr().add(step * padded_m + g0 + g * LANES)) };
                for (acc, &x) in acc.iter_mut().zip(&x) {
                    acc[g] = _mm256_fmadd_ps(w, x, acc[g]);
                }
            }
        }
        for (p, acc) in acc.iter().enumerate() {
            for (g, sum) in acc.iter().enumerate() {
                // SAFETY: as the caller promises.
                unsafe { _mm256_storeu_ps(sums.add((x0 + p) * padded_m + g0 + g * LANES), *sum) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::register_tiled::tests::{ConvCall, GUARD, assert_close, conv_descriptor, epilogue, values};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Convs with short reductions (1 to 3 input channels, windows up to 3×3 or 5×1,
        /// strides, dilations, padding, output channels not a multiple of 8, a residual
        /// that may be the output itself) agree with the `gemm` path, and nothing past the
        /// output is written.
        #[test]
        fn direct_convs_agree_with_the_gemm_path(
            c in 1usize..4, f in 1usize..40, h in 1usize..30, w in 1usize..30,
            (kh, kw) in prop_oneof![(1usize..4, 1usize..4), Just((5usize, 1usize))],
            stride in 1usize..4, dilation in 1usize..3, pad in 0usize..3, kind in 0u8..3,
            residual_is_output in any::<bool>(), seed in any::<u64>(),
        ) {
            let Some(d) = conv_descriptor((c, f, h, w, kh, kw), (stride, dilation, pad), epilogue(kind)) else {
                return Ok(());
            };
            if !computes(&d) {
                return Ok(());
            }
            let (m, n) = (d.m as usize, d.n as usize);
            let call = ConvCall::new(&d, seed);
            let operands = |out: &[f32]| call.operands(out, residual_is_output, n);
            let [mut direct, mut reference] = [(); 2].map(|_| call.start.clone());
            let (a_addr, b_addr) = (call.a.as_ptr() as i64, call.b.as_ptr() as i64);
            // SAFETY: the buffers cover the descriptor's shapes; `computes` checked the CPU.
            unsafe {
                run(&d, a_addr, b_addr, direct.as_mut_ptr() as i64, &operands(&direct));
                crate::fused::run_with_gemm(&d, a_addr, b_addr, reference.as_mut_ptr() as i64, &operands(&reference));
            }
            prop_assert!(direct[m * n..].iter().all(|&v| v == GUARD), "written past the output");
            assert_close(&direct[..m * n], &reference[..m * n], d.k as usize);
        }
    }

    /// Not a test: `cargo test --release -p fuser-runtime direct_conv_timing -- --ignored
    /// --nocapture` times MobileNetV2's stem (3→32 3×3/2 at 224, bias and ReLU6) and
    /// ResNet-50's (3→64 7×7/2, which [`computes`] leaves to the register-tiled kernel)
    /// here, on the register-tiled kernel and on the `gemm` path, alternating, on
    /// `F32_THREADS` threads (default: all cores).
    #[test]
    #[ignore]
    fn direct_conv_timing() {
        use crate::register_tiled::tests::{seconds_per_call, threads_from_environment};
        if !crate::fused::has_avx2_fma() {
            return;
        }
        threads_from_environment();
        let chain = vec![crate::fused::Step::AddRow(0), crate::fused::Step::Clip(0.0, 6.0)];
        for (f, kernel, pad) in [(32usize, 3usize, 1usize), (64, 7, 3)] {
            let d = conv_descriptor((3, f, 224, 224, kernel, kernel), (2, 1, pad), chain.clone()).unwrap();
            let (m, n) = (d.m as usize, d.n as usize);
            let (a, b, bias) = (values(1, m * d.k as usize), values(2, 3 * 224 * 224), values(3, m));
            let mut out = vec![0f32; m * n];
            let o = out.as_mut_ptr() as i64;
            let operands = Operands::new([bias.as_ptr() as i64, 0, 0], n);
            let (a, b) = (a.as_ptr() as i64, b.as_ptr() as i64);
            let mut best = [f64::MAX; 3];
            for _ in 0..8 {
                for (path, best) in best.iter_mut().enumerate() {
                    // SAFETY: the buffers cover the descriptor's shapes; the CPU has AVX2 and
                    // FMA (checked above).
                    let call = || unsafe {
                        match path {
                            0 => run(&d, a, b, o, &operands),
                            1 => crate::register_tiled::run(&d, a, b, o, &operands),
                            _ => crate::fused::run_with_gemm(&d, a, b, o, &operands),
                        }
                    };
                    *best = best.min(seconds_per_call(call));
                }
            }
            let [direct, tiled, gemm] = best.map(|t| t * 1e3);
            eprintln!(
                "3->{f} {kernel}x{kernel}/2 at 224: direct {direct:.3} ms, register-tiled {tiled:.3} ms, gemm path {gemm:.3} ms"
            );
        }
    }
}
