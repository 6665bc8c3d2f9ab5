//! 3×3 convs of stride 1 by Winograd's minimal filtering F(2×2, 3×3) (Lavin and Gray,
//! "Fast Algorithms for Convolutional Neural Networks", 2016): each 2×2 block of output
//! positions (a tile) is `Aᵀ·[Σ_c U_c ⊙ V_c]·A`, where `V_c = Bᵀ·d_c·B` is the tile's
//! 4×4 input window of channel `c` transformed and `U_c = G·g_c·Gᵀ` the 3×3 filter's.
//! The sum over channels is 16 independent matrix products (one per point `ξ` of the 4×4
//! transform), `M_ξ[tile][k] = Σ_c V_ξ[tile][c]·U_ξ[c][k]`: 16 multiply-adds per tile and
//! channel pair where the direct conv does 36 (4 positions × 9 taps), 2.25 times fewer.
//!
//! It takes the channel-blocked convs of the AVX2 tier on a CPU with AVX-512F (AMD Zen 4,
//! [`crate::vector_width::zmm_on_avx2_tier`]) that [`computes`] accepts, in place of
//! [`crate::blocked_conv`]:
//! - The filters are transformed once, in f64, and kept ([`crate::weight_cache`]) as
//!   `[ξ][output channels / 32][channel][32]`.
//! - The input's tiles are transformed into `[ξ][tile][channel]` (8 channels a vector,
//!   straight from the blocked input, zero outside it), split across the threads by rows
//!   of tiles.
//! - A work unit is 32 output channels by a group of at most [`TILES`] tiles: for each `ξ`
//!   the group's sums in 16 512-bit accumulators (per channel step two vectors of weights
//!   and a broadcast value a tile), then the output transform and the epilogue (a bias, a
//!   residual, ReLU or a clip: [`DirectEpilogue`]) straight into the blocked output.
//!
//! Its sums are not the direct conv's: the transforms add and subtract inputs before the
//! products (and the filter's halves are rounded to f32), so an output differs from the
//! direct sum by a few units in the last place of the values it sums (the tests bound
//! it), as onnxruntime's and every other Winograd kernel's do.

use crate::aligned::AlignedBuffer;
use crate::blocked_layout::{Activation, DirectEpilogue};
use crate::fused::{Contraction, Descriptor, Operands};
use std::arch::x86_64::*;
use std::cell::RefCell;

/// Values in a vector of the blocked layout: channels of a position.
const LANES: usize = 8;
/// Output channels of a work unit: two 512-bit vectors.
const CHANNELS: usize = 32;
/// Points of the 4×4 transform: the independent products.
const POINTS: usize = 16;
/// Tiles of a work unit, at most: 16 accumulators, two vectors of weights and the
/// broadcast values fit the 32 registers.
const TILES: usize = 8;
/// Tiles a conv needs at least: a 7×7 map's 16 tiles (of 512 channels in ResNet-50) would
/// sum 64 positions for its 49, and read 16/9 times the weights that the direct conv reads
/// (streamed from memory at every inference: ResNet-50's weights pass the L3 cache).
const MIN_TILES: usize = 32;

/// Whether [`run`] computes the conv of `d`: a 3×3 window of stride and dilation 1 over
/// constant weights, channel-blocked input and output, whole blocks of input channels,
/// output channels in whole units of 32, at least [`MIN_TILES`] tiles, an epilogue that
/// [`DirectEpilogue`] takes, on a CPU that runs the AVX2 tier with AVX-512F (see the
/// module's docs).
pub(crate) fn computes(d: &Descriptor) -> bool {
    let g = &d.conv;
    d.contraction == Contraction::Conv2d
        && d.constant_weights != 0
        && d.layout.input_blocked
        && d.layout.output_blocked
        && [g.kernel_h, g.kernel_w] == [3, 3]
        && [g.stride_h, g.stride_w, g.dilation_h, g.dilation_w] == [1; 4]
        && g.channels > 0
        && g.channels % LANES as i64 == 0
        && d.m > 0
        && d.m % CHANNELS as i64 == 0
        && d.k == 9 * g.channels
        && g.out_h > 0
        && g.out_w > 0
        && tiles(g.out_h as usize) * tiles(g.out_w as usize) >= MIN_TILES
        && DirectEpilogue::of(&d.epilogue).is_some()
        && crate::blocked_conv::layout_on_host()
        && crate::vector_width::zmm_on_avx2_tier()
}

