//! The depthwise conv of the fused kernel ([`crate::fused`]) on AVX2 without AVX-512,
//! with 8 channels in a vector: where the output rows are narrow or the stride is not 1.
//!
//! The loop of [`crate::fused`] puts 16 output positions of one row in its vectors. A
//! 7×7 map then fills 7 of them, a 14×14 map 14, and a strided conv first splits every
//! input row into its stride phases, value by value. Here each vector holds one position
//! of 8 channels instead (`onnxruntime` keeps its tensors so, NCHWc), and every lane is a
//! real output whatever the map's width:
//! - A group of 8 channels is transposed, a band of input rows at a time, into a
//!   zero-padded buffer of `[row][column][8]`, by 8×8 register transposes of runs of 8
//!   positions along the plane.
//! - Each output is its taps' sum in tap order from zero, a multiply then an add per tap,
//!   padding included: the same operations as [`crate::fused`]'s loops, so the same bits.
//!   Eight outputs of a row are summed at once (independent chains of adds).
//! - The group's outputs (`[position][8]`) are transposed back into the tile's channel
//!   rows, and `finish` (the epilogue chain) runs on each. Into a channel-blocked output
//!   they go as they are, and one whose epilogue is a bias, a residual and ReLU or a clip
//!   at most ([`DirectEpilogue`]) gets it from the sums' registers ([`RowOut::store`]):
//!   MobileNetV2 took 0.964 of the time of the build that wrote each row's sums and then
//!   finished them from the L1 cache (`bench/interleaved_ort.py BUILD --versus OTHER
//!   --models mobilenetv2`, 8 blocks, two threads, a Zen 4 EPYC).
//! - A channel-blocked input needs no transpose: its band is copied by rows, or, for a
//!   strided conv, read where it lies ([`output_row_in_place`]).
//!
//! `depthwise_timing` (in `fused.rs`) times MobileNetV2's depthwise convs; see
//! [`computes`] for where this loop is used.

use crate::blocked_layout::DirectEpilogue;
use crate::conv_band::{BandShape, transpose_to_rows, transpose8};
use crate::fused::{ConvGeometry, Descriptor, Operands};
use std::arch::x86_64::*;
use std::cell::RefCell;

/// Channels in a vector.
const CHANNELS: usize = 8;
/// Outputs of a row summed at once.
const OUTPUTS: usize = 8;

/// Calls `$outputs::<X, $stride>($args.., x0)` over the outputs `x0` of `$range` in runs
/// of [`OUTPUTS`], then at most two runs of what is left: a constant count keeps the sums
/// in registers.
macro_rules! in_runs {
    ($range:expr, $outputs:ident::<$stride:ident>($($arg:expr),*)) => {{
        let range: std::ops::Range<usize> = $range;
        assert!(range.start <= range.end, "a range of outputs");
        let mut x0 = range.start;
        while x0 + OUTPUTS <= range.end {
            $outputs::<OUTPUTS, $stride>($($arg,)* x0);
            x0 += OUTPUTS;
        }
        // The rest in at most two runs, of 4 then 3, 2 or 1: a 7×7 map's rows of 7 had
        // taken three, of 4, 2 and 1 (MobileNetV2 0.977 of that build's time at two
        // threads, `bench/interleaved_ort.py BUILD --versus OTHER`, 8 blocks). One run of
        // any count up to 7 took the functions of each count out of line (LLVM's inlining
        // budget), and the sums through the stack: 1.10–1.16 of the time.
        if x0 + 4 <= range.end {
            $outputs::<4, $stride>($($arg,)* x0);
            x0 += 4;
        }
        match range.end - x0 {
            0 => {}
            1 => $outputs::<1, $stride>($($arg,)* x0),
            2 => $outputs::<2, $stride>($($arg,)* x0),
            _ => $outputs::<3, $stride>($($arg,)* x0),
        }
    }};
}
/// A band's transposed input stays within about this many bytes (in the L2 cache; each
/// output row reads its few rows of it from L1). At 24 KiB a 112×112 map's bands were 4
/// output rows, each transposing 2 rows again.
pub(crate) const BAND_BYTES: usize = 96 * 1024;

