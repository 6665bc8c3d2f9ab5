//! 3×3 convs of stride 1 by Winograd's minimal filtering F(m×m, 3×3) (Lavin and Gray,
//! "Fast Algorithms for Convolutional Neural Networks", 2016), with m = 2 or 4: each m×m
//! block of output positions (a tile) is `Aᵀ·[Σ_c U_c ⊙ V_c]·A`, where `V_c = Bᵀ·d_c·B`
//! is the tile's (m+2)×(m+2) input window of channel `c` transformed and `U_c = G·g_c·Gᵀ`
//! the 3×3 filter's. The sum over channels is (m+2)² independent matrix products (one per
//! point `ξ` of the transform), `M_ξ[tile][k] = Σ_c V_ξ[tile][c]·U_ξ[c][k]`: per output
//! and channel pair 16/4 = 4 multiply-adds for F(2×2, 3×3) and 36/16 = 2.25 for
//! F(4×4, 3×3), where the direct conv does 9.
//!
//! It takes the channel-blocked convs of the AVX2 tier (AVX2 and FMA, and AMD Zen 4's
//! AVX-512: [`crate::vector_width`]) that [`computes`] accepts, in place of
//! [`crate::blocked_conv`]; [`output_tile`] picks m:
//! - The filters are transformed once, in f64, and kept ([`crate::weight_cache`]) as
//!   `[output channels / 32][ξ][channel][32]`.
//! - A work unit is a run of at most [`TILES`] tiles. It transforms their input windows
//!   into a buffer of its thread, `[ξ][tile][channel]` (8 channels a vector, straight from
//!   the blocked input, zero outside it); then for each block of 32 output channels and
//!   each `ξ` it sums the tiles in 16 512-bit accumulators (per channel step two vectors of
//!   weights and a broadcast value a tile; on a CPU without AVX-512F, 3 tiles at a time in
//!   12 256-bit accumulators, [`wide`]), and transforms the sums back through the
//!   epilogue (a bias, a residual, ReLU or a clip: [`DirectEpilogue`]) straight into the
//!   blocked output. On a map of at most [`SMALL_MAP_TILES`] tiles, with a block of 32
//!   output channels for every thread, the input is transformed once, across the threads,
//!   and a unit is a block of 32 output channels over every tile instead.
//!
//! Its sums are not the direct conv's: the transforms add and scale inputs before the
//! products and the sums after (and the filter's fractions are rounded to f32), so an
//! output differs from the direct sum by rounding that grows with m (the tests bound it),
//! as every Winograd kernel's does.

use crate::aligned::AlignedBuffer;
use crate::blocked_layout::{Activation, DirectEpilogue};
use crate::fused::{Contraction, Descriptor, Operands};
use std::arch::x86_64::*;
use std::cell::RefCell;

/// Values in a vector of the blocked layout: channels of a position.
const LANES: usize = 8;
/// Output channels a unit sums at once: two 512-bit vectors (four 256-bit ones).
const CHANNELS: usize = 32;
/// The largest window of a tile (F(4×4, 3×3)'s 6×6) and its points.
const MAX_WINDOW: usize = 6;
const MAX_POINTS: usize = MAX_WINDOW * MAX_WINDOW;
/// Tiles of a work unit, at most: 16 accumulators, two vectors of weights and the
/// broadcast values fit the 32 registers. (Units of two such groups, the second reading
/// each point's filters from the L1 cache after the first, were fewer: ResNet-50's 3×3
/// convs of 256 channels at 14×14, 49 tiles of 2×2 in 4 units for 2 threads, took
/// 0.78–0.82 ms in the model against 0.59–0.68; two threads, `fuser bench --profile`.)
const TILES: usize = 8;
/// Tiles summed at once in 256-bit vectors: 12 accumulators and four vectors of weights
/// take the 16 registers (as in [`crate::blocked_conv`]'s 256-bit loop).
const YMM_TILES: usize = 3;
/// Tiles of 2×2 a conv needs at least: the 16 of a 7×7 map. With ResNet-50's two 3×3
/// convs of 512 channels at 7×7 taken here (64 positions summed for 49, and filters of 16
/// values for the direct conv's 9, read from memory at every inference), in units of a
/// block of channels over every tile, the model took 0.975 (one thread) and 0.978–0.980
/// (two threads, three runs) of its time with them on the direct conv (`fuser bench
/// --ab`; in units of tiles, 0.997–1.004).
const MIN_TILES: usize = 16;

/// Whether [`run`] computes the conv of `d`: a 3×3 window of stride and dilation 1 over
/// constant weights, channel-blocked input and output, whole blocks of input channels,
/// output channels in whole units of 32, at least [`MIN_TILES`] tiles of 2×2, an epilogue
/// that [`DirectEpilogue`] takes, on a CPU that runs the AVX2 tier (see the module's
/// docs).
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
        && d.n == g.out_h * g.out_w
        && g.out_h > 0
        && g.out_w > 0
        && tiles(g.out_h as usize, 2) * tiles(g.out_w as usize, 2) >= MIN_TILES
        && DirectEpilogue::of(&d.epilogue).is_some()
        && crate::blocked_conv::layout_on_host()
}

/// The side of the output tiles for a conv that [`computes`] takes: 4 where the filters
/// transformed for tiles of 4×4 (36 values a filter, 4 times the weights) take at most
/// [`WIDE_FILTER_BYTES`], else 2 (16 values a filter). `fuser bench --ab` on ResNet-50
/// (two threads, two runs each): tiles of 2×2 throughout took 1.023 and 1.024 of the time
/// of tiles of 4×4 at 56×56 and 28×28 (64 and 128 channels).
pub(crate) fn output_tile(d: &Descriptor) -> usize {
    let filter_bytes = 36 * 4 * d.m as usize * d.conv.channels as usize;
    match filter_bytes <= WIDE_FILTER_BYTES {
        true => 4,
        false => 2,
    }
}