/// Tiles along an output side of `size` positions.
fn tiles(size: usize) -> usize {
    size.div_ceil(2)
}

/// `G·v` for a column `v` of a filter: `G = [[1, 0, 0], [½, ½, ½], [½, -½, ½], [0, 0, 1]]`.
fn filter_column(v: [f64; 3]) -> [f64; 4] {
    [v[0], 0.5 * (v[0] + v[1] + v[2]), 0.5 * (v[0] - v[1] + v[2]), v[2]]
}

/// `U = G·g·Gᵀ` for a 3×3 filter `g`, rounded to f32 once, at the end.
fn transform_filter(g: [[f64; 3]; 3]) -> [f32; POINTS] {
    let columns: [[f64; 4]; 3] = std::array::from_fn(|j| filter_column([g[0][j], g[1][j], g[2][j]]));
    let mut u = [0f32; POINTS];
    for i in 0..4 {
        let row = filter_column([columns[0][i], columns[1][i], columns[2][i]]);
        for j in 0..4 {
            u[i * 4 + j] = row[j] as f32;
        }
    }
    u
}

/// Where point `xi` of output channel `r`'s filter over channel `ch` lies in a packing of
/// `m` output channels and `c` channels.
/// Blocks of 32 output channels first: a unit reads its blocks' points in one stream.
fn packed_index(c: usize, xi: usize, r: usize, ch: usize) -> usize {
    (((r / CHANNELS) * POINTS + xi) * c + ch) * CHANNELS + r % CHANNELS
}

/// Filter `(r, ch)` of the weights `A[m][c·9]` (element `(r, step)` at
/// `a + r·a_row + step·a_col`, steps in the order channel, row, column).
///
/// # Safety
/// `a` addresses A under those strides.
unsafe fn filter(a: *const f32, [a_row, a_col]: [isize; 2], r: usize, ch: usize) -> [[f64; 3]; 3] {
    std::array::from_fn(|i| {
        std::array::from_fn(|j| {
            let step = (ch * 9 + i * 3 + j) as isize;
            // SAFETY: element (r, step) of A, as the caller promises.
            f64::from(unsafe { *a.offset(r as isize * a_row + step * a_col) })
        })
    })
}

/// The weights `A[m][c·9]` transformed, as `[m / 32][ξ][c][32]`.
///
/// # Safety
/// As [`filter`].
pub(crate) unsafe fn pack_weights(a: *const f32, strides: [isize; 2], m: usize, c: usize) -> AlignedBuffer {
    let mut packed = AlignedBuffer::zeroed(POINTS * m * c);
    for r in 0..m {
        for ch in 0..c {
            // SAFETY: as this function's contract.
            let u = transform_filter(unsafe { filter(a, strides, r, ch) });
            for (xi, value) in u.into_iter().enumerate() {
                packed[packed_index(c, xi, r, ch)] = value;
            }
        }
    }
    packed
}

/// Filters a kept packing is checked against on every call, spread over the weights.
const SAMPLES: usize = 8;

/// Whether `packed` is the weights' packing as they are now, at [`SAMPLES`] filters.
///
/// # Safety
/// As [`filter`].
unsafe fn packing_matches(packed: &[f32], a: *const f32, strides: [isize; 2], m: usize, c: usize) -> bool {
    packed.len() == POINTS * m * c
        && crate::weight_cache::samples(m * c, SAMPLES).all(|index| {
            let (r, ch) = (index / c, index % c);
            // SAFETY: as this function's contract.
            let u = transform_filter(unsafe { filter(a, strides, r, ch) });
            (0..POINTS).all(|xi| packed[packed_index(c, xi, r, ch)].to_bits() == u[xi].to_bits())
        })
}

