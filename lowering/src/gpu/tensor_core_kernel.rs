//! The f16 contraction kernel on NVIDIA tensor cores (sm_80 and newer): the same
//! implicit GEMM as `contraction_kernel` (`C[M, N] = A[M, K] · B[K, N]`, a convolution's
//! B read at its im2col positions, the epilogue in registers), computed with
//! `nvgpu.mma.sync` (PTX `mma.sync.aligned.m16n8k16`, f16 inputs, f32 accumulators):
//!
//! - a block of 4 warps computes a 64×64 tile of C; each warp a 32×32 piece, as 2×4
//!   tiles of 16×8;
//! - 32-deep slices of A (`As[m][k]`) and B (`Bs[n][k]`, k contiguous for both) go
//!   through shared memory between barriers;
//! - each 16-deep step loads the warp's fragments with `nvgpu.ldmatrix` (four 8×8
//!   matrices for A's 16×16, two for B's 16×8: each lane names one row) and issues 8
//!   `mma.sync`;
//! - each accumulator holds rows `lane / 4` and `lane / 4 + 8`, columns
//!   `2 · (lane % 4)` and the next, of its 16×8 tile (the PTX ISA's fragment layout);
//!   the epilogue runs in f32 and the result is rounded to f16 once, at the store.

use super::contraction_kernel::{Text, a_index, b_index, epilogue, flat_memref, flat_views};
use crate::graph_to_linalg::fused::{FusedKernel, lowered_header};
use melior::ir::ValueLike;
use std::fmt::Write;

const BM: i64 = 64;
const BN: i64 = 64;
const BK: i64 = 32;
/// 4 warps: 2 along M, 2 along N.
const THREADS: i64 = 128;
/// Per warp: 2 tiles of 16 rows, 4 of 8 columns.
const M_TILES: i64 = 2;
const N_TILES: i64 = 4;

