//! The register-tiled conv of [`super`] on CPUs with AVX2 and FMA but no AVX-512 (an AMD
//! EPYC of the Zen 3 kind, for one): the same B operand (the input laid out once as
//! zero-padded planes, no im2col; a 1×1, stride-1, unpadded conv's input as it is), with
//! blocks shaped for 16 ymm registers.
//!
//! - A block is 6 output channels by 16 positions: 12 accumulators, two vectors of B's row
//!   and one broadcast weight per step. The weights are broadcast from their six rows in
//!   place; B's rows are packed per reduction chunk as `[step][16]` panels, one per block
//!   column of the unit, so the block reads one contiguous stream of B (`avx2_block_timing`
//!   below: about 92% of the FMA peak on a panel in L1; a stand-alone try that read the
//!   taps' rows where they lie, one offset read per step, was markedly slower).
//! - A chunk is [`CHUNK`] steps (a panel is 16 KB). Each row block runs over all the
//!   unit's panels (in the L2 cache) while its chunk of weights is in the L1 cache.
//! - Where the planes are wider than the output and that would cost blocks of columns,
//!   the blocks' columns are output positions, gathered run by run from the planes' rows
//!   as the panels are packed.
//! - A unit is computed straight into the output when its computed columns are output
//!   columns (output positions as above, or planes as wide as the output: a 1×1 conv, any
//!   kernel one column wide) and no epilogue operand shares memory with the output; edge
//!   blocks go through a block of scratch, and the epilogue runs there in place.
//!   Otherwise it is computed into scratch of whole blocks, then its epilogue runs on each
//!   stored run and the results are copied out. Either way the epilogue runs on each row
//!   block as soon as its last chunk is summed, while its rows are in the L1 cache, not in
//!   a pass over the whole unit afterwards, which read it back from L2 (`perf` of a
//!   one-thread `f32_timing` run of 64→256 1×1 at 56: the epilogue's share of the run
//!   from 9.7% to 6.7%; the kernel's time moved within this machine's noise).
//! - An edge block of at most 8 columns (a 7×7 map's 49th) runs one vector a row.
//! - On a CPU with AVX-512F (AMD Zen 4, which runs this tier), a block of 16 columns sums
//!   each row in one 512-bit vector ([`zmm`]): half the multiply-add instructions. The BERT
//!   layer took 0.969, 0.859 and 0.906 of the time of the 256-bit blocks in three runs of
//!   `bench/interleaved_ort.py BUILD --versus OTHER --models bert_base_layer` (8 blocks
//!   each, on a loaded machine: the fewer instructions count most when a core is shared).
//!
//! Each output is the sum of its products in reduction order from zero, one fused
//! multiply-add per step, as the AVX-512 block computes it: both tiers give the same bits.

use super::{Segment, VectorOperand, epilogue_in_place, even_ranges, row_pointers, segments, store_runs};
use crate::fused::{Descriptor, Operands};
use std::arch::x86_64::*;
use std::cell::RefCell;

mod zmm;

/// Rows (output channels) of a register block.
pub(crate) const ROWS: usize = 6;
/// Columns (output positions) of a register block: two ymm vectors.
pub(crate) const COLUMNS: usize = 16;
/// Reduction steps per chunk: one block's panel of B is `CHUNK · 16` values, 16 KB.
const CHUNK: usize = 256;
/// A work unit is up to this many rows by this many columns.
const UNIT_ROWS: usize = 96;
const UNIT_COLUMNS: usize = 192;