/// The fused call for a descriptor that [`computes`] accepts, its encoding at
/// `descriptor`: the filters are transformed on the first call over them and kept.
///
/// # Safety
/// As [`crate::fused::fuser_fused_f32`]; [`computes`] accepts `d`.
pub(crate) unsafe fn run(d: &Descriptor, descriptor: i64, a: i64, b: i64, out: i64, operands: &Operands) {
    let (m, c) = (d.m as usize, d.conv.channels as usize);
    let strides = [d.strides[0] as isize, d.strides[1] as isize];
    let a_ptr = a as *const f32;
    let weights = crate::weight_cache::packed(
        // The descriptor's address is a multiple of 8: one more keeps this packing apart
        // from the blocked conv's of the same call (`fuser bench --ab` may run both).
        (descriptor | 1, d.constant_weights, a),
        // SAFETY (both): the caller passes the conv's weights.
        |packed| unsafe { packing_matches(packed, a_ptr, strides, m, c) },
        || unsafe { pack_weights(a_ptr, strides, m, c) },
    );
    // SAFETY: as this function's contract.
    unsafe { run_packed(d, &weights, b, out, operands) }
}

/// The conv's sizes as this kernel walks them.
#[derive(Clone, Copy)]
struct Shape {
    channels: usize,
    height: usize,
    width: usize,
    out_h: usize,
    out_w: usize,
    pad_top: usize,
    pad_left: usize,
    tiles_w: usize,
    tiles: usize,
}

impl Shape {
    fn of(d: &Descriptor) -> Shape {
        let g = &d.conv;
        let v = |x: i64| x as usize;
        let (out_h, out_w) = (v(g.out_h), v(g.out_w));
        Shape {
            channels: v(g.channels),
            height: v(g.height),
            width: v(g.width),
            out_h,
            out_w,
            pad_top: v(g.pad_top),
            pad_left: v(g.pad_left),
            tiles_w: tiles(out_w),
            tiles: tiles(out_h) * tiles(out_w),
        }
    }
}

/// [`run`] over filters laid out by [`pack_weights`].
///
/// # Safety
/// As [`run`].
pub(crate) unsafe fn run_packed(d: &Descriptor, weights: &[f32], b: i64, out: i64, operands: &Operands) {
    let s = Shape::of(d);
    let m = d.m as usize;
    let epilogue = DirectEpilogue::of(&d.epilogue).expect("an epilogue that `computes` takes");
    assert!(weights.len() >= POINTS * m * s.channels && m.is_multiple_of(CHANNELS));
    let (input, out_addr) = (b as usize, out as usize);
    let blocks = m / CHANNELS;
    // Units of at most UNIT_TILES tiles, as many for each thread, each transforming its
    // tiles' input into a buffer of its thread.
    let threads = crate::microkernels::threads();
    let units = s.tiles.div_ceil(UNIT_TILES).next_multiple_of(threads).min(s.tiles);
    crate::microkernels::for_each_item((0..units).collect(), |u| {
        let (t0, t1) = (u * s.tiles / units, (u + 1) * s.tiles / units);
        TRANSFORMED.with(|transformed| {
            let transformed = &mut *transformed.borrow_mut();
            let len = POINTS * (t1 - t0) * s.channels;
            if transformed.len() < len {
                transformed.resize(len, 0.0);
            }
            with_sums(POINTS * (t1 - t0) * CHANNELS, |sums| {
                // SAFETY: the input holds the blocked channels of the conv, the packing
                // every block's filters; the unit's outputs lie in the blocked output,
                // which only this unit writes; the epilogue's operands are the output's
                // size (its bias `m`); the CPU has AVX-512F, AVX2 and FMA ([`computes`]).
                unsafe {
                    for t in t0..t1 {
                        transform_tile(
                            &s,
                            input as *const f32,
                            t,
                            transformed.as_mut_ptr().add((t - t0) * s.channels),
                            (t1 - t0) * s.channels,
                        );
                    }
                    unit(
                        &s,
                        (weights, (&transformed[..len], t1 - t0), sums),
                        (t0, t1 - t0, 0..blocks),
                        out_addr as *mut f32,
                        (epilogue, operands),
                    )
                };
            });
        });
    });
}

/// Runs `f` with the calling thread's buffer for a unit's sums, at least `len` values.
fn with_sums<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SUMS.with(|sums| {
        let sums = &mut *sums.borrow_mut();
        if sums.len() < len {
            sums.resize(len, 0.0);
        }
        f(&mut sums[..len])
    })
}

/// Tiles of a work unit, at most: one group of [`TILES`]. Units of two groups, the second
/// reading each point's filters from the L1 cache after the first, were fewer: ResNet-50's
/// 3×3 convs of 256 channels at 14×14 (49 tiles: 4 units for 2 threads) took 0.78–0.82 ms
/// in the model against 0.59–0.68 (two threads, `fuser bench --profile`).
const UNIT_TILES: usize = TILES;

