//! The f32 convs of the fused kernel ([`crate::fused`]) on AVX2 without AVX-512 as
//! onnxruntime computes them in its NCHWc layout: output channels in the vectors, input
//! values broadcast from a channel-blocked copy of the input, no packed windows.
//!
//! The register-tiled kernel ([`crate::register_tiled`]) puts output positions in its
//! vectors: it copies each unit's windows into panels (one per 16 columns, 16 KB a chunk
//! of the reduction) that stream from the L2 cache through every block of rows. Here:
//! - The input is copied once per call as `[channel / 8][padded row][padded column][8]`:
//!   any step's value at any output position is one broadcast, and 8 channels of a
//!   column share a cache line. An input of fewer than 8 channels (an image) is copied as
//!   padded planes, `[channel][padded row][padded column]`, instead.
//! - The weights are packed once as `[output channels / 32][step][32]`: 32 output
//!   channels (four vectors) a step (16 or 24, two or three vectors, for a conv of that
//!   many output channels in the blocked layout: [`takes_blocked_shape`]).
//! - A work unit is 32 output channels by a run of output positions (of the flattened
//!   output map). It sums its reduction in passes of [`PASS_STEPS`] steps, whose weights
//!   (8 KB) stay in the L1 cache while the pass runs over the unit's positions, 3 at a
//!   time in 12 accumulators: per step 3 broadcasts and 4 weight vectors (units of 16
//!   channels: 6 positions, 2 weight vectors; of 24: 3 positions, 9 accumulators). The
//!   next pass's weights are prefetched meanwhile. Between passes the sums wait in the
//!   unit's tile (`[position][32]`, in the L1 cache too). (Passes of
//!   one block of 8 input channels under a 3×3 window, 72 steps, and of 128 steps for 1×1
//!   convs measured 0.97–0.99 under `fuser bench --ab` but 1.073 of ResNet-50's and
//!   1.074 of MobileNetV2's time at two threads in `bench/interleaved_ort.py --versus`,
//!   the setting of the latency goal, so they were not kept.)
//! - On a CPU with AVX-512F that runs this kernel (AMD Zen 4), a unit of 32 channels sums
//!   8 positions at a time in 512-bit vectors instead ([`zmm`]; 16 accumulators): the same
//!   multiply-adds in fewer instructions. `fuser bench --ab` (two threads, two runs):
//!   ResNet-50 0.983 and 0.986 of the time of the 256-bit loop, MobileNetV2 1.00; one
//!   thread, ResNet-50's 3×3 convs at 108–110 GFLOP/s against 106–107
//!   (`blocked_conv_timing`, blocked tensors).
//! - The tile is transposed into the output's channel rows by 8×8 register transposes
//!   and the epilogue runs on each row's run. A channel-blocked output whose epilogue is
//!   a bias, a residual and ReLU or a clip at most ([`DirectEpilogue`]) gets it group by
//!   group in the last pass, while the sums are in registers ([`sum_positions`] with a
//!   [`Finish`]), instead of through `store_blocked` after the unit: the build without it
//!   took 1.03–1.04 times as long on ResNet-50 and MobileNetV2 at two threads
//!   (`bench/interleaved_ort.py BUILD --versus OTHER`, with the depthwise kernel's like
//!   change). Finished from registers rather than from the tile by a function of its own
//!   (a store and a load of every sum), MobileNetV2 took 0.960 of the time, ResNet-50
//!   0.994 and the BERT layer 0.996 (the same command, 8 blocks, on a Zen 4 EPYC): the
//!   1×1 convs of 16 to 32 steps spend only a few hundred cycles on a group's sums.
//!
//! Each output is the sum of its products in reduction order from zero, one fused
//! multiply-add a step (storing a partial sum in f32 between passes rounds nothing): the
//! register-tiled kernel's bits.

use crate::blocked_layout::{Activation, DirectEpilogue};
use crate::conv_band::{BandShape, finish_channel_runs, transpose8};
use crate::fused::{Descriptor, Operands};
use std::arch::x86_64::*;
use std::cell::RefCell;

pub(crate) mod zmm;

/// Values in a vector: output channels of a sum, input channels of a blocked column.
const LANES: usize = 8;
/// Output channels of a work unit: four vectors (fewer for a conv of 16 or 24 output
/// channels in the blocked layout: [`vectors`]).
const CHANNELS: usize = 32;
/// Reduction steps per pass: their weights take 8 KB (4 and 6 KB for fewer vectors).
const PASS_STEPS: usize = 64;
/// Output positions of a four-vector work unit, at most: its tile takes 18 KB (as do the
/// longer units of fewer vectors).
const UNIT_POSITIONS: usize = 144;
/// Work units a thread should have at least, where the output has enough positions.
const WANTED_UNITS_PER_THREAD: usize = 4;

