//! What the AVX2 conv kernels that work on zero-padded copies of their input share
//! ([`crate::depthwise_channels`], [`crate::direct_conv`], [`crate::blocked_conv`]): the
//! window's geometry in `usize`, where a band's input rows and columns lie, the 8×8
//! register transpose, and the transpose of their `[position][channel]` sums into the
//! output's channel rows, where the chain then runs.

use crate::fused::{ConvGeometry, Descriptor, Operands};
use std::arch::x86_64::*;
use std::ops::Range;

/// A conv's window geometry in `usize`, and the padded width its output reads.
pub(crate) struct BandShape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub dilation_h: usize,
    pub dilation_w: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    /// Padded columns the output reads.
    pub padded_width: usize,
}

impl BandShape {
    /// The geometry of `g`, whose output has at least one row and column.
    pub(crate) fn new(g: &ConvGeometry) -> BandShape {
        assert!(g.out_h > 0 && g.out_w > 0, "a band needs an output");
        let v = |x: i64| x as usize;
        BandShape {
            channels: v(g.channels),
            height: v(g.height),
            width: v(g.width),
            kernel_h: v(g.kernel_h),
            kernel_w: v(g.kernel_w),
            out_h: v(g.out_h),
            out_w: v(g.out_w),
            stride_h: v(g.stride_h),
            stride_w: v(g.stride_w),
            dilation_h: v(g.dilation_h),
            dilation_w: v(g.dilation_w),
            pad_top: v(g.pad_top),
            pad_left: v(g.pad_left),
            padded_width: v((g.out_w - 1) * g.stride_w + (g.kernel_w - 1) * g.dilation_w + 1),
        }
    }

    /// Padded input rows that output rows `y0..y1` (`y0 < y1`) read.
    pub(crate) fn band_rows(&self, y0: usize, y1: usize) -> usize {
        (y1 - 1 - y0) * self.stride_h + (self.kernel_h - 1) * self.dilation_h + 1
    }

    /// The padded columns that hold input columns: `start..start + used` hold input
    /// columns `0..used` (the rest is padding, or input the output never reads).
    pub(crate) fn input_columns(&self) -> (usize, usize) {
        let start = self.pad_left.min(self.padded_width);
        (start, self.width.min(self.padded_width - start))
    }

    /// Of the band of padded rows `first..first + rows`, the rows that hold input rows
    /// (the rest is padding), relative to the band; the first of them is input row
    /// `first + range.start - pad_top`.
    pub(crate) fn input_rows(&self, first: usize, rows: usize) -> Range<usize> {
        let start = self.pad_top.saturating_sub(first).min(rows);
        let end = (self.pad_top + self.height).saturating_sub(first).min(rows);
        start..end.max(start)
    }
}

/// Padded rows `first..first + rows` of channels `8·cb..8·cb + 8` of a channel-blocked
/// input (`[channels / 8][row][column][8]`, [`crate::fused::Layout`]) as `[padded
/// row][padded column][8]` in `dst`: its rows copied, zero in the padding.
pub(crate) fn copy_blocked_band(s: &BandShape, input: &[f32], cb: usize, band: (usize, usize), dst: &mut [f32]) {
    let block = s.height * s.width * 8;
    copy_padded_rows(s, &input[cb * block..][..block], 8, band, dst);
}

/// Padded rows `first..first + rows` of `values` (`[row][column][lanes]`: one block of 8
/// channels of a channel-blocked input, or one channel's plane with `lanes` 1) as `[padded
/// row][padded column][lanes]` in `dst`: its rows copied, zero in the padding.
pub(crate) fn copy_padded_rows(
    s: &BandShape,
    values: &[f32],
    lanes: usize,
    (first, rows): (usize, usize),
    dst: &mut [f32],
) {
    let (start, used) = s.input_columns();
    let inside = s.input_rows(first, rows);
    for (r, row) in dst.chunks_exact_mut(s.padded_width * lanes).take(rows).enumerate() {
        if !inside.contains(&r) {
            row.fill(0.0);
            continue;
        }
        row[..start * lanes].fill(0.0);
        row[(start + used) * lanes..].fill(0.0);
        let iy = first + r - s.pad_top;
        row[start * lanes..][..used * lanes].copy_from_slice(&values[iy * s.width * lanes..][..used * lanes]);
    }
}

/// The 8×8 transpose: lane `j` of result `i` is lane `i` of `v[j]`.
#[target_feature(enable = "avx2")]
pub(crate) fn transpose8(v: [__m256; 8]) -> [__m256; 8] {
    // Pairs of rows interleaved, then quads, then the 128-bit halves exchanged.
    let t0 = _mm256_unpacklo_ps(v[0], v[1]);
    let t1 = _mm256_unpackhi_ps(v[0], v[1]);
    let t2 = _mm256_unpacklo_ps(v[2], v[3]);
    let t3 = _mm256_unpackhi_ps(v[2], v[3]);
    let t4 = _mm256_unpacklo_ps(v[4], v[5]);
    let t5 = _mm256_unpackhi_ps(v[4], v[5]);
    let t6 = _mm256_unpacklo_ps(v[6], v[7]);
    let t7 = _mm256_unpackhi_ps(v[6], v[7]);
    let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    [
        _mm256_permute2f128_ps::<0x20>(u0, u4),
        _mm256_permute2f128_ps::<0x20>(u1, u5),
        _mm256_permute2f128_ps::<0x20>(u2, u6),
        _mm256_permute2f128_ps::<0x20>(u3, u7),
        _mm256_permute2f128_ps::<0x31>(u0, u4),
        _mm256_permute2f128_ps::<0x31>(u1, u5),
        _mm256_permute2f128_ps::<0x31>(u2, u6),
        _mm256_permute2f128_ps::<0x31>(u3, u7),
    ]
}

