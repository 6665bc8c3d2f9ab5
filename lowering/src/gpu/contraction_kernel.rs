//! The GPU kernel of a fused contraction: a 2-D convolution (batch 1, one group) or a
//! matrix product with its elementwise epilogue (the kernels `graph_to_linalg::fused`
//! matches for the CPU runtime), written as one `gpu.launch` that computes the product
//! as a tiled GEMM, `C[M, N] = A[M, K] · B[K, N]`:
//!
//! - each block computes a `BM × BN` tile of C, each of its threads a `4 × 4` piece of it
//!   in registers;
//! - A and B come in `BK`-deep slices through shared memory (`workgroup` attributions):
//!   every thread loads a few elements of each slice, the block waits at a barrier,
//!   then each thread reads its 4 rows of A and 4 columns of B from shared memory for
//!   16 fused multiply-adds per step;
//! - a convolution's B is never materialized: its elements are read from the input
//!   image at the im2col position (zero in the padding), so the kernel is an implicit
//!   GEMM;
//! - the epilogue (bias, residual, scale, activation) runs on the registers before the
//!   one store of each output;
//! - a deep product on few outputs splits K over more blocks (`split_k`), each writing
//!   partial sums to a workspace that a second kernel adds up before the epilogue.
//!
//! The same role as the CPU runtime's fused kernel (one pass, the intermediate never in
//! memory), in MLIR text like every other lowering, so the pipeline takes it to NVVM
//! and PTX (or ROCDL) with everything else.

use crate::graph_to_linalg::{
    MatrixCores,
    fused::{FusedKernel, lowered_header},
};
use fuser_dialects::semantics::DType;
use fuser_runtime::fused::{Contraction, Descriptor, Step};
use melior::ir::ValueLike;
use std::fmt::Write;

/// Rows and columns of C each thread computes.
const THREAD_TILE: i64 = 4;
/// The depth of the slices of A and B in shared memory.
const BK: i64 = 16;
/// Blocks below which the large tile leaves the GPU half idle (two waves of a 132-SM
/// H100/H200): then the small tile, four times as many blocks.
const MIN_LARGE_TILE_BLOCKS: i64 = 264;

/// An f32 constant as MLIR writes its bits (exact, and infinities too).
pub(super) fn f32_literal(v: f32) -> String {
    format!("0x{:08X}", v.to_bits())
}

/// Text and fresh names.
pub(super) struct Text {
    pub(super) out: String,
    pub(super) next: usize,
}

impl Text {
    pub(super) fn fresh(&mut self) -> String {
        self.next += 1;
        format!("%t{}", self.next)
    }
    pub(super) fn line(&mut self, line: &str) {
        self.out.push_str("      ");
        self.out.push_str(line);
        self.out.push('\n');
    }
    pub(super) fn assign(&mut self, rhs: &str) -> String {
        let name = self.fresh();
        self.line(&format!("{name} = {rhs}"));
        name
    }
    pub(super) fn index(&mut self, v: i64) -> String {
        self.assign(&format!("arith.constant {v} : index"))
    }
    pub(super) fn float(&mut self, v: f32) -> String {
        self.assign(&format!("arith.constant {} : f32", f32_literal(v)))
    }
    pub(super) fn binary(&mut self, op: &str, a: &str, b: &str, ty: &str) -> String {
        self.assign(&format!("arith.{op} {a}, {b} : {ty}"))
    }
    pub(super) fn and(&mut self, conditions: &[String]) -> String {
        let mut all = conditions[0].clone();
        for c in &conditions[1..] {
            all = self.binary("andi", &all, c, "i1");
        }
        all
    }
    /// `condition ? memref[index] : 0.0`, of the memref's element type.
    pub(super) fn guarded_load(&mut self, condition: &str, memref: &str, memref_ty: &str, index: &str) -> String {
        let element = ["bf16", "f16", "f32"]
            .into_iter()
            .find(|e| memref_ty.ends_with(&format!("x{e}>")))
            .unwrap_or("f32");
        let (name, loaded, zero) = (self.fresh(), self.fresh(), self.fresh());
        self.line(&format!("{name} = scf.if {condition} -> ({element}) {{"));
        self.line(&format!("  {loaded} = memref.load {memref}[{index}] : {memref_ty}"));
        self.line(&format!("  scf.yield {loaded} : {element}"));
        self.line("} else {");
        self.line(&format!("  {zero} = arith.constant 0.0 : {element}"));
        self.line(&format!("  scf.yield {zero} : {element}"));
        self.line("}");
        name
    }
}

