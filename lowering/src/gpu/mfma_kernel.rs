//! The f16 and bf16 contraction kernel on AMD matrix cores (CDNA2 gfx90a, CDNA3 gfx942):
//! the implicit GEMM of `matrix_kernel` computed with `amdgpu.mfma` 16x16x16 (f16 or
//! bf16 inputs, f32 accumulators; `v_mfma_f32_16x16x16_f16` / `_bf16` on gfx942,
//! `v_mfma_f32_16x16x16f16` / `bf16_1k` on gfx90a):
//!
//! - a block of 4 waves (64 lanes each) computes a 64×64 tile of C; each wave a 32×32
//!   piece, as 2×2 tiles of 16×16;
//! - 32-deep slices of A (`As[m][k]`) and B (`Bs[n][k]`) go through LDS between
//!   barriers;
//! - in each 16-deep step, lane `l` reads 4 consecutive k of one row of each tile,
//!   `k = 4 · (l / 16) + 0..3` of row `l % 16` (m for A, n for B), with one vector load
//!   from LDS, and each wave issues 4 MFMAs;
//! - accumulator element `v` of lane `l` is C[4 · (l / 16) + v][l % 16] of its tile
//!   (the CDNA ISA's layout for 16x16 outputs); the epilogue runs in f32 and the result
//!   is rounded to the 16-bit type once, at the store.

use super::contraction_kernel::Text;
use super::matrix_kernel::{Tiling, accumulator_loop, frame, load_slices, prologue, store_element};
use crate::graph_to_linalg::fused::FusedKernel;

const BM: i64 = 64;
const BN: i64 = 64;
const BK: i64 = 32;
const WAVE: i64 = 64;
/// 4 waves: 2 along M, 2 along N.
const THREADS: i64 = 4 * WAVE;
/// Per wave: 2×2 tiles of 16×16.
const M_TILES: i64 = 2;
const N_TILES: i64 = 2;

/// The kernel of a matched f16 or bf16 Conv2d or Matmul: a `func.func @lowered` of the
/// kernel's operands returning its output, or `None` for shapes it does not cover.
pub fn mfma_text(kernel: &FusedKernel) -> Option<String> {
    let d = &kernel.descriptor;
    let tiling = Tiling {
        bm: BM,
        bn: BN,
        bk: BK,
        threads: THREADS,
    };
    let frame = frame(kernel, &tiling)?;
    let (element, shared_a, shared_b) = (frame.element, frame.shared_a.clone(), frame.shared_b.clone());
    let fragment = format!("vector<4x{element}>");
    let mut t = Text {
        out: String::new(),
        next: 0,
    };
    let p = prologue(&mut t, d, &tiling, &[0, 2, 4, 16, 32, WAVE], WAVE);
    let (c4, c16) = (p.c(4).to_string(), p.c(16).to_string());
    let (lane, wave_m, wave_n) = (p.lane.clone(), p.warp_m.clone(), p.warp_n.clone());
    // Lane l's row of a 16×16 tile (of A, of B, and its column of C), and its 4-deep
    // group of k (and of C's rows).
    let lane_row = t.binary("remui", &lane, &c16, "index");
    let lane_group = t.binary("divui", &lane, &c16, "index");
    let lane_k = t.binary("muli", &lane_group, &c4, "index");
    let accumulators = (M_TILES * N_TILES) as usize;
    let results = accumulator_loop(&mut t, &p, accumulators, "vector<4xf32>");
    let names = &p.names;
    let vectors = vec!["vector<4xf32>"; accumulators].join(", ");
    load_slices(&mut t, &frame, d, &tiling, names);
    t.line("gpu.barrier");
    // Two 16-deep steps per slice: each lane's fragments by one vector load per tile.
    let mut acc: Vec<String> = (0..accumulators).map(|i| format!("%acc{i}")).collect();
    for step in 0..BK / 16 {
        let k0 = t.index(step * 16);
        let k = t.binary("addi", &k0, &lane_k, "index");
        let fragments = |t: &mut Text, shared: &str, ty: &str, base: &str, tiles: i64| -> Vec<String> {
            (0..tiles)
                .map(|tile| {
                    let offset = t.index(tile * 16);
                    let first = t.binary("addi", base, &offset, "index");
                    let row = t.binary("addi", &first, &lane_row, "index");
                    t.assign(&format!("vector.load {shared}[{row}, {k}] : {ty}, {fragment}"))
                })
                .collect()
        };
        let a = fragments(&mut t, "%As", &shared_a, &wave_m, M_TILES);
        let b = fragments(&mut t, "%Bs", &shared_b, &wave_n, N_TILES);
        for (mt, a) in a.iter().enumerate() {
            for (nt, b) in b.iter().enumerate() {
                let i = mt * N_TILES as usize + nt;
                acc[i] = t.assign(&format!(
                    "amdgpu.mfma 16x16x16 {a} * {b} + {} blgp = none : {fragment}, {fragment}, vector<4xf32>",
                    acc[i]
                ));
            }
        }
    }
    t.line("gpu.barrier");
    t.line(&format!("scf.yield {} : {vectors}", acc.join(", ")));
    t.line("}");
    // The epilogue on each accumulator element, one 16-bit store each.
    let row_wave = t.binary("addi", &names.row_block, &wave_m, "index");
    let col_wave = t.binary("addi", &names.col_block, &wave_n, "index");
    for mt in 0..M_TILES {
        for nt in 0..N_TILES {
            let tile = (mt * N_TILES + nt) as usize;
            for v in 0..4 {
                let row_offset = t.index(mt * 16 + v);
                let col_offset = t.index(nt * 16);
                let r0 = t.binary("addi", &row_wave, &row_offset, "index");
                let r = t.binary("addi", &r0, &lane_k, "index");
                let c_0 = t.binary("addi", &col_wave, &col_offset, "index");
                let c = t.binary("addi", &c_0, &lane_row, "index");
                let accumulator = format!("vector.extract {results}#{tile}[{v}] : f32 from vector<4xf32>");
                store_element(&mut t, &frame, d, names, &r, &c, &accumulator);
            }
        }
    }
    t.line("gpu.terminator");
    Some(frame.finish(t))
}