/// Whether [`depthwise_tile`] computes a depthwise conv of geometry `g` on this CPU: AVX2
/// without AVX-512, and a stride other than 1 or output rows narrower than 16 positions
/// (14×14 and 7×7 maps). On an AMD EPYC, `depthwise_timing` (one thread, two runs) put this
/// loop at 0.40–0.71 of the loop over rows' time on the 7×7 map and the strided ones up to
/// 56×56, 0.81–0.83 at 112×112/2 and 0.86–1.11 at 14×14; at unit stride 0.85–1.03 on 28×28
/// and 56×56 maps and 1.08–1.28 on 112×112 ones, which stay on the loop over rows
/// (`bench/ab.py --kernels` figures in `docs/performance.md`).
pub(crate) fn computes(g: &ConvGeometry) -> bool {
    !crate::fused::has_avx512()
        && is_x86_feature_detected!("avx2")
        && g.out_h > 0
        && g.out_w > 0
        && (g.out_w < 16 || g.stride_h != 1 || g.stride_w != 1)
}

/// Whether [`run_blocked`] computes the depthwise conv `d`, whose input or output is
/// channel-blocked ([`crate::fused::Layout`]): on AVX2 with FMA and without AVX-512, any
/// geometry. (The plain loops' transposes into and out of `[position][8]` are what the
/// blocked layout saves, so every map's width and stride comes here.)
pub(crate) fn computes_blocked(d: &Descriptor) -> bool {
    d.contraction == crate::fused::Contraction::Depthwise2d
        && !d.layout.is_plain()
        && d.m == d.conv.channels
        && d.m % CHANNELS as i64 == 0
        && d.n == d.conv.out_h * d.conv.out_w
        && d.conv.out_h > 0
        && d.conv.out_w > 0
        && crate::blocked_conv::layout_on_host()
}

/// Work units a thread should have at least: a small map's groups of channels are
/// gathered into units of several groups down to this count.
pub(crate) const WANTED_UNITS_PER_THREAD: usize = 8;

/// The most window rows of a conv whose blocked input [`run_blocked`] reads in place.
const IN_PLACE_ROWS: usize = 8;