/// The flat (1-D) memref type of a static f32, f16 or bf16 tensor type, and its element
/// count.
pub(super) fn flat_memref(tensor: &str) -> Option<(String, i64)> {
    let body = tensor.strip_prefix("tensor<")?.strip_suffix('>')?;
    let (dims, element) = body.rsplit_once('x')?;
    if !matches!(element, "f32" | "f16" | "bf16") {
        return None;
    }
    let count: i64 = dims
        .split('x')
        .map(|d| d.parse::<i64>().ok())
        .product::<Option<i64>>()?;
    Some((format!("memref<{count}x{element}>"), count))
}

/// Each operand `%v<i>` (a tensor) as a flat memref `%f<i>`, read-only.
pub(super) fn flat_views(types: &[String], flats: &[(String, i64)]) -> String {
    let mut text = String::new();
    for (i, (t, (flat, count))) in types.iter().zip(flats).enumerate() {
        let memref = t.replacen("tensor<", "memref<", 1);
        let _ = write!(
            text,
            "  %m{i} = bufferization.to_buffer %v{i} read_only : {t} to {memref}\n  %f{i} = memref.reinterpret_cast %m{i} to offset: [0], sizes: [{count}], strides: [1] : {memref} to {flat}\n"
        );
    }
    text
}

/// The epilogue applied to `v` (f32; output row `r`, column `c`, flat index `rc`): the
/// same operations in the same order as the CPU runtime's `apply_epilogue_body`. The
/// operands are flat memrefs of f32 or f16 (widened as they are read).
pub(super) fn epilogue(
    t: &mut Text,
    steps: &[Step],
    mut v: String,
    r: &str,
    c: &str,
    rc: &str,
    operands: &[(String, String)],
) -> String {
    let load = |t: &mut Text, i: usize, index: &str| {
        let (name, ty) = &operands[i];
        let x = t.assign(&format!("memref.load {name}[{index}] : {ty}"));
        // 16-bit operands widen to f32 (an `xf16>` type ends `xbf16>` too).
        match ["bf16", "f16"].into_iter().find(|e| ty.ends_with(&format!("x{e}>"))) {
            Some(element) => t.assign(&format!("arith.extf {x} : {element} to f32")),
            None => x,
        }
    };
    for step in steps {
        v = match *step {
            Step::AddRow(i) => {
                let x = load(t, i, r);
                t.binary("addf", &v, &x, "f32")
            }
            Step::AddColumn(i) => {
                let x = load(t, i, c);
                t.binary("addf", &v, &x, "f32")
            }
            Step::AddFull(i) => {
                let x = load(t, i, rc);
                t.binary("addf", &v, &x, "f32")
            }
            Step::AddScalar(x) => {
                let x = t.float(x);
                t.binary("addf", &v, &x, "f32")
            }
            Step::MulRow(i) => {
                let x = load(t, i, r);
                t.binary("mulf", &v, &x, "f32")
            }
            Step::MulColumn(i) => {
                let x = load(t, i, c);
                t.binary("mulf", &v, &x, "f32")
            }
            Step::MulFull(i) => {
                let x = load(t, i, rc);
                t.binary("mulf", &v, &x, "f32")
            }
            Step::MulScalar(x) => {
                let x = t.float(x);
                t.binary("mulf", &v, &x, "f32")
            }
            Step::DivScalar(x) => {
                let x = t.float(x);
                t.binary("divf", &v, &x, "f32")
            }
            Step::Relu => {
                let zero = t.float(0.0);
                t.binary("maximumf", &v, &zero, "f32")
            }
            Step::Clip(lo, hi) => {
                let (lo, hi) = (t.float(lo), t.float(hi));
                let below = t.assign(&format!("arith.cmpf olt, {v}, {lo} : f32"));
                let low = t.assign(&format!("arith.select {below}, {lo}, {v} : f32"));
                let above = t.assign(&format!("arith.cmpf ogt, {low}, {hi} : f32"));
                t.assign(&format!("arith.select {above}, {hi}, {low} : f32"))
            }
            Step::Sigmoid => {
                let one = t.float(1.0);
                let negative = t.assign(&format!("arith.negf {v} : f32"));
                let e = t.assign(&format!("math.exp {negative} : f32"));
                let d = t.binary("addf", &one, &e, "f32");
                t.binary("divf", &one, &d, "f32")
            }
            Step::Tanh => t.assign(&format!("math.tanh {v} : f32")),
            Step::GeluErf => {
                let (half, one, root) = (t.float(0.5), t.float(1.0), t.float(std::f32::consts::FRAC_1_SQRT_2));
                let scaled = t.binary("mulf", &v, &root, "f32");
                let erf = t.assign(&format!("math.erf {scaled} : f32"));
                let plus = t.binary("addf", &one, &erf, "f32");
                let h = t.binary("mulf", &half, &v, "f32");
                t.binary("mulf", &h, &plus, "f32")
            }
            Step::GeluTanh => {
                let (half, one) = (t.float(0.5), t.float(1.0));
                let (k, a) = (t.float((2.0 / std::f32::consts::PI).sqrt()), t.float(0.044715));
                let v2 = t.binary("mulf", &v, &v, "f32");
                let v3 = t.binary("mulf", &v2, &v, "f32");
                let av3 = t.binary("mulf", &a, &v3, "f32");
                let inner = t.binary("addf", &v, &av3, "f32");
                let scaled = t.binary("mulf", &k, &inner, "f32");
                let th = t.assign(&format!("math.tanh {scaled} : f32"));
                let plus = t.binary("addf", &one, &th, "f32");
                let h = t.binary("mulf", &half, &v, "f32");
                t.binary("mulf", &h, &plus, "f32")
            }
            Step::LeakyRelu(alpha) => {
                let (zero, alpha) = (t.float(0.0), t.float(alpha));
                let positive = t.assign(&format!("arith.cmpf oge, {v}, {zero} : f32"));
                let scaled = t.binary("mulf", &alpha, &v, "f32");
                t.assign(&format!("arith.select {positive}, {v}, {scaled} : f32"))
            }
            Step::HardSigmoid(alpha, beta) => {
                let (alpha, beta, zero, one) = (t.float(alpha), t.float(beta), t.float(0.0), t.float(1.0));
                let scaled = t.binary("mulf", &alpha, &v, "f32");
                let shifted = t.binary("addf", &scaled, &beta, "f32");
                let low = t.binary("maximumf", &shifted, &zero, "f32");
                t.binary("minimumf", &low, &one, "f32")
            }
            Step::HardSwish => {
                let (sixth, half, zero, one) = (t.float(1.0 / 6.0), t.float(0.5), t.float(0.0), t.float(1.0));
                let scaled = t.binary("mulf", &sixth, &v, "f32");
                let shifted = t.binary("addf", &scaled, &half, "f32");
                let low = t.binary("maximumf", &shifted, &zero, "f32");
                let gate = t.binary("minimumf", &low, &one, "f32");
                t.binary("mulf", &v, &gate, "f32")
            }
        };
    }
    v
}