/// The most bytes of filters transformed for tiles of 4×4: ResNet-50's 128 channels (2.4
/// MB), not its 256 (9.4 MB, against 2.4 MB of weights for the direct conv and 4.2 for
/// tiles of 2×2). The filters come from memory at every inference of a model larger than
/// the L3 cache: with its 3×3 convs at 14×14 in tiles of 4×4 too (16×16 outputs computed
/// for 196), ResNet-50 took 0.984 and 0.987 of the time under `fuser bench --ab` in a fast
/// phase of the machine, but 1.002 and 1.006 in a slow one.
const WIDE_FILTER_BYTES: usize = 4 << 20;

/// Tiles of side `m` along an output side of `size` positions.
fn tiles(size: usize, m: usize) -> usize {
    size.div_ceil(m)
}

/// `G·v` for a column `v` of a filter (the first `M + 2` values):
/// - F(2×2, 3×3): `G = [[1, 0, 0], [½, ½, ½], [½, -½, ½], [0, 0, 1]]`;
/// - F(4×4, 3×3): `G = [[¼, 0, 0], [-⅙, -⅙, -⅙], [-⅙, ⅙, -⅙], [1/24, 1/12, ⅙],
///   [1/24, -1/12, ⅙], [0, 0, 1]]`.
fn filter_points<const M: usize>(v: [f64; 3]) -> [f64; MAX_WINDOW] {
    const { assert!(M == 2 || M == 4, "tiles of 2×2 or 4×4") };
    match M {
        2 => [
            v[0],
            0.5 * (v[0] + v[1] + v[2]),
            0.5 * (v[0] - v[1] + v[2]),
            v[2],
            0.0,
            0.0,
        ],
        _ => [
            v[0] / 4.0,
            -(v[0] + v[1] + v[2]) / 6.0,
            -(v[0] - v[1] + v[2]) / 6.0,
            v[0] / 24.0 + v[1] / 12.0 + v[2] / 6.0,
            v[0] / 24.0 - v[1] / 12.0 + v[2] / 6.0,
            v[2],
        ],
    }
}

/// `U = G·g·Gᵀ` for a 3×3 filter `g`, rounded to f32 once, at the end (point `ξ = i·(M +
/// 2) + j` at `ξ`).
fn transform_filter<const M: usize>(g: [[f64; 3]; 3]) -> [f32; MAX_POINTS] {
    let window = M + 2;
    let columns: [[f64; MAX_WINDOW]; 3] = std::array::from_fn(|j| filter_points::<M>([g[0][j], g[1][j], g[2][j]]));
    let mut u = [0f32; MAX_POINTS];
    for i in 0..window {
        let row = filter_points::<M>([columns[0][i], columns[1][i], columns[2][i]]);
        for j in 0..window {
            u[i * window + j] = row[j] as f32;
        }
    }
    u
}

/// Where point `xi` of output channel `r`'s filter over channel `ch` lies in a packing of
/// `c` channels and `points` points: blocks of 32 output channels first, so that a unit
/// reads its blocks' points in one stream.
fn packed_index(points: usize, c: usize, xi: usize, r: usize, ch: usize) -> usize {
    (((r / CHANNELS) * points + xi) * c + ch) * CHANNELS + r % CHANNELS
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

/// The weights `A[m][c·9]` transformed for tiles of `M`×`M`, as `[m / 32][ξ][c][32]`.
///
/// # Safety
/// As [`filter`].
pub(crate) unsafe fn pack_weights<const M: usize>(
    a: *const f32,
    strides: [isize; 2],
    m: usize,
    c: usize,
) -> AlignedBuffer {
    let points = (M + 2) * (M + 2);
    let mut packed = AlignedBuffer::zeroed(points * m * c);
    for r in 0..m {
        for ch in 0..c {
            // SAFETY: as this function's contract.
            let u = transform_filter::<M>(unsafe { filter(a, strides, r, ch) });
            for (xi, &value) in u[..points].iter().enumerate() {
                packed[packed_index(points, c, xi, r, ch)] = value;
            }
        }
    }
    packed
}

/// Filters a kept packing is checked against on every call, spread over the weights.
const SAMPLES: usize = 8;

/// Whether `packed` is the weights' packing for tiles of `M`×`M` as they are now, at
/// [`SAMPLES`] filters.
///
/// # Safety
/// As [`filter`].
unsafe fn packing_matches<const M: usize>(
    packed: &[f32],
    a: *const f32,
    strides: [isize; 2],
    m: usize,
    c: usize,
) -> bool {
    let points = (M + 2) * (M + 2);
    packed.len() == points * m * c
        && crate::weight_cache::samples(m * c, SAMPLES).all(|index| {
            let (r, ch) = (index / c, index % c);
            // SAFETY: as this function's contract.
            let u = transform_filter::<M>(unsafe { filter(a, strides, r, ch) });
            (0..points).all(|xi| packed[packed_index(points, c, xi, r, ch)].to_bits() == u[xi].to_bits())
        })
}

/// The fused call for a descriptor that [`computes`] accepts, its encoding at
/// `descriptor`: the filters are transformed on the first call over them and kept.
///
/// # Safety
/// As [`crate::fused::fuser_fused_f32`]; [`computes`] accepts `d`.
pub(crate) unsafe fn run(d: &Descriptor, descriptor: i64, a: i64, b: i64, out: i64, operands: &Operands) {
    // SAFETY (both): as this function's contract.
    match output_tile(d) {
        4 => unsafe { run_tiles::<4>(d, descriptor, a, b, out, operands) },
        _ => unsafe { run_tiles::<2>(d, descriptor, a, b, out, operands) },
    }
}

/// [`run`] in tiles of `M`×`M`.
///
/// # Safety
/// As [`run`].
unsafe fn run_tiles<const M: usize>(d: &Descriptor, descriptor: i64, a: i64, b: i64, out: i64, operands: &Operands) {
    let (m, c) = (d.m as usize, d.conv.channels as usize);
    let strides = [d.strides[0] as isize, d.strides[1] as isize];
    let a_ptr = a as *const f32;
    let weights = crate::weight_cache::packed(
        // The descriptor's address is a multiple of 8: M / 2 more keeps this packing apart
        // from the blocked conv's of the same call and from the other tile side's (a
        // packing of one layout never passes for the other's).
        (descriptor | (M / 2) as i64, d.constant_weights, a),
        // SAFETY (both): the caller passes the conv's weights.
        |packed| unsafe { packing_matches::<M>(packed, a_ptr, strides, m, c) },
        || unsafe { pack_weights::<M>(a_ptr, strides, m, c) },
    );
    // SAFETY: as this function's contract.
    unsafe { run_packed::<M>(d, &weights, b, out, operands) }
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
    /// `d`'s conv in tiles of `m`×`m`.
    fn of(d: &Descriptor, m: usize) -> Shape {
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
            tiles_w: tiles(out_w, m),
            tiles: tiles(out_h, m) * tiles(out_w, m),
        }
    }
}