/// Per-thread buffers of [`run_blocked`]: a band's padded input, its outputs, the chain's
/// rows or slab, a group's filters, and a row of zeros (the padding above and below a
/// blocked input read in place).
#[derive(Default)]
struct Scratch {
    padded: Vec<f32>,
    outputs: Vec<f32>,
    rows: Vec<f32>,
    filters: Vec<__m256>,
    zeros: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

/// The depthwise conv `d` with a channel-blocked input or output (or both): a work unit
/// is a band of output rows of one group of 8 channels, or of several on a small map. A
/// blocked input's band is copied by rows into `[row][padded column][8]` (a plain one is
/// transposed, as [`depthwise_tile`] does), or read in place where the conv is strided,
/// each output row is summed as there, with the same bits, and the band's outputs
/// (`[position][8]`) are written with the chain as 8 channels of each position (blocked)
/// or transposed into the channels' rows (plain).
///
/// Bands of output rows read at most `band_bytes` of padded input ([`BAND_BYTES`], but
/// for tests).
///
/// # Safety
/// As [`crate::fused::fuser_fused_f32`] for `d` (`a` the filters, `b` the input); the CPU
/// has AVX2 and FMA ([`computes_blocked`]).
pub(crate) unsafe fn run_blocked(d: &Descriptor, (a, b, out): (i64, i64, i64), operands: &Operands, band_bytes: usize) {
    let s = BandShape::new(&d.conv);
    let (channels, n, taps) = (s.channels, s.out_h * s.out_w, s.kernel_h * s.kernel_w);
    assert!(channels.is_multiple_of(CHANNELS) && d.m as usize == channels && d.n as usize == n);
    let plane = s.height * s.width;
    // SAFETY: the caller passes the filters (`[C][KH·KW]`) and the input.
    let (weights, input) = unsafe {
        (
            std::slice::from_raw_parts(a as *const f32, channels * taps),
            std::slice::from_raw_parts(b as *const f32, channels * plane),
        )
    };
    let out_addr = out as usize;
    let in_place = !crate::fused::epilogue_reads_output(&d.epilogue, operands, channels, out_addr);
    let band = band_output_rows(&s, band_bytes);
    let row_len = s.padded_width * CHANNELS;
    // A blocked output under a short epilogue is written from the sums' registers.
    let direct = match d.layout.output_blocked {
        true => DirectEpilogue::of(&d.epilogue),
        false => None,
    };
    let groups = channels / CHANNELS;
    let bands = s.out_h.div_ceil(band);
    // A unit is a band of rows of several groups where there would be more than enough
    // units of one group (a small map's many channels: 960 channels at 7×7 were 120
    // units of 49 outputs each). `fuser bench --ab` on MobileNetV2, three runs each:
    // 0.980–0.996 of the time with units of one group (the filters in the thread's
    // scratch on both sides), and 0.974–0.997 with half as many units wanted.
    let wanted = WANTED_UNITS_PER_THREAD * crate::microkernels::threads();
    let groups_per_unit = (groups * bands / wanted).clamp(1, groups);
    // A strided conv's blocked input is read where it lies (its padding handled at the
    // edges) instead of being copied band by band into a padded buffer: MobileNetV2's
    // strided depthwise convs took 0.85–0.90 of the time (`depthwise_timing` with both
    // ways alternating, one thread, two runs). At unit stride, where the copy is as large
    // as the output, the edges' outputs one at a time cost more than it saved (1.13–1.41
    // at 14×14 to 56×56, 0.96 at 112×112; MobileNetV2 1.011–1.016 under `fuser bench
    // --ab` with them in place too).
    let read_in_place = d.layout.input_blocked && s.kernel_h <= IN_PLACE_ROWS && s.stride_h > 1;
    let units: Vec<(usize, usize)> = (0..groups)
        .step_by(groups_per_unit)
        .flat_map(|group| (0..s.out_h).step_by(band).map(move |y0| (group, y0)))
        .collect();
    crate::microkernels::for_each_item(units, |(first_group, y0)| {
        let y1 = (y0 + band).min(s.out_h);
        let (first, rows) = (y0 * s.stride_h, s.band_rows(y0, y1));
        let (p0, positions) = (y0 * s.out_w, (y1 - y0) * s.out_w);
        SCRATCH.with(|scratch| {
            let Scratch {
                padded,
                outputs,
                rows: rows_scratch,
                filters,
                zeros,
            } = &mut *scratch.borrow_mut();
            outputs.resize(outputs.len().max(positions * CHANNELS), 0.0);
            match read_in_place {
                // Never written: zeros for every column of an input row.
                true => zeros.resize(zeros.len().max(s.width * CHANNELS), 0.0),
                false => padded.resize(padded.len().max(rows * row_len), 0.0),
            }
            for group in first_group..(first_group + groups_per_unit).min(groups) {
                let channel = group * CHANNELS;
                match (read_in_place, d.layout.input_blocked) {
                    (true, _) => {}
                    (false, true) => crate::conv_band::copy_blocked_band(&s, input, group, (first, rows), padded),
                    (false, false) => {
                        let planes: [&[f32]; CHANNELS] =
                            std::array::from_fn(|c| &input[(channel + c) * plane..][..plane]);
                        // SAFETY: the CPU has AVX2 ([`computes_blocked`]).
                        unsafe { transpose_band(&s, &planes, first, rows, padded) };
                    }
                }
                filters.clear();
                filters.extend((0..taps).map(|t| {
                    let lanes: [f32; CHANNELS] = std::array::from_fn(|c| weights[(channel + c) * taps + t]);
                    // A move, not `_mm256_loadu_ps`, which outside an AVX function was a
                    // call per vector. SAFETY: 8 f32 values are a __m256's bits.
                    unsafe { std::mem::transmute::<[f32; CHANNELS], __m256>(lanes) }
                }));
                for y in y0..y1 {
                    // The row's sums go through a direct epilogue into the blocked output
                    // from their registers, else into the unit's outputs.
                    let row = match direct {
                        Some(e) => {
                            let offset = crate::blocked_layout::blocked_index(channel, y * s.out_w, n);
                            RowOut {
                                out: (out_addr as *mut f32).wrapping_add(offset),
                                epilogue: Some(RowEpilogue {
                                    bias: e.bias.map(|i| operands.pointer(i).wrapping_add(channel)),
                                    residual: e.residual.map(|i| operands.pointer(i).wrapping_add(offset)),
                                    activation: e.activation,
                                }),
                            }
                        }
                        None => RowOut {
                            out: outputs[(y - y0) * s.out_w * CHANNELS..][..s.out_w * CHANNELS].as_mut_ptr(),
                            epilogue: None,
                        },
                    };
                    // SAFETY (both): `row` holds the row's outputs (the row's positions of
                    // the group's channels inside the blocked output, and its residual's,
                    // blocked as it is; or the unit's outputs); the CPU has AVX2
                    // ([`computes_blocked`]).
                    match read_in_place {
                        true => {
                            let group_plane = &input[group * plane * CHANNELS..][..plane * CHANNELS];
                            unsafe { output_row_in_place(&s, filters, group_plane, zeros, y, row) }
                        }
                        false => unsafe { output_row(&s, filters, &padded[(y - y0) * s.stride_h * row_len..], row) },
                    }
                }
                if direct.is_some() {
                    continue;
                }
                let outputs = &outputs[..positions * CHANNELS];
                if d.layout.output_blocked {
                    let sums = |q: usize| -> [f32; CHANNELS] {
                        outputs[q * CHANNELS..][..CHANNELS].try_into().expect("8 lanes")
                    };
                    // SAFETY: the unit's positions of the group's channels, inside the
                    // blocked output; the CPU has AVX2 and FMA.
                    unsafe {
                        crate::blocked_layout::store_blocked(
                            d,
                            operands,
                            out_addr,
                            (channel, p0, positions),
                            sums,
                            rows_scratch,
                        )
                    };
                } else {
                    // SAFETY: the unit's runs of the group's channels' rows; the CPU has
                    // AVX2.
                    unsafe {
                        crate::conv_band::finish_channel_runs(
                            d,
                            operands,
                            (in_place, out_addr),
                            (outputs, CHANNELS),
                            (channel, CHANNELS),
                            (p0, positions),
                            rows_scratch,
                        )
                    };
                }
            }
        });
    });
}

/// Output rows per band: the most whose transposed input stays within `band_bytes`, at
/// least one.
fn band_output_rows(s: &BandShape, band_bytes: usize) -> usize {
    let row_bytes = s.padded_width * CHANNELS * 4;
    let rows = (band_bytes / row_bytes).max(1);
    let taps = (s.kernel_h - 1) * s.dilation_h + 1;
    (rows.saturating_sub(taps) / s.stride_h + 1).min(s.out_h)
}

/// One tile of a depthwise conv (rows are channels, columns the output positions of each,
/// `product` the tile's `[rows, out_h·out_w]`): as [`crate::fused`]'s depthwise tile
/// computes it, with the same bits. `weights` holds every channel's `KH·KW` filter, `src`
/// every channel's `[H, W]` input. `finish(r, row)` runs on each channel's row once it is
/// computed. Bands of output rows read at most `band_bytes` of transposed input
/// ([`BAND_BYTES`], but for tests).
///
/// # Safety
/// The CPU has AVX2 ([`computes`]).
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn depthwise_tile(
    src: &[f32],
    weights: &[f32],
    g: &ConvGeometry,
    (r0, rows): (usize, usize),
    product: &mut [f32],
    scratch: &mut Vec<f32>,
    band_bytes: usize,
    mut finish: impl FnMut(usize, &mut [f32]),
) {
    let s = BandShape::new(g);
    let (plane, n, taps) = (s.height * s.width, s.out_h * s.out_w, s.kernel_h * s.kernel_w);
    assert!(src.len() >= (r0 + rows) * plane && weights.len() >= (r0 + rows) * taps && product.len() >= rows * n);
    let band = band_output_rows(&s, band_bytes);
    let band_len = s.band_rows(0, band) * s.padded_width * CHANNELS;
    // The band's transposed input, then the group's outputs `[position][8]`.
    scratch.clear();
    scratch.resize(band_len + n * CHANNELS, 0.0);
    let (input, outputs) = scratch.split_at_mut(band_len);
    let mut filters = vec![_mm256_setzero_ps(); taps];
    for first in (0..rows).step_by(CHANNELS) {
        let count = CHANNELS.min(rows - first);
        let channel = r0 + first;
        // The group's filters, tap by tap (channels past `count` zero).
        for (t, filter) in filters.iter_mut().enumerate() {
            let mut lanes = [0f32; CHANNELS];
            for (c, lane) in lanes.iter_mut().enumerate().take(count) {
                *lane = weights[(channel + c) * taps + t];
            }
            // SAFETY: 8 values.
            *filter = unsafe { _mm256_loadu_ps(lanes.as_ptr()) };
        }
        // Lanes past `count` repeat the last channel (computed, not stored).
        let planes: [&[f32]; CHANNELS] = std::array::from_fn(|c| &src[(channel + c.min(count - 1)) * plane..][..plane]);
        for y0 in (0..s.out_h).step_by(band) {
            let y1 = (y0 + band).min(s.out_h);
            // SAFETY: the CPU has AVX2, as this function's contract.
            unsafe { transpose_band(&s, &planes, y0 * s.stride_h, s.band_rows(y0, y1), input) };
            for y in y0..y1 {
                let out_row = RowOut {
                    out: outputs[y * s.out_w * CHANNELS..(y + 1) * s.out_w * CHANNELS].as_mut_ptr(),
                    epilogue: None,
                };
                // SAFETY: `out_row` holds the row's outputs; the CPU has AVX2, as this
                // function's contract.
                unsafe {
                    output_row(
                        &s,
                        &filters,
                        &input[(y - y0) * s.stride_h * s.padded_width * CHANNELS..],
                        out_row,
                    )
                };
            }
        }
        let tile_rows = &mut product[first * n..(first + count) * n];
        // SAFETY: `tile_rows` holds the `count` rows of `n` values; the CPU has AVX2, as
        // this function's contract.
        unsafe { transpose_to_rows(outputs, n, CHANNELS, count, tile_rows.as_mut_ptr(), n) };
        for (c, row) in tile_rows.chunks_exact_mut(n).enumerate() {
            finish(first + c, row);
        }
    }
}

/// Writes padded input rows `first..first + rows` of the group's channels (`planes`, each
/// `[H, W]`) into `band` (`[row][padded column][8]`): padding as zeros,
/// and the input rows inside in runs of 8 positions along the plane (across its rows, so
/// that a narrow map's rows do not each end in a partial transpose).
///
/// # Safety
/// The CPU has AVX2.
#[target_feature(enable = "avx2")]
unsafe fn transpose_band(s: &BandShape, planes: &[&[f32]; CHANNELS], first: usize, rows: usize, band: &mut [f32]) {
    let row_len = s.padded_width * CHANNELS;
    assert!(band.len() >= rows * row_len);
    // Padded columns `start..start + used` hold input columns `0..used`.
    let (start, used) = s.input_columns();
    // The band's rows that hold input rows (`inside`), input rows `iy0..iy1`.
    let inside = s.input_rows(first, rows);
    let iy0 = (first + inside.start).saturating_sub(s.pad_top);
    let iy1 = iy0 + inside.len();
    for (r, row) in band[..rows * row_len].chunks_exact_mut(row_len).enumerate() {
        if inside.contains(&r) {
            row[..start * CHANNELS].fill(0.0);
            row[(start + used) * CHANNELS..].fill(0.0);
        } else {
            row.fill(0.0);
        }
    }
    let (mut r, mut x) = (inside.start, 0);
    let end = iy1 * s.width;
    let mut p = iy0 * s.width;
    while p < end {
        let count = CHANNELS.min(end - p);
        // SAFETY: `count` values from position `p` of each plane (the mask reads no more).
        let vectors: [__m256; CHANNELS] =
            std::array::from_fn(|c| unsafe { load_first(planes[c][p..p + count].as_ptr(), count) });
        let columns = transpose8(vectors);
        if count == CHANNELS && x + CHANNELS <= used {
            // The run lies in one row, all of it stored (a wide map's common case).
            let at = r * row_len + (start + x) * CHANNELS;
            let run = &mut band[at..at + CHANNELS * CHANNELS];
            for (v, slot) in columns.iter().zip(run.chunks_exact_mut(CHANNELS)) {
                // SAFETY: 8 values inside `band`.
                unsafe { _mm256_storeu_ps(slot.as_mut_ptr(), *v) };
            }
            x += CHANNELS;
            if x == s.width {
                (r, x) = (r + 1, 0);
            }
        } else {
            for v in columns.iter().take(count) {
                if x < used {
                    let at = r * row_len + (start + x) * CHANNELS;
                    // SAFETY: one column of 8 values inside `band` (row `r < rows`,
                    // `start + x < padded_width`).
                    unsafe { _mm256_storeu_ps(band[at..at + CHANNELS].as_mut_ptr(), *v) };
                }
                x += 1;
                if x == s.width {
                    (r, x) = (r + 1, 0);
                }
            }
        }
        p += count;
    }
}

/// The first `count` (at most 8) values from `p`, zeros after them; nothing past them is
/// read.
///
/// # Safety
/// `p..p + count` is readable; the CPU has AVX2.
#[target_feature(enable = "avx2")]
unsafe fn load_first(p: *const f32, count: usize) -> __m256 {
    if count == CHANNELS {
        // SAFETY: as the caller promises.
        return unsafe { _mm256_loadu_ps(p) };
    }
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(count as i32), lanes);
    // SAFETY: the mask reads the first `count` values only, as the caller promises.
    unsafe { _mm256_maskload_ps(p, mask) }
}

