//! The INT8 fused kernel: a quantized contraction (`ftensor.quantized_conv` at batch 1 with
//! one group, or `ftensor.quantized_mat_mul`) followed by the f32 epilogue of
//! [`crate::fused`]. Integer arithmetic throughout the product:
//!
//! 1. the f32 activation is quantized once per call (`q = clamp(round_half_even(x / s) + z)`,
//!    the division in f32, as the reference semantics), kept as u8 (an i8 activation is
//!    shifted by 128, its zero point with it); an activation that arrives as codes (the
//!    previous INT8 kernel's requantize epilogue) is only laid out;
//! 2. the product `Σ u8 · i8` accumulates in i32 with AVX-512 VNNI (`vpdpbusd`: four
//!    u8×i8 products summed into each 32-bit lane, no intermediate saturation), or a
//!    portable loop with the same exact result on CPUs without VNNI;
//! 3. the zero point comes off as `z · Σ w` per output channel, and one multiply by
//!    `x_scale · w_scale[channel]` gives f32, which the epilogue (bias, residual,
//!    activation) then updates tile by tile; with a requantize epilogue the f32 tile is
//!    then written as codes (u8 or i8) of the output's quantization.
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

// A store epilogue's last step: the blocked kernels' activation.
use crate::blocked_layout::{Activation as Clamp, DirectEpilogue};
use crate::fused::{Contraction, Descriptor, Operands, Step, epilogue_reads_output, epilogue_row, maximum};
use crate::microkernels::threads;
use std::cell::RefCell;

/// The symbol of the INT8 fused kernel.
pub const FUSED_Q8: &str = "fuser_fused_q8";
/// Its arguments: quantization words ([`Q8Call`]), descriptor, weights (i8), activation
/// (f32, or one-byte codes), output (f32, or one-byte codes), weight scales (f32, one per
/// output channel), and three epilogue operands.
pub const FUSED_Q8_ARITY: usize = 9;

/// One call's quantization: the activation's, whether the activation arrives as codes
/// already (u8 or i8, of the zero point's type) rather than f32, and the output's when the
/// kernel ends in a quantize (a requantize epilogue: it writes codes, u8 or i8).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Q8Call {
    pub input: ActivationQuantization,
    pub input_is_codes: bool,
    pub output: Option<ActivationQuantization>,
}

/// The number of words of an encoded [`Q8Call`].
pub const Q8_CALL_WORDS: usize = 8;

impl Q8Call {
    pub fn encode(&self) -> [i64; Q8_CALL_WORDS] {
        let [a, b, c] = self.input.encode();
        let [d, e, f] = self.output.map_or([0; 3], |o| o.encode());
        [
            a,
            b,
            c,
            i64::from(self.input_is_codes),
            i64::from(self.output.is_some()),
            d,
            e,
            f,
        ]
    }

    pub fn decode(words: [i64; Q8_CALL_WORDS]) -> Q8Call {
        Q8Call {
            input: ActivationQuantization::decode([words[0], words[1], words[2]]),
            input_is_codes: words[3] != 0,
            output: (words[4] != 0).then(|| ActivationQuantization::decode([words[5], words[6], words[7]])),
        }
    }
}

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
        // Clamping an i8 code to [-128, 127] and adding 128 is clamping code + 128 to
        // [0, 255]: one form for both types, without a branch. NaN quantizes to the
        // integer 0 (the reference's `NaN as i64`): a quotient of -zero_point gives it.
        let quotient = x / self.scale;
        let quotient = if quotient.is_nan() {
            self.nan_quotient()
        } else {
            quotient
        };
        let q = round_half_even(quotient) + f32::from(self.zero_code());
        q.clamp(0.0, 255.0) as u8
    }

    /// The quotient that stands for NaN: its code is the integer 0.
    fn nan_quotient(&self) -> f32 {
        -(self.zero_point as f32)
    }

    /// The u8 code of 0 (padding).
    fn zero_code(&self) -> u8 {
        (self.zero_point + if self.signed { 128 } else { 0 }) as u8
    }
}

/// `v.round_ties_even()` without a libm call (the crate is built for baseline x86-64,
/// which has no rounding instruction): adding and subtracting 1.5·2^23 rounds to the
/// nearest integer, ties to even, in the default rounding mode. Values beyond ±2^22
/// saturate any 8-bit code alike, so they are clamped first; NaN stays NaN.
#[inline(always)]
fn round_half_even(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    let v = v.clamp(-4_194_304.0, 4_194_304.0);
    (v + MAGIC) - MAGIC
}

/// `$name`: the hand-written AVX-512 loop `$wide` on a CPU with VNNI, else `$body`
/// compiled for AVX2 as `$narrow` (LLVM vectorizes these loops: their selects are
/// branch-free; same code, same bytes), else `$body` for the baseline.
macro_rules! vnni_or_avx2 {
    ($name:ident, $wide:ident, $narrow:ident, $body:ident, ($($arg:ident: $ty:ty),*)) => {
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            if has_vnni() {
                // SAFETY: the CPU has the features (checked).
                return unsafe { $wide($($arg),*) };
            }
            #[cfg(target_arch = "x86_64")]
            if is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 (checked).
                return unsafe { $narrow($($arg),*) };
            }
            $body($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        fn $narrow($($arg: $ty),*) {
            $body($($arg),*)
        }
    };
}

#[inline(always)]
fn codes_body(q: &ActivationQuantization, input: &[f32], out: &mut [u8]) {
    for (o, &v) in out.iter_mut().zip(input) {
        *o = q.code(v);
    }
}

/// [`codes_body`] in vectors of 16 (`vrndscaleps` rounds half to even, as
/// `round_half_even` does; a NaN quotient is replaced as in `code`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
fn codes_avx512(q: &ActivationQuantization, input: &[f32], out: &mut [u8]) {
    use std::arch::x86_64::*;
    let len = input.len().min(out.len());
    let scale = _mm512_set1_ps(q.scale);
    let zero = _mm512_set1_ps(f32::from(q.zero_code()));
    let (low, high) = (_mm512_setzero_ps(), _mm512_set1_ps(255.0));
    let nan = _mm512_set1_ps(q.nan_quotient());
    let mut i = 0;
    while i + 16 <= len {
        // SAFETY: 16 values from `i` lie inside both slices.
        unsafe {
            let v = _mm512_loadu_ps(input.as_ptr().add(i));
            let quotient = _mm512_div_ps(v, scale);
            let quotient = _mm512_mask_mov_ps(quotient, _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(quotient, quotient), nan);
            let r = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(quotient);
            let c = _mm512_cvttps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_add_ps(r, zero), low), high));
            _mm_storeu_si128(out.as_mut_ptr().add(i).cast(), _mm512_cvtepi32_epi8(c));
        }
        i += 16;
    }
    codes_body(q, &input[i..len], &mut out[i..len]);
}

// The u8 codes of `input`.
vnni_or_avx2!(codes, codes_avx512, codes_avx2, codes_body, (q: &ActivationQuantization, input: &[f32], out: &mut [u8]));

/// Output channels of one register block (two 16-lane vectors of i32) and the output
/// pixels (conv) or activation rows (matmul) it computes at once.
const NR: usize = 32;
const MR: usize = 8;

/// `acc[r][c] = Σ_k4 Σ_b act[bases[r] + offsets[k4] + b] · panel[k4][c][b]`: the
/// activation bytes are u8, the panel (one block of `NR` channels, `[k4][NR][4]`) i8.
///
/// # Safety
/// Every `act + bases[r] + offsets[k4] .. + 4` and `panel .. + offsets.len() · NR · 4`
/// must be readable.
#[inline(always)]
unsafe fn block_portable(
    act: *const u8,
    bases: &[usize; MR],
    offsets: &[u32],
    panel: *const u8,
    acc: &mut [[i32; NR]; MR],
) {
    for (r, row) in acc.iter_mut().enumerate() {
        row.fill(0);
        for (k4, &off) in offsets.iter().enumerate() {
            for b in 0..4 {
                // SAFETY: as the caller promises.
                let a = i32::from(unsafe { *act.add(bases[r] + off as usize + b) });
                for (c, slot) in row.iter_mut().enumerate() {
                    *slot += a * i32::from(unsafe { *panel.add((k4 * NR + c) * 4 + b) } as i8);
                }
            }
        }
    }
}

/// [`block_portable`] with `vpdpbusd`: per 32-bit lane, four u8 × i8 products summed
/// into the i32 accumulator (exact: no intermediate saturation).
///
/// # Safety
/// As [`block_portable`], on a CPU with AVX-512 VNNI.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn block_vnni(
    act: *const u8,
    bases: &[usize; MR],
    offsets: &[u32],
    panel: *const u8,
    acc: &mut [[i32; NR]; MR],
) {
    use std::arch::x86_64::*;
    let mut v = [[_mm512_setzero_si512(); 2]; MR];
    for (k4, &off) in offsets.iter().enumerate() {
        // SAFETY (all loads): as the caller promises.
        let (b0, b1) = unsafe {
            let p = panel.add(k4 * NR * 4);
            (_mm512_loadu_si512(p.cast()), _mm512_loadu_si512(p.add(64).cast()))
        };
        for r in 0..MR {
            let a = _mm512_set1_epi32(unsafe { act.add(bases[r] + off as usize).cast::<i32>().read_unaligned() });
            v[r][0] = _mm512_dpbusd_epi32(v[r][0], a, b0);
            v[r][1] = _mm512_dpbusd_epi32(v[r][1], a, b1);
        }
    }
    for (row, lanes) in acc.iter_mut().zip(&v) {
        // SAFETY: a row holds 32 i32.
        unsafe {
            _mm512_storeu_si512(row.as_mut_ptr().cast(), lanes[0]);
            _mm512_storeu_si512(row.as_mut_ptr().add(16).cast(), lanes[1]);
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

/// # Safety
/// As [`block_portable`].
unsafe fn block(act: *const u8, bases: &[usize; MR], offsets: &[u32], panel: *const u8, acc: &mut [[i32; NR]; MR]) {
    #[cfg(target_arch = "x86_64")]
    if has_vnni() {
        // SAFETY: the CPU has the features (checked); the rest as the caller promises.
        return unsafe { block_vnni(act, bases, offsets, panel, acc) };
    }
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked); the rest as the caller promises.
        return unsafe { block_avx2(act, bases, offsets, panel, acc) };
    }
    // SAFETY: as the caller promises.
    unsafe { block_portable(act, bases, offsets, panel, acc) }
}

/// `acc + Σ_b a[b] · w[b]` per 32-bit lane, `a` four u8 and `w` four i8 (what
/// `vpdpbusd` computes), on AVX2: the even and the odd bytes widened to 16 bits and
/// multiplied in pairs by `vpmaddwd`. Exact: a pair's sum is at most 2·255·128 in size
/// (`vpmaddubsw`, onnxruntime's choice without VNNI, saturates at 2^15).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn dot_u8_i8_avx2(
    acc: std::arch::x86_64::__m256i,
    (a_even, a_odd): (std::arch::x86_64::__m256i, std::arch::x86_64::__m256i),
    (w_even, w_odd): (std::arch::x86_64::__m256i, std::arch::x86_64::__m256i),
) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    _mm256_add_epi32(
        acc,
        _mm256_add_epi32(_mm256_madd_epi16(a_even, w_even), _mm256_madd_epi16(a_odd, w_odd)),
    )
}