/// Whether [`run`] computes the contraction of `d`: a conv over constant weights (they
/// are packed once, [`crate::weight_cache`]) with a window larger than 1×1, a 1×1 conv of
/// a small map with many output channels ([`SMALL_MAP`]), or any conv with a
/// channel-blocked input or output ([`crate::fused::Layout`], which every other path
/// would copy), with at least
/// [`crate::register_tiled::AVX2_MIN_WINDOW_STEPS`] reduction steps (fewer go to
/// [`crate::direct_conv`]), on AVX2 with FMA and without AVX-512. Its output channels
/// must fill its blocks of 32 but for at most an eighth of the channels computed (29 to
/// 32, 57 to 64, 86 to 96, ... and any count from 228); the others are left to the
/// register-tiled kernel's blocks of 6 rows, which pad less. That kernel takes every conv
/// that comes here, with the same bits, but the strided or padded 1×1 convs of fewer steps
/// that a blocked layout brings (those go to [`crate::direct_conv`] in the plain layout,
/// which also sums one fused multiply-add a step in reduction order).
///
/// `blocked_conv_timing` (2 threads, two runs): ResNet-50's 3×3 convs at 1.10–1.29 times
/// the register-tiled kernel's GFLOP/s, the strided one too, its 7×7 stem at 1.01–1.10.
/// Its 1×1 convs ran at 0.58–0.97 of its speed at 56×56 and even at 14×14 (it reads
/// a unit-stride 1×1 conv's input in place), and `bench/ab.py --kernels` on ResNet-50 put
/// its strided 1×1 convs at 28×28 and 14×14 at 1.24 and 1.15 of their time before here.
/// At 7×7, where the register-tiled kernel's 16-column blocks waste a 49th column, the
/// 1×1 convs with 960 to 2048 output channels took 0.80–0.93 of their time in
/// `bench/ab.py --kernels` runs (MobileNetV2, ResNet-50), 320 and 512 channels about the
/// same, and 160 channels 1.12–1.25 (a few units of 32 channels for two threads).
///
/// With a channel-blocked input or output it also takes the shapes of
/// [`takes_blocked_shape`]: 16 or 24 output channels, 1×1 convs of fewer steps, and convs
/// of fewer than 8 input channels of any steps (an image's stem), which keep MobileNetV2
/// blocked from its stem on (their plain paths would copy every tensor in and out of the
/// layout).
pub(crate) fn computes(d: &Descriptor) -> bool {
    d.contraction == crate::fused::Contraction::Conv2d
        && d.constant_weights != 0
        && d.n > 0
        && match d.layout.is_plain() {
            true => {
                takes_shape(d.m, d.k)
                    && (d.conv.kernel_h * d.conv.kernel_w > 1 || (d.n <= SMALL_MAP && d.m >= SMALL_MAP_CHANNELS))
            }
            false => takes_blocked_shape(d.m, d.k, d.conv.kernel_h * d.conv.kernel_w),
        }
        && layout_on_host()
}

/// Whether a conv with `m` output channels and `k` reduction steps fills this kernel's
/// blocks (see [`computes`]).
pub(crate) fn takes_shape(m: i64, k: i64) -> bool {
    fills_blocks(m) && k >= crate::register_tiled::AVX2_MIN_WINDOW_STEPS
}

/// Whether `m` output channels fill their blocks of 32 but for at most an eighth.
fn fills_blocks(m: i64) -> bool {
    m > 0 && (m as usize).next_multiple_of(CHANNELS) * 8 <= m as usize * 9
}

/// Whether a conv with a channel-blocked input or output, `m` output channels, `k`
/// reduction steps and a window of `window` taps is computed here: the shapes of
/// [`takes_shape`], and 16 or 24 output channels too (units of two or three vectors,
/// [`vectors`]), and any 1×1 conv's steps. A 1×1 conv of a blocked input reads it in place
/// whatever its steps, where the register-tiled kernel would copy it out of the layout.
///
/// `blocked_conv_timing` (2 threads, two runs, "blocked tensors" against the
/// register-tiled kernel on plain tensors): MobileNetV2's 32→16 1×1 at 112×112 in
/// 0.10–0.11 ms against 0.13–0.17, its 96→24 and 144→24 at 56×56 in 0.10 and 0.14 against
/// 0.10–0.12 and 0.16–0.18, its 16→96 at 112×112 in 0.37–0.39 against 0.38–0.52; its
/// 24→144 at 56×56 (24 steps a group) was slower, 0.19–0.21 against 0.16–0.20. With the
/// layout these keep blocked, MobileNetV2 took 0.951 of the time of the build before
/// (`bench/interleaved_ort.py BUILD --versus BEFORE --models mobilenetv2`, 24 blocks).
///
/// It also takes a conv of fewer input channels than a block (`k / window` below 8: an
/// image's stem, whose input is never blocked) whatever its steps: its input is copied as
/// padded planes ([`run_units`]), and its output leaves blocked. MobileNetV2's 3×3 stem (27
/// steps) took 0.139 ms at two threads that way against 0.164 on
/// [`crate::direct_conv`] with a plain output (`blocked_conv_timing`), and its first
/// depthwise conv then reads a blocked input.
pub(crate) fn takes_blocked_shape(m: i64, k: i64, window: i64) -> bool {
    (fills_blocks(m) || m == 16 || m == 24)
        && (k >= crate::register_tiled::AVX2_MIN_WINDOW_STEPS || window == 1 || k < window * LANES as i64)
}

/// The vectors of output channels of a work unit for a conv of `m` output channels: two
/// or three for 16 or 24, else four ([`CHANNELS`]).
fn vectors(m: usize) -> usize {
    match m {
        16 => 2,
        24 => 3,
        _ => CHANNELS / LANES,
    }
}

/// The output channels of a work unit for a conv of `m` output channels ([`vectors`]).
fn unit_channels(m: usize) -> usize {
    vectors(m) * LANES
}

/// Whether this CPU runs this kernel: AVX2 with FMA, and no AVX-512.
pub(crate) fn layout_on_host() -> bool {
    !crate::fused::has_avx512() && crate::fused::has_avx2_fma()
}

/// 1×1 convs of at most this many output positions (a 7×7 map) come here when they
/// have at least [`SMALL_MAP_CHANNELS`] output channels (see [`computes`]).
const SMALL_MAP: i64 = 64;
const SMALL_MAP_CHANNELS: i64 = 256;