/// [`run`] in tiles of `M`×`M` over filters laid out by [`pack_weights`].
///
/// # Safety
/// As [`run`], but for any tile side; `weights` is the packing of `d`'s filters.
pub(crate) unsafe fn run_packed<const M: usize>(
    d: &Descriptor,
    weights: &[f32],
    b: i64,
    out: i64,
    operands: &Operands,
) {
    let s = Shape::of(d, M);
    let points = (M + 2) * (M + 2);
    let m = d.m as usize;
    let epilogue = DirectEpilogue::of(&d.epilogue).expect("an epilogue that `computes` takes");
    assert!(weights.len() >= points * m * s.channels && m.is_multiple_of(CHANNELS));
    let (input, out_addr) = (b as usize, out as usize);
    let blocks = m / CHANNELS;
    // The channel steps of the sums ([`sum_tiles`]), the same for every point and tile.
    let steps: Vec<usize> = (0..s.channels).collect();
    if s.tiles <= SMALL_MAP_TILES && blocks >= crate::microkernels::threads() {
        // A small map (7×7 in tiles of 2×2: 16 tiles) has too few tiles for units of
        // tiles, each of which would read every filter: the input is transformed once,
        // across the threads, and a unit is a block of 32 output channels over every
        // tile, so each filter is read once (where there are blocks for every thread).
        crate::register_tiled::with_layout_buffer(|buffer| {
            let len = points * s.tiles * s.channels;
            if buffer.len() < len {
                buffer.resize(len, 0.0);
            }
            let to = buffer.as_mut_ptr() as usize;
            crate::microkernels::for_each_range(s.tiles, |tiles| {
                for t in tiles {
                    // SAFETY: as below; tile `t`'s points lie in the buffer, written by
                    // this range alone.
                    unsafe {
                        let to = (to as *mut f32).add(t * s.channels);
                        transform_tile::<M>(&s, input as *const f32, t, to, s.tiles * s.channels)
                    };
                }
            });
            let transformed = &buffer[..len];
            crate::microkernels::for_each_item((0..blocks).collect(), |block| {
                SCRATCH.with(|scratch| {
                    let sums = &mut scratch.borrow_mut().sums;
                    sums.resize(sums.len().max(points * s.tiles * CHANNELS), 0.0);
                    // SAFETY: as for the units of tiles below, but that this unit writes
                    // its block's channels of every tile, and reads every tile's points
                    // in the buffer written above; the CPU has AVX2 and FMA.
                    unsafe {
                        unit::<M>((
                            &s,
                            (weights, &steps, transformed, sums),
                            (0, s.tiles, block..block + 1),
                            out_addr as *mut f32,
                            (epilogue, operands),
                        ))
                    };
                });
            });
        });
        return;
    }
    // Units of at most TILES tiles, as many for each thread.
    let threads = crate::microkernels::threads();
    let units = s.tiles.div_ceil(TILES).next_multiple_of(threads).min(s.tiles);
    crate::microkernels::for_each_item((0..units).collect(), |u| {
        let (t0, t1) = (u * s.tiles / units, (u + 1) * s.tiles / units);
        SCRATCH.with(|scratch| {
            let Scratch { transformed, sums } = &mut *scratch.borrow_mut();
            let count = t1 - t0;
            transformed.resize(transformed.len().max(points * count * s.channels), 0.0);
            sums.resize(sums.len().max(points * count * CHANNELS), 0.0);
            // SAFETY: the input holds the blocked channels of the conv, the packing every
            // block's filters; the unit's outputs lie in the blocked output, which only
            // this unit writes; the epilogue's operands are the output's size (its bias
            // `m`); the CPU has AVX2 and FMA ([`computes`]).
            unsafe {
                for t in t0..t1 {
                    let to = transformed.as_mut_ptr().add((t - t0) * s.channels);
                    transform_tile::<M>(&s, input as *const f32, t, to, count * s.channels);
                }
                unit::<M>((
                    &s,
                    (weights, &steps, transformed, sums),
                    (t0, count, 0..blocks),
                    out_addr as *mut f32,
                    (epilogue, operands),
                ))
            };
        });
    });
}

/// Maps of at most this many tiles (of either side) are split across the threads by
/// blocks of output channels rather than by tiles (see [`run_packed`]): a 7×7 map in
/// tiles of 2×2, or a map of up to 16×16 in tiles of 4×4.
const SMALL_MAP_TILES: usize = 16;

