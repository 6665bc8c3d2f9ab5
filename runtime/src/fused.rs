//! One fused kernel call: a contraction (matmul, 2-D conv through tiled im2col or the
//! register-tiled kernel, 2-D depthwise conv, or 2-D max pooling) followed by an
//! elementwise epilogue (bias, residual, scale, activation), computed tile by tile so each
//! output tile is written once, while it is still in cache. It replaces the separate bias fill, pad copy, whole-tensor im2col and
//! epilogue passes that an unfused kernel makes.
//!
//! The contraction is seen as a matrix product `C[M, N] = A[M, K] · B[K, N]`:
//! - matmul: A and B as given, with strides (transposes need no copy);
//! - conv (batch 1, one group, NCHW): A is the weights `[F, C·KH·KW]`, B the windows of
//!   the unpadded input `[C, H, W]` (padding is read as zeros), `N = OH·OW`; a conv with
//!   6 or more output channels goes to [`crate::register_tiled`] instead of im2col tiles
//!   and the `gemm` crate on AVX2 with FMA (unless its windows are gathered and its
//!   reduction is short), and on AVX-512 unless its windows are its input as it is;
//! - depthwise conv: row `m` is channel `m`, with its own `KH·KW` filter;
//! - max pooling: row `m` is channel `m`, the maximum over its window for the sum.
//!
//! The output and every full-size epilogue operand are dense `[M, N]`.
//!
//! Generated code passes a constant descriptor (see [`Descriptor`]) and the operand
//! pointers. Tiles depend only on the shapes, never on the thread count, and threads
//! split tiles (output elements), never a reduction, so results do not depend on the
//! thread count.

use crate::vector_math;
use gemm::{Parallelism, gemm};
use std::cell::RefCell;

/// The symbol of the fused kernel entry point.
pub const FUSED_F32: &str = "fuser_fused_f32";
/// Its number of arguments: descriptor, A, B, output, and three epilogue operands.
pub const FUSED_F32_ARITY: usize = 7;
/// At most this many epilogue steps read an operand.
pub const MAX_EPILOGUE_OPERANDS: usize = 3;

/// The contraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contraction {
    /// `C = A · B` with the strides of [`Descriptor::strides`].
    Matmul,
    /// A group-1, batch-1 2-D convolution (im2col per tile).
    Conv2d,
    /// A depthwise 2-D convolution, batch 1.
    Depthwise2d,
    /// A 2-D max pooling, batch 1 (rows are channels, `K` the window's size; A is not
    /// read): the depthwise conv's loop with the maximum for the sum, padding read as
    /// `-inf`.
    MaxPool2d,
}

/// The geometry of a 2-D convolution: input `[C, H, W]`, kernel `KH×KW`, output
/// `OH×OW`, strides, dilations and the top/left padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConvGeometry {
    pub channels: i64,
    pub height: i64,
    pub width: i64,
    pub kernel_h: i64,
    pub kernel_w: i64,
    pub out_h: i64,
    pub out_w: i64,
    pub stride_h: i64,
    pub stride_w: i64,
    pub dilation_h: i64,
    pub dilation_w: i64,
    pub pad_top: i64,
    pub pad_left: i64,
}

/// One epilogue step, applied to each output value `v` at row `r`, column `c`, in order.
/// Operand indices name the epilogue operands of the call (0 to 2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// `v + x[r]` (a conv bias: one value per output channel).
    AddRow(usize),
    /// `v + x[c]` (a matmul bias: one value per column).
    AddColumn(usize),
    /// `v + x[r, c]` (a residual).
    AddFull(usize),
    AddScalar(f32),
    MulRow(usize),
    MulColumn(usize),
    MulFull(usize),
    MulScalar(f32),
    DivScalar(f32),
    /// `max(v, 0)`, NaN propagating.
    Relu,
    /// `v < lo ? lo : v`, then `v > hi ? hi : v` (either bound may be infinite).
    Clip(f32, f32),
    /// `1 / (1 + exp(-v))`.
    Sigmoid,
    Tanh,
    /// `0.5·v · (1 + erf(v / √2))`.
    GeluErf,
    /// `0.5·v · (1 + tanh(√(2/π) · (v + 0.044715·v³)))`.
    GeluTanh,
    /// `v ≥ 0 ? v : alpha·v`.
    LeakyRelu(f32),
    /// `min(max(alpha·v + beta, 0), 1)`.
    HardSigmoid(f32, f32),
    /// `v · min(max(v/6 + 1/2, 0), 1)`.
    HardSwish,
}

/// Everything but the pointers of one fused call, encoded as an `i64` array that
/// generated code holds as a constant.
#[derive(Debug, Clone, PartialEq)]
pub struct Descriptor {
    pub contraction: Contraction,
    pub m: i64,
    pub n: i64,
    pub k: i64,
    /// Matmul: A's row and column strides, then B's, in elements.
    pub strides: [i64; 4],
    pub conv: ConvGeometry,
    /// Nonzero when the contraction's weights (a matmul's B, a conv's A) are a constant
    /// of the compiled model: a key, derived from the kernel and the weights' contents,
    /// under which the runtime keeps them packed between calls ([`crate::packed_matmul`],
    /// [`crate::blocked_conv`]). Zero when they may change between calls.
    pub constant_weights: i64,
    /// Which of the call's tensors are channel-blocked (see [`Layout`]).
    pub layout: Layout,
    /// A matmul's independent products of the same shapes (see [`Batch`]).
    pub batch: Batch,
    pub epilogue: Vec<Step>,
}

/// A batch of independent matmuls of one shape (attention's `Q·Kᵀ` and `P·V`): product
/// `i` reads A and B at `i` times their batch strides (in elements; 0 shares one matrix
/// across the batch) and writes the output `[count][M][N]` densely. Its epilogue
/// operands follow the output's rows: a full-size operand is `[count][M][N]`, a row
/// operand `[count][M]`, a column operand `[N]` for every product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    pub count: i64,
    pub a_stride: i64,
    pub b_stride: i64,
}

impl Default for Batch {
    /// One product (every contraction but a batched matmul).
    fn default() -> Batch {
        Batch {
            count: 1,
            a_stride: 0,
            b_stride: 0,
        }
    }
}

impl Batch {
    /// Whether there is more than one product.
    pub fn is_batched(self) -> bool {
        self.count > 1
    }
}

/// Which of a conv's tensors are channel-blocked, `[1][C/8][H][W][8]` in memory for
/// the logical `[1][C][H][W]` (element `(r, c)` of the `[M, N]` view at
/// `(r/8)·8N + 8c + r%8`): onnxruntime's NCHWc, kept between conv kernels so that the
/// AVX2 conv ([`crate::blocked_conv`]) reads its input and writes its output without a
/// transpose. The compiler's `ftensor-blocked-layout` pass chooses it, only where every
/// such channel count is a multiple of 8. Every path computes it: the others through
/// NCHW copies ([`crate::blocked_layout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Layout {
    /// The conv's input (B).
    pub input_blocked: bool,
    /// The output, and with it every full-size epilogue operand (a residual).
    pub output_blocked: bool,
}

impl Layout {
    fn encode(self) -> i64 {
        i64::from(self.input_blocked) | i64::from(self.output_blocked) << 1
    }

    fn decode(word: i64) -> Option<Layout> {
        (0..4).contains(&word).then_some(Layout {
            input_blocked: word & 1 != 0,
            output_blocked: word & 2 != 0,
        })
    }

    /// Whether nothing is blocked (the layout of every call but the compiler's choice).
    pub fn is_plain(self) -> bool {
        self == Layout::default()
    }
}

/// How a batched matmul reads, in place, an operand that is a `graph.transpose` by `perm`
/// of a dense row-major tensor of `shape` (the operand's dimension `d` is the tensor's
/// `perm[d]`): the product count over its leading dims and its element strides between
/// products, rows and columns, `(count, [batch, row, column])`. `None` unless `perm` is a
/// permutation of at least 3 dims whose leading dims (those of size 1 aside) nest into one
/// stride. Attention's heads: `[1, 128, 12, 64]` by `[0, 2, 1, 3]` is 12 products at
/// stride 64 of rows 768 apart, by `[0, 2, 3, 1]` (`Kᵀ`) rows 1 and columns 768 apart.
pub fn transposed_operand_strides(shape: &[i64], perm: &[i64]) -> Option<(i64, [i64; 3])> {
    let rank = shape.len();
    if rank < 3 || perm.len() != rank || shape.iter().any(|&d| d <= 0) {
        return None;
    }
    let mut seen = vec![false; rank];
    for &p in perm {
        let p = usize::try_from(p).ok().filter(|&p| p < rank)?;
        if std::mem::replace(&mut seen[p], true) {
            return None;
        }
    }
    let mut strides = vec![1i64; rank];
    for d in (0..rank - 1).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    let stride = |d: usize| strides[perm[d] as usize];
    let size = |d: usize| shape[perm[d] as usize];
    let leading: Vec<usize> = (0..rank - 2).filter(|&d| size(d) != 1).collect();
    if leading
        .windows(2)
        .any(|pair| stride(pair[0]) != stride(pair[1]) * size(pair[1]))
    {
        return None;
    }
    let count = leading.iter().map(|&d| size(d)).product();
    let batch = leading.last().map_or(0, |&d| stride(d));
    Some((count, [batch, stride(rank - 2), stride(rank - 1)]))
}

