//! The f32 convs of the fused kernel ([`crate::fused`]) by a register-tiled microkernel of
//! our own: on AVX-512 those whose windows are not their input as it is (kernels over
//! 1×1, strides, padding), as described here; on AVX2 with FMA every conv, the same
//! planes (or a 1×1 conv's input as it is) feeding the blocks of [`avx2`]. The `gemm`
//! crate path it replaces gathers every tile's windows (im2col) and then packs them
//! again, with the weights, for every tile.
//!
//! The product is `C[M, N] = A[M, K] · B[K, N]`, A the weights `[F, C·KH·KW]`.
//! - The input is laid out once per call as zero-padded planes, one per channel and
//!   stride phase ([`Planes`]), so that every tap reads a contiguous run for any run of
//!   output positions: output rows are computed across the planes' full width, and the
//!   few extra columns are dropped when a unit's results are copied out. No im2col.
//! - A block of `R` output channels by `V` vectors of 16 positions sums its reduction in
//!   24 zmm registers: per reduction step, `V` vectors of B's row and `R` broadcast
//!   weights, fused multiply-adds in reduction order. The shape (8×3, 6×4 or 12×2) is
//!   the one that pads the output least.
//! - A strided conv's B columns of each block are copied into a contiguous panel, a chunk
//!   of the reduction at a time; a work unit's panels for one chunk stay in the L2 cache
//!   while every row block runs over them, its chunk of weights in the L1 cache. A
//!   unit-stride conv reads every tap's row where it lies in the planes instead: a
//!   channel's taps share their cache lines, and the copy cost more than it saved. A is
//!   read in place, one pointer per row: weights are not packed, so nothing is cached
//!   between calls.
//! - The epilogue runs on a work unit's rows while they are in cache. A unit is computed
//!   into scratch, and the epilogue's results copied out, when extra columns must be
//!   dropped or an epilogue operand shares memory with the output; else in place.
//!
//! Blocks and work units depend only on the shapes, and threads split units (outputs),
//! never a reduction, so results do not depend on the thread count.

use crate::fused::{
    Contraction, ConvGeometry, Descriptor, Operands, epilogue_reads_output, epilogue_row, gather_row, has_avx2_fma,
    has_avx512, reads_input_directly,
};
use crate::microkernels::threads;
use std::cell::RefCell;

pub(crate) mod avx2;

/// Block shapes `(R, V)`: `R` rows (output channels) by `V` vectors of 16 columns, 24
/// accumulators of the 32 zmm registers.
const SHAPES: [(usize, usize); 3] = [(8, 3), (6, 4), (12, 2)];
/// The reduction is summed in chunks: the panels of one chunk for all of a unit's column
/// blocks take at most this many bytes, so that they stay in the L2 cache while every row
/// block of the unit runs over them, its chunk of A's rows in the L1 cache.
const UNIT_PANEL_BYTES: usize = 192 * 1024;
/// The fewest rows a call must have (the smallest `R`).
const MIN_ROWS: usize = 6;
/// A work unit is up to this many rows by this many columns: its panels, packed once per
/// reduction chunk, are reused by every row block.
const UNIT_ROWS: usize = 64;
const UNIT_COLUMNS: usize = 192;

/// Whether [`run`] computes the contraction of `d`: a conv with at least a block's worth
/// of output channels, on AVX2 with FMA (without AVX-512) any but a windowed one with
/// fewer than [`AVX2_MIN_WINDOW_STEPS`] reduction steps, on AVX-512 one whose windows are
/// not its input as it is. A 1×1, stride-1 conv without padding, and a matmul, read B in
/// place, and there the `gemm` crate's cache blocking is as fast or faster on AVX-512
/// (`f32_timing` below).
pub(crate) fn computes(d: &Descriptor) -> bool {
    d.contraction == Contraction::Conv2d
        && d.m >= MIN_ROWS as i64
        && d.n > 0
        && d.k > 0
        && match has_avx512() {
            true => !reads_input_directly(&d.conv),
            false => has_avx2_fma() && (reads_input_directly(&d.conv) || d.k >= AVX2_MIN_WINDOW_STEPS),
        }
}

/// On AVX2, a conv whose windows must be gathered (not a 1×1, stride-1 conv) and whose
/// reduction is shorter than this (an RGB image's 3×3 stem: 27 steps) is computed directly
/// ([`crate::direct_conv`]): a block's few steps do not pay for its panel and copy-out.
/// `f32_timing`, 2 threads: 3→32 3×3 at 224, stride 2: the `gemm` path, which took these
/// convs before, 1.2–1.5x faster, stride 1: 1.1x; 8→32 3×3/2 (72 steps) and 3→16 5×5/2
/// (75) even; 16→32 3×3/2 (144) 1.1–1.2x slower.
pub(crate) const AVX2_MIN_WINDOW_STEPS: i64 = 32;