thread_local! {
    /// A tile unit's transformed input (`[ξ][tile][channel]`).
    static TRANSFORMED: RefCell<AlignedBuffer> = const { RefCell::new(AlignedBuffer::new()) };
    /// A unit's sums (`[ξ][tile][32]`, one block of output channels at a time).
    static SUMS: RefCell<AlignedBuffer> = const { RefCell::new(AlignedBuffer::new()) };
}

/// Transforms the input window of tile `tile` into `to` (point `ξ`'s channels at
/// `to + ξ·stride`): `V = Bᵀ·d·B` for each 4×4 window `d` of 8 channels (zero outside
/// the input), `Bᵀ = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]`.
///
/// # Safety
/// `input` holds the blocked input (`[channel / 8][row][column][8]`), `to` the tile's
/// channels of every point; the CPU has AVX2.
#[target_feature(enable = "avx2")]
unsafe fn transform_tile(s: &Shape, input: *const f32, tile: usize, to: *mut f32, stride: usize) {
    let plane = s.height * s.width * LANES;
    let (ty, tx) = (tile / s.tiles_w, tile % s.tiles_w);
    let y0 = (2 * ty) as isize - s.pad_top as isize;
    let x0 = (2 * tx) as isize - s.pad_left as isize;
    // Where each of the window's rows and columns lies, or None outside the input.
    let mut rows = [None; 4];
    let mut columns = [None; 4];
    for i in 0..4 {
        let (y, x) = (y0 + i as isize, x0 + i as isize);
        rows[i] = (0..s.height as isize).contains(&y).then_some(y as usize * s.width);
        columns[i] = (0..s.width as isize).contains(&x).then_some(x as usize);
    }
    for cb in 0..s.channels / LANES {
        // SAFETY (each access): positions inside the input, as the caller promises; the
        // tile's values of every point inside `to`.
        unsafe {
            let base = input.add(cb * plane);
            // Loops, not `array::from_fn`: its closures would not take the target
            // features, and each load and operation would be a call.
            let mut d = [[_mm256_setzero_ps(); 4]; 4];
            for i in 0..4 {
                for j in 0..4 {
                    if let (Some(row), Some(column)) = (rows[i], columns[j]) {
                        d[i][j] = _mm256_loadu_ps(base.add((row + column) * LANES));
                    }
                }
            }
            // Bᵀ·d (by columns), then (Bᵀ·d)·B (by rows).
            let mut e = [[_mm256_setzero_ps(); 4]; 4];
            for j in 0..4 {
                e[j] = input_points([d[0][j], d[1][j], d[2][j], d[3][j]]);
            }
            for i in 0..4 {
                let v = input_points(e.map(|column| column[i]));
                for (j, value) in v.into_iter().enumerate() {
                    _mm256_storeu_ps(to.add((i * 4 + j) * stride + cb * LANES), value);
                }
            }
        }
    }
}

/// `Bᵀ·v` for a column `v` of 4 vectors.
#[target_feature(enable = "avx")]
#[inline]
fn input_points(v: [__m256; 4]) -> [__m256; 4] {
    [
        _mm256_sub_ps(v[0], v[2]),
        _mm256_add_ps(v[1], v[2]),
        _mm256_sub_ps(v[2], v[1]),
        _mm256_sub_ps(v[1], v[3]),
    ]
}

/// `Aᵀ·v` for a column `v` of 4 vectors: `Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]]`.
#[target_feature(enable = "avx")]
#[inline]
fn output_points(v: [__m256; 4]) -> [__m256; 2] {
    [
        _mm256_add_ps(_mm256_add_ps(v[0], v[1]), v[2]),
        _mm256_sub_ps(_mm256_sub_ps(v[1], v[2]), v[3]),
    ]
}