/// Whether this CPU's fused kernel computes convs with blocked tensors without copies
/// (AVX2 with FMA, no AVX-512): where the compiler should choose [`Layout`] at all.
pub fn blocked_layout_on_host() -> bool {
    #[cfg(target_arch = "x86_64")]
    return crate::blocked_conv::layout_on_host();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether the fused kernel computes a conv over constant weights with `out_channels`
/// output channels, `reduction_steps` steps (input channels × window) and a window of
/// `window` taps with blocked tensors without copies, on a CPU where
/// [`blocked_layout_on_host`].
pub fn conv_takes_blocked_layout(out_channels: i64, reduction_steps: i64, window: i64) -> bool {
    #[cfg(target_arch = "x86_64")]
    return crate::blocked_conv::takes_blocked_shape(out_channels, reduction_steps, window);
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (out_channels, reduction_steps, window);
        false
    }
}

/// Words before the epilogue's step count: the contraction, M, N, K, the strides, the
/// conv's geometry, the weights' key, the layout (word 22) and the batch (words 23–25).
const HEADER: usize = 26;
/// Where the weights' key and the layout lie in the header.
const CONSTANT_WEIGHTS_WORD: usize = 21;
const LAYOUT_WORD: usize = 22;

fn bits(v: f32) -> i64 {
    i64::from(v.to_bits())
}

fn float(v: i64) -> f32 {
    f32::from_bits(v as u32)
}

impl Descriptor {
    /// The array generated code passes.
    pub fn encode(&self) -> Vec<i64> {
        let g = &self.conv;
        let mut out = vec![
            match self.contraction {
                Contraction::Matmul => 0,
                Contraction::Conv2d => 1,
                Contraction::Depthwise2d => 2,
                Contraction::MaxPool2d => 3,
            },
            self.m,
            self.n,
            self.k,
        ];
        out.extend(self.strides);
        out.extend([
            g.channels,
            g.height,
            g.width,
            g.kernel_h,
            g.kernel_w,
            g.out_h,
            g.out_w,
            g.stride_h,
            g.stride_w,
            g.dilation_h,
            g.dilation_w,
            g.pad_top,
            g.pad_left,
            self.constant_weights,
            self.layout.encode(),
            self.batch.count,
            self.batch.a_stride,
            self.batch.b_stride,
        ]);
        debug_assert_eq!(out.len(), HEADER);
        out.push(self.epilogue.len() as i64);
        for step in &self.epilogue {
            let (code, a, b) = match *step {
                Step::AddRow(i) => (1, i as i64, 0),
                Step::AddColumn(i) => (2, i as i64, 0),
                Step::AddFull(i) => (3, i as i64, 0),
                Step::AddScalar(v) => (4, bits(v), 0),
                Step::MulRow(i) => (5, i as i64, 0),
                Step::MulColumn(i) => (6, i as i64, 0),
                Step::MulFull(i) => (7, i as i64, 0),
                Step::MulScalar(v) => (8, bits(v), 0),
                Step::DivScalar(v) => (9, bits(v), 0),
                Step::Relu => (10, 0, 0),
                Step::Clip(lo, hi) => (11, bits(lo), bits(hi)),
                Step::Sigmoid => (12, 0, 0),
                Step::Tanh => (13, 0, 0),
                Step::GeluErf => (14, 0, 0),
                Step::GeluTanh => (15, 0, 0),
                Step::LeakyRelu(a) => (16, bits(a), 0),
                Step::HardSigmoid(a, b) => (17, bits(a), bits(b)),
                Step::HardSwish => (18, 0, 0),
            };
            out.extend([code, a, b]);
        }
        out
    }

    /// Reads an encoded descriptor back (`None` if it is malformed).
    pub fn decode(words: &[i64]) -> Option<Descriptor> {
        let header = words.get(..HEADER + 1)?;
        let contraction = match header[0] {
            0 => Contraction::Matmul,
            1 => Contraction::Conv2d,
            2 => Contraction::Depthwise2d,
            3 => Contraction::MaxPool2d,
            _ => return None,
        };
        let g = &header[8..CONSTANT_WEIGHTS_WORD];
        let conv = ConvGeometry {
            channels: g[0],
            height: g[1],
            width: g[2],
            kernel_h: g[3],
            kernel_w: g[4],
            out_h: g[5],
            out_w: g[6],
            stride_h: g[7],
            stride_w: g[8],
            dilation_h: g[9],
            dilation_w: g[10],
            pad_top: g[11],
            pad_left: g[12],
        };
        let count = usize::try_from(header[HEADER]).ok()?;
        let steps = words.get(HEADER + 1..HEADER + 1 + 3 * count)?;
        let operand = |v: i64| usize::try_from(v).ok().filter(|&i| i < MAX_EPILOGUE_OPERANDS);
        let mut epilogue = Vec::with_capacity(count);
        for step in steps.chunks(3) {
            let (a, b) = (step[1], step[2]);
            epilogue.push(match step[0] {
                1 => Step::AddRow(operand(a)?),
                2 => Step::AddColumn(operand(a)?),
                3 => Step::AddFull(operand(a)?),
                4 => Step::AddScalar(float(a)),
                5 => Step::MulRow(operand(a)?),
                6 => Step::MulColumn(operand(a)?),
                7 => Step::MulFull(operand(a)?),
                8 => Step::MulScalar(float(a)),
                9 => Step::DivScalar(float(a)),
                10 => Step::Relu,
                11 => Step::Clip(float(a), float(b)),
                12 => Step::Sigmoid,
                13 => Step::Tanh,
                14 => Step::GeluErf,
                15 => Step::GeluTanh,
                16 => Step::LeakyRelu(float(a)),
                17 => Step::HardSigmoid(float(a), float(b)),
                18 => Step::HardSwish,
                _ => return None,
            });
        }
        let descriptor = Descriptor {
            contraction,
            m: header[1],
            n: header[2],
            k: header[3],
            strides: [header[4], header[5], header[6], header[7]],
            conv,
            constant_weights: header[CONSTANT_WEIGHTS_WORD],
            layout: Layout::decode(header[LAYOUT_WORD])?,
            batch: Batch {
                count: header[LAYOUT_WORD + 1],
                a_stride: header[LAYOUT_WORD + 2],
                b_stride: header[LAYOUT_WORD + 3],
            },
            epilogue,
        };
        (crate::blocked_layout::is_valid(&descriptor) && crate::batched_matmul::is_valid(&descriptor))
            .then_some(descriptor)
    }

    /// The words of the encoded descriptor.
    pub fn encoded_len(words: &[i64]) -> Option<usize> {
        let count = usize::try_from(*words.get(HEADER)?).ok()?;
        Some(HEADER + 1 + 3 * count)
    }
}

/// `arith.maximumf`: NaN if either operand is NaN.
#[inline(always)]
pub(crate) fn maximum(a: f32, b: f32) -> f32 {
    let m = if a > b { a } else { b };
    if a.is_nan() { a } else { m }
}

/// `v < lo ? lo : v`, then `v > hi ? hi : v`: [`Step::Clip`].
#[inline(always)]
pub(crate) fn clip(v: f32, lo: f32, hi: f32) -> f32 {
    let low = if v < lo { lo } else { v };
    if low > hi { hi } else { low }
}

/// `arith.minimumf`.
#[inline(always)]
fn minimum(a: f32, b: f32) -> f32 {
    let m = if a < b { a } else { b };
    if a.is_nan() { a } else { m }
}

/// The epilogue operands of one output tile: each as a pointer to element [0, 0].
pub(crate) struct Operands {
    pointers: [*const f32; MAX_EPILOGUE_OPERANDS],
    n: usize,
}

impl Operands {
    /// The epilogue operands at addresses `pointers` of an output with `n` columns.
    pub(crate) fn new(pointers: [i64; MAX_EPILOGUE_OPERANDS], n: usize) -> Operands {
        Operands {
            pointers: pointers.map(|p| p as *const f32),
            n,
        }
    }

    /// The operands with operand `i` moved on by `offsets[i]` elements.
    pub(crate) fn shifted(&self, offsets: [usize; MAX_EPILOGUE_OPERANDS]) -> Operands {
        Operands {
            pointers: std::array::from_fn(|i| self.pointers[i].wrapping_add(offsets[i])),
            n: self.n,
        }
    }

    /// The address of operand `i`.
    pub(crate) fn pointer(&self, i: usize) -> *const f32 {
        self.pointers[i]
    }

    /// The output's column count.
    pub(crate) fn columns(&self) -> usize {
        self.n
    }
}

// SAFETY: the operands are only read, and the caller keeps them alive for the call.
unsafe impl Sync for Operands {}