/// u8 bytes as 16-bit lanes: the even bytes, the odd bytes (zero-extended).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn widen_u8_avx2(a: std::arch::x86_64::__m256i) -> (std::arch::x86_64::__m256i, std::arch::x86_64::__m256i) {
    use std::arch::x86_64::*;
    (_mm256_and_si256(a, _mm256_set1_epi16(0xff)), _mm256_srli_epi16::<8>(a))
}

/// i8 bytes as 16-bit lanes: the even bytes, the odd bytes (sign-extended).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn widen_i8_avx2(w: std::arch::x86_64::__m256i) -> (std::arch::x86_64::__m256i, std::arch::x86_64::__m256i) {
    use std::arch::x86_64::*;
    (
        _mm256_srai_epi16::<8>(_mm256_slli_epi16::<8>(w)),
        _mm256_srai_epi16::<8>(w),
    )
}

/// [`block_portable`] on AVX2 ([`dot_u8_i8_avx2`]): two rows at a time, each row's 32
/// channels in four vectors.
///
/// # Safety
/// As [`block_portable`], on a CPU with AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn block_avx2(
    act: *const u8,
    bases: &[usize; MR],
    offsets: &[u32],
    panel: *const u8,
    acc: &mut [[i32; NR]; MR],
) {
    use std::arch::x86_64::*;
    for (pair, rows) in acc.chunks_exact_mut(2).enumerate() {
        let mut v = [[_mm256_setzero_si256(); 4]; 2];
        for (k4, &off) in offsets.iter().enumerate() {
            // SAFETY (all loads): as the caller promises.
            let w: [_; 4] = std::array::from_fn(|j| {
                widen_i8_avx2(unsafe { _mm256_loadu_si256(panel.add((k4 * NR + 8 * j) * 4).cast()) })
            });
            for (r, lanes) in v.iter_mut().enumerate() {
                let word = unsafe {
                    act.add(bases[2 * pair + r] + off as usize)
                        .cast::<i32>()
                        .read_unaligned()
                };
                let a = widen_u8_avx2(_mm256_set1_epi32(word));
                for (sum, &w) in lanes.iter_mut().zip(&w) {
                    *sum = dot_u8_i8_avx2(*sum, a, w);
                }
            }
        }
        for (row, lanes) in rows.iter_mut().zip(&v) {
            for (j, &lane) in lanes.iter().enumerate() {
                // SAFETY: a row holds 32 i32.
                unsafe { _mm256_storeu_si256(row.as_mut_ptr().add(8 * j).cast(), lane) };
            }
        }
    }
}

/// The weights of one call in the kernel's layout, packed on its first call.
struct Packed {
    /// `[channel block][k4][NR][4]` i8, zero past the channels and K.
    panels: Vec<u8>,
    /// Per channel: the zero point's code times the channel's weight sum.
    terms: Vec<i32>,
    /// Per channel: `x_scale · w_scale`.
    scales: Vec<f32>,
    /// Per k4: the byte offset of its four activation bytes from a pixel's (row's) base.
    offsets: Vec<u32>,
    k4s: usize,
    /// Conv: the padded plane's height and width.
    plane: (usize, usize),
    /// A conv the pixel-vector kernel computes ([`pixel_vectors`]): the weights as rows
    /// `[M][k4s·4]` (k4 as in the panels) instead of panels.
    rows: Option<Vec<u8>>,
}

/// Whether a conv reads its input pixel for pixel (1×1, stride 1, no padding): then the
/// plane's pixels are consecutive across rows too.
fn pixels_contiguous(d: &Descriptor) -> bool {
    let g = &d.conv;
    d.contraction == Contraction::Conv2d
        && [g.kernel_h, g.kernel_w, g.stride_h, g.stride_w].iter().all(|&v| v == 1)
        && g.pad_top == 0
        && g.pad_left == 0
        && g.out_h == g.height
        && g.out_w == g.width
}

/// Whether the pixel-vector kernel computes this conv: consecutive output pixels of a row
/// read consecutive plane words (stride 1 along the width), and rows are long enough to
/// fill its vectors (or the pixels are consecutive across rows).
fn pixel_vectors(d: &Descriptor) -> bool {
    d.contraction == Contraction::Conv2d && d.conv.stride_w == 1 && (pixels_contiguous(d) || d.conv.out_w >= 16)
}

/// Packed weights by (weights address, scales address, descriptor and quantization
/// words). Weights are constants of a loaded model, so an address stands for its data
/// while the model is loaded; [`forget_packed_weights`] empties the cache when a model
/// is unloaded, before its addresses can be reused.
type Cache = std::sync::Mutex<std::collections::HashMap<(usize, usize, Vec<i64>), std::sync::Arc<Packed>>>;
static PACKED: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();

