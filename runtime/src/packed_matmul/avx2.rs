//! The packed-panel matmul of [`super`] on CPUs with AVX2 and FMA but no AVX-512: panels
//! of 16 columns (`[K, 16]` each), and the 6×16 ymm blocks of
//! [`crate::register_tiled::avx2`], A broadcast from its rows in place.
//!
//! As on AVX-512, the reduction is summed in chunks whose piece of a panel (16 KiB) stays
//! in the L1 cache while every row block of the unit runs over it, and a unit is all rows
//! by a few panels (the same 192 columns), so each panel is read from memory once per call.
//! Blocks at the edge of the output (the last rows, a last panel past N) are computed in
//! a block of scratch and copied, so the output is written in place.

use super::{PANEL_CHUNK_BYTES, SCRATCH, UNIT_PANELS, finish_unit, unit_target, work_units};
use crate::fused::{Descriptor, Operands, epilogue_reads_output};
use crate::register_tiled::avx2::{ROWS, block_within};

/// Columns of one packed panel: one block's two ymm vectors.
pub(super) use crate::register_tiled::avx2::COLUMNS;

/// Panels per work unit: as many columns as [`super`]'s units on AVX-512.
const AVX2_UNIT_PANELS: usize = UNIT_PANELS * super::COLUMNS / COLUMNS;

/// [`super::run_packed`] on AVX2.
///
/// # Safety
/// As [`super::run_packed`]; the panels are `COLUMNS` wide; the CPU has AVX2 and FMA.
pub(super) unsafe fn run_packed(d: &Descriptor, a: i64, panels: &[f32], out: i64, operands: &Operands) {
    let (m, n, k) = (d.m as usize, d.n as usize, d.k as usize);
    let [a_row, a_col] = [d.strides[0] as isize, d.strides[1] as isize];
    let units = work_units(m, n, ROWS, COLUMNS, AVX2_UNIT_PANELS);
    let out_addr = out as usize;
    let in_place = !epilogue_reads_output(&d.epilogue, operands, m, out_addr);
    let chunk = (PANEL_CHUNK_BYTES / (4 * COLUMNS)).max(1);
    assert!(panels.len() >= n.div_ceil(COLUMNS) * k * COLUMNS);
    let run_unit = |(r_lo, r_hi, b_lo, b_hi): (usize, usize, usize, usize)| {
        let (n_lo, n_hi) = (b_lo * COLUMNS, (b_hi * COLUMNS).min(n));
        SCRATCH.with(|scratch| {
            let product = &mut *scratch.borrow_mut();
            let (dst, ldc) = unit_target((r_lo, r_hi, n_lo, n_hi), in_place, product, out_addr, n);
            for k0 in (0..k).step_by(chunk) {
                let k1 = (k0 + chunk).min(k);
                for j in b_lo..b_hi {
                    let cols = COLUMNS.min(n - j * COLUMNS);
                    // The chunk's piece of panel j, in the L1 cache for every row block.
                    let panel = panels[(j * k + k0) * COLUMNS..].as_ptr();
                    for r0 in (r_lo..r_hi).step_by(ROWS) {
                        let count = ROWS.min(r_hi - r0);
                        // SAFETY: A holds the block's rows.
                        let a_rows: [*const f32; ROWS] = unsafe {
                            crate::register_tiled::row_pointers(a as *const f32, [a_row, a_col], r0, count, k0)
                        };
                        // SAFETY: A's rows hold the chunk's values at stride `a_col`, the
                        // panel's piece `k1 - k0` rows of 16 (asserted above); the block's
                        // `count` rows and `cols` columns lie in `dst`.
                        unsafe {
                            let target = dst.add((r0 - r_lo) * ldc + j * COLUMNS - n_lo);
                            block_within(k1 - k0, &a_rows, a_col, panel, target, ldc, (count, cols), k0 > 0);
                        }
                    }
                }
            }
            // SAFETY: the unit is computed.
            unsafe { finish_unit(d, operands, (r_lo, r_hi, n_lo, n_hi), in_place, product, out_addr) };
        });
    };
    crate::microkernels::for_each_item(units, run_unit);
}