/// Applies `steps` to `row` (the values of output row `r`, columns `c0..c0 + len`).
#[inline(always)]
fn apply_epilogue_body(steps: &[Step], operands: &Operands, r: usize, c0: usize, row: &mut [f32]) {
    let len = row.len();
    // SAFETY (every `operand` use): the generated call passes operands that cover
    // the rows (`[M]`), columns (`[N]`) or whole output (`[M, N]`) their step reads.
    let operand = |i: usize, offset: usize, count: usize| unsafe {
        std::slice::from_raw_parts(operands.pointers[i].add(offset), count)
    };
    // The commonest chains (a conv's bias, then ReLU or ReLU6, with or without a
    // residual) in one pass over the row: the same operations in the same order as the
    // step-by-step loop below, without a load and store per step.
    match *steps {
        [Step::AddRow(i), Step::Relu] => {
            let x = operand(i, r, 1)[0];
            return row.iter_mut().for_each(|v| *v = maximum(*v + x, 0.0));
        }
        [Step::AddRow(i), Step::Clip(lo, hi)] => {
            let x = operand(i, r, 1)[0];
            return row.iter_mut().for_each(|v| *v = clip(*v + x, lo, hi));
        }
        [Step::AddRow(i), Step::AddFull(j), Step::Relu] => {
            let x = operand(i, r, 1)[0];
            return row
                .iter_mut()
                .zip(operand(j, r * operands.n + c0, len))
                .for_each(|(v, y)| *v = maximum((*v + x) + y, 0.0));
        }
        _ => {}
    }
    for step in steps {
        match *step {
            Step::AddRow(i) => {
                let x = operand(i, r, 1)[0];
                row.iter_mut().for_each(|v| *v += x);
            }
            Step::AddColumn(i) => row.iter_mut().zip(operand(i, c0, len)).for_each(|(v, x)| *v += x),
            Step::AddFull(i) => row
                .iter_mut()
                .zip(operand(i, r * operands.n + c0, len))
                .for_each(|(v, x)| *v += x),
            Step::AddScalar(x) => row.iter_mut().for_each(|v| *v += x),
            Step::MulRow(i) => {
                let x = operand(i, r, 1)[0];
                row.iter_mut().for_each(|v| *v *= x);
            }
            Step::MulColumn(i) => row.iter_mut().zip(operand(i, c0, len)).for_each(|(v, x)| *v *= x),
            Step::MulFull(i) => row
                .iter_mut()
                .zip(operand(i, r * operands.n + c0, len))
                .for_each(|(v, x)| *v *= x),
            Step::MulScalar(x) => row.iter_mut().for_each(|v| *v *= x),
            Step::DivScalar(x) => row.iter_mut().for_each(|v| *v /= x),
            // Each activation is a pure map of the value (selects, no conditional
            // stores), so the loop has no data-dependent branches and vectorizes.
            Step::Relu => row.iter_mut().for_each(|v| *v = maximum(*v, 0.0)),
            Step::Clip(lo, hi) => row.iter_mut().for_each(|v| *v = clip(*v, lo, hi)),
            Step::Sigmoid => sigmoid_row(row),
            Step::Tanh => tanh_row(row),
            Step::GeluErf => gelu_erf_row(row),
            Step::GeluTanh => gelu_tanh_row(row),
            Step::LeakyRelu(alpha) => row
                .iter_mut()
                .for_each(|v| *v = if *v >= 0.0 { *v } else { alpha * *v }),
            Step::HardSigmoid(alpha, beta) => row
                .iter_mut()
                .for_each(|v| *v = minimum(maximum(alpha * *v + beta, 0.0), 1.0)),
            Step::HardSwish => row
                .iter_mut()
                .for_each(|v| *v *= minimum(maximum((1.0 / 6.0) * *v + 0.5, 0.0), 1.0)),
        }
    }
}

/// Whether an epilogue step reads memory that overlaps the `[M, N]` output at `out`.
pub(crate) fn epilogue_reads_output(steps: &[Step], operands: &Operands, m: usize, out: usize) -> bool {
    let bytes = |count: usize| count * std::mem::size_of::<f32>();
    let out_end = out + bytes(m * operands.n);
    steps.iter().any(|step| {
        let (index, count) = match *step {
            Step::AddRow(i) | Step::MulRow(i) => (i, m),
            Step::AddColumn(i) | Step::MulColumn(i) => (i, operands.n),
            Step::AddFull(i) | Step::MulFull(i) => (i, m * operands.n),
            _ => return false,
        };
        let start = operands.pointers[index] as usize;
        start < out_end && out < start + bytes(count)
    })
}

/// A rectangle of the output: rows `r0..r0 + rows`, columns `c0..c0 + cols`.
#[derive(Debug, Clone, Copy)]
struct Tile {
    r0: usize,
    rows: usize,
    c0: usize,
    cols: usize,
}

/// Splits `[M, N]` into tiles from the shapes alone: column blocks sized so a gathered
/// block of B (`K × cols`, conv windows) stays within about 512 KiB, or of 256 columns
/// when B is read in place (the gemm blocks the reduction itself), and row blocks when
/// there are few column blocks, so that two cores get work on small late-stage outputs.
fn tiles(m: usize, n: usize, k: usize, gathered: bool) -> Vec<Tile> {
    let budget = match gathered {
        true => (512 * 1024 / 4 / k.max(1)).clamp(32, 512) / 16 * 16,
        false => 256,
    };
    let column_blocks = n.div_ceil(budget.min(n.max(1)));
    // Whole 64-column panels where there are several (the gemm microkernel's widest).
    let cols = n.div_ceil(column_blocks.max(1));
    let cols = if cols > 64 { cols.div_ceil(64) * 64 } else { cols };
    let wanted = 8usize;
    let row_blocks = if column_blocks >= wanted {
        1
    } else {
        wanted.div_ceil(column_blocks).min(m.div_ceil(16)).max(1)
    };
    let rows = m.div_ceil(row_blocks).div_ceil(16) * 16;
    let mut out = Vec::new();
    let mut r0 = 0;
    while r0 < m {
        let mut c0 = 0;
        while c0 < n {
            out.push(Tile {
                r0,
                rows: rows.min(m - r0),
                c0,
                cols: cols.min(n - c0),
            });
            c0 += cols;
        }
        r0 += rows;
    }
    out
}

