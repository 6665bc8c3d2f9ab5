//! GlobalAveragePool of an f32 tensor as one runtime call: the mean of each row (a
//! channel's map), its sum taken in f64 over 16 lanes ([`crate::vector_math::lane_sum`]),
//! then divided and rounded once, the rows split across the threads. The linalg lowering
//! sums a channel's values one after another in f32, a chain of dependent adds on one
//! core: MobileNetV2's pool (1280 maps of 7×7) took 0.029 ms at two threads where
//! onnxruntime's took 0.009 (`bench/layers_ort.py`).

/// The symbol of the f32 row mean.
pub const GLOBAL_AVERAGE_POOL_F32: &str = "fuser_global_average_pool_f32";
/// Its number of arguments: input, output, rows, columns.
pub const GLOBAL_AVERAGE_POOL_F32_ARITY: usize = 4;

/// Tensors of at least this many values are pooled by several threads.
const PARALLEL_ELEMENTS: usize = 1 << 14;

/// `output[r]` = the mean of row `r` of `input` (`rows` rows of `cols` values).
///
/// # Safety
/// `input` addresses `rows · cols` f32 values and `output` `rows`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fuser_global_average_pool_f32(input: i64, output: i64, rows: i64, cols: i64) {
    let (rows, cols) = (rows.max(0) as usize, cols.max(0) as usize);
    if rows == 0 {
        return;
    }
    // SAFETY: the caller passes buffers of `rows · cols` and `rows` values.
    let (x, y) = unsafe {
        (
            std::slice::from_raw_parts(input as *const f32, rows * cols),
            std::slice::from_raw_parts_mut(output as *mut f32, rows),
        )
    };
    row_means(x, cols, y);
}

/// The mean of each row of `cols` values of `x` into `y` (one value a row); a row of no
/// values has mean NaN (0/0), as the formula.
pub(crate) fn row_means(x: &[f32], cols: usize, y: &mut [f32]) {
    let rows = y.len();
    assert!(x.len() >= rows * cols);
    let out = y.as_mut_ptr() as usize;
    let means = |range: std::ops::Range<usize>| {
        for r in range {
            let sum = crate::vector_math::lane_sum(&x[r * cols..(r + 1) * cols], |v| v);
            // SAFETY: output `r`, which no other range writes.
            unsafe { *(out as *mut f32).add(r) = (sum / cols as f64) as f32 };
        }
    };
    match rows * cols < PARALLEL_ELEMENTS {
        true => means(0..rows),
        false => crate::microkernels::for_each_range(rows, means),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Rows of any length (the lanes' tails) and any count (the threads' split): each
        /// mean within an f32 rounding of the f64 mean of its row, and the output alone
        /// written.
        #[test]
        fn means_match_the_f64_mean(rows in 1usize..3000, cols in 1usize..70, seed in any::<u64>()) {
            let x = crate::vector_math::tests::random_points(seed | 1, -4.0, 4.0);
            let x: Vec<f32> = x.iter().cycle().take(rows * cols).copied().collect();
            let mut y = vec![f32::NAN; rows + 8];
            row_means(&x, cols, &mut y[..rows]);
            prop_assert!(y[rows..].iter().all(|v| v.is_nan()), "written past the output");
            for (r, &got) in y[..rows].iter().enumerate() {
                let row = &x[r * cols..(r + 1) * cols];
                let want = row.iter().map(|&v| v as f64).sum::<f64>() / cols as f64;
                let scale = row.iter().map(|&v| (v as f64).abs()).sum::<f64>() / cols as f64;
                prop_assert!(
                    (got as f64 - want).abs() <= 1e-7 * scale + f32::EPSILON as f64 * want.abs(),
                    "row {}: {} against {}", r, got, want
                );
            }
        }
    }

    /// Through the C entry point: MobileNetV2's pool, 1280 maps of 49 values.
    #[test]
    fn the_entry_point_pools_each_map() {
        let (rows, cols) = (1280usize, 49usize);
        let x: Vec<f32> = (0..rows * cols).map(|i| ((i * 37 % 101) as f32 - 50.0) / 8.0).collect();
        let mut y = vec![0f32; rows];
        // SAFETY: the buffers hold `rows · cols` and `rows` values.
        unsafe { fuser_global_average_pool_f32(x.as_ptr() as i64, y.as_mut_ptr() as i64, rows as i64, cols as i64) };
        for (r, &got) in y.iter().enumerate() {
            let want = x[r * cols..(r + 1) * cols].iter().map(|&v| v as f64).sum::<f64>() / cols as f64;
            assert_eq!(got, want as f32, "map {r}");
        }
    }
}
