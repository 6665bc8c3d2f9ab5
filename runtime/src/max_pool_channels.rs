//! The 2-D max pooling of the fused kernel ([`crate::fused`]) on channel-blocked tensors
//! (`[C/8][H][W][8]`, [`crate::fused::Layout`]) in and out, on AVX2: each output position's
//! 8 channels are one vector, the maximum of its window's vectors read where they lie. A
//! ResNet's pooling after its stem then takes the stem's blocked output and hands the
//! first conv a blocked input, where the plain path ([`crate::fused`]'s loop over rows)
//! had the stem write NCHW, split every input row into its stride phases, and the conv
//! after it copy the result into blocks again.
//!
//! Padding is left out of a window (as `-∞` would be), the window's taps are taken row by
//! row, and each step is [`crate::fused::pool_maximum`] lane by lane (NaN propagates, +0
//! is above -0): the plain path's values, bit for bit. That exact maximum costs: ResNet-50's
//! pooling took 0.139 ms at one thread and 0.072–0.078 at two (`max_pool_timing`), against
//! 0.087 and 0.055 with a bare `vmaxps` a step (which drops a NaN and keeps either zero),
//! left out for that reason.

use crate::conv_band::BandShape;
use crate::fused::{Contraction, Descriptor};
use std::arch::x86_64::*;

/// Channels in a vector (a block of the layout).
const LANES: usize = 8;

/// Work units a thread should have at least.
const WANTED_UNITS_PER_THREAD: usize = 4;

/// Whether [`run_blocked`] computes `d`: a max pooling whose input and output are both
/// channel-blocked, with no epilogue, on a CPU with AVX2 (others take the plain path over
/// plain copies of the blocked tensors).
pub(crate) fn computes_blocked(d: &Descriptor) -> bool {
    d.contraction == Contraction::MaxPool2d
        && d.layout.input_blocked
        && d.layout.output_blocked
        && d.epilogue.is_empty()
        && d.m == d.conv.channels
        && d.m > 0
        && d.m % LANES as i64 == 0
        && d.conv.out_h > 0
        && d.conv.out_w > 0
        && d.n == d.conv.out_h * d.conv.out_w
        && is_x86_feature_detected!("avx2")
}

/// The pooling `d` ([`computes_blocked`]) of the blocked input at `b` into the blocked
/// output at `out`; units of one block of channels by a band of output rows, split across
/// the threads.
///
/// # Safety
/// `b` and `out` address the blocked input and output of `d`'s shapes; the CPU has AVX2.
pub(crate) unsafe fn run_blocked(d: &Descriptor, b: i64, out: i64) {
    assert!(computes_blocked(d));
    let s = BandShape::new(&d.conv);
    let blocks = s.channels / LANES;
    let plane = s.height * s.width * LANES;
    // SAFETY: the caller passes the blocked input.
    let input = unsafe { std::slice::from_raw_parts(b as *const f32, blocks * plane) };
    let out_plane = s.out_h * s.out_w * LANES;
    let bands = (WANTED_UNITS_PER_THREAD * crate::microkernels::threads())
        .div_ceil(blocks)
        .clamp(1, s.out_h);
    let units: Vec<(usize, usize, usize)> = (0..blocks)
        .flat_map(|block| (0..bands).map(move |band| (block, band * s.out_h / bands, (band + 1) * s.out_h / bands)))
        .filter(|&(_, y0, y1)| y1 > y0)
        .collect();
    let out_addr = out as usize;
    crate::microkernels::for_each_item(units, |(block, y0, y1)| {
        // SAFETY: rows `y0..y1` of the block's output plane, which no other unit writes.
        let dst = unsafe {
            std::slice::from_raw_parts_mut(
                (out_addr as *mut f32).add(block * out_plane + y0 * s.out_w * LANES),
                (y1 - y0) * s.out_w * LANES,
            )
        };
        // SAFETY: the CPU has AVX2 (`computes_blocked`).
        unsafe { pool_rows(&s, &input[block * plane..][..plane], y0..y1, dst) };
    });
}