/// Forgets every packed weight (a model was unloaded).
pub fn forget_packed_weights() {
    if let Some(cache) = PACKED.get() {
        cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The weights of `d` packed (from the cache, or packed now).
///
/// # Safety
/// `weights` and `w_scales` cover the shapes of `d`.
unsafe fn packed(
    d: &Descriptor,
    q: &ActivationQuantization,
    weights: i64,
    w_scales: i64,
    key_words: Vec<i64>,
) -> std::sync::Arc<Packed> {
    let cache = PACKED.get_or_init(Default::default);
    let key = (weights as usize, w_scales as usize, key_words);
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = map.get(&key) {
        return p.clone();
    }
    // SAFETY: as the caller promises.
    let p = std::sync::Arc::new(unsafe { pack(d, q, weights, w_scales) });
    map.insert(key, p.clone());
    p
}

/// # Safety
/// As [`packed`].
unsafe fn pack(d: &Descriptor, q: &ActivationQuantization, weights: i64, w_scales: i64) -> Packed {
    let (m, n, k) = (d.m as usize, d.n as usize, d.k as usize);
    let conv = d.contraction == Contraction::Conv2d;
    let channels = if conv { m } else { n };
    // SAFETY: as the caller promises.
    let (w, w_scales) = unsafe {
        (
            std::slice::from_raw_parts(weights as *const i8, k * channels),
            std::slice::from_raw_parts(w_scales as *const f32, channels),
        )
    };
    let blocks = channels.div_ceil(NR);
    let g = &d.conv;
    // Conv: k4 runs over (channel group of 4, kernel row, kernel column); matmul: over K/4.
    let (c, taps) = (g.channels as usize, (g.kernel_h * g.kernel_w) as usize);
    let k4s = if conv { c.div_ceil(4) * taps } else { k.div_ceil(4) };
    // The weight of output channel `ch` at (k4, byte b), if any.
    let weight = |ch: usize, k4: usize, b: usize| -> i8 {
        if conv {
            let (c4, tap) = (k4 / taps, k4 % taps);
            let channel = 4 * c4 + b;
            if channel < c {
                w[(ch * c + channel) * taps + tap]
            } else {
                0
            }
        } else {
            let kk = 4 * k4 + b;
            if kk < k { w[kk * n + ch] } else { 0 }
        }
    };
    let zero = i32::from(q.zero_code());
    let mut terms = vec![0i32; blocks * NR];
    let contiguous = pixel_vectors(d);
    let rows = contiguous.then(|| {
        let mut rows = vec![0u8; channels * k4s * 4];
        for ch in 0..channels {
            for k4 in 0..k4s {
                for b in 0..4 {
                    let v = weight(ch, k4, b);
                    rows[(ch * k4s + k4) * 4 + b] = v as u8;
                    terms[ch] += zero * i32::from(v);
                }
            }
        }
        rows
    });
    let mut panels = vec![0u8; if contiguous { 0 } else { blocks * k4s * NR * 4 }];
    for blk in (0..blocks).filter(|_| !contiguous) {
        for lane in 0..NR.min(channels - blk * NR) {
            let ch = blk * NR + lane;
            for k4 in 0..k4s {
                for b in 0..4 {
                    let v = weight(ch, k4, b);
                    panels[((blk * k4s + k4) * NR + lane) * 4 + b] = v as u8;
                    terms[ch] += zero * i32::from(v);
                }
            }
        }
    }
    let mut scales: Vec<f32> = w_scales.iter().map(|s| q.scale * s).collect();
    scales.resize(blocks * NR, 0.0);
    let plane = plane_shape(g);
    let offsets = if conv {
        let (kh, kw) = (g.kernel_h as usize, g.kernel_w as usize);
        (0..k4s)
            .map(|k4| {
                let (c4, tap) = (k4 / taps, k4 % taps);
                let (i, j) = (tap / kw % kh, tap % kw);
                (((c4 * plane.0 + i * g.dilation_h as usize) * plane.1 + j * g.dilation_w as usize) * 4) as u32
            })
            .collect()
    } else {
        (0..k4s).map(|k4| (4 * k4) as u32).collect()
    };
    Packed {
        panels,
        terms,
        scales,
        offsets,
        k4s,
        plane,
        rows,
    }
}

/// An epilogue chain (a conv's commonest) that the pixel-vector kernel applies as it
/// stores, instead of a second pass over the output rows: `(v + bias[r]) +
/// residual[r, c]`, then the clamp; the same operations in the same order as
/// [`crate::fused`]'s epilogue, so the values are the same.
#[derive(Clone, Copy, Debug)]
struct StoreEpilogue {
    /// One value per output channel, or null.
    bias: *const f32,
    /// `[M, N]`, or null.
    residual: *const f32,
    n: usize,
    clamp: Clamp,
}

// SAFETY: the operands are only read, and the caller keeps them alive for the call (as
// for `Operands`).
unsafe impl Sync for StoreEpilogue {}

impl StoreEpilogue {
    /// The chain `steps` spell, if it is one of this form: `[AddRow]? [AddFull]?
    /// [Relu | Clip]?`.
    fn of(steps: &[Step], operands: &Operands) -> Option<StoreEpilogue> {
        let e = DirectEpilogue::of(steps)?;
        let pointer = |i: Option<usize>| i.map_or(std::ptr::null(), |i| operands.pointer(i));
        Some(StoreEpilogue {
            bias: pointer(e.bias),
            residual: pointer(e.residual),
            n: operands.columns(),
            clamp: e.activation,
        })
    }

    /// The chain on the value `v` of output channel `r`, pixel `c`.
    ///
    /// # Safety
    /// The operands cover channel `r` and element `[r, c]`.
    unsafe fn apply(&self, r: usize, c: usize, mut v: f32) -> f32 {
        if !self.bias.is_null() {
            // SAFETY: as the caller promises.
            v += unsafe { *self.bias.add(r) };
        }
        if !self.residual.is_null() {
            // SAFETY: as the caller promises.
            v += unsafe { *self.residual.add(r * self.n + c) };
        }
        match self.clamp {
            Clamp::None => v,
            Clamp::Relu => maximum(v, 0.0),
            Clamp::Clip(lo, hi) => crate::fused::clip(v, lo, hi),
        }
    }
}

/// Pixels of one pixel-vector block (two vectors of 16) and its output channels.
const PIXELS: usize = 32;
const CHANNELS: usize = 8;

/// One block of the pixel-vector kernel: output channels `m0..m0 + channels` (rows of
/// `weights`, `[M][k4s·4]`) at `PIXELS` consecutive output pixels of a row, whose words for
/// group `k4` start at `plane + base + offsets[k4]` (four bytes a pixel), scaled by
/// `terms`/`scales` and written to `dst` (row `r` at `dst[r · dst_row ..]`, the first
/// `width` pixels).
struct PixelBlock<'a> {
    plane: *const u8,
    base: usize,
    offsets: &'a [u32],
    weights: &'a [u8],
    k4s: usize,
    m0: usize,
    channels: usize,
    terms: &'a [i32],
    scales: &'a [f32],
    dst: *mut f32,
    dst_row: usize,
    width: usize,
    /// The output column (pixel) of the block's first pixel, and the epilogue applied
    /// as it stores, if any.
    column: usize,
    epilogue: Option<StoreEpilogue>,
}

/// The pixel-vector kernel with `vpdpbusd`.
///
/// # Safety
/// Every `plane + base + offsets[k4] .. + 4·PIXELS` is readable (the plane's slack covers
/// the last row); the CPU has AVX-512 VNNI.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn pixel_block_vnni(block: &PixelBlock) {
    use std::arch::x86_64::*;
    let &PixelBlock {
        plane,
        base,
        offsets,
        weights,
        k4s,
        m0,
        channels,
        terms,
        scales,
        dst,
        dst_row,
        width,
        column,
        epilogue,
    } = block;
    let row = |i: usize| (m0 + i.min(channels - 1)) * k4s * 4;
    let bases: [usize; CHANNELS] = std::array::from_fn(row);
    assert!(bases.iter().all(|&b| b + 4 * k4s <= weights.len()));
    let mut v = [[_mm512_setzero_si512(); 2]; CHANNELS];
    for (k4, &offset) in offsets.iter().enumerate().take(k4s) {
        // SAFETY (loads): as the caller promises; the weight rows are checked above.
        let (a0, a1) = unsafe {
            let at = plane.add(base + offset as usize);
            (_mm512_loadu_si512(at.cast()), _mm512_loadu_si512(at.add(64).cast()))
        };
        for (i, acc) in v.iter_mut().enumerate() {
            let w =
                _mm512_set1_epi32(unsafe { weights.as_ptr().add(bases[i] + 4 * k4).cast::<i32>().read_unaligned() });
            acc[0] = _mm512_dpbusd_epi32(acc[0], a0, w);
            acc[1] = _mm512_dpbusd_epi32(acc[1], a1, w);
        }
    }
    let masks: [__mmask16; 2] = [
        if width >= 16 {
            0xffff
        } else {
            ((1u32 << width) - 1) as u16
        },
        if width >= 32 {
            0xffff
        } else if width > 16 {
            ((1u32 << (width - 16)) - 1) as u16
        } else {
            0
        },
    ];
    for (i, acc) in v.iter().enumerate().take(channels) {
        let (term, scale) = (_mm512_set1_epi32(terms[m0 + i]), _mm512_set1_ps(scales[m0 + i]));
        for (h, &lanes) in acc.iter().enumerate() {
            let mut value = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(lanes, term)), scale);
            if let Some(e) = &epilogue {
                // SAFETY: the operands cover the block's channels and (masked) pixels.
                unsafe { value = store_epilogue_avx512(e, m0 + i, column + 16 * h, masks[h], value) };
            }
            // SAFETY: the masked lanes are the block's pixels inside the tile's row.
            unsafe { _mm512_mask_storeu_ps(dst.add(i * dst_row + 16 * h), masks[h], value) };
        }
    }
}

/// [`StoreEpilogue::apply`] on 16 lanes (channel `r`, pixels `c..c + 16` where `mask`).
///
/// # Safety
/// As [`StoreEpilogue::apply`] for each lane in `mask`; the CPU has AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn store_epilogue_avx512(
    e: &StoreEpilogue,
    r: usize,
    c: usize,
    mask: std::arch::x86_64::__mmask16,
    mut v: std::arch::x86_64::__m512,
) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    if !e.bias.is_null() {
        // SAFETY: as the caller promises.
        v = _mm512_add_ps(v, _mm512_set1_ps(unsafe { *e.bias.add(r) }));
    }
    if !e.residual.is_null() {
        // SAFETY: as the caller promises; lanes outside `mask` are not read.
        v = _mm512_add_ps(v, unsafe { _mm512_maskz_loadu_ps(mask, e.residual.add(r * e.n + c)) });
    }
    match e.clamp {
        Clamp::None => v,
        // v where v > 0 or NaN, else +0: `maximum(v, 0)`.
        Clamp::Relu => _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_NLE_UQ>(v, _mm512_setzero_ps()), v),
        Clamp::Clip(lo, hi) => {
            let (lo, hi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
            let low = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask::<_CMP_LT_OQ>(v, lo), lo);
            _mm512_mask_mov_ps(low, _mm512_cmp_ps_mask::<_CMP_GT_OQ>(low, hi), hi)
        }
    }
}

/// [`pixel_block_vnni`] without VNNI: the same exact sums.
///
/// # Safety
/// As [`pixel_block_vnni`], on any CPU.
unsafe fn pixel_block_portable(b: &PixelBlock) {
    for i in 0..b.channels {
        let (m, row_len) = (b.m0 + i, b.k4s * 4);
        let row = &b.weights[m * row_len..(m + 1) * row_len];
        let mut sums = [0i32; PIXELS];
        for (x, sum) in sums.iter_mut().enumerate().take(b.width) {
            for (k4, &offset) in b.offsets.iter().enumerate().take(b.k4s) {
                for byte in 0..4 {
                    // SAFETY: as the caller promises.
                    let a = i32::from(unsafe { *b.plane.add(b.base + offset as usize + 4 * x + byte) });
                    *sum += a * i32::from(row[4 * k4 + byte] as i8);
                }
            }
        }
        // SAFETY: as the caller promises.
        unsafe { store_pixel_sums(b, i, &sums) };
    }
}

/// Channel `i` of a pixel block from its sums: scaled, the epilogue applied, stored.
///
/// # Safety
/// As [`pixel_block_portable`].
unsafe fn store_pixel_sums(b: &PixelBlock, i: usize, sums: &[i32; PIXELS]) {
    let m = b.m0 + i;
    for (x, &sum) in sums.iter().enumerate().take(b.width) {
        let mut value = (sum - b.terms[m]) as f32 * b.scales[m];
        if let Some(e) = &b.epilogue {
            // SAFETY: as the caller promises.
            value = unsafe { e.apply(m, b.column + x, value) };
        }
        // SAFETY: as the caller promises.
        unsafe { *b.dst.add(i * b.dst_row + x) = value };
    }
}