/// One output row: `out[x][c] = Σ_t filter[t][c] · input[tap t of x][c]`, multiply then
/// add, in tap order from zero, then [`RowOut::store`]; `input` starts at the row's first
/// padded input row. Outputs are summed [`OUTPUTS`] at a time, then the rest in runs of 4
/// and of 3, 2 or 1 (`in_runs!`): a constant count keeps the sums in registers.
///
/// # Safety
/// `out` holds the row's outputs (and its epilogue's residual and bias theirs); the CPU
/// has AVX2.
#[target_feature(enable = "avx2")]
unsafe fn output_row(s: &BandShape, filters: &[__m256], input: &[f32], out: RowOut) {
    let row_len = s.padded_width * CHANNELS;
    let furthest = ((s.kernel_h - 1) * s.dilation_h) * row_len
        + ((s.out_w - 1) * s.stride_w + (s.kernel_w - 1) * s.dilation_w) * CHANNELS;
    assert!(input.len() >= furthest + CHANNELS && filters.len() >= s.kernel_h * s.kernel_w);
    let input = input.as_ptr();
    // SAFETY (each): as checked above. Strides 1 and 2 as constants, as in
    // [`inside_outputs`]: MobileNetV2's unit-stride depthwise convs took 0.93–0.97 of the
    // time with blocked tensors (`depthwise_timing`, both ways alternating, one thread,
    // two runs).
    unsafe {
        match s.stride_w {
            1 => row_outputs::<1>(s, filters, input, out),
            2 => row_outputs::<2>(s, filters, input, out),
            _ => row_outputs::<0>(s, filters, input, out),
        }
    }
}