/// A conv's input as zero-padded planes: for channel `c` and stride phase `(py, px)`,
/// plane value `(y, x)` is padded input `(y·sh + py, x·sw + px)`. Output position
/// `(oy, ox)` of tap `(i, j)` then reads the plane of phase `((i·dh) % sh, (j·dw) % sw)` at
/// `(oy + i·dh / sh, ox + j·dw / sw)`: a contiguous run along `ox`, and across output
/// rows too when they are computed over the plane's whole `width`.
struct Planes {
    /// Columns of a plane (the output's, plus the furthest tap's shift).
    width: usize,
    /// Rows of a plane.
    rows: usize,
    /// The phases some tap reads, in the order of their planes within a channel.
    phases: Vec<(usize, usize)>,
}

impl Planes {
    fn new(g: &ConvGeometry) -> Planes {
        let [kh, kw, oh, ow, sh, sw, dh, dw] = [
            g.kernel_h,
            g.kernel_w,
            g.out_h,
            g.out_w,
            g.stride_h,
            g.stride_w,
            g.dilation_h,
            g.dilation_w,
        ]
        .map(|v| v as usize);
        let mut phases = Vec::new();
        for i in 0..kh {
            for j in 0..kw {
                let phase = ((i * dh) % sh, (j * dw) % sw);
                if !phases.contains(&phase) {
                    phases.push(phase);
                }
            }
        }
        Planes {
            width: ow + (kw - 1) * dw / sw,
            rows: oh + (kh - 1) * dh / sh,
            phases,
        }
    }

    fn plane_len(&self) -> usize {
        self.rows * self.width
    }

    /// Values of one channel's planes.
    fn channel_len(&self) -> usize {
        self.phases.len() * self.plane_len()
    }

    /// Where tap `(i, j)` of channel `c` starts, for output position 0.
    fn offset(&self, g: &ConvGeometry, c: usize, i: usize, j: usize) -> usize {
        let [sh, sw, dh, dw] = [g.stride_h, g.stride_w, g.dilation_h, g.dilation_w].map(|v| v as usize);
        let phase = ((i * dh) % sh, (j * dw) % sw);
        let p = self
            .phases
            .iter()
            .position(|&q| q == phase)
            .expect("every tap's phase has a plane");
        (c * self.phases.len() + p) * self.plane_len() + (i * dh / sh) * self.width + j * dw / sw
    }

    /// Writes channel plane `input` (`[H, W]`) as this channel's planes into `dst`.
    fn fill_channel(&self, g: &ConvGeometry, input: &[f32], dst: &mut [f32]) {
        let [height, width, sh, sw, pt, pl] =
            [g.height, g.width, g.stride_h, g.stride_w, g.pad_top, g.pad_left].map(|v| v as usize);
        for (&(py, px), plane) in self.phases.iter().zip(dst.chunks_exact_mut(self.plane_len())) {
            for (y, row) in plane.chunks_exact_mut(self.width).enumerate() {
                // Padded row `y·sh + py` is input row `y·sh + py - pt`.
                match (y * sh + py).checked_sub(pt).filter(|&iy| iy < height) {
                    Some(iy) => gather_row(
                        row,
                        &input[iy * width..(iy + 1) * width],
                        px as i64 - pl as i64,
                        sw as i64,
                    ),
                    None => row.fill(0.0),
                }
            }
        }
    }
}

/// B of one call: row `k` starts at `base + offsets[k]`; output row `y` of the
/// computed columns is `computed_width` wide (the planes' width), of which the first
/// `output_width` are stored.
struct VectorOperand {
    base: *const f32,
    offsets: Vec<isize>,
    computed_width: usize,
    output_width: usize,
    /// Columns computed in all.
    computed: usize,
    /// Whether the conv has unit strides (one plane per channel): then every tap's row is
    /// read where it lies, since a channel's taps share their lines,
    /// instead of packed into panels first (`f32_timing`: 1.1–1.2× faster at 14×14 and
    /// 7×7, even at 56×56; strided planes are faster packed).
    unit_stride: bool,
}

// SAFETY: B is only read, and lives for the call.
unsafe impl Sync for VectorOperand {}

/// A run of stored columns within a block: block column `from`, output column `to`, `len`.
#[derive(Clone, Copy)]
pub(crate) struct Segment {
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) len: usize,
}

/// The stored runs of the block of computed columns `n0..n0 + cols`.
fn segments(b: &VectorOperand, n0: usize, cols: usize, out: &mut Vec<Segment>) {
    out.clear();
    let mut p = n0;
    while p < n0 + cols {
        let (y, x) = (p / b.computed_width, p % b.computed_width);
        let row_end = (y * b.computed_width + b.computed_width).min(n0 + cols);
        if x < b.output_width {
            let len = (b.output_width - x).min(row_end - p);
            out.push(Segment {
                from: p - n0,
                to: y * b.output_width + x,
                len,
            });
        }
        p = row_end;
    }
}