thread_local! {
    /// Per-thread scratch: the B block of a tile (im2col windows, or a depthwise conv's
    /// padded plane) and its product.
    static SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Whether a conv's windows are its input as it is (`[C, H·W]`): 1×1, stride 1, no
/// padding.
pub(crate) fn reads_input_directly(g: &ConvGeometry) -> bool {
    g.kernel_h == 1
        && g.kernel_w == 1
        && g.stride_h == 1
        && g.stride_w == 1
        && g.pad_top == 0
        && g.pad_left == 0
        && g.out_h == g.height
        && g.out_w == g.width
}

/// Gathers the windows of columns `c0..c0 + cols` into `dst` (`[K, cols]`), reading
/// the padding as zeros.
#[inline(always)]
fn im2col_tile_body(src: &[f32], g: &ConvGeometry, c0: usize, cols: usize, dst: &mut [f32]) {
    let [channels, height, width, kh, kw, ow] =
        [g.channels, g.height, g.width, g.kernel_h, g.kernel_w, g.out_w].map(|v| v as usize);
    let [sh, sw, dh, dw, pt, pl] = [
        g.stride_h,
        g.stride_w,
        g.dilation_h,
        g.dilation_w,
        g.pad_top,
        g.pad_left,
    ];
    let mut row = 0;
    for c in 0..channels {
        let plane = &src[c * height * width..(c + 1) * height * width];
        for i in 0..kh {
            for j in 0..kw {
                let target = &mut dst[row * cols..(row + 1) * cols];
                row += 1;
                // Walk the output positions of the tile one output row at a time.
                let mut p = c0;
                while p < c0 + cols {
                    let (y, x0) = (p / ow, p % ow);
                    let run = (ow - x0).min(c0 + cols - p);
                    let out = &mut target[p - c0..p - c0 + run];
                    let iy = y as i64 * sh - pt + i as i64 * dh;
                    if iy < 0 || iy >= height as i64 {
                        out.fill(0.0);
                    } else {
                        let line = &plane[iy as usize * width..(iy as usize + 1) * width];
                        gather_row(out, line, x0 as i64 * sw + j as i64 * dw - pl, sw);
                    }
                    p += run;
                }
            }
        }
    }
}

/// The `t` in `0..len` whose index `first + t·stride` falls inside a line of `width`:
/// `start..end`.
fn inside_line(len: usize, width: i64, first: i64, stride: i64) -> (usize, usize) {
    // The smallest `t ≥ 0` with `first + t·stride ≥ bound`.
    let first_reaching = |bound: i64| {
        let distance = (bound - first).max(0);
        distance / stride + (distance % stride != 0) as i64
    };
    let start = first_reaching(0).min(len as i64) as usize;
    let end = first_reaching(width).clamp(start as i64, len as i64) as usize;
    (start, end)
}

/// `out[t] = line[first + t·stride]`, zero where that index is outside the line.
#[inline(always)]
pub(crate) fn gather_row(out: &mut [f32], line: &[f32], first: i64, stride: i64) {
    let (start, end) = inside_line(out.len(), line.len() as i64, first, stride);
    out[..start].fill(0.0);
    out[end..].fill(0.0);
    if start == end {
        return;
    }
    let from = (first + start as i64 * stride) as usize;
    let inside = &mut out[start..end];
    if stride == 1 {
        inside.copy_from_slice(&line[from..from + inside.len()]);
        return;
    }
    // The last index alone: a whole chunk of `stride` values from it may run past the
    // line.
    let (last, body) = inside.split_last_mut().unwrap();
    *last = line[from + body.len() * stride as usize];
    strided_copy(body, &line[from..], stride as usize);
}

/// `dst[t] = src[t·stride]`, reading whole chunks of `stride` values; stride 2 (the
/// common one) as a constant, so LLVM vectorizes the strided read.
#[inline(always)]
fn strided_copy(dst: &mut [f32], src: &[f32], stride: usize) {
    #[inline(always)]
    fn copy<const S: usize>(dst: &mut [f32], src: &[f32]) {
        for (slot, chunk) in dst.iter_mut().zip(src.chunks_exact(S)) {
            *slot = chunk[0];
        }
    }
    if stride == 2 {
        return copy::<2>(dst, src);
    }
    for (slot, chunk) in dst.iter_mut().zip(src.chunks_exact(stride)) {
        *slot = chunk[0];
    }
}

/// Output positions computed together in registers by the depthwise loop.
const LANES: usize = 16;

/// One input plane of a depthwise conv laid out so every tap reads a contiguous run:
/// padded with zeros on all sides, and each row split into `stride_w` phases (phase
/// `p` holds padded columns `p, p + stride_w, …`). Output column `x` of tap `j` then
/// reads phase `(j·dw) % sw` at `x + (j·dw) / sw`, for every `x` alike.
struct PhasePlane {
    /// Values in one phase of one row (enough for whole `LANES` chunks of output).
    phase_len: usize,
    /// Values in one padded row (all its phases).
    row_len: usize,
    /// Padded rows the output reads.
    rows: usize,
    /// Per phase, the run of it that holds input values: `(start, len, from)` puts input
    /// columns `from, from + sw, …` at `start..start + len`. The same for every row.
    runs: Vec<(usize, usize, usize)>,
}

impl PhasePlane {
    fn new(g: &ConvGeometry) -> PhasePlane {
        let [kw, ow, sw, dw] = [g.kernel_w, g.out_w, g.stride_w, g.dilation_w].map(|v| v as usize);
        let phase_len = ow.div_ceil(LANES) * LANES + (kw - 1) * dw / sw;
        let runs = (0..sw)
            .map(|p| {
                // Padded column `t·sw + p` is input column `t·sw + p - pad_left`.
                let first = p as i64 - g.pad_left;
                let (start, end) = inside_line(phase_len, g.width, first, sw as i64);
                (start, end - start, (first + (start * sw) as i64).max(0) as usize)
            })
            .collect();
        PhasePlane {
            phase_len,
            row_len: phase_len * sw,
            rows: ((g.out_h - 1) * g.stride_h + (g.kernel_h - 1) * g.dilation_h + 1) as usize,
            runs,
        }
    }

    /// Writes the values of channel plane `plane` (`[H, W]`) into `dst`, which holds this
    /// layout with the padding value (zero, or `-inf` for a pooling) everywhere else (from
    /// an earlier `fill` of the same geometry, or freshly filled).
    #[inline(always)]
    fn fill(&self, g: &ConvGeometry, plane: &[f32], dst: &mut [f32]) {
        let [height, width, sw] = [g.height, g.width, g.stride_w].map(|v| v as usize);
        for iy in 0..height {
            let r = iy + g.pad_top as usize;
            if r >= self.rows {
                break;
            }
            let line = &plane[iy * width..(iy + 1) * width];
            for (p, &(start, len, from)) in self.runs.iter().enumerate() {
                let run = &mut dst[r * self.row_len + p * self.phase_len + start..][..len];
                if sw == 1 {
                    run.copy_from_slice(&line[from..from + len]);
                } else if let Some((last, body)) = run.split_last_mut() {
                    // The last value alone: a whole chunk of `sw` from it may run past
                    // the line.
                    *last = line[from + body.len() * sw];
                    strided_copy(body, &line[from..], sw);
                }
            }
        }
    }
}

#[inline(always)]
fn fill_phase_plane_body(layout: &PhasePlane, g: &ConvGeometry, plane: &[f32], dst: &mut [f32]) {
    layout.fill(g, plane, dst);
}

/// `LANES` consecutive outputs of one output row of a depthwise conv: they start at
/// `out` in the channel's output and read the plane from `base` (plus each tap's start);
/// `len` of them are real (the rest of the vector is not stored).
#[derive(Clone, Copy)]
struct OutputChunk {
    out: usize,
    base: usize,
    len: usize,
}

/// Chunks computed together: independent sums, so the adds of one do not wait on the
/// previous add of another (one chain of dependent adds per output is 4 cycles a tap).
const CHUNKS_AT_ONCE: usize = 4;

/// The chunks of every output row of a plane, padded with empty chunks to a multiple of
/// [`CHUNKS_AT_ONCE`].
fn output_chunks(g: &ConvGeometry, layout: &PhasePlane) -> Vec<OutputChunk> {
    let [oh, ow, sh] = [g.out_h, g.out_w, g.stride_h].map(|v| v as usize);
    let mut chunks = Vec::new();
    for y in 0..oh {
        for x0 in (0..ow).step_by(LANES) {
            chunks.push(OutputChunk {
                out: y * ow + x0,
                base: y * sh * layout.row_len + x0,
                len: LANES.min(ow - x0),
            });
        }
    }
    pad_to_whole_groups(&mut chunks);
    chunks
}

/// Empty chunks appended up to a multiple of [`CHUNKS_AT_ONCE`], as the vector loops take
/// them in groups.
fn pad_to_whole_groups(chunks: &mut Vec<OutputChunk>) {
    while !chunks.len().is_multiple_of(CHUNKS_AT_ONCE) {
        chunks.push(OutputChunk {
            out: 0,
            base: 0,
            len: 0,
        });
    }
}

/// One channel of a depthwise conv: `out[c.out + x] = Σ_t filter[t] · plane[c.base +
/// starts[t] + x]` for each chunk `c`, summed in tap order from zero (a multiply, then
/// an add: never fused, so both versions round alike).
#[inline(always)]
fn depthwise_channel_portable(
    plane: &[f32],
    chunks: &[OutputChunk],
    starts: &[usize],
    filter: &[f32],
    out: &mut [f32],
) {
    for chunk in chunks.iter().filter(|c| c.len > 0) {
        let mut acc = [0.0f32; LANES];
        for (&start, &w) in starts.iter().zip(filter) {
            let run = &plane[chunk.base + start..chunk.base + start + LANES];
            for (a, v) in acc.iter_mut().zip(run) {
                *a += w * v;
            }
        }
        out[chunk.out..chunk.out + chunk.len].copy_from_slice(&acc[..chunk.len]);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn depthwise_channel_avx512(plane: &[f32], chunks: &[OutputChunk], starts: &[usize], filter: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let furthest = starts.iter().max().copied().unwrap_or(0);
    assert!(starts.len() <= filter.len());
    for group in chunks.chunks_exact(CHUNKS_AT_ONCE) {
        for c in group {
            assert!(c.base + furthest + LANES <= plane.len() && c.out + c.len <= out.len());
        }
        let mut acc = [_mm512_setzero_ps(); CHUNKS_AT_ONCE];
        for (&start, &w) in starts.iter().zip(filter) {
            let w = _mm512_set1_ps(w);
            for (a, c) in acc.iter_mut().zip(group) {
                // SAFETY: `c.base + start + LANES <= plane.len()` (asserted above).
                let v = unsafe { _mm512_loadu_ps(plane.as_ptr().add(c.base + start)) };
                *a = _mm512_add_ps(*a, _mm512_mul_ps(w, v));
            }
        }
        for (a, c) in acc.iter().zip(group) {
            let mask = if c.len == LANES { !0 } else { (1u16 << c.len) - 1 };
            // SAFETY: the mask stores only `out[c.out..c.out + c.len]` (asserted above).
            unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr().add(c.out), mask, *a) };
        }
    }
}

/// Stores the first `lanes` (at most 8) values of `v` at `dst`, nothing past them:
/// whole, or in pieces of 4, 2 and 1. Not `vmaskmovps`, whose store measured about 40% of
/// the AVX2 depthwise loop's time in perf on an AMD EPYC; nor a copy of `lanes` values,
/// which calls `memmove`.
///
/// # Safety
/// `dst .. dst + lanes` is writable; the CPU has AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
pub(crate) unsafe fn store_first_lanes(dst: *mut f32, v: std::arch::x86_64::__m256, lanes: usize) {
    use std::arch::x86_64::*;
    if lanes >= 8 {
        // SAFETY: as the caller promises.
        return unsafe { _mm256_storeu_ps(dst, v) };
    }
    let (mut rest, mut at, mut left) = (_mm256_castps256_ps128(v), dst, lanes);
    // SAFETY (every store): the `left` values from `at` are writable, as the caller
    // promises.
    unsafe {
        if left >= 4 {
            _mm_storeu_ps(at, rest);
            rest = _mm256_extractf128_ps::<1>(v);
            (at, left) = (at.add(4), left - 4);
        }
        if left >= 2 {
            // An unaligned 8-byte store (`_mm_store_sd` promises 8-byte alignment).
            _mm_storel_epi64(at.cast(), _mm_castps_si128(rest));
            rest = _mm_movehl_ps(rest, rest);
            (at, left) = (at.add(2), left - 2);
        }
        if left == 1 {
            _mm_store_ss(at, rest);
        }
    }
}

/// [`depthwise_channel_avx512`] on AVX2: each chunk of [`LANES`] outputs in two ymm
/// vectors, the same multiplies and adds in the same order.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn depthwise_channel_avx2(plane: &[f32], chunks: &[OutputChunk], starts: &[usize], filter: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    const HALF: usize = LANES / 2;
    let furthest = starts.iter().max().copied().unwrap_or(0);
    assert!(starts.len() <= filter.len());
    for group in chunks.chunks_exact(CHUNKS_AT_ONCE) {
        for c in group {
            assert!(c.base + furthest + LANES <= plane.len() && c.out + c.len <= out.len());
        }
        let mut acc = [[_mm256_setzero_ps(); 2]; CHUNKS_AT_ONCE];
        for (&start, &w) in starts.iter().zip(filter) {
            let w = _mm256_set1_ps(w);
            for (a, c) in acc.iter_mut().zip(group) {
                for (h, a) in a.iter_mut().enumerate() {
                    // SAFETY: `c.base + start + LANES <= plane.len()` (asserted above).
                    let v = unsafe { _mm256_loadu_ps(plane.as_ptr().add(c.base + start + HALF * h)) };
                    *a = _mm256_add_ps(*a, _mm256_mul_ps(w, v));
                }
            }
        }
        for (a, c) in acc.iter().zip(group) {
            for (h, &a) in a.iter().enumerate() {
                let lanes = c.len.saturating_sub(HALF * h).min(HALF);
                // SAFETY: `out[c.out..c.out + c.len]` is inside `out` (asserted above).
                unsafe { store_first_lanes(out.as_mut_ptr().wrapping_add(c.out + HALF * h), a, lanes) };
            }
        }
    }
}