/// The flat index of A's element (`m`, `k`).
pub(super) fn a_index(t: &mut Text, d: &Descriptor, m: &str, k: &str) -> String {
    let (s0, s1) = match d.contraction {
        Contraction::Matmul => (d.strides[0], d.strides[1]),
        _ => (d.k, 1),
    };
    let (s0, s1) = (t.index(s0), t.index(s1));
    let a = t.binary("muli", m, &s0, "index");
    let b = t.binary("muli", k, &s1, "index");
    t.binary("addi", &a, &b, "index")
}

/// Whether B's element (`k`, `n`) is stored, and its flat index: a matrix's element, or
/// the input pixel a convolution's im2col column holds (none in the padding).
pub(super) fn b_index(t: &mut Text, d: &Descriptor, k: &str, n: &str) -> (Option<String>, String) {
    if d.contraction == Contraction::Matmul {
        let (s0, s1) = (t.index(d.strides[2]), t.index(d.strides[3]));
        let a = t.binary("muli", k, &s0, "index");
        let b = t.binary("muli", n, &s1, "index");
        return (None, t.binary("addi", &a, &b, "index"));
    }
    let g = &d.conv;
    let taps = t.index(g.kernel_h * g.kernel_w);
    let kw_count = t.index(g.kernel_w);
    let ow_count = t.index(g.out_w);
    let channel = t.binary("divui", k, &taps, "index");
    let tap = t.binary("remui", k, &taps, "index");
    let kh = t.binary("divui", &tap, &kw_count, "index");
    let kw = t.binary("remui", &tap, &kw_count, "index");
    let oh = t.binary("divui", n, &ow_count, "index");
    let ow = t.binary("remui", n, &ow_count, "index");
    let coordinate = |t: &mut Text, o: &str, stride: i64, kk: &str, dilation: i64, pad: i64| {
        let (stride, dilation, pad) = (t.index(stride), t.index(dilation), t.index(pad));
        let a = t.binary("muli", o, &stride, "index");
        let b = t.binary("muli", kk, &dilation, "index");
        let s = t.binary("addi", &a, &b, "index");
        t.binary("subi", &s, &pad, "index")
    };
    let ih = coordinate(t, &oh, g.stride_h, &kh, g.dilation_h, g.pad_top);
    let iw = coordinate(t, &ow, g.stride_w, &kw, g.dilation_w, g.pad_left);
    let (zero, height, width) = (t.index(0), t.index(g.height), t.index(g.width));
    let conditions = vec![
        t.assign(&format!("arith.cmpi sge, {ih}, {zero} : index")),
        t.assign(&format!("arith.cmpi slt, {ih}, {height} : index")),
        t.assign(&format!("arith.cmpi sge, {iw}, {zero} : index")),
        t.assign(&format!("arith.cmpi slt, {iw}, {width} : index")),
    ];
    let inside = t.and(&conditions);
    let plane = t.index(g.height * g.width);
    let c = t.binary("muli", &channel, &plane, "index");
    let row = t.binary("muli", &ih, &width, "index");
    let at = t.binary("addi", &c, &row, "index");
    (Some(inside), t.binary("addi", &at, &iw, "index"))
}

