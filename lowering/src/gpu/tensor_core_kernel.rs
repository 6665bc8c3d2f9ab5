//! The f16 contraction kernel on NVIDIA tensor cores (sm_80 and newer): the implicit
//! GEMM of `matrix_kernel` (frame, slice loads and stores shared with AMD's MFMA kernel)
//! computed with `nvgpu.mma.sync` (PTX `mma.sync.aligned.m16n8k16`, f16 inputs, f32
//! accumulators):
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

use super::contraction_kernel::Text;
use super::matrix_kernel::{Tiling, accumulator_loop, frame, load_slices, prologue, store_element};
use crate::graph_to_linalg::fused::FusedKernel;

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
    let tiling = Tiling {
        bm: BM,
        bn: BN,
        bk: BK,
        threads: THREADS,
    };
    let frame = frame(kernel, &tiling).filter(|f| f.element == "f16")?;
    let shared_a = frame.shared_a.clone();
    let shared_b = frame.shared_b.clone();
    let mut t = Text {
        out: String::new(),
        next: 0,
    };
    let p = prologue(&mut t, d, &tiling, &[0, 2, 4, 8, 16, 32], 32);
    let (c2, c4, c8, c16) = (
        p.c(2).to_string(),
        p.c(4).to_string(),
        p.c(8).to_string(),
        p.c(16).to_string(),
    );
    let (lane, warp_m, warp_n) = (p.lane.clone(), p.warp_m.clone(), p.warp_n.clone());
    let accumulators = (M_TILES * N_TILES) as usize;
    let results = accumulator_loop(&mut t, &p, accumulators, "vector<2x2xf32>");
    let names = &p.names;
    let vectors = vec!["vector<2x2xf32>"; accumulators].join(", ");
    load_slices(&mut t, &frame, d, &tiling, names);
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
    // The epilogue on each accumulator element, one 16-bit store each.
    let lane_row = t.binary("divui", &lane, &c4, "index");
    let lane_quad = t.binary("remui", &lane, &c4, "index");
    let lane_col = t.binary("muli", &lane_quad, &c2, "index");
    let row_warp = t.binary("addi", &names.row_block, &warp_m, "index");
    let col_warp = t.binary("addi", &names.col_block, &warp_n, "index");
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
                    let accumulator = format!("vector.extract {results}#{tile}[{i}, {j}] : f32 from vector<2x2xf32>");
                    store_element(&mut t, &frame, d, names, &r, &c, &accumulator);
                }
            }
        }
    }
    t.line("gpu.terminator");
    Some(frame.finish(t))
}
