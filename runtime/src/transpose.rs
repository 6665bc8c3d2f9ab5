//! Transpose of an f32 tensor of any rank by any permutation, as one runtime call. The
//! upstream lowering of `linalg.transpose` is a scalar loop nest on one core: the BERT
//! layer's attention output `[12, 128, 64] → [128, 12, 64]` (`bench/op_models.py`'s
//! models; `fuser bench --profile` names it `k9_transpose`) took 0.12 ms of the layer's
//! 10.6 at two threads, where onnxruntime's took 0.02.
//!
//! The output is written in order, a row (its last axis) at a time: a row whose values
//! lie together in the input (the last axis stays last) is one copy, another is gathered
//! at its stride. Rows are split across the threads when the tensor is large enough to
//! pay for them ([`PARALLEL_ELEMENTS`]). A copy moves values unchanged, so the result does
//! not depend on the thread count.

/// The symbol of the f32 transpose.
pub const TRANSPOSE_F32: &str = "fuser_transpose_f32";
/// Its number of arguments: descriptor, input, output.
pub const TRANSPOSE_F32_ARITY: usize = 3;

/// The most axes a transpose may have.
pub const MAX_RANK: usize = 8;

/// Tensors of at least this many values are transposed by several threads.
const PARALLEL_ELEMENTS: usize = 1 << 15;

/// Writes the permutation of `input` into `output`, as ONNX Transpose: output axis `i` is
/// input axis `perm[i]`. The descriptor is `[rank, dims of the input.., perm..]` (i64).
///
/// # Safety
/// `descriptor` addresses `1 + 2·rank` i64 values with `1 ≤ rank ≤` [`MAX_RANK`], `perm` a
/// permutation of `0..rank` and no dimension negative; `input` and `output` address the
/// tensor's values each and do not overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fuser_transpose_f32(descriptor: i64, input: i64, output: i64) {
    let words = descriptor as *const i64;
    // SAFETY: the descriptor's first word is the rank, as the caller promises.
    let rank = unsafe { *words } as usize;
    assert!((1..=MAX_RANK).contains(&rank), "a transpose of rank {rank}");
    // SAFETY: `2·rank` words follow, as the caller promises.
    let words = unsafe { std::slice::from_raw_parts(words.add(1), 2 * rank) };
    let (dims, perm) = words.split_at(rank);
    let dims: Vec<usize> = dims.iter().map(|&d| usize::try_from(d).expect("a dimension")).collect();
    let perm: Vec<usize> = perm.iter().map(|&p| p as usize).collect();
    let total: usize = dims.iter().product();
    if total == 0 {
        return;
    }
    // SAFETY: the tensor's values, as the caller promises.
    let (x, y) = unsafe {
        (
            std::slice::from_raw_parts(input as *const f32, total),
            std::slice::from_raw_parts_mut(output as *mut f32, total),
        )
    };
    transpose(&dims, &perm, x, y);
}