/// Per-thread buffers: a unit's tile of sums, its channel rows when they cannot be written
/// in place, and where its positions' values lie in the blocked input.
#[derive(Default)]
struct Scratch {
    tile: Vec<f32>,
    rows: Vec<f32>,
    at: Vec<usize>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The weights `A[m][k]` (element `(r, step)` at `a + r·a_row + step·a_col`) as
/// `[m / C][k][C]` for the unit's `C` channels (32, or 16 or 24 where `m` is: [`vectors`]),
/// zero past `m`.
///
/// # Safety
/// `a` addresses A under those strides.
pub(crate) unsafe fn pack_weights(
    a: *const f32,
    [a_row, a_col]: [isize; 2],
    m: usize,
    k: usize,
) -> crate::aligned::AlignedBuffer {
    let channels = unit_channels(m);
    let mut packed = crate::aligned::AlignedBuffer::zeroed(packed_len(m, k));
    for (block, panel) in packed.chunks_exact_mut((k * channels).max(1)).enumerate() {
        for r in block * channels..m.min((block + 1) * channels) {
            let lane = r - block * channels;
            for step in 0..k {
                // SAFETY: element (r, step) of A, as the caller promises.
                panel[step * channels + lane] = unsafe { *a.offset(r as isize * a_row + step as isize * a_col) };
            }
        }
    }
    packed
}

fn packed_len(m: usize, k: usize) -> usize {
    let channels = unit_channels(m);
    m.div_ceil(channels) * k * channels
}

/// A's elements that a kept packing is checked against on every call, spread over A.
const SAMPLES: usize = 16;

/// Whether `packed` is A laid out by [`pack_weights`] as A is now, at [`SAMPLES`] places.
///
/// # Safety
/// As [`pack_weights`].
unsafe fn packing_matches(packed: &[f32], a: *const f32, [a_row, a_col]: [isize; 2], m: usize, k: usize) -> bool {
    let channels = unit_channels(m);
    packed.len() == packed_len(m, k)
        && crate::weight_cache::samples(m * k, SAMPLES).all(|index| {
            let (r, step) = (index / k, index % k);
            let kept = packed[(r / channels * k + step) * channels + r % channels];
            // SAFETY: element (r, step) of A, as the caller promises.
            let value = unsafe { *a.offset(r as isize * a_row + step as isize * a_col) };
            kept.to_bits() == value.to_bits()
        })
}

/// The fused call for a descriptor that [`computes`] accepts, its encoding at
/// `descriptor`: the weights are packed on the first call over them and kept.
///
/// # Safety
/// As [`crate::fused::fuser_fused_f32`]; the CPU has AVX2 and FMA ([`computes`]).
pub(crate) unsafe fn run(d: &Descriptor, descriptor: i64, a: i64, b: i64, out: i64, operands: &Operands) {
    let (m, k) = (d.m as usize, d.k as usize);
    let strides = [d.strides[0] as isize, d.strides[1] as isize];
    let a_ptr = a as *const f32;
    let weights = crate::weight_cache::packed(
        (descriptor, d.constant_weights, a),
        // SAFETY (both): the caller passes the conv's weights.
        |packed| unsafe { packing_matches(packed, a_ptr, strides, m, k) },
        || unsafe { pack_weights(a_ptr, strides, m, k) },
    );
    // SAFETY: as this function's contract.
    unsafe { run_packed(d, &weights, b, out, operands) }
}

/// [`run`] over weights laid out by [`pack_weights`].
///
/// # Safety
/// As [`run`].
pub(crate) unsafe fn run_packed(d: &Descriptor, weights: &[f32], b: i64, out: i64, operands: &Operands) {
    // SAFETY (each): as this function's contract.
    unsafe {
        match vectors(d.m as usize) {
            // Twelve accumulators, and 9 for three vectors: with 12, the accumulators, three
            // vectors of weights and a position's value took all sixteen registers, and
            // LLVM moved accumulators between registers and the stack on every step.
            2 => run_units::<2, 6, false>(d, weights, b, out, operands),
            3 => run_units::<3, 3, false>(d, weights, b, out, operands),
            _ if crate::vector_width::zmm_on_avx2_tier() => {
                run_units::<4, { zmm::POSITIONS }, true>(d, weights, b, out, operands)
            }
            _ => run_units::<4, 3, false>(d, weights, b, out, operands),
        }
    }
}

/// [`run_packed`] in units of `V` vectors of output channels, `P` positions summed at once,
/// in 512-bit vectors where `Z` ([`zmm`]; `V` is 4 there).
///
/// # Safety
/// As [`run`].
unsafe fn run_units<const V: usize, const P: usize, const Z: bool>(
    d: &Descriptor,
    weights: &[f32],
    b: i64,
    out: i64,
    operands: &Operands,
) {
    let s = BandShape::new(&d.conv);
    let (m, n, k) = (d.m as usize, d.n as usize, d.k as usize);
    let channels = V * LANES;
    assert!(
        vectors(m) == V && (!Z || V == 4),
        "512-bit sums are for units of 32 channels"
    );
    assert!(weights.len() >= packed_len(m, k) && k == s.channels * s.kernel_h * s.kernel_w);
    let padded_rows = s.band_rows(0, s.out_h);
    let input_len = s.channels * s.height * s.width;
    // SAFETY: the caller passes the conv's input.
    let input = unsafe { std::slice::from_raw_parts(b as *const f32, input_len) };
    // A blocked input that every window reads inside of (no padding) is read in place;
    // else a blocked copy of its padded rows and columns is made.
    let read_in_place = d.layout.input_blocked
        && s.pad_top == 0
        && s.pad_left == 0
        && padded_rows <= s.height
        && s.padded_width <= s.width;
    // A plain input of fewer channels than a block (a model's image) is copied as padded
    // planes, `[channel][padded row][padded column]`, instead of a block of 8 channels
    // that would hold 3 (an RGB image's): the copy is 3/8 of the size, and the strided
    // stem's 8 positions of a step read 1 or 2 cache lines instead of 8. Copied by both
    // threads, ResNet-50's 7×7 stem took 1.193 ms at two threads against 1.250 as one
    // block (`blocked_conv_timing`, packed before), ResNet-50 0.997 of the time in two
    // runs of `fuser bench --ab`.
    let planes = !d.layout.input_blocked && s.channels < LANES;
    // Values between neighbouring columns, and the length of a row and of a block (of 8
    // channels, or of a plane).
    let (column, row_len, block_len) = match (read_in_place, planes) {
        (true, _) => (LANES, s.width * LANES, s.height * s.width * LANES),
        (false, true) => (1, s.padded_width, padded_rows * s.padded_width),
        (false, false) => (LANES, s.padded_width * LANES, padded_rows * s.padded_width * LANES),
    };
    crate::register_tiled::with_layout_buffer(|buffer| {
        let blocked: &[f32] = if read_in_place {
            input
        } else {
            // Every value is written below (the padding too), so the buffer kept from
            // an earlier call is not cleared first.
            // Blocks of the copy: one a channel's plane, or one a group of 8 channels.
            let blocks = match planes {
                true => s.channels,
                false => s.channels.div_ceil(LANES),
            };
            let len = blocks * block_len;
            if buffer.len() < len {
                buffer.resize(len, 0.0);
            }
            let buffer = &mut buffer[..len];
            if !core_only() && (planes || d.layout.input_blocked) {
                // In bands of rows, each band for every block: the threads then copy the
                // rows their units read (the units go to them position by position,
                // [`crate::pool`]), which they mostly wrote in the kernel before. By groups,
                // each thread copied half of every unit's rows (`fuser bench --ab`, two
                // threads: ResNet-50 0.996 in two runs, six 3×3 convs of 64 channels at 56×56
                // 0.935 and 0.992).
                let bands = padded_rows.min(4 * crate::microkernels::threads());
                let base = buffer.as_mut_ptr() as usize;
                let plane = s.height * s.width;
                crate::microkernels::for_each_item((0..bands).collect(), |band| {
                    let (r0, r1) = (band * padded_rows / bands, (band + 1) * padded_rows / bands);
                    for block in 0..blocks {
                        // SAFETY: rows `r0..r1` of the block's part of the buffer, which no
                        // other band writes.
                        let dst = unsafe {
                            std::slice::from_raw_parts_mut(
                                (base as *mut f32).add(block * block_len + r0 * row_len),
                                (r1 - r0) * row_len,
                            )
                        };
                        match planes {
                            true => crate::conv_band::copy_padded_rows(
                                &s,
                                &input[block * plane..][..plane],
                                1,
                                (r0, r1 - r0),
                                dst,
                            ),
                            false => crate::conv_band::copy_blocked_band(&s, input, block, (r0, r1 - r0), dst),
                        }
                    }
                });
            } else if !core_only() {
                crate::microkernels::for_each_chunk_mut(buffer, block_len, |cb, dst| {
                    // SAFETY: the CPU has AVX2 ([`computes`]).
                    unsafe { block_channels(&s, input, cb, padded_rows, dst) }
                });
            }
            buffer
        };
        // Where each step's value lies for output position 0, and where each position's
        // values lie past that.
        // (Loops, not nested `flat_map`s: those took 5% of a chain of small 1×1 convs'
        // time in `perf`, on the calling thread while the other waited.)
        let mut taps = Vec::with_capacity(k);
        for c in 0..s.channels {
            for i in 0..s.kernel_h {
                for j in 0..s.kernel_w {
                    let channel = match planes {
                        true => c * block_len,
                        false => (c / LANES) * block_len + c % LANES,
                    };
                    taps.push(channel + i * s.dilation_h * row_len + j * s.dilation_w * column);
                }
            }
        }
        // Where positions `p0..p0 + count` read, appended to `at`: one division for the
        // first, then a column's step or the next row's start. (A division a position took
        // about 2% of MobileNetV2's time in `perf`, whose 1×1 convs of 16 to 32 steps spend
        // little on a position's sums: `fuser bench --ab` 0.993–0.994 of its time without,
        // ResNet-50 0.996.)
        let (row_step, column_step) = (s.stride_h * row_len, s.stride_w * column);
        let positions_at = |at: &mut Vec<usize>, p0: usize, count: usize| {
            let (mut y, mut x) = (p0 / s.out_w, p0 % s.out_w);
            let mut row = y * row_step;
            for _ in 0..count {
                at.push(row + x * column_step);
                x += 1;
                if x == s.out_w {
                    (y, x) = (y + 1, 0);
                    row = y * row_step;
                }
            }
        };
        let out_addr = out as usize;
        let in_place = !crate::fused::epilogue_reads_output(&d.epilogue, operands, m, out_addr);
        let blocks = m.div_ceil(channels);
        let output_blocked = d.layout.output_blocked;
        // Runs of at most UNIT_POSITIONS positions (more for fewer vectors: the same tile),
        // shorter (a multiple of P) where there are too few blocks of channels to give each
        // thread a few units: a 7×7 map's 160 channels are 5 units, and 2 threads would
        // share them 3 to 2.
        let runs = n
            .div_ceil(UNIT_POSITIONS * CHANNELS / channels)
            .max((WANTED_UNITS_PER_THREAD * crate::microkernels::threads()).div_ceil(blocks))
            .min(n.div_ceil(P));
        // Position-major: the units of one run of positions read the same input. Each
        // unit: its block of channels, first position and positions.
        let mut units: Vec<(usize, usize, usize)> = Vec::with_capacity(runs * blocks);
        // Runs of equal groups of P positions but for one: the last run of
        // `n.div_ceil(runs)` positions each was short (a 7×7 map in runs of 15, 15, 15 and
        // 4), and so was the thread that took it (`fuser bench --ab`, two threads, two
        // runs: MobileNetV2 0.991 and 0.996, ResNet-50 0.991 and 1.000, 32 1×1 convs of 64
        // channels at 14×14 0.981 and 0.993).
        let groups = n.div_ceil(P);
        for run in 0..runs {
            let (p0, p1) = ((run * groups / runs) * P, ((run + 1) * groups / runs * P).min(n));
            units.extend((0..blocks).map(|block| (block, p0, p1 - p0)));
        }
        // Sums bound for a blocked output under a short epilogue skip the tile.
        let direct = match output_blocked && !core_only() {
            true => DirectEpilogue::of(&d.epilogue),
            false => None,
        };
        crate::microkernels::for_each_item(units, |(block, p0, positions)| {
            let panel = &weights[block * k * channels..][..k * channels];
            let r0 = block * channels;
            let finish =
                direct.map(|epilogue| Finish::of_unit(epilogue, operands, out_addr, (r0, m, channels), (p0, n)));
            SCRATCH.with(|scratch| {
                let Scratch { tile, rows, at } = &mut *scratch.borrow_mut();
                tile.resize(tile.len().max(positions * channels), 0.0);
                // Where each of the unit's positions reads, worked out once for all passes.
                at.clear();
                positions_at(at, p0, positions);
                for s0 in (0..k).step_by(PASS_STEPS) {
                    let s1 = (s0 + PASS_STEPS).min(k);
                    let pass = (&panel[s0 * channels..s1 * channels], &taps[s0..s1]);
                    // The last pass writes a directly finished unit's output, a group of
                    // positions at a time while its sums are in the L1 cache.
                    let finish = finish.filter(|_| s1 == k);
                    let mut q = 0;
                    // The next pass's weights, a share of their lines before each group
                    // (`fuser bench --ab`, two runs each: six 3×3 convs of 256 channels at
                    // 14×14 0.943–0.955 of the time on one thread, ResNet-50 0.945–0.961 on
                    // one thread and 0.958–0.967 on two; into L2 only, 0.947–0.978; with
                    // the next block's first pass after a unit's last, no better). Against
                    // the build before in a shared library (`bench/interleaved_ort.py
                    // --versus`): ResNet-50 0.983 and 0.984 and MobileNetV2 0.993 on two
                    // threads, ResNet-50 0.920, 1.037 and 0.974 in three runs on one
                    // (`taskset -c 0`): a small gain, and not in every state of the
                    // machine.
                    let next: &[f32] = match s1 < k {
                        true => &panel[s1 * channels..(s1 + PASS_STEPS).min(k) * channels],
                        false => &[],
                    };
                    let lines = next.len().div_ceil(16);
                    // Groups of P positions or fewer, balanced, rather than full ones and a
                    // short last: a 7×7 map's 49 positions are 7 groups of 7, where a last
                    // group of one position summed 2 chains of multiply-adds (`fuser bench
                    // --ab`, two threads, two runs: ResNet-50 0.993–0.994 of the time,
                    // MobileNetV2 0.998–0.999).
                    let groups = positions.div_ceil(P);
                    let share = lines.div_ceil(groups);
                    let mut line = 0;
                    let last = match Z {
                        true => zmm::sum_last_positions,
                        false => sum_last_positions::<V>,
                    };
                    // SAFETY (each call): every position's values lie in `blocked` (the
                    // blocked input covers the padded rows and columns every output
                    // position reads), positions `q..q + size` of the tile are below
                    // `positions`, a finish writes the unit's outputs from `q`, and the
                    // prefetched lines lie in the packed weights.
                    unsafe {
                        for g in 0..groups {
                            for l in line..(line + share).min(lines) {
                                _mm_prefetch::<_MM_HINT_T0>(next.as_ptr().add(l * 16) as *const i8);
                            }
                            line += share;
                            let size = (g + 1) * positions / groups - g * positions / groups;
                            let tile = &mut tile[q * channels..];
                            let finish = finish.map(|f| f.at(q));
                            if size < P {
                                last(pass, blocked, &at[q..q + size], tile, s0 == 0, finish);
                            } else {
                                let group = std::array::from_fn(|p| at[q + p]);
                                match Z {
                                    true => zmm::sum_positions::<P>(pass, blocked, group, tile, s0 == 0, finish),
                                    false => sum_positions::<V, P>(pass, blocked, group, tile, s0 == 0, finish),
                                }
                            }
                            q += size;
                        }
                    }
                }
                if core_only() || finish.is_some() {
                    return;
                }
                if output_blocked {
                    for g in 0..channels.min(m - r0) / LANES {
                        let sums = |q: usize| -> [f32; LANES] {
                            tile[q * channels + g * LANES..][..LANES].try_into().expect("8 lanes")
                        };
                        // SAFETY: the unit's positions of its channels, inside the blocked
                        // output; the CPU has AVX2 and FMA.
                        unsafe {
                            crate::blocked_layout::store_blocked(
                                d,
                                operands,
                                out_addr,
                                (r0 + g * LANES, p0, positions),
                                sums,
                                rows,
                            )
                        };
                    }
                    return;
                }
                // SAFETY: the unit's runs of its channels' rows; the CPU has AVX2.
                unsafe {
                    finish_channel_runs(
                        d,
                        operands,
                        (in_place, out_addr),
                        (tile, channels),
                        (r0, channels.min(m - r0)),
                        (p0, positions),
                        rows,
                    )
                };
            });
        });
    });
}

/// In the timing test only (`F32_CORE=1`), whether [`run_packed`] skips the input's copy
/// (its buffer keeps the last call's) and writes no output (no transpose, no epilogue):
/// its sums alone, an upper bound on what a layout kept blocked between kernels would
/// leave of a call (that would still write its output).
#[cfg(test)]
static CORE_ONLY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn core_only() -> bool {
    #[cfg(test)]
    return CORE_ONLY.load(std::sync::atomic::Ordering::Relaxed);
    #[cfg(not(test))]
    false
}

/// Channels `8·cb..8·cb + 8` of the input as `[padded row][padded column][8]` in `dst`:
/// every value written, zero in the padding (and in the lanes past the last channel,
/// which no step reads).
///
/// # Safety
/// The CPU has AVX2.
#[target_feature(enable = "avx2")]
unsafe fn block_channels(s: &BandShape, input: &[f32], cb: usize, padded_rows: usize, dst: &mut [f32]) {
    let (start, used) = s.input_columns();
    let plane = s.height * s.width;
    let channels = LANES.min(s.channels - cb * LANES);
    let row_len = s.padded_width * LANES;
    assert!(dst.len() >= padded_rows * row_len && input.len() >= (cb * LANES + channels) * plane);
    let inside = s.input_rows(0, padded_rows);
    for (r, row) in dst.chunks_exact_mut(row_len).take(padded_rows).enumerate() {
        if !inside.contains(&r) {
            row.fill(0.0);
            continue;
        }
        row[..start * LANES].fill(0.0);
        row[(start + used) * LANES..].fill(0.0);
        let iy = r - s.pad_top;
        let line = |c: usize| &input[(cb * LANES + c) * plane + iy * s.width..][..used];
        let to = &mut row[start * LANES..][..used * LANES];
        let mut x0 = 0;
        while x0 + LANES <= used {
            let columns: [__m256; LANES] = std::array::from_fn(|c| match c < channels {
                // SAFETY: 8 values of channel `c`'s row from `x0` (below `used`).
                true => unsafe { _mm256_loadu_ps(line(c).as_ptr().add(x0)) },
                false => _mm256_setzero_ps(),
            });
            for (q, v) in transpose8(columns).into_iter().enumerate() {
                // SAFETY: column `x0 + q`'s 8 values (below `used`).
                unsafe { _mm256_storeu_ps(to.as_mut_ptr().add((x0 + q) * LANES), v) };
            }
            x0 += LANES;
        }
        for x in x0..used {
            for (c, value) in to[x * LANES..][..LANES].iter_mut().enumerate() {
                *value = if c < channels { line(c)[x] } else { 0.0 };
            }
        }
    }
}

/// Where [`sum_positions`] puts the sums of a unit's last pass under a
/// [`DirectEpilogue`]: position `q`'s 8 channels of the unit's group `g` at
/// `out + g·group_stride + q·8` (the blocked layout), the residual's at the same offset.
#[derive(Clone, Copy)]
pub(crate) struct Finish {
    out: *mut f32,
    residual: Option<*const f32>,
    /// The unit's first channel's bias.
    bias: Option<*const f32>,
    activation: Activation,
    group_stride: usize,
    /// The unit's groups of 8 channels inside the output (the others are padding).
    groups: usize,
}

impl Finish {
    /// The unit of `channels` channels from `r0` (of `m`) and positions `p0..` (of `n`).
    fn of_unit(
        e: DirectEpilogue,
        operands: &Operands,
        out: usize,
        (r0, m, channels): (usize, usize, usize),
        (p0, n): (usize, usize),
    ) -> Self {
        let offset = crate::blocked_layout::blocked_index(r0, p0, n);
        Self {
            // The pointers are only formed here; [`sum_positions`] writes the unit's
            // outputs through them and reads their residual and bias.
            out: (out as *mut f32).wrapping_add(offset),
            residual: e.residual.map(|i| operands.pointer(i).wrapping_add(offset)),
            bias: e.bias.map(|i| operands.pointer(i).wrapping_add(r0)),
            activation: e.activation,
            group_stride: n * LANES,
            groups: channels.min(m - r0) / LANES,
        }
    }