thread_local! {
    /// Per-thread: a work unit's product (when it is not computed in place), its stored
    /// runs, and the panels of B's blocks of columns.
    static SCRATCH: RefCell<(Vec<f32>, Vec<Segment>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new(), Vec::new())) };
    /// The calling thread's copy of a conv's input, kept between calls (see
    /// [`with_layout_buffer`]).
    static LAYOUT: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with the calling thread's buffer for a conv's input laid out anew (the planes
/// here, [`crate::blocked_conv`]'s channel blocks), kept between calls so that no call
/// allocates it; with a buffer of its own when the thread's is in use (a kernel called
/// from inside another's work).
pub(crate) fn with_layout_buffer<R>(f: impl FnOnce(&mut Vec<f32>) -> R) -> R {
    LAYOUT.with(|kept| match kept.try_borrow_mut() {
        Ok(mut buffer) => f(&mut buffer),
        Err(_) => f(&mut Vec::new()),
    })
}

/// Copies B's columns `0..16·V` of every row (row `k` at `b + offsets[k]`) into `panel`
/// (`[K, 16·V]`), zero in the lanes outside `masks`, so a block's reduction reads one
/// contiguous stream: B's rows themselves lie far apart (a conv's channels are whole
/// planes apart), too many streams for the prefetchers and the TLB.
///
/// # Safety
/// Every element under the masks is valid memory; the CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pack_panel<const V: usize>(b: *const f32, offsets: &[isize], masks: [u16; V], panel: &mut [f32]) {
    use std::arch::x86_64::*;
    assert!(panel.len() >= offsets.len() * 16 * V);
    for (k, &offset) in offsets.iter().enumerate() {
        for (j, &mask) in masks.iter().enumerate() {
            // SAFETY: as the caller promises, and row `k` of the panel (asserted above).
            // A vector with no lane left in the mask reads nothing: its address may lie
            // past B, so it is computed without the in-bounds promise of `add`.
            unsafe {
                let v = _mm512_maskz_loadu_ps(mask, b.wrapping_offset(offset).wrapping_add(16 * j));
                _mm512_storeu_ps(panel.as_mut_ptr().add((k * V + j) * 16), v);
            }
        }
    }
}

/// One block: `dst[i·ldc + c] = Σ_k A[i][k·a_col] · B_k[c]` for `i < rows` and the
/// columns `c` under `masks` (vector `v` of a row holds lanes `masks[v]`), where `A[i]` is
/// row `i`'s pointer and `B_k = b_row(k)` row `k` of B's block (a packed panel's row, or
/// a tap's run where it lies in the planes), for `k < steps`; added to what `dst` holds
/// when `accumulate`.
///
/// # Safety
/// Every element read (A's rows at stride `a_col` for `steps` steps, B's rows under the
/// masks) and written (`rows` rows of `dst` under the masks) is valid memory; the CPU has
/// AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn block<const R: usize, const V: usize>(
    a: &[*const f32; R],
    a_col: isize,
    steps: usize,
    b_row: impl Fn(usize) -> *const f32,
    masks: [u16; V],
    dst: *mut f32,
    ldc: usize,
    rows: usize,
    accumulate: bool,
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); V]; R];
    if accumulate {
        for (i, lanes) in acc.iter_mut().enumerate().take(rows) {
            for (j, sum) in lanes.iter_mut().enumerate() {
                // SAFETY: as the caller promises (an empty mask touches nothing, and its
                // address is computed without `add`'s in-bounds promise).
                *sum = unsafe { _mm512_maskz_loadu_ps(masks[j], dst.wrapping_add(i * ldc + 16 * j)) };
            }
        }
    }
    // Whole vectors load without a mask: measured faster (`matmul_timing`), by 3-9% on
    // the packed matmuls.
    let whole = masks.iter().all(|&m| m == u16::MAX);
    let mut step = |k: usize, v: [__m512; V]| {
        for (lanes, &a_row) in acc.iter_mut().zip(a) {
            // SAFETY: A's element, as the caller promises.
            let w = _mm512_set1_ps(unsafe { *a_row.offset(k as isize * a_col) });
            for (sum, &x) in lanes.iter_mut().zip(&v) {
                *sum = _mm512_fmadd_ps(w, x, *sum);
            }
        }
    };
    if whole {
        for k in 0..steps {
            let row = b_row(k);
            // SAFETY: B's row, every lane under the masks, as the caller promises.
            step(k, std::array::from_fn(|j| unsafe { _mm512_loadu_ps(row.add(16 * j)) }));
        }
    } else {
        for k in 0..steps {
            let row = b_row(k);
            // SAFETY: B's row under the masks, as the caller promises.
            step(
                k,
                std::array::from_fn(|j| unsafe { _mm512_maskz_loadu_ps(masks[j], row.wrapping_add(16 * j)) }),
            );
        }
    }
    for (i, lanes) in acc.iter().enumerate().take(rows) {
        for (j, &sum) in lanes.iter().enumerate() {
            // SAFETY: as the caller promises (as for the loads above).
            unsafe { _mm512_mask_storeu_ps(dst.wrapping_add(i * ldc + 16 * j), masks[j], sum) };
        }
    }
}

