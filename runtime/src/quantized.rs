//! The INT8 fused kernel: a quantized contraction (`ftensor.quantized_conv` at batch 1 with
//! one group, or `ftensor.quantized_mat_mul`) followed by the f32 epilogue of
//! [`crate::fused`]. Integer arithmetic throughout the product:
//!
//! 1. the f32 activation is quantized once per call (`q = clamp(round_half_even(x / s) + z)`,
//!    the division in f32, as the reference semantics), kept as u8 (an i8 activation is
//!    shifted by 128, its zero point with it);
//! 2. the product `Σ u8 · i8` accumulates in i32 with AVX-512 VNNI (`vpdpbusd`: four
//!    u8×i8 products summed into each 32-bit lane, no intermediate saturation), or a
//!    portable loop with the same exact result on CPUs without VNNI;
//! 3. the zero point comes off as `z · Σ w` per output channel, and one multiply by
//!    `x_scale · w_scale[channel]` gives f32, which the epilogue (bias, residual,
//!    activation) then updates tile by tile.
//!
//! Integer sums are exact, so the result does not depend on the tiling or thread count.
//!
//! The contraction seen as `C[M, N] = A[M, K] · B[K, N]`:
//! - conv: A the i8 weights `[F, C·KH·KW]`, B the quantized windows of the input, the
//!   u8 operand vectorized over output pixels and the weights broadcast;
//! - matmul: A the quantized activation rows, B the i8 weights `[K, N]`, vectorized over
//!   columns with the activation broadcast.
//!
//! K is padded to a multiple of 4 with zero weights, so padding adds nothing.

use crate::fused::{Contraction, Descriptor, Operands, epilogue_reads_output, epilogue_row};
use crate::microkernels::threads;
use std::cell::RefCell;

/// The symbol of the INT8 fused kernel.
pub const FUSED_Q8: &str = "fuser_fused_q8";
/// Its arguments: quantization words, descriptor, weights (i8), activation (f32), output,
/// weight scales (f32, one per output channel), and three epilogue operands.
pub const FUSED_Q8_ARITY: usize = 9;

/// The activation's quantization: scale, zero point, and whether it is i8 (else u8).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActivationQuantization {
    pub scale: f32,
    pub zero_point: i64,
    pub signed: bool,
}

impl ActivationQuantization {
    pub fn encode(&self) -> [i64; 3] {
        [i64::from(self.scale.to_bits()), self.zero_point, i64::from(self.signed)]
    }

    pub fn decode(words: [i64; 3]) -> ActivationQuantization {
        ActivationQuantization {
            scale: f32::from_bits(words[0] as u32),
            zero_point: words[1],
            signed: words[2] != 0,
        }
    }

    /// The u8 code of `x` (an i8 code shifted by 128).
    #[inline(always)]
    fn code(&self, x: f32) -> u8 {
        let (lo, hi) = if self.signed { (-128.0, 127.0) } else { (0.0, 255.0) };
        let q = ((x / self.scale).round_ties_even() + self.zero_point as f32).clamp(lo, hi);
        (q as i32 + if self.signed { 128 } else { 0 }) as u8
    }

    /// The u8 code of 0 (padding).
    fn zero_code(&self) -> u8 {
        (self.zero_point + if self.signed { 128 } else { 0 }) as u8
    }
}

/// Columns of one register block (two 16-lane vectors) and its rows.
const NR: usize = 32;
const MR: usize = 6;

thread_local! {
    static SCRATCH: RefCell<(Vec<u8>, Vec<i32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new(), Vec::new())) };
}

