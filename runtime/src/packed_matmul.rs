//! The f32 matmuls of the fused kernel ([`crate::fused`]) whose B is a constant (a
//! layer's weights), on AVX-512: B is packed once, on the first call, into column panels,
//! and every later call reads the panels as they are. The `gemm` crate path it replaces
//! packs B (and A) again on every call.
//!
//! - Packed B: column blocks of [`COLUMNS`] values, each `[K, COLUMNS]` contiguous, zero
//!   past `N`.
//! - A block of [`ROWS`] rows of A by one column block sums its reduction in 24 zmm
//!   registers with [`crate::register_tiled::block`] (broadcast A, vectors of the panel).
//! - A work unit is every row of A by a few column blocks, so each panel is read from
//!   memory once per call; the reduction is summed in chunks whose panels stay in the L2
//!   cache while every row block runs over them, the chunk of A's rows in the L1 cache.
//! - The epilogue runs on a unit's rows while they are in cache.
//!
//! Units depend only on the shapes and threads split units (outputs), never a reduction,
//! so results do not depend on the thread count.
//!
//! Where the panels are kept: a descriptor of a matmul with a constant B carries a key
//! (see [`crate::fused::Descriptor::constant_b`]) that the lowering derives from the
//! compiled kernel and B's contents, and the panels are cached under (descriptor address,
//! key, B's address): only the same compiled code over the same weights finds them.

use crate::fused::{Descriptor, Operands, epilogue_reads_output, epilogue_row};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Rows of A per register block, and vectors of 16 columns per panel: 24 accumulators.
const ROWS: usize = 12;
const VECTORS: usize = 2;
/// Columns of one packed panel.
pub(crate) const COLUMNS: usize = 16 * VECTORS;
/// A unit's chunk of panels takes at most this many bytes (stays in the L2 cache).
const PANEL_CHUNK_BYTES: usize = 16 * 1024;
/// Column blocks per work unit, at most.
const UNIT_BLOCKS: usize = 6;
/// Rows per work unit, at most: all of a batch-1 activation's rows, so that the panels
/// are read from memory once per call.
const UNIT_ROWS: usize = 512;

/// Whether [`run`] computes the contraction of `d`: an AVX-512 matmul with a constant B.
pub(crate) fn computes(d: &Descriptor) -> bool {
    d.contraction == crate::fused::Contraction::Matmul
        && d.constant_b != 0
        && d.m > 0
        && d.n > 0
        && d.k > 0
        && crate::fused::has_avx512()
}

/// B (`[K, N]` with strides `b_row`, `b_col`) packed as column panels.
///
/// # Safety
/// `b` addresses every element of B under its strides.
pub(crate) unsafe fn pack(b: *const f32, k: usize, n: usize, b_row: isize, b_col: isize) -> Vec<f32> {
    let blocks = n.div_ceil(COLUMNS);
    let mut packed = vec![0f32; blocks * k * COLUMNS];
    for (j, panel) in packed.chunks_exact_mut(k * COLUMNS).enumerate() {
        let n0 = j * COLUMNS;
        let cols = COLUMNS.min(n - n0);
        for (kk, row) in panel.chunks_exact_mut(COLUMNS).enumerate() {
            for (c, value) in row[..cols].iter_mut().enumerate() {
                // SAFETY: element (kk, n0 + c) of B, as the caller promises.
                *value = unsafe { *b.offset(kk as isize * b_row + (n0 + c) as isize * b_col) };
            }
        }
    }
    packed
}

/// The packed panels of the call's B, packed on the first call of this descriptor over
/// this B.
///
/// # Safety
/// As [`pack`], for the descriptor's shapes and strides.
unsafe fn cached_panels(d: &Descriptor, descriptor: i64, b: i64) -> Arc<Vec<f32>> {
    type Panels = HashMap<(i64, i64, i64), Arc<Vec<f32>>>;
    static CACHE: OnceLock<Mutex<Panels>> = OnceLock::new();
    let key = (descriptor, d.constant_b, b);
    let cache = CACHE.get_or_init(Default::default);
    if let Some(panels) = cache.lock().expect("panel cache").get(&key) {
        return panels.clone();
    }
    // Packed outside the lock: two threads that both miss pack the same panels, and the
    // first one inserted is kept.
    // SAFETY: as this function's contract.
    let panels = Arc::new(unsafe {
        pack(
            b as *const f32,
            d.k as usize,
            d.n as usize,
            d.strides[2] as isize,
            d.strides[3] as isize,
        )
    });
    cache.lock().expect("panel cache").entry(key).or_insert(panels).clone()
}

