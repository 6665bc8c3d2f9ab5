//! The channel-blocked layout of [`crate::fused::Layout`]: the copies between it and the
//! plain `[M, N]` one, the epilogue over blocked values, and the fused call of any
//! contraction through plain copies (for the paths that do not read or write blocked
//! tensors themselves).

use crate::fused::{Descriptor, Layout, Operands, Step};

/// Channels in a block: one AVX2 vector.
pub(crate) const LANES: usize = 8;

/// Where element `(r, c)` of an `[M, N]` matrix lies in its blocked layout.
#[inline(always)]
pub(crate) fn blocked_index(r: usize, c: usize, n: usize) -> usize {
    (r / LANES) * n * LANES + c * LANES + r % LANES
}

/// `plain` (`[m][n]`, `m` a multiple of 8) in the blocked layout, into `blocked`.
pub(crate) fn block(plain: &[f32], m: usize, n: usize, blocked: &mut [f32]) {
    assert!(m.is_multiple_of(LANES) && plain.len() >= m * n && blocked.len() >= m * n);
    for (rb, slab) in blocked[..m * n].chunks_exact_mut(n * LANES).enumerate() {
        for (c, lanes) in slab.chunks_exact_mut(LANES).enumerate() {
            for (lane, value) in lanes.iter_mut().enumerate() {
                *value = plain[(rb * LANES + lane) * n + c];
            }
        }
    }
}

/// `blocked` (an `[m][n]` matrix in the blocked layout) as plain `[m][n]`, into `plain`.
pub(crate) fn unblock(blocked: &[f32], m: usize, n: usize, plain: &mut [f32]) {
    assert!(m.is_multiple_of(LANES) && plain.len() >= m * n && blocked.len() >= m * n);
    for (rb, slab) in blocked[..m * n].chunks_exact(n * LANES).enumerate() {
        for (c, lanes) in slab.chunks_exact(LANES).enumerate() {
            for (lane, value) in lanes.iter().enumerate() {
                plain[(rb * LANES + lane) * n + c] = *value;
            }
        }
    }
}

/// Whether `d`'s layout is one its call can honour: nothing blocked, or a windowed
/// contraction (conv, depthwise conv, pooling) with a non-empty input and output whose
/// blocked tensors have a multiple of 8 channels and whose epilogue reads no per-column
/// operand.
pub(crate) fn is_valid(d: &Descriptor) -> bool {
    let Layout {
        input_blocked,
        output_blocked,
    } = d.layout;
    if d.layout.is_plain() {
        return true;
    }
    d.contraction != crate::fused::Contraction::Matmul
        && d.m > 0
        && d.n > 0
        && d.conv.channels * d.conv.height * d.conv.width > 0
        && (!input_blocked || d.conv.channels % LANES as i64 == 0)
        && (!output_blocked || d.m % LANES as i64 == 0)
        && !d
            .epilogue
            .iter()
            .any(|step| matches!(step, Step::AddColumn(_) | Step::MulColumn(_)))
}

/// Applies `steps` to `slab`, the values of output channels `r0..r0 + 8` (`r0` a multiple
/// of 8) at consecutive output positions, `[position][8]`, whose first value lies at
/// `offset` in the blocked output (and so in every blocked full-size operand). The same
/// operations in the same order as on a plain row, so the same bits. (The commonest
/// chains never come here: [`store_blocked`] applies them on the way.)
pub(crate) fn apply_epilogue_blocked(steps: &[Step], operands: &Operands, r0: usize, offset: usize, slab: &mut [f32]) {
    debug_assert!(r0.is_multiple_of(LANES) && slab.len().is_multiple_of(LANES));
    let len = slab.len();
    // SAFETY (every `operand` use): the generated call passes operands that cover the
    // rows (`[M]`) or the whole blocked output (`[M, N]`) their step reads.
    let operand = |i: usize, start: usize, count: usize| unsafe {
        std::slice::from_raw_parts(operands.pointer(i).add(start), count)
    };
    let lanes = |i: usize| -> [f32; LANES] { operand(i, r0, LANES).try_into().expect("8 lanes") };
    for step in steps {
        match *step {
            Step::AddRow(i) => each_lane(slab, lanes(i), |v, x| v + x),
            Step::MulRow(i) => each_lane(slab, lanes(i), |v, x| v * x),
            Step::AddFull(i) => slab.iter_mut().zip(operand(i, offset, len)).for_each(|(v, x)| *v += x),
            Step::MulFull(i) => slab.iter_mut().zip(operand(i, offset, len)).for_each(|(v, x)| *v *= x),
            Step::Clip(lo, hi) => slab.iter_mut().for_each(|v| *v = crate::fused::clip(*v, lo, hi)),
            Step::AddColumn(_) | Step::MulColumn(_) => unreachable!("refused by `is_valid`"),
            // The rest are the same map of every value, wherever it lies.
            _ => crate::fused::epilogue_row(std::slice::from_ref(step), operands, 0, 0, slab),
        }
    }
}