/// [`pixel_block_portable`] on AVX2 ([`dot_u8_i8_avx2`]): two channels at a time, the
/// block's 32 pixels in four vectors; the sums are then stored as the portable kernel
/// stores them.
///
/// # Safety
/// As [`pixel_block_vnni`], on a CPU with AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn pixel_block_avx2(b: &PixelBlock) {
    use std::arch::x86_64::*;
    let row_len = b.k4s * 4;
    for i0 in (0..b.channels).step_by(2) {
        let rows: [usize; 2] = std::array::from_fn(|r| (b.m0 + (i0 + r).min(b.channels - 1)) * row_len);
        assert!(rows.iter().all(|&r| r + row_len <= b.weights.len()));
        let mut v = [[_mm256_setzero_si256(); 4]; 2];
        for (k4, &offset) in b.offsets.iter().enumerate().take(b.k4s) {
            // SAFETY (loads): as the caller promises; the weight rows are checked above.
            let a: [_; 4] = std::array::from_fn(|j| {
                widen_u8_avx2(unsafe { _mm256_loadu_si256(b.plane.add(b.base + offset as usize + 32 * j).cast()) })
            });
            for (lanes, &row) in v.iter_mut().zip(&rows) {
                let word = unsafe { b.weights.as_ptr().add(row + 4 * k4).cast::<i32>().read_unaligned() };
                let w = widen_i8_avx2(_mm256_set1_epi32(word));
                for (sum, &a) in lanes.iter_mut().zip(&a) {
                    *sum = dot_u8_i8_avx2(*sum, a, w);
                }
            }
        }
        for (r, lanes) in v.iter().enumerate().take(b.channels - i0) {
            let m = b.m0 + i0 + r;
            let (term, scale) = (_mm256_set1_epi32(b.terms[m]), _mm256_set1_ps(b.scales[m]));
            for (j, &lane) in lanes.iter().enumerate() {
                let lanes = b.width.saturating_sub(8 * j).min(8);
                if lanes == 0 {
                    break;
                }
                let mask = _mm256_cmpgt_epi32(
                    _mm256_set1_epi32(lanes as i32),
                    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                );
                let mut value = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(lane, term)), scale);
                if let Some(e) = &b.epilogue {
                    // SAFETY: the operands cover the block's channels and (masked) pixels.
                    value = unsafe { store_epilogue_avx2(e, m, b.column + 8 * j, mask, value) };
                }
                // SAFETY: the lanes stored are the block's pixels inside the tile's row.
                unsafe { crate::fused::store_first_lanes(b.dst.add((i0 + r) * b.dst_row + 8 * j), value, lanes) };
            }
        }
    }
}

/// [`StoreEpilogue::apply`] on 8 lanes (channel `r`, pixels `c..c + 8` where `mask`).
///
/// # Safety
/// As [`StoreEpilogue::apply`] for each lane in `mask`; the CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn store_epilogue_avx2(
    e: &StoreEpilogue,
    r: usize,
    c: usize,
    mask: std::arch::x86_64::__m256i,
    mut v: std::arch::x86_64::__m256,
) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    if !e.bias.is_null() {
        // SAFETY: as the caller promises.
        v = _mm256_add_ps(v, _mm256_set1_ps(unsafe { *e.bias.add(r) }));
    }
    if !e.residual.is_null() {
        // SAFETY: as the caller promises; lanes outside `mask` are not read.
        v = _mm256_add_ps(v, unsafe { _mm256_maskload_ps(e.residual.add(r * e.n + c), mask) });
    }
    // SAFETY: the CPU has AVX2.
    unsafe { e.clamp.apply(v) }
}

/// The padded plane of a conv input: every window a tap reads lies inside it.
fn plane_shape(g: &crate::fused::ConvGeometry) -> (usize, usize) {
    let reach =
        |out: i64, stride: i64, kernel: i64, dilation: i64| (out - 1).max(0) * stride + (kernel - 1) * dilation + 1;
    let h = reach(g.out_h, g.stride_h, g.kernel_h, g.dilation_h).max(g.pad_top + g.height);
    let w = reach(g.out_w, g.stride_w, g.kernel_w, g.dilation_w).max(g.pad_left + g.width);
    (h.max(0) as usize, w.max(0) as usize)
}

#[inline(always)]
fn interleave_body(q: &ActivationQuantization, lines: [&[f32]; 4], present: usize, out: &mut [u8]) {
    let zero = q.zero_code();
    for (x, word) in out.chunks_exact_mut(4).enumerate() {
        let code = |b: usize| if b < present { q.code(lines[b][x]) } else { zero };
        word.copy_from_slice(&[code(0), code(1), code(2), code(3)]);
    }
}

/// [`interleave_body`] in vectors of 16 positions (`vrndscaleps` rounds half to even,
/// as `round_half_even` does).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
fn interleave_avx512(q: &ActivationQuantization, lines: [&[f32]; 4], present: usize, out: &mut [u8]) {
    use std::arch::x86_64::*;
    let len = out.len() / 4;
    assert!(lines.iter().take(present).all(|l| l.len() >= len));
    let scale = _mm512_set1_ps(q.scale);
    let zero = _mm512_set1_ps(f32::from(q.zero_code()));
    let (low, high) = (_mm512_setzero_ps(), _mm512_set1_ps(255.0));
    let nan = _mm512_set1_ps(q.nan_quotient());
    let code = |v: __m512| {
        let quotient = _mm512_div_ps(v, scale);
        let quotient = _mm512_mask_mov_ps(quotient, _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(quotient, quotient), nan);
        let r = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(quotient);
        _mm512_cvttps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_add_ps(r, zero), low), high))
    };
    let absent = _mm512_cvttps_epi32(zero);
    let mut x = 0;
    while x < len {
        let mask: __mmask16 = if len - x >= 16 { 0xffff } else { (1u16 << (len - x)) - 1 };
        let mut word = _mm512_setzero_si512();
        for (b, line) in lines.iter().enumerate() {
            let c = if b < present {
                // SAFETY: the masked lanes lie inside the line (asserted above).
                code(unsafe { _mm512_maskz_loadu_ps(mask, line.as_ptr().add(x)) })
            } else {
                absent
            };
            word = _mm512_or_si512(word, _mm512_sllv_epi32(c, _mm512_set1_epi32(8 * b as i32)));
        }
        // SAFETY: the masked words lie inside `out`.
        unsafe { _mm512_mask_storeu_epi32(out.as_mut_ptr().add(4 * x).cast(), mask, word) };
        x += 16;
    }
}

// Quantizes up to four channel lines (`present` of them) into `out`, four bytes (one per
// channel) per position.
vnni_or_avx2!(interleave, interleave_avx512, interleave_avx2, interleave_body,
    (q: &ActivationQuantization, lines: [&[f32]; 4], present: usize, out: &mut [u8]));