/// One register block: `dst[i·ldc + c] (+)= Σ_k a[k·ROWS + i] · panel[k·COLUMNS + c]` for
/// `i < rows` and the columns `c` under `masks`, over the `k` of `panel`; `a` is a row block
/// of the packed A at the panel's first step. Added to what `dst` holds when `accumulate`.
///
/// # Safety
/// `a` holds `ROWS` values per step of `panel`; `rows` rows of `dst` under the masks are
/// valid memory; the CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn block(
    a: *const f32,
    panel: &[f32],
    masks: [u16; VECTORS],
    dst: *mut f32,
    ldc: usize,
    rows: usize,
    accumulate: bool,
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); VECTORS]; ROWS];
    if accumulate {
        for (i, lanes) in acc.iter_mut().enumerate().take(rows) {
            for (j, sum) in lanes.iter_mut().enumerate() {
                // SAFETY: as the caller promises (an empty mask touches nothing, and its
                // address is computed without `add`'s in-bounds promise).
                *sum = unsafe { _mm512_maskz_loadu_ps(masks[j], dst.wrapping_add(i * ldc + 16 * j)) };
            }
        }
    }
    for (k, row) in panel.chunks_exact(COLUMNS).enumerate() {
        // SAFETY: `row` holds COLUMNS values; `a` ROWS per step, as the caller promises.
        unsafe {
            let v: [__m512; VECTORS] = std::array::from_fn(|j| _mm512_loadu_ps(row.as_ptr().add(16 * j)));
            let step = a.add(k * ROWS);
            for (i, lanes) in acc.iter_mut().enumerate() {
                let w = _mm512_set1_ps(*step.add(i));
                for (sum, &x) in lanes.iter_mut().zip(&v) {
                    *sum = _mm512_fmadd_ps(w, x, *sum);
                }
            }
        }
    }
    for (i, lanes) in acc.iter().enumerate().take(rows) {
        for (j, &sum) in lanes.iter().enumerate() {
            // SAFETY: as the caller promises (as for the loads above).
            unsafe { _mm512_mask_storeu_ps(dst.wrapping_add(i * ldc + 16 * j), masks[j], sum) };
        }
    }
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
    /// The calling thread's packed A, kept between calls.
    static PACKED_A: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A (`[M, K]`, strides `a_row`, `a_col`) as row blocks of [`ROWS`] rows, each `[K, ROWS]`
/// (the rows of one reduction step side by side), into `dst`: the register block's
/// broadcasts then read one contiguous stream instead of one per row. Rows past `M` are
/// zero (computed, never stored).
///
/// # Safety
/// `a` addresses every element of A under its strides.
unsafe fn pack_a(a: *const f32, m: usize, k: usize, a_row: isize, a_col: isize, dst: &mut Vec<f32>) {
    dst.clear();
    dst.resize(m.div_ceil(ROWS) * ROWS * k, 0.0);
    for (rb, block) in dst.chunks_exact_mut(ROWS * k).enumerate() {
        for i in 0..ROWS.min(m - rb * ROWS) {
            let row = (rb * ROWS + i) as isize * a_row;
            for kk in 0..k {
                // SAFETY: element (rb·ROWS + i, kk) of A, as the caller promises.
                block[kk * ROWS + i] = unsafe { *a.offset(row + kk as isize * a_col) };
            }
        }
    }
}

/// The contraction over packed panels, and the epilogue.
///
/// # Safety
/// As [`run`]; `panels` is B packed by [`pack`].
pub(crate) unsafe fn run_packed(d: &Descriptor, a: i64, panels: &[f32], out: i64, operands: &Operands) {
    let (m, k) = (d.m as usize, d.k as usize);
    let mut own = Vec::new();
    PACKED_A.with(|kept| {
        // A call made while this thread's packed A is in use (a nested call from a task
        // this thread ran while waiting) packs into a buffer of its own.
        let mut kept = kept.try_borrow_mut();
        let packed_a = match kept.as_deref_mut() {
            Ok(packed) => packed,
            Err(_) => &mut own,
        };
        // SAFETY: the caller passes A.
        unsafe {
            pack_a(
                a as *const f32,
                m,
                k,
                d.strides[0] as isize,
                d.strides[1] as isize,
                packed_a,
            )
        };
        // SAFETY: as this function's contract, A now packed.
        unsafe { run_on_packed(d, packed_a, panels, out, operands) }
    })
}