/// The outputs of [`output_row`] at stride `S` (0: the shape's).
///
/// # Safety
/// As [`output_row`] checks.
#[target_feature(enable = "avx2")]
unsafe fn row_outputs<const S: usize>(s: &BandShape, filters: &[__m256], input: *const f32, out: RowOut) {
    // SAFETY (every call): outputs `x0..x0 + X` are below `out_w`, so every read is at
    // most the furthest that [`output_row`] checked, and every store inside `out` (as
    // the caller promises).
    unsafe { in_runs!(0..s.out_w, outputs::<S>(s, filters, input, out)) }
}

/// Outputs `x0..x0 + X` of [`output_row`], at stride `S` (0: the shape's).
///
/// # Safety
/// As [`output_row`] checks: those outputs' taps lie in `input`, the outputs in `out`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn outputs<const X: usize, const S: usize>(
    s: &BandShape,
    filters: &[__m256],
    input: *const f32,
    out: RowOut,
    x0: usize,
) {
    let row_len = s.padded_width * CHANNELS;
    let step = if S == 0 { s.stride_w } else { S } * CHANNELS;
    let mut acc = [_mm256_setzero_ps(); X];
    let mut filter = filters.iter();
    for i in 0..s.kernel_h {
        let tap_row = i * s.dilation_h * row_len + x0 * step;
        for j in 0..s.kernel_w {
            let w = *filter.next().expect("a filter per tap");
            let tap = tap_row + j * s.dilation_w * CHANNELS;
            for (x, a) in acc.iter_mut().enumerate() {
                // SAFETY: as the caller promises.
                let v = unsafe { _mm256_loadu_ps(input.add(tap + x * step)) };
                *a = _mm256_add_ps(*a, _mm256_mul_ps(w, v));
            }
        }
    }
    // SAFETY: as the caller promises.
    unsafe { out.store(acc, x0) }
}