/// Writes 8 output channels `r..r + 8` (`r` a multiple of 8) at positions
/// `p0..p0 + positions` of the blocked output at `out_addr`, `sums(q)` the computed values
/// of position `p0 + q`, with the chain applied in `slab` (scratch) first
/// ([`apply_epilogue_blocked`]): the same operations in the same order as on a plain row.
/// (The kernels apply the commonest chains themselves, [`DirectEpilogue`].)
///
/// # Safety
/// Those positions of those channels lie in the blocked output, the caller's alone, and
/// the chain's operands cover what their steps read; the CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn store_blocked(
    d: &Descriptor,
    operands: &Operands,
    out_addr: usize,
    (r, p0, positions): (usize, usize, usize),
    sums: impl Fn(usize) -> [f32; LANES],
    slab: &mut Vec<f32>,
) {
    let offset = blocked_index(r, p0, d.n as usize);
    let out = out_addr as *mut f32;
    slab.resize(slab.len().max(positions * LANES), 0.0);
    let slab = &mut slab[..positions * LANES];
    for (q, lanes) in slab.chunks_exact_mut(LANES).enumerate() {
        lanes.copy_from_slice(&sums(q));
    }
    apply_epilogue_blocked(&d.epilogue, operands, r, offset, slab);
    // SAFETY: the positions' 8 values of channels `r..r + 8` in the blocked output, as the
    // caller promises.
    unsafe { std::ptr::copy_nonoverlapping(slab.as_ptr(), out.add(offset), slab.len()) };
}

/// `f(v, x[lane])` for every value `v` of `slab` (`[position][8]`).
#[inline(always)]
fn each_lane(slab: &mut [f32], x: [f32; LANES], f: impl Fn(f32, f32) -> f32) {
    for chunk in slab.chunks_exact_mut(LANES) {
        for (v, x) in chunk.iter_mut().zip(x) {
            *v = f(*v, x);
        }
    }
}

/// Runs the fused call `d` (whose layout [`is_valid`]) as the plain call `run` computes:
/// a blocked input is copied out of its blocks first, and a blocked output is computed
/// plain (with plain copies of its full-size operands) and then blocked.
///
/// # Safety
/// As [`crate::fused::fuser_fused_f32`]; `run` computes the plain call it is given.
pub(crate) unsafe fn through_plain_copies(
    d: &Descriptor,
    b: i64,
    out: i64,
    operands: &Operands,
    run: impl FnOnce(&Descriptor, i64, i64, &Operands),
) {
    let (m, n) = (d.m as usize, d.n as usize);
    let plain = Descriptor {
        layout: Layout::default(),
        ..d.clone()
    };
    let g = &d.conv;
    let (channels, plane) = (g.channels as usize, (g.height * g.width) as usize);
    let input = d.layout.input_blocked.then(|| {
        // SAFETY: the caller passes the conv's input.
        let blocked = unsafe { std::slice::from_raw_parts(b as *const f32, channels * plane) };
        let mut input = vec![0f32; channels * plane];
        unblock(blocked, channels, plane, &mut input);
        input
    });
    let b = input.as_ref().map_or(b, |input| input.as_ptr() as i64);
    if !d.layout.output_blocked {
        return run(&plain, b, out, operands);
    }
    // Plain copies of the full-size operands; the others are read as they are.
    let full: Vec<usize> = d
        .epilogue
        .iter()
        .filter_map(|step| match *step {
            Step::AddFull(i) | Step::MulFull(i) => Some(i),
            _ => None,
        })
        .collect();
    let copies: Vec<Option<Vec<f32>>> = (0..crate::fused::MAX_EPILOGUE_OPERANDS)
        .map(|i| {
            full.contains(&i).then(|| {
                // SAFETY: a full-size operand covers the blocked output.
                let blocked = unsafe { std::slice::from_raw_parts(operands.pointer(i), m * n) };
                let mut copy = vec![0f32; m * n];
                unblock(blocked, m, n, &mut copy);
                copy
            })
        })
        .collect();
    let pointers = std::array::from_fn(|i| match &copies[i] {
        Some(copy) => copy.as_ptr() as i64,
        None => operands.pointer(i) as i64,
    });
    let mut result = vec![0f32; m * n];
    run(&plain, b, result.as_mut_ptr() as i64, &Operands::new(pointers, n));
    // SAFETY: the output holds `m·n` values.
    block(&result, m, n, unsafe {
        std::slice::from_raw_parts_mut(out as *mut f32, m * n)
    });
}