/// The running maximum `a` of a pooling window with the next value `v`, as
/// `arith.maximumf` takes it: NaN propagates (a NaN `v` replaces `a`), and +0 is above -0.
/// [`max_channel_avx512`] computes the same, lane by lane.
#[inline(always)]
fn pool_maximum(a: f32, v: f32) -> f32 {
    if v.is_nan() {
        v
    } else if a.is_nan() {
        a
    } else if v == a {
        // Equal: the same bits, or zeros of either sign (+0 wins).
        f32::from_bits(a.to_bits() & v.to_bits())
    } else if v > a {
        v
    } else {
        a
    }
}

/// One channel of a max pooling: as [`depthwise_channel_portable`], the maximum of the
/// window ([`pool_maximum`]) for the weighted sum.
#[inline(always)]
fn max_channel_portable(plane: &[f32], chunks: &[OutputChunk], starts: &[usize], out: &mut [f32]) {
    for chunk in chunks.iter().filter(|c| c.len > 0) {
        let mut acc = [f32::NEG_INFINITY; LANES];
        for &start in starts {
            let run = &plane[chunk.base + start..chunk.base + start + LANES];
            for (a, &v) in acc.iter_mut().zip(run) {
                *a = pool_maximum(*a, v);
            }
        }
        out[chunk.out..chunk.out + chunk.len].copy_from_slice(&acc[..chunk.len]);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn max_channel_avx512(plane: &[f32], chunks: &[OutputChunk], starts: &[usize], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let furthest = starts.iter().max().copied().unwrap_or(0);
    for group in chunks.chunks_exact(CHUNKS_AT_ONCE) {
        for c in group {
            assert!(c.base + furthest + LANES <= plane.len() && c.out + c.len <= out.len());
        }
        let mut acc = [_mm512_set1_ps(f32::NEG_INFINITY); CHUNKS_AT_ONCE];
        for &start in starts {
            for (a, c) in acc.iter_mut().zip(group) {
                // SAFETY: `c.base + start + LANES <= plane.len()` (asserted above).
                let v = unsafe { _mm512_loadu_ps(plane.as_ptr().add(c.base + start)) };
                // `vmaxps` gives its second operand when either is NaN or both are equal:
                // equal lanes (zeros of either sign) take the AND of both (+0 wins), a
                // NaN running maximum stays, and a NaN input is put back
                // ([`pool_maximum`]).
                let max = _mm512_max_ps(v, *a);
                let equal = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(v, *a);
                let bits = _mm512_mask_and_epi32(
                    _mm512_castps_si512(max),
                    equal,
                    _mm512_castps_si512(v),
                    _mm512_castps_si512(*a),
                );
                let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
                *a = _mm512_mask_mov_ps(_mm512_castsi512_ps(bits), nan, v);
            }
        }
        for (a, c) in acc.iter().zip(group) {
            let mask = if c.len == LANES { !0 } else { (1u16 << c.len) - 1 };
            // SAFETY: the mask stores only `out[c.out..c.out + c.len]` (asserted above).
            unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr().add(c.out), mask, *a) };
        }
    }
}

/// [`pool_maximum`] of 8 lanes: the running maxima `a` with the next values `v`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn pool_maximum_avx2(
    a: std::arch::x86_64::__m256,
    v: std::arch::x86_64::__m256,
) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    // As in `max_channel_avx512`: `vmaxps` gives its second operand on NaN or equal lanes;
    // equal lanes take the AND (+0 wins), a NaN input is put back.
    let max = _mm256_max_ps(v, a);
    let equal = _mm256_cmp_ps::<_CMP_EQ_OQ>(v, a);
    let bits = _mm256_blendv_ps(max, _mm256_and_ps(v, a), equal);
    let nan = _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v);
    _mm256_blendv_ps(bits, v, nan)
}

/// [`max_channel_avx512`] on AVX2: each chunk of [`LANES`] outputs in two ymm vectors,
/// the same maximum ([`pool_maximum`]) lane by lane.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn max_channel_avx2(plane: &[f32], chunks: &[OutputChunk], starts: &[usize], out: &mut [f32]) {
    use std::arch::x86_64::*;
    const HALF: usize = LANES / 2;
    let furthest = starts.iter().max().copied().unwrap_or(0);
    for group in chunks.chunks_exact(CHUNKS_AT_ONCE) {
        for c in group {
            assert!(c.base + furthest + LANES <= plane.len() && c.out + c.len <= out.len());
        }
        let mut acc = [[_mm256_set1_ps(f32::NEG_INFINITY); 2]; CHUNKS_AT_ONCE];
        for &start in starts {
            for (a, c) in acc.iter_mut().zip(group) {
                for (h, a) in a.iter_mut().enumerate() {
                    // SAFETY: `c.base + start + LANES <= plane.len()` (asserted above).
                    let v = unsafe { _mm256_loadu_ps(plane.as_ptr().add(c.base + start + HALF * h)) };
                    *a = pool_maximum_avx2(*a, v);
                }
            }
        }
        for (a, c) in acc.iter().zip(group) {
            for (h, &a) in a.iter().enumerate() {
                let lanes = c.len.saturating_sub(HALF * h).min(HALF);
                // SAFETY: `out[c.out..c.out + c.len]` is inside `out` (asserted above).
                unsafe { store_first_lanes(out.as_mut_ptr().wrapping_add(c.out + HALF * h), a, lanes) };
            }
        }
    }
}

/// What every tile of one depthwise conv shares, worked out once per call: the plane
/// layout, where each tap starts in it, and the output chunks.
struct DepthwisePlan {
    layout: PhasePlane,
    /// Where tap `(i, j)` of output row 0 starts in the plane.
    starts: Vec<usize>,
    chunks: Vec<OutputChunk>,
}

impl DepthwisePlan {
    fn new(g: &ConvGeometry) -> DepthwisePlan {
        let [kh, kw, sw, dh, dw] = [g.kernel_h, g.kernel_w, g.stride_w, g.dilation_h, g.dilation_w].map(|v| v as usize);
        let layout = PhasePlane::new(g);
        let starts = (0..kh * kw)
            .map(|t| (t / kw * dh) * layout.row_len + (t % kw * dw) % sw * layout.phase_len + (t % kw * dw) / sw)
            .collect();
        let chunks = output_chunks(g, &layout);
        DepthwisePlan { layout, starts, chunks }
    }
}

/// One tile of a depthwise conv (`weights` its filters) or of a max pooling (`None`):
/// rows are channels, columns output positions (whole output rows, since a tile spans all
/// of them). Each channel's input is laid out as a [`PhasePlane`] in `scratch`, then every
/// `LANES` outputs of a row combine their taps in registers, in tap order, padding
/// included (zeros for a conv, `-inf` for a pooling), several chunks at a time.
/// `finish(r, row)` then runs on each channel's row of the tile as soon as it is computed
/// (while it is in cache).
#[allow(clippy::too_many_arguments)]
fn depthwise_tile(
    src: &[f32],
    weights: Option<&[f32]>,
    g: &ConvGeometry,
    plan: &DepthwisePlan,
    tile: Tile,
    product: &mut [f32],
    scratch: &mut Vec<f32>,
    mut finish: impl FnMut(usize, &mut [f32]),
) {
    let [height, width, kh, kw] = [g.height, g.width, g.kernel_h, g.kernel_w].map(|v| v as usize);
    let DepthwisePlan { layout, starts, chunks } = plan;
    // Padding once per tile: each channel's `fill` then writes only input values.
    let padding = if weights.is_some() { 0.0 } else { f32::NEG_INFINITY };
    scratch.clear();
    scratch.resize(layout.rows * layout.row_len, padding);
    for r in 0..tile.rows {
        let channel = tile.r0 + r;
        fill_phase_plane(
            layout,
            g,
            &src[channel * height * width..(channel + 1) * height * width],
            scratch,
        );
        let out = &mut product[r * tile.cols..(r + 1) * tile.cols];
        match weights {
            Some(weights) => {
                let filter = &weights[channel * kh * kw..(channel + 1) * kh * kw];
                depthwise_channel(scratch, chunks, starts, filter, out);
            }
            None => max_channel(scratch, chunks, starts, out),
        }
        finish(r, out);
    }
}

/// One channel of a depthwise conv, by the widest loop this CPU runs.
fn depthwise_channel(plane: &[f32], chunks: &[OutputChunk], starts: &[usize], filter: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the CPU has AVX-512F (checked).
        return unsafe { depthwise_channel_avx512(plane, chunks, starts, filter, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked).
        return unsafe { depthwise_channel_avx2(plane, chunks, starts, filter, out) };
    }
    depthwise_channel_portable(plane, chunks, starts, filter, out);
}

/// One channel of a max pooling, by the widest loop this CPU runs.
fn max_channel(plane: &[f32], chunks: &[OutputChunk], starts: &[usize], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the CPU has AVX-512F (checked).
        return unsafe { max_channel_avx512(plane, chunks, starts, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked).
        return unsafe { max_channel_avx2(plane, chunks, starts, out) };
    }
    max_channel_portable(plane, chunks, starts, out);
}

/// Whether the f32 kernels take their AVX-512 loops on this CPU (decided once: the CPU has
/// AVX-512F and its 512-bit multiply-adds are worth it, see [`crate::vector_width`]).
/// Where this is false on an AVX-512 CPU the AVX2 tier runs: its channel-blocked convs.
pub(crate) fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        crate::vector_width::wide_vectors()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this CPU runs AVX2 with FMA, the middle tier of [`dispatch`]'s loops.
pub(crate) fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

