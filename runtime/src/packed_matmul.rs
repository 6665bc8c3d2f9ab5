//! The f32 matmuls of the fused kernel ([`crate::fused`]) whose B is a constant (a
//! layer's weights), on AVX-512 (and with narrower panels and blocks on AVX2 with FMA:
//! [`run_packed_avx2`]): B is packed once, on the first call, into column panels,
//! and every later call reads the panels as they are. The `gemm` crate path it replaces
//! packs B (and A) again on every call.
//!
//! - Packed B: column blocks of [`COLUMNS`] values (16 on AVX2), each `[K, COLUMNS]`
//!   contiguous, zero past `N`.
//! - A block of [`ROWS`] rows of A by one panel sums its reduction in 24 zmm registers
//!   with [`crate::register_tiled`]'s block kernel (on AVX2, 6 rows by 16 columns in 12
//!   ymm registers): A broadcast from its rows in place, the panel's vectors.
//! - The reduction is summed in chunks whose piece of a panel fits in the L1 cache, and
//!   every row block of a work unit runs over that piece while it is there. A work unit
//!   is all rows (at most [`MOST_ROWS`]) by a few panels, so each panel is read from memory
//!   once per call; when there are too few panels to give every core work, rows are
//!   split too.
//! - The next piece of a panel is prefetched into L2 while the row blocks run over the
//!   current one, a share of its lines per row block: the panels come from memory once per
//!   call (`matmul_timing` on AVX2, 128×768×3072: 3.6–3.7 instead of 4.4 ms;
//!   `bench/ab.py --kernels` on the BERT layer: its FFN matmuls 0.92 and 0.98 of their time
//!   before).
//! - The epilogue runs on a unit's rows while they are in cache.
//!
//! Units depend only on the shapes and threads split units (outputs), never a reduction,
//! so results do not depend on the thread count.
//!
//! Where the panels are kept: a descriptor of a matmul with a constant B carries a key
//! ([`crate::fused::Descriptor::constant_weights`]), and the panels are kept in
//! [`crate::weight_cache`] under it. A hit is checked against B at a few places.
//!
//! Measured and left out (`matmul_timing` below): packing B in every call, for a runtime B
//! or a 1×1 conv's input, costs more than the `gemm` crate's own packing saves.

use crate::aligned::AlignedBuffer;
use crate::fused::{Descriptor, Operands, epilogue_reads_output};
use crate::register_tiled::block;
use std::sync::Arc;

/// Rows of A per register block, and vectors of 16 columns per panel: 24 accumulators,
/// and 8 row pointers that stay in registers.
const ROWS: usize = 8;
const VECTORS: usize = 3;
/// Columns of one packed panel.
const COLUMNS: usize = 16 * VECTORS;
/// The piece of a panel one reduction chunk reads stays within this many bytes (the L1
/// cache).
const PANEL_CHUNK_BYTES: usize = 16 * 1024;
/// Panels per work unit, at most.
const UNIT_PANELS: usize = 4;
/// The most rows a call may have (measured: at 256 and more rows the `gemm` crate is as
/// fast or faster), and so per work unit: all of the call's rows, so that the panels are
/// read from memory once per call.
const MOST_ROWS: usize = 128;
/// Fewer units than this leave cores idle: row ranges are split further then.
const WANTED_UNITS: usize = 8;

/// Whether [`run`] computes the contraction of `d`: a matmul whose B is a constant, on
/// AVX-512 or AVX2 with FMA, with at least a block's rows and at most [`MOST_ROWS`]. A product of fewer
/// rows (a classifier at batch 1) reads its weights once either way, and one of more rows
/// reuses each packing of B over enough rows: both are faster on the `gemm` path
/// (`matmul_timing`).
pub(crate) fn computes(d: &Descriptor) -> bool {
    d.contraction == crate::fused::Contraction::Matmul
        && d.constant_weights != 0
        && (ROWS as i64..=MOST_ROWS as i64).contains(&d.m)
        && d.n > 0
        && d.k > 0
        && (crate::fused::has_avx512() || crate::fused::has_avx2_fma())
}