/// A conv's or matmul's activation: f32 values to quantize, or codes (the bytes of u8 or
/// i8 codes; an i8 code is shifted by 128 on the way in, as the kernel keeps them).
#[derive(Clone, Copy)]
enum Activation<'a> {
    Floats(&'a [f32]),
    Codes(&'a [u8]),
}

/// The kernel's u8 form of a code byte of the activation's type.
fn shifted(q: &ActivationQuantization, byte: u8) -> u8 {
    if q.signed { byte ^ 0x80 } else { byte }
}

// Up to four channel lines of codes (`present` of them) into `out`, four bytes (one per
// channel, in the kernel's u8 form) per position; the zero point's code for the others.
vnni_or_avx2!(interleave_codes, interleave_codes_avx512, interleave_codes_avx2, interleave_codes_body,
    (q: &ActivationQuantization, lines: [&[u8]; 4], present: usize, out: &mut [u8]));

#[inline(always)]
fn interleave_codes_body(q: &ActivationQuantization, lines: [&[u8]; 4], present: usize, out: &mut [u8]) {
    let zero = q.zero_code();
    for (x, word) in out.chunks_exact_mut(4).enumerate() {
        for (b, byte) in word.iter_mut().enumerate() {
            *byte = if b < present { shifted(q, lines[b][x]) } else { zero };
        }
    }
}

/// [`interleave_codes_body`] in vectors of 16 positions.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
fn interleave_codes_avx512(q: &ActivationQuantization, lines: [&[u8]; 4], present: usize, out: &mut [u8]) {
    use std::arch::x86_64::*;
    let len = out.len() / 4;
    assert!(lines.iter().take(present).all(|l| l.len() >= len));
    let flip = _mm512_set1_epi32(if q.signed { 0x80 } else { 0 });
    let absent = _mm512_set1_epi32(i32::from(q.zero_code()));
    let mut x = 0;
    while x < len {
        let mask: __mmask16 = if len - x >= 16 { 0xffff } else { (1u16 << (len - x)) - 1 };
        let mut word = _mm512_setzero_si512();
        for (b, line) in lines.iter().enumerate() {
            let c = if b < present {
                // SAFETY: the masked bytes lie inside the line (asserted above).
                let bytes = _mm512_castsi512_si128(unsafe {
                    _mm512_maskz_loadu_epi8(u64::from(mask), line.as_ptr().add(x).cast())
                });
                _mm512_xor_si512(_mm512_cvtepu8_epi32(bytes), flip)
            } else {
                absent
            };
            word = _mm512_or_si512(word, _mm512_sllv_epi32(c, _mm512_set1_epi32(8 * b as i32)));
        }
        // SAFETY: the masked words lie inside `out`.
        unsafe { _mm512_mask_storeu_epi32(out.as_mut_ptr().add(4 * x).cast(), mask, word) };
        x += 16;
    }
}

/// The conv input quantized (or its codes laid out) into the padded plane
/// `[C/4][H'][W'][4]` (u8 codes, the zero point's code in the padding and in the channels
/// past C).
fn quantize_plane(
    q: &ActivationQuantization,
    g: &crate::fused::ConvGeometry,
    plane: (usize, usize),
    input: Activation,
    out: &mut Vec<u8>,
) {
    let (c, h, w) = (g.channels as usize, g.height as usize, g.width as usize);
    let (pt, pl) = (g.pad_top as usize, g.pad_left as usize);
    let c4s = c.div_ceil(4);
    // Slack past the end: the pixel-vector kernel reads whole vectors past the last pixel.
    let group = plane.0 * plane.1 * 4;
    // Reused from call to call: a fresh buffer of this size would be fresh pages, each
    // faulted in and zeroed by the kernel.
    out.clear();
    out.resize(c4s * group + 4 * PIXELS, q.zero_code());
    let fill = |c4: usize, words: &mut [u8]| {
        let present = (c - 4 * c4).min(4);
        let line = |b: usize, y: usize| {
            let channel = (4 * c4 + b).min(c - 1);
            (channel * h + y) * w..(channel * h + y + 1) * w
        };
        for y in 0..h {
            let start = ((y + pt) * plane.1 + pl) * 4;
            let out = &mut words[start..start + 4 * w];
            match input {
                Activation::Floats(input) => {
                    let lines: [&[f32]; 4] = std::array::from_fn(|b| &input[line(b, y)]);
                    interleave(q, lines, present, out);
                }
                Activation::Codes(input) => {
                    let lines: [&[u8]; 4] = std::array::from_fn(|b| &input[line(b, y)]);
                    interleave_codes(q, lines, present, out);
                }
            }
        }
    };
    // Channel groups in parallel: quantizing divides every input value.
    if threads() > 1 && c4s > 1 {
        crate::microkernels::for_each_chunk_mut(&mut out[..c4s * group], group, fill);
    } else {
        out[..c4s * group]
            .chunks_mut(group)
            .enumerate()
            .for_each(|(c4, words)| fill(c4, words));
    }
}

/// The INT8 fused kernel entry point.
///
/// # Safety
/// The pointers must cover the shapes the descriptor gives: `weights` i8 (`[M, C, KH, KW]`
/// for a conv, `[K, N]` for a matmul; constants of the loaded model), `x` (the conv input
/// `[C, H, W]`, or the `[M, K]` rows with the descriptor's A strides) f32, or one-byte codes
/// when the quantization words say so, `out` `[M, N]` f32, or one-byte codes when they
/// give an output quantization, `w_scales` one f32 per output channel, and the epilogue
/// operands as in [`crate::fused`].
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
    // SAFETY: generated code passes the words of a `Q8Call` and a whole descriptor.
    let q_words = unsafe { *(quantization as *const [i64; Q8_CALL_WORDS]) };
    let call = Q8Call::decode(q_words);
    let q = call.input;
    // A batch of products is an f32 matmul's alone (the compiler never emits one here).
    let Some(d) = (unsafe { crate::fused::read_descriptor(descriptor) }).filter(|d| !d.batch.is_batched()) else {
        return;
    };
    let mut key = d.encode();
    key.extend(q_words);
    // SAFETY: as documented above.
    let p = unsafe { packed(&d, &q, weights, w_scales, key) };
    let (m, n) = (d.m as usize, d.n as usize);
    let conv = d.contraction == Contraction::Conv2d;
    let g = d.conv;
    // The activation bytes and each output pixel's (row's) base offset into them.
    let (act, bases): (Vec<u8>, Vec<usize>) = if conv {
        let input_len = (g.channels * g.height * g.width) as usize;
        // SAFETY: the conv input, f32 values or one-byte codes.
        let input = unsafe {
            if call.input_is_codes {
                Activation::Codes(std::slice::from_raw_parts(x as *const u8, input_len))
            } else {
                Activation::Floats(std::slice::from_raw_parts(x as *const f32, input_len))
            }
        };
        let mut plane = PLANE.with(|buffer| std::mem::take(&mut *buffer.borrow_mut()));
        quantize_plane(&q, &g, p.plane, input, &mut plane);
        let ow = g.out_w as usize;
        let bases = (0..n)
            .map(|pixel| (((pixel / ow) * g.stride_h as usize) * p.plane.1 + (pixel % ow) * g.stride_w as usize) * 4)
            .collect();
        (plane, bases)
    } else {
        let k = d.k as usize;
        let [a_row, a_col, _, _] = d.strides.map(|s| s as isize);
        let width = 4 * p.k4s;
        let mut codes_out = vec![q.zero_code(); m * width];
        let mut row = vec![0f32; k];
        for r in 0..m {
            let at = |kk: usize| r as isize * a_row + kk as isize * a_col;
            let codes_row = &mut codes_out[r * width..r * width + k];
            if call.input_is_codes {
                for (kk, code) in codes_row.iter_mut().enumerate() {
                    // SAFETY: A's element (r, kk) by its strides, one byte.
                    *code = shifted(&q, unsafe { *(x as *const u8).offset(at(kk)) });
                }
                continue;
            }
            for (kk, v) in row.iter_mut().enumerate() {
                // SAFETY: A's element (r, kk) by its strides.
                *v = unsafe { *(x as *const f32).offset(at(kk)) };
            }
            codes(&q, &row, codes_row);
        }
        (codes_out, (0..m).map(|r| r * width).collect())
    };
    let operands = Operands::new([e0, e1, e2], n);
    let out_addr = out as usize;
    // Codes out (a requantize epilogue) go through the f32 tile, then are quantized.
    let in_place = call.output.is_none() && !epilogue_reads_output(&d.epilogue, &operands, m, out_addr);
    // Output tiles in [M, N] coordinates: channels are rows of a conv's output and
    // columns of a matmul's. A tile spans whole channel blocks.
    let (channel_step, row_step) = (2 * NR, 8 * MR);
    let (rows, cols) = if conv {
        // The pixel-vector kernel runs along output rows: a tile of whole rows keeps its
        // vectors full (a 64-pixel tile over rows of 56 took blocks of 32, 24 and 8).
        let ow = g.out_w as usize;
        if p.rows.is_some() && !pixels_contiguous(&d) {
            (channel_step, ow * (row_step / ow).max(1))
        } else {
            (channel_step, row_step)
        }
    } else {
        (row_step, channel_step)
    };
    let mut tiles = Vec::new();
    for r0 in (0..m).step_by(rows) {
        for c0 in (0..n).step_by(cols) {
            tiles.push((r0, rows.min(m - r0), c0, cols.min(n - c0)));
        }
    }
    // The pixel-vector kernel applies the commonest epilogues as it stores.
    let store_epilogue = p.rows.as_ref().and_then(|_| StoreEpilogue::of(&d.epilogue, &operands));
    let run_tile = |(r0, rows, c0, cols): (usize, usize, usize, usize)| {
        PRODUCT.with(|product| {
            let product = &mut *product.borrow_mut();
            let (dst, dst_row): (&mut [f32], usize) = if in_place {
                // SAFETY: the tile lies inside the dense `[M, N]` output; tiles do not overlap.
                (
                    unsafe {
                        std::slice::from_raw_parts_mut((out_addr as *mut f32).add(r0 * n + c0), (rows - 1) * n + cols)
                    },
                    n,
                )
            } else {
                product.resize(rows * cols, 0.0);
                (&mut product[..], cols)
            };
            // Conv: channels r0.., pixels c0..; matmul: rows r0.., channels c0...
            let (ch0, chs, p0, ps) = if conv {
                (r0, rows, c0, cols)
            } else {
                (c0, cols, r0, rows)
            };
            if let Some(weight_rows) = &p.rows {
                let contiguous = pixels_contiguous(&d);
                let ow = g.out_w as usize;
                // The tile's pixels in runs within output rows (one run when the plane's
                // pixels are consecutive across rows), each block of pixels against all
                // the tile's channels: the block's plane words stay in the L1 cache while
                // the weight rows stream past them.
                let mut pixel = c0;
                while pixel < c0 + cols {
                    let (y, x) = if contiguous {
                        (0, pixel)
                    } else {
                        (pixel / ow, pixel % ow)
                    };
                    let run = if contiguous {
                        c0 + cols - pixel
                    } else {
                        (ow - x).min(c0 + cols - pixel)
                    };
                    for x0 in (0..run).step_by(PIXELS) {
                        let width = PIXELS.min(run - x0);
                        let base = (y * g.stride_h as usize * p.plane.1 + x + x0) * 4;
                        for m0 in (r0..r0 + rows).step_by(CHANNELS) {
                            let channels = CHANNELS.min(r0 + rows - m0);
                            let target = dst[(m0 - r0) * dst_row + pixel + x0 - c0..].as_mut_ptr();
                            let block = PixelBlock {
                                plane: act.as_ptr(),
                                base,
                                offsets: &p.offsets,
                                weights: weight_rows,
                                k4s: p.k4s,
                                m0,
                                channels,
                                terms: &p.terms,
                                scales: &p.scales,
                                dst: target,
                                dst_row,
                                width,
                                column: pixel + x0,
                                epilogue: store_epilogue,
                            };
                            // SAFETY: every window word of the run lies in the plane (with
                            // its slack); the rows and pixels written lie inside the tile.
                            unsafe {
                                #[cfg(target_arch = "x86_64")]
                                if has_vnni() {
                                    pixel_block_vnni(&block);
                                    continue;
                                }
                                #[cfg(target_arch = "x86_64")]
                                if is_x86_feature_detected!("avx2") {
                                    pixel_block_avx2(&block);
                                    continue;
                                }
                                pixel_block_portable(&block);
                            }
                        }
                    }
                    pixel += run;
                }
            }
            let mut acc = [[0i32; NR]; MR];
            for blk in ((ch0 / NR)..(ch0 + chs).div_ceil(NR)).filter(|_| p.rows.is_none()) {
                let panel = p.panels[blk * p.k4s * NR * 4..].as_ptr();
                for g0 in (p0..p0 + ps).step_by(MR) {
                    let count = MR.min(p0 + ps - g0);
                    // Missing rows repeat the last one (computed, not written).
                    let row_bases: [usize; MR] = std::array::from_fn(|i| bases[g0 + i.min(count - 1)]);
                    // SAFETY: bases and offsets stay inside `act` (the plane covers every
                    // window; code rows are 4·k4s long), and the panel holds k4s groups.
                    unsafe { block(act.as_ptr(), &row_bases, &p.offsets, panel, &mut acc) };
                    // The block's channels inside the tile, then the scaled values.
                    let (first, last) = (ch0.max(blk * NR), (ch0 + chs).min((blk + 1) * NR));
                    let (terms, scales) = (&p.terms[first..last], &p.scales[first..last]);
                    if conv {
                        for (j, (&term, &scale)) in terms.iter().zip(scales).enumerate() {
                            let lane = first - blk * NR + j;
                            let out = &mut dst[(first + j - r0) * dst_row + g0 - c0..][..count];
                            for (o, lanes) in out.iter_mut().zip(&acc) {
                                *o = (lanes[lane] - term) as f32 * scale;
                            }
                        }
                    } else {
                        for (i, lanes) in acc.iter().enumerate().take(count) {
                            let out = &mut dst[(g0 + i - r0) * dst_row + first - c0..][..last - first];
                            let lanes = &lanes[first - blk * NR..last - blk * NR];
                            for ((o, &v), (&term, &scale)) in out.iter_mut().zip(lanes).zip(terms.iter().zip(scales)) {
                                *o = (v - term) as f32 * scale;
                            }
                        }
                    }
                }
            }
            for r in 0..rows {
                let row = &mut dst[r * dst_row..r * dst_row + cols];
                if store_epilogue.is_none() {
                    epilogue_row(&d.epilogue, &operands, r0 + r, c0, row);
                }
                if let Some(out_q) = &call.output {
                    // SAFETY: the tile's row inside the `[M, N]` output of one-byte codes.
                    let target =
                        unsafe { std::slice::from_raw_parts_mut((out_addr as *mut u8).add((r0 + r) * n + c0), cols) };
                    codes(out_q, row, target);
                    if out_q.signed {
                        target.iter_mut().for_each(|code| *code ^= 0x80);
                    }
                } else if !in_place {
                    // SAFETY: as above.
                    let target =
                        unsafe { std::slice::from_raw_parts_mut((out_addr as *mut f32).add((r0 + r) * n + c0), cols) };
                    target.copy_from_slice(row);
                }
            }
        });
    };
    crate::microkernels::for_each_item(tiles, run_tile);
    if conv {
        PLANE.with(|buffer| *buffer.borrow_mut() = act);
    }
}