/// The kernel of a matched f16 Conv2d or Matmul: a `func.func @lowered` of the kernel's
/// operands returning its f16 output, or `None` for shapes it does not cover.
pub fn tensor_core_text(kernel: &FusedKernel) -> Option<String> {
    let d = &kernel.descriptor;
    let types: Vec<String> = kernel.operands.iter().map(|v| v.r#type().to_string()).collect();
    let flats: Vec<(String, i64)> = types.iter().map(|t| flat_memref(t)).collect::<Option<_>>()?;
    if flats.iter().any(|(ty, _)| !ty.ends_with("xf16>")) {
        return None;
    }
    let dims: Vec<String> = kernel.out_shape.iter().map(|d| d.to_string()).collect();
    let out_ty = format!("tensor<{}xf16>", dims.join("x"));
    let out_memref = out_ty.replacen("tensor<", "memref<", 1);
    let (out_flat, out_count) = flat_memref(&out_ty)?;
    if out_count != d.m * d.n || d.m <= 0 || d.n <= 0 || d.k <= 0 {
        return None;
    }
    let (grid_x, grid_y) = ((d.n + BN - 1) / BN, (d.m + BM - 1) / BM);
    let shared_a = format!("memref<{BM}x{BK}xf16, #gpu.address_space<workgroup>>");
    let shared_b = format!("memref<{BN}x{BK}xf16, #gpu.address_space<workgroup>>");
    let mut text = lowered_header(kernel, &out_ty);
    text.push_str(&flat_views(&types, &flats));
    let _ = write!(
        text,
        "  %o = memref.alloc() {{alignment = 64 : i64}} : {out_memref}\n  %fo = memref.reinterpret_cast %o to offset: [0], sizes: [{out_count}], strides: [1] : {out_memref} to {out_flat}\n\
         \x20 %one = arith.constant 1 : index\n  %grid_x = arith.constant {grid_x} : index\n  %grid_y = arith.constant {grid_y} : index\n\
         \x20 %block_x = arith.constant {THREADS} : index\n\
         \x20 gpu.launch blocks(%bx, %by, %bz) in (%gx = %grid_x, %gy = %grid_y, %gz = %one) threads(%tx, %ty, %tz) in (%sx = %block_x, %sy = %one, %sz = %one)\n\
         \x20     workgroup(%As : {shared_a}, %Bs : {shared_b}) {{\n"
    );
    let mut t = Text {
        out: String::new(),
        next: 0,
    };
    let (m_count, n_count, k_count) = (t.index(d.m), t.index(d.n), t.index(d.k));
    let (c0, c2, c4, c8, c16, c32) = (t.index(0), t.index(2), t.index(4), t.index(8), t.index(16), t.index(32));
    let (bm_c, bn_c, bk_c) = (t.index(BM), t.index(BN), t.index(BK));
    let warp = t.binary("divui", "%tx", &c32, "index");
    let lane = t.binary("remui", "%tx", &c32, "index");
    let warp_m_index = t.binary("divui", &warp, &c2, "index");
    let warp_n_index = t.binary("remui", &warp, &c2, "index");
    let warp_m = t.binary("muli", &warp_m_index, &c32, "index");
    let warp_n = t.binary("muli", &warp_n_index, &c32, "index");
    let row_block = t.binary("muli", "%by", &bm_c, "index");
    let col_block = t.binary("muli", "%bx", &bn_c, "index");
    let accumulators = (M_TILES * N_TILES) as usize;
    let vectors = vec!["vector<2x2xf32>"; accumulators].join(", ");
    let zero = t.assign("arith.constant dense<0.0> : vector<2x2xf32>");
    let results = t.fresh();
    t.line(&format!(
        "{results}:{accumulators} = scf.for %kt = {c0} to {k_count} step {bk_c} iter_args({}) -> ({vectors}) {{",
        (0..accumulators)
            .map(|i| format!("%acc{i} = {zero}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    // The slices, read with bounds checks (zero outside), as f16.
    for l in 0..BM * BK / THREADS {
        let offset = t.index(l * THREADS);
        let e = t.binary("addi", "%tx", &offset, "index");
        let mm = t.binary("divui", &e, &bk_c, "index");
        let kk = t.binary("remui", &e, &bk_c, "index");
        let gm = t.binary("addi", &row_block, &mm, "index");
        let gk = t.binary("addi", "%kt", &kk, "index");
        let in_m = t.assign(&format!("arith.cmpi ult, {gm}, {m_count} : index"));
        let in_k = t.assign(&format!("arith.cmpi ult, {gk}, {k_count} : index"));
        let inside = t.and(&[in_m, in_k]);
        let index = a_index(&mut t, d, &gm, &gk);
        let v = t.guarded_load(&inside, "%f0", &flats[0].0, &index);
        t.line(&format!("memref.store {v}, %As[{mm}, {kk}] : {shared_a}"));
    }
    for l in 0..BN * BK / THREADS {
        // Neighbouring threads read neighbouring columns (coalesced in global memory).
        let offset = t.index(l * THREADS);
        let e = t.binary("addi", "%tx", &offset, "index");
        let kk = t.binary("divui", &e, &bn_c, "index");
        let nn = t.binary("remui", &e, &bn_c, "index");
        let gk = t.binary("addi", "%kt", &kk, "index");
        let gn = t.binary("addi", &col_block, &nn, "index");
        let in_k = t.assign(&format!("arith.cmpi ult, {gk}, {k_count} : index"));
        let in_n = t.assign(&format!("arith.cmpi ult, {gn}, {n_count} : index"));
        let bounds = t.and(&[in_k, in_n]);
        let name = t.fresh();
        t.line(&format!("{name} = scf.if {bounds} -> (f16) {{"));
        let mut inner = Text {
            out: String::new(),
            next: t.next,
        };
        let (inside, index) = b_index(&mut inner, d, &gk, &gn);
        let v = match inside {
            Some(inside) => inner.guarded_load(&inside, "%f1", &flats[1].0, &index),
            None => inner.assign(&format!("memref.load %f1[{index}] : {}", flats[1].0)),
        };
        inner.line(&format!("scf.yield {v} : f16"));
        t.next = inner.next;
        for line in inner.out.lines() {
            t.line(&format!("  {}", line.trim_start()));
        }
        t.line("} else {");
        let zero_h = t.fresh();
        t.line(&format!("  {zero_h} = arith.constant 0.0 : f16"));
        t.line(&format!("  scf.yield {zero_h} : f16"));
        t.line("}");
        t.line(&format!("memref.store {name}, %Bs[{nn}, {kk}] : {shared_b}"));
    }
    t.line("gpu.barrier");
    // Two 16-deep steps per slice: fragments by ldmatrix, then 8 mma.sync per warp.
    let mut acc: Vec<String> = (0..accumulators).map(|i| format!("%acc{i}")).collect();
    let lane_16 = t.binary("remui", &lane, &c16, "index");
    let lane_half = t.binary("divui", &lane, &c16, "index");
    let a_col_offset = t.binary("muli", &lane_half, &c8, "index");
    let lane_8 = t.binary("remui", &lane, &c8, "index");
    let lane_eighth = t.binary("divui", &lane, &c8, "index");
    let lane_pair = t.binary("remui", &lane_eighth, &c2, "index");
    let b_col_offset = t.binary("muli", &lane_pair, &c8, "index");
    for step in 0..BK / 16 {
        let k0 = t.index(step * 16);
        let a_col = t.binary("addi", &k0, &a_col_offset, "index");
        let b_col = t.binary("addi", &k0, &b_col_offset, "index");
        let mut a = Vec::new();
        for mt in 0..M_TILES {
            let tile = t.index(mt * 16);
            let base = t.binary("addi", &warp_m, &tile, "index");
            let row = t.binary("addi", &base, &lane_16, "index");
            a.push(t.assign(&format!(
                "nvgpu.ldmatrix %As[{row}, {a_col}] {{numTiles = 4 : i32, transpose = false}} : {shared_a} -> vector<4x2xf16>"
            )));
        }
        let mut b = Vec::new();
        for nt in 0..N_TILES {
            let tile = t.index(nt * 8);
            let base = t.binary("addi", &warp_n, &tile, "index");
            let row = t.binary("addi", &base, &lane_8, "index");
            b.push(t.assign(&format!(
                "nvgpu.ldmatrix %Bs[{row}, {b_col}] {{numTiles = 2 : i32, transpose = false}} : {shared_b} -> vector<2x2xf16>"
            )));
        }
        for (mt, a) in a.iter().enumerate() {
            for (nt, b) in b.iter().enumerate() {
                let i = mt * N_TILES as usize + nt;
                acc[i] = t.assign(&format!(
                    "nvgpu.mma.sync ({a}, {b}, {}) {{mmaShape = [16, 8, 16]}} : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>",
                    acc[i]
                ));
            }
        }
    }
    t.line("gpu.barrier");
    t.line(&format!("scf.yield {} : {vectors}", acc.join(", ")));
    t.line("}");
    // The epilogue on each accumulator element, one f16 store each.
    let operands: Vec<(String, String)> = (2..types.len())
        .map(|i| (format!("%f{i}"), flats[i].0.clone()))
        .collect();
    let lane_row = t.binary("divui", &lane, &c4, "index");
    let lane_quad = t.binary("remui", &lane, &c4, "index");
    let lane_col = t.binary("muli", &lane_quad, &c2, "index");
    let row_warp = t.binary("addi", &row_block, &warp_m, "index");
    let col_warp = t.binary("addi", &col_block, &warp_n, "index");
    for mt in 0..M_TILES {
        for nt in 0..N_TILES {
            let tile = (mt * N_TILES + nt) as usize;
            for i in 0..2 {
                for j in 0..2 {
                    let row_offset = t.index(mt * 16 + i * 8);
                    let col_offset = t.index(nt * 8 + j);
                    let r0 = t.binary("addi", &row_warp, &row_offset, "index");
                    let r = t.binary("addi", &r0, &lane_row, "index");
                    let c_0 = t.binary("addi", &col_warp, &col_offset, "index");
                    let c = t.binary("addi", &c_0, &lane_col, "index");
                    let in_r = t.assign(&format!("arith.cmpi ult, {r}, {m_count} : index"));
                    let in_c = t.assign(&format!("arith.cmpi ult, {c}, {n_count} : index"));
                    let inside = t.and(&[in_r, in_c]);
                    t.line(&format!("scf.if {inside} {{"));
                    let value = t.assign(&format!(
                        "vector.extract {results}#{tile}[{i}, {j}] : f32 from vector<2x2xf32>"
                    ));
                    let rn = t.binary("muli", &r, &n_count, "index");
                    let rc = t.binary("addi", &rn, &c, "index");
                    let v = epilogue(&mut t, &d.epilogue, value, &r, &c, &rc, &operands);
                    let h = t.assign(&format!("arith.truncf {v} : f32 to f16"));
                    t.line(&format!("memref.store {h}, %fo[{rc}] : {out_flat}"));
                    t.line("}");
                }
            }
        }
    }
    t.line("gpu.terminator");
    text.push_str(&t.out);
    let _ = write!(
        text,
        "  }}\n  %r = bufferization.to_tensor %o restrict writable : {out_memref} to {out_ty}\n  func.return %r : {out_ty}\n}}\n"
    );
    Some(text)
}