/// Columns of one packed panel on this CPU: three zmm vectors on AVX-512, two ymm
/// vectors ([`avx2`]'s blocks) else.
pub(crate) fn panel_columns() -> usize {
    if crate::fused::has_avx512() {
        COLUMNS
    } else {
        AVX2_COLUMNS
    }
}

/// B (`[K, N]` with strides `b_row`, `b_col`) packed as panels of `columns` columns (this
/// CPU's [`panel_columns`], but for tests).
///
/// # Safety
/// `b` addresses every element of B under its strides.
unsafe fn pack(b: *const f32, k: usize, n: usize, b_row: isize, b_col: isize, columns: usize) -> AlignedBuffer {
    let mut packed = AlignedBuffer::default();
    // SAFETY: as this function's contract.
    unsafe { pack_into(b, k, n, b_row, b_col, columns, &mut packed) };
    packed
}

/// [`pack`] into `packed`, whose allocation is reused.
///
/// # Safety
/// As [`pack`].
pub(crate) unsafe fn pack_into(
    b: *const f32,
    k: usize,
    n: usize,
    b_row: isize,
    b_col: isize,
    columns: usize,
    packed: &mut AlignedBuffer,
) {
    packed.clear();
    packed.resize(n.div_ceil(columns) * k * columns, 0.0);
    for (j, panel) in packed.chunks_exact_mut((k * columns).max(1)).enumerate() {
        let n0 = j * columns;
        let cols = columns.min(n - n0);
        if b_row == 1 && b_col.unsigned_abs() > 1 && crate::fused::has_avx2_fma() {
            // SAFETY: the panel's columns of B, as the caller promises; the CPU has AVX2.
            unsafe { pack_columns_avx2(b.offset(n0 as isize * b_col), k, (cols, columns), b_col, panel) };
            continue;
        }
        if b_row.unsigned_abs() < b_col.unsigned_abs() {
            // A transposed B (`Kᵀ` read in place): each column's steps lie close together,
            // and are read in that order.
            for c in 0..cols {
                let first = (n0 + c) as isize * b_col;
                for kk in 0..k {
                    // SAFETY: element (kk, n0 + c) of B, as the caller promises.
                    panel[kk * columns + c] = unsafe { *b.offset(first + kk as isize * b_row) };
                }
            }
            continue;
        }
        for (kk, row) in panel.chunks_exact_mut(columns).enumerate() {
            let first = kk as isize * b_row + n0 as isize * b_col;
            if b_col == 1 {
                // SAFETY: the row's `cols` values of B, side by side, as the caller promises.
                row[..cols].copy_from_slice(unsafe { std::slice::from_raw_parts(b.offset(first), cols) });
                continue;
            }
            for (c, value) in row[..cols].iter_mut().enumerate() {
                // SAFETY: element (kk, n0 + c) of B, as the caller promises.
                *value = unsafe { *b.offset(first + c as isize * b_col) };
            }
        }
    }
}

/// One panel of a B whose columns each lie side by side (`b_row` 1: a `Kᵀ` read in place,
/// attention's keys): `cols` columns from `b`, `b_col` apart, each of `k` steps, into
/// `panel` (`[k][columns]`, the columns past `cols` left as they are), by 8×8 register
/// transposes of 8 columns by 8 steps, where element by element every value was a store
/// to another cache line of the panel: the attention core of `bench/op_models.py`
/// (`attention`, its 12 heads' `Kᵀ` and `V` packed on every call) took 0.961–0.962 of the
/// time under `fuser bench --ab` (two threads, two runs; a B laid out by rows is copied a
/// row at a time too).
///
/// # Safety
/// `b` addresses `cols` columns of `k` steps under those strides; the CPU has AVX2.
#[target_feature(enable = "avx2")]
unsafe fn pack_columns_avx2(b: *const f32, k: usize, (cols, columns): (usize, usize), b_col: isize, panel: &mut [f32]) {
    use std::arch::x86_64::*;
    assert!(cols <= columns && panel.len() >= k * columns);
    let column = |c: usize| b.wrapping_offset(c as isize * b_col);
    let mut c = 0;
    while c + 8 <= cols {
        let mut kk = 0;
        while kk + 8 <= k {
            // SAFETY: steps `kk..kk + 8` of columns `c..c + 8`, as the caller promises.
            let steps: [__m256; 8] = std::array::from_fn(|i| unsafe { _mm256_loadu_ps(column(c + i).add(kk)) });
            // Vector `s` of the transpose: step `kk + s` of the 8 columns.
            for (s, v) in crate::conv_band::transpose8(steps).into_iter().enumerate() {
                // SAFETY: 8 values of the panel's row `kk + s` from column `c` (below `columns`).
                unsafe { _mm256_storeu_ps(panel.as_mut_ptr().add((kk + s) * columns + c), v) };
            }
            kk += 8;
        }
        for kk in kk..k {
            for i in 0..8 {
                // SAFETY: step `kk` of column `c + i`, as the caller promises.
                panel[kk * columns + c + i] = unsafe { *column(c + i).add(kk) };
            }
        }
        c += 8;
    }
    for c in c..cols {
        for kk in 0..k {
            // SAFETY: step `kk` of column `c`, as the caller promises.
            panel[kk * columns + c] = unsafe { *column(c).add(kk) };
        }
    }
}