/// Per-thread buffers: a unit's transformed input (`[ξ][tile][channel]`) and its sums
/// (`[ξ][tile][32]`, one block of output channels at a time).
#[derive(Default)]
struct Scratch {
    transformed: AlignedBuffer,
    sums: AlignedBuffer,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

/// Transforms the input window of tile `tile` into `to` (point `ξ`'s channels at
/// `to + ξ·stride`): `V = Bᵀ·d·B` for each (M+2)×(M+2) window `d` of 8 channels (zero
/// outside the input; [`input_points`]).
///
/// # Safety
/// `input` holds the blocked input (`[channel / 8][row][column][8]`), `to` the tile's
/// channels of every point; the CPU has AVX2 and FMA.
// Indexed loops: they pick a column out of rows of small arrays (a transpose).
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx2,fma")]
unsafe fn transform_tile<const M: usize>(s: &Shape, input: *const f32, tile: usize, to: *mut f32, stride: usize) {
    let window = M + 2;
    let plane = s.height * s.width * LANES;
    let (ty, tx) = (tile / s.tiles_w, tile % s.tiles_w);
    let y0 = (M * ty) as isize - s.pad_top as isize;
    let x0 = (M * tx) as isize - s.pad_left as isize;
    // Where each of the window's rows and columns lies, or None outside the input.
    let mut rows = [None; MAX_WINDOW];
    let mut columns = [None; MAX_WINDOW];
    for i in 0..window {
        let (y, x) = (y0 + i as isize, x0 + i as isize);
        rows[i] = (0..s.height as isize).contains(&y).then_some(y as usize * s.width);
        columns[i] = (0..s.width as isize).contains(&x).then_some(x as usize);
    }
    for cb in 0..s.channels / LANES {
        // SAFETY (each access): positions inside the input, as the caller promises; the
        // tile's values of every point inside `to`.
        unsafe {
            let base = input.add(cb * plane);
            // Loops, not `array::from_fn`: with its closures the first version's transform
            // kept a function of its own per closure (`perf`: a third of the transform's
            // time in `{{closure}}`), and 64 channels at 56×56 took 0.79 ms against 0.725
            // with loops (`winograd_timing`, two threads).
            let mut d = [[_mm256_setzero_ps(); MAX_WINDOW]; MAX_WINDOW];
            for i in 0..window {
                for j in 0..window {
                    if let (Some(row), Some(column)) = (rows[i], columns[j]) {
                        d[i][j] = _mm256_loadu_ps(base.add((row + column) * LANES));
                    }
                }
            }
            // Bᵀ·d (by columns), then (Bᵀ·d)·B (by rows).
            let mut e = [[_mm256_setzero_ps(); MAX_WINDOW]; MAX_WINDOW];
            for j in 0..window {
                let mut column = [_mm256_setzero_ps(); MAX_WINDOW];
                for i in 0..window {
                    column[i] = d[i][j];
                }
                e[j] = input_points::<M>(column);
            }
            for i in 0..window {
                let mut row = [_mm256_setzero_ps(); MAX_WINDOW];
                for j in 0..window {
                    row[j] = e[j][i];
                }
                let v = input_points::<M>(row);
                for (j, &value) in v[..window].iter().enumerate() {
                    _mm256_storeu_ps(to.add((i * window + j) * stride + cb * LANES), value);
                }
            }
        }
    }
}

/// `Bᵀ·v` for a column `v` of `M + 2` vectors:
/// - F(2×2, 3×3): `Bᵀ = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]`;
/// - F(4×4, 3×3): `Bᵀ = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
///   [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]`.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn input_points<const M: usize>(v: [__m256; MAX_WINDOW]) -> [__m256; MAX_WINDOW] {
    const { assert!(M == 2 || M == 4, "tiles of 2×2 or 4×4") };
    let zero = _mm256_setzero_ps();
    if M == 2 {
        return [
            _mm256_sub_ps(v[0], v[2]),
            _mm256_add_ps(v[1], v[2]),
            _mm256_sub_ps(v[2], v[1]),
            _mm256_sub_ps(v[1], v[3]),
            zero,
            zero,
        ];
    }
    let (two, four, five) = (_mm256_set1_ps(2.0), _mm256_set1_ps(4.0), _mm256_set1_ps(5.0));
    let t0 = _mm256_fnmadd_ps(four, v[2], v[4]); // v4 - 4·v2
    let t1 = _mm256_fnmadd_ps(four, v[1], v[3]); // v3 - 4·v1
    let t2 = _mm256_sub_ps(v[4], v[2]);
    let t3 = _mm256_mul_ps(two, _mm256_sub_ps(v[3], v[1]));
    [
        _mm256_fmadd_ps(four, v[0], _mm256_fnmadd_ps(five, v[2], v[4])),
        _mm256_add_ps(t0, t1),
        _mm256_sub_ps(t0, t1),
        _mm256_add_ps(t2, t3),
        _mm256_sub_ps(t2, t3),
        _mm256_fmadd_ps(four, v[1], _mm256_fnmadd_ps(five, v[3], v[5])),
    ]
}

/// `Aᵀ·v` for a column `v` of `M + 2` vectors (the first `M` of the result):
/// - F(2×2, 3×3): `Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]]`;
/// - F(4×4, 3×3): `Aᵀ = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
///   [0, 1, -1, 8, -8, 1]]`.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn output_points<const M: usize>(v: [__m256; MAX_WINDOW]) -> [__m256; 4] {
    const { assert!(M == 2 || M == 4, "tiles of 2×2 or 4×4") };
    let zero = _mm256_setzero_ps();
    if M == 2 {
        return [
            _mm256_add_ps(_mm256_add_ps(v[0], v[1]), v[2]),
            _mm256_sub_ps(_mm256_sub_ps(v[1], v[2]), v[3]),
            zero,
            zero,
        ];
    }
    let (two, four, eight) = (_mm256_set1_ps(2.0), _mm256_set1_ps(4.0), _mm256_set1_ps(8.0));
    let (a, b) = (_mm256_add_ps(v[1], v[2]), _mm256_sub_ps(v[1], v[2]));
    let (c, d) = (_mm256_add_ps(v[3], v[4]), _mm256_sub_ps(v[3], v[4]));
    [
        _mm256_add_ps(_mm256_add_ps(v[0], a), c),
        _mm256_fmadd_ps(two, d, b),
        _mm256_fmadd_ps(four, c, a),
        _mm256_add_ps(_mm256_fmadd_ps(eight, d, b), v[5]),
    ]
}

/// Arguments of [`unit`]: the conv, (packed filters, the channel steps `0..c`, the tiles'
/// transformed input, their sums), (first tile, tiles, blocks of output channels), the
/// output, and the epilogue.
type UnitArgs<'a> = (
    &'a Shape,
    (&'a [f32], &'a [usize], &'a [f32], &'a mut [f32]),
    (usize, usize, std::ops::Range<usize>),
    *mut f32,
    (DirectEpilogue, &'a Operands),
);