// The elementwise loops of a tile, compiled for AVX-512, for AVX2 with FMA and for the
// baseline (the crate is built for any x86-64), and picked at run time. Each element is
// computed by the same operations either way (a fused multiply-add is exact-rounded in
// hardware and in the C library's `fma`, which the baseline calls), so results do not
// depend on the CPU.
//
// The AVX-512 loops also run on the AVX2 tier of a CPU with AVX-512F (AMD Zen 4,
// [`crate::vector_width::zmm_on_avx2_tier`]): half the instructions for the same
// operations. `fuser bench --ab` with both alternating (two threads, two runs each, a
// Zen 4 EPYC): the BERT layer's softmax alone (`bench/op_models.py`'s `softmax`) 0.875
// and 0.881 of the time of the AVX2 loops, the BERT layer 0.977 and 0.982, MobileNetV2
// 0.999, ResNet-50 0.997, with the same outputs.
macro_rules! dispatch {
    ($name:ident, $wide:ident, $body:ident, ($($arg:ident: $ty:ty),*)) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f")]
        fn $wide($($arg: $ty),*) {
            $body($($arg),*)
        }

        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn narrow($($arg: $ty),*) {
                    $body($($arg),*)
                }
                if $crate::fused::has_avx512() || $crate::vector_width::zmm_on_avx2_tier() {
                    // SAFETY: the CPU has AVX-512F (checked above).
                    return unsafe { $wide($($arg),*) };
                }
                if $crate::fused::has_avx2_fma() {
                    // SAFETY: the CPU has AVX2 and FMA (checked above).
                    return unsafe { narrow($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use dispatch;

// The transcendental steps over a row, each its own dispatched loop: their bodies are
// too large to be inlined into the epilogue's, and a loop compiled for the baseline would
// use 2-lane SSE. Their functions are vectorizable (no calls; see `vector_math`).
#[inline(always)]
fn gelu_erf_row_body(row: &mut [f32]) {
    for v in row {
        *v = crate::gelu::gelu_erf(*v);
    }
}

/// `0.5·x · (1 + tanh(√(2/π) · (x + 0.044715·x³)))`, the inner part in f32.
#[inline(always)]
fn gelu_tanh_row_body(row: &mut [f32]) {
    let k = (2.0f64 / std::f64::consts::PI).sqrt() as f32;
    for v in row {
        let x = *v;
        let inner = vector_math::tanh(k * (x + 0.044715 * (x * x * x)));
        *v = (0.5 * x) * (1.0 + inner);
    }
}

#[inline(always)]
fn sigmoid_row_body(row: &mut [f32]) {
    for v in row {
        *v = vector_math::sigmoid(*v);
    }
}

#[inline(always)]
fn tanh_row_body(row: &mut [f32]) {
    for v in row {
        *v = vector_math::tanh(*v);
    }
}

dispatch!(gelu_erf_row, gelu_erf_row_avx512, gelu_erf_row_body, (row: &mut [f32]));
dispatch!(gelu_tanh_row, gelu_tanh_row_avx512, gelu_tanh_row_body, (row: &mut [f32]));
dispatch!(sigmoid_row, sigmoid_row_avx512, sigmoid_row_body, (row: &mut [f32]));
dispatch!(tanh_row, tanh_row_avx512, tanh_row_body, (row: &mut [f32]));
dispatch!(apply_epilogue, apply_epilogue_avx512, apply_epilogue_body,
    (steps: &[Step], operands: &Operands, r: usize, c0: usize, row: &mut [f32]));
dispatch!(fill_phase_plane, fill_phase_plane_avx512, fill_phase_plane_body,
    (layout: &PhasePlane, g: &ConvGeometry, plane: &[f32], dst: &mut [f32]));
dispatch!(im2col_tile, im2col_tile_avx512, im2col_tile_body,
    (src: &[f32], g: &ConvGeometry, c0: usize, cols: usize, dst: &mut [f32]));

/// Applies the epilogue `steps` to output row `r` from column `c0` (for the INT8 kernel).
pub(crate) fn epilogue_row(steps: &[Step], operands: &Operands, r: usize, c0: usize, row: &mut [f32]) {
    apply_epilogue(steps, operands, r, c0, row);
}

/// Reads the encoded descriptor at address `descriptor`.
///
/// # Safety
/// `descriptor` must point at a whole encoded descriptor (its length is in its header).
pub(crate) unsafe fn read_descriptor(descriptor: i64) -> Option<Descriptor> {
    // SAFETY: the header comes first; its length is read from it.
    let words = unsafe { std::slice::from_raw_parts(descriptor as *const i64, HEADER + 1) };
    let len = Descriptor::encoded_len(words)?;
    // SAFETY: as above, now with the full length.
    let words = unsafe { std::slice::from_raw_parts(descriptor as *const i64, len) };
    Descriptor::decode(words)
}

/// The fused call (see the module docs).
///
/// # Safety
/// `descriptor` must point to an encoded [`Descriptor`]; `a`, `b`, `out` and the
/// epilogue operands it names must address buffers of the sizes it describes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fuser_fused_f32(descriptor: i64, a: i64, b: i64, out: i64, e0: i64, e1: i64, e2: i64) {
    // SAFETY: the caller passes a valid descriptor.
    let Some(d) = (unsafe { read_descriptor(descriptor) }) else {
        return;
    };
    let operands = Operands::new([e0, e1, e2], d.n as usize);
    if d.batch.is_batched() {
        // SAFETY: as this function's contract.
        return unsafe { crate::batched_matmul::run(&d, a, b, out, &operands) };
    }
    if d.layout.is_plain() {
        // SAFETY: as this function's contract.
        return unsafe { run_plain(&d, descriptor, a, b, out, &operands) };
    }
    // Blocked tensors: the kernels that read and write them, else plain copies.
    #[cfg(target_arch = "x86_64")]
    if crate::winograd::computes(&d) {
        // SAFETY: as this function's contract; `computes` checked the CPU.
        return unsafe { crate::winograd::run(&d, descriptor, a, b, out, &operands) };
    }
    #[cfg(target_arch = "x86_64")]
    if crate::blocked_conv::computes(&d) {
        // SAFETY: as this function's contract; `computes` checked AVX2 and FMA.
        return unsafe { crate::blocked_conv::run(&d, descriptor, a, b, out, &operands) };
    }
    #[cfg(target_arch = "x86_64")]
    if crate::depthwise_channels::computes_blocked(&d) {
        // SAFETY: as this function's contract; `computes_blocked` checked AVX2 and FMA.
        let band = crate::depthwise_channels::BAND_BYTES;
        return unsafe { crate::depthwise_channels::run_blocked(&d, (a, b, out), &operands, band) };
    }
    #[cfg(target_arch = "x86_64")]
    if crate::max_pool_channels::computes_blocked(&d) {
        // SAFETY: as this function's contract; `computes_blocked` checked AVX2.
        return unsafe { crate::max_pool_channels::run_blocked(&d, b, out) };
    }
    // SAFETY: as this function's contract, the plain call over the plain copies.
    unsafe {
        crate::blocked_layout::through_plain_copies(&d, b, out, &operands, |plain, b, out, operands| {
            run_plain(plain, descriptor, a, b, out, operands)
        })
    }
}

/// [`fuser_fused_f32`] for a descriptor without blocked tensors: the first path that
/// computes it.
///
/// # Safety
/// As [`fuser_fused_f32`], `descriptor` the address `d` was read from.
unsafe fn run_plain(d: &Descriptor, descriptor: i64, a: i64, b: i64, out: i64, operands: &Operands) {
    debug_assert!(d.layout.is_plain());
    #[cfg(target_arch = "x86_64")]
    if crate::packed_matmul::computes(d) {
        // SAFETY: as this function's contract.
        return unsafe { crate::packed_matmul::run(d, descriptor, a, b, out, operands) };
    }
    #[cfg(target_arch = "x86_64")]
    if crate::blocked_conv::computes(d) {
        // SAFETY: as this function's contract; `computes` checked AVX2 and FMA.
        return unsafe { crate::blocked_conv::run(d, descriptor, a, b, out, operands) };
    }
    #[cfg(target_arch = "x86_64")]
    if crate::register_tiled::computes(d) {
        // SAFETY: as this function's contract.
        return unsafe { crate::register_tiled::run(d, a, b, out, operands) };
    }
    #[cfg(target_arch = "x86_64")]
    if crate::direct_conv::computes(d) {
        // SAFETY: as this function's contract; `computes` checked AVX2 and FMA.
        return unsafe { crate::direct_conv::run(d, a, b, out, operands) };
    }
    // SAFETY: as this function's contract.
    unsafe { run_with_gemm(d, a, b, out, operands) }
}

/// Runs the epilogue on `row`, the computed values of output row `r` from column `c0`,
/// and copies them to the `[M, N]` output at `out_addr` unless they are there already
/// (`in_place`).
pub(crate) fn finish_row(
    d: &Descriptor,
    operands: &Operands,
    in_place: bool,
    out_addr: usize,
    (r, c0): (usize, usize),
    row: &mut [f32],
) {
    apply_epilogue(&d.epilogue, operands, r, c0, row);
    if !in_place {
        // SAFETY: the output is dense `[M, N]`; the caller's tiles do not overlap.
        let target =
            unsafe { std::slice::from_raw_parts_mut((out_addr as *mut f32).add(r * d.n as usize + c0), row.len()) };
        target.copy_from_slice(row);
    }
}

/// The fused call through the `gemm` crate (and im2col tiles), and the depthwise conv.
///
/// # Safety
/// As [`fuser_fused_f32`].
pub(crate) unsafe fn run_with_gemm(d: &Descriptor, a: i64, b: i64, out: i64, operands: &Operands) {
    let (m, n, k) = (d.m as usize, d.n as usize, d.k as usize);
    let out_addr = out as usize;
    let g = d.conv;
    let input_len = (g.channels * g.height * g.width) as usize;
    // The product goes straight into the output, and the epilogue runs there in place,
    // unless an epilogue operand shares memory with the output: then each tile is
    // computed in scratch first, so no operand is overwritten before it is read.
    let in_place = !epilogue_reads_output(&d.epilogue, operands, m, out_addr);
    let windowed = matches!(d.contraction, Contraction::Depthwise2d | Contraction::MaxPool2d);
    // A depthwise conv with 8 channels in a vector, where its rows are narrow or strided.
    #[cfg(target_arch = "x86_64")]
    let by_channels = d.contraction == Contraction::Depthwise2d && crate::depthwise_channels::computes(&g);
    #[cfg(not(target_arch = "x86_64"))]
    let by_channels = false;
    let depthwise_plan = (windowed && !by_channels).then(|| DepthwisePlan::new(&g));
    let run_tile = |tile: Tile| {
        SCRATCH.with(|scratch| {
            let (block, product) = &mut *scratch.borrow_mut();
            let (dst, dst_row) = if in_place {
                // SAFETY: the tile lies inside the dense `[M, N]` output.
                (unsafe { (out_addr as *mut f32).add(tile.r0 * n + tile.c0) }, n)
            } else {
                product.resize(tile.rows * tile.cols, 0.0);
                (product.as_mut_ptr(), tile.cols)
            };
            // SAFETY: A, B and the input cover the shapes of the descriptor; `dst` holds
            // `rows` rows of `cols` values, `dst_row` apart (a depthwise tile spans whole
            // rows, so its rows are contiguous either way).
            unsafe {
                match d.contraction {
                    Contraction::Depthwise2d | Contraction::MaxPool2d => {
                        let src = std::slice::from_raw_parts(b as *const f32, input_len);
                        let weights = (d.contraction == Contraction::Depthwise2d)
                            .then(|| std::slice::from_raw_parts(a as *const f32, m * k));
                        let target = std::slice::from_raw_parts_mut(dst, tile.rows * tile.cols);
                        // Each channel's epilogue runs as soon as it is computed.
                        let finish = |r: usize, row: &mut [f32]| {
                            finish_row(d, operands, in_place, out_addr, (tile.r0 + r, tile.c0), row)
                        };
                        #[cfg(target_arch = "x86_64")]
                        if let (true, Some(weights)) = (by_channels, weights) {
                            let rows = (tile.r0, tile.rows);
                            let band = crate::depthwise_channels::BAND_BYTES;
                            // SAFETY: `computes` checked AVX2.
                            return crate::depthwise_channels::depthwise_tile(
                                src, weights, &g, rows, target, block, band, finish,
                            );
                        }
                        let plan = depthwise_plan.as_ref().expect("planned for a windowed contraction");
                        return depthwise_tile(src, weights, &g, plan, tile, target, block, finish);
                    }
                    Contraction::Matmul | Contraction::Conv2d => {
                        let [a_row, a_col, b_row, b_col] = d.strides.map(|s| s as isize);
                        let a_tile = (a as *const f32).offset(tile.r0 as isize * a_row);
                        // B's block for the tile's columns, and its row and column strides.
                        let (b_tile, b_row, b_col) = match d.contraction {
                            Contraction::Conv2d if reads_input_directly(&g) => {
                                ((b as *const f32).add(tile.c0), n as isize, 1)
                            }
                            Contraction::Conv2d => {
                                block.resize(k * tile.cols, 0.0);
                                let src = std::slice::from_raw_parts(b as *const f32, input_len);
                                im2col_tile(src, &g, tile.c0, tile.cols, block);
                                (block.as_ptr(), tile.cols as isize, 1)
                            }
                            _ => ((b as *const f32).offset(tile.c0 as isize * b_col), b_row, b_col),
                        };
                        gemm(
                            tile.rows,
                            tile.cols,
                            k,
                            dst,
                            1,
                            dst_row as isize,
                            false,
                            a_tile,
                            a_col,
                            a_row,
                            b_tile,
                            b_col,
                            b_row,
                            1.0f32,
                            1.0f32,
                            false,
                            false,
                            false,
                            Parallelism::None,
                        );
                    }
                }
            }
            for r in 0..tile.rows {
                // SAFETY: row `r` of the tile, as above.
                let row = unsafe { std::slice::from_raw_parts_mut(dst.add(r * dst_row), tile.cols) };
                finish_row(d, operands, in_place, out_addr, (tile.r0 + r, tile.c0), row);
            }
        });
    };
    // A depthwise or pooling tile spans whole output planes (rows are channels).
    let tiles = match d.contraction {
        Contraction::Depthwise2d | Contraction::MaxPool2d => {
            // About 16 tiles; whole vectors of 8 channels for the loop by channels.
            let rows = match by_channels {
                true => m.div_ceil(16).max(1).next_multiple_of(8),
                false => m.div_ceil(16).max(1),
            };
            (0..m)
                .step_by(rows)
                .map(|r0| Tile {
                    r0,
                    rows: rows.min(m - r0),
                    c0: 0,
                    cols: n,
                })
                .collect()
        }
        _ => tiles(
            m,
            n,
            k,
            d.contraction == Contraction::Conv2d && !reads_input_directly(&g),
        ),
    };
    crate::microkernels::for_each_item(tiles, run_tile);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Not a test: `cargo test --release -p fuser-runtime gelu_timing -- --ignored
    /// --nocapture` prints Gelu's (erf) time per value over rows of a transformer's width.
    #[test]
    #[ignore]
    fn gelu_timing() {
        let mut row: Vec<f32> = (0..3072).map(|i| (i as f32 * 0.37).sin() * 4.0).collect();
        for round in 0..4 {
            let start = std::time::Instant::now();
            for _ in 0..2000 {
                gelu_erf_row(&mut row);
                row.iter_mut().for_each(|v| *v = (*v * 0.9) - 0.3);
            }
            let t = start.elapsed().as_secs_f64();
            eprintln!(
                "round {round}: {:.2} ns/value ({})",
                t / (2000.0 * 3072.0) * 1e9,
                row[7]
            );
        }
    }

    /// Not a test: `cargo test --release -p fuser-runtime depthwise_timing -- --ignored
    /// --nocapture` times MobileNetV2's depthwise 3×3 convs: the fused call (bias and ReLU6
    /// after them) on `F32_THREADS` threads (default: all cores), then the loop over rows and
    /// the loop by channels on one thread, alternating, the best of 10 rounds each.
    #[cfg(target_arch = "x86_64")]
    #[test]
    #[ignore]
    fn depthwise_timing() {
        use crate::register_tiled::tests::{conv_geometry, seconds_per_call, threads_from_environment, values};
        if !is_x86_feature_detected!("avx2") {
            return;
        }
        threads_from_environment();
        for (c, hw, stride) in [
            (32usize, 112usize, 1usize),
            (96, 112, 2),
            (144, 56, 1),
            (144, 56, 2),
            (192, 28, 1),
            (192, 28, 2),
            (384, 14, 1),
            (576, 14, 1),
            (576, 14, 2),
            (960, 7, 1),
        ] {
            let conv = conv_geometry((c, hw, hw), (3, 3), (stride, stride), 1, (1, 1)).expect("a 3×3 window fits");
            let o = conv.out_w as usize;
            let d = Descriptor {
                contraction: Contraction::Depthwise2d,
                m: c as i64,
                n: (o * o) as i64,
                k: 9,
                strides: [9, 1, (o * o) as i64, 1],
                conv,
                batch: Batch::default(),
                constant_weights: 0,
                layout: Layout::default(),
                epilogue: vec![Step::AddRow(0), Step::Clip(0.0, 6.0)],
            };
            let (weights, input, bias) = (values(1, c * 9), values(2, c * hw * hw), values(3, c));
            let mut out = vec![0f32; c * o * o];
            let operands = Operands::new([bias.as_ptr() as i64, 0, 0], o * o);
            let o_addr = out.as_mut_ptr() as i64;
            // SAFETY: the buffers cover the descriptor's shapes.
            let call =
                || unsafe { run_with_gemm(&d, weights.as_ptr() as i64, input.as_ptr() as i64, o_addr, &operands) };
            let best = (0..20).map(|_| seconds_per_call(call)).fold(f64::MAX, f64::min);
            // The call with its input and output channel-blocked (on AVX2 without AVX-512).
            let blocked = Descriptor {
                layout: Layout {
                    input_blocked: true,
                    output_blocked: true,
                },
                ..d.clone()
            };
            let blocked_best = match crate::depthwise_channels::computes_blocked(&blocked) {
                true => (0..20)
                    .map(|_| {
                        seconds_per_call(|| {
                            let pointers = (weights.as_ptr() as i64, input.as_ptr() as i64, o_addr);
                            let band = crate::depthwise_channels::BAND_BYTES;
                            // SAFETY: the buffers cover the descriptor's shapes; the CPU has
                            // AVX2 and FMA (`computes_blocked`).
                            unsafe { crate::depthwise_channels::run_blocked(&blocked, pointers, &operands, band) }
                        })
                    })
                    .fold(f64::MAX, f64::min),
                false => f64::NAN,
            };
            // One thread, all channels as one tile: the loop over rows and the loop by
            // channels (on AVX2), without the epilogue.
            let tile = Tile {
                r0: 0,
                rows: c,
                cols: o * o,
                c0: 0,
            };
            let plan = DepthwisePlan::new(&conv);
            let buffers = RefCell::new((vec![0f32; c * o * o], Vec::new()));
            let over_rows = || {
                seconds_per_call(|| {
                    let (out, scratch) = &mut *buffers.borrow_mut();
                    depthwise_tile(&input, Some(&weights), &conv, &plan, tile, out, scratch, |_, _| {});
                })
            };
            let by_channels = || {
                seconds_per_call(|| {
                    let (out, scratch) = &mut *buffers.borrow_mut();
                    let band = crate::depthwise_channels::BAND_BYTES;
                    // SAFETY: the CPU has AVX2 (checked above).
                    unsafe {
                        crate::depthwise_channels::depthwise_tile(
                            &input,
                            &weights,
                            &conv,
                            (0, c),
                            out,
                            scratch,
                            band,
                            |_, _| {},
                        )
                    };
                })
            };
            // The best of rounds that alternate the two loops (the machine is noisy).
            let (mut rows, mut by_channels_best) = (f64::MAX, f64::MAX);
            for _ in 0..10 {
                rows = rows.min(over_rows());
                by_channels_best = by_channels_best.min(by_channels());
            }
            let by_channels = by_channels_best;
            eprintln!(
                "{c} channels {hw}x{hw}/{stride}: fused call {:.1} us, blocked tensors {:.1} us; one thread: over rows {:.1} us, by channels {:.1} us",
                best * 1e6,
                blocked_best * 1e6,
                rows * 1e6,
                by_channels * 1e6
            );
        }
    }

    #[cfg(target_arch = "x86_64")]
    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]

        /// The depthwise loop with channels in vectors gives the bits of the loop over
        /// output rows (itself checked against the portable loop), on tiles of any channel
        /// count (partial vectors), geometries with strides, dilations, padding wider than
        /// the window and maps narrower than a vector, and passes each channel's row to
        /// `finish` once.
        #[test]
        fn depthwise_by_channels_matches_the_loop_over_rows(
            (channels, r0) in proptest::strategy::Strategy::prop_flat_map(1usize..20, |c| (proptest::strategy::Just(c), 0..c)),
            (h, w) in (1usize..20, 1usize..20), (kh, kw) in (1usize..5, 1usize..5),
            (sh, sw) in (1usize..4, 1usize..4), dilation in 1usize..3, (pt, pl) in (0usize..4, 0usize..4),
            seed in proptest::prelude::any::<u64>(),
        ) {
            use crate::register_tiled::tests::{conv_geometry, values};
            use proptest::prelude::*;
            if !is_x86_feature_detected!("avx2") {
                return Ok(());
            }
            let Some(g) = conv_geometry((channels, h, w), (kh, kw), (sh, sw), dilation, (pt, pl)) else {
                return Ok(());
            };
            let (oh, ow) = (g.out_h as usize, g.out_w as usize);
            let (src, weights) = (values(seed, channels * h * w), values(seed ^ 1, channels * kh * kw));
            let (rows, n) = (channels - r0, oh * ow);
            let tile = Tile { r0, rows, c0: 0, cols: n };
            let mut expected = vec![f32::NAN; rows * n];
            let mut scratch = Vec::new();
            let plan = DepthwisePlan::new(&g);
            depthwise_tile(&src, Some(&weights), &g, &plan, tile, &mut expected, &mut scratch, |_, _| {});
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            // Bands as the kernel sizes them, and of one output row each.
            for band in [crate::depthwise_channels::BAND_BYTES, 1] {
                let mut by_channels = vec![f32::NAN; rows * n];
                let mut finished = Vec::new();
                // SAFETY: the CPU has AVX2 (checked above).
                unsafe {
                    crate::depthwise_channels::depthwise_tile(
                        &src, &weights, &g, (r0, rows), &mut by_channels, &mut scratch, band,
                        |r, row| finished.push((r, row.to_vec())),
                    )
                };
                prop_assert_eq!(bits(&by_channels), bits(&expected));
                prop_assert_eq!(finished.len(), rows);
                for (i, (r, row)) in finished.iter().enumerate() {
                    prop_assert_eq!(*r, i);
                    prop_assert_eq!(bits(row), bits(&expected[i * n..(i + 1) * n]));
                }
            }
        }
    }

    /// The vectorized pooling maximums (AVX-512, AVX2: those this CPU runs) take the same
    /// value, bit for bit, as the portable one (and `arith.maximumf`) on zeros of both
    /// signs, NaN, infinities and ties, in whole and partial chunks.
    #[test]
    fn pooling_maximum_matches_the_portable_loop() {
        let specials = [0.0f32, -0.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1.5, -1.5, 1.5];
        // Every ordered pair of specials, over two taps, one chunk of LANES outputs each.
        let pairs: Vec<(f32, f32)> = specials
            .iter()
            .flat_map(|&a| specials.iter().map(move |&b| (a, b)))
            .collect();
        let lanes = pairs.len().div_ceil(LANES) * LANES;
        let mut plane = vec![0.0f32; 2 * lanes + LANES];
        for (i, &(a, b)) in pairs.iter().enumerate() {
            plane[i] = a;
            plane[lanes + i] = b;
        }
        // The last chunk stops short of its vector (a partial store).
        let mut chunks: Vec<OutputChunk> = (0..lanes / LANES)
            .map(|c| OutputChunk {
                out: c * LANES,
                base: c * LANES,
                len: LANES.min(pairs.len() - 3 - c * LANES),
            })
            .collect();
        pad_to_whole_groups(&mut chunks);
        let starts = [0, lanes];
        let sentinel = 7.25f32;
        let mut portable = vec![sentinel; lanes];
        max_channel_portable(&plane, &chunks, &starts, &mut portable);
        let mut vectorized: Vec<Vec<f32>> = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if has_avx512() {
                let mut wide = vec![sentinel; lanes];
                // SAFETY: the CPU has AVX-512F (checked).
                unsafe { max_channel_avx512(&plane, &chunks, &starts, &mut wide) };
                vectorized.push(wide);
            }
            if is_x86_feature_detected!("avx2") {
                let mut narrow = vec![sentinel; lanes];
                // SAFETY: the CPU has AVX2 (checked).
                unsafe { max_channel_avx2(&plane, &chunks, &starts, &mut narrow) };
                vectorized.push(narrow);
            }
        }
        for out in &vectorized {
            assert!(
                out[pairs.len() - 3..].iter().all(|&v| v == sentinel),
                "stores past the chunk"
            );
        }
        for (i, &(a, b)) in pairs.iter().enumerate().take(pairs.len() - 3) {
            let expected = pool_maximum(pool_maximum(f32::NEG_INFINITY, a), b);
            for out in &vectorized {
                assert_eq!(out[i].to_bits(), portable[i].to_bits(), "max({a}, {b})");
            }
            assert_eq!(portable[i].to_bits(), expected.to_bits(), "max({a}, {b})");
            if a == 0.0 && b == 0.0 {
                // +0 is above -0.
                assert_eq!(
                    portable[i].is_sign_negative(),
                    a.is_sign_negative() && b.is_sign_negative()
                );
            }
            if a.is_nan() || b.is_nan() {
                assert!(portable[i].is_nan(), "max({a}, {b}) propagates NaN");
            }
        }
    }

    /// The depthwise loops for AVX-512 and AVX2 (whichever this CPU runs) give the
    /// portable loop's bits: random plane and filter, 9 taps, chunks whole and partial.
    #[test]
    fn depthwise_loops_match_the_portable_loop() {
        let plane = crate::register_tiled::tests::values(5, 40 * LANES);
        let filter = crate::register_tiled::tests::values(6, 9);
        let starts: Vec<usize> = (0..9).map(|t| (t / 3) * 3 * LANES + t % 3).collect();
        // Partial chunks of every length class the stores split into (8 + 4 + 2 + 1).
        let lens = [LANES, 7, LANES, 14, 3, LANES, 12, 1, 9];
        let mut chunks: Vec<OutputChunk> = (0..9)
            .map(|c| OutputChunk {
                out: c * LANES,
                base: c * 2 * LANES + c % 3,
                len: lens[c],
            })
            .collect();
        pad_to_whole_groups(&mut chunks);
        let outputs = 9 * LANES;
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let mut portable = vec![f32::NAN; outputs];
        depthwise_channel_portable(&plane, &chunks, &starts, &filter, &mut portable);
        #[cfg(target_arch = "x86_64")]
        {
            let mut checked = 0;
            if has_avx512() {
                let mut wide = vec![f32::NAN; outputs];
                // SAFETY: the CPU has AVX-512F (checked).
                unsafe { depthwise_channel_avx512(&plane, &chunks, &starts, &filter, &mut wide) };
                assert_eq!(bits(&wide), bits(&portable));
                checked += 1;
            }
            if is_x86_feature_detected!("avx2") {
                let mut narrow = vec![f32::NAN; outputs];
                // SAFETY: the CPU has AVX2 (checked).
                unsafe { depthwise_channel_avx2(&plane, &chunks, &starts, &filter, &mut narrow) };
                assert_eq!(bits(&narrow), bits(&portable));
                checked += 1;
            }
            eprintln!("{checked} vector depthwise loops checked");
        }
        // Outputs past a partial chunk stay NaN; every other is a sum.
        let past: usize = lens.iter().map(|len| LANES - len).sum();
        assert_eq!(portable.iter().filter(|v| v.is_nan()).count(), past);
    }
}