    /// The same, from the unit's position `q` on.
    fn at(self, q: usize) -> Self {
        Self {
            out: self.out.wrapping_add(q * LANES),
            residual: self.residual.map(|r| r.wrapping_add(q * LANES)),
            ..self
        }
    }

    /// Writes `sum`, the sums of position `p`'s group `g` of 8 channels, through the
    /// epilogue into the blocked output.
    ///
    /// # Safety
    /// The output, residual and bias hold that group's values at that position; the CPU
    /// has AVX2.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn store(self, g: usize, p: usize, sum: __m256) {
        let at = g * self.group_stride + p * LANES;
        // SAFETY (each access): as the caller promises.
        unsafe {
            let v = self.activation.finish(
                sum,
                self.bias.map(|bias| bias.add(g * LANES)),
                self.residual.map(|residual| residual.add(at)),
            );
            _mm256_storeu_ps(self.out.add(at), v);
        }
    }
}

/// Sums `P` positions' `V`·8 output channels over one pass: for each step in order, the
/// step's input value at each position (`blocked[at[p] + taps[step]]`) times its `V`·8
/// weights (`weights[step·V·8..]`), one fused multiply-add, onto the sums in `tile`
/// (`[P][V·8]`; from zero when `first`). With a `finish` (the unit's last pass), the sums
/// go through its epilogue into the blocked output instead of back to `tile`.
///
/// # Safety
/// Every `at[p] + taps[step]` lies in `blocked`, `weights` holds `taps.len()` steps, and
/// `tile` `P·V·8` values; `finish`'s output, residual and bias hold the values of its
/// groups and `P` positions; the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) unsafe fn sum_positions<const V: usize, const P: usize>(
    (weights, taps): (&[f32], &[usize]),
    blocked: &[f32],
    at: [usize; P],
    tile: &mut [f32],
    first: bool,
    finish: Option<Finish>,
) {
    let channels = V * LANES;
    debug_assert!(weights.len() >= taps.len() * channels && tile.len() >= P * channels);
    let tile = tile.as_mut_ptr();
    // SAFETY (every access): as the caller promises.
    unsafe {
        let mut acc: [[__m256; V]; P] = match first {
            true => [[_mm256_setzero_ps(); V]; P],
            false => {
                std::array::from_fn(|p| std::array::from_fn(|g| _mm256_loadu_ps(tile.add(p * channels + g * LANES))))
            }
        };
        let bases: [*const f32; P] = at.map(|o| blocked.as_ptr().add(o));
        let mut w = weights.as_ptr();
        for &tap in taps {
            // At most sixteen registers: the accumulators, and either every position's
            // value and one vector of weights (as many positions as vectors or fewer) or
            // every vector of weights and one position's value (two vectors, six
            // positions: in the other order LLVM spilled accumulators to the stack).
            if V < P {
                let v: [__m256; V] = std::array::from_fn(|g| _mm256_loadu_ps(w.add(g * LANES)));
                for (acc, base) in acc.iter_mut().zip(&bases) {
                    let x = _mm256_broadcast_ss(&*base.add(tap));
                    for (acc, &v) in acc.iter_mut().zip(&v) {
                        *acc = _mm256_fmadd_ps(v, x, *acc);
                    }
                }
            } else {
                let x: [__m256; P] = std::array::from_fn(|p| _mm256_broadcast_ss(&*bases[p].add(tap)));
                for g in 0..V {
                    let v = _mm256_loadu_ps(w.add(g * LANES));
                    for (acc, &x) in acc.iter_mut().zip(&x) {
                        acc[g] = _mm256_fmadd_ps(v, x, acc[g]);
                    }
                }
            }
            w = w.add(channels);
        }
        if let Some(f) = finish {
            // A copy to index by group: indexed by a variable themselves, the
            // accumulators stayed in memory, each stored on every step of the loop above.
            let sums = acc;
            for g in 0..f.groups.min(V) {
                for (p, acc) in sums.iter().enumerate() {
                    f.store(g, p, acc[g]);
                }
            }
            return;
        }
        for (p, acc) in acc.iter().enumerate() {
            for (g, &sum) in acc.iter().enumerate() {
                _mm256_storeu_ps(tile.add(p * channels + g * LANES), sum);
            }
        }
    }
}