/// An epilogue that a kernel applies itself to its sums on their way to the output: a
/// bias, a residual and an activation, each optional, in that order (every conv epilogue
/// of ResNet-50 and MobileNetV2). It computes what [`store_blocked`] and
/// [`crate::fused`]'s chain do, `act((sum + bias) + residual)`, with the same operations
/// ([`Activation::finish`] on 8 values), so the sums skip a trip through scratch. The
/// AVX2 blocked kernels ([`crate::blocked_conv`], [`crate::depthwise_channels`]) and the
/// int8 pixel-vector kernel ([`crate::quantized`]) take it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct DirectEpilogue {
    /// The operand of `Step::AddRow`.
    pub(crate) bias: Option<usize>,
    /// The operand of `Step::AddFull`, blocked as the output.
    pub(crate) residual: Option<usize>,
    pub(crate) activation: Activation,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Activation {
    None,
    /// `max(v, 0)`, NaN propagating (`arith.maximumf`).
    Relu,
    /// `v < lo ? lo : v`, then `v > hi ? hi : v`.
    Clip(f32, f32),
}

impl DirectEpilogue {
    /// `epilogue` as a direct one, if it is of that form.
    pub(crate) fn of(epilogue: &[Step]) -> Option<Self> {
        let (bias, rest) = match epilogue {
            [Step::AddRow(i), rest @ ..] => (Some(*i), rest),
            rest => (None, rest),
        };
        let (residual, rest) = match rest {
            [Step::AddFull(i), rest @ ..] => (Some(*i), rest),
            rest => (None, rest),
        };
        let activation = match rest {
            [] => Activation::None,
            [Step::Relu] => Activation::Relu,
            [Step::Clip(lo, hi)] => Activation::Clip(*lo, *hi),
            _ => return None,
        };
        Some(Self {
            bias,
            residual,
            activation,
        })
    }
}

#[cfg(target_arch = "x86_64")]
impl Activation {
    /// The activation of 8 values, as [`crate::fused::maximum`] and [`crate::fused::clip`]
    /// compute it.
    ///
    /// # Safety
    /// The CPU has AVX.
    #[target_feature(enable = "avx")]
    #[inline]
    pub(crate) unsafe fn apply(self, v: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        match self {
            Activation::None => v,
            // v where v > 0 or NaN, else +0: `maximum(v, 0)`.
            Activation::Relu => _mm256_and_ps(_mm256_cmp_ps::<_CMP_NLE_UQ>(v, _mm256_setzero_ps()), v),
            // `clip`: lo > v ? lo : v, then hi < that ? hi : that (MAXPS and MINPS return
            // their second operand unless the first is greater or less, NaN included).
            Activation::Clip(lo, hi) => _mm256_min_ps(_mm256_set1_ps(hi), _mm256_max_ps(_mm256_set1_ps(lo), v)),
        }
    }

