//! What the matrix-instruction kernels share (NVIDIA `mma.sync` in `tensor_core_kernel`,
//! AMD MFMA in `mfma_kernel`): the same implicit GEMM as `contraction_kernel`
//! (`C[M, N] = A[M, K] · B[K, N]`, a convolution's B read at its im2col positions) on
//! 16-bit floats (f16 or bf16) with f32 accumulators:
//!
//! - the `func.func @lowered` around one `gpu.launch` of `BM × BN` tiles, with the two
//!   slices in `workgroup` memory, `As[m][k]` and `Bs[n][k]` (k contiguous for both, so
//!   a lane's fragment is a row piece of either);
//! - each `BK`-deep slice of A and B loaded by all threads with bounds checks (zero
//!   outside), neighbouring threads reading neighbouring elements of global memory;
//! - the store of one accumulator element: the epilogue in f32, rounded to the 16-bit
//!   type once, at the store.
//!
//! Only the fragment loads, the instruction and the accumulator layout differ per vendor.

use super::contraction_kernel::{Text, a_index, b_index, epilogue, flat_memref, flat_views};
use crate::graph_to_linalg::fused::{FusedKernel, lowered_header};
use fuser_dialects::semantics::DType;
use fuser_runtime::fused::Descriptor;
use melior::ir::ValueLike;
use std::fmt::Write;

/// A block's tile of C, the slice depth and the block's threads.
pub(super) struct Tiling {
    pub bm: i64,
    pub bn: i64,
    pub bk: i64,
    pub threads: i64,
}

/// The kernel text up to the launch body, and the types the body uses.
pub(super) struct Frame {
    pub text: String,
    /// The 16-bit element type, `f16` or `bf16`.
    pub element: &'static str,
    /// Each operand's tensor type and flat memref (`%f<i>`).
    pub types: Vec<String>,
    pub flats: Vec<(String, i64)>,
    pub out_ty: String,
    pub out_memref: String,
    pub out_flat: String,
    pub shared_a: String,
    pub shared_b: String,
}