/// One work unit: the output channels of `blocks` (blocks of 32) of tiles
/// `t0..t0 + count`, block by block: summed for each point over the transformed input of
/// those tiles (`[ξ][tile][channel]`, from these tiles' first, `stride` tiles a point)
/// into `sums` (`[ξ][tile][32]`), transformed back and written through the epilogue.
///
/// # Safety
/// As [`run_packed`]'s call of it.
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn unit(
    s: &Shape,
    (weights, (transformed, stride), sums): (&[f32], (&[f32], usize), &mut [f32]),
    (t0, count, blocks): (usize, usize, std::ops::Range<usize>),
    out: *mut f32,
    (epilogue, operands): (DirectEpilogue, &Operands),
) {
    let c = s.channels;
    let n = s.out_h * s.out_w;
    let bias = epilogue.bias.map(|i| operands.pointer(i));
    let residual = epilogue.residual.map(|i| operands.pointer(i));
    // Groups of at most TILES tiles, balanced.
    let groups = count.div_ceil(TILES);
    let sums_stride = count * CHANNELS;
    assert!(count <= stride && transformed.len() >= ((POINTS - 1) * stride + count) * c);
    assert!(sums.len() >= POINTS * sums_stride);
    for block in blocks {
        for xi in 0..POINTS {
            let at = packed_index(c, xi, block * CHANNELS, 0);
            let u = &weights[at..][..c * CHANNELS];
            for g in 0..groups {
                let (g0, g1) = (g * count / groups, (g + 1) * count / groups);
                let v = &transformed[(xi * stride + g0) * c..][..(g1 - g0) * c];
                let sums = &mut sums[xi * sums_stride + g0 * CHANNELS..][..(g1 - g0) * CHANNELS];
                macro_rules! counts {
                    ($($count:literal)*) => {
                        match g1 - g0 {
                            $($count => multiply::<$count>(u, v, c, sums),)*
                            _ => unreachable!("a group has 1 to {} tiles", TILES),
                        }
                    };
                }
                // SAFETY: `u` holds `c` steps of 32 weights, `v` the group's tiles of `c`
                // values, `sums` their 32 sums.
                unsafe { counts!(1 2 3 4 5 6 7 8) }
            }
        }
        for t in 0..count {
            let (ty, tx) = ((t0 + t) / s.tiles_w, (t0 + t) % s.tiles_w);
            for g in 0..CHANNELS / LANES {
                let r = block * CHANNELS + g * LANES;
                // SAFETY (each access): the sums of the unit's tiles; the output's (and the
                // residual's) positions of its channels, and their bias.
                unsafe {
                    let mut m = [_mm256_setzero_ps(); POINTS];
                    for (xi, m) in m.iter_mut().enumerate() {
                        *m = _mm256_loadu_ps(sums.as_ptr().add(xi * sums_stride + t * CHANNELS + g * LANES));
                    }
                    // Aᵀ·M (by columns), then (Aᵀ·M)·A (by rows). Loops, not closures: see
                    // [`transform_tile`].
                    let mut columns = [[_mm256_setzero_ps(); 2]; 4];
                    for (j, column) in columns.iter_mut().enumerate() {
                        *column = output_points([m[j], m[4 + j], m[8 + j], m[12 + j]]);
                    }
                    for dy in 0..2 {
                        let y = 2 * ty + dy;
                        if y >= s.out_h {
                            break;
                        }
                        let values = output_points(columns.map(|column| column[dy]));
                        for (dx, value) in values.into_iter().enumerate() {
                            let x = 2 * tx + dx;
                            if x >= s.out_w {
                                break;
                            }
                            let at = crate::blocked_layout::blocked_index(r, y * s.out_w + x, n);
                            let value = finish(
                                epilogue.activation,
                                value,
                                bias.map(|b| b.add(r)),
                                residual.map(|e| e.add(at)),
                            );
                            _mm256_storeu_ps(out.add(at), value);
                        }
                    }
                }
            }
        }
    }
}

/// [`Activation::finish`] (a function of its own: a closure would not take the target
/// features).
///
/// # Safety
/// As [`Activation::finish`].
#[target_feature(enable = "avx")]
#[inline]
unsafe fn finish(activation: Activation, v: __m256, bias: Option<*const f32>, residual: Option<*const f32>) -> __m256 {
    // SAFETY: as this function's contract.
    unsafe { activation.finish(v, bias, residual) }
}

