//! Batched f32 matmuls of the fused kernel ([`crate::fused`], [`Batch`]): a transformer's
//! attention products `Q·Kᵀ` (with its scale) and `P·V`, 12 heads of 128×128×64 in a
//! BERT-base layer. Op by op they were linalg loops on one core; here each product packs
//! its B into panels (it changes every call: no cache) and runs
//! [`crate::packed_matmul`]'s register blocks and epilogue over them.
//!
//! The threads split the products (one product is an item, its rows and columns on the
//! thread that took it) when there are at least as many as threads, and else the
//! products run in turn, each split as a single matmul is. Either way every output is
//! summed in the same order, so results do not depend on the thread count.

use crate::fused::{Batch, Descriptor, MAX_EPILOGUE_OPERANDS, Operands, Step};

/// Whether a descriptor's batch is one the runtime computes: one product, or a plain f32
/// matmul of nonempty shapes with batch strides that are not negative (that they stay
/// inside the caller's buffers is the caller's promise, as every shape is).
pub(crate) fn is_valid(d: &Descriptor) -> bool {
    let b = d.batch;
    b.count == 1
        || (b.count > 1
            && d.contraction == crate::fused::Contraction::Matmul
            && d.layout.is_plain()
            && d.m > 0
            && d.n > 0
            && d.k > 0
            && b.a_stride >= 0
            && b.b_stride >= 0)
}

/// Each epilogue operand's offset in product `i`: a row operand moves by `M` a product,
/// a full-size one by `M·N`, a column operand stays (see [`Batch`]).
fn operand_offsets(d: &Descriptor, i: usize) -> [usize; MAX_EPILOGUE_OPERANDS] {
    let (m, n) = (d.m as usize, d.n as usize);
    let mut offsets = [0; MAX_EPILOGUE_OPERANDS];
    for step in &d.epilogue {
        match *step {
            Step::AddRow(o) | Step::MulRow(o) => offsets[o] = i * m,
            Step::AddFull(o) | Step::MulFull(o) => offsets[o] = i * m * n,
            _ => {}
        }
    }
    offsets
}

#[cfg(target_arch = "x86_64")]
thread_local! {
    /// Per-thread: the panels of the product's B.
    static PANELS: std::cell::RefCell<crate::aligned::AlignedBuffer> =
        const { std::cell::RefCell::new(crate::aligned::AlignedBuffer::new()) };
}

/// The batched call.
///
/// # Safety
/// As [`crate::fused::fuser_fused_f32`]: A, B, the output and the epilogue operands cover
/// the batch's products.
pub(crate) unsafe fn run(d: &Descriptor, a: i64, b: i64, out: i64, operands: &Operands) {
    let one = Descriptor {
        batch: Batch::default(),
        // B changes between calls: nothing to keep packed.
        constant_weights: 0,
        ..d.clone()
    };
    let (count, mn) = (d.batch.count as usize, (d.m * d.n) as usize);
    let product = |i: usize| {
        let at = |base: i64, stride: i64| base + 4 * i as i64 * stride;
        let operands = operands.shifted(operand_offsets(d, i));
        // SAFETY: product `i`'s matrices and operands, as this function's contract.
        unsafe {
            run_one(
                &one,
                at(a, d.batch.a_stride),
                at(b, d.batch.b_stride),
                out + 4 * (i * mn) as i64,
                &operands,
            )
        }
    };
    if count >= crate::microkernels::threads() {
        crate::microkernels::for_each_item((0..count).collect(), product);
    } else {
        (0..count).for_each(product);
    }
}

