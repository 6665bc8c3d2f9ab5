//! Microkernels that compiled code calls: matrix products through the `gemm` crate
//! (AVX-512 kernels, packing and cache blocking, measured here at 322 GFLOP/s on a 1024³
//! SGEMM with 2 threads). Generated code passes each operand as an aligned base pointer,
//! an offset and strides in elements, so views (transposes, slices) need no copy.
//!
//! Threads split the output only (gemm parallelizes over rows and columns, never over
//! the reduction), so results do not depend on the thread count.
//!
//! # Safety
//! The entry points are called by generated code with pointers and strides that describe
//! live memrefs; see `convert-linalg-to-microkernels`.

use gemm::{Parallelism, gemm};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The symbol of the f32 batched matmul microkernel.
pub const SGEMM_F32: &str = "fuser_sgemm_f32";

static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Sets how many threads microkernels use (0: all cores).
pub fn set_threads(threads: usize) {
    THREADS.store(threads, Ordering::Relaxed);
}

/// The thread count in effect.
pub fn threads() -> usize {
    // The cores, asked once: kernels ask for the count several times a call.
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    match THREADS.load(Ordering::Relaxed) {
        0 => *CORES.get_or_init(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)),
        n => n,
    }
}

/// Runs `work` on every item: in order on this thread when one thread is asked for or
/// there is one item, else across [`crate::pool`]'s threads. Callers split work by output
/// only, so the results are the same either way.
pub(crate) fn for_each_item<T: Send>(items: Vec<T>, work: impl Fn(T) + Sync + Send) {
    if threads() == 1 || items.len() <= 1 {
        return items.into_iter().for_each(work);
    }
    let mut items = std::mem::ManuallyDrop::new(items);
    let (base, count) = (items.as_mut_ptr() as usize, items.len());
    crate::pool::for_each_index(count, threads(), |i| {
        // SAFETY: the pool runs each index exactly once, so each item is moved out of the
        // buffer once; `T: Send` lets it move to another thread.
        let item = unsafe { std::ptr::read((base as *mut T).add(i)) };
        work(item)
    });
    // SAFETY: every item was moved out above; only the buffer is left to free.
    unsafe {
        items.set_len(0);
        std::mem::ManuallyDrop::drop(&mut items);
    }
}

/// Runs `work` on ranges of `0..count` that cover it once between them: the whole range on
/// this thread when one thread is asked for or `count` is at most 1, else about four
/// ranges a thread across [`crate::pool`]'s threads.
pub(crate) fn for_each_range(count: usize, work: impl Fn(std::ops::Range<usize>) + Sync) {
    if threads() == 1 || count <= 1 {
        return work(0..count);
    }
    let pieces = (4 * threads()).min(count);
    crate::pool::for_each_index(pieces, threads(), |p| {
        work(p * count / pieces..(p + 1) * count / pieces)
    });
}

/// Runs `work` on each row of `x` (rows of `cols` values) with the matching row of `y`,
/// ranges of rows split across the threads ([`for_each_range`], never a row).
pub(crate) fn for_each_row(x: &[f32], y: &mut [f32], cols: usize, work: impl Fn(&[f32], &mut [f32]) + Sync + Send) {
    let len = x.len().min(y.len());
    let y_addr = y.as_mut_ptr() as usize;
    for_each_range(len.div_ceil(cols), |rows| {
        for r in rows {
            let span = r * cols..((r + 1) * cols).min(len);
            // SAFETY: row `r` of `y`, which no other range touches.
            let out = unsafe { std::slice::from_raw_parts_mut((y_addr as *mut f32).add(span.start), span.len()) };
            work(&x[span], out);
        }
    });
}