/// B's elements that a cached packing is checked against on every hit, spread over B.
const SAMPLES: usize = 16;

/// Whether `panels` hold B's current values at [`SAMPLES`] places spread over B: a
/// packing found under the key of other weights at the same addresses (code and weights
/// of a dropped model whose memory a later one reuses) is packed afresh.
///
/// # Safety
/// As [`pack`].
unsafe fn panels_match(panels: &[f32], b: *const f32, k: usize, n: usize, b_row: isize, b_col: isize) -> bool {
    let columns = panel_columns();
    panels.len() == n.div_ceil(columns) * k * columns
        && crate::weight_cache::samples(k * n, SAMPLES).all(|index| {
            let (kk, c) = (index / n, index % n);
            let packed = panels[((c / columns) * k + kk) * columns + c % columns];
            // SAFETY: element (kk, c) of B, as the caller promises.
            let value = unsafe { *b.offset(kk as isize * b_row + c as isize * b_col) };
            packed.to_bits() == value.to_bits()
        })
}

/// The packed panels of the call's B, packed on the first call of this descriptor over
/// this B ([`crate::weight_cache`]).
///
/// # Safety
/// `b` addresses B under the descriptor's shapes and strides.
unsafe fn cached_panels(d: &Descriptor, descriptor: i64, b: i64) -> Arc<AlignedBuffer> {
    let (k, n) = (d.k as usize, d.n as usize);
    let [b_row, b_col] = [d.strides[2] as isize, d.strides[3] as isize];
    crate::weight_cache::packed(
        (descriptor, d.constant_weights, b),
        // SAFETY (both): as this function's contract.
        |panels| unsafe { panels_match(panels, b as *const f32, k, n, b_row, b_col) },
        || unsafe { pack(b as *const f32, k, n, b_row, b_col, panel_columns()) },
    )
}

/// The fused call for a descriptor that [`computes`] accepts.
///
/// # Safety
/// As [`crate::fused::fuser_fused_f32`].
pub(crate) unsafe fn run(d: &Descriptor, descriptor: i64, a: i64, b: i64, out: i64, operands: &Operands) {
    // SAFETY: as this function's contract.
    let panels = unsafe { cached_panels(d, descriptor, b) };
    // SAFETY: as this function's contract.
    unsafe { run_packed(d, a, &panels, out, operands) }
}