/// One product of the batch.
///
/// # Safety
/// As [`run`], for a descriptor of one product.
unsafe fn run_one(d: &Descriptor, a: i64, b: i64, out: i64, operands: &Operands) {
    #[cfg(target_arch = "x86_64")]
    if crate::fused::has_avx512() || crate::fused::has_avx2_fma() {
        let (k, n) = (d.k as usize, d.n as usize);
        let [b_row, b_col] = [d.strides[2] as isize, d.strides[3] as isize];
        let columns = crate::packed_matmul::panel_columns();
        return PANELS.with(|panels| {
            let panels = &mut *panels.borrow_mut();
            // SAFETY: B covers `[K, N]` under its strides, as this function's contract;
            // the CPU has the blocks' instructions.
            unsafe {
                crate::packed_matmul::pack_into(b as *const f32, k, n, b_row, b_col, columns, panels);
                crate::packed_matmul::run_packed(d, a, panels, out, operands)
            }
        });
    }
    // SAFETY: as this function's contract.
    unsafe { crate::fused::run_with_gemm(d, a, b, out, operands) }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use crate::fused::{Contraction, ConvGeometry, Layout};
    use crate::register_tiled::tests::{seconds_per_call, threads_from_environment, values};
    use proptest::prelude::*;

    /// `count` products of A `[M, K]` by B `[K, N]` (one B for all when `shared_b`), each
    /// product's A stored transposed (`[K, M]`) when `a_t`, B when `b_t`.
    fn batched_transposed(
        count: usize,
        (m, n, k): (usize, usize, usize),
        (shared_b, a_t, b_t): (bool, bool, bool),
        epilogue: Vec<Step>,
    ) -> Descriptor {
        let a = if a_t { [1, m as i64] } else { [k as i64, 1] };
        let b = if b_t { [1, k as i64] } else { [n as i64, 1] };
        Descriptor {
            strides: [a[0], a[1], b[0], b[1]],
            ..batched(count, (m, n, k), shared_b, epilogue)
        }
    }

    /// `count` products of A `[M, K]` by B `[K, N]` (one B for all when `shared_b`).
    fn batched(count: usize, (m, n, k): (usize, usize, usize), shared_b: bool, epilogue: Vec<Step>) -> Descriptor {
        Descriptor {
            contraction: Contraction::Matmul,
            m: m as i64,
            n: n as i64,
            k: k as i64,
            strides: [k as i64, 1, n as i64, 1],
            conv: ConvGeometry::default(),
            batch: Batch {
                count: count as i64,
                a_stride: (m * k) as i64,
                b_stride: if shared_b { 0 } else { (k * n) as i64 },
            },
            constant_weights: 0,
            layout: Layout::default(),
            epilogue,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Batched calls through the entry point agree with each product summed in f64,
        /// with transposed operands (strides), a row operand, a column scale, a residual
        /// that may be the output itself and a scalar; on one thread, two, and four (more
        /// threads than some batches have products: those run in turn, each split).
        #[test]
        fn batched_products_agree_with_their_sums(
            count in 2usize..6, m in 1usize..40, n in 1usize..50, k in 1usize..90, shared_b in any::<bool>(),
            a_t in any::<bool>(), b_t in any::<bool>(), residual_is_output in any::<bool>(), seed in any::<u64>(),
        ) {
            let steps = vec![Step::AddRow(0), Step::MulColumn(1), Step::AddFull(2), Step::MulScalar(0.125)];
            let d = batched_transposed(count, (m, n, k), (shared_b, a_t, b_t), steps);
            let [a_row, a_col, b_row, b_col] = d.strides.map(|s| s as usize);
            let words = d.encode();
            prop_assert_eq!(Descriptor::decode(&words), Some(d.clone()));
            let a = values(seed, count * m * k);
            let b = values(seed ^ 1, if shared_b { 1 } else { count } * k * n);
            let (rows, columns) = (values(seed ^ 2, count * m), values(seed ^ 3, n));
            let start = values(seed ^ 4, count * m * n);
            let residual_values = values(seed ^ 5, count * m * n);
            let residual = if residual_is_output { &start } else { &residual_values };
            let mut expected = vec![0f32; count * m * n];
            for i in 0..count {
                let b0 = if shared_b { 0 } else { i * k * n };
                for r in 0..m {
                    for c in 0..n {
                        let sum: f64 = (0..k)
                            .map(|s| a[i * m * k + r * a_row + s * a_col] as f64 * b[b0 + s * b_row + c * b_col] as f64)
                            .sum();
                        let at = (i * m + r) * n + c;
                        let v = (sum as f32 + rows[i * m + r]) * columns[c] + residual[at];
                        expected[at] = v * 0.125;
                    }
                }
            }
            for threads in [1, 2, 4] {
                crate::microkernels::set_threads(threads);
                let mut out = start.clone();
                let r = if residual_is_output { out.as_ptr() } else { residual_values.as_ptr() };
                let (a, b, o) = (a.as_ptr() as i64, b.as_ptr() as i64, out.as_mut_ptr() as i64);
                // SAFETY: the buffers cover the batch's shapes; the words stay alive.
                unsafe {
                    crate::fused::fuser_fused_f32(words.as_ptr() as i64, a, b, o, rows.as_ptr() as i64, columns.as_ptr() as i64, r as i64)
                };
                crate::microkernels::set_threads(0);
                for (at, (&got, &want)) in out.iter().zip(&expected).enumerate() {
                    prop_assert!((got - want).abs() <= 1e-5 * (k as f32 + 4.0), "{at}: {got} against {want}");
                }
            }
        }
    }

    /// A batch the runtime cannot compute does not decode (so the compiler never emits it).
    #[test]
    fn batches_it_cannot_compute_do_not_decode() {
        let good = batched(3, (4, 5, 6), false, vec![]);
        assert_eq!(Descriptor::decode(&good.encode()), Some(good.clone()));
        let conv = Descriptor {
            contraction: Contraction::Conv2d,
            ..good.clone()
        };
        let blocked = Descriptor {
            layout: Layout {
                input_blocked: true,
                output_blocked: false,
            },
            ..good.clone()
        };
        let mut bad = vec![conv, blocked];
        for batch in [
            Batch { count: 0, ..good.batch },
            Batch {
                a_stride: -1,
                ..good.batch
            },
            Batch {
                b_stride: -6,
                ..good.batch
            },
        ] {
            bad.push(Descriptor { batch, ..good.clone() });
        }
        bad.push(Descriptor { k: 0, ..good.clone() });
        for d in bad {
            assert_eq!(Descriptor::decode(&d.encode()), None, "{d:?}");
        }
    }

    /// Not a test: `cargo test --release -p fuser-runtime batched_timing -- --ignored
    /// --nocapture` times BERT-base's attention products (12 heads), `F32_THREADS` threads.
    #[test]
    #[ignore]
    fn batched_timing() {
        threads_from_environment();
        for (m, n, k, steps) in [
            (128usize, 128usize, 64usize, vec![Step::MulScalar(0.125)]),
            (128, 64, 128, vec![]),
        ] {
            let count = 12;
            let d = batched(count, (m, n, k), false, steps);
            let words = d.encode();
            let (a, b) = (values(1, count * m * k), values(2, count * k * n));
            let mut out = vec![0f32; count * m * n];
            let (a, b, o) = (a.as_ptr() as i64, b.as_ptr() as i64, out.as_mut_ptr() as i64);
            let best = (0..6)
                .map(|_| {
                    // SAFETY: the buffers cover the batch's shapes.
                    seconds_per_call(|| unsafe {
                        crate::fused::fuser_fused_f32(words.as_ptr() as i64, a, b, o, 0, 0, 0)
                    })
                })
                .fold(f64::MAX, f64::min);
            let gflops = 2.0 * (count * m * n * k) as f64 / best / 1e9;
            eprintln!("{count}x {m}x{k}x{n}: {:.3} ms ({gflops:.0} GFLOP/s)", best * 1e3);
        }
    }
}

#[cfg(test)]
mod stride_tests {
    use crate::fused::transposed_operand_strides;

    /// The strides read every element where the transpose puts it: each operand element's
    /// offset, computed from `(count, strides)`, is the input element the transpose moves
    /// there.
    #[test]
    fn strides_address_what_the_transpose_moves() {
        for (shape, perm) in [
            (vec![1i64, 6, 3, 4], vec![0i64, 2, 1, 3]),
            (vec![1, 6, 3, 4], vec![0, 2, 3, 1]),
            (vec![2, 3, 4, 5], vec![0, 1, 3, 2]),
            (vec![2, 3, 4, 5], vec![0, 1, 2, 3]),
            (vec![5, 4, 3], vec![0, 2, 1]),
            (vec![1, 4, 3], vec![0, 2, 1]),
        ] {
            let (count, [batch, row, col]) = transposed_operand_strides(&shape, &perm).expect("nests");
            let out: Vec<i64> = perm.iter().map(|&p| shape[p as usize]).collect();
            let r = out.len();
            let in_strides: Vec<i64> = (0..r).map(|d| shape[d + 1..].iter().product()).collect();
            assert_eq!(count, out[..r - 2].iter().product::<i64>());
            // Every operand index, row-major over `out`.
            let total: i64 = out.iter().product();
            for flat in 0..total {
                let mut rest = flat;
                let mut index = vec![0i64; r];
                for d in (0..r).rev() {
                    index[d] = rest % out[d];
                    rest /= out[d];
                }
                let moved: i64 = (0..r).map(|d| index[d] * in_strides[perm[d] as usize]).sum();
                let b = flat / (out[r - 2] * out[r - 1]);
                let read = b * batch + index[r - 2] * row + index[r - 1] * col;
                assert_eq!(read, moved, "{shape:?} by {perm:?} at {index:?}");
            }
        }
        assert_eq!(
            transposed_operand_strides(&[1, 128, 12, 64], &[0, 2, 1, 3]),
            Some((12, [64, 768, 1]))
        );
        assert_eq!(
            transposed_operand_strides(&[1, 128, 12, 64], &[0, 2, 3, 1]),
            Some((12, [64, 1, 768]))
        );
        // Leading dims that do not nest, and what is not a permutation.
        assert_eq!(transposed_operand_strides(&[2, 3, 4, 5], &[2, 0, 1, 3]), None);
        assert_eq!(transposed_operand_strides(&[2, 3, 4, 5], &[1, 0, 2, 3]), None);
        assert_eq!(transposed_operand_strides(&[2, 3, 4], &[0, 0, 1]), None);
        assert_eq!(transposed_operand_strides(&[3, 4], &[1, 0]), None);
    }
}