/// [`run_packed`] once A is packed by [`pack_a`].
///
/// # Safety
/// As [`run_packed`].
unsafe fn run_on_packed(d: &Descriptor, packed_a: &[f32], panels: &[f32], out: i64, operands: &Operands) {
    let (m, n, k) = (d.m as usize, d.n as usize, d.k as usize);
    let a = packed_a.as_ptr() as usize;
    let blocks = n.div_ceil(COLUMNS);
    let mut units = Vec::new();
    for (r_lo, r_hi) in crate::register_tiled::even_ranges(m.div_ceil(ROWS), UNIT_ROWS / ROWS) {
        // Whole row blocks of the packed A.
        let (r_lo, r_hi) = (r_lo * ROWS, (r_hi * ROWS).min(m));
        for (b_lo, b_hi) in crate::register_tiled::even_ranges(blocks, UNIT_BLOCKS) {
            units.push((r_lo, r_hi, b_lo, b_hi));
        }
    }
    let out_addr = out as usize;
    let in_place = !epilogue_reads_output(&d.epilogue, operands, m, out_addr);
    let chunk = (PANEL_CHUNK_BYTES / (4 * COLUMNS)).max(1);
    let run_unit = |(r_lo, r_hi, b_lo, b_hi): (usize, usize, usize, usize)| {
        let (n_lo, n_hi) = (b_lo * COLUMNS, (b_hi * COLUMNS).min(n));
        SCRATCH.with(|scratch| {
            let product = &mut *scratch.borrow_mut();
            let (dst, ldc) = if in_place {
                // SAFETY: element (r_lo, n_lo) of the `[M, N]` output.
                (unsafe { (out_addr as *mut f32).add(r_lo * n + n_lo) }, n)
            } else {
                product.resize((r_hi - r_lo) * (n_hi - n_lo), 0.0);
                (product.as_mut_ptr(), n_hi - n_lo)
            };
            let masks: Vec<[u16; VECTORS]> = (b_lo..b_hi)
                .map(|j| {
                    let cols = COLUMNS.min(n - j * COLUMNS);
                    std::array::from_fn(|v| {
                        let lanes = cols.saturating_sub(16 * v).min(16);
                        ((1u32 << lanes) - 1) as u16
                    })
                })
                .collect();
            for k0 in (0..k).step_by(chunk) {
                let k1 = (k0 + chunk).min(k);
                for (j, mask) in (b_lo..b_hi).zip(&masks) {
                    let panel = &panels[(j * k + k0) * COLUMNS..(j * k + k1) * COLUMNS];
                    for r0 in (r_lo..r_hi).step_by(ROWS) {
                        let count = ROWS.min(r_hi - r0);
                        // SAFETY: step k0 of the packed row block (r0 is a multiple of ROWS).
                        let a_block = unsafe { (a as *const f32).add(r0 * k + k0 * ROWS) };
                        // SAFETY: A's rows hold the chunk's values at stride `a_col`; the
                        // block's rows and columns lie in `dst`.
                        unsafe {
                            let target = dst.add((r0 - r_lo) * ldc + j * COLUMNS - n_lo);
                            block(a_block, panel, *mask, target, ldc, count, k0 > 0);
                        }
                    }
                }
            }
            for r in r_lo..r_hi {
                let row = if in_place {
                    // SAFETY: the unit's columns of output row `r`, written above.
                    unsafe { std::slice::from_raw_parts_mut((out_addr as *mut f32).add(r * n + n_lo), n_hi - n_lo) }
                } else {
                    let start = (r - r_lo) * (n_hi - n_lo);
                    &mut product[start..start + n_hi - n_lo]
                };
                epilogue_row(&d.epilogue, operands, r, n_lo, row);
                if !in_place {
                    // SAFETY: output row `r` holds N values; units do not overlap.
                    let target = unsafe {
                        std::slice::from_raw_parts_mut((out_addr as *mut f32).add(r * n + n_lo), n_hi - n_lo)
                    };
                    target.copy_from_slice(row);
                }
            }
        });
    };
    crate::microkernels::for_each_item(units, run_unit);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::{Contraction, ConvGeometry, Step, run_with_gemm};
    use proptest::prelude::*;

    /// Uniform values in [-1, 1) from `seed` (never all zeros).
    fn values(seed: u64, len: usize) -> Vec<f32> {
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
            constant_b: 7,
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
            prop_assume!(crate::fused::has_avx512());
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
            // SAFETY: the buffers cover the descriptor's shapes.
            unsafe {
                let panels = pack(b.as_ptr(), k, n, d.strides[2] as isize, d.strides[3] as isize);
                run_packed(&d, a.as_ptr() as i64, &panels, packed_out.as_mut_ptr() as i64, &operands(&packed_out));
                run_with_gemm(&d, a.as_ptr() as i64, b.as_ptr() as i64, gemm_out.as_mut_ptr() as i64, &operands(&gemm_out));
            }
            let tolerance = 1e-6 * k as f32 + 1e-5;
            for (i, (x, y)) in packed_out.iter().zip(&gemm_out).enumerate() {
                prop_assert!((x - y).abs() <= tolerance, "output {}: {} vs {}", i, x, y);
            }
        }
    }

    /// The cache: a descriptor called over two weights (two call sites of one kernel)
    /// keeps one packing of each, and every call, first or later, agrees with the gemm
    /// path; a changed key (other contents) packs afresh.
    #[test]
    fn cached_panels_follow_the_call_site() {
        if !crate::fused::has_avx512() {
            return;
        }
        let (m, n, k) = (5, 40, 33);
        let d = matmul(m, n, k, (false, false), vec![Step::AddColumn(0)]);
        let words = d.encode();
        let descriptor = words.as_ptr() as i64;
        let a = values(11, m * k);
        let bias = values(12, n);
        let operands = Operands::new([bias.as_ptr() as i64, 0, 0], n);
        let expected = |d: &Descriptor, b: &[f32]| {
            let mut out = vec![0f32; m * n];
            // SAFETY: the buffers cover the descriptor's shapes.
            unsafe {
                run_with_gemm(
                    d,
                    a.as_ptr() as i64,
                    b.as_ptr() as i64,
                    out.as_mut_ptr() as i64,
                    &operands,
                )
            };
            out
        };
        let call = |d: &Descriptor, b: &[f32]| {
            let mut out = vec![0f32; m * n];
            // SAFETY: as above; `descriptor` stays alive for the test.
            unsafe {
                run(
                    d,
                    descriptor,
                    a.as_ptr() as i64,
                    b.as_ptr() as i64,
                    out.as_mut_ptr() as i64,
                    &operands,
                )
            };
            out
        };
        let close = |x: &[f32], y: &[f32]| x.iter().zip(y).all(|(p, q)| (p - q).abs() <= 1e-4);
        let (mut first, second) = (values(13, k * n), values(14, k * n));
        for _ in 0..2 {
            assert!(close(&call(&d, &first), &expected(&d, &first)));
            assert!(close(&call(&d, &second), &expected(&d, &second)));
        }
        // Other weights at the same address, compiled under another key.
        let before = expected(&d, &first);
        first.iter_mut().for_each(|v| *v = -*v);
        let recompiled = Descriptor {
            constant_b: d.constant_b + 2,
            ..d.clone()
        };
        let out = call(&recompiled, &first);
        assert!(close(&out, &expected(&recompiled, &first)));
        assert!(!close(&out, &before));
    }

    /// Not a test: `cargo test --release -p fuser-runtime matmul_timing -- --ignored
    /// --nocapture` times the BERT layer's matmul shapes through the packed panels and
    /// through the `gemm` path, in one run (`F32_THREADS` sets the threads).
    #[test]
    #[ignore]
    fn matmul_timing() {
        crate::microkernels::set_threads(
            std::env::var("F32_THREADS")
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0),
        );
        for (m, k, n) in [
            (128usize, 768usize, 768usize),
            (128, 768, 3072),
            (128, 3072, 768),
            (1024, 1024, 1024),
        ] {
            let d = matmul(m, n, k, (false, false), vec![Step::AddColumn(0)]);
            let a = values(1, m * k);
            let b = values(2, k * n);
            let bias = values(3, n);
            let operands = Operands::new([bias.as_ptr() as i64, 0, 0], n);
            let mut out = vec![0f32; m * n];
            let o = out.as_mut_ptr() as i64;
            // SAFETY: B covers the shapes.
            let panels = unsafe { pack(b.as_ptr(), k, n, n as isize, 1) };
            let time = |packed: bool| {
                let call = || unsafe {
                    if packed {
                        run_packed(&d, a.as_ptr() as i64, &panels, o, &operands)
                    } else {
                        run_with_gemm(&d, a.as_ptr() as i64, b.as_ptr() as i64, o, &operands)
                    }
                };
                call();
                let start = std::time::Instant::now();
                let runs = 5;
                for _ in 0..runs {
                    call();
                }
                start.elapsed().as_secs_f64() / runs as f64
            };
            let (mut packed, mut gemm) = (f64::MAX, f64::MAX);
            for _ in 0..6 {
                packed = packed.min(time(true));
                gemm = gemm.min(time(false));
            }
            let flops = 2.0 * (m * k * n) as f64;
            eprintln!(
                "{m}x{k}x{n}: packed {:.3} ms ({:.0} GFLOP/s), gemm {:.3} ms ({:.0} GFLOP/s)",
                packed * 1e3,
                flops / packed / 1e9,
                gemm * 1e3,
                flops / gemm / 1e9
            );
        }
    }
}