/// Output rows `rows` of one block's plane (`[H][W][8]`) into `dst` (`[row][column][8]`).
///
/// # Safety
/// The CPU has AVX2.
#[target_feature(enable = "avx2")]
unsafe fn pool_rows(s: &BandShape, plane: &[f32], rows: std::ops::Range<usize>, dst: &mut [f32]) {
    assert!(plane.len() >= s.height * s.width * LANES && dst.len() >= rows.len() * s.out_w * LANES);
    let columns: Vec<(usize, usize)> = (0..s.out_w)
        .map(|x| inside(x, s.stride_w, s.dilation_w, s.pad_left, s.kernel_w, s.width))
        .collect();
    // Outputs `x_lo..x_hi` have their whole window inside the row (a contiguous range).
    let whole = |x: usize| columns[x] == (0, s.kernel_w);
    let x_lo = (0..s.out_w).find(|&x| whole(x)).unwrap_or(s.out_w);
    let x_hi = (x_lo..s.out_w).find(|&x| !whole(x)).unwrap_or(s.out_w);
    for (r, y) in rows.enumerate() {
        let (ky0, ky1) = inside(y, s.stride_h, s.dilation_h, s.pad_top, s.kernel_h, s.height);
        let taps_rows = (ky0..ky1).map(|ky| (y * s.stride_h + ky * s.dilation_h - s.pad_top) * s.width * LANES);
        let out_row = &mut dst[r * s.out_w * LANES..][..s.out_w * LANES];
        // SAFETY (every call): each output's taps lie in the plane (`inside`), its store in
        // the row; the CPU has AVX2.
        unsafe {
            for x in (0..x_lo).chain(x_hi..s.out_w) {
                let acc = window_max::<1>(s, plane, taps_rows.clone(), columns[x], x);
                _mm256_storeu_ps(out_row[x * LANES..][..LANES].as_mut_ptr(), acc[0]);
            }
            let mut x = x_lo;
            while x + RUN <= x_hi {
                let acc = window_max::<RUN>(s, plane, taps_rows.clone(), (0, s.kernel_w), x);
                for (i, v) in acc.into_iter().enumerate() {
                    _mm256_storeu_ps(out_row[(x + i) * LANES..][..LANES].as_mut_ptr(), v);
                }
                x += RUN;
            }
            for x in x..x_hi {
                let acc = window_max::<1>(s, plane, taps_rows.clone(), (0, s.kernel_w), x);
                _mm256_storeu_ps(out_row[x * LANES..][..LANES].as_mut_ptr(), acc[0]);
            }
        }
    }
}

/// Outputs pooled at once along a row: independent chains of maxima (one output's chain
/// of dependent steps left the core idle between them).
const RUN: usize = 8;

/// The window taps inside the input along one axis, for output `o`: the first and the end
/// (exclusive) of `k` in `0..kernel` where `o·stride + k·dilation - pad` lies in
/// `0..size` (a contiguous range, maybe empty).
fn inside(o: usize, stride: usize, dilation: usize, pad: usize, kernel: usize, size: usize) -> (usize, usize) {
    let first = o * stride;
    let from = (0..kernel).find(|&k| first + k * dilation >= pad).unwrap_or(kernel);
    let to = (from..kernel)
        .find(|&k| first + k * dilation >= pad + size)
        .unwrap_or(kernel);
    (from, to)
}