/// Output row `y` of a group of 8 channels read in place from its blocked input plane
/// (`plane`, `[H][W][8]`), with the sums of [`output_row`] (the same operations in the
/// same order, padding included, so the same bits): window rows above or below the input
/// read `zeros` (`W·8` zeros), and the outputs whose window reaches past the left or right
/// edge load zeros for those taps one output at a time.
///
/// # Safety
/// `out` holds the row's outputs (and its epilogue's residual and bias theirs); the CPU
/// has AVX2.
#[target_feature(enable = "avx2")]
unsafe fn output_row_in_place(s: &BandShape, filters: &[__m256], plane: &[f32], zeros: &[f32], y: usize, out: RowOut) {
    let row_len = s.width * CHANNELS;
    assert!(
        s.kernel_h <= IN_PLACE_ROWS
            && plane.len() >= s.height * row_len
            && zeros.len() >= row_len
            && filters.len() >= s.kernel_h * s.kernel_w
    );
    let mut rows = [zeros.as_ptr(); IN_PLACE_ROWS];
    for (i, row) in rows.iter_mut().enumerate().take(s.kernel_h) {
        let iy = (y * s.stride_h + i * s.dilation_h).checked_sub(s.pad_top);
        if let Some(iy) = iy.filter(|&iy| iy < s.height) {
            *row = plane[iy * row_len..].as_ptr();
        }
    }
    // Outputs `x_lo..x_hi` read only columns inside the input.
    let reach = (s.kernel_w - 1) * s.dilation_w;
    let x_lo = s.pad_left.div_ceil(s.stride_w).min(s.out_w);
    let x_hi = match s.width + s.pad_left > reach {
        true => ((s.width - 1 + s.pad_left - reach) / s.stride_w + 1).min(s.out_w),
        false => 0,
    }
    .max(x_lo);
    // SAFETY (every call): each row pointer starts a row of `W·8` values, inside rows read
    // columns below `W` only (`x_lo..x_hi`, and the edges check), and outputs below
    // `out_w` lie in `out` (as the caller promises).
    unsafe {
        for x in (0..x_lo).chain(x_hi..s.out_w) {
            output_at_edge(s, filters, &rows, out, x);
        }
        // Strides 1 and 2 as constants: each output's loads at fixed offsets, where a
        // stride read at run time took an add per load.
        match s.stride_w {
            1 => inside_outputs::<1>(s, filters, &rows, out, x_lo..x_hi),
            2 => inside_outputs::<2>(s, filters, &rows, out, x_lo..x_hi),
            _ => inside_outputs::<0>(s, filters, &rows, out, x_lo..x_hi),
        }
    }
}