/// `acc[r][c] += Σ_k4 Σ_j u[..] · s[..]` for an `MR × NR` block: `broadcast[r]` holds row
/// r's `4·k4s` bytes, `packed` the block's columns as `[k4][NR][4]`. `unsigned_broadcast`
/// says which operand is u8 (the other is i8).
#[inline(always)]
fn block_portable(broadcast: &[&[u8]], packed: &[u8], k4s: usize, unsigned_broadcast: bool, acc: &mut [[i32; NR]; MR]) {
    for (r, row) in broadcast.iter().enumerate() {
        for k4 in 0..k4s {
            let a = &row[4 * k4..4 * k4 + 4];
            let b = &packed[k4 * NR * 4..(k4 + 1) * NR * 4];
            for c in 0..NR {
                let mut sum = 0i32;
                for j in 0..4 {
                    let (u, s) = if unsigned_broadcast { (a[j], b[4 * c + j]) } else { (b[4 * c + j], a[j]) };
                    sum += i32::from(u) * i32::from(s as i8);
                }
                acc[r][c] += sum;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn block_vnni(broadcast: &[&[u8]], packed: &[u8], k4s: usize, unsigned_broadcast: bool, acc: &mut [[i32; NR]; MR]) {
    use std::arch::x86_64::*;
    let rows = broadcast.len();
    assert!(rows <= MR && packed.len() >= k4s * NR * 4 && broadcast.iter().all(|r| r.len() >= 4 * k4s));
    let mut v = [[_mm512_setzero_si512(); 2]; MR];
    for k4 in 0..k4s {
        // SAFETY: in bounds (asserted above).
        let (b0, b1) = unsafe {
            let p = packed.as_ptr().add(k4 * NR * 4);
            (_mm512_loadu_si512(p.cast()), _mm512_loadu_si512(p.add(64).cast()))
        };
        for r in 0..MR {
            if r >= rows {
                break;
            }
            // SAFETY: in bounds (asserted above).
            let a = _mm512_set1_epi32(unsafe { broadcast[r].as_ptr().add(4 * k4).cast::<i32>().read_unaligned() });
            // vpdpbusd: its first source is the unsigned one.
            if unsigned_broadcast {
                v[r][0] = _mm512_dpbusd_epi32(v[r][0], a, b0);
                v[r][1] = _mm512_dpbusd_epi32(v[r][1], a, b1);
            } else {
                v[r][0] = _mm512_dpbusd_epi32(v[r][0], b0, a);
                v[r][1] = _mm512_dpbusd_epi32(v[r][1], b1, a);
            }
        }
    }
    for r in 0..rows {
        let mut lanes = [0i32; NR];
        // SAFETY: `lanes` holds 32 i32.
        unsafe {
            _mm512_storeu_si512(lanes.as_mut_ptr().cast(), v[r][0]);
            _mm512_storeu_si512(lanes.as_mut_ptr().add(16).cast(), v[r][1]);
        }
        for c in 0..NR {
            acc[r][c] += lanes[c];
        }
    }
}

/// Whether the CPU has AVX-512 VNNI (the fast path).
pub fn has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512vnni") && std::arch::is_x86_feature_detected!("avx512bw")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn block(broadcast: &[&[u8]], packed: &[u8], k4s: usize, unsigned_broadcast: bool, acc: &mut [[i32; NR]; MR]) {
    #[cfg(target_arch = "x86_64")]
    if has_vnni() {
        // SAFETY: the CPU has the features (checked).
        return unsafe { block_vnni(broadcast, packed, k4s, unsigned_broadcast, acc) };
    }
    block_portable(broadcast, packed, k4s, unsigned_broadcast, acc)
}

/// The problem of one call, decoded.
struct Problem<'p> {
    d: Descriptor,
    q: ActivationQuantization,
    /// K rounded up to a multiple of 4.
    k4s: usize,
    /// Conv: the quantized input `[C, H, W]`; matmul: the quantized rows `[M, 4·k4s]`.
    codes: Vec<u8>,
    /// Conv: the weights `[M, 4·k4s]`; matmul: the weights packed `[N/NR][k4][NR][4]`.
    weights: Vec<u8>,
    /// `z · Σ w` per output channel (rows for conv, columns for matmul).
    zero_terms: Vec<i32>,
    /// `x_scale · w_scale[channel]`.
    scales: Vec<f32>,
    operands: &'p Operands,
}

/// Packs `[k][cols]` values given by `value(k, c)` as `[k4][NR][4]` blocks of `NR` columns
/// (a block per `NR` columns, columns past `cols` and rows past `k` as `pad`).
fn pack_columns(k: usize, k4s: usize, cols: usize, pad: u8, value: impl Fn(usize, usize) -> u8, out: &mut Vec<u8>) {
    let blocks = cols.div_ceil(NR);
    out.clear();
    out.resize(blocks * k4s * NR * 4, pad);
    for kk in 0..k {
        let (k4, j) = (kk / 4, kk % 4);
        for c in 0..cols {
            let (blk, lane) = (c / NR, c % NR);
            out[((blk * k4s + k4) * NR + lane) * 4 + j] = value(kk, c);
        }
    }
}

/// Packs the windows of output pixels `c0..c0 + cols` of the quantized conv input as
/// `[block][k4][NR][4]` (padding and the rows past K as the zero point's code).
fn pack_windows(p: &Problem, c0: usize, cols: usize, out: &mut Vec<u8>) {
    let g = &p.d.conv;
    let [h, w, kh, kw, ow] = [g.height, g.width, g.kernel_h, g.kernel_w, g.out_w].map(|v| v as usize);
    let (k, k4s) = (p.d.k as usize, p.k4s);
    let zero = p.q.zero_code();
    out.clear();
    out.resize(cols.div_ceil(NR) * k4s * NR * 4, zero);
    for kk in 0..k {
        let (ch, tap) = (kk / (kh * kw), kk % (kh * kw));
        let (i, j) = ((tap / kw) as i64, (tap % kw) as i64);
        let plane = &p.codes[ch * h * w..(ch + 1) * h * w];
        let (k4, lane_byte) = (kk / 4, kk % 4);
        let (mut y, mut x) = (c0 / ow, c0 % ow);
        for c in 0..cols {
            let iy = y as i64 * g.stride_h - g.pad_top + i * g.dilation_h;
            let ix = x as i64 * g.stride_w - g.pad_left + j * g.dilation_w;
            if iy >= 0 && ix >= 0 && iy < h as i64 && ix < w as i64 {
                out[(((c / NR) * k4s + k4) * NR + c % NR) * 4 + lane_byte] = plane[iy as usize * w + ix as usize];
            }
            x += 1;
            if x == ow {
                x = 0;
                y += 1;
            }
        }
    }
}

/// Computes output rows `r0..r0 + rows`, columns `c0..c0 + cols` into `dst` (row stride
/// `dst_row`) as f32, before the epilogue.
fn tile(p: &Problem, r0: usize, rows: usize, c0: usize, cols: usize, dst: &mut [f32], dst_row: usize, packed: &mut Vec<u8>) {
    let k4s = p.k4s;
    let conv = p.d.contraction == Contraction::Conv2d;
    let mut acc = [[0i32; NR]; MR];
    if conv {
        pack_windows(p, c0, cols, packed);
    }
    for blk in 0..cols.div_ceil(NR) {
        let width = NR.min(cols - blk * NR);
        for rr in (0..rows).step_by(MR) {
            let count = MR.min(rows - rr);
            let stride = 4 * k4s;
            let (broadcast, block_data, unsigned_broadcast): (Vec<&[u8]>, &[u8], bool) = if conv {
                let rows_of = (0..count).map(|i| &p.weights[(r0 + rr + i) * stride..(r0 + rr + i + 1) * stride]);
                (rows_of.collect(), &packed[blk * k4s * NR * 4..(blk + 1) * k4s * NR * 4], false)
            } else {
                let rows_of = (0..count).map(|i| &p.codes[(r0 + rr + i) * stride..(r0 + rr + i + 1) * stride]);
                let global = (c0 / NR) + blk;
                (rows_of.collect(), &p.weights[global * k4s * NR * 4..(global + 1) * k4s * NR * 4], true)
            };
            acc.iter_mut().for_each(|row| row.fill(0));
            block(&broadcast, block_data, k4s, unsigned_broadcast, &mut acc);
            for i in 0..count {
                let r = r0 + rr + i;
                let out = &mut dst[(rr + i) * dst_row + blk * NR..(rr + i) * dst_row + blk * NR + width];
                for (c, o) in out.iter_mut().enumerate() {
                    let channel = if conv { r } else { c0 + blk * NR + c };
                    *o = (acc[i][c] - p.zero_terms[channel]) as f32 * p.scales[channel];
                }
            }
        }
    }
}

/// The INT8 fused kernel entry point.
///
/// # Safety
/// The pointers must cover the shapes the descriptor gives: `weights` i8 (`[M, K]` for a
/// conv, `[K, N]` for a matmul), `x` f32 (the conv input `[C, H, W]`, or the `[M, K]`
/// rows with the descriptor's A strides), `out` f32 `[M, N]`, `w_scales` one f32 per
/// output channel, and the epilogue operands as in [`crate::fused`].
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn fuser_fused_q8(
    quantization: i64,
    descriptor: i64,
    weights: i64,
    x: i64,
    out: i64,
    w_scales: i64,
    e0: i64,
    e1: i64,
    e2: i64,
) {
    // SAFETY: generated code passes three words of quantization and a whole descriptor.
    let q = ActivationQuantization::decode(unsafe { *(quantization as *const [i64; 3]) });
    let Some(d) = (unsafe { crate::fused::read_descriptor(descriptor) }) else {
        return;
    };
    let (m, n, k) = (d.m as usize, d.n as usize, d.k as usize);
    let k4s = k.div_ceil(4);
    let conv = d.contraction == Contraction::Conv2d;
    let channels = if conv { m } else { n };
    // SAFETY: as documented above.
    let (w, w_scales) = unsafe {
        (
            std::slice::from_raw_parts(weights as *const i8, if conv { m * k } else { k * n }),
            std::slice::from_raw_parts(w_scales as *const f32, channels),
        )
    };
    let zero = q.zero_code() as i32;
    let (codes, packed_weights, zero_terms) = if conv {
        let g = &d.conv;
        let input_len = (g.channels * g.height * g.width) as usize;
        // SAFETY: the conv input.
        let input = unsafe { std::slice::from_raw_parts(x as *const f32, input_len) };
        let codes: Vec<u8> = input.iter().map(|&v| q.code(v)).collect();
        let mut rows = vec![0u8; m * 4 * k4s];
        let mut sums = vec![0i32; m];
        for r in 0..m {
            for kk in 0..k {
                rows[r * 4 * k4s + kk] = w[r * k + kk] as u8;
                sums[r] += i32::from(w[r * k + kk]);
            }
        }
        (codes, rows, sums.iter().map(|s| s * zero).collect::<Vec<i32>>())
    } else {
        let [a_row, a_col, _, _] = d.strides.map(|s| s as isize);
        let mut codes = vec![0u8; m * 4 * k4s];
        for r in 0..m {
            for kk in 0..k {
                // SAFETY: A's element (r, kk) by its strides.
                let v = unsafe { *(x as *const f32).offset(r as isize * a_row + kk as isize * a_col) };
                codes[r * 4 * k4s + kk] = q.code(v);
            }
        }
        let mut packed = Vec::new();
        pack_columns(k, k4s, n, 0, |kk, c| w[kk * n + c] as u8, &mut packed);
        let sums: Vec<i32> = (0..n).map(|c| (0..k).map(|kk| i32::from(w[kk * n + c])).sum::<i32>() * zero).collect();
        (codes, packed, sums)
    };
    let operands = Operands::new([e0, e1, e2], n);
    let problem = Problem {
        d,
        q,
        k4s,
        codes,
        weights: packed_weights,
        zero_terms,
        scales: w_scales.iter().map(|s| q.scale * s).collect(),
        operands: &operands,
    };
    let out_addr = out as usize;
    let in_place = !epilogue_reads_output(&problem.d.epilogue, &operands, m, out_addr);
    // Tiles: NR-aligned column blocks sized so a conv's packed windows stay in L2, and
    // row blocks for parallelism when there are few column blocks.
    let cols = if conv {
        ((256 * 1024) / (4 * k4s)).clamp(NR, 16 * NR) / NR * NR
    } else {
        n.div_ceil(NR) * NR
    };
    let column_blocks = n.div_ceil(cols);
    let wanted = 4 * threads().max(1);
    let row_blocks = if column_blocks >= wanted { 1 } else { wanted.div_ceil(column_blocks).min(m.div_ceil(MR)).max(1) };
    let rows = m.div_ceil(row_blocks).div_ceil(MR) * MR;
    let mut tiles = Vec::new();
    for r0 in (0..m).step_by(rows.max(1)) {
        for c0 in (0..n).step_by(cols) {
            tiles.push((r0, rows.min(m - r0), c0, cols.min(n - c0)));
        }
    }
    let run_tile = |(r0, rows, c0, cols): (usize, usize, usize, usize)| {
        SCRATCH.with(|scratch| {
            let (packed, _, product) = &mut *scratch.borrow_mut();
            let (dst, dst_row): (&mut [f32], usize) = if in_place {
                // SAFETY: the tile lies inside the dense `[M, N]` output; tiles do not overlap.
                (unsafe { std::slice::from_raw_parts_mut((out_addr as *mut f32).add(r0 * n + c0), (rows - 1) * n + cols) }, n)
            } else {
                product.resize(rows * cols, 0.0);
                (&mut product[..], cols)
            };
            tile(&problem, r0, rows, c0, cols, dst, dst_row, packed);
            for r in 0..rows {
                let row = &mut dst[r * dst_row..r * dst_row + cols];
                epilogue_row(&problem.d.epilogue, problem.operands, r0 + r, c0, row);
                if !in_place {
                    // SAFETY: as above.
                    let target = unsafe { std::slice::from_raw_parts_mut((out_addr as *mut f32).add((r0 + r) * n + c0), cols) };
                    target.copy_from_slice(row);
                }
            }
        });
    };
    if threads() == 1 || tiles.len() == 1 {
        tiles.into_iter().for_each(run_tile);
    } else {
        use rayon::prelude::*;
        tiles.into_par_iter().for_each(run_tile);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::{ConvGeometry, Step};

    /// A small deterministic generator (tests must not depend on a crate's stream).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f32 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((self.0 >> 33) as f32) / (1u64 << 31) as f32
        }
        fn weights(&mut self, len: usize) -> Vec<i8> {
            (0..len).map(|_| (self.next() * 254.0 - 127.0) as i8).collect()
        }
        fn floats(&mut self, len: usize, scale: f32) -> Vec<f32> {
            (0..len).map(|_| (self.next() * 2.0 - 1.0) * scale).collect()
        }
    }

    fn call(q: ActivationQuantization, d: &Descriptor, w: &[i8], x: &[f32], scales: &[f32], bias: &[f32]) -> Vec<f32> {
        let words = d.encode();
        let qw = q.encode();
        let mut out = vec![f32::NAN; (d.m * d.n) as usize];
        // SAFETY: every buffer covers the descriptor's shapes.
        unsafe {
            fuser_fused_q8(
                qw.as_ptr() as i64,
                words.as_ptr() as i64,
                w.as_ptr() as i64,
                x.as_ptr() as i64,
                out.as_mut_ptr() as i64,
                scales.as_ptr() as i64,
                bias.as_ptr() as i64,
                0,
                0,
            )
        };
        out
    }

    /// The definition, computed directly: exact integer sums of (code - zero) · w, scaled
    /// once, then bias and ReLU.
    #[test]
    fn conv_matches_its_definition_for_both_activation_types() {
        let mut rng = Lcg(7);
        let g = ConvGeometry {
            channels: 5,
            height: 7,
            width: 6,
            kernel_h: 3,
            kernel_w: 2,
            out_h: 4,
            out_w: 5,
            stride_h: 2,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: 1,
            pad_left: 0,
        };
        let (f, k, n) = (37usize, 30usize, 20usize);
        let d = Descriptor {
            contraction: Contraction::Conv2d,
            m: f as i64,
            n: n as i64,
            k: k as i64,
            strides: [k as i64, 1, n as i64, 1],
            conv: g,
            epilogue: vec![Step::AddRow(0), Step::Relu],
        };
        let (w, x) = (rng.weights(f * k), rng.floats(5 * 7 * 6, 2.0));
        let (scales, bias) = (rng.floats(f, 0.01), rng.floats(f, 1.0));
        for q in [
            ActivationQuantization { scale: 0.017, zero_point: 121, signed: false },
            ActivationQuantization { scale: 0.013, zero_point: -9, signed: true },
        ] {
            let out = call(q, &d, &w, &x, &scales, &bias);
            let code = |v: f32| {
                let (lo, hi) = if q.signed { (-128.0, 127.0) } else { (0.0, 255.0) };
                ((v / q.scale).round_ties_even() + q.zero_point as f32).clamp(lo, hi) as i64 - q.zero_point
            };
            for m in 0..f {
                for p in 0..n {
                    let (y, xo) = ((p / 5) as i64, (p % 5) as i64);
                    let mut sum = 0i64;
                    for c in 0..5 {
                        for i in 0..3i64 {
                            for j in 0..2i64 {
                                let (iy, ix) = (y * 2 - 1 + i, xo + j);
                                if (0..7).contains(&iy) && (0..6).contains(&ix) {
                                    let wv = w[m * k + (c * 3 + i as usize) * 2 + j as usize] as i64;
                                    sum += wv * code(x[(c * 7 + iy as usize) * 6 + ix as usize]);
                                }
                            }
                        }
                    }
                    let want = (sum as f32 * (q.scale * scales[m]) + bias[m]).max(0.0);
                    assert_eq!(out[m * n + p], want, "channel {m}, pixel {p}, {q:?}");
                }
            }
        }
    }

    #[test]
    fn strided_matmul_matches_its_definition() {
        let mut rng = Lcg(11);
        let (m, k, n) = (7usize, 13usize, 70usize);
        // A transposed in memory: element (r, kk) at kk·m + r.
        let d = Descriptor {
            contraction: Contraction::Matmul,
            m: m as i64,
            n: n as i64,
            k: k as i64,
            strides: [1, m as i64, n as i64, 1],
            conv: ConvGeometry::default(),
            epilogue: vec![Step::AddColumn(0)],
        };
        let (w, x) = (rng.weights(k * n), rng.floats(m * k, 3.0));
        let (scales, bias) = (rng.floats(n, 0.01), rng.floats(n, 1.0));
        let q = ActivationQuantization { scale: 0.025, zero_point: 128, signed: false };
        let out = call(q, &d, &w, &x, &scales, &bias);
        for r in 0..m {
            for c in 0..n {
                let sum: i64 = (0..k)
                    .map(|kk| {
                        let code = ((x[kk * m + r] / q.scale).round_ties_even() + 128.0).clamp(0.0, 255.0) as i64 - 128;
                        code * w[kk * n + c] as i64
                    })
                    .sum();
                assert_eq!(out[r * n + c], sum as f32 * (q.scale * scales[c]) + bias[c]);
            }
        }
    }

    /// The VNNI block and the portable one agree exactly (when the CPU has VNNI).
    #[test]
    fn vnni_and_portable_blocks_agree() {
        if !has_vnni() {
            return;
        }
        let mut rng = Lcg(3);
        let k4s = 9;
        let rows: Vec<Vec<u8>> = (0..MR).map(|_| rng.weights(4 * k4s).iter().map(|&v| v as u8).collect()).collect();
        let packed: Vec<u8> = rng.weights(k4s * NR * 4).iter().map(|&v| v as u8).collect();
        let broadcast: Vec<&[u8]> = rows.iter().map(Vec::as_slice).collect();
        for unsigned_broadcast in [false, true] {
            let (mut a, mut b) = ([[1i32; NR]; MR], [[1i32; NR]; MR]);
            block_portable(&broadcast, &packed, k4s, unsigned_broadcast, &mut a);
            // SAFETY: checked above.
            unsafe { block_vnni(&broadcast, &packed, k4s, unsigned_broadcast, &mut b) };
            assert_eq!(a, b);
        }
    }
}
