//! Calibration statistics and quantization parameters for `graph-quantize`.
//!
//! Activations are observed over the calibration samples and clipped to a range chosen
//! by one of three methods:
//! - `minmax`: the smallest and largest value seen;
//! - `percentile`: the given percentile of `|x|` (outliers are clipped);
//! - `entropy`: the threshold whose 8-bit quantization keeps the histogram of `|x|`
//!   closest in KL divergence (the TensorRT procedure: 2048 bins, 128 levels).
//!
//! The range always contains 0, so 0 (padding) is exactly representable. Weights are
//! symmetric in `[-127, 127]`, one scale per output channel (or one for the tensor).

/// How an activation range is chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    MinMax,
    /// The percentile (e.g. 99.999) of `|x|`.
    Percentile(f64),
    Entropy,
}

/// The bins of a histogram of `|x|`.
pub const BINS: usize = 2048;

/// What calibration gathers for one activation: its range, and once the range is known
/// (a second pass over the samples), a histogram of `|x|` over `[0, max |x|]`.
#[derive(Clone, Debug)]
pub struct Observation {
    pub min: f32,
    pub max: f32,
    pub histogram: Vec<u64>,
}

impl Default for Observation {
    fn default() -> Self {
        Observation {
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            histogram: Vec::new(),
        }
    }
}

impl Observation {
    /// First pass: the range.
    pub fn see_range(&mut self, values: impl Iterator<Item = f32>) {
        for v in values.filter(|v| v.is_finite()) {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
    }

    /// The largest `|x|` seen in the first pass.
    pub fn abs_max(&self) -> f32 {
        self.min.abs().max(self.max.abs())
    }

    /// Second pass: the histogram of `|x|` over `[0, abs_max]`.
    pub fn see_histogram(&mut self, values: impl Iterator<Item = f32>) {
        if self.histogram.is_empty() {
            self.histogram = vec![0; BINS];
        }
        let width = self.abs_max() / BINS as f32;
        for v in values.filter(|v| v.is_finite()) {
            let bin = if width > 0.0 { (v.abs() / width) as usize } else { 0 };
            self.histogram[bin.min(BINS - 1)] += 1;
        }
    }

    /// The range to quantize, by `method` (always containing 0).
    pub fn range(&self, method: Method) -> (f32, f32) {
        let (lo, hi) = (self.min.min(0.0), self.max.max(0.0));
        if !lo.is_finite() || !hi.is_finite() {
            return (0.0, 0.0);
        }
        let threshold = match method {
            Method::MinMax => return (lo, hi),
            Method::Percentile(p) => percentile_threshold(&self.histogram, self.abs_max(), p),
            Method::Entropy => entropy_threshold(&self.histogram, self.abs_max()),
        };
        (lo.max(-threshold), hi.min(threshold))
    }
}

/// The value below which `percentile` % of the histogram's mass lies.
pub fn percentile_threshold(histogram: &[u64], abs_max: f32, percentile: f64) -> f32 {
    let total: u64 = histogram.iter().sum();
    if total == 0 {
        return abs_max;
    }
    let wanted = (total as f64 * percentile / 100.0).ceil() as u64;
    let width = abs_max / histogram.len() as f32;
    let mut seen = 0;
    for (i, &count) in histogram.iter().enumerate() {
        seen += count;
        if seen >= wanted {
            return (i + 1) as f32 * width;
        }
    }
    abs_max
}

/// The clipping threshold that minimizes KL(P || Q), P the histogram clipped at the
/// threshold (outliers added to its last bin), Q its quantization to 128 levels.
pub fn entropy_threshold(histogram: &[u64], abs_max: f32) -> f32 {
    const LEVELS: usize = 128;
    let n = histogram.len();
    if n < LEVELS || histogram.iter().all(|&c| c == 0) {
        return abs_max;
    }
    let width = abs_max / n as f32;
    let mut best = (f64::INFINITY, n);
    for end in LEVELS..=n {
        let mut p: Vec<f64> = histogram[..end].iter().map(|&c| c as f64).collect();
        let outliers: f64 = histogram[end..].iter().map(|&c| c as f64).sum();
        *p.last_mut().expect("end >= LEVELS") += outliers;
        // Q: each of the LEVELS groups of bins spreads its mass over its non-empty bins.
        let mut q = vec![0.0; end];
        for level in 0..LEVELS {
            let (start, stop) = (level * end / LEVELS, (level + 1) * end / LEVELS);
            let mass: f64 = histogram[start..stop].iter().map(|&c| c as f64).sum();
            let nonempty = histogram[start..stop].iter().filter(|&&c| c > 0).count();
            if nonempty == 0 {
                continue;
            }
            for i in start..stop {
                if histogram[i] > 0 {
                    q[i] = mass / nonempty as f64;
                }
            }
        }
        let (sum_p, sum_q): (f64, f64) = (p.iter().sum(), q.iter().sum());
        if sum_q == 0.0 {
            continue;
        }
        let mut divergence = 0.0;
        for (pi, qi) in p.iter().zip(&q) {
            if *pi > 0.0 {
                // A bin P has and Q lacks (only the outlier bin) costs as if Q held a little.
                let qi = if *qi > 0.0 { qi / sum_q } else { 1e-10 };
                divergence += (pi / sum_p) * ((pi / sum_p) / qi).ln();
            }
        }
        if divergence < best.0 {
            best = (divergence, end);
        }
    }
    best.1 as f32 * width
}

/// An integer type activations are quantized to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntType {
    U8,
    I8,
}