/// Outputs `inside` of [`output_row_in_place`] ([`OUTPUTS`] at a time, then 4, 3, 2 or 1),
/// whose windows lie inside the input's columns, at stride `S` (0: the shape's).
///
/// # Safety
/// As [`output_row_in_place`] checks.
#[target_feature(enable = "avx2")]
unsafe fn inside_outputs<const S: usize>(
    s: &BandShape,
    filters: &[__m256],
    rows: &[*const f32; IN_PLACE_ROWS],
    out: RowOut,
    inside: std::ops::Range<usize>,
) {
    // SAFETY (every call): as the caller promises.
    unsafe { in_runs!(inside, outputs_in_place::<S>(s, filters, rows, out)) }
}

/// Outputs `x0..x0 + X` of [`output_row_in_place`], whose windows lie inside the input's
/// columns, at stride `S` (0: the shape's).
///
/// # Safety
/// As [`output_row_in_place`] checks.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn outputs_in_place<const X: usize, const S: usize>(
    s: &BandShape,
    filters: &[__m256],
    rows: &[*const f32; IN_PLACE_ROWS],
    out: RowOut,
    x0: usize,
) {
    let stride = if S == 0 { s.stride_w } else { S };
    let step = stride * CHANNELS;
    let mut acc = [_mm256_setzero_ps(); X];
    let mut filter = filters.iter();
    for row in rows.iter().take(s.kernel_h) {
        // SAFETY (every access): as the caller promises.
        unsafe {
            let first = row.add((x0 * stride - s.pad_left) * CHANNELS);
            for j in 0..s.kernel_w {
                let w = *filter.next().expect("a filter per tap");
                let tap = first.add(j * s.dilation_w * CHANNELS);
                for (x, a) in acc.iter_mut().enumerate() {
                    let v = _mm256_loadu_ps(tap.add(x * step));
                    *a = _mm256_add_ps(*a, _mm256_mul_ps(w, v));
                }
            }
        }
    }
    // SAFETY: as the caller promises.
    unsafe { out.store(acc, x0) }
}