/// The maxima of outputs `x0..x0 + X` of one row: window rows at `rows` (offsets of input
/// rows in the plane), columns `kx0..kx1` of each window, taken row by row.
///
/// # Safety
/// Every tap lies in `plane`; the CPU has AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn window_max<const X: usize>(
    s: &BandShape,
    plane: &[f32],
    rows: impl Iterator<Item = usize>,
    (kx0, kx1): (usize, usize),
    x0: usize,
) -> [__m256; X] {
    let mut acc = [_mm256_set1_ps(f32::NEG_INFINITY); X];
    for row in rows {
        for kx in kx0..kx1 {
            let first = row + (x0 * s.stride_w + kx * s.dilation_w - s.pad_left) * LANES;
            for (i, a) in acc.iter_mut().enumerate() {
                // SAFETY: 8 values of the plane, as the caller promises.
                let v = unsafe { _mm256_loadu_ps(plane.as_ptr().add(first + i * s.stride_w * LANES)) };
                *a = crate::fused::pool_maximum_avx2(*a, v);
            }
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::{Batch, Layout, Operands, run_with_gemm};
    use crate::register_tiled::tests::{conv_geometry, values};
    use proptest::prelude::*;

    proptest! {
        // About half the cases draw a window that does not fit.
        #![proptest_config(ProptestConfig::with_cases(160))]

        /// Pools of every geometry (windows up to 4×4, strides, dilations and padding that
        /// differ between rows and columns, padding as wide as the window so that a window
        /// may lie in it whole, up to 24 channels) on values with ties, zeros
        /// of both signs and NaNs give the plain path's bits on the same values in the
        /// plain layout, and nothing past the output is written.
        #[test]
        fn blocked_pools_give_the_plain_bits(
            groups in 1usize..4, h in 1usize..14, w in 1usize..14,
            kh in 1usize..5, kw in 1usize..5, strides in (1usize..4, 1usize..4), dilation in 1usize..3,
            pads in (0usize..3, 0usize..3), seed in any::<u64>(),
        ) {
            let c = groups * LANES;
            let Some(conv) = conv_geometry((c, h, w), (kh, kw), strides, dilation, pads) else {
                return Ok(());
            };
            if !is_x86_feature_detected!("avx2") {
                return Ok(());
            }
            let n = (conv.out_h * conv.out_w) as usize;
            let plain = Descriptor {
                contraction: Contraction::MaxPool2d,
                m: c as i64,
                n: n as i64,
                k: (kh * kw) as i64,
                strides: [0; 4],
                conv,
                batch: Batch::default(),
                constant_weights: 0,
                layout: Layout::default(),
                epilogue: Vec::new(),
            };
            let blocked = Descriptor {
                layout: Layout { input_blocked: true, output_blocked: true },
                ..plain.clone()
            };
            prop_assert!(computes_blocked(&blocked));
            // Coarse values: many ties; some zeros of either sign and NaNs.
            let mut x: Vec<f32> = values(seed, c * h * w).iter().map(|v| (v * 4.0).round() / 2.0).collect();
            for (i, v) in x.iter_mut().enumerate() {
                match (i as u64).wrapping_mul(seed | 1) % 53 {
                    0 => *v = -0.0,
                    1 => *v = f32::NAN,
                    _ => {}
                }
            }
            let mut want = vec![0f32; c * n];
            let operands = Operands::new([0; 3], n);
            // SAFETY: the buffers hold the pooling's input and output.
            unsafe {
                let x_addr = x.as_ptr() as i64;
                run_with_gemm(&plain, x_addr, x_addr, want.as_mut_ptr() as i64, &operands);
            }
            let mut x_blocked = vec![0f32; c * h * w];
            crate::blocked_layout::block(&x, c, h * w, &mut x_blocked);
            let mut got = vec![1.5f32; c * n + 16];
            // SAFETY: the blocked input and output of the pooling; the CPU has AVX2.
            unsafe { run_blocked(&blocked, x_blocked.as_ptr() as i64, got.as_mut_ptr() as i64) };
            prop_assert!(got[c * n..].iter().all(|&v| v == 1.5), "written past the output");
            let mut want_blocked = vec![0f32; c * n];
            crate::blocked_layout::block(&want, c, n, &mut want_blocked);
            for (i, (g, w)) in got[..c * n].iter().zip(&want_blocked).enumerate() {
                prop_assert_eq!(g.to_bits(), w.to_bits(), "output {}: {} vs {}", i, g, w);
            }
        }
    }

    /// Not a test: `F32_THREADS=N cargo test --release -p fuser-runtime --lib
    /// max_pool_timing -- --ignored --nocapture` prints the time of ResNet-50's pooling
    /// (64 channels, 112×112 to 56×56, 3×3 windows, stride 2) on blocked tensors.
    #[test]
    #[ignore]
    fn max_pool_timing() {
        crate::register_tiled::tests::threads_from_environment();
        let conv = conv_geometry((64, 112, 112), (3, 3), (2, 2), 1, (1, 1)).expect("a window that fits");
        let d = Descriptor {
            contraction: Contraction::MaxPool2d,
            m: 64,
            n: 56 * 56,
            k: 9,
            strides: [0; 4],
            conv,
            batch: Batch::default(),
            constant_weights: 0,
            layout: Layout {
                input_blocked: true,
                output_blocked: true,
            },
            epilogue: Vec::new(),
        };
        let x = values(3, 64 * 112 * 112);
        let mut y = vec![0f32; 64 * 56 * 56];
        let out = y.as_mut_ptr() as i64;
        for _ in 0..5 {
            // SAFETY: the blocked input and output of the pooling; the CPU has AVX2 (else
            // `computes_blocked`, asserted inside, fails).
            let seconds =
                crate::register_tiled::tests::seconds_per_call(|| unsafe { run_blocked(&d, x.as_ptr() as i64, out) });
            eprintln!("max pool 64x112x112 /2: {:.3} ms", seconds * 1e3);
        }
    }
}