thread_local! {
    /// Per-thread: a work unit's product, when it is not computed in place.
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The contraction over packed panels, and the epilogue, by this CPU's blocks.
///
/// # Safety
/// As [`run`]; `panels` is B packed by [`pack`]; [`computes`] accepts `d` (so the CPU has
/// AVX-512, or AVX2 and FMA).
pub(crate) unsafe fn run_packed(d: &Descriptor, a: i64, panels: &[f32], out: i64, operands: &Operands) {
    // SAFETY: as this function's contract (`computes` checked the CPU).
    unsafe {
        if crate::fused::has_avx512() {
            run_packed_avx512(d, a, panels, out, operands)
        } else {
            run_packed_avx2(d, a, panels, out, operands)
        }
    }
}

/// A call's work units, `(first row, end row, first panel, end panel)`, for blocks of
/// `rows` rows and panels of `columns` columns, at most `unit_panels` panels a unit: all
/// rows unless there are too few panels to give every core work, then as many row ranges
/// (of whole blocks) as make about [`WANTED_UNITS`] units.
fn work_units(
    m: usize,
    n: usize,
    rows: usize,
    columns: usize,
    unit_panels: usize,
) -> Vec<(usize, usize, usize, usize)> {
    let column_units = crate::register_tiled::even_ranges(n.div_ceil(columns), unit_panels);
    let row_blocks = m.div_ceil(rows);
    let row_units = m
        .div_ceil(MOST_ROWS)
        .max(WANTED_UNITS.div_ceil(column_units.len()))
        .min(row_blocks);
    let mut units = Vec::new();
    for (lo, hi) in crate::register_tiled::even_ranges(row_blocks, row_blocks.div_ceil(row_units)) {
        for &(b_lo, b_hi) in &column_units {
            units.push((lo * rows, (hi * rows).min(m), b_lo, b_hi));
        }
    }
    units
}

/// Where a unit of rows `r_lo..r_hi` and columns `n_lo..n_hi` is computed: the output
/// itself (`in_place`), or `product`, resized for it. Element (r_lo, n_lo) and the row
/// stride.
fn unit_target(
    (r_lo, r_hi, n_lo, n_hi): (usize, usize, usize, usize),
    in_place: bool,
    product: &mut Vec<f32>,
    out_addr: usize,
    n: usize,
) -> (*mut f32, usize) {
    if in_place {
        // Element (r_lo, n_lo) of the `[M, N]` output; not dereferenced here.
        ((out_addr as *mut f32).wrapping_add(r_lo * n + n_lo), n)
    } else {
        product.resize((r_hi - r_lo) * (n_hi - n_lo), 0.0);
        (product.as_mut_ptr(), n_hi - n_lo)
    }
}

/// Runs the epilogue on a computed unit's rows (in the output, or in `product`, then
/// copied to the output).
///
/// # Safety
/// The output at `out_addr` is `[M, N]` and the unit's values are computed.
unsafe fn finish_unit(
    d: &Descriptor,
    operands: &Operands,
    (r_lo, r_hi, n_lo, n_hi): (usize, usize, usize, usize),
    in_place: bool,
    product: &mut [f32],
    out_addr: usize,
) {
    use crate::register_tiled::{Segment, epilogue_in_place, store_runs};
    if in_place {
        // SAFETY: the unit's values, computed in place.
        return unsafe { epilogue_in_place(d, operands, (r_lo, r_hi, n_lo, n_hi), out_addr) };
    }
    // The product's rows are the unit's columns, one run each.
    let whole = [Segment {
        from: 0,
        to: n_lo,
        len: n_hi - n_lo,
    }];
    store_runs(d, operands, (r_lo, r_hi), product, n_hi - n_lo, &whole, out_addr);
}

/// [`run_packed`] on AVX-512: 8×48 blocks of [`crate::register_tiled`], their partial
/// vectors under masks.
///
/// # Safety
/// As [`run_packed`]; the CPU has AVX-512F.
unsafe fn run_packed_avx512(d: &Descriptor, a: i64, panels: &[f32], out: i64, operands: &Operands) {
    let tile = |call: BlockCall<ROWS>| {
        let masks: [u16; VECTORS] = std::array::from_fn(|v| {
            let lanes = call.cols.saturating_sub(16 * v).min(16);
            ((1u32 << lanes) - 1) as u16
        });
        let row = |kk: usize| call.panel.wrapping_add(kk * COLUMNS);
        // SAFETY: as `run_packed_blocks` promises of the call; the CPU has AVX-512F.
        unsafe {
            block(
                call.a_rows,
                call.a_col,
                call.steps,
                row,
                masks,
                call.dst,
                call.ldc,
                call.rows,
                call.accumulate,
            )
        };
    };
    // SAFETY: as this function's contract.
    unsafe { run_packed_blocks(d, a, panels, out, operands, (COLUMNS, UNIT_PANELS), tile) }
}

/// [`run_packed`] on AVX2 with FMA: panels of 16 columns and the 6×16 ymm blocks of
/// [`crate::register_tiled::avx2`], as many columns a unit as on AVX-512. Blocks at the
/// output's edge (the last rows, a last panel past N) are computed in a block of scratch
/// and copied, so the output is written in place.
///
/// # Safety
/// As [`run_packed`]; the panels are [`AVX2_COLUMNS`] wide; the CPU has AVX2 and FMA.
unsafe fn run_packed_avx2(d: &Descriptor, a: i64, panels: &[f32], out: i64, operands: &Operands) {
    use crate::register_tiled::avx2::block_within;
    let tile = |call: BlockCall<{ crate::register_tiled::avx2::ROWS }>| {
        let size = (call.rows, call.cols);
        // SAFETY: as `run_packed_blocks` promises of the call; the CPU has AVX2 and FMA.
        unsafe {
            block_within(
                call.steps,
                call.a_rows,
                call.a_col,
                call.panel,
                call.dst,
                call.ldc,
                size,
                call.accumulate,
            )
        };
    };
    let unit_panels = UNIT_PANELS * COLUMNS / AVX2_COLUMNS;
    // SAFETY: as this function's contract.
    unsafe { run_packed_blocks(d, a, panels, out, operands, (AVX2_COLUMNS, unit_panels), tile) }
}

/// Columns of one packed panel on AVX2: one block's two ymm vectors.
const AVX2_COLUMNS: usize = crate::register_tiled::avx2::COLUMNS;

/// One register block of a packed matmul: `R` rows of A (pointers at the chunk's first
/// step, stride `a_col`), `steps` rows of a panel from `panel` (the panel's width apart),
/// and the block's place in the output (or a unit's product): `rows` real rows and `cols`
/// real columns from `dst`, rows `ldc` apart; added to what is there when `accumulate`.
struct BlockCall<'a, const R: usize> {
    a_rows: &'a [*const f32; R],
    a_col: isize,
    steps: usize,
    panel: *const f32,
    dst: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    accumulate: bool,
}