/// [`sum_positions`] for a group of fewer than `P` positions (`at`, at most 5).
///
/// # Safety
/// As [`sum_positions`].
#[target_feature(enable = "avx2,fma")]
unsafe fn sum_last_positions<const V: usize>(
    pass: (&[f32], &[usize]),
    blocked: &[f32],
    at: &[usize],
    tile: &mut [f32],
    first: bool,
    finish: Option<Finish>,
) {
    // SAFETY (each): as this function's contract.
    unsafe {
        match *at {
            [] => {}
            [a] => sum_positions::<V, 1>(pass, blocked, [a], tile, first, finish),
            [a, b] => sum_positions::<V, 2>(pass, blocked, [a, b], tile, first, finish),
            [a, b, c] => sum_positions::<V, 3>(pass, blocked, [a, b, c], tile, first, finish),
            [a, b, c, d] => sum_positions::<V, 4>(pass, blocked, [a, b, c, d], tile, first, finish),
            [a, b, c, d, e] => sum_positions::<V, 5>(pass, blocked, [a, b, c, d, e], tile, first, finish),
            _ => unreachable!("a group has at most 6 positions"),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::register_tiled::tests::{
        ConvCall, GUARD, assert_close, conv_descriptor, conv_geometry, epilogue, values,
    };
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Convs of every geometry (channels not a multiple of 8, windows up to 5×5 and
        /// 1×1, strides and padding that differ between rows and columns, dilations,
        /// output channels not a multiple of 32, a residual that may be the output itself)
        /// give the register-tiled kernel's bits where it takes them and agree with the
        /// `gemm` path where it does not, and nothing past the output is written.
        #[test]
        fn blocked_convs_give_the_register_tiled_bits(
            c in 1usize..40, f in 1usize..72, h in 1usize..24, w in 1usize..24,
            kh in 1usize..6, kw in 1usize..6, strides in (1usize..4, 1usize..4), dilation in 1usize..3,
            pads in (0usize..4, 0usize..4), kind in 0u8..3, residual_is_output in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let Some(conv) = conv_geometry((c, h, w), (kh, kw), strides, dilation, pads) else {
                return Ok(());
            };
            let (n, k) = (conv.out_h * conv.out_w, (c * kh * kw) as i64);
            let d = Descriptor {
                contraction: crate::fused::Contraction::Conv2d,
                m: f as i64,
                n,
                k,
                strides: [k, 1, n, 1],
                conv,
                batch: crate::fused::Batch::default(),
                constant_weights: 0,
                layout: crate::fused::Layout::default(),
                epilogue: epilogue(kind),
            };
            if !crate::fused::has_avx2_fma() {
                return Ok(());
            }
            let (m, n, k) = (d.m as usize, d.n as usize, d.k as usize);
            let call = ConvCall::new(&d, seed);
            let operands = |out: &[f32]| call.operands(out, residual_is_output, n);
            let [mut blocked, mut reference] = [(); 2].map(|_| call.start.clone());
            // SAFETY: A is `[m][k]`.
            let packed = unsafe { pack_weights(call.a.as_ptr(), [k as isize, 1], m, k) };
            let (a_addr, b_addr) = (call.a.as_ptr() as i64, call.b.as_ptr() as i64);
            let tiled = crate::register_tiled::computes(&d);
            // SAFETY: the buffers cover the descriptor's shapes; the CPU has AVX2 and FMA.
            unsafe {
                run_packed(&d, &packed, b_addr, blocked.as_mut_ptr() as i64, &operands(&blocked));
                let out = reference.as_mut_ptr() as i64;
                match tiled {
                    true => crate::register_tiled::run(&d, a_addr, b_addr, out, &operands(&reference)),
                    false => crate::fused::run_with_gemm(&d, a_addr, b_addr, out, &operands(&reference)),
                }
            }
            prop_assert!(blocked[m * n..].iter().all(|&v| v == GUARD), "written past the output");
            if tiled {
                for (i, (x, y)) in blocked[..m * n].iter().zip(&reference[..m * n]).enumerate() {
                    prop_assert_eq!(x.to_bits(), y.to_bits(), "output {}: {} vs {}", i, x, y);
                }
            } else {
                assert_close(&blocked[..m * n], &reference[..m * n], k);
            }
        }
    }

    /// Through the fused kernel's entry point: a conv descriptor with a constant-weights
    /// key takes this kernel, called over two weights (two call sites of one kernel) keeps
    /// a packing of each, and weights changed at the same address under the same key (a
    /// dropped model's memory reused) are packed afresh.
    #[test]
    fn kept_packings_follow_the_weights() {
        if !crate::fused::has_avx2_fma() || crate::fused::has_avx512() {
            return;
        }
        let mut d = conv_descriptor((16, 60, 9, 9, 3, 3), (1, 1, 1), epilogue(1)).unwrap();
        d.constant_weights = 7;
        assert!(computes(&d));
        let (m, n, k) = (d.m as usize, d.n as usize, d.k as usize);
        let words = d.encode();
        let (input, bias) = (values(21, 16 * 81), values(22, m));
        let operands = Operands::new([bias.as_ptr() as i64, 0, 0], n);
        let call = |a: &[f32], expected: bool| {
            let mut out = vec![0f32; m * n];
            let (a, b, o) = (a.as_ptr() as i64, input.as_ptr() as i64, out.as_mut_ptr() as i64);
            // SAFETY: the buffers cover the descriptor's shapes; the descriptor's words stay
            // alive for the test; the CPU has AVX2 and FMA (checked above).
            unsafe {
                match expected {
                    true => crate::register_tiled::run(&d, a, b, o, &operands),
                    false => crate::fused::fuser_fused_f32(words.as_ptr() as i64, a, b, o, bias.as_ptr() as i64, 0, 0),
                }
            }
            out.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        };
        let (mut first, second) = (values(23, m * k), values(24, m * k));
        for _ in 0..2 {
            assert_eq!(call(&first, false), call(&first, true));
            assert_eq!(call(&second, false), call(&second, true));
        }
        // A kept packing is checked against a few weights, not all (the weights are
        // constants of the compiled model): a change to one it does not check is not seen,
        // which shows that the packing was kept and not packed afresh.
        let kept = call(&first, false);
        first[1] += 1.0;
        assert_eq!(call(&first, false), kept);
        assert_ne!(call(&first, true), kept);
        let before = call(&first, true);
        first.iter_mut().for_each(|v| *v = -*v);
        let out = call(&first, false);
        assert_eq!(out, call(&first, true));
        assert_ne!(out, before);
    }

    /// The time of one `call` after every line of `evict` was written.
    pub(crate) fn cold_call_seconds(evict: &mut [u8], call: impl Fn()) -> f64 {
        for line in evict.chunks_mut(64) {
            line[0] = line[0].wrapping_add(1);
        }
        std::hint::black_box(&evict);
        let start = std::time::Instant::now();
        call();
        start.elapsed().as_secs_f64()
    }

    /// Not a test: `cargo test --release -p fuser-runtime blocked_conv_timing -- --ignored
    /// --nocapture` times ResNet-50's conv shapes here (weights packed per call, and
    /// packed before) and on the register-tiled kernel, alternating, on `F32_THREADS`
    /// threads (default: all cores). With `F32_COLD=1` the caches are emptied before each
    /// call (64 MB written) and a call's time is the fastest of 5 single calls. With
    /// `F32_CORE=1` the blocked paths skip the input's copy and write no output
    /// ([`core_only`]): their sums alone, an upper bound for a layout kept blocked between
    /// kernels. Two more columns: the blocked kernel with its input and output
    /// channel-blocked where their channels allow ("blocked tensors"), and the fused
    /// kernel's entry point with the plain layout and constant weights (the path a model's
    /// call takes).
    #[test]
    #[ignore]
    fn blocked_conv_timing() {
        use crate::register_tiled::tests::{seconds_per_call, threads_from_environment};
        if !crate::fused::has_avx2_fma() || crate::fused::has_avx512() {
            return;
        }
        threads_from_environment();
        CORE_ONLY.store(
            std::env::var("F32_CORE").is_ok_and(|v| v == "1"),
            std::sync::atomic::Ordering::Relaxed,
        );
        // Written before each call when the caches are to be cold: more than the L3 cache.
        let mut cold = match std::env::var("F32_COLD").is_ok_and(|v| v == "1") {
            true => vec![0u8; 64 << 20],
            false => Vec::new(),
        };
        let chain = vec![crate::fused::Step::AddRow(0), crate::fused::Step::Relu];
        let cases = [
            (64usize, 64usize, 56usize, 3usize, 1usize, 1usize),
            (128, 128, 28, 3, 1, 1),
            (256, 256, 14, 3, 1, 1),
            (512, 512, 7, 3, 1, 1),
            (128, 128, 56, 3, 2, 1),
            (64, 256, 56, 1, 1, 0),
            (256, 64, 56, 1, 1, 0),
            (1024, 256, 14, 1, 1, 0),
            (2048, 512, 7, 1, 1, 0),
            (3, 64, 224, 7, 2, 3),
            (160, 960, 7, 1, 1, 0),
            (960, 160, 7, 1, 1, 0),
            (960, 320, 7, 1, 1, 0),
            (32, 64, 56, 3, 1, 1),
            (32, 192, 28, 1, 1, 0),
            (192, 32, 28, 1, 1, 0),
            (64, 384, 14, 1, 1, 0),
            (384, 64, 14, 1, 1, 0),
            (96, 576, 14, 1, 1, 0),
            (576, 96, 14, 1, 1, 0),
            (320, 1280, 7, 1, 1, 0),
            (16, 96, 112, 1, 1, 0),
            (24, 144, 56, 1, 1, 0),
            (32, 16, 112, 1, 1, 0),
            (96, 24, 56, 1, 1, 0),
            (144, 24, 56, 1, 1, 0),
            (3, 32, 224, 3, 2, 1),
        ];
        for (c, f, size, kernel, stride, pad) in cases {
            let d = conv_descriptor((c, f, size, size, kernel, kernel), (stride, 1, pad), chain.clone()).unwrap();
            let (m, n, k) = (d.m as usize, d.n as usize, d.k as usize);
            let (a, b, bias) = (values(1, m * k), values(2, c * size * size), values(3, m));
            let mut out = vec![0f32; m * n];
            let o = out.as_mut_ptr() as i64;
            let operands = Operands::new([bias.as_ptr() as i64, 0, 0], n);
            // SAFETY: A is `[m][k]`.
            let packed = unsafe { pack_weights(a.as_ptr(), [k as isize, 1], m, k) };
            let (a_ptr, a, b) = (a.as_ptr(), a.as_ptr() as i64, b.as_ptr() as i64);
            // The blocked paths with the input and output channel-blocked where their
            // channels allow (the input's values are the plain ones, reordered or not,
            // which does not change the time).
            let blocked_layout = Descriptor {
                layout: crate::fused::Layout {
                    input_blocked: c % LANES == 0,
                    output_blocked: f % LANES == 0,
                },
                ..d.clone()
            };
            // The call as a model makes it (constant weights): the path the fused kernel
            // takes for the plain layout.
            let model_call = Descriptor {
                batch: crate::fused::Batch::default(),
                constant_weights: 7,
                ..d.clone()
            }
            .encode();
            let mut best = [f64::MAX; 5];
            for _ in 0..8 {
                for (path, best) in best.iter_mut().enumerate() {
                    // SAFETY: the buffers cover the descriptor's shapes; the CPU has AVX2
                    // and FMA (checked above).
                    let call = || unsafe {
                        match path {
                            0 => run_packed(&d, &pack_weights(a_ptr, [k as isize, 1], m, k), b, o, &operands),
                            1 => run_packed(&d, &packed, b, o, &operands),
                            2 => run_packed(&blocked_layout, &packed, b, o, &operands),
                            3 => crate::register_tiled::run(&d, a, b, o, &operands),
                            _ => {
                                let bias = operands.pointer(0) as i64;
                                crate::fused::fuser_fused_f32(model_call.as_ptr() as i64, a, b, o, bias, 0, 0)
                            }
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
            let [blocked, prepacked, layout, tiled, model] = best.map(|t| t * 1e3);
            let gflops = |t: f64| 2.0 * (m * n * k) as f64 / t / 1e6;
            eprintln!(
                "{c}->{f} {kernel}x{kernel}/{stride} at {size}: blocked {blocked:.3} ms, packed before {prepacked:.3} ms ({:.0} GFLOP/s), blocked tensors {layout:.3} ms ({:.0} GFLOP/s), register-tiled {tiled:.3} ms ({:.0} GFLOP/s), the model's plain call {model:.3} ms ({:.0} GFLOP/s)",
                gflops(prepacked),
                gflops(layout),
                gflops(tiled),
                gflops(model)
            );
        }
        CORE_ONLY.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}