/// The conv's B: its input laid out as [`Planes`] in `planes`.
///
/// # Safety
/// `input` addresses the conv's whole input `[C, H, W]`.
unsafe fn conv_operand(g: &ConvGeometry, input: *const f32, planes: &mut Vec<f32>) -> VectorOperand {
    let [channels, height, width, kh, kw, oh, ow] =
        [g.channels, g.height, g.width, g.kernel_h, g.kernel_w, g.out_h, g.out_w].map(|v| v as usize);
    if reads_input_directly(g) {
        // The input is its own plane per channel (only the AVX2 blocks take such a conv).
        return VectorOperand {
            base: input,
            offsets: (0..channels).map(|c| (c * height * width) as isize).collect(),
            computed_width: ow,
            output_width: ow,
            computed: oh * ow,
            unit_stride: true,
        };
    }
    let layout = Planes::new(g);
    // SAFETY: as the caller promises.
    let input = unsafe { std::slice::from_raw_parts(input, channels * height * width) };
    // The extra columns of the last output row read up to the furthest tap's column
    // shift past the last plane.
    let slack = layout.width + 16;
    planes.clear();
    planes.resize(channels * layout.channel_len() + slack, 0.0);
    let per_channel = layout.channel_len();
    let fill =
        |c: usize, dst: &mut [f32]| layout.fill_channel(g, &input[c * height * width..(c + 1) * height * width], dst);
    let planes_only = &mut planes[..channels * per_channel];
    if threads() == 1 || channels < 8 {
        planes_only
            .chunks_exact_mut(per_channel)
            .enumerate()
            .for_each(|(c, dst)| fill(c, dst));
    } else {
        crate::microkernels::for_each_chunk_mut(planes_only, per_channel, fill);
    }
    let mut offsets = Vec::with_capacity(channels * kh * kw);
    for c in 0..channels {
        for i in 0..kh {
            for j in 0..kw {
                offsets.push(layout.offset(g, c, i, j) as isize);
            }
        }
    }
    VectorOperand {
        base: planes.as_ptr(),
        offsets,
        computed_width: layout.width,
        output_width: ow,
        computed: oh * layout.width,
        unit_stride: layout.phases.len() == 1,
    }
}

/// The fused call's contraction and epilogue (see the module docs), for a descriptor
/// that [`computes`] accepts.
///
/// # Safety
/// As [`crate::fused::fuser_fused_f32`]; [`computes`] accepts `d` (so the CPU has
/// AVX-512, or AVX2 and FMA).
pub(crate) unsafe fn run(d: &Descriptor, a: i64, b: i64, out: i64, operands: &Operands) {
    let m = d.m as usize;
    with_layout_buffer(|planes| {
        // SAFETY: the caller passes the conv's input.
        let operand = unsafe { conv_operand(&d.conv, b as *const f32, planes) };
        if !has_avx512() {
            // SAFETY: as this function's contract; `computes` checked AVX2 and FMA.
            return unsafe { avx2::compute(d, a, &operand, out, operands) };
        }
        // The block shape that computes the fewest padded rows and columns (ties: the
        // first).
        let padded = |r: usize, v: usize| m.div_ceil(r) * r * operand.computed.div_ceil(16 * v) * 16 * v;
        let shape = SHAPES.into_iter().min_by_key(|&(r, v)| padded(r, v));
        // SAFETY: as this function's contract.
        unsafe {
            match shape {
                Some((6, 4)) => compute::<6, 4>(d, a, &operand, out, operands),
                Some((12, 2)) => compute::<12, 2>(d, a, &operand, out, operands),
                _ => compute::<8, 3>(d, a, &operand, out, operands),
            }
        }
    });
}

/// The pointers to rows `r0..r0 + R` of A (element `(r, k)` at `a + r·a_row + k·a_col`) at
/// reduction step `k0`, for a register block of whose rows `count` are real: the missing
/// rows repeat the last real one (computed, not stored).
///
/// # Safety
/// A holds rows `r0..r0 + count` at step `k0`.
pub(crate) unsafe fn row_pointers<const R: usize>(
    a: *const f32,
    [a_row, a_col]: [isize; 2],
    r0: usize,
    count: usize,
    k0: usize,
) -> [*const f32; R] {
    std::array::from_fn(|i| {
        let row = (r0 + i.min(count - 1)) as isize * a_row + k0 as isize * a_col;
        // SAFETY: element (row, k0) of A, as the caller promises.
        unsafe { a.offset(row) }
    })
}

/// Runs the epilogue on rows `r_lo..r_hi`, columns `n_lo..n_hi`, of the `[M, N]` output
/// at `out_addr`, where a work unit computed them in place.
///
/// # Safety
/// The output holds those values.
pub(crate) unsafe fn epilogue_in_place(
    d: &Descriptor,
    operands: &Operands,
    (r_lo, r_hi, n_lo, n_hi): (usize, usize, usize, usize),
    out_addr: usize,
) {
    let n = d.n as usize;
    for r in r_lo..r_hi {
        // SAFETY: the unit's columns of output row `r`, as the caller promises.
        let row = unsafe { std::slice::from_raw_parts_mut((out_addr as *mut f32).add(r * n + n_lo), n_hi - n_lo) };
        epilogue_row(&d.epilogue, operands, r, n_lo, row);
    }
}