/// The transpose of `x` (dimensions `dims`) by `perm` into `y`.
pub(crate) fn transpose(dims: &[usize], perm: &[usize], x: &[f32], y: &mut [f32]) {
    let rank = dims.len();
    let mut sorted = perm.to_vec();
    sorted.sort_unstable();
    assert!(
        rank <= MAX_RANK && perm.len() == rank && sorted.iter().enumerate().all(|(i, &p)| i == p),
        "a permutation of {rank} axes"
    );
    let total: usize = dims.iter().product();
    assert!(x.len() >= total && y.len() >= total);
    if total == 0 {
        return;
    }
    // Each output axis: its length and its stride in the input.
    let mut input_strides = [1usize; MAX_RANK];
    for axis in (0..rank.saturating_sub(1)).rev() {
        input_strides[axis] = input_strides[axis + 1] * dims[axis + 1];
    }
    let lengths: Vec<usize> = perm.iter().map(|&p| dims[p]).collect();
    let strides: Vec<usize> = perm.iter().map(|&p| input_strides[p]).collect();
    let row = lengths[rank - 1];
    let rows = total / row;
    let out = y.as_mut_ptr() as usize;
    // Rows `range` of the output.
    let write_rows = |range: std::ops::Range<usize>| {
        let r0 = range.start;
        // The row's index along the output's other axes, and where it starts in the input.
        let mut index = [0usize; MAX_RANK];
        let mut rest = r0;
        for axis in (0..rank - 1).rev() {
            index[axis] = rest % lengths[axis];
            rest /= lengths[axis];
        }
        let mut start: usize = (0..rank - 1).map(|axis| index[axis] * strides[axis]).sum();
        for r in range {
            // SAFETY: row `r` of the output, which no other range writes.
            let dst = unsafe { std::slice::from_raw_parts_mut((out as *mut f32).add(r * row), row) };
            match strides[rank - 1] {
                1 => dst.copy_from_slice(&x[start..start + row]),
                step => {
                    for (j, value) in dst.iter_mut().enumerate() {
                        *value = x[start + j * step];
                    }
                }
            }
            // The next row: the odometer over the output's other axes.
            for axis in (0..rank - 1).rev() {
                index[axis] += 1;
                start += strides[axis];
                if index[axis] < lengths[axis] {
                    break;
                }
                start -= strides[axis] * lengths[axis];
                index[axis] = 0;
            }
        }
    };
    match total < PARALLEL_ELEMENTS {
        true => write_rows(0..rows),
        false => crate::microkernels::for_each_range(rows, write_rows),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Distinct values, none zero: a value misplaced anywhere shows.
    fn values(len: usize) -> Vec<f32> {
        (0..len).map(|i| i as f32 * 0.25 - 100.125).collect()
    }

    /// The transpose element by element: output index `o` reads the input at the index
    /// whose axis `perm[i]` is `o[i]`.
    fn reference(dims: &[usize], perm: &[usize], x: &[f32]) -> Vec<f32> {
        let rank = dims.len();
        let lengths: Vec<usize> = perm.iter().map(|&p| dims[p]).collect();
        let total: usize = dims.iter().product();
        (0..total)
            .map(|flat| {
                let mut rest = flat;
                let mut input_index = vec![0; rank];
                for axis in (0..rank).rev() {
                    input_index[perm[axis]] = rest % lengths[axis];
                    rest /= lengths[axis];
                }
                let at = input_index.iter().zip(dims).fold(0, |at, (&i, &d)| at * d + i);
                x[at]
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Every rank up to 5, every permutation, dimensions of 1 to 6 (in half the cases
        /// the first made large enough that, on a machine of several cores, the threads
        /// split the rows of a rank above 1): the reference's values, and nothing past the
        /// output written.
        #[test]
        fn transposes_match_the_reference(
            dims in proptest::collection::vec(1usize..7, 1..6),
            shuffle in any::<u64>(),
            large in any::<bool>(),
        ) {
            let mut dims = dims;
            if large {
                dims[0] *= PARALLEL_ELEMENTS.div_ceil(dims.iter().product());
            }
            let rank = dims.len();
            let mut perm: Vec<usize> = (0..rank).collect();
            let mut state = shuffle;
            for i in (1..rank).rev() {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                perm.swap(i, (state >> 33) as usize % (i + 1));
            }
            let total: usize = dims.iter().product();
            let x = values(total);
            let mut y = vec![f32::NAN; total + 16];
            transpose(&dims, &perm, &x, &mut y[..total]);
            prop_assert!(y[total..].iter().all(|v| v.is_nan()), "written past the output");
            let want = reference(&dims, &perm, &x);
            for (i, (got, want)) in y[..total].iter().zip(&want).enumerate() {
                prop_assert_eq!(got.to_bits(), want.to_bits(), "output {}", i);
            }
        }
    }

    /// Through the C entry point, with its descriptor: the BERT layer's attention output.
    #[test]
    fn the_entry_point_reads_its_descriptor() {
        let dims = [1usize, 12, 128, 64];
        let perm = [0usize, 2, 1, 3];
        let total: usize = dims.iter().product();
        let x = values(total);
        let mut y = vec![0f32; total];
        let descriptor: Vec<i64> = std::iter::once(4)
            .chain(dims.iter().map(|&d| d as i64))
            .chain(perm.iter().map(|&p| p as i64))
            .collect();
        // SAFETY: the descriptor, input and output hold the transpose's values.
        unsafe { fuser_transpose_f32(descriptor.as_ptr() as i64, x.as_ptr() as i64, y.as_mut_ptr() as i64) };
        assert_eq!(y, reference(&dims, &perm, &x));
        // Row (b, s, h) of the output is row (b, h, s) of the input.
        assert_eq!(y[(5 * 12 + 3) * 64..][..64], x[(3 * 128 + 5) * 64..][..64]);
    }
}