/// Writes `sums` (`[position][width]`, `positions` of them, `width` a multiple of 8 at
/// least `m`) as the first `m` channels' runs of `positions` values at `target`,
/// `row_stride` apart: 8 positions of 8 channels at a time by [`transpose8`].
///
/// # Safety
/// `target + r·row_stride` is writable for `positions` values for each `r < m`; the CPU
/// has AVX2.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn transpose_to_rows(
    sums: &[f32],
    positions: usize,
    width: usize,
    m: usize,
    target: *mut f32,
    row_stride: usize,
) {
    assert!(sums.len() >= positions * width && m.next_multiple_of(8) <= width);
    for c0 in (0..m).step_by(8) {
        let channels = 8.min(m - c0);
        for p0 in (0..positions).step_by(8) {
            let count = 8.min(positions - p0);
            let rows: [__m256; 8] = std::array::from_fn(|p| match p < count {
                // SAFETY: position `p0 + p` below `positions`, channels `c0..c0 + 8` below
                // `width` (asserted above).
                true => unsafe { _mm256_loadu_ps(sums.as_ptr().add((p0 + p) * width + c0)) },
                false => _mm256_setzero_ps(),
            });
            for (c, v) in transpose8(rows).iter().enumerate().take(channels) {
                // SAFETY: `count` values of channel `c0 + c`'s run, as the caller promises.
                unsafe { crate::fused::store_first_lanes(target.add((c0 + c) * row_stride + p0), *v, count) };
            }
        }
    }
}

/// Writes `sums` (`[position][width]`, `positions` of them) as the runs of output
/// channels `r0..r0 + count` from output column `p0`, and runs the chain on each run: in
/// place in the `[M, N]` output at `out_addr` when `in_place`, else in `rows` (scratch)
/// first, the results then copied out.
///
/// # Safety
/// The runs are the caller's alone, inside the output; `count` is at most `width`, a
/// multiple of 8; the CPU has AVX2.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn finish_channel_runs(
    d: &Descriptor,
    operands: &Operands,
    (in_place, out_addr): (bool, usize),
    (sums, width): (&[f32], usize),
    (r0, count): (usize, usize),
    (p0, positions): (usize, usize),
    rows: &mut Vec<f32>,
) {
    let n = d.n as usize;
    let (target, row_stride) = if in_place {
        ((out_addr as *mut f32).wrapping_add(r0 * n + p0), n)
    } else {
        rows.resize(rows.len().max(count * positions), 0.0);
        (rows.as_mut_ptr(), positions)
    };
    // SAFETY: `target` holds `count` runs of `positions` values, `row_stride` apart, as
    // the caller promises (or in `rows`).
    unsafe { transpose_to_rows(sums, positions, width, count, target, row_stride) };
    for r in 0..count {
        // SAFETY: channel `r0 + r`'s run, written above.
        let row = unsafe { std::slice::from_raw_parts_mut(target.add(r * row_stride), positions) };
        crate::fused::finish_row(d, operands, in_place, out_addr, (r0 + r, p0), row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `input_rows` on bands above, across, inside and below the input, with padding
    /// wider than the window (bands entirely below the input).
    #[test]
    fn input_rows_of_bands_anywhere() {
        for (pad_top, height) in [(0usize, 1usize), (2, 1), (1, 5), (3, 2)] {
            let shape = BandShape {
                channels: 1,
                height,
                width: 1,
                kernel_h: 1,
                kernel_w: 1,
                out_h: 1,
                out_w: 1,
                stride_h: 1,
                stride_w: 1,
                dilation_h: 1,
                dilation_w: 1,
                pad_top,
                pad_left: 0,
                padded_width: 1,
            };
            for first in 0..pad_top + height + 3 {
                for rows in 1..6 {
                    let expected: Vec<usize> = (0..rows)
                        .filter(|r| (pad_top..pad_top + height).contains(&(first + r)))
                        .collect();
                    let range: Vec<usize> = shape.input_rows(first, rows).collect();
                    assert_eq!(
                        range, expected,
                        "pad {pad_top}, height {height}, first {first}, rows {rows}"
                    );
                }
            }
        }
    }

    /// The transpose of a matrix of distinct values, every lane.
    #[test]
    fn transpose8_moves_every_lane() {
        if !is_x86_feature_detected!("avx2") {
            return;
        }
        let values: Vec<f32> = (0..64).map(|v| v as f32).collect();
        // SAFETY: 8 values a row; the CPU has AVX2 (checked above).
        let rows: [__m256; 8] = std::array::from_fn(|i| unsafe { _mm256_loadu_ps(values[i * 8..].as_ptr()) });
        // SAFETY: as above.
        let columns = unsafe { transpose8(rows) };
        for (j, column) in columns.iter().enumerate() {
            let mut lanes = [0f32; 8];
            // SAFETY: 8 values.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), *column) };
            for (i, &lane) in lanes.iter().enumerate() {
                assert_eq!(lane, values[i * 8 + j]);
            }
        }
    }
}