/// Per-thread buffers of a unit: its product, its stored runs, the chunk's B panels, and
/// where a panel's runs of output positions start.
#[derive(Default)]
struct Scratch {
    product: Vec<f32>,
    runs: Vec<Segment>,
    inputs: crate::aligned::AlignedBuffer,
    starts: Vec<(usize, usize)>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// `dst[i·ldc + c] (+)= Σ_k a[i][k·a_col] · b[k·16 + c]` for `i < R`, `c < 8·V`: added to
/// what `dst` holds when `accumulate`. `R = 6, V = 2` is the whole 6×16 block; fewer rows
/// serve an output's last rows; `V = 1` reads only the first 8 columns of each panel row,
/// for a block at the output's edge with at most 8 columns, which then costs 6
/// accumulators' multiply-adds a step instead of 12 (each output's sum is the same, in the
/// same order, whatever the block's shape).
///
/// # Safety
/// Each row `a[i]` holds `steps` values at stride `a_col`, `b` holds `steps · 16`; `dst` R
/// rows of `8·V` writable values, `ldc` apart; the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn block<const R: usize, const V: usize>(
    steps: usize,
    a: &[*const f32; R],
    a_col: isize,
    b: *const f32,
    dst: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    if V == 2 && crate::vector_width::zmm_on_avx2_tier() {
        // SAFETY: as this function's contract; the CPU has AVX-512F.
        return unsafe { zmm::block::<R>(steps, a, a_col, b, dst, ldc, accumulate) };
    }
    let mut acc = [[_mm256_setzero_ps(); V]; R];
    // SAFETY (every load and store): inside the buffers, as the caller promises.
    unsafe {
        if accumulate {
            for (i, row) in acc.iter_mut().enumerate() {
                for (h, sum) in row.iter_mut().enumerate() {
                    *sum = _mm256_loadu_ps(dst.add(i * ldc + 8 * h));
                }
            }
        }
        let mut b = b;
        for k in 0..steps as isize {
            let x: [__m256; V] = std::array::from_fn(|h| _mm256_loadu_ps(b.add(8 * h)));
            for (row, &a_row) in acc.iter_mut().zip(a) {
                let w = _mm256_broadcast_ss(&*a_row.offset(k * a_col));
                for (sum, &x) in row.iter_mut().zip(&x) {
                    *sum = _mm256_fmadd_ps(w, x, *sum);
                }
            }
            b = b.add(COLUMNS);
        }
        for (i, row) in acc.iter().enumerate() {
            for (h, &sum) in row.iter().enumerate() {
                _mm256_storeu_ps(dst.add(i * ldc + 8 * h), sum);
            }
        }
    }
}

/// [`block`] into the first `rows` rows and `cols` columns of `dst` only (a block at the
/// edge of an output computed in place): a block of those rows when its columns are whole,
/// else through a whole block of scratch, and over only the first 8 columns when there are
/// no more.
///
/// # Safety
/// As [`block`], with `dst` writable for `rows` rows of `cols` values.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn block_within(
    steps: usize,
    a: &[*const f32; ROWS],
    a_col: isize,
    b: *const f32,
    dst: *mut f32,
    ldc: usize,
    (rows, cols): (usize, usize),
    accumulate: bool,
) {
    if rows == ROWS && cols == COLUMNS {
        // SAFETY: as the caller promises.
        return unsafe { block::<ROWS, 2>(steps, a, a_col, b, dst, ldc, accumulate) };
    }
    if cols == COLUMNS {
        // The last rows of a full-width block (M = 128 leaves 2 past 21 blocks of 6): only
        // theirs are summed, straight into `dst` (the BERT layer's packed matmuls took 0.97
        // to 0.98 of their time, `fuser bench --ab`, where 6 rows went through scratch).
        // SAFETY: as the caller promises, for the first `rows` rows.
        unsafe {
            match rows {
                1 => return block::<1, 2>(steps, &[a[0]], a_col, b, dst, ldc, accumulate),
                2 => return block::<2, 2>(steps, &[a[0], a[1]], a_col, b, dst, ldc, accumulate),
                3 => return block::<3, 2>(steps, &[a[0], a[1], a[2]], a_col, b, dst, ldc, accumulate),
                4 => return block::<4, 2>(steps, &[a[0], a[1], a[2], a[3]], a_col, b, dst, ldc, accumulate),
                5 => return block::<5, 2>(steps, &[a[0], a[1], a[2], a[3], a[4]], a_col, b, dst, ldc, accumulate),
                _ => {}
            }
        }
    }
    let mut whole = [0f32; ROWS * COLUMNS];
    // SAFETY (every copy): the first `rows` rows of `cols` values of `dst`, as the caller
    // promises, and of `whole`.
    unsafe {
        if accumulate {
            for i in 0..rows {
                std::ptr::copy_nonoverlapping(dst.add(i * ldc), whole.as_mut_ptr().add(i * COLUMNS), cols);
            }
        }
        match cols <= COLUMNS / 2 {
            true => block::<ROWS, 1>(steps, a, a_col, b, whole.as_mut_ptr(), COLUMNS, accumulate),
            false => block::<ROWS, 2>(steps, a, a_col, b, whole.as_mut_ptr(), COLUMNS, accumulate),
        }
        for i in 0..rows {
            std::ptr::copy_nonoverlapping(whole.as_ptr().add(i * COLUMNS), dst.add(i * ldc), cols);
        }
    }
}