thread_local! {
    static PRODUCT: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// The calling thread's conv plane, kept for the next call.
    static PLANE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Calls the kernel on buffers (for tests): `bias` is the epilogue's first operand.
#[cfg(test)]
fn call_into(
    q: ActivationQuantization,
    d: &Descriptor,
    w: &[i8],
    x: &[f32],
    scales: &[f32],
    bias: &[f32],
    out: &mut [f32],
) {
    assert_eq!(out.len(), (d.m * d.n) as usize);
    let call = Q8Call {
        input: q,
        input_is_codes: false,
        output: None,
    };
    // SAFETY: every buffer covers the descriptor's shapes (the tests build them so).
    unsafe { call_raw(&call, d, w, x.as_ptr().cast(), scales, bias, out.as_mut_ptr().cast()) }
}

/// Calls the kernel with the activation and output at `x` and `out`, of the types `call`
/// says.
///
/// # Safety
/// The buffers cover the descriptor's shapes in those types.
#[cfg(test)]
unsafe fn call_raw(call: &Q8Call, d: &Descriptor, w: &[i8], x: *const u8, scales: &[f32], bias: &[f32], out: *mut u8) {
    let (words, qw) = (d.encode(), call.encode());
    // SAFETY: as the caller promises.
    unsafe {
        fuser_fused_q8(
            qw.as_ptr() as i64,
            words.as_ptr() as i64,
            w.as_ptr() as i64,
            x as i64,
            out as i64,
            scales.as_ptr() as i64,
            bias.as_ptr() as i64,
            0,
            0,
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::{ConvGeometry, Step};

    /// A small deterministic generator (tests must not depend on a crate's stream).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
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
        let mut out = vec![f32::NAN; (d.m * d.n) as usize];
        call_into(q, d, w, x, scales, bias, &mut out);
        out
    }

    /// The definition, computed directly: exact integer sums of (code - zero) · w, scaled
    /// once, then bias and ReLU; strided, dilated and padded windows, K not a multiple of 4.
    #[test]
    fn conv_matches_its_definition_for_both_activation_types() {
        let mut rng = Lcg(7);
        let geometry = |width: i64, stride_w: i64, dilation_w: i64, pad_left: i64| {
            let (height, kernel_h, kernel_w, stride_h, pad_top) = (7i64, 3i64, 2i64, 2i64, 1i64);
            ConvGeometry {
                channels: 5,
                height,
                width,
                kernel_h,
                kernel_w,
                out_h: (height + 2 * pad_top - kernel_h) / stride_h + 1,
                out_w: (width + 2 * pad_left - dilation_w * (kernel_w - 1) - 1) / stride_w + 1,
                stride_h,
                stride_w,
                dilation_h: 1,
                dilation_w,
                pad_top,
                pad_left,
            }
        };
        // Rows of 16 or more output pixels take the pixel-vector kernel (stride 1 along the
        // width), the others the channel-vector one. Its tiles are whole rows: rows of 19
        // give tiles of three rows and a partial last tile, rows of 71 one row a tile; 70
        // output channels span two channel tiles.
        for g in [
            geometry(9, 1, 1, 0),
            geometry(9, 2, 2, 1),
            geometry(9, 3, 1, 2),
            geometry(40, 1, 2, 1),
            geometry(20, 1, 1, 0),
            geometry(70, 1, 1, 1),
        ] {
            let (f, k) = (if g.width == 70 { 70usize } else { 37usize }, 30usize);
            let n = (g.out_h * g.out_w) as usize;
            let d = Descriptor {
                contraction: Contraction::Conv2d,
                m: f as i64,
                n: n as i64,
                k: k as i64,
                strides: [k as i64, 1, n as i64, 1],
                conv: g,
                batch: crate::fused::Batch::default(),
                constant_weights: 0,
                layout: crate::fused::Layout::default(),
                epilogue: vec![Step::AddRow(0), Step::Relu],
            };
            let (w, x) = (
                rng.weights(f * k),
                rng.floats((g.channels * g.height * g.width) as usize, 2.0),
            );
            let (scales, bias) = (rng.floats(f, 0.01), rng.floats(f, 1.0));
            for q in [
                ActivationQuantization {
                    scale: 0.017,
                    zero_point: 121,
                    signed: false,
                },
                ActivationQuantization {
                    scale: 0.013,
                    zero_point: -9,
                    signed: true,
                },
            ] {
                let out = call(q, &d, &w, &x, &scales, &bias);
                let code = |v: f32| {
                    let (lo, hi) = if q.signed { (-128.0, 127.0) } else { (0.0, 255.0) };
                    ((v / q.scale).round_ties_even() + q.zero_point as f32).clamp(lo, hi) as i64 - q.zero_point
                };
                for m in 0..f {
                    for p in 0..n {
                        let (y, xo) = (p as i64 / g.out_w, p as i64 % g.out_w);
                        let mut sum = 0i64;
                        for c in 0..5i64 {
                            for i in 0..3i64 {
                                for j in 0..2i64 {
                                    let iy = y * g.stride_h - g.pad_top + i;
                                    let ix = xo * g.stride_w - g.pad_left + j * g.dilation_w;
                                    if (0..g.height).contains(&iy) && (0..g.width).contains(&ix) {
                                        let wv = w[m * k + ((c * 3 + i) * 2 + j) as usize] as i64;
                                        sum += wv * code(x[((c * g.height + iy) * g.width + ix) as usize]);
                                    }
                                }
                            }
                        }
                        let want = (sum as f32 * (q.scale * scales[m]) + bias[m]).max(0.0);
                        assert_eq!(out[m * n + p], want, "channel {m}, pixel {p}, {q:?}, {g:?}");
                    }
                }
            }
        }
    }

    /// A 1×1 unpadded conv takes the pixel-vector kernel: channel counts and pixel counts
    /// that fill no vector or block exactly.
    #[test]
    fn pointwise_conv_matches_its_definition() {
        let mut rng = Lcg(5);
        let (c, f, h, w) = (7usize, 11usize, 5usize, 9usize);
        let n = h * w;
        let g = ConvGeometry {
            channels: c as i64,
            height: h as i64,
            width: w as i64,
            kernel_h: 1,
            kernel_w: 1,
            out_h: h as i64,
            out_w: w as i64,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: 0,
            pad_left: 0,
        };
        let d = Descriptor {
            contraction: Contraction::Conv2d,
            m: f as i64,
            n: n as i64,
            k: c as i64,
            strides: [c as i64, 1, n as i64, 1],
            conv: g,
            batch: crate::fused::Batch::default(),
            constant_weights: 0,
            layout: crate::fused::Layout::default(),
            epilogue: vec![Step::AddRow(0), Step::Relu],
        };
        assert!(pixels_contiguous(&d));
        let (wt, x) = (rng.weights(f * c), rng.floats(c * n, 2.0));
        let (scales, bias) = (rng.floats(f, 0.01), rng.floats(f, 1.0));
        let q = ActivationQuantization {
            scale: 0.021,
            zero_point: 100,
            signed: false,
        };
        let out = call(q, &d, &wt, &x, &scales, &bias);
        for m in 0..f {
            for p in 0..n {
                let sum: i64 = (0..c)
                    .map(|ch| {
                        let code = ((x[ch * n + p] / q.scale).round_ties_even() + 100.0).clamp(0.0, 255.0) as i64 - 100;
                        code * wt[m * c + ch] as i64
                    })
                    .sum();
                assert_eq!(
                    out[m * n + p],
                    (sum as f32 * (q.scale * scales[m]) + bias[m]).max(0.0),
                    "channel {m}, pixel {p}"
                );
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
            batch: crate::fused::Batch::default(),
            constant_weights: 0,
            layout: crate::fused::Layout::default(),
            epilogue: vec![Step::AddColumn(0)],
        };
        let (w, x) = (rng.weights(k * n), rng.floats(m * k, 3.0));
        let (scales, bias) = (rng.floats(n, 0.01), rng.floats(n, 1.0));
        let q = ActivationQuantization {
            scale: 0.025,
            zero_point: 128,
            signed: false,
        };
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

    /// An activation that arrives as codes gives what its f32 values give, and a
    /// requantize epilogue writes the codes of the f32 output: conv (both kernels) and
    /// matmul, u8 and i8.
    #[test]
    fn codes_in_and_out_match_the_float_path() {
        let mut rng = Lcg(11);
        let geometry = |width: i64, stride_w: i64| ConvGeometry {
            channels: 6,
            height: 5,
            width,
            kernel_h: 3,
            kernel_w: 3,
            out_h: 5,
            out_w: (width + 2 - 3) / stride_w + 1,
            stride_h: 1,
            stride_w,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: 1,
            pad_left: 1,
        };
        let convs = [geometry(40, 1), geometry(9, 2)].map(|g| {
            let (n, k) = ((g.out_h * g.out_w) as usize, 54usize);
            let x_len = (g.channels * g.height * g.width) as usize;
            (
                Descriptor {
                    contraction: Contraction::Conv2d,
                    m: 11,
                    n: n as i64,
                    k: k as i64,
                    strides: [k as i64, 1, n as i64, 1],
                    conv: g,
                    batch: crate::fused::Batch::default(),
                    constant_weights: 0,
                    layout: crate::fused::Layout::default(),
                    epilogue: vec![Step::AddRow(0), Step::Relu],
                },
                x_len,
            )
        });
        let matmul = Descriptor {
            contraction: Contraction::Matmul,
            m: 7,
            n: 19,
            k: 13,
            strides: [13, 1, 19, 1],
            conv: ConvGeometry::default(),
            batch: crate::fused::Batch::default(),
            constant_weights: 0,
            layout: crate::fused::Layout::default(),
            epilogue: vec![Step::AddColumn(0)],
        };
        for (d, x_len) in convs.into_iter().chain([(matmul, 7 * 13)]) {
            let conv = d.contraction == Contraction::Conv2d;
            let channels = if conv { d.m } else { d.n } as usize;
            let (w, x) = (rng.weights((d.m * d.k).max(d.k * d.n) as usize), rng.floats(x_len, 2.0));
            let (scales, bias) = (rng.floats(channels, 0.01), rng.floats(channels, 0.5));
            for signed in [false, true] {
                let q = ActivationQuantization {
                    scale: 0.019,
                    zero_point: if signed { -5 } else { 130 },
                    signed,
                };
                let out_q = ActivationQuantization {
                    scale: 0.004,
                    zero_point: if signed { 3 } else { 17 },
                    signed,
                };
                let floats = call(q, &d, &w, &x, &scales, &bias);
                // The activation's codes, as the type's bytes.
                let mut x_codes = vec![0u8; x_len];
                codes(&q, &x, &mut x_codes);
                x_codes.iter_mut().for_each(|c| *c = shifted(&q, *c));
                let mut from_codes = vec![f32::NAN; floats.len()];
                let mut codes_out = vec![0u8; floats.len()];
                let calls = [
                    (true, None, from_codes.as_mut_ptr().cast::<u8>()),
                    (false, Some(out_q), codes_out.as_mut_ptr()),
                ];
                for (input_is_codes, output, out) in calls {
                    let call = Q8Call {
                        input: q,
                        input_is_codes,
                        output,
                    };
                    let x_ptr = if input_is_codes {
                        x_codes.as_ptr()
                    } else {
                        x.as_ptr().cast()
                    };
                    // SAFETY: the buffers cover the shapes in the types `call` says.
                    unsafe { call_raw(&call, &d, &w, x_ptr, &scales, &bias, out) };
                }
                assert_eq!(from_codes, floats, "{:?} signed {signed}", d.contraction);
                let mut expected = vec![0u8; floats.len()];
                codes(&out_q, &floats, &mut expected);
                expected.iter_mut().for_each(|c| *c = shifted(&out_q, *c));
                assert_eq!(codes_out, expected, "{:?} signed {signed}", d.contraction);
            }
        }
    }

    /// The vector quantizers give the scalar ones' codes: ties, bounds, infinities, NaN.
    #[test]
    fn vector_codes_match_scalar_codes() {
        let (avx512, avx2) = (has_vnni(), is_x86_feature_detected!("avx2"));
        let mut rng = Lcg(5);
        let mut values = rng.floats(200, 6.0);
        values.extend([
            0.5,
            1.5,
            2.5,
            -0.5,
            -1.5,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e9,
            -1e9,
            -0.0,
        ]);
        for q in [
            ActivationQuantization {
                scale: 0.5,
                zero_point: 3,
                signed: false,
            },
            ActivationQuantization {
                scale: 0.03,
                zero_point: -7,
                signed: true,
            },
        ] {
            // NaN quantizes to the integer 0, as the reference's quantize gives.
            assert_eq!(q.code(f32::NAN), if q.signed { 128 } else { 0 });
            let (mut scalar, mut vector) = (vec![0u8; values.len()], vec![1u8; values.len()]);
            codes_body(&q, &values, &mut scalar);
            // SAFETY (every vector call): the CPU has the tier's features (checked).
            if avx512 {
                unsafe { codes_avx512(&q, &values, &mut vector) };
                assert_eq!(scalar, vector);
            }
            if avx2 {
                vector.fill(1);
                unsafe { codes_avx2(&q, &values, &mut vector) };
                assert_eq!(scalar, vector);
            }
            let float_lines: [&[f32]; 4] = std::array::from_fn(|b| &values[b * 50..b * 50 + 40]);
            for present in 1..=4 {
                let (mut scalar, mut vector) = (vec![0u8; 4 * 40], vec![1u8; 4 * 40]);
                interleave_body(&q, float_lines, present, &mut scalar);
                if avx512 {
                    unsafe { interleave_avx512(&q, float_lines, present, &mut vector) };
                    assert_eq!(scalar, vector, "floats, present {present}");
                }
                if avx2 {
                    vector.fill(1);
                    unsafe { interleave_avx2(&q, float_lines, present, &mut vector) };
                    assert_eq!(scalar, vector, "floats, present {present}");
                }
            }
            let bytes: Vec<u8> = (0..=255u8).cycle().take(37).collect();
            let lines = [&bytes[..], &bytes[1..], &bytes[2..], &bytes[3..]];
            for present in 1..=4 {
                let (mut scalar, mut vector) = (vec![0u8; 4 * 33], vec![1u8; 4 * 33]);
                interleave_codes_body(&q, lines, present, &mut scalar);
                if avx512 {
                    unsafe { interleave_codes_avx512(&q, lines, present, &mut vector) };
                    assert_eq!(scalar, vector, "present {present}");
                }
                if avx2 {
                    vector.fill(1);
                    unsafe { interleave_codes_avx2(&q, lines, present, &mut vector) };
                    assert_eq!(scalar, vector, "present {present}");
                }
            }
        }
    }

    /// The VNNI block and the portable one agree exactly (when the CPU has VNNI).
    #[test]
    fn vnni_and_portable_blocks_agree() {
        let mut rng = Lcg(3);
        let k4s = 9;
        let mut act: Vec<u8> = rng.weights(4 * k4s * MR + 64).iter().map(|&v| v as u8).collect();
        let mut panel: Vec<u8> = rng.weights(k4s * NR * 4).iter().map(|&v| v as u8).collect();
        // Extreme bytes: row 0's first word is 255s, channels 0 to 3 weigh it by -128
        // (pairs of 255 × -128 saturate 16 bits).
        act[..4].fill(255);
        panel[..16].fill(0x80);
        let bases: [usize; MR] = std::array::from_fn(|r| (r * 37) % 50);
        let offsets: Vec<u32> = (0..k4s as u32).map(|k4| (k4 * 4 + k4 % 3) % 20).collect();
        let mut a = [[1i32; NR]; MR];
        // SAFETY (all calls): bases + offsets + 4 stay below 4·k4s·MR.
        unsafe { block_portable(act.as_ptr(), &bases, &offsets, panel.as_ptr(), &mut a) };
        if has_vnni() {
            let mut b = [[2i32; NR]; MR];
            unsafe { block_vnni(act.as_ptr(), &bases, &offsets, panel.as_ptr(), &mut b) };
            assert_eq!(a, b);
        }
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") {
            let mut b = [[3i32; NR]; MR];
            unsafe { block_avx2(act.as_ptr(), &bases, &offsets, panel.as_ptr(), &mut b) };
            assert_eq!(a, b);
        }
    }

    /// The pixel-vector kernel with VNNI and without agree exactly, a partial block too,
    /// and the epilogues they apply as they store give what the epilogue pass gives
    /// (NaN, signed zeros and clip bounds included).
    #[test]
    fn vnni_and_portable_pixel_blocks_agree() {
        let mut rng = Lcg(9);
        let (k4s, channels) = (7, 5);
        let mut plane: Vec<u8> = rng.weights(4 * PIXELS * (k4s + 2)).iter().map(|&v| v as u8).collect();
        let mut weights: Vec<u8> = rng.weights(CHANNELS * k4s * 4).iter().map(|&v| v as u8).collect();
        let offsets: Vec<u32> = (0..k4s as u32).map(|k4| k4 * 4 * PIXELS as u32 + k4 % 3 * 4).collect();
        // Extreme bytes: pixel 0's first word is 255s, which channel 0 weighs by -128
        // (pairs of 255 × -128 saturate 16 bits). The blocks below start at byte 8.
        plane[8 + offsets[0] as usize..][..4].fill(255);
        weights[..4].fill(0x80);
        let terms: Vec<i32> = (0..CHANNELS as i32).map(|c| c * 37 - 50).collect();
        let scales = rng.floats(CHANNELS, 0.01);
        // Output columns: the block sits at column 3 of a row of `n`.
        let (n, column) = (PIXELS + 5, 3);
        let bias: Vec<f32> = [0.25, -0.0, f32::NAN, -0.5, 1.5, 0.0, 2.0, -1.0].to_vec();
        let mut residual = rng.floats(CHANNELS * n, 1.0);
        residual[column + 2] = f32::NAN;
        residual[n + column] = -0.0;
        let operands = Operands::new([bias.as_ptr() as i64, residual.as_ptr() as i64, 0], n);
        let chains: [&[Step]; 6] = [
            &[],
            &[Step::AddRow(0)],
            &[Step::AddRow(0), Step::Relu],
            &[Step::AddRow(0), Step::AddFull(1), Step::Relu],
            &[Step::AddFull(1), Step::Clip(-0.1, 0.2)],
            &[Step::Relu],
        ];
        for steps in chains {
            let epilogue = StoreEpilogue::of(steps, &operands);
            assert!(epilogue.is_some(), "{steps:?}");
            // Widths whose last vector stores 5, 6 and 7 lanes (pieces of 4, 2 and 1).
            for width in [PIXELS, 21, 14, 7] {
                let block = |dst: *mut f32, epilogue: Option<StoreEpilogue>| PixelBlock {
                    plane: plane.as_ptr(),
                    base: 8,
                    offsets: &offsets,
                    weights: &weights,
                    k4s,
                    m0: 0,
                    channels,
                    terms: &terms,
                    scales: &scales,
                    dst,
                    dst_row: PIXELS,
                    width,
                    column,
                    epilogue,
                };
                // The product, then the epilogue pass over each row.
                let mut expected = vec![0f32; CHANNELS * PIXELS];
                // SAFETY (all calls): every read stays inside `plane`, `weights` and the
                // operands; `dst` holds CHANNELS rows of PIXELS.
                unsafe { pixel_block_portable(&block(expected.as_mut_ptr(), None)) };
                for r in 0..channels {
                    epilogue_row(
                        steps,
                        &operands,
                        r,
                        column,
                        &mut expected[r * PIXELS..r * PIXELS + width],
                    );
                }
                let mut portable = vec![7f32; CHANNELS * PIXELS];
                unsafe { pixel_block_portable(&block(portable.as_mut_ptr(), epilogue)) };
                let mut results = vec![portable];
                if has_vnni() {
                    let mut vnni = vec![9f32; CHANNELS * PIXELS];
                    unsafe { pixel_block_vnni(&block(vnni.as_mut_ptr(), epilogue)) };
                    results.push(vnni);
                }
                #[cfg(target_arch = "x86_64")]
                if is_x86_feature_detected!("avx2") {
                    let mut avx2 = vec![11f32; CHANNELS * PIXELS];
                    unsafe { pixel_block_avx2(&block(avx2.as_mut_ptr(), epilogue)) };
                    results.push(avx2);
                }
                for got in &results {
                    for r in 0..channels {
                        let bits = |v: &[f32]| {
                            v.iter()
                                .map(|x| if x.is_nan() { u32::MAX } else { x.to_bits() })
                                .collect::<Vec<_>>()
                        };
                        assert_eq!(
                            bits(&got[r * PIXELS..r * PIXELS + width]),
                            bits(&expected[r * PIXELS..r * PIXELS + width]),
                            "{steps:?}, row {r}, width {width}"
                        );
                    }
                    // Nothing past the block's pixels or channels is written: those keep
                    // the value the buffer was filled with (7, 9 or 11 above; the last
                    // row lies past the block's channels).
                    let fill = got[CHANNELS * PIXELS - 1];
                    assert!(channels < CHANNELS && [7.0, 9.0, 11.0].contains(&fill));
                    for r in 0..CHANNELS {
                        let from = if r < channels { r * PIXELS + width } else { r * PIXELS };
                        let tail = &got[from..(r + 1) * PIXELS];
                        assert!(tail.iter().all(|&v| v == fill), "{steps:?}, row {r}, width {width}");
                    }
                }
            }
        }
        // Chains of another form are left to the epilogue pass.
        assert!(StoreEpilogue::of(&[Step::AddRow(0), Step::Sigmoid], &operands).is_none());
        assert!(StoreEpilogue::of(&[Step::Relu, Step::AddRow(0)], &operands).is_none());
    }
}

#[cfg(test)]
mod timing {
    use super::*;
    use crate::fused::ConvGeometry;

    /// Not a test: `cargo test --release -p fuser-runtime q8_timing -- --ignored --nocapture`
    /// prints how long one conv takes (the best of Q8_RUNS runs), for working on the
    /// kernel; Q8_THREADS and Q8_CASE narrow it.
    #[test]
    #[ignore]
    fn q8_timing() {
        // Q8_CASE=i times only the i-th shape; Q8_SHAPE=c,f,h,w,k times that one instead
        // (channels in and out, height, width, square kernel).
        let mut shapes = vec![
            (64usize, 256usize, 56usize, 56usize, 1usize),
            (256, 64, 56, 56, 1),
            (64, 64, 56, 56, 3),
            (512, 512, 7, 7, 3),
        ];
        if let Ok(shape) = std::env::var("Q8_SHAPE") {
            let v: Vec<usize> = shape
                .split(',')
                .map(|d| d.parse().expect("Q8_SHAPE=c,f,h,w,k"))
                .collect();
            shapes = vec![(v[0], v[1], v[2], v[3], v[4])];
        }
        for (_, (c, f, height, width, kk)) in shapes
            .into_iter()
            .enumerate()
            .filter(|(i, _)| std::env::var("Q8_CASE").map_or(true, |c| c == i.to_string()))
        {
            let g = ConvGeometry {
                channels: c as i64,
                height: height as i64,
                width: width as i64,
                kernel_h: kk as i64,
                kernel_w: kk as i64,
                out_h: height as i64,
                out_w: width as i64,
                stride_h: 1,
                stride_w: 1,
                dilation_h: 1,
                dilation_w: 1,
                pad_top: (kk / 2) as i64,
                pad_left: (kk / 2) as i64,
            };
            let (k, n) = (c * kk * kk, height * width);
            let d = Descriptor {
                contraction: Contraction::Conv2d,
                m: f as i64,
                n: n as i64,
                k: k as i64,
                strides: [k as i64, 1, n as i64, 1],
                conv: g,
                batch: crate::fused::Batch::default(),
                constant_weights: 0,
                layout: crate::fused::Layout::default(),
                epilogue: vec![],
            };
            let w = vec![3i8; f * k];
            let x: Vec<f32> = (0..c * height * width).map(|i| (i % 17) as f32 * 0.1).collect();
            let scales = vec![0.01f32; f];
            let q = ActivationQuantization {
                scale: 0.02,
                zero_point: 3,
                signed: false,
            };
            let mut out = vec![0f32; f * n];
            // Warm the weight cache first, then time one thread and all (the epilogue is
            // empty: no bias is read).
            call_into(q, &d, &w, &x, &scales, &[], &mut out);
            crate::microkernels::set_threads(
                std::env::var("Q8_THREADS")
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0),
            );
            // The best of the runs: this machine's noise only ever adds time.
            let runs: usize = std::env::var("Q8_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(20);
            let s = (0..runs)
                .map(|_| {
                    let start = std::time::Instant::now();
                    call_into(q, &d, &w, &x, &scales, &[], &mut out);
                    start.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min);
            eprintln!(
                "{c}->{f} {kk}x{kk} at {height}x{width}: {:.3} ms, {:.1} GMAC/s",
                s * 1e3,
                (f * k * n) as f64 / s / 1e9
            );
        }
    }

    /// Not a test: `cargo test --release -p fuser-runtime vnni_block_timing -- --ignored
    /// --nocapture` prints, in `vpdpbusd` per second on one thread (the best of runs):
    /// the instruction's peak (12 independent accumulators, no loads), then the
    /// pixel-vector block of a 3×3 conv, 64 channels in and out at 56×56, over a whole
    /// plane, and with its plane words and weights all in the L1 cache (every group read
    /// from the first one, every block's weights from the first rows). What the block
    /// loses to the caches is the difference of the last two.
    #[test]
    #[ignore]
    fn vnni_block_timing() {
        #[cfg(target_arch = "x86_64")]
        if has_vnni() {
            // SAFETY: the CPU has the features (checked).
            let (count, seconds) = unsafe { dpbusd_peak() };
            eprintln!("peak: {:.2} G vpdpbusd/s", count as f64 / seconds / 1e9);
            for (label, whole_plane) in [("whole plane", true), ("all in L1", false)] {
                // SAFETY: the CPU has the features (checked).
                let (count, seconds) = unsafe { pixel_blocks(whole_plane) };
                eprintln!(
                    "pixel blocks, {label}: {:.2} G vpdpbusd/s",
                    count as f64 / seconds / 1e9
                );
            }
        }
    }

    /// The best of 5 runs: `vpdpbusd` executed, seconds.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn dpbusd_peak() -> (usize, f64) {
        use std::arch::x86_64::*;
        // Opaque operands: nothing for the compiler to fold.
        let a = std::hint::black_box(_mm512_set1_epi32(0x0101_0101));
        let b = std::hint::black_box(_mm512_set1_epi32(0x0203_0405));
        crate::register_tiled::tests::independent_chains!(_mm512_setzero_si512(), |v| _mm512_dpbusd_epi32(*v, a, b))
    }

    /// The best of 5 runs of the pixel-vector blocks of one conv (see
    /// [`vnni_block_timing`]): `vpdpbusd` executed, seconds.
    ///
    /// # Safety
    /// The CPU has AVX-512 VNNI.
    unsafe fn pixel_blocks(whole_plane: bool) -> (usize, f64) {
        let (c4s, taps, h, w, m) = (16usize, 9usize, 56usize, 56usize, 64usize);
        let (ph, pw) = (h + 2, w + 2);
        let k4s = c4s * taps;
        let plane = vec![1u8; c4s * ph * pw * 4 + 4 * PIXELS];
        let weights = vec![1u8; m * k4s * 4];
        let offsets: Vec<u32> = (0..k4s)
            .map(|k4| {
                let (c4, tap) = (if whole_plane { k4 / taps } else { 0 }, k4 % taps);
                (((c4 * ph + tap / 3) * pw + tap % 3) * 4) as u32
            })
            .collect();
        let (terms, scales) = (vec![0i32; m], vec![1f32; m]);
        let mut dst = vec![0f32; m * h * w];
        let blocks = |m0: usize, y: usize, x0: usize, dst: &mut [f32]| PixelBlock {
            plane: plane.as_ptr(),
            base: (y * pw + x0) * 4,
            offsets: &offsets,
            weights: &weights,
            k4s,
            m0: if whole_plane { m0 } else { 0 },
            channels: CHANNELS,
            terms: &terms,
            scales: &scales,
            dst: dst[m0 * h * w + y * w + x0..].as_mut_ptr(),
            dst_row: h * w,
            width: PIXELS.min(w - x0),
            column: y * w + x0,
            epilogue: None,
        };
        let best = (0..5)
            .map(|_| {
                let start = std::time::Instant::now();
                for y in 0..h {
                    for x0 in (0..w).step_by(PIXELS) {
                        for m0 in (0..m).step_by(CHANNELS) {
                            let block = blocks(m0, y, x0, &mut dst);
                            // SAFETY: the CPU has VNNI (the caller promises); the plane's
                            // slack (PIXELS words) covers the reads past its last window; the
                            // weights hold m rows of k4s words; dst holds [m][h·w].
                            #[cfg(target_arch = "x86_64")]
                            unsafe {
                                pixel_block_vnni(&block)
                            };
                        }
                    }
                }
                start.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        (h * w.div_ceil(PIXELS) * (m / CHANNELS) * k4s * 16, best)
    }
}