/// How many parts to split K into, and the K of each (a multiple of `BK`): enough to give
/// a grid of `blocks` blocks two waves of a 132-SM GPU, each part at least 8 slices deep.
/// Deep products on few outputs (late ResNet layers: 512 channels of 7×7 pixels, K of
/// 4608) otherwise run on a quarter of the GPU, one long loop per block.
fn split_k(blocks: i64, k: i64) -> (i64, i64) {
    let slices = (k + BK - 1) / BK;
    let wanted = if blocks >= 132 {
        1
    } else {
        (MIN_LARGE_TILE_BLOCKS + blocks - 1) / blocks
    };
    let splits = wanted.min(slices / 8).max(1);
    let chunk = (slices + splits - 1) / splits * BK;
    ((k + chunk - 1) / chunk, chunk)
}

/// The second kernel of a split K: one thread per output adds the parts' partial sums
/// and applies the epilogue.
fn split_sum(
    d: &Descriptor,
    splits: i64,
    workspace: &str,
    out_flat: &str,
    operands: &[(String, String)],
    next: usize,
) -> String {
    const THREADS: i64 = 256;
    let total = d.m * d.n;
    let mut t = Text {
        out: String::new(),
        next,
    };
    let (threads, total_c, n_count) = (t.index(THREADS), t.index(total), t.index(d.n));
    let base = t.binary("muli", "%qx", &threads, "index");
    let index = t.binary("addi", &base, "%px", "index");
    let inside = t.assign(&format!("arith.cmpi ult, {index}, {total_c} : index"));
    t.line(&format!("scf.if {inside} {{"));
    let mut sum = t.assign(&format!("memref.load %ws[{index}] : {workspace}"));
    for s in 1..splits {
        let offset = t.index(s * total);
        let at = t.binary("addi", &index, &offset, "index");
        let part = t.assign(&format!("memref.load %ws[{at}] : {workspace}"));
        sum = t.binary("addf", &sum, &part, "f32");
    }
    let r = t.binary("divui", &index, &n_count, "index");
    let c = t.binary("remui", &index, &n_count, "index");
    let v = epilogue(&mut t, &d.epilogue, sum, &r, &c, &index, operands);
    t.line(&format!("memref.store {v}, %fo[{index}] : {out_flat}"));
    t.line("}");
    t.line("gpu.terminator");
    format!(
        "  %sum_grid = arith.constant {} : index\n  %sum_block = arith.constant {THREADS} : index\n\
         \x20 gpu.launch blocks(%qx, %qy, %qz) in (%hx = %sum_grid, %hy = %one, %hz = %one) threads(%px, %py, %pz) in (%rx = %sum_block, %ry = %one, %rz = %one) {{\n{}  }}\n",
        (total + THREADS - 1) / THREADS,
        t.out
    )
}