/// Copies B's 16 columns from `from` of reduction steps `offsets` (row `k` at `base +
/// offsets[k]`) into `panel` (`[steps][16]`): those below `computed`, and zeros past it.
///
/// # Safety
/// Each row's columns below `computed` are readable; the CPU has AVX.
#[target_feature(enable = "avx")]
unsafe fn pack_inputs(base: *const f32, offsets: &[isize], from: usize, computed: usize, panel: &mut [f32]) {
    assert!(panel.len() >= offsets.len() * COLUMNS);
    let valid = computed.saturating_sub(from).min(COLUMNS);
    for (k, &offset) in offsets.iter().enumerate() {
        // SAFETY: as the caller promises, and row `k` of the panel (asserted above).
        unsafe {
            let row = base.offset(offset).add(from);
            let to = panel.as_mut_ptr().add(k * COLUMNS);
            if valid == COLUMNS {
                _mm256_storeu_ps(to, _mm256_loadu_ps(row));
                _mm256_storeu_ps(to.add(8), _mm256_loadu_ps(row.add(8)));
            } else {
                // The last block of B's columns (B may be the conv's input itself, which
                // ends there).
                std::ptr::copy_nonoverlapping(row, to, valid);
                std::ptr::write_bytes(to.add(valid), 0, COLUMNS - valid);
            }
        }
    }
}

/// Copies B's columns for 16 output positions into `panel` (`[steps][16]`, with 16 values
/// of slack after it): `runs` are `(computed column, panel column)` pairs, in panel order,
/// where each run of positions on one output row starts. Each run's 16 columns are copied
/// whole: the next run (or the next step's first) overwrites what lies past its end, so
/// each run is two vector loads and stores. Columns past the last run's positions hold
/// values read from past them (computed, never stored).
///
/// # Safety
/// Each row (at `base + offsets[k]`) is readable for 16 values from every run's computed
/// column; the CPU has AVX.
#[target_feature(enable = "avx")]
unsafe fn pack_positions(base: *const f32, offsets: &[isize], runs: &[(usize, usize)], panel: &mut [f32]) {
    assert!(panel.len() >= offsets.len() * COLUMNS + COLUMNS && runs.iter().all(|&(_, to)| to < COLUMNS));
    for (k, &offset) in offsets.iter().enumerate() {
        // SAFETY: as the caller promises, and row `k` of the panel or its slack (asserted
        // above).
        unsafe {
            let row = base.offset(offset);
            let to = panel.as_mut_ptr().add(k * COLUMNS);
            for &(from, at) in runs {
                _mm256_storeu_ps(to.add(at), _mm256_loadu_ps(row.add(from)));
                _mm256_storeu_ps(to.add(at + 8), _mm256_loadu_ps(row.add(from + 8)));
            }
        }
    }
}

/// Where each run of the output positions `from..from + 16` (below `total`, `ow` a row)
/// lies in the computed columns (`pw` a row): `(computed column, panel column)` pairs.
fn position_runs(from: usize, total: usize, ow: usize, pw: usize, runs: &mut Vec<(usize, usize)>) {
    runs.clear();
    let end = (from + COLUMNS).min(total);
    let mut p = from;
    while p < end {
        let (y, x) = (p / ow, p % ow);
        runs.push((y * pw + x, p - from));
        p += ow - x;
    }
}