/// [`unit_loop`] with 512-bit sums where this CPU has them ([`wide`]), else 256-bit ones.
///
/// # Safety
/// As [`unit_loop`]; the CPU has AVX2 and FMA.
unsafe fn unit<const M: usize>((s, buffers, tiles, out, epilogue): UnitArgs) {
    // SAFETY (both): as this function's contract; `wide` checked AVX-512F.
    match wide() {
        true => unsafe { unit_zmm::<M>(s, buffers, tiles, out, epilogue) },
        false => unsafe { unit_ymm::<M>(s, buffers, tiles, out, epilogue) },
    }
}

/// Whether the units sum in 512-bit vectors: on the AVX2 tier of a CPU with AVX-512F (AMD
/// Zen 4, [`crate::vector_width::zmm_on_avx2_tier`]), 8 tiles in 16 accumulators; else in
/// 256-bit ones, 3 tiles in 12, with the same bits. In 256-bit vectors (the AVX2 tier of
/// that Zen 4 with `FUSER_VECTOR_BITS=256`), ResNet-50 took 0.954 and 0.958 of the time of
/// the direct blocked conv (`fuser bench --ab`, two threads): each group of 3 tiles reads
/// its point's filters from the L2 cache, where 8 tiles in zmm read them 8/3 times less
/// often.
fn wide() -> bool {
    crate::vector_width::zmm_on_avx2_tier()
}

/// [`unit_loop`] in 512-bit vectors.
///
/// # Safety
/// As [`unit_loop`]; the CPU has AVX-512F, AVX2 and FMA.
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn unit_zmm<const M: usize>(
    s: &Shape,
    buffers: (&[f32], &[usize], &[f32], &mut [f32]),
    tiles: (usize, usize, std::ops::Range<usize>),
    out: *mut f32,
    epilogue: (DirectEpilogue, &Operands),
) {
    // SAFETY: as this function's contract.
    unsafe { unit_loop::<M, true>(s, buffers, tiles, out, epilogue) }
}

/// [`unit_loop`] in 256-bit vectors.
///
/// # Safety
/// As [`unit_loop`]; the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn unit_ymm<const M: usize>(
    s: &Shape,
    buffers: (&[f32], &[usize], &[f32], &mut [f32]),
    tiles: (usize, usize, std::ops::Range<usize>),
    out: *mut f32,
    epilogue: (DirectEpilogue, &Operands),
) {
    // SAFETY: as this function's contract.
    unsafe { unit_loop::<M, false>(s, buffers, tiles, out, epilogue) }
}