    /// `(v + bias) + residual`, each read (8 values) where given, then the activation:
    /// a [`DirectEpilogue`] on 8 values.
    ///
    /// # Safety
    /// `bias` and `residual` each hold 8 values; the CPU has AVX.
    #[target_feature(enable = "avx")]
    #[inline]
    pub(crate) unsafe fn finish(
        self,
        mut v: std::arch::x86_64::__m256,
        bias: Option<*const f32>,
        residual: Option<*const f32>,
    ) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        // SAFETY (all three): as this function's contract. (No closures here: they would
        // not inherit the target feature.)
        unsafe {
            if let Some(bias) = bias {
                v = _mm256_add_ps(v, _mm256_loadu_ps(bias));
            }
            if let Some(residual) = residual {
                v = _mm256_add_ps(v, _mm256_loadu_ps(residual));
            }
            self.apply(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::{Contraction, fuser_fused_f32};
    use crate::register_tiled::tests::{ConvCall, GUARD, conv_geometry, epilogue};
    use proptest::prelude::*;

    /// The chains of `register_tiled`'s tests, two that take the general loop, and more
    /// that the blocked conv finishes in registers (MobileNetV2's bias and residual, a
    /// bias alone, a residual and a clip).
    fn chain(kind: u8) -> Vec<Step> {
        match kind {
            4 => vec![Step::MulRow(0), Step::AddFull(1), Step::Sigmoid],
            5 => vec![Step::AddRow(0), Step::LeakyRelu(0.1), Step::MulFull(1), Step::HardSwish],
            6 => vec![Step::AddRow(0), Step::AddFull(1)],
            7 => vec![Step::AddRow(0)],
            8 => vec![Step::AddFull(1), Step::Clip(-0.5, 0.5)],
            _ => epilogue(kind),
        }
    }

    /// One call of a conv-like descriptor `d` in layout `layout`, from plain data: the
    /// input, and the output's starting values (which a residual reads, or the output
    /// itself) blocked where the layout says, the result unblocked. `run` makes the call.
    fn call_in_layout(
        d: &Descriptor,
        layout: Layout,
        call: &ConvCall,
        residual_is_output: bool,
        run: impl FnOnce(&Descriptor, i64, i64, &Operands),
    ) -> Vec<f32> {
        let (m, n) = (d.m as usize, d.n as usize);
        let (channels, plane) = (d.conv.channels as usize, (d.conv.height * d.conv.width) as usize);
        let mut input = call.b.clone();
        if layout.input_blocked {
            block(&call.b, channels, plane, &mut input);
        }
        let mut start = call.start.clone();
        if layout.output_blocked {
            block(&call.start, m, n, &mut start);
        }
        let mut out = start.clone();
        let residual = if residual_is_output {
            out.as_ptr()
        } else {
            start.as_ptr()
        };
        let operands = Operands::new([call.bias.as_ptr() as i64, residual as i64, 0], n);
        let d = Descriptor { layout, ..d.clone() };
        run(&d, input.as_ptr() as i64, out.as_mut_ptr() as i64, &operands);
        assert!(out[m * n..].iter().all(|&v| v == GUARD), "written past the output");
        if layout.output_blocked {
            let mut plain = vec![0f32; m * n];
            unblock(&out, m, n, &mut plain);
            return plain;
        }
        out.truncate(m * n);
        out
    }

    /// A plain descriptor of a windowed contraction (`[m, n]` output, `k` steps) with the
    /// chain of `kind`, its weights a runtime value.
    fn descriptor(
        contraction: Contraction,
        (m, n, k): (usize, usize, usize),
        conv: crate::fused::ConvGeometry,
        kind: u8,
    ) -> Descriptor {
        Descriptor {
            contraction,
            m: m as i64,
            n: n as i64,
            k: k as i64,
            strides: [k as i64, 1, n as i64, 1],
            conv,
            batch: crate::fused::Batch::default(),
            constant_weights: 0,
            layout: Layout::default(),
            epilogue: chain(kind),
        }
    }

    fn layout(bits: u8) -> Layout {
        Layout {
            input_blocked: bits & 1 != 0,
            output_blocked: bits & 2 != 0,
        }
    }

    /// `d`'s call through the fused kernel's entry point, with `call`'s weights.
    fn fused_call(d: &Descriptor, call: &ConvCall, b: i64, out: i64, operands: &Operands) {
        let words = d.encode();
        let [e0, e1, e2] = std::array::from_fn(|i| operands.pointer(i) as i64);
        // SAFETY: the buffers cover the descriptor's shapes; its words live through the
        // call.
        unsafe { fuser_fused_f32(words.as_ptr() as i64, call.a.as_ptr() as i64, b, out, e0, e1, e2) }
    }

    fn same_bits(x: &[f32], y: &[f32]) -> Result<(), TestCaseError> {
        for (i, (x, y)) in x.iter().zip(y).enumerate() {
            prop_assert_eq!(x.to_bits(), y.to_bits(), "output {}: {} vs {}", i, x, y);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The AVX2 blocked conv in every layout (input read in place or copied with its
        /// padding, output written by blocks of 8 channels, a residual that may be the
        /// output itself) gives the bits of its plain call.
        #[test]
        fn blocked_conv_layouts_give_the_plain_bits(
            c8 in 1usize..5, f8 in 1usize..10, h in 1usize..20, w in 1usize..20,
            kh in 1usize..4, kw in 1usize..4, strides in (1usize..3, 1usize..3), dilation in 1usize..3,
            pads in (0usize..2, 0usize..2), kind in 0u8..9, bits in 1u8..4, residual_is_output in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let Some(conv) = conv_geometry((8 * c8, h, w), (kh, kw), strides, dilation, pads) else {
                return Ok(());
            };
            // The kernel needs AVX2 and FMA only (the fused kernel takes it where the CPU
            // has no AVX-512 too).
            if !crate::fused::has_avx2_fma() {
                return Ok(());
            }
            let (m, k) = (8 * f8, 8 * c8 * kh * kw);
            let n = (conv.out_h * conv.out_w) as usize;
            let d = descriptor(Contraction::Conv2d, (m, n, k), conv, kind);
            let call = ConvCall::new(&d, seed);
            // SAFETY: A is `[m][k]`.
            let packed = unsafe { crate::blocked_conv::pack_weights(call.a.as_ptr(), [k as isize, 1], m, k) };
            // SAFETY (both): the buffers cover the descriptor's shapes; the CPU has AVX2 and FMA.
            let run = |d: &Descriptor, b, out, operands: &Operands| unsafe {
                crate::blocked_conv::run_packed(d, &packed, b, out, operands)
            };
            let plain = call_in_layout(&d, Layout::default(), &call, residual_is_output, run);
            let blocked = call_in_layout(&d, layout(bits), &call, residual_is_output, run);
            same_bits(&blocked, &plain)?;
        }

        /// Through the fused entry point, a conv that the blocked kernel does not take
        /// (runtime weights) and a max pooling (through plain copies), and a depthwise conv
        /// (natively on AVX2, by channel groups and bands of rows, any width and stride),
        /// in every layout, give the bits of their plain calls.
        #[test]
        fn other_paths_take_blocked_layouts(
            contraction in 1u8..4, c8 in 1usize..4, f8 in 1usize..4, h in 1usize..40, w in 1usize..40,
            kernel in 1usize..6, stride in 1usize..4, pad in 0usize..3, kind in 0u8..9, bits in 1u8..4,
            residual_is_output in any::<bool>(), seed in any::<u64>(),
        ) {
            let c = 8 * c8;
            let Some(conv) = conv_geometry((c, h, w), (kernel, kernel), (stride, stride), 1, (pad, pad)) else {
                return Ok(());
            };
            let n = (conv.out_h * conv.out_w) as usize;
            let (contraction, m, k) = match contraction {
                1 => (Contraction::Conv2d, 8 * f8, c * kernel * kernel),
                2 => (Contraction::Depthwise2d, c, kernel * kernel),
                _ => (Contraction::MaxPool2d, c, kernel * kernel),
            };
            let d = descriptor(contraction, (m, n, k), conv, kind);
            let call = ConvCall::new(&d, seed);
            let run = |d: &Descriptor, b, out, operands: &Operands| fused_call(d, &call, b, out, operands);
            let plain = call_in_layout(&d, Layout::default(), &call, residual_is_output, run);
            let blocked = call_in_layout(&d, layout(bits), &call, residual_is_output, run);
            same_bits(&blocked, &plain)?;
            if contraction == Contraction::Depthwise2d && crate::fused::has_avx2_fma() {
                // The loop itself (on any CPU with AVX2 and FMA), in bands of one output row.
                let run = |d: &Descriptor, b, out, operands: &Operands| unsafe {
                    // SAFETY: the buffers cover the descriptor's shapes; the CPU has AVX2
                    // and FMA (checked above).
                    crate::depthwise_channels::run_blocked(d, (call.a.as_ptr() as i64, b, out), operands, 1)
                };
                let banded = call_in_layout(&d, layout(bits), &call, residual_is_output, run);
                same_bits(&banded, &plain)?;
            }
        }
    }

    /// Convs over constant weights with 16 or 24 output channels, a 1×1 window of fewer
    /// than 32 steps (MobileNetV2's narrow stages), or fewer than 8 input channels (an
    /// image's stem, strided too) take the blocked conv through the fused entry point in
    /// every blocked layout (an input of whole blocks of channels), and give the bits of
    /// their plain calls (the register-tiled kernel, or the direct one for fewer than 32
    /// steps); 40 output channels do not take it.
    #[test]
    fn narrow_and_short_convs_take_the_blocked_conv() {
        if !crate::blocked_conv::layout_on_host() {
            return;
        }
        // (input channels, output channels, window, stride, the blocked conv takes it)
        let cases = [
            (32, 16, 1, 1, true),
            (16, 96, 1, 1, true),
            (96, 24, 1, 1, true),
            (24, 144, 1, 1, true),
            (8, 24, 3, 1, true),
            (16, 16, 3, 1, true),
            (8, 16, 1, 1, true),
            (8, 40, 1, 1, false),
            (16, 40, 3, 1, false),
            // An image's stem: its input is never blocked (fewer than 8 channels), copied
            // as padded planes (MobileNetV2's is 3→32 3×3/2).
            (3, 32, 3, 1, true),
            (3, 32, 3, 2, true),
            (3, 16, 3, 2, true),
            (1, 32, 5, 3, true),
        ];
        for (seed, (c, f, kernel, stride, takes)) in cases.into_iter().enumerate() {
            let conv = conv_geometry(
                (c, 13, 11),
                (kernel, kernel),
                (stride, stride),
                1,
                (kernel / 2, kernel / 2),
            )
            .expect("a window that fits");
            let n = (conv.out_h * conv.out_w) as usize;
            let d = Descriptor {
                constant_weights: 40 + seed as i64,
                ..descriptor(Contraction::Conv2d, (f, n, c * kernel * kernel), conv, 6)
            };
            // Layouts with a blocked input where the input has whole blocks of channels.
            let layouts = (1..4).filter(|bits| bits & 1 == 0 || c % 8 == 0);
            for bits in layouts.clone() {
                let blocked = Descriptor {
                    layout: layout(bits),
                    ..d.clone()
                };
                assert_eq!(
                    crate::blocked_conv::computes(&blocked),
                    takes,
                    "{c}->{f} {kernel}x{kernel}/{stride}"
                );
            }
            let call = ConvCall::new(&d, seed as u64);
            let run = |d: &Descriptor, b, out, operands: &Operands| fused_call(d, &call, b, out, operands);
            let plain = call_in_layout(&d, Layout::default(), &call, false, run);
            for bits in layouts {
                let blocked = call_in_layout(&d, layout(bits), &call, bits == 2, run);
                let plain = match bits == 2 {
                    true => call_in_layout(&d, Layout::default(), &call, true, run),
                    false => plain.clone(),
                };
                for (i, (x, y)) in blocked.iter().zip(&plain).enumerate() {
                    assert_eq!(
                        x.to_bits(),
                        y.to_bits(),
                        "{c}->{f} {kernel}x{kernel}/{stride}, layout {bits}, output {i}"
                    );
                }
            }
        }
    }

    /// A depthwise conv of many channels on a small map, whose units gather two groups of
    /// 8 channels whatever the core count (the last unit one), and strided convs whose
    /// blocked input is read in place (8, 4, 3, 2 and 1 outputs at a time inside, and a
    /// stride of 3), give the bits of their plain calls in every layout: through the fused
    /// entry point where it takes the blocked loop, and by the loop itself on any CPU with
    /// AVX2 and FMA.
    #[test]
    fn depthwise_units_of_several_groups_give_the_plain_bits() {
        if !crate::fused::has_avx2_fma() {
            return;
        }
        let groups = 2 * crate::depthwise_channels::WANTED_UNITS_PER_THREAD * crate::microkernels::threads() + 3;
        let cases = [
            (8 * groups, 7, 1),
            (8 * groups, 9, 2),
            (96, 37, 2),
            (64, 29, 2),
            (64, 13, 3),
        ];
        for (seed, (channels, size, stride)) in cases.into_iter().enumerate() {
            let conv = conv_geometry((channels, size, size), (3, 3), (stride, stride), 1, (1, 1)).expect("a window");
            let n = (conv.out_h * conv.out_w) as usize;
            for kind in [6, 4] {
                let d = descriptor(Contraction::Depthwise2d, (channels, n, 9), conv, kind);
                let call = ConvCall::new(&d, seed as u64);
                let fused = |d: &Descriptor, b, out, operands: &Operands| fused_call(d, &call, b, out, operands);
                // SAFETY: the buffers cover the descriptor's shapes; the CPU has AVX2 and FMA
                // (checked above).
                let banded = |d: &Descriptor, b, out, operands: &Operands| unsafe {
                    let band = crate::depthwise_channels::BAND_BYTES;
                    crate::depthwise_channels::run_blocked(d, (call.a.as_ptr() as i64, b, out), operands, band)
                };
                let plain = call_in_layout(&d, Layout::default(), &call, false, fused);
                for bits in 1..4 {
                    let mut results = vec![call_in_layout(&d, layout(bits), &call, false, banded)];
                    if crate::blocked_conv::layout_on_host() {
                        results.push(call_in_layout(&d, layout(bits), &call, false, fused));
                    }
                    for blocked in results {
                        for (i, (x, y)) in blocked.iter().zip(&plain).enumerate() {
                            assert_eq!(
                                x.to_bits(),
                                y.to_bits(),
                                "{channels} at {size}/{stride}, layout {bits}, output {i}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// The epilogues finished in registers: a bias, a residual and ReLU or a clip, each
    /// optional, in that order; any other step or order goes through the tile.
    #[test]
    fn direct_epilogues_are_bias_residual_activation() {
        use Step::*;
        let direct = |steps: &[Step]| DirectEpilogue::of(steps);
        let expect = |bias, residual, activation| {
            Some(DirectEpilogue {
                bias,
                residual,
                activation,
            })
        };
        assert_eq!(direct(&[]), expect(None, None, Activation::None));
        assert_eq!(
            direct(&[AddRow(2), AddFull(0), Relu]),
            expect(Some(2), Some(0), Activation::Relu)
        );
        assert_eq!(
            direct(&[AddFull(1), Clip(0.0, 6.0)]),
            expect(None, Some(1), Activation::Clip(0.0, 6.0))
        );
        assert_eq!(direct(&[AddRow(0)]), expect(Some(0), None, Activation::None));
        for other in [
            vec![AddFull(1), AddRow(0)],
            vec![Relu, AddRow(0)],
            vec![AddRow(0), Relu, Relu],
            vec![MulRow(0)],
            vec![AddRow(0), Sigmoid],
            vec![AddColumn(0)],
        ] {
            assert_eq!(direct(&other), None, "{other:?}");
        }
    }

    /// A descriptor whose layout its call cannot honour does not decode (so the lowering,
    /// which decodes what it emits, lowers such a kernel op by op): a blocked matmul,
    /// channels that are not a multiple of 8, an empty input or output, a per-column step.
    #[test]
    fn layouts_that_cannot_be_honoured_do_not_decode() {
        let conv = conv_geometry((16, 5, 5), (3, 3), (1, 1), 1, (1, 1)).expect("a window that fits");
        let good = Descriptor {
            layout: layout(3),
            ..descriptor(Contraction::Conv2d, (24, 25, 144), conv, 1)
        };
        assert_eq!(Descriptor::decode(&good.encode()), Some(good.clone()));
        let odd_input = crate::fused::ConvGeometry { channels: 12, ..conv };
        let refused = [
            Descriptor {
                contraction: Contraction::Matmul,
                ..good.clone()
            },
            Descriptor { m: 20, ..good.clone() },
            Descriptor {
                conv: odd_input,
                layout: layout(1),
                ..good.clone()
            },
            Descriptor { n: 0, ..good.clone() },
            Descriptor {
                conv: crate::fused::ConvGeometry { height: 0, ..conv },
                ..good.clone()
            },
            Descriptor {
                epilogue: vec![Step::AddColumn(0)],
                ..good.clone()
            },
        ];
        for d in refused {
            assert_eq!(Descriptor::decode(&d.encode()), None, "{d:?}");
            // The same descriptor with the plain layout decodes.
            let plain = Descriptor {
                layout: Layout::default(),
                ..d
            };
            assert!(Descriptor::decode(&plain.encode()).is_some(), "{plain:?}");
        }
    }

    /// Blocking and unblocking are inverse, and put each element where `blocked_index` says.
    #[test]
    fn blocking_round_trips_through_blocked_index() {
        let (m, n) = (24, 13);
        let plain: Vec<f32> = (0..m * n).map(|i| i as f32 * 0.5 - 7.0).collect();
        let mut blocked = vec![f32::NAN; m * n];
        block(&plain, m, n, &mut blocked);
        for r in 0..m {
            for c in 0..n {
                assert_eq!(blocked[blocked_index(r, c, n)], plain[r * n + c]);
            }
        }
        let mut back = vec![f32::NAN; m * n];
        unblock(&blocked, m, n, &mut back);
        assert_eq!(back, plain);
    }
}