/// [`super::run`]'s contraction and epilogue on AVX2, B given by `operand`.
///
/// # Safety
/// As [`super::run`]; the CPU has AVX2 and FMA.
pub(super) unsafe fn compute(d: &Descriptor, a: i64, operand: &VectorOperand, out: i64, operands: &Operands) {
    let (m, n) = (d.m as usize, d.n as usize);
    let [a_row, a_col] = [d.strides[0] as isize, d.strides[1] as isize];
    let steps = operand.offsets.len();
    // Where the planes are wider than the output (a kernel more than one column wide) and
    // that costs blocks, the blocks' columns are the output positions themselves, gathered
    // from the planes' rows as the panels are packed: the planes' extra columns are not
    // computed (a 3×3 conv's planes at 14×14 are 16 wide: 14 blocks of columns instead of
    // 13), and the output is contiguous, so it is written in place. Where the blocks are
    // as many either way (7×7: 63 or 49 columns, 4 blocks) the planes' columns are
    // packed as they lie, a run of 16 for a panel row instead of one per output row.
    let positions =
        operand.computed_width != operand.output_width && n.div_ceil(COLUMNS) < operand.computed.div_ceil(COLUMNS);
    let columns_total = if positions { n } else { operand.computed };
    // Units of whole blocks, as even as the blocks allow, so that threads finish together.
    let mut units = Vec::new();
    for columns in even_ranges(columns_total.div_ceil(COLUMNS), UNIT_COLUMNS / COLUMNS) {
        for rows in even_ranges(m.div_ceil(ROWS), UNIT_ROWS / ROWS) {
            units.push((rows, columns));
        }
    }
    let out_addr = out as usize;
    let a_addr = a as usize;
    // Blocks are written straight into the output, and the epilogue runs there in place,
    // when computed columns are output columns (positions, or planes as wide as the
    // output) and no epilogue operand shares memory with the output; else into the unit's
    // scratch of whole blocks, from which the epilogue's results are copied out.
    let in_place = (positions || operand.computed_width == operand.output_width)
        && !crate::fused::epilogue_reads_output(&d.epilogue, operands, m, out_addr);
    let run_unit = |((b_lo, b_hi), (c_lo, c_hi)): ((usize, usize), (usize, usize))| {
        SCRATCH.with(|scratch| {
            let Scratch {
                product,
                runs,
                inputs,
                starts,
            } = &mut *scratch.borrow_mut();
            let (r_lo, r_hi) = (b_lo * ROWS, (b_hi * ROWS).min(m));
            let (n_lo, n_hi) = (c_lo * COLUMNS, (c_hi * COLUMNS).min(columns_total));
            let (dst, ldc) = if in_place {
                // Element (r_lo, n_lo) of the `[M, N]` output; not dereferenced here.
                ((out_addr as *mut f32).wrapping_add(r_lo * n + n_lo), n)
            } else {
                let ldc = (c_hi - c_lo) * COLUMNS;
                product.resize((b_hi - b_lo) * ROWS * ldc, 0.0);
                (product.as_mut_ptr(), ldc)
            };
            // The panels, and one row of slack for `pack_positions`.
            inputs.resize((c_hi - c_lo) * CHUNK * COLUMNS + COLUMNS, 0.0);
            if !in_place && positions {
                // The product's rows are the unit's output positions, one run each.
                runs.clear();
                runs.push(Segment {
                    from: 0,
                    to: n_lo,
                    len: n_hi - n_lo,
                });
            } else if !in_place {
                segments(operand, n_lo, n_hi - n_lo, runs);
            }
            for k0 in (0..steps).step_by(CHUNK) {
                let offsets = &operand.offsets[k0..(k0 + CHUNK).min(steps)];
                let chunk = offsets.len();
                for j in 0..c_hi - c_lo {
                    let from = (c_lo + j) * COLUMNS;
                    let panel = &mut inputs[j * CHUNK * COLUMNS..];
                    if positions {
                        position_runs(from, n, operand.output_width, operand.computed_width, starts);
                        // SAFETY: every run's row of the planes holds 16 values (the
                        // planes' slack covers the last row's).
                        unsafe { pack_positions(operand.base, offsets, starts, panel) };
                    } else {
                        // SAFETY: B's rows hold every computed column.
                        unsafe { pack_inputs(operand.base, offsets, from, operand.computed, panel) };
                    }
                }
                for i in 0..b_hi - b_lo {
                    // Rows past M repeat the last one (computed, not stored).
                    let r0 = (b_lo + i) * ROWS;
                    // SAFETY: A holds the block's rows below M.
                    let rows =
                        unsafe { row_pointers(a_addr as *const f32, [a_row, a_col], r0, (m - r0).min(ROWS), k0) };
                    for (j, inputs) in inputs.chunks_exact(CHUNK * COLUMNS).take(c_hi - c_lo).enumerate() {
                        // The block's rows and columns in the output (in place), or whole
                        // in the unit's product.
                        let (count, cols) = match in_place {
                            true => (
                                (r_hi - r_lo - i * ROWS).min(ROWS),
                                (n_hi - n_lo - j * COLUMNS).min(COLUMNS),
                            ),
                            false => (ROWS, COLUMNS),
                        };
                        // SAFETY: A's rows hold the chunk's steps; the panel holds them
                        // too; the block's `count` rows and `cols` columns lie in `dst`.
                        unsafe {
                            let dst = dst.add(i * ROWS * ldc + j * COLUMNS);
                            block_within(chunk, &rows, a_col, inputs.as_ptr(), dst, ldc, (count, cols), k0 > 0);
                        }
                    }
                    if k0 + chunk == steps {
                        // The row block's sums are final: its epilogue runs now, on rows
                        // just written (in the L1 cache), not in a pass over the unit.
                        let (first, end) = (r0, (r0 + ROWS).min(r_hi));
                        if in_place {
                            // SAFETY: the row block's values, written above.
                            unsafe { epilogue_in_place(d, operands, (first, end, n_lo, n_hi), out_addr) };
                        } else {
                            let rows = &mut product[i * ROWS * ldc..];
                            store_runs(d, operands, (first, end), rows, ldc, runs, out_addr);
                        }
                    }
                }
            }
        })
    };
    crate::microkernels::for_each_item(units, run_unit);
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ConvCall, GUARD, assert_close, conv_descriptor, epilogue, values};
    use super::*;
    use crate::fused::{has_avx2_fma, has_avx512, run_with_gemm};
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;

    /// One conv through the AVX2 tier and the gemm path (and the AVX-512 tier where the
    /// CPU has it), its epilogue's bias and residual (the output itself, or apart) drawn
    /// from `seed`: checks they agree, the AVX-512 bits are the same, and nothing past the
    /// `[M, N]` output is written.
    fn check_conv(d: &Descriptor, residual_is_output: bool, seed: u64) -> Result<(), TestCaseError> {
        let (m, n) = (d.m as usize, d.n as usize);
        let g = d.conv;
        let call = ConvCall::new(d, seed);
        let (b, start) = (&call.b, &call.start);
        let operands = |out: &[f32]| call.operands(out, residual_is_output, n);
        let mut planes = Vec::new();
        let [mut tiled, mut reference, mut wide] = [(); 3].map(|_| start.clone());
        let (a_addr, b_addr) = (call.a.as_ptr() as i64, b.as_ptr() as i64);
        // SAFETY: the buffers cover the descriptor's shapes; the CPU has AVX2 and FMA (the
        // callers check).
        unsafe {
            let operand = super::super::conv_operand(&g, b.as_ptr(), &mut planes);
            compute(d, a_addr, &operand, tiled.as_mut_ptr() as i64, &operands(&tiled));
            run_with_gemm(d, a_addr, b_addr, reference.as_mut_ptr() as i64, &operands(&reference));
        }
        prop_assert!(tiled[m * n..].iter().all(|&v| v == GUARD), "written past the output");
        assert_close(&tiled[..m * n], &reference[..m * n], d.k as usize);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        if !residual_is_output {
            // The epilogue, in place or on runs copied out of scratch, gives the bits of a
            // pass over the rows of the bare sums.
            let bare = Descriptor {
                epilogue: vec![],
                ..d.clone()
            };
            let mut sums = start.clone();
            // SAFETY: as above.
            unsafe {
                let operand = super::super::conv_operand(&g, b.as_ptr(), &mut planes);
                compute(&bare, a_addr, &operand, sums.as_mut_ptr() as i64, &operands(&sums));
            }
            for (r, row) in sums[..m * n].chunks_exact_mut(n).enumerate() {
                crate::fused::epilogue_row(&d.epilogue, &operands(start), r, 0, row);
            }
            prop_assert_eq!(bits(&tiled), bits(&sums));
        }
        if has_avx512() {
            // SAFETY: as above; `run` picks the AVX-512 tier on this CPU.
            unsafe { super::super::run(d, a_addr, b_addr, wide.as_mut_ptr() as i64, &operands(&wide)) };
            prop_assert_eq!(bits(&tiled), bits(&wide));
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The AVX2 tier, wherever the CPU runs it (also where AVX-512 would be picked),
        /// agrees with the gemm path on convs of every geometry (1×1 ones read and written
        /// in place, partial blocks of rows and columns), and gives the AVX-512 tier's
        /// bits where that runs too.
        #[test]
        fn avx2_convs_agree_with_the_gemm_path_and_the_avx512_bits(
            c in 1usize..40, f in 6usize..40, h in 1usize..24, w in 1usize..24,
            kh in 1usize..6, kw in 1usize..6, stride in 1usize..4, dilation in 1usize..3,
            pad in 0usize..4, kind in 0u8..4, residual_is_output in any::<bool>(), seed in any::<u64>(),
        ) {
            if has_avx2_fma()
                && let Some(d) = conv_descriptor((c, f, h, w, kh, kw), (stride, dilation, pad), epilogue(kind))
            {
                check_conv(&d, residual_is_output, seed)?;
            }
        }

        /// Convs of more output channels than a unit's rows (several ranges of rows), at
        /// 56×56 (many ranges of columns) and 14×14 (two), 1×1 and 3×3.
        #[test]
        fn avx2_convs_over_units_of_many_rows(
            c in 1usize..12, f in 97usize..300, wide in any::<bool>(), three in any::<bool>(),
            kind in 0u8..4, seed in any::<u64>(),
        ) {
            let (size, k) = (if wide { 56 } else { 14 }, if three { 3 } else { 1 });
            if has_avx2_fma()
                && let Some(d) = conv_descriptor((c, f, size, size, k, k), (1, 1, k / 2), epilogue(kind))
            {
                check_conv(&d, false, seed)?;
            }
        }

        /// Convs whose reduction spans several chunks (over 256 steps), 1×1 ones (in place)
        /// and 3×3 ones, with partial blocks of rows and columns.
        #[test]
        fn avx2_convs_over_several_reduction_chunks(
            c in 257usize..600, f in 6usize..20, h in 1usize..9, w in 1usize..9, three in any::<bool>(),
            kind in 0u8..4, residual_is_output in any::<bool>(), seed in any::<u64>(),
        ) {
            let k = if three { 3 } else { 1 };
            if has_avx2_fma()
                && let Some(d) = conv_descriptor((c, f, h, w, k, k), (1, 1, k / 2), epilogue(kind))
            {
                check_conv(&d, residual_is_output, seed)?;
            }
        }
    }

    /// Not a test: `cargo test --release -p fuser-runtime avx2_block_timing -- --ignored
    /// --nocapture` prints the 6×16 block's GFLOP/s on one thread, its weights and a panel
    /// of 256 steps in the L1 cache, against the FMA peak of `fma_peak`.
    #[test]
    #[ignore]
    fn avx2_block_timing() {
        if !has_avx2_fma() {
            return;
        }
        let steps = CHUNK;
        let a = values(1, ROWS * steps);
        let b = values(2, steps * COLUMNS);
        let mut dst = vec![0f32; ROWS * COLUMNS];
        let rows: [*const f32; ROWS] = std::array::from_fn(|i| a[i * steps..].as_ptr());
        let calls = 200_000;
        let best = (0..5)
            .map(|_| {
                let start = std::time::Instant::now();
                for _ in 0..calls {
                    // SAFETY: the rows hold `steps` values, the panel `steps` rows of 16,
                    // `dst` a whole block; the CPU has AVX2 and FMA (checked above).
                    unsafe { block::<ROWS, 2>(steps, &rows, 1, b.as_ptr(), dst.as_mut_ptr(), COLUMNS, false) };
                    std::hint::black_box(&mut dst);
                }
                start.elapsed().as_secs_f64()
            })
            .fold(f64::MAX, f64::min);
        let flops = 2.0 * (calls * steps * ROWS * COLUMNS) as f64;
        eprintln!("6x16 block: {:.1} GFLOP/s on one thread", flops / best / 1e9);
    }

    /// Blocks at an output's edge (fewer rows, fewer columns, or both): each written
    /// output is the scalar sum in the same order with the same rounding, fresh and
    /// accumulated, and nothing past the block's rows and columns is touched.
    #[test]
    fn edge_blocks_sum_their_rows_and_columns_alone() {
        if !has_avx2_fma() {
            return;
        }
        let steps = 29;
        let (a_col, ldc) = (2isize, 19usize);
        let a = values(21, ROWS * steps * a_col as usize);
        let b = values(22, steps * COLUMNS);
        let start = values(23, ROWS * ldc);
        let rows: [*const f32; ROWS] = std::array::from_fn(|i| a[i * steps * a_col as usize..].as_ptr());
        for (count, cols) in (1..=ROWS).flat_map(|r| [(r, COLUMNS), (r, 11), (r, 5)]) {
            for accumulate in [false, true] {
                let mut dst = start.clone();
                // SAFETY: as in the test below, `dst` holds `count` rows of `cols` values.
                unsafe {
                    block_within(
                        steps,
                        &rows,
                        a_col,
                        b.as_ptr(),
                        dst.as_mut_ptr(),
                        ldc,
                        (count, cols),
                        accumulate,
                    )
                };
                for i in 0..ROWS {
                    for c in 0..ldc {
                        let expected = if i >= count || c >= cols {
                            start[i * ldc + c]
                        } else {
                            let first = if accumulate { start[i * ldc + c] } else { 0.0 };
                            (0..steps).fold(first, |sum, k| {
                                a[i * steps * a_col as usize + k * a_col as usize].mul_add(b[k * COLUMNS + c], sum)
                            })
                        };
                        assert_eq!(
                            dst[i * ldc + c].to_bits(),
                            expected.to_bits(),
                            "{count}×{cols}: row {i}, column {c}"
                        );
                    }
                }
            }
        }
    }

    /// The 6×16 block: every output, each of the 6 rows and 16 columns, fresh and
    /// accumulated, against a scalar sum in the same order with the same rounding.
    #[test]
    fn block_sums_every_row_and_column_in_order() {
        if !has_avx2_fma() {
            return;
        }
        let steps = 37;
        let (a_col, ldc) = (3isize, 20usize);
        let a = values(11, ROWS * steps * a_col as usize);
        let b = values(12, steps * COLUMNS);
        let start = values(13, ROWS * ldc);
        let rows: [*const f32; ROWS] = std::array::from_fn(|i| a[i * steps * a_col as usize..].as_ptr());
        for accumulate in [false, true] {
            let mut dst = start.clone();
            // SAFETY: the rows hold `steps` values at stride `a_col`, B `steps` rows of 16,
            // `dst` 6 rows of `ldc` ≥ 16; the CPU has AVX2 and FMA (checked above).
            unsafe { block::<ROWS, 2>(steps, &rows, a_col, b.as_ptr(), dst.as_mut_ptr(), ldc, accumulate) };
            for i in 0..ROWS {
                for c in 0..ldc {
                    let expected = if c >= COLUMNS {
                        start[i * ldc + c]
                    } else {
                        let first = if accumulate { start[i * ldc + c] } else { 0.0 };
                        (0..steps).fold(first, |sum, k| {
                            a[i * steps * a_col as usize + k * a_col as usize].mul_add(b[k * COLUMNS + c], sum)
                        })
                    };
                    assert_eq!(dst[i * ldc + c].to_bits(), expected.to_bits(), "row {i}, column {c}");
                }
            }
        }
    }
}