/// One work unit: the output channels in `blocks` (blocks of 32) of tiles
/// `t0..t0 + count` of `M`×`M`, block by block: summed for each point over their
/// transformed input (`[ξ][tile][channel]`), in groups of at most [`TILES`] tiles (3 in
/// 256-bit vectors, `Z` false), into `sums` (`[ξ][tile][32]`), transformed back and
/// written through the epilogue. Inlined into [`unit_zmm`] and [`unit_ymm`], which give
/// it their target features.
///
/// # Safety
/// As [`run_packed`]'s call of [`unit`]; the CPU has AVX2 and FMA, and AVX-512F where `Z`.
// Indexed loops: they pick a column out of rows of small arrays (a transpose).
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn unit_loop<const M: usize, const Z: bool>(
    s: &Shape,
    (weights, steps, transformed, sums): (&[f32], &[usize], &[f32], &mut [f32]),
    (t0, count, blocks): (usize, usize, std::ops::Range<usize>),
    out: *mut f32,
    (epilogue, operands): (DirectEpilogue, &Operands),
) {
    let (window, c) = (M + 2, s.channels);
    let points = window * window;
    let n = s.out_h * s.out_w;
    let bias = epilogue.bias.map(|i| operands.pointer(i));
    let residual = epilogue.residual.map(|i| operands.pointer(i));
    let sums_stride = count * CHANNELS;
    assert!(count > 0 && transformed.len() >= points * count * c && steps.len() == c);
    assert!(sums.len() >= points * sums_stride);
    // Groups of at most TILES tiles (YMM_TILES in 256-bit vectors), balanced.
    let groups = count.div_ceil(if Z { TILES } else { YMM_TILES });
    for block in blocks {
        for xi in 0..points {
            let u = &weights[packed_index(points, c, xi, block * CHANNELS, 0)..][..c * CHANNELS];
            for g in 0..groups {
                let (g0, g1) = (g * count / groups, (g + 1) * count / groups);
                let v = &transformed[(xi * count + g0) * c..][..(g1 - g0) * c];
                let sums = &mut sums[xi * sums_stride + g0 * CHANNELS..][..(g1 - g0) * CHANNELS];
                macro_rules! counts {
                    ($($count:literal)*) => {
                        match g1 - g0 {
                            $($count => sum_tiles::<$count, Z>(u, v, steps, sums),)*
                            _ => unreachable!("a group has 1 to {} tiles", TILES),
                        }
                    };
                }
                // SAFETY: `u` holds `c` steps of 32 weights, `v` the group's tiles of `c`
                // values, `sums` their 32 sums, `steps` is `0..c`; the CPU has AVX-512F
                // where `Z`.
                unsafe {
                    match Z {
                        true => counts!(1 2 3 4 5 6 7 8),
                        false => counts!(1 2 3),
                    }
                }
            }
        }
        for t in 0..count {
            let (ty, tx) = ((t0 + t) / s.tiles_w, (t0 + t) % s.tiles_w);
            for g in 0..CHANNELS / LANES {
                let r = block * CHANNELS + g * LANES;
                // SAFETY (each access): the sums of the unit's tiles; the output's (and the
                // residual's) positions of its channels, and their bias.
                unsafe {
                    let mut p = [_mm256_setzero_ps(); MAX_POINTS];
                    for (xi, p) in p[..points].iter_mut().enumerate() {
                        *p = _mm256_loadu_ps(sums.as_ptr().add(xi * sums_stride + t * CHANNELS + g * LANES));
                    }
                    // Aᵀ·P (by columns), then (Aᵀ·P)·A (by rows). Loops, not closures: see
                    // [`transform_tile`].
                    let mut columns = [[_mm256_setzero_ps(); 4]; MAX_WINDOW];
                    for (j, column) in columns[..window].iter_mut().enumerate() {
                        let mut points = [_mm256_setzero_ps(); MAX_WINDOW];
                        for (i, point) in points[..window].iter_mut().enumerate() {
                            *point = p[i * window + j];
                        }
                        *column = output_points::<M>(points);
                    }
                    for dy in 0..M {
                        let y = M * ty + dy;
                        if y >= s.out_h {
                            break;
                        }
                        let mut row = [_mm256_setzero_ps(); MAX_WINDOW];
                        for j in 0..window {
                            row[j] = columns[j][dy];
                        }
                        let values = output_points::<M>(row);
                        for (dx, &value) in values[..M].iter().enumerate() {
                            let x = M * tx + dx;
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
/// (`[P][32]`). These are the blocked conv's sums of a 1×1 conv over `c` steps (`steps`,
/// `0..c`), with the tiles for positions: [`crate::blocked_conv::zmm::sum_positions`] in
/// 512-bit vectors where `Z`, else [`crate::blocked_conv::sum_positions`] (four 256-bit
/// vectors of channels), the same multiply-adds in the same order.
///
/// # Safety
/// `u` holds `c` steps of 32 weights, `v` `P` tiles of `c` values, `sums` `P·32` values,
/// `steps` is `0..c`; the CPU has AVX2 and FMA, and AVX-512F where `Z`.
#[inline(always)]
unsafe fn sum_tiles<const P: usize, const Z: bool>(u: &[f32], v: &[f32], steps: &[usize], sums: &mut [f32]) {
    let c = steps.len();
    debug_assert!(u.len() >= c * CHANNELS && v.len() >= P * c && sums.len() >= P * CHANNELS);
    let at: [usize; P] = std::array::from_fn(|p| p * c);
    // SAFETY (both): as this function's contract: every `at[p] + step` lies in `v`.
    unsafe {
        match Z {
            true => crate::blocked_conv::zmm::sum_positions::<P>((u, steps), v, at, sums, true, None),
            false => crate::blocked_conv::sum_positions::<{ CHANNELS / LANES }, P>((u, steps), v, at, sums, true, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::Layout;
    use crate::register_tiled::tests::{ConvCall, GUARD, conv_geometry, epilogue, values};
    use proptest::prelude::*;

    /// The filter transform of a filter that is one 1 at `(i, j)`: the outer product of
    /// `G`'s columns `i` and `j`, for both tile sides, with `G` as the papers write it.
    #[test]
    fn filters_transform_as_g_g_gt() {
        let g2: [[f64; 4]; 3] = [[1.0, 0.5, 0.5, 0.0], [0.0, 0.5, -0.5, 0.0], [0.0, 0.5, 0.5, 1.0]];
        let g4: [[f64; 6]; 3] = [
            [0.25, -1.0 / 6.0, -1.0 / 6.0, 1.0 / 24.0, 1.0 / 24.0, 0.0],
            [0.0, -1.0 / 6.0, 1.0 / 6.0, 1.0 / 12.0, -1.0 / 12.0, 0.0],
            [0.0, -1.0 / 6.0, -1.0 / 6.0, 1.0 / 6.0, 1.0 / 6.0, 1.0],
        ];
        for i in 0..3 {
            for j in 0..3 {
                let mut filter = [[0.0; 3]; 3];
                filter[i][j] = 1.0;
                let u = transform_filter::<2>(filter);
                for xi in 0..16 {
                    assert_eq!(u[xi], (g2[i][xi / 4] * g2[j][xi % 4]) as f32);
                }
                let u = transform_filter::<4>(filter);
                for xi in 0..36 {
                    assert_eq!(u[xi], (g4[i][xi / 6] * g4[j][xi % 6]) as f32, "{i} {j} {xi}");
                }
            }
        }
    }

    /// The 256-bit sums give the 512-bit ones' bits (on a CPU with AVX-512F), group by
    /// group: the same multiply-adds in the same order.
    #[test]
    fn both_widths_sum_alike() {
        if !crate::blocked_conv::layout_on_host() || !std::arch::is_x86_feature_detected!("avx512f") {
            return;
        }
        let c = 40;
        let (u, v) = (values(41, c * CHANNELS), values(42, 3 * c));
        let (mut wide, mut narrow) = ([0f32; 3 * CHANNELS], [0f32; 3 * CHANNELS]);
        // SAFETY: `u` holds `c` steps of 32 weights, `v` 3 tiles of `c` values, the sums 3
        // tiles of 32; the CPU has AVX-512F, AVX2 and FMA (checked above).
        unsafe {
            let steps: Vec<usize> = (0..c).collect();
            sum_tiles::<3, true>(&u, &v, &steps, &mut wide);
            sum_tiles::<3, false>(&u, &v, &steps, &mut narrow);
        }
        assert_eq!(wide.map(f32::to_bits), narrow.map(f32::to_bits));
        assert!(wide.iter().all(|s| *s != 0.0));
    }

    /// A blocked 3×3 conv of `c` channels to `m` over a `size`×`size` map, padding 1, with
    /// constant weights and `kind`'s epilogue.
    fn blocked_conv(c: usize, m: usize, size: usize, stride: usize, kind: u8) -> Descriptor {
        let conv = conv_geometry((c, size, size), (3, 3), (stride, stride), 1, (1, 1)).unwrap();
        blocked_descriptor(conv, m, kind)
    }

    /// The conv of geometry `conv` (3×3) to `m` channels, blocked input and output,
    /// constant weights, `kind`'s epilogue.
    fn blocked_descriptor(conv: crate::fused::ConvGeometry, m: usize, kind: u8) -> Descriptor {
        let (c, n) = (conv.channels as usize, (conv.out_h * conv.out_w) as usize);
        Descriptor {
            contraction: Contraction::Conv2d,
            m: m as i64,
            n: n as i64,
            k: 9 * c as i64,
            strides: [9 * c as i64, 1, n as i64, 1],
            conv,
            batch: crate::fused::Batch::default(),
            constant_weights: 7,
            layout: Layout {
                input_blocked: true,
                output_blocked: true,
            },
            epilogue: epilogue(kind),
        }
    }

    /// 3×3 convs of stride 1 (channels, map side): tiles of 4×4 where the filters
    /// transformed for them stay within 4 MB (ResNet-50's up to 128 channels), of 2×2
    /// for more channels.
    #[test]
    fn tile_sides_of_resnet_convs() {
        for (channels, size, side) in [(64, 56, 4), (128, 28, 4), (256, 14, 2), (512, 7, 2), (96, 30, 4)] {
            let d = blocked_conv(channels, channels, size, 1, 1);
            assert_eq!(output_tile(&d), side, "{channels} channels at {size}x{size}");
        }
    }

    /// A conv that [`computes`] takes (on a CPU that runs this kernel), and each change
    /// that takes it away.
    #[test]
    fn computes_only_what_it_can() {
        if !crate::blocked_conv::layout_on_host() {
            return;
        }
        let base = blocked_conv(64, 64, 14, 1, 2);
        assert!(computes(&base));
        let plain = |input_blocked, output_blocked| Descriptor {
            layout: Layout {
                input_blocked,
                output_blocked,
            },
            ..base.clone()
        };
        let rejected = [
            ("stride 2", blocked_conv(64, 64, 14, 2, 2)),
            ("16 output channels", blocked_conv(64, 16, 14, 1, 2)),
            ("12 channels", blocked_conv(12, 64, 14, 1, 2)),
            ("9 tiles", blocked_conv(64, 64, 5, 1, 2)),
            (
                "runtime weights",
                Descriptor {
                    constant_weights: 0,
                    ..base.clone()
                },
            ),
            ("a plain input", plain(false, true)),
            ("a plain output", plain(true, false)),
            (
                "a sigmoid",
                Descriptor {
                    epilogue: vec![crate::fused::Step::AddRow(0), crate::fused::Step::Sigmoid],
                    ..base.clone()
                },
            ),
            (
                "n not the map's",
                Descriptor {
                    n: base.n + 1,
                    ..base.clone()
                },
            ),
        ];
        for (change, d) in rejected {
            assert!(!computes(&d), "taken with {change}");
        }
    }

    /// Through the fused kernel's entry point: the conv takes this kernel, with the bits
    /// of a fresh packing; a kept packing is checked against a few filters only (a change
    /// to one it does not check is not seen: it was kept, not packed afresh), and weights
    /// changed throughout at the same address are packed afresh.
    #[test]
    fn kept_filters_follow_the_weights() {
        if !crate::blocked_conv::layout_on_host() {
            return;
        }
        for (c, size) in [(64, 14), (128, 14)] {
            let d = blocked_conv(c, 64, size, 1, 1);
            assert!(computes(&d));
            let (m, n, k) = (d.m as usize, d.n as usize, d.k as usize);
            let words = d.encode();
            let (input, bias) = (values(31, c * size * size), values(32, m));
            let operands = Operands::new([bias.as_ptr() as i64, 0, 0], n);
            let call = |a: &[f32], fresh: bool| {
                let mut out = vec![0f32; m * n];
                let (b, o) = (input.as_ptr() as i64, out.as_mut_ptr() as i64);
                // SAFETY: the buffers cover the descriptor's shapes; its words live through
                // the call; the CPU runs this kernel (checked above).
                unsafe {
                    match (fresh, output_tile(&d)) {
                        (true, 4) => run_packed::<4>(
                            &d,
                            &pack_weights::<4>(a.as_ptr(), [k as isize, 1], m, c),
                            b,
                            o,
                            &operands,
                        ),
                        (true, _) => run_packed::<2>(
                            &d,
                            &pack_weights::<2>(a.as_ptr(), [k as isize, 1], m, c),
                            b,
                            o,
                            &operands,
                        ),
                        (false, _) => crate::fused::fuser_fused_f32(
                            words.as_ptr() as i64,
                            a.as_ptr() as i64,
                            b,
                            o,
                            bias.as_ptr() as i64,
                            0,
                            0,
                        ),
                    }
                }
                out.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            };
            let mut weights = values(33, m * k);
            assert_eq!(call(&weights, false), call(&weights, true));
            let kept = call(&weights, false);
            // Filter (0, 1) (weights 9 to 17 of row 0) is not one of the 8 checked, which
            // are spread over the 64·c filters from filter (0, 0) on.
            weights[9 + 4] += 1.0;
            assert_eq!(call(&weights, false), kept);
            assert_ne!(call(&weights, true), kept);
            weights.iter_mut().for_each(|v| *v = -*v);
            let out = call(&weights, false);
            assert_eq!(out, call(&weights, true));
            assert_ne!(out, kept);
        }
    }

    /// The output bits of one conv in tiles of `M`×`M` on `threads` threads (0: all cores).
    fn output_bits<const M: usize>(
        d: &Descriptor,
        call: &ConvCall,
        residual_is_output: bool,
        threads: usize,
    ) -> Vec<u32> {
        let (m, n, k, c) = (d.m as usize, d.n as usize, d.k as usize, d.conv.channels as usize);
        let mut out = call.start.clone();
        crate::microkernels::set_threads(threads);
        // SAFETY: as in `against_direct`.
        unsafe {
            let packed = pack_weights::<M>(call.a.as_ptr(), [k as isize, 1], m, c);
            let operands = call.operands(&out, residual_is_output, n);
            run_packed::<M>(d, &packed, call.b.as_ptr() as i64, out.as_mut_ptr() as i64, &operands);
        }
        crate::microkernels::set_threads(0);
        out.iter().map(|v| v.to_bits()).collect()
    }

    /// One conv in tiles of `M`×`M` against the direct blocked conv: the largest
    /// difference over the outputs, and whether anything past the output was written.
    fn against_direct<const M: usize>(d: &Descriptor, call: &ConvCall, residual_is_output: bool) -> (f32, bool) {
        let (m, n, k, c) = (d.m as usize, d.n as usize, d.k as usize, d.conv.channels as usize);
        let [mut winograd, mut direct] = [(); 2].map(|_| call.start.clone());
        // SAFETY (all): A is `[m][k]`; the buffers cover the descriptor's shapes (the input
        // and output taken as blocked); the CPU has AVX2 and FMA.
        unsafe {
            let packed = pack_weights::<M>(call.a.as_ptr(), [k as isize, 1], m, c);
            let operands = call.operands(&winograd, residual_is_output, n);
            run_packed::<M>(
                d,
                &packed,
                call.b.as_ptr() as i64,
                winograd.as_mut_ptr() as i64,
                &operands,
            );
            let packed = crate::blocked_conv::pack_weights(call.a.as_ptr(), [k as isize, 1], m, k);
            let operands = call.operands(&direct, residual_is_output, n);
            crate::blocked_conv::run_packed(
                d,
                &packed,
                call.b.as_ptr() as i64,
                direct.as_mut_ptr() as i64,
                &operands,
            );
        }
        let difference = winograd[..m * n]
            .iter()
            .zip(&direct[..m * n])
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        (difference, winograd[m * n..].iter().any(|&v| v != GUARD))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Convs of any map (odd sides, tiles past the output, padding of 0 to 2 on each
        /// side) and epilogue (a bias, a residual that may be the output itself, ReLU, a
        /// clip) in tiles of 2×2 and of 4×4 agree with the direct blocked conv to within
        /// the rounding of their different sums, nothing past the output is written, and
        /// one thread gives the bits of three.
        #[test]
        fn winograd_convs_agree_with_the_direct_conv(
            c8 in 1usize..9, f32s in 1usize..4, h in 1usize..20, w in 1usize..20,
            pads in (0usize..3, 0usize..3), kind in 0u8..4, residual_is_output in any::<bool>(),
            seed in any::<u64>(),
        ) {
            if !crate::blocked_conv::layout_on_host() {
                return Ok(());
            }
            let c = 8 * c8;
            let Some(conv) = conv_geometry((c, h, w), (3, 3), (1, 1), 1, pads) else {
                return Ok(());
            };
            let (m, k) = (CHANNELS * f32s, 9 * c);
            let d = blocked_descriptor(conv, m, kind);
            let tiles = tiles(conv.out_h as usize, 2) * tiles(conv.out_w as usize, 2);
            prop_assert_eq!(computes(&d), tiles >= MIN_TILES);
            let call = ConvCall::new(&d, seed);
            // Both sum 9·c products of values below 1 (and the residual); the transforms
            // add inputs (scaled by up to 25 for 4×4 tiles) before a product, and the
            // sums (scaled by up to 64) after. The largest differences seen over a few
            // hundred cases were 1.0e-6·√k (2×2) and 6.9e-6·√k (4×4).
            for (side, (difference, past)) in [
                (2, against_direct::<2>(&d, &call, residual_is_output)),
                (4, against_direct::<4>(&d, &call, residual_is_output)),
            ] {
                let tolerance = match side {
                    2 => 5e-6 * (k as f32).sqrt(),
                    _ => 3e-5 * (k as f32).sqrt(),
                };
                prop_assert!(!past, "tiles of {side}: written past the output");
                prop_assert!(difference <= tolerance, "tiles of {side}: {difference} from the direct conv");
            }
            // The threads split tiles or blocks of output channels, never a sum: the same
            // bits on one thread as on three.
            prop_assert_eq!(
                output_bits::<2>(&d, &call, residual_is_output, 1),
                output_bits::<2>(&d, &call, residual_is_output, 3)
            );
            prop_assert_eq!(
                output_bits::<4>(&d, &call, residual_is_output, 1),
                output_bits::<4>(&d, &call, residual_is_output, 3)
            );
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
    /// --nocapture` times ResNet-50's 3×3 convs of stride 1 here, in tiles of 2×2 and of
    /// 4×4, and on the direct blocked conv ([`crate::blocked_conv`]), alternating, on
    /// `F32_THREADS` threads (default: all cores), blocked tensors, filters packed before.
    /// With `F32_COLD=1` the caches are emptied before each call (64 MB written) and a
    /// call's time is the fastest of 5 single calls.
    #[test]
    #[ignore]
    fn winograd_timing() {
        if !crate::blocked_conv::layout_on_host() {
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
            let (two, four, direct) = unsafe {
                (
                    pack_weights::<2>(a.as_ptr(), [k as isize, 1], m, c),
                    pack_weights::<4>(a.as_ptr(), [k as isize, 1], m, c),
                    crate::blocked_conv::pack_weights(a.as_ptr(), [k as isize, 1], m, k),
                )
            };
            let mut best = [f64::MAX; 3];
            for _ in 0..8 {
                for (path, best) in best.iter_mut().enumerate() {
                    // SAFETY: the buffers cover the descriptor's shapes; the CPU has
                    // AVX2 and FMA (checked above).
                    let call = || unsafe {
                        match path {
                            0 => run_packed::<2>(&d, &two, b.as_ptr() as i64, o, &operands),
                            1 => run_packed::<4>(&d, &four, b.as_ptr() as i64, o, &operands),
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
            let [two, four, direct] = best.map(|t| t * 1e3);
            let gflops = |t: f64| 2.0 * (m * n * k) as f64 / t / 1e6;
            eprintln!(
                "{c}->{f} 3x3 at {size}: 2x2 tiles {two:.3} ms ({:.0} direct-equivalent GFLOP/s), 4x4 tiles {four:.3} ms ({:.0}), direct {direct:.3} ms ({:.0} GFLOP/s)",
                gflops(two),
                gflops(four),
                gflops(direct)
            );
        }
    }
}