/// Runs the epilogue on the stored runs of rows `r_lo..r_hi` of a unit's product (rows
/// `ldc` apart) and writes them to the `[M, N]` output at `out_addr`.
pub(crate) fn store_runs(
    d: &Descriptor,
    operands: &Operands,
    (r_lo, r_hi): (usize, usize),
    product: &mut [f32],
    ldc: usize,
    runs: &[Segment],
    out_addr: usize,
) {
    let n = d.n as usize;
    for (r, row) in (r_lo..r_hi).zip(product.chunks_exact_mut(ldc)) {
        for s in runs {
            let values = &mut row[s.from..s.from + s.len];
            epilogue_row(&d.epilogue, operands, r, s.to, values);
            // SAFETY: output row `r` holds N values; units do not overlap.
            let target = unsafe { std::slice::from_raw_parts_mut((out_addr as *mut f32).add(r * n + s.to), s.len) };
            target.copy_from_slice(values);
        }
    }
}

/// `0..count` in the fewest ranges of at most `most` (at least 1), of sizes that differ by
/// at most one.
pub(crate) fn even_ranges(count: usize, most: usize) -> Vec<(usize, usize)> {
    let ranges = count.div_ceil(most.max(1));
    (0..ranges)
        .map(|i| (i * count / ranges, (i + 1) * count / ranges))
        .collect()
}