/// The contraction over packed panels `columns` wide, and the epilogue, with `tile`
/// computing each block of `R` rows by one panel: for each unit (at most `unit_panels`
/// panels), each reduction chunk whose piece of a panel fits in [`PANEL_CHUNK_BYTES`]
/// (the L1 cache), each panel, every row block runs over that piece.
///
/// # Safety
/// As [`run_packed`]; the panels are `columns` wide; `tile` is sound for every call
/// whose operands hold what [`BlockCall`] says.
unsafe fn run_packed_blocks<const R: usize>(
    d: &Descriptor,
    a: i64,
    panels: &[f32],
    out: i64,
    operands: &Operands,
    (columns, unit_panels): (usize, usize),
    tile: impl Fn(BlockCall<R>) + Sync,
) {
    let (m, n, k) = (d.m as usize, d.n as usize, d.k as usize);
    let [a_row, a_col] = [d.strides[0] as isize, d.strides[1] as isize];
    let units = work_units(m, n, R, columns, unit_panels);
    let out_addr = out as usize;
    let in_place = !epilogue_reads_output(&d.epilogue, operands, m, out_addr);
    let chunk = (PANEL_CHUNK_BYTES / (4 * columns)).max(1);
    assert!(panels.len() >= n.div_ceil(columns) * k * columns);
    let run_unit = |(r_lo, r_hi, b_lo, b_hi): (usize, usize, usize, usize)| {
        let (n_lo, n_hi) = (b_lo * columns, (b_hi * columns).min(n));
        SCRATCH.with(|scratch| {
            let product = &mut *scratch.borrow_mut();
            let (dst, ldc) = unit_target((r_lo, r_hi, n_lo, n_hi), in_place, product, out_addr, n);
            let row_blocks = (r_hi - r_lo).div_ceil(R);
            for k0 in (0..k).step_by(chunk) {
                let k1 = (k0 + chunk).min(k);
                for j in b_lo..b_hi {
                    // The chunk's piece of panel j, in the L1 cache for every row block.
                    let panel = panels[(j * k + k0) * columns..].as_ptr();
                    // The next piece (the next panel's, or the next chunk's first) comes
                    // from memory (the panels of a layer's weights are read once per call):
                    // each row block asks for a share of its lines ahead of time, into L2.
                    let next = match (j + 1 < b_hi, k1 < k) {
                        (true, _) => Some((j + 1, k0, k1)),
                        (false, true) => Some((b_lo, k1, (k1 + chunk).min(k))),
                        (false, false) => None,
                    };
                    for (b, r0) in (r_lo..r_hi).step_by(R).enumerate() {
                        if let Some((next_j, from, to)) = next {
                            let lines = (to - from) * columns * 4 / 64;
                            let share = lines.div_ceil(row_blocks);
                            let piece = panels[(next_j * k + from) * columns..].as_ptr();
                            for line in (b * share..((b + 1) * share).min(lines)).map(|l| l * 16) {
                                // SAFETY: a prefetch only hints; the address lies in the panels.
                                unsafe {
                                    std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(
                                        piece.add(line).cast(),
                                    )
                                };
                            }
                        }
                        let count = R.min(r_hi - r0);
                        // SAFETY: A holds the block's rows.
                        let a_rows: [*const f32; R] = unsafe {
                            crate::register_tiled::row_pointers(a as *const f32, [a_row, a_col], r0, count, k0)
                        };
                        tile(BlockCall {
                            a_rows: &a_rows,
                            a_col,
                            steps: k1 - k0,
                            panel,
                            // The block's rows and columns lie in `dst` (the output, or
                            // the unit's product).
                            dst: dst.wrapping_add((r0 - r_lo) * ldc + j * columns - n_lo),
                            ldc,
                            rows: count,
                            cols: columns.min(n - j * columns),
                            accumulate: k0 > 0,
                        });
                    }
                }
            }
            // SAFETY: the unit is computed.
            unsafe { finish_unit(d, operands, (r_lo, r_hi, n_lo, n_hi), in_place, product, out_addr) };
        });
    };
    crate::microkernels::for_each_item(units, run_unit);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::{Contraction, ConvGeometry, Step, run_with_gemm};
    use crate::register_tiled::tests::{seconds_per_call, threads_from_environment, values};
    use proptest::prelude::*;

    /// A matmul descriptor: A `[M, K]` (transposed when `a_t`), B `[K, N]` (transposed when
    /// `b_t`), with `epilogue`.
    fn matmul(m: usize, n: usize, k: usize, (a_t, b_t): (bool, bool), epilogue: Vec<Step>) -> Descriptor {
        let a = if a_t { [1, m as i64] } else { [k as i64, 1] };
        let b = if b_t { [1, k as i64] } else { [n as i64, 1] };
        Descriptor {
            contraction: Contraction::Matmul,
            m: m as i64,
            n: n as i64,
            k: k as i64,
            strides: [a[0], a[1], b[0], b[1]],
            conv: ConvGeometry::default(),
            batch: crate::fused::Batch::default(),
            constant_weights: 7,
            layout: crate::fused::Layout::default(),
            epilogue,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Packed-panel matmuls of any shape (partial row blocks and panels, transposed
        /// operands, chunks of the reduction) agree with the gemm path, with a column bias,
        /// a residual that may be the output itself, and an activation.
        #[test]
        fn packed_matmuls_agree_with_the_gemm_path(
            m in 1usize..80, n in 1usize..120, k in 1usize..700, a_t in any::<bool>(), b_t in any::<bool>(),
            residual_is_output in any::<bool>(), seed in any::<u64>(),
        ) {
            if !(crate::fused::has_avx512() || crate::fused::has_avx2_fma()) {
                return Ok(());
            }
            let d = matmul(m, n, k, (a_t, b_t), vec![Step::AddColumn(0), Step::AddFull(1), Step::GeluErf]);
            let a = values(seed, m * k);
            let b = values(seed ^ 1, k * n);
            let bias = values(seed ^ 2, n);
            let start = values(seed ^ 3, m * n);
            let (mut packed_out, mut gemm_out) = (start.clone(), start.clone());
            let residual = values(seed ^ 4, m * n);
            let operands = |out: &[f32]| {
                let r = if residual_is_output { out.as_ptr() } else { residual.as_ptr() };
                Operands::new([bias.as_ptr() as i64, r as i64, 0], n)
            };
            let [b_row, b_col] = [d.strides[2] as isize, d.strides[3] as isize];
            let mut avx2_out = start.clone();
            // SAFETY: the buffers cover the descriptor's shapes; each tier runs on a CPU
            // that has its instructions.
            unsafe {
                let panels = pack(b.as_ptr(), k, n, b_row, b_col, panel_columns());
                run_packed(&d, a.as_ptr() as i64, &panels, packed_out.as_mut_ptr() as i64, &operands(&packed_out));
                run_with_gemm(&d, a.as_ptr() as i64, b.as_ptr() as i64, gemm_out.as_mut_ptr() as i64, &operands(&gemm_out));
                // The AVX2 tier also where AVX-512 is picked.
                if crate::fused::has_avx2_fma() {
                    let panels = pack(b.as_ptr(), k, n, b_row, b_col, AVX2_COLUMNS);
                    run_packed_avx2(&d, a.as_ptr() as i64, &panels, avx2_out.as_mut_ptr() as i64, &operands(&avx2_out));
                } else {
                    avx2_out.clone_from(&packed_out);
                }
            }
            let tolerance = 1e-6 * k as f32 + 1e-5;
            for (i, (x, y)) in packed_out.iter().zip(&gemm_out).enumerate() {
                prop_assert!((x - y).abs() <= tolerance, "output {}: {} vs {}", i, x, y);
            }
            for (i, (x, y)) in avx2_out.iter().zip(&gemm_out).enumerate() {
                prop_assert!((x - y).abs() <= tolerance, "AVX2 output {}: {} vs {}", i, x, y);
            }
        }
    }

    /// Panels hold B's element (step, column) at (panel, step, column in panel), zero
    /// past N, for B laid out by rows, by columns (`Kᵀ` read in place: the register
    /// transposes of 8 columns by 8 steps, and the steps and columns left over) and with
    /// both strides apart (the element-by-element loops).
    #[test]
    fn panels_hold_b_in_every_layout() {
        let columns = panel_columns();
        for (k, n) in [(19usize, 37usize), (64, 128), (8, 8), (1, 5), (7, 3)] {
            let b = values(9, 2 * k * n);
            for (b_row, b_col) in [(n as isize, 1), (1, k as isize), (2 * n as isize, 2)] {
                // SAFETY: B's elements lie in `b` under these strides.
                let panels = unsafe { pack(b.as_ptr(), k, n, b_row, b_col, columns) };
                for (j, panel) in panels.chunks_exact(k * columns).enumerate() {
                    for kk in 0..k {
                        for c in 0..columns {
                            let column = j * columns + c;
                            let want = match column < n {
                                true => b[(kk as isize * b_row + column as isize * b_col) as usize],
                                false => 0.0,
                            };
                            assert_eq!(
                                panel[kk * columns + c],
                                want,
                                "k {k}, n {n}, strides {b_row}, {b_col}: ({kk}, {column})"
                            );
                        }
                    }
                }
            }
        }
    }

    /// The cache, through the fused kernel's entry point: a descriptor called over two
    /// weights (two call sites of one kernel) keeps one packing of each, and every call,
    /// first or later, agrees with the gemm path; other weights at the same address under
    /// the same key (a dropped model's memory reused) are packed afresh.
    #[test]
    fn cached_panels_follow_the_weights() {
        if !(crate::fused::has_avx512() || crate::fused::has_avx2_fma()) {
            return;
        }
        let (m, n, k) = (9, 40, 33);
        let d = matmul(m, n, k, (false, false), vec![Step::AddColumn(0)]);
        assert!(computes(&d));
        let words = d.encode();
        let a = values(11, m * k);
        let bias = values(12, n);
        let expected = |b: &[f32]| {
            let mut out = vec![0f32; m * n];
            let operands = Operands::new([bias.as_ptr() as i64, 0, 0], n);
            let (a, b, o) = (a.as_ptr() as i64, b.as_ptr() as i64, out.as_mut_ptr() as i64);
            // SAFETY: the buffers cover the descriptor's shapes.
            unsafe { run_with_gemm(&d, a, b, o, &operands) };
            out
        };
        let call = |b: &[f32]| {
            let mut out = vec![0f32; m * n];
            let (a, b, o) = (a.as_ptr() as i64, b.as_ptr() as i64, out.as_mut_ptr() as i64);
            // SAFETY: as above; the descriptor's words stay alive for the test.
            unsafe { crate::fused::fuser_fused_f32(words.as_ptr() as i64, a, b, o, bias.as_ptr() as i64, 0, 0) };
            out
        };
        let close = |x: &[f32], y: &[f32]| x.iter().zip(y).all(|(p, q)| (p - q).abs() <= 1e-4);
        let (mut first, second) = (values(13, k * n), values(14, k * n));
        for _ in 0..2 {
            assert!(close(&call(&first), &expected(&first)));
            assert!(close(&call(&second), &expected(&second)));
        }
        let before = expected(&first);
        first.iter_mut().for_each(|v| *v = -*v);
        let out = call(&first);
        assert!(close(&out, &expected(&first)));
        assert!(!close(&out, &before));
    }

    /// Not a test: `cargo test --release -p fuser-runtime matmul_timing -- --ignored
    /// --nocapture` times the BERT layer's matmul shapes and ResNet-50's and MobileNetV2's 1×1 convs (as
    /// `[F, C]·[C, HW]`) three ways in one run: over panels packed beforehand (constant
    /// weights), packing B in the call (a runtime B, or a conv's input), and through the
    /// `gemm` path (`F32_THREADS` sets the threads).
    #[test]
    #[ignore]
    fn matmul_timing() {
        threads_from_environment();
        for (m, k, n) in [
            (128usize, 768usize, 768usize),
            (128, 768, 3072),
            (128, 3072, 768),
            (256, 768, 768),
            (512, 768, 3072),
            (64, 64, 3136),
            (256, 64, 3136),
            (64, 256, 3136),
            (128, 512, 784),
            (512, 128, 784),
            (256, 1024, 196),
            (1024, 256, 196),
            (512, 2048, 49),
            (2048, 512, 49),
            (96, 16, 12544),
            (144, 24, 3136),
            (24, 144, 3136),
            (192, 32, 784),
            (32, 192, 784),
            (384, 64, 196),
        ] {
            let d = matmul(m, n, k, (false, false), vec![Step::AddColumn(0)]);
            let a = values(1, m * k);
            let b = values(2, k * n);
            let bias = values(3, n);
            let operands = Operands::new([bias.as_ptr() as i64, 0, 0], n);
            let mut out = vec![0f32; m * n];
            let o = out.as_mut_ptr() as i64;
            // SAFETY: B covers the shapes.
            let panels = unsafe { pack(b.as_ptr(), k, n, n as isize, 1, panel_columns()) };
            let time = |path: u8| {
                seconds_per_call(|| unsafe {
                    match path {
                        0 => run_packed(&d, a.as_ptr() as i64, &panels, o, &operands),
                        1 => run_packed(
                            &d,
                            a.as_ptr() as i64,
                            &pack(b.as_ptr(), k, n, n as isize, 1, panel_columns()),
                            o,
                            &operands,
                        ),
                        _ => run_with_gemm(&d, a.as_ptr() as i64, b.as_ptr() as i64, o, &operands),
                    }
                })
            };
            // The best of rounds that alternate the paths (the machine is noisy).
            let mut best = [f64::MAX; 3];
            for _ in 0..6 {
                for (path, best) in best.iter_mut().enumerate() {
                    *best = best.min(time(path as u8));
                }
            }
            let gflops = |t: f64| 2.0 * (m * k * n) as f64 / t / 1e9;
            eprintln!(
                "{m}x{k}x{n}: packed {:.3} ms ({:.0} GFLOP/s), packed in the call {:.3} ms ({:.0}), gemm {:.3} ms ({:.0})",
                best[0] * 1e3,
                gflops(best[0]),
                best[1] * 1e3,
                gflops(best[1]),
                best[2] * 1e3,
                gflops(best[2]),
            );
        }
    }
}