/// Runs `work(i, piece)` on each `chunk`-long piece `i` of `data` (the last one may be
/// shorter), the pieces split across the threads as [`for_each_item`] does.
pub(crate) fn for_each_chunk_mut<T: Send>(data: &mut [T], chunk: usize, work: impl Fn(usize, &mut [T]) + Sync + Send) {
    let chunk = chunk.max(1);
    let count = data.len().div_ceil(chunk);
    if threads() == 1 || count <= 1 {
        return data.chunks_mut(chunk).enumerate().for_each(|(i, piece)| work(i, piece));
    }
    let (base, len) = (data.as_mut_ptr() as usize, data.len());
    crate::pool::for_each_index(count, threads(), |i| {
        let span = i * chunk..((i + 1) * chunk).min(len);
        // SAFETY: piece `i` of `data`, which no other index touches; `T: Send` lets it be
        // written from another thread.
        let piece = unsafe { std::slice::from_raw_parts_mut((base as *mut T).add(span.start), span.len()) };
        work(i, piece)
    });
}

/// `C[b] += A[b] · B[b]` for `b < batch` (or `C[b] = A[b] · B[b]` when `accumulate` is
/// 0), with `A[b]` m×k, `B[b]` k×n and `C[b]` m×n. Each operand is (aligned pointer,
/// offset, batch stride, row stride, column stride), in elements.
///
/// # Safety
/// The pointers and strides must describe memory valid for every element addressed.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn fuser_sgemm_f32(
    batch: i64,
    m: i64,
    n: i64,
    k: i64,
    a: i64,
    a_offset: i64,
    a_batch: i64,
    a_row: i64,
    a_col: i64,
    b: i64,
    b_offset: i64,
    b_batch: i64,
    b_row: i64,
    b_col: i64,
    c: i64,
    c_offset: i64,
    c_batch: i64,
    c_row: i64,
    c_col: i64,
    accumulate: i64,
) {
    let product = |i: isize, parallelism: Parallelism| {
        // SAFETY: the caller guarantees the memrefs cover every addressed element.
        unsafe {
            let a = (a as *const f32).offset(a_offset as isize + i * a_batch as isize);
            let b = (b as *const f32).offset(b_offset as isize + i * b_batch as isize);
            let c = (c as *mut f32).offset(c_offset as isize + i * c_batch as isize);
            gemm(
                m as usize,
                n as usize,
                k as usize,
                c,
                c_col as isize,
                c_row as isize,
                accumulate != 0,
                a,
                a_col as isize,
                a_row as isize,
                b,
                b_col as isize,
                b_row as isize,
                1.0f32,
                1.0f32,
                false,
                false,
                false,
                parallelism,
            );
        }
    };
    // Several products (attention heads): one per thread at a time, each on one thread,
    // rather than each small product split across threads. Either way threads split
    // outputs only, so the results are the same.
    if batch <= 0 {
        return;
    }
    match threads() {
        1 => (0..batch as isize).for_each(|i| product(i, Parallelism::None)),
        // On the runtime's pool, whose helpers may still be spinning after the kernel
        // before: rayon's workers would compete with them for the cores.
        n if batch > 1 => crate::pool::for_each_index(batch as usize, n, |i| product(i as isize, Parallelism::None)),
        n => product(0, Parallelism::Rayon(n)),
    }
}

/// The symbol of the f32 im2col microkernel.
pub const IM2COL_F32: &str = "fuser_im2col_f32";