impl IntType {
    pub fn bounds(self) -> (i64, i64) {
        match self {
            IntType::U8 => (0, 255),
            IntType::I8 => (-128, 127),
        }
    }
}

/// The scale and zero point of an activation range (`symmetric`: zero point at the
/// type's middle, the range widened to `±max|x|`). A zero range gets scale 1.
pub fn activation_params(lo: f32, hi: f32, ty: IntType, symmetric: bool) -> (f32, i64) {
    let (qmin, qmax) = ty.bounds();
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    if symmetric {
        let abs_max = lo.abs().max(hi.abs());
        let scale = if abs_max > 0.0 { abs_max / 127.0 } else { 1.0 };
        let zero = if ty == IntType::U8 { 128 } else { 0 };
        return (scale, zero);
    }
    if hi - lo <= 0.0 {
        return (1.0, 0);
    }
    let scale = (hi - lo) / (qmax - qmin) as f32;
    let zero = (qmin as f32 - lo / scale).round_ties_even() as i64;
    (scale, zero.clamp(qmin, qmax))
}

/// Symmetric weight scales: one per `channels` contiguous slices of `weights` (or one
/// for all when `channels` is 1), `max|w| / 127`, 1 for an all-zero slice.
pub fn weight_scales(weights: &[f32], channels: usize) -> Vec<f32> {
    let per = weights.len() / channels.max(1);
    (0..channels)
        .map(|c| {
            let m = weights[c * per..(c + 1) * per]
                .iter()
                .fold(0.0f32, |m, w| m.max(w.abs()));
            if m > 0.0 { m / 127.0 } else { 1.0 }
        })
        .collect()
}

/// `round_half_even(w / scale)` in `[-127, 127]`, the scale of `w`'s slice.
pub fn quantize_weights(weights: &[f32], scales: &[f32]) -> Vec<i8> {
    let per = weights.len() / scales.len().max(1);
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| (w / scales[i / per]).round_ties_even().clamp(-127.0, 127.0) as i8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn observe(values: &[f32]) -> Observation {
        let mut o = Observation::default();
        o.see_range(values.iter().copied());
        o.see_histogram(values.iter().copied());
        o
    }

    proptest! {
        /// Quantizing a value inside the calibrated range and back moves it by at most
        /// half a step, whatever the range and type.
        #[test]
        fn activation_round_trip_is_within_half_a_step(
            values in prop::collection::vec(-50.0f32..50.0, 2..200),
            unsigned in any::<bool>(),
            symmetric in any::<bool>(),
        ) {
            let ty = if unsigned { IntType::U8 } else { IntType::I8 };
            let (lo, hi) = observe(&values).range(Method::MinMax);
            let (scale, zero) = activation_params(lo, hi, ty, symmetric);
            let (qmin, qmax) = ty.bounds();
            prop_assert!((qmin..=qmax).contains(&zero));
            for &v in &values {
                let q = ((v / scale).round_ties_even() as i64 + zero).clamp(qmin, qmax);
                let back = (q - zero) as f32 * scale;
                prop_assert!((back - v).abs() <= scale * 0.5 + 1e-4 * v.abs(), "{v} -> {back} (scale {scale}, zero {zero})");
            }
        }

        /// Weight quantization is within half a step of each weight, per channel.
        #[test]
        fn weights_round_trip_per_channel(weights in prop::collection::vec(-3.0f32..3.0, 12..96)) {
            let channels = 4;
            let weights = &weights[..weights.len() / channels * channels];
            let scales = weight_scales(weights, channels);
            let q = quantize_weights(weights, &scales);
            let per = weights.len() / channels;
            for (i, (&w, &q)) in weights.iter().zip(&q).enumerate() {
                prop_assert!((q as f32 * scales[i / per] - w).abs() <= scales[i / per] * 0.5 + 1e-6);
            }
        }

        /// Percentile and entropy thresholds never exceed the observed range, and the
        /// 100th percentile is the whole range.
        #[test]
        fn thresholds_stay_inside_the_range(values in prop::collection::vec(-10.0f32..10.0, 300..800)) {
            let o = observe(&values);
            let (lo, hi) = o.range(Method::MinMax);
            for method in [Method::Percentile(99.9), Method::Entropy] {
                let (l, h) = o.range(method);
                prop_assert!(l >= lo && h <= hi && l <= 0.0 && h >= 0.0);
            }
            let (l, h) = o.range(Method::Percentile(100.0));
            prop_assert!((l - lo).abs() <= 1e-3 * lo.abs().max(1.0) && (h - hi).abs() <= 1e-3 * hi.abs().max(1.0));
        }
    }

    /// A heavy tail: entropy and percentile clip the outlier that minmax keeps.
    #[test]
    fn outliers_are_clipped_by_percentile_and_entropy() {
        let mut values: Vec<f32> = (0..4000).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
        values.push(100.0);
        let o = observe(&values);
        assert_eq!(o.range(Method::MinMax).1, 100.0);
        assert!(o.range(Method::Percentile(99.9)).1 < 5.0);
        assert!(o.range(Method::Entropy).1 < 20.0, "{:?}", o.range(Method::Entropy));
    }
}