/// The frame of `kernel`'s matrix-instruction kernel, or `None` for element types and
/// shapes it does not cover (f16 and bf16 only; every operand of the kernel's type).
pub(super) fn frame(kernel: &FusedKernel, tiling: &Tiling) -> Option<Frame> {
    let d = &kernel.descriptor;
    let element = match kernel.element {
        DType::F16 => "f16",
        DType::BF16 => "bf16",
        _ => return None,
    };
    let types: Vec<String> = kernel.operands.iter().map(|v| v.r#type().to_string()).collect();
    let flats: Vec<(String, i64)> = types.iter().map(|t| flat_memref(t)).collect::<Option<_>>()?;
    let suffix = format!("x{element}>");
    if flats.iter().any(|(ty, _)| !ty.ends_with(&suffix)) {
        return None;
    }
    let dims: Vec<String> = kernel.out_shape.iter().map(|d| d.to_string()).collect();
    let out_ty = format!("tensor<{}x{element}>", dims.join("x"));
    let out_memref = out_ty.replacen("tensor<", "memref<", 1);
    let (out_flat, out_count) = flat_memref(&out_ty)?;
    if out_count != d.m * d.n || d.m <= 0 || d.n <= 0 || d.k <= 0 {
        return None;
    }
    let Tiling { bm, bn, bk, threads } = *tiling;
    let (grid_x, grid_y) = ((d.n + bn - 1) / bn, (d.m + bm - 1) / bm);
    let shared_a = format!("memref<{bm}x{bk}x{element}, #gpu.address_space<workgroup>>");
    let shared_b = format!("memref<{bn}x{bk}x{element}, #gpu.address_space<workgroup>>");
    let mut text = lowered_header(kernel, &out_ty);
    text.push_str(&flat_views(&types, &flats));
    let _ = write!(
        text,
        "  %o = memref.alloc() {{alignment = 64 : i64}} : {out_memref}\n  %fo = memref.reinterpret_cast %o to offset: [0], sizes: [{out_count}], strides: [1] : {out_memref} to {out_flat}\n\
         \x20 %one = arith.constant 1 : index\n  %grid_x = arith.constant {grid_x} : index\n  %grid_y = arith.constant {grid_y} : index\n\
         \x20 %block_x = arith.constant {threads} : index\n\
         \x20 gpu.launch blocks(%bx, %by, %bz) in (%gx = %grid_x, %gy = %grid_y, %gz = %one) threads(%tx, %ty, %tz) in (%sx = %block_x, %sy = %one, %sz = %one)\n\
         \x20     workgroup(%As : {shared_a}, %Bs : {shared_b}) {{\n"
    );
    Some(Frame {
        text,
        element,
        types,
        flats,
        out_ty,
        out_memref,
        out_flat,
        shared_a,
        shared_b,
    })
}

impl Frame {
    /// The launch body's end, the result and the function's end.
    pub(super) fn finish(mut self, body: Text) -> String {
        let (out_memref, out_ty) = (&self.out_memref, &self.out_ty);
        self.text.push_str(&body.out);
        let _ = write!(
            self.text,
            "  }}\n  %r = bufferization.to_tensor %o restrict writable : {out_memref} to {out_ty}\n  func.return %r : {out_ty}\n}}\n"
        );
        self.text
    }
}

/// SSA names the slice loads and the stores read: the problem's sizes, the block's
/// first row and column of C, and the tile constants.
pub(super) struct Names {
    pub m_count: String,
    pub n_count: String,
    pub k_count: String,
    pub row_block: String,
    pub col_block: String,
    pub bn_c: String,
    pub bk_c: String,
}

/// What the launch body starts with: the problem's sizes, small constants, and where
/// this thread's warp (wave) works.
pub(super) struct Prologue {
    pub names: Names,
    /// The SSA name of each constant asked for, by value.
    pub constants: Vec<(i64, String)>,
    pub lane: String,
    /// The warp's first row and column of C inside the block's tile.
    pub warp_m: String,
    pub warp_n: String,
}

impl Prologue {
    /// The SSA name of constant `value` (one of those asked for).
    pub(super) fn c(&self, value: i64) -> &str {
        &self
            .constants
            .iter()
            .find(|(v, _)| *v == value)
            .expect("a constant asked for")
            .1
    }
}

/// Emits the prologue: the sizes, the `constants` (in order; they must hold 2, 32 and
/// `warp_size`), the block tiles, then the warp grid: 2×2 warps of `warp_size` lanes,
/// each a 32×32 piece of the 64×64 tile.
pub(super) fn prologue(t: &mut Text, d: &Descriptor, tiling: &Tiling, constants: &[i64], warp_size: i64) -> Prologue {
    let (m_count, n_count, k_count) = (t.index(d.m), t.index(d.n), t.index(d.k));
    let constants: Vec<(i64, String)> = constants.iter().map(|&v| (v, t.index(v))).collect();
    let (bm_c, bn_c, bk_c) = (t.index(tiling.bm), t.index(tiling.bn), t.index(tiling.bk));
    let find = |v: i64| {
        constants
            .iter()
            .find(|(c, _)| *c == v)
            .expect("a constant asked for")
            .1
            .clone()
    };
    let (c2, c32, warp) = (find(2), find(32), find(warp_size));
    let warp_index = t.binary("divui", "%tx", &warp, "index");
    let lane = t.binary("remui", "%tx", &warp, "index");
    let warp_m_index = t.binary("divui", &warp_index, &c2, "index");
    let warp_n_index = t.binary("remui", &warp_index, &c2, "index");
    let warp_m = t.binary("muli", &warp_m_index, &c32, "index");
    let warp_n = t.binary("muli", &warp_n_index, &c32, "index");
    let row_block = t.binary("muli", "%by", &bm_c, "index");
    let col_block = t.binary("muli", "%bx", &bn_c, "index");
    Prologue {
        names: Names {
            m_count,
            n_count,
            k_count,
            row_block,
            col_block,
            bn_c,
            bk_c,
        },
        constants,
        lane,
        warp_m,
        warp_n,
    }
}

/// Opens the loop over K slices with `count` zero accumulators of type `vector` (f32
/// vectors); returns the loop's results' name (`name#i` is accumulator i).
pub(super) fn accumulator_loop(t: &mut Text, prologue: &Prologue, count: usize, vector: &str) -> String {
    let vectors = vec![vector; count].join(", ");
    let zero = t.assign(&format!("arith.constant dense<0.0> : {vector}"));
    let results = t.fresh();
    let (k_count, bk_c) = (&prologue.names.k_count, &prologue.names.bk_c);
    t.line(&format!(
        "{results}:{count} = scf.for %kt = {} to {k_count} step {bk_c} iter_args({}) -> ({vectors}) {{",
        prologue.c(0),
        (0..count)
            .map(|i| format!("%acc{i} = {zero}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    results
}

/// Loads the `BK`-deep slices starting at `%kt` into `%As` and `%Bs` (zero outside the
/// problem), every thread a few elements of each.
pub(super) fn load_slices(t: &mut Text, frame: &Frame, d: &Descriptor, tiling: &Tiling, names: &Names) {
    let Tiling { bm, bn, bk, threads } = *tiling;
    let (element, flats, shared_a, shared_b) = (frame.element, &frame.flats, &frame.shared_a, &frame.shared_b);
    let Names {
        m_count,
        n_count,
        k_count,
        row_block,
        col_block,
        bn_c,
        bk_c,
    } = names;
    for l in 0..bm * bk / threads {
        let offset = t.index(l * threads);
        let e = t.binary("addi", "%tx", &offset, "index");
        let mm = t.binary("divui", &e, bk_c, "index");
        let kk = t.binary("remui", &e, bk_c, "index");
        let gm = t.binary("addi", row_block, &mm, "index");
        let gk = t.binary("addi", "%kt", &kk, "index");
        let in_m = t.assign(&format!("arith.cmpi ult, {gm}, {m_count} : index"));
        let in_k = t.assign(&format!("arith.cmpi ult, {gk}, {k_count} : index"));
        let inside = t.and(&[in_m, in_k]);
        let index = a_index(t, d, &gm, &gk);
        let v = t.guarded_load(&inside, "%f0", &flats[0].0, &index);
        t.line(&format!("memref.store {v}, %As[{mm}, {kk}] : {shared_a}"));
    }
    for l in 0..bn * bk / threads {
        // Neighbouring threads read neighbouring columns (coalesced in global memory).
        let offset = t.index(l * threads);
        let e = t.binary("addi", "%tx", &offset, "index");
        let kk = t.binary("divui", &e, bn_c, "index");
        let nn = t.binary("remui", &e, bn_c, "index");
        let gk = t.binary("addi", "%kt", &kk, "index");
        let gn = t.binary("addi", col_block, &nn, "index");
        let in_k = t.assign(&format!("arith.cmpi ult, {gk}, {k_count} : index"));
        let in_n = t.assign(&format!("arith.cmpi ult, {gn}, {n_count} : index"));
        let bounds = t.and(&[in_k, in_n]);
        let name = t.fresh();
        t.line(&format!("{name} = scf.if {bounds} -> ({element}) {{"));
        let mut inner = Text {
            out: String::new(),
            next: t.next,
        };
        let (inside, index) = b_index(&mut inner, d, &gk, &gn);
        let v = match inside {
            Some(inside) => inner.guarded_load(&inside, "%f1", &flats[1].0, &index),
            None => inner.assign(&format!("memref.load %f1[{index}] : {}", flats[1].0)),
        };
        inner.line(&format!("scf.yield {v} : {element}"));
        t.next = inner.next;
        for line in inner.out.lines() {
            t.line(&format!("  {}", line.trim_start()));
        }
        t.line("} else {");
        let zero = t.fresh();
        t.line(&format!("  {zero} = arith.constant 0.0 : {element}"));
        t.line(&format!("  scf.yield {zero} : {element}"));
        t.line("}");
        t.line(&format!("memref.store {name}, %Bs[{nn}, {kk}] : {shared_b}"));
    }
}

/// Stores C[r, c] when it is inside the problem: `accumulator` (an f32 the instruction
/// computed, read by this text) through the epilogue, rounded to the element type.
pub(super) fn store_element(
    t: &mut Text,
    frame: &Frame,
    d: &Descriptor,
    names: &Names,
    r: &str,
    c: &str,
    accumulator: &str,
) {
    let (m_count, n_count) = (&names.m_count, &names.n_count);
    let in_r = t.assign(&format!("arith.cmpi ult, {r}, {m_count} : index"));
    let in_c = t.assign(&format!("arith.cmpi ult, {c}, {n_count} : index"));
    let inside = t.and(&[in_r, in_c]);
    t.line(&format!("scf.if {inside} {{"));
    let value = t.assign(accumulator);
    let rn = t.binary("muli", r, n_count, "index");
    let rc = t.binary("addi", &rn, c, "index");
    let operands: Vec<(String, String)> = (2..frame.types.len())
        .map(|i| (format!("%f{i}"), frame.flats[i].0.clone()))
        .collect();
    let v = epilogue(t, &d.epilogue, value, r, c, &rc, &operands);
    let element = frame.element;
    let rounded = t.assign(&format!("arith.truncf {v} : f32 to {element}"));
    t.line(&format!("memref.store {rounded}, %fo[{rc}] : {}", frame.out_flat));
    t.line("}");
}