/// The sums of `P` tiles' 32 output channels for one point: for each channel step in
/// order, the tiles' values (`v[p·c + step]`) times the step's 32 weights
/// (`u[step·32..]`), one fused multiply-add each, from zero; written to `sums`
/// (`[P][32]`).
///
/// # Safety
/// `u` holds `c` steps of 32 weights, `v` `P` tiles of `c` values, `sums` `P·32` values;
/// the CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn multiply<const P: usize>(u: &[f32], v: &[f32], c: usize, sums: &mut [f32]) {
    debug_assert!(u.len() >= c * CHANNELS && v.len() >= P * c && sums.len() >= P * CHANNELS);
    // SAFETY (every access): as this function's contract.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); 2]; P];
        let bases: [*const f32; P] = std::array::from_fn(|p| v.as_ptr().add(p * c));
        let mut w = u.as_ptr();
        for step in 0..c {
            let low = _mm512_loadu_ps(w);
            let high = _mm512_loadu_ps(w.add(16));
            for (acc, base) in acc.iter_mut().zip(&bases) {
                let x = _mm512_set1_ps(*base.add(step));
                acc[0] = _mm512_fmadd_ps(low, x, acc[0]);
                acc[1] = _mm512_fmadd_ps(high, x, acc[1]);
            }
            w = w.add(CHANNELS);
        }
        for (p, acc) in acc.iter().enumerate() {
            for (h, &sum) in acc.iter().enumerate() {
                _mm512_storeu_ps(sums.as_mut_ptr().add(p * CHANNELS + h * 16), sum);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::Layout;
    use crate::register_tiled::tests::{ConvCall, GUARD, conv_geometry, epilogue};
    use proptest::prelude::*;

    /// The filter transform of a filter that is one 1 at `(i, j)`: the outer product of
    /// `G`'s columns `i` and `j`, as written out by hand.
    #[test]
    fn filters_transform_as_g_g_gt() {
        let g_columns = [[1.0, 0.5, 0.5, 0.0], [0.0, 0.5, -0.5, 0.0], [0.0, 0.5, 0.5, 1.0]];
        for i in 0..3 {
            for j in 0..3 {
                let mut filter = [[0.0; 3]; 3];
                filter[i][j] = 1.0;
                let u = transform_filter(filter);
                for (xi, value) in u.iter().enumerate() {
                    assert_eq!(*value, (g_columns[i][xi / 4] * g_columns[j][xi % 4]) as f32);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Convs of any map (odd sides, tiles past the output, padding of 0 to 2 on each
        /// side) and epilogue (a bias, a residual that may be the output itself, ReLU, a
        /// clip) agree with the direct blocked conv to within the rounding of their
        /// different sums, and nothing past the output is written.
        #[test]
        fn winograd_convs_agree_with_the_direct_conv(
            c8 in 1usize..9, f32s in 1usize..4, h in 1usize..20, w in 1usize..20,
            pads in (0usize..3, 0usize..3), kind in 0u8..4, residual_is_output in any::<bool>(),
            seed in any::<u64>(),
        ) {
            if !crate::blocked_conv::layout_on_host() || !crate::vector_width::zmm_on_avx2_tier() {
                return Ok(());
            }
            let c = 8 * c8;
            let Some(conv) = conv_geometry((c, h, w), (3, 3), (1, 1), 1, pads) else {
                return Ok(());
            };
            let (m, k) = (CHANNELS * f32s, 9 * c);
            let n = (conv.out_h * conv.out_w) as usize;
            let d = Descriptor {
                contraction: Contraction::Conv2d,
                m: m as i64,
                n: n as i64,
                k: k as i64,
                strides: [k as i64, 1, n as i64, 1],
                conv,
                batch: crate::fused::Batch::default(),
                constant_weights: 7,
                layout: Layout { input_blocked: true, output_blocked: true },
                epilogue: epilogue(kind),
            };
            let tiles = tiles(conv.out_h as usize) * tiles(conv.out_w as usize);
            prop_assert_eq!(computes(&d), tiles >= MIN_TILES);
            let call = ConvCall::new(&d, seed);
            let [mut winograd, mut direct] = [(); 2].map(|_| call.start.clone());
            // SAFETY (all): A is `[m][k]`; the buffers cover the descriptor's shapes (the
            // input and output taken as blocked); the CPU has AVX-512F, AVX2 and FMA.
            unsafe {
                let packed = pack_weights(call.a.as_ptr(), [k as isize, 1], m, c);
                let operands = call.operands(&winograd, residual_is_output, n);
                run_packed(&d, &packed, call.b.as_ptr() as i64, winograd.as_mut_ptr() as i64, &operands);
                let packed = crate::blocked_conv::pack_weights(call.a.as_ptr(), [k as isize, 1], m, k);
                let operands = call.operands(&direct, residual_is_output, n);
                crate::blocked_conv::run_packed(&d, &packed, call.b.as_ptr() as i64, direct.as_mut_ptr() as i64, &operands);
            }
            prop_assert!(winograd[m * n..].iter().all(|&v| v == GUARD), "written past the output");
            // Both sum 9·c products of values below 1 (and the residual), the transforms
            // adding up to 16 inputs and 4·9 weights' halves before a product.
            let tolerance = 4e-6 * k as f32 + 1e-5;
            for (i, (x, y)) in winograd[..m * n].iter().zip(&direct[..m * n]).enumerate() {
                prop_assert!((x - y).abs() <= tolerance, "output {}: {} vs {}", i, x, y);
            }
        }
    }
}

#[cfg(test)]
mod timing {
    use super::*;
    use crate::blocked_conv::tests::cold_call_seconds;
    use crate::fused::Layout;
    use crate::register_tiled::tests::{conv_descriptor, seconds_per_call, threads_from_environment, values};

    /// Not a test: `cargo test --release -p fuser-runtime winograd_timing -- --ignored
    /// --nocapture` times ResNet-50's 3×3 convs of stride 1 here and on the direct blocked
    /// conv ([`crate::blocked_conv`]), alternating, on `F32_THREADS` threads (default: all
    /// cores), blocked tensors, filters packed before. With `F32_COLD=1` the caches are
    /// emptied before each call (64 MB written) and a call's time is the fastest of 5
    /// single calls.
    #[test]
    #[ignore]
    fn winograd_timing() {
        if !crate::blocked_conv::layout_on_host() || !crate::vector_width::zmm_on_avx2_tier() {
            return;
        }
        threads_from_environment();
        // Written before each call when the caches are to be cold: more than the L3 cache.
        let mut cold = match std::env::var("F32_COLD").is_ok_and(|v| v == "1") {
            true => vec![0u8; 64 << 20],
            false => Vec::new(),
        };
        let chain = vec![crate::fused::Step::AddRow(0), crate::fused::Step::Relu];
        for (c, f, size) in [
            (64usize, 64usize, 56usize),
            (128, 128, 28),
            (256, 256, 14),
            (512, 512, 7),
        ] {
            let d = conv_descriptor((c, f, size, size, 3, 3), (1, 1, 1), chain.clone()).unwrap();
            let d = Descriptor {
                layout: Layout {
                    input_blocked: true,
                    output_blocked: true,
                },
                constant_weights: 7,
                ..d
            };
            let (m, n, k) = (d.m as usize, d.n as usize, d.k as usize);
            let (a, b, bias) = (values(1, m * k), values(2, c * size * size), values(3, m));
            let mut out = vec![0f32; m * n];
            let o = out.as_mut_ptr() as i64;
            let operands = Operands::new([bias.as_ptr() as i64, 0, 0], n);
            // SAFETY: A is `[m][k]`.
            let (winograd, direct) = unsafe {
                (
                    pack_weights(a.as_ptr(), [k as isize, 1], m, c),
                    crate::blocked_conv::pack_weights(a.as_ptr(), [k as isize, 1], m, k),
                )
            };
            let mut best = [f64::MAX; 2];
            for _ in 0..8 {
                for (path, best) in best.iter_mut().enumerate() {
                    // SAFETY: the buffers cover the descriptor's shapes; the CPU has
                    // AVX-512F, AVX2 and FMA (checked above).
                    let call = || unsafe {
                        match path {
                            0 => run_packed(&d, &winograd, b.as_ptr() as i64, o, &operands),
                            _ => crate::blocked_conv::run_packed(&d, &direct, b.as_ptr() as i64, o, &operands),
                        }
                    };
                    *best = best.min(match cold.is_empty() {
                        true => seconds_per_call(call),
                        false => (0..5)
                            .map(|_| cold_call_seconds(&mut cold, call))
                            .fold(f64::MAX, f64::min),
                    });
                }
            }
            let [winograd, direct] = best.map(|t| t * 1e3);
            let gflops = |t: f64| 2.0 * (m * n * k) as f64 / t / 1e6;
            eprintln!(
                "{c}->{f} 3x3 at {size}: winograd {winograd:.3} ms ({:.0} direct-equivalent GFLOP/s), direct {direct:.3} ms ({:.0} GFLOP/s)",
                gflops(winograd),
                gflops(direct)
            );
        }
    }
}