/// The lowering of a matched Conv2d or Matmul kernel for a GPU: a `func.func @lowered`
/// of the kernel's operands returning its output, or `None` for a kernel no template
/// covers (depthwise, INT8, 16-bit floats without `matrix_cores`), which lowers op by
/// op. f32 takes this file's CUDA-core kernel; f16 on NVIDIA tensor cores the `mma.sync`
/// kernel of `tensor_core_kernel`; f16 and bf16 on AMD matrix cores `mfma_kernel`'s.
pub fn gpu_contraction_text(kernel: &FusedKernel, matrix_cores: Option<MatrixCores>) -> Option<String> {
    let d = &kernel.descriptor;
    // A batch of products has no GPU template yet.
    if kernel.quantization.is_some()
        || d.batch.is_batched()
        || !matches!(d.contraction, Contraction::Conv2d | Contraction::Matmul)
    {
        return None;
    }
    match kernel.element {
        DType::F32 => {}
        DType::F16 if matrix_cores == Some(MatrixCores::MmaSync) => {
            return super::tensor_core_kernel::tensor_core_text(kernel);
        }
        DType::F16 | DType::BF16 if matrix_cores == Some(MatrixCores::Mfma) => {
            return super::mfma_kernel::mfma_text(kernel);
        }
        _ => return None,
    }
    let types: Vec<String> = kernel.operands.iter().map(|v| v.r#type().to_string()).collect();
    let flats: Vec<(String, i64)> = types.iter().map(|t| flat_memref(t)).collect::<Option<_>>()?;
    let dims: Vec<String> = kernel.out_shape.iter().map(|d| d.to_string()).collect();
    let out_ty = format!("tensor<{}xf32>", dims.join("x"));
    let out_memref = out_ty.replacen("tensor<", "memref<", 1);
    let (out_flat, out_count) = flat_memref(&out_ty)?;
    if out_count != d.m * d.n || d.m <= 0 || d.n <= 0 || d.k <= 0 {
        return None;
    }
    let large = (d.m + 63) / 64 * ((d.n + 63) / 64) >= MIN_LARGE_TILE_BLOCKS;
    let (bm, bn) = if large { (64, 64) } else { (32, 32) };
    let (threads_x, threads_y) = (bn / THREAD_TILE, bm / THREAD_TILE);
    let threads = threads_x * threads_y;
    let (a_loads, b_loads) = (bm * BK / threads, BK * bn / threads);
    let (grid_x, grid_y) = ((d.n + bn - 1) / bn, (d.m + bm - 1) / bm);
    let (splits, k_chunk) = split_k(grid_x * grid_y, d.k);

    let mut text = lowered_header(kernel, &out_ty);
    text.push_str(&flat_views(&types, &flats));
    let workspace = format!("memref<{}xf32>", splits * d.m * d.n);
    let _ = write!(
        text,
        "  %o = memref.alloc() {{alignment = 64 : i64}} : {out_memref}\n  %fo = memref.reinterpret_cast %o to offset: [0], sizes: [{out_count}], strides: [1] : {out_memref} to {out_flat}\n\
         \x20 %one = arith.constant 1 : index\n  %grid_x = arith.constant {grid_x} : index\n  %grid_y = arith.constant {grid_y} : index\n\
         \x20 %grid_z = arith.constant {splits} : index\n\
         \x20 %block_x = arith.constant {threads_x} : index\n  %block_y = arith.constant {threads_y} : index\n"
    );
    if splits > 1 {
        let _ = writeln!(text, "  %ws = memref.alloc() {{alignment = 64 : i64}} : {workspace}");
    }
    let _ = write!(
        text,
        "  gpu.launch blocks(%bx, %by, %bz) in (%gx = %grid_x, %gy = %grid_y, %gz = %grid_z) threads(%tx, %ty, %tz) in (%sx = %block_x, %sy = %block_y, %sz = %one)\n\
         \x20     workgroup(%As : memref<{BK}x{bm}xf32, #gpu.address_space<workgroup>>, %Bs : memref<{BK}x{bn}xf32, #gpu.address_space<workgroup>>) {{\n"
    );
    let shared_a = format!("memref<{BK}x{bm}xf32, #gpu.address_space<workgroup>>");
    let shared_b = format!("memref<{BK}x{bn}xf32, #gpu.address_space<workgroup>>");
    let mut t = Text {
        out: String::new(),
        next: 0,
    };
    let (c0, c1) = (t.index(0), t.index(1));
    let (m_count, n_count, k_count) = (t.index(d.m), t.index(d.n), t.index(d.k));
    let (bm_c, bn_c, bk_c, tile_c) = (t.index(bm), t.index(bn), t.index(BK), t.index(THREAD_TILE));
    let threads_x_c = t.index(threads_x);
    let tid_row = t.binary("muli", "%ty", &threads_x_c, "index");
    let tid = t.binary("addi", &tid_row, "%tx", "index");
    let row_block = t.binary("muli", "%by", &bm_c, "index");
    let col_block = t.binary("muli", "%bx", &bn_c, "index");
    let row_thread = t.binary("muli", "%ty", &tile_c, "index");
    let col_thread = t.binary("muli", "%tx", &tile_c, "index");
    let zero_f = t.float(0.0);
    let accumulators = (THREAD_TILE * THREAD_TILE) as usize;
    let acc_names = |prefix: &str| (0..accumulators).map(|i| format!("%{prefix}{i}")).collect::<Vec<_>>();
    let f32s = vec!["f32"; accumulators].join(", ");
    // This block's part of K: all of it, or its chunk of a split K.
    let chunk = t.index(k_chunk);
    let k_begin = t.binary("muli", "%bz", &chunk, "index");
    let k_chunk_end = t.binary("addi", &k_begin, &chunk, "index");
    let k_end = t.binary("minui", &k_chunk_end, &k_count, "index");
    // The K loop: load one slice of A and B into shared memory, then accumulate.
    let results = t.fresh();
    t.line(&format!(
        "{results}:{accumulators} = scf.for %kt = {k_begin} to {k_end} step {bk_c} iter_args({}) -> ({f32s}) {{",
        acc_names("acc")
            .iter()
            .map(|a| format!("{a} = {zero_f}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    for l in 0..a_loads {
        let offset = t.index(l * threads);
        let e = t.binary("addi", &tid, &offset, "index");
        let mm = t.binary("divui", &e, &bk_c, "index");
        let kk = t.binary("remui", &e, &bk_c, "index");
        let gm = t.binary("addi", &row_block, &mm, "index");
        let gk = t.binary("addi", "%kt", &kk, "index");
        let in_m = t.assign(&format!("arith.cmpi ult, {gm}, {m_count} : index"));
        let in_k = t.assign(&format!("arith.cmpi ult, {gk}, {k_count} : index"));
        let inside = t.and(&[in_m, in_k]);
        let index = a_index(&mut t, d, &gm, &gk);
        let v = t.guarded_load(&inside, "%f0", &flats[0].0, &index);
        t.line(&format!("memref.store {v}, %As[{kk}, {mm}] : {shared_a}"));
    }
    for l in 0..b_loads {
        let offset = t.index(l * threads);
        let e = t.binary("addi", &tid, &offset, "index");
        let kk = t.binary("divui", &e, &bn_c, "index");
        let nn = t.binary("remui", &e, &bn_c, "index");
        let gk = t.binary("addi", "%kt", &kk, "index");
        let gn = t.binary("addi", &col_block, &nn, "index");
        let in_k = t.assign(&format!("arith.cmpi ult, {gk}, {k_count} : index"));
        let in_n = t.assign(&format!("arith.cmpi ult, {gn}, {n_count} : index"));
        // The im2col position is computed only where it is read.
        let bounds = t.and(&[in_k, in_n]);
        let name = t.fresh();
        t.line(&format!("{name} = scf.if {bounds} -> (f32) {{"));
        let mut inner = Text {
            out: String::new(),
            next: t.next,
        };
        let (inside, index) = b_index(&mut inner, d, &gk, &gn);
        let v = match inside {
            Some(inside) => inner.guarded_load(&inside, "%f1", &flats[1].0, &index),
            None => inner.assign(&format!("memref.load %f1[{index}] : {}", flats[1].0)),
        };
        inner.line(&format!("scf.yield {v} : f32"));
        t.next = inner.next;
        for line in inner.out.lines() {
            t.line(&format!("  {}", line.trim_start()));
        }
        t.line("} else {");
        t.line(&format!("  scf.yield {zero_f} : f32"));
        t.line("}");
        t.line(&format!("memref.store {name}, %Bs[{kk}, {nn}] : {shared_b}"));
    }
    t.line("gpu.barrier");
    let sums = t.fresh();
    t.line(&format!(
        "{sums}:{accumulators} = scf.for %k = {c0} to {bk_c} step {c1} iter_args({}) -> ({f32s}) {{",
        acc_names("acc")
            .iter()
            .zip(acc_names("s"))
            .map(|(a, s)| format!("{s} = {a}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let mut a_values = Vec::new();
    let mut b_values = Vec::new();
    for i in 0..THREAD_TILE {
        let offset = t.index(i);
        let row = t.binary("addi", &row_thread, &offset, "index");
        a_values.push(t.assign(&format!("memref.load %As[%k, {row}] : {shared_a}")));
        let col = t.binary("addi", &col_thread, &offset, "index");
        b_values.push(t.assign(&format!("memref.load %Bs[%k, {col}] : {shared_b}")));
    }
    let mut updated = Vec::new();
    for (i, a) in a_values.iter().enumerate() {
        for (j, b) in b_values.iter().enumerate() {
            let s = format!("%s{}", i * THREAD_TILE as usize + j);
            updated.push(t.assign(&format!("math.fma {a}, {b}, {s} : f32")));
        }
    }
    t.line(&format!("scf.yield {} : {f32s}", updated.join(", ")));
    t.line("}");
    t.line("gpu.barrier");
    t.line(&format!(
        "scf.yield {} : {f32s}",
        (0..accumulators)
            .map(|i| format!("{sums}#{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    t.line("}");
    // The epilogue, then one store per output; with a split K, the partial sums go to
    // the workspace, and a second kernel adds them up and applies the epilogue.
    let operands: Vec<(String, String)> = (2..types.len())
        .map(|i| (format!("%f{i}"), flats[i].0.clone()))
        .collect();
    let row_base = t.binary("addi", &row_block, &row_thread, "index");
    let col_base = t.binary("addi", &col_block, &col_thread, "index");
    let plane = t.index(d.m * d.n);
    let split_base = t.binary("muli", "%bz", &plane, "index");
    for i in 0..THREAD_TILE {
        for j in 0..THREAD_TILE {
            let (oi, oj) = (t.index(i), t.index(j));
            let r = t.binary("addi", &row_base, &oi, "index");
            let c = t.binary("addi", &col_base, &oj, "index");
            let in_r = t.assign(&format!("arith.cmpi ult, {r}, {m_count} : index"));
            let in_c = t.assign(&format!("arith.cmpi ult, {c}, {n_count} : index"));
            let inside = t.and(&[in_r, in_c]);
            t.line(&format!("scf.if {inside} {{"));
            let rn = t.binary("muli", &r, &n_count, "index");
            let rc = t.binary("addi", &rn, &c, "index");
            let value = format!("{results}#{}", i * THREAD_TILE + j);
            if splits > 1 {
                let at = t.binary("addi", &split_base, &rc, "index");
                t.line(&format!("memref.store {value}, %ws[{at}] : {workspace}"));
            } else {
                let v = epilogue(&mut t, &d.epilogue, value, &r, &c, &rc, &operands);
                t.line(&format!("memref.store {v}, %fo[{rc}] : {out_flat}"));
            }
            t.line("}");
        }
    }
    t.line("gpu.terminator");
    text.push_str(&t.out);
    text.push_str("  }\n");
    if splits > 1 {
        text.push_str(&split_sum(d, splits, &workspace, &out_flat, &operands, t.next));
    }
    let _ = write!(
        text,
        "  %r = bufferization.to_tensor %o restrict writable : {out_memref} to {out_ty}\n  func.return %r : {out_ty}\n}}\n"
    );
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_products_on_few_blocks_split_k() {
        // ResNet-50's last 3x3 conv: 512 channels of 7x7 pixels, K = 512·9, 32 blocks.
        assert_eq!(split_k(32, 4608), (9, 512));
        // Enough blocks: no split.
        assert_eq!(split_k(196, 576), (1, 576));
        // Too shallow to split (fewer than 16 slices).
        assert_eq!(split_k(4, 200), (1, 208));
        // The parts cover K exactly once.
        for (blocks, k) in [(1, 1000), (7, 4608), (50, 2048), (2, 17)] {
            let (splits, chunk) = split_k(blocks, k);
            assert_eq!(chunk % BK, 0);
            assert!(
                splits * chunk >= k && (splits - 1) * chunk < k,
                "{blocks} {k}: {splits} x {chunk}"
            );
        }
    }

    #[test]
    fn f32_constants_are_exact_bits() {
        assert_eq!(f32_literal(0.5), "0x3F000000");
        assert_eq!(f32_literal(f32::INFINITY), "0x7F800000");
        assert_eq!(
            flat_memref("tensor<1x64x28x28xf32>"),
            Some(("memref<50176xf32>".into(), 50176))
        );
        assert_eq!(flat_memref("tensor<4xi8>"), None);
    }
}