/// [`run`] with blocks of `R` rows by `V` vectors of columns, B given by `operand`.
///
/// # Safety
/// As [`run`].
unsafe fn compute<const R: usize, const V: usize>(
    d: &Descriptor,
    a: i64,
    operand: &VectorOperand,
    out: i64,
    operands: &Operands,
) {
    let (m, n) = (d.m as usize, d.n as usize);
    let columns = 16 * V;
    let [a_row, a_col] = [d.strides[0] as isize, d.strides[1] as isize];
    // Units of whole blocks, as even as the blocks allow, so that threads finish together.
    let mut units = Vec::new();
    for (c_lo, c_hi) in even_ranges(operand.computed.div_ceil(columns), UNIT_COLUMNS / columns) {
        for (b_lo, b_hi) in even_ranges(m.div_ceil(R), UNIT_ROWS.div_ceil(R)) {
            units.push((
                b_lo * R,
                (b_hi * R).min(m),
                c_lo * columns,
                (c_hi * columns).min(operand.computed),
            ));
        }
    }
    let out_addr = out as usize;
    // Blocks are written straight into the output, and the epilogue runs there in place,
    // when computed columns are output columns and no epilogue operand shares memory with
    // the output; else into the unit's scratch, from which the epilogue's results are
    // copied out.
    let in_place =
        operand.computed_width == operand.output_width && !epilogue_reads_output(&d.epilogue, operands, m, out_addr);
    let run_unit = |(r_lo, r_hi, n_lo, n_hi): (usize, usize, usize, usize)| {
        SCRATCH.with(|scratch| {
            let (product, runs, panel) = &mut *scratch.borrow_mut();
            let steps = operand.offsets.len();
            let panel_width = (n_hi - n_lo).div_ceil(columns) * columns;
            let chunks = steps.div_ceil((UNIT_PANEL_BYTES / (4 * panel_width)).max(1));
            let chunk = steps.div_ceil(chunks);
            if !operand.unit_stride {
                panel.resize(chunk * panel_width, 0.0);
            }
            let (dst, ldc) = if in_place {
                // SAFETY: element (r_lo, n_lo) of the `[M, N]` output.
                (unsafe { (out_addr as *mut f32).add(r_lo * n + n_lo) }, n)
            } else {
                product.resize((r_hi - r_lo) * (n_hi - n_lo), 0.0);
                (product.as_mut_ptr(), n_hi - n_lo)
            };
            // The unit's column blocks: first column, and the lanes each vector holds.
            let blocks: Vec<(usize, [u16; V])> = (n_lo..n_hi)
                .step_by(columns)
                .map(|n0| {
                    let cols = columns.min(n_hi - n0);
                    let masks = std::array::from_fn(|j| {
                        let lanes = cols.saturating_sub(16 * j).min(16);
                        ((1u32 << lanes) - 1) as u16
                    });
                    (n0, masks)
                })
                .collect();
            for k0 in (0..steps).step_by(chunk) {
                let offsets = &operand.offsets[k0..(k0 + chunk).min(steps)];
                let block_len = offsets.len() * columns;
                if !operand.unit_stride {
                    for (&(n0, masks), panel) in blocks.iter().zip(panel.chunks_exact_mut(block_len)) {
                        // SAFETY: B's runs start at its offsets (in the planes), and the masks
                        // keep them inside it.
                        unsafe { pack_panel(operand.base.add(n0), offsets, masks, panel) };
                    }
                }
                for r0 in (r_lo..r_hi).step_by(R) {
                    let count = R.min(r_hi - r0);
                    // Missing rows repeat the last one (computed, not stored).
                    // SAFETY: A holds the block's rows.
                    let a_rows: [*const f32; R] =
                        unsafe { row_pointers(a as *const f32, [a_row, a_col], r0, count, k0) };
                    // The chunk of these rows of A stays in the L1 cache across the blocks.
                    for (i, &(n0, masks)) in blocks.iter().enumerate() {
                        // SAFETY: A's rows hold the chunk's values at stride `a_col`; the
                        // block's rows and columns lie in `dst`; the taps' rows lie in the
                        // planes (with their slack) for every computed column, and the
                        // masks keep the reads to those.
                        unsafe {
                            let target = dst.add((r0 - r_lo) * ldc + n0 - n_lo);
                            let steps = offsets.len();
                            if operand.unit_stride {
                                let b = operand.base.add(n0);
                                let tap = |k: usize| b.wrapping_offset(offsets[k]);
                                block(&a_rows, a_col, steps, tap, masks, target, ldc, count, k0 > 0);
                            } else {
                                let panel = panel[i * block_len..(i + 1) * block_len].as_ptr();
                                let row = |k: usize| panel.wrapping_add(k * columns);
                                block(&a_rows, a_col, steps, row, masks, target, ldc, count, k0 > 0);
                            }
                        }
                    }
                }
            }
            if in_place {
                // SAFETY: the unit's values, written above.
                return unsafe { epilogue_in_place(d, operands, (r_lo, r_hi, n_lo, n_hi), out_addr) };
            }
            segments(operand, n_lo, n_hi - n_lo, runs);
            store_runs(d, operands, (r_lo, r_hi), product, n_hi - n_lo, runs, out_addr);
        });
    };
    crate::microkernels::for_each_item(units, run_unit);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::fused::{Step, run_with_gemm};
    use proptest::prelude::*;

    /// The timing tests' thread count: `F32_THREADS` (0 or unset: all cores).
    pub(crate) fn threads_from_environment() {
        let threads = std::env::var("F32_THREADS").ok().and_then(|t| t.parse().ok());
        crate::microkernels::set_threads(threads.unwrap_or(0));
    }

    /// The mean time of `call` over 5 calls, after one untimed call.
    pub(crate) fn seconds_per_call(call: impl Fn()) -> f64 {
        call();
        let start = std::time::Instant::now();
        let runs = 5;
        for _ in 0..runs {
            call();
        }
        start.elapsed().as_secs_f64() / runs as f64
    }

    /// Uniform values in [-1, 1) from `seed` (never all zeros).
    pub(crate) fn values(seed: u64, len: usize) -> Vec<f32> {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// The call through both paths: (register-tiled, gemm), with a bias per row, a
    /// residual and a ReLU (or no epilogue).
    fn both(d: &Descriptor, a: &[f32], b: &[f32], seed: u64) -> (Vec<f32>, Vec<f32>) {
        let (m, n) = (d.m as usize, d.n as usize);
        let bias = values(seed ^ 1, m);
        let residual = values(seed ^ 2, m * n);
        let operands = Operands::new([bias.as_ptr() as i64, residual.as_ptr() as i64, 0], n);
        let mut tiled = vec![f32::NAN; m * n];
        let mut reference = vec![f32::NAN; m * n];
        // SAFETY: the buffers cover the descriptor's shapes.
        unsafe {
            run(
                d,
                a.as_ptr() as i64,
                b.as_ptr() as i64,
                tiled.as_mut_ptr() as i64,
                &operands,
            );
            run_with_gemm(
                d,
                a.as_ptr() as i64,
                b.as_ptr() as i64,
                reference.as_mut_ptr() as i64,
                &operands,
            );
        }
        (tiled, reference)
    }

    pub(crate) fn assert_close(tiled: &[f32], reference: &[f32], k: usize) {
        // Both sum k products of values below 1 in different orders.
        let tolerance = 1e-6 * k as f32 + 1e-5;
        for (i, (x, y)) in tiled.iter().zip(reference).enumerate() {
            assert!((x - y).abs() <= tolerance, "output {i}: {x} vs {y}");
        }
    }

    /// The geometry of a conv of `c` channels of `h×w` with a `kh×kw` window, strides,
    /// dilation and (top, left) padding, the same padding at the bottom and right; `None`
    /// when the window does not fit.
    pub(crate) fn conv_geometry(
        (c, h, w): (usize, usize, usize),
        (kh, kw): (usize, usize),
        (sh, sw): (usize, usize),
        dilation: usize,
        (pt, pl): (usize, usize),
    ) -> Option<ConvGeometry> {
        let out = |size: usize, pad: usize, kernel: usize, stride: usize| {
            let span = dilation * (kernel - 1) + 1;
            (size + 2 * pad >= span).then(|| (size + 2 * pad - span) / stride + 1)
        };
        let [c, h, w, kh, kw, oh, ow, sh, sw, dilation, pt, pl] = [
            c,
            h,
            w,
            kh,
            kw,
            out(h, pt, kh, sh)?,
            out(w, pl, kw, sw)?,
            sh,
            sw,
            dilation,
            pt,
            pl,
        ]
        .map(|v| v as i64);
        Some(ConvGeometry {
            channels: c,
            height: h,
            width: w,
            kernel_h: kh,
            kernel_w: kw,
            out_h: oh,
            out_w: ow,
            stride_h: sh,
            stride_w: sw,
            dilation_h: dilation,
            dilation_w: dilation,
            pad_top: pt,
            pad_left: pl,
        })
    }

    pub(crate) fn conv_descriptor(
        (c, f, h, w, kh, kw): (usize, usize, usize, usize, usize, usize),
        (stride, dilation, pad): (usize, usize, usize),
        epilogue: Vec<Step>,
    ) -> Option<Descriptor> {
        let conv = conv_geometry((c, h, w), (kh, kw), (stride, stride), dilation, (pad, pad))?;
        let (n, k) = ((conv.out_h * conv.out_w) as usize, c * kh * kw);
        Some(Descriptor {
            contraction: Contraction::Conv2d,
            m: f as i64,
            n: n as i64,
            k: k as i64,
            strides: [k as i64, 1, n as i64, 1],
            conv,
            batch: crate::fused::Batch::default(),
            constant_weights: 0,
            layout: crate::fused::Layout::default(),
            epilogue,
        })
    }

    /// A fused conv call's random operands, drawn from `seed`: weights, input, a bias per
    /// row, and the output's first values with a guard of [`GUARD`] values past its end
    /// (to start each path's output from; a residual reads them, or the output itself).
    pub(crate) struct ConvCall {
        pub(crate) a: Vec<f32>,
        pub(crate) b: Vec<f32>,
        pub(crate) bias: Vec<f32>,
        pub(crate) start: Vec<f32>,
    }

    /// Values past a test output that no path may write.
    pub(crate) const GUARD: f32 = 7.5;

    impl ConvCall {
        pub(crate) fn new(d: &Descriptor, seed: u64) -> ConvCall {
            let (m, n, g) = (d.m as usize, d.n as usize, d.conv);
            let mut start = values(seed ^ 2, m * n);
            start.extend([GUARD; 16]);
            ConvCall {
                a: values(seed, m * d.k as usize),
                b: values(seed ^ 3, (g.channels * g.height * g.width) as usize),
                bias: values(seed ^ 1, m),
                start,
            }
        }

        /// The epilogue operands of a call writing `out`: the bias, and a residual that is
        /// `out` itself or the output's first values apart.
        pub(crate) fn operands(&self, out: &[f32], residual_is_output: bool, n: usize) -> Operands {
            let residual = if residual_is_output {
                out.as_ptr()
            } else {
                self.start.as_ptr()
            };
            Operands::new([self.bias.as_ptr() as i64, residual as i64, 0], n)
        }
    }

    pub(crate) fn epilogue(kind: u8) -> Vec<Step> {
        match kind {
            0 => vec![],
            1 => vec![Step::AddRow(0), Step::Relu],
            2 => vec![Step::AddRow(0), Step::AddFull(1), Step::Relu],
            // ReLU6, MobileNetV2's.
            _ => vec![Step::AddRow(0), Step::Clip(0.0, 6.0)],
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Convs of every geometry the fused kernel takes (padding, strides, dilations,
        /// 1×1 in place, partial blocks of rows and columns) agree with the gemm path.
        #[test]
        fn convs_agree_with_the_gemm_path(
            c in 1usize..40, f in 6usize..40, h in 1usize..24, w in 1usize..24,
            kh in 1usize..6, kw in 1usize..6, stride in 1usize..4, dilation in 1usize..3,
            pad in 0usize..4, kind in 0u8..3, seed in any::<u64>(),
        ) {
            if (has_avx512() || has_avx2_fma())
                && let Some(d) = conv_descriptor((c, f, h, w, kh, kw), (stride, dilation, pad), epilogue(kind))
            {
                prop_assume!(computes(&d));
                let a = values(seed, f * c * kh * kw);
                let b = values(seed ^ 3, c * h * w);
                let (tiled, reference) = both(&d, &a, &b, seed);
                assert_close(&tiled, &reference, d.k as usize);
            }
        }
    }

    /// Not a test: `cargo test --release -p fuser-runtime f32_timing -- --ignored
    /// --nocapture` times ResNet-50's conv shapes, MobileNetV2's stem and 1×1 ones through both
    /// paths, in one run (`F32_CASE=i` times case `i` alone, `F32_EPILOGUE` below picks the
    /// epilogue).
    #[test]
    #[ignore]
    fn f32_timing() {
        threads_from_environment();
        for (c, f, hw, kk, stride) in [
            (3usize, 64usize, 224usize, 7usize, 2usize),
            (3, 32, 224, 3, 2),
            (64, 64, 56, 1, 1),
            (64, 64, 56, 3, 1),
            (64, 256, 56, 1, 1),
            (256, 64, 56, 1, 1),
            (128, 128, 56, 3, 2),
            (256, 512, 56, 1, 2),
            (256, 256, 14, 3, 1),
            (512, 512, 7, 3, 1),
            (2048, 512, 7, 1, 1),
            (16, 96, 112, 1, 1),
            (24, 144, 56, 1, 1),
            (144, 24, 56, 1, 1),
            (32, 192, 28, 1, 1),
            (192, 32, 28, 1, 1),
            (64, 384, 14, 1, 1),
            (384, 64, 14, 1, 1),
            (960, 160, 7, 1, 1),
            (256, 1024, 14, 1, 1),
            (1024, 256, 14, 1, 1),
            (512, 2048, 7, 1, 1),
        ]
        .into_iter()
        .enumerate()
        .filter(|(i, _)| std::env::var("F32_CASE").map_or(true, |c| c == i.to_string()))
        .map(|(_, case)| case)
        {
            // `F32_EPILOGUE=k` times the chain of `epilogue(k)` (the residual apart from
            // the output) instead of bias and ReLU.
            let kind = std::env::var("F32_EPILOGUE")
                .ok()
                .and_then(|k| k.parse().ok())
                .unwrap_or(1);
            let d = conv_descriptor((c, f, hw, hw, kk, kk), (stride, 1, kk / 2), epilogue(kind)).unwrap();
            let (m, k) = (d.m as usize, d.k as usize);
            let a = values(1, m * k);
            let b = values(2, c * hw * hw);
            let bias = values(3, m.max(d.n as usize));
            let residual = values(4, m * d.n as usize);
            let operands = Operands::new([bias.as_ptr() as i64, residual.as_ptr() as i64, 0], d.n as usize);
            let mut out = vec![0f32; m * d.n as usize];
            // The kernels write the output through this address.
            let o = out.as_mut_ptr() as i64;
            let time = |tiled: bool| {
                seconds_per_call(|| unsafe {
                    let (a, b) = (a.as_ptr() as i64, b.as_ptr() as i64);
                    if tiled {
                        run(&d, a, b, o, &operands)
                    } else {
                        run_with_gemm(&d, a, b, o, &operands)
                    }
                })
            };
            // The best of rounds that alternate the two paths (the machine is noisy).
            let (mut tiled, mut gemm) = (f64::MAX, f64::MAX);
            for _ in 0..6 {
                tiled = tiled.min(time(true));
                gemm = gemm.min(time(false));
            }
            let flops = 2.0 * (m * k) as f64 * d.n as f64;
            eprintln!(
                "{c}->{f} {kk}x{kk}/{stride} at {hw}: register-tiled {:.3} ms ({:.0} GFLOP/s), gemm {:.3} ms ({:.0} GFLOP/s)",
                tiled * 1e3,
                flops / tiled / 1e9,
                gemm * 1e3,
                flops / gemm / 1e9
            );
        }
    }

    /// Not a test: `cargo test --release -p fuser-runtime fma_peak -- --ignored
    /// --nocapture` prints one thread's f32 multiply-add peak (12 independent
    /// accumulators, no loads): the ceiling the kernels' GFLOP/s compare with.
    #[test]
    #[ignore]
    fn fma_peak() {
        if has_avx512() {
            // SAFETY: the CPU has AVX-512F (checked).
            let (count, seconds) = unsafe { fma_loop() };
            eprintln!(
                "f32 FMA peak (zmm): {:.1} GFLOP/s on one thread",
                count as f64 * 32.0 / seconds / 1e9
            );
        } else if has_avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked).
            let (count, seconds) = unsafe { fma_loop_avx2() };
            eprintln!(
                "f32 FMA peak (ymm): {:.1} GFLOP/s on one thread",
                count as f64 * 16.0 / seconds / 1e9
            );
        }
    }

    /// [`fma_loop`] on ymm registers.
    #[target_feature(enable = "avx2,fma")]
    fn fma_loop_avx2() -> (usize, f64) {
        use std::arch::x86_64::*;
        let a = std::hint::black_box(_mm256_set1_ps(0.999));
        let b = std::hint::black_box(_mm256_set1_ps(1e-3));
        independent_chains!(_mm256_setzero_ps(), |v| _mm256_fmadd_ps(a, *v, b))
    }

    /// The best of 5 runs: `vfmadd231ps` executed, seconds.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn fma_loop() -> (usize, f64) {
        use std::arch::x86_64::*;
        // Opaque operands: nothing for the compiler to fold.
        let a = std::hint::black_box(_mm512_set1_ps(0.999));
        let b = std::hint::black_box(_mm512_set1_ps(1e-3));
        independent_chains!(_mm512_setzero_ps(), |v| _mm512_fmadd_ps(a, *v, b))
    }

    /// The best of 5 runs of 12 independent chains of `$step` on `$v` from `$zero` (an
    /// instruction's peak throughput, for the timing tests): steps executed, seconds. A
    /// macro: as a generic function taking the step as a closure it measured 60 times
    /// slower, the intrinsics not inlined into the loop.
    macro_rules! independent_chains {
        ($zero:expr, |$v:ident| $step:expr) => {{
            let rounds = 2_000_000;
            let best = (0..5)
                .map(|_| {
                    let mut chains = [$zero; 12];
                    let start = std::time::Instant::now();
                    for _ in 0..rounds {
                        for $v in chains.iter_mut() {
                            *$v = $step;
                        }
                    }
                    std::hint::black_box(&chains);
                    start.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min);
            (rounds * 12, best)
        }};
    }
    pub(crate) use independent_chains;
}