/// Copies the convolution windows of `src` (dense `[1, channels, height, width]`, already
/// padded) into `dst` (dense `[channels, kh, kw, oh, ow]`): `dst[c][i][j][y][x] =
/// src[c][y*sh + i*dh][x*sw + j*dw]`. Rows are copied whole when the stride is 1.
///
/// # Safety
/// Both pointers (plus offsets, in elements) must address buffers of those shapes.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn fuser_im2col_f32(
    src: i64,
    src_offset: i64,
    channels: i64,
    height: i64,
    width: i64,
    kh: i64,
    kw: i64,
    oh: i64,
    ow: i64,
    sh: i64,
    sw: i64,
    dh: i64,
    dw: i64,
    dst: i64,
    dst_offset: i64,
) {
    let [channels, height, width, kh, kw, oh, ow, sh, sw, dh, dw] =
        [channels, height, width, kh, kw, oh, ow, sh, sw, dh, dw].map(|v| v as usize);
    // SAFETY: the caller guarantees both buffers have the shapes described above.
    unsafe {
        let src = std::slice::from_raw_parts((src as *const f32).add(src_offset as usize), channels * height * width);
        let dst =
            std::slice::from_raw_parts_mut((dst as *mut f32).add(dst_offset as usize), channels * kh * kw * oh * ow);
        let mut out = 0;
        for c in 0..channels {
            let plane = &src[c * height * width..(c + 1) * height * width];
            for i in 0..kh {
                for j in 0..kw {
                    for y in 0..oh {
                        let row = &plane[(y * sh + i * dh) * width..];
                        let first = j * dw;
                        let target = &mut dst[out..out + ow];
                        if sw == 1 {
                            target.copy_from_slice(&row[first..first + ow]);
                        } else {
                            for (x, t) in target.iter_mut().enumerate() {
                                *t = row[first + x * sw];
                            }
                        }
                        out += ow;
                    }
                }
            }
        }
    }
}

/// The symbol of the f32 depthwise 2-D convolution microkernel.
pub const DEPTHWISE_F32: &str = "fuser_depthwise_conv2d_f32";

/// `dst[b][c][y][x] += Σ_ij w[c][i][j] · src[b][c][y*sh + i*dh][x*sw + j*dw]`: a
/// depthwise convolution over `batch × channels` planes of an already padded input
/// (`[batch, channels, height, width]`), weights `[channels, kh, kw]`, and an output
/// `[batch, channels, oh, ow]` that holds the bias (or zeros) on entry. Channels are
/// split over the threads; each output is computed the same way whatever the split.
///
/// # Safety
/// The pointers (plus offsets, in elements) must address dense buffers of those shapes.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn fuser_depthwise_conv2d_f32(
    src: i64,
    src_offset: i64,
    batch: i64,
    channels: i64,
    height: i64,
    width: i64,
    weights: i64,
    weights_offset: i64,
    kh: i64,
    kw: i64,
    dst: i64,
    dst_offset: i64,
    oh: i64,
    ow: i64,
    sh: i64,
    sw: i64,
    dh: i64,
    dw: i64,
) {
    let [batch, channels, height, width, kh, kw, oh, ow, sh, sw, dh, dw] =
        [batch, channels, height, width, kh, kw, oh, ow, sh, sw, dh, dw].map(|v| v as usize);
    let planes = batch * channels;
    // SAFETY: the caller guarantees the three buffers have the shapes described above.
    let (src, weights, dst) = unsafe {
        (
            std::slice::from_raw_parts((src as *const f32).add(src_offset as usize), planes * height * width),
            std::slice::from_raw_parts((weights as *const f32).add(weights_offset as usize), channels * kh * kw),
            std::slice::from_raw_parts_mut((dst as *mut f32).add(dst_offset as usize), planes * oh * ow),
        )
    };
    let plane = |index: usize, out: &mut [f32]| {
        let c = index % channels;
        let input = &src[index * height * width..(index + 1) * height * width];
        let filter = &weights[c * kh * kw..(c + 1) * kh * kw];
        for y in 0..oh {
            let target = &mut out[y * ow..(y + 1) * ow];
            for i in 0..kh {
                let row = &input[(y * sh + i * dh) * width..];
                for j in 0..kw {
                    let w = filter[i * kw + j];
                    let first = j * dw;
                    if sw == 1 {
                        for (t, v) in target.iter_mut().zip(&row[first..first + ow]) {
                            *t += w * v;
                        }
                    } else {
                        for (x, t) in target.iter_mut().enumerate() {
                            *t += w * row[first + x * sw];
                        }
                    }
                }
            }
        }
    };
    for_each_chunk_mut(dst, oh * ow, plane);
}