/// Output `x` of [`output_row_in_place`], whose window reaches past the input's left or
/// right edge: zeros for the taps outside.
///
/// # Safety
/// As [`output_row_in_place`] checks.
#[target_feature(enable = "avx2")]
unsafe fn output_at_edge(s: &BandShape, filters: &[__m256], rows: &[*const f32; IN_PLACE_ROWS], out: RowOut, x: usize) {
    let mut acc = _mm256_setzero_ps();
    let mut filter = filters.iter();
    for row in rows.iter().take(s.kernel_h) {
        for j in 0..s.kernel_w {
            let w = *filter.next().expect("a filter per tap");
            let v = match (x * s.stride_w + j * s.dilation_w).checked_sub(s.pad_left) {
                // SAFETY: a column inside the row.
                Some(ix) if ix < s.width => unsafe { _mm256_loadu_ps(row.add(ix * CHANNELS)) },
                _ => _mm256_setzero_ps(),
            };
            acc = _mm256_add_ps(acc, _mm256_mul_ps(w, v));
        }
    }
    // SAFETY: as the caller promises.
    unsafe { out.store([acc], x) };
}

/// Where an output row's sums go: `out` (`[position][8]` from the row's first output),
/// through `epilogue` where there is one.
#[derive(Clone, Copy)]
struct RowOut {
    out: *mut f32,
    epilogue: Option<RowEpilogue>,
}

/// A [`DirectEpilogue`] for one output row of a group of 8 channels: the group's bias and
/// the row's residual (`[position][8]`, from the row's first position).
#[derive(Clone, Copy)]
struct RowEpilogue {
    bias: Option<*const f32>,
    residual: Option<*const f32>,
    activation: crate::blocked_layout::Activation,
}

impl RowOut {
    /// Outputs `x0..x0 + X` (`sums`), through the epilogue if any. Their sums come in an
    /// array of their own: indexed by a variable in a loop over the outputs, the
    /// accumulators of [`outputs`] stayed in memory through their sums' loop.
    ///
    /// # Safety
    /// `out` holds those outputs (and the epilogue's residual theirs, its bias 8 values);
    /// the CPU has AVX2.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn store<const X: usize>(self, mut sums: [__m256; X], x0: usize) {
        // SAFETY (every access): as the caller promises.
        unsafe {
            // Step by step over all the outputs (as [`Activation::finish`] on each: the
            // same operations in the same order): each step's branch once, not per output.
            if let Some(e) = self.epilogue {
                if let Some(bias) = e.bias {
                    let bias = _mm256_loadu_ps(bias);
                    // Loops, not `map`: its closures lack the target feature, and LLVM
                    // left some out of line (a call a run).
                    for v in &mut sums {
                        *v = _mm256_add_ps(*v, bias);
                    }
                }
                if let Some(residual) = e.residual {
                    for (x, v) in sums.iter_mut().enumerate() {
                        *v = _mm256_add_ps(*v, _mm256_loadu_ps(residual.add((x0 + x) * CHANNELS)));
                    }
                }
                for v in &mut sums {
                    *v = e.activation.apply(*v);
                }
            }
            for (x, &v) in sums.iter().enumerate() {
                _mm256_storeu_ps(self.out.add((x0 + x) * CHANNELS), v);
            }
        }
    }
}
