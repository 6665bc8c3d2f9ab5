//! Neural-network ops: Conv, ConvTranspose, pooling, normalizations, LRN, Gemm, MatMul,
//! Einsum and Resize.

use super::{Args, Attrs, DType, Known, SemError, Tensor, TypeInfo, axis, broadcast_static, invalid, tensor::standard};
use ndarray::Dimension;
use ndarray::{Array2, ArrayD, ArrayView2, Axis, Ix2, IxDyn};

const OPS: &[&str] = &[
    "conv",
    "conv_transpose",
    "average_pool",
    "max_pool",
    "global_average_pool",
    "global_max_pool",
    "batch_normalization",
    "instance_normalization",
    "layer_normalization",
    "rms_normalization",
    "lrn",
    "gemm",
    "mat_mul",
    "einsum",
    "resize",
];

/// Output size of a sliding window (ONNX pooling/conv), with ONNX's ceil-mode rule.
pub fn window_out(
    input: i64,
    kernel: i64,
    stride: i64,
    dilation: i64,
    pad_begin: i64,
    pad_end: i64,
    ceil: bool,
) -> i64 {
    let span = input + pad_begin + pad_end - dilation * (kernel - 1) - 1;
    if ceil {
        let mut out = span.div_euclid(stride) + i64::from(span.rem_euclid(stride) != 0) + 1;
        // A last window that would start inside the end padding is dropped.
        if (out - 1) * stride >= input + pad_begin {
            out -= 1;
        }
        out
    } else {
        span.div_euclid(stride) + 1
    }
}

struct Window {
    kernel: Vec<i64>,
    strides: Vec<i64>,
    dilations: Vec<i64>,
    pads: Vec<i64>,
}

impl Window {
    fn from(attrs: &Attrs, spatial: usize) -> Result<Self, SemError> {
        let w = Window {
            kernel: attrs.ints("kernel_shape")?,
            strides: attrs.ints("strides")?,
            dilations: attrs.ints("dilations")?,
            pads: attrs.ints("pads")?,
        };
        if w.kernel.len() != spatial
            || w.strides.len() != spatial
            || w.dilations.len() != spatial
            || w.pads.len() != 2 * spatial
        {
            return invalid("kernel_shape, strides, dilations and pads must match the spatial rank");
        }
        Ok(w)
    }
    /// `out_dims` for a static input (an impossible window gives 0).
    fn static_out_dims(&self, spatial: &[usize], ceil: bool) -> Vec<usize> {
        let dims: Vec<Option<i64>> = spatial.iter().map(|&d| Some(d as i64)).collect();
        self.out_dims(&dims, ceil)
            .into_iter()
            .map(|d| d.unwrap_or(0).max(0) as usize)
            .collect()
    }
    fn out_dims(&self, spatial: &[Option<i64>], ceil: bool) -> Vec<Option<i64>> {
        let n = self.kernel.len();
        (0..n)
            .map(|i| {
                spatial[i].map(|d| {
                    window_out(
                        d,
                        self.kernel[i],
                        self.strides[i],
                        self.dilations[i],
                        self.pads[i],
                        self.pads[i + n],
                        ceil,
                    )
                })
            })
            .collect()
    }
}

/// Whether `v` replaces the running maximum `best` of a max pooling, as `arith.maximumf`
/// orders values (what the compiled code computes): a first NaN wins and stays, and +0 is
/// above -0.
fn above(v: f64, best: f64) -> bool {
    if best.is_nan() {
        false
    } else if v.is_nan() {
        true
    } else {
        v > best || (v == best && best.is_sign_negative() && !v.is_sign_negative())
    }
}

/// Row-major strides of a shape.
fn strides_of(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Calls `f(out_position, in_positions)` for every output position of a sliding window
/// over the spatial dims, with the input position (possibly in padding: None) of each
/// kernel tap.
fn for_each_window(
    in_spatial: &[usize],
    out_spatial: &[usize],
    w: &Window,
    mut f: impl FnMut(usize, &[Option<usize>]),
) {
    let n = in_spatial.len();
    let in_strides = strides_of(in_spatial);
    let kernel: Vec<usize> = w.kernel.iter().map(|&k| k as usize).collect();
    let taps: Vec<Vec<usize>> = ndarray::indices(IxDyn(&kernel))
        .into_iter()
        .map(|p| p.slice().to_vec())
        .collect();
    let mut positions = vec![None; taps.len()];
    for (o, out) in ndarray::indices(IxDyn(out_spatial)).into_iter().enumerate() {
        for (t, tap) in taps.iter().enumerate() {
            let mut flat = 0usize;
            let mut inside = true;
            for d in 0..n {
                let p = out[d] as i64 * w.strides[d] - w.pads[d] + tap[d] as i64 * w.dilations[d];
                if p < 0 || p >= in_spatial[d] as i64 {
                    inside = false;
                    break;
                }
                flat += p as usize * in_strides[d];
            }
            positions[t] = inside.then_some(flat);
        }
        f(o, &positions);
    }
}

fn conv(
    x: &ArrayD<f64>,
    w: &ArrayD<f64>,
    b: Option<Vec<f64>>,
    win: &Window,
    group: usize,
) -> Result<ArrayD<f64>, SemError> {
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let m = w.shape()[0];
    let cg = w.shape()[1];
    if c != cg * group || !m.is_multiple_of(group) {
        return invalid(format!("Conv channels: input {c}, weight {cg} x group {group}"));
    }
    let in_spatial: Vec<usize> = x.shape()[2..].to_vec();
    let out_spatial = win.static_out_dims(&in_spatial, false);
    let in_size: usize = in_spatial.iter().product();
    let out_size: usize = out_spatial.iter().product();
    let taps: usize = win.kernel.iter().product::<i64>() as usize;
    let x = x.as_standard_layout();
    let w = w.as_standard_layout();
    let (xs, ws) = (x.as_slice().expect("standard"), w.as_slice().expect("standard"));
    // Each (image, group) is one matrix product: the group's filters [mg, cg·taps] times
    // the windows of its channels [cg·taps, out] (im2col, padding read as zeros).
    let mg = m / group;
    let mut out = vec![0.0; n * m * out_size];
    let mut windows = Array2::<f64>::zeros((cg * taps, out_size));
    for b_ in 0..n {
        for g in 0..group {
            for_each_window(&in_spatial, &out_spatial, win, |o, positions| {
                for ic in 0..cg {
                    let x_base = (b_ * c + g * cg + ic) * in_size;
                    for (t, p) in positions.iter().enumerate() {
                        windows[[ic * taps + t, o]] = p.map_or(0.0, |p| xs[x_base + p]);
                    }
                }
            });
            let filters = ArrayView2::from_shape((mg, cg * taps), &ws[g * mg * cg * taps..(g + 1) * mg * cg * taps])
                .expect("filter shape");
            let product = filters.dot(&windows);
            for (i, row) in product.outer_iter().enumerate() {
                let oc = g * mg + i;
                let bias = b.as_ref().map_or(0.0, |b| b[oc]);
                let dst = &mut out[(b_ * m + oc) * out_size..(b_ * m + oc + 1) * out_size];
                for (d, v) in dst.iter_mut().zip(row) {
                    *d = v + bias;
                }
            }
        }
    }
    let mut shape = vec![n, m];
    shape.extend(&out_spatial);
    Ok(ArrayD::from_shape_vec(IxDyn(&shape), out).expect("conv shape"))
}

fn conv_transpose_out(win: &Window, in_spatial: &[i64], output_padding: &[i64]) -> Vec<i64> {
    let n = in_spatial.len();
    (0..n)
        .map(|i| {
            win.strides[i] * (in_spatial[i] - 1)
                + output_padding.get(i).copied().unwrap_or(0)
                + ((win.kernel[i] - 1) * win.dilations[i] + 1)
                - win.pads[i]
                - win.pads[i + n]
        })
        .collect()
}

fn conv_transpose(
    x: &ArrayD<f64>,
    w: &ArrayD<f64>,
    b: Option<Vec<f64>>,
    win: &Window,
    group: usize,
    output_padding: &[i64],
) -> Result<ArrayD<f64>, SemError> {
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let mg = w.shape()[1];
    let m = mg * group;
    let cg = c / group;
    if w.shape()[0] != c {
        return invalid("ConvTranspose weight's first dim must equal the input channels");
    }
    let in_spatial: Vec<usize> = x.shape()[2..].to_vec();
    let out_spatial: Vec<usize> = conv_transpose_out(
        win,
        &in_spatial.iter().map(|&d| d as i64).collect::<Vec<_>>(),
        output_padding,
    )
    .into_iter()
    .map(|d| d.max(0) as usize)
    .collect();
    let out_strides = strides_of(&out_spatial);
    let kernel: Vec<usize> = win.kernel.iter().map(|&k| k as usize).collect();
    let taps: Vec<Vec<usize>> = ndarray::indices(IxDyn(&kernel))
        .into_iter()
        .map(|p| p.slice().to_vec())
        .collect();
    let out_size: usize = out_spatial.iter().product();
    let mut out = vec![0.0; n * m * out_size];
    let sp = in_spatial.len();
    for b_ in 0..n {
        for ic in 0..c {
            let g = ic / cg;
            for (i_pos, &xv) in x.index_axis(Axis(0), b_).index_axis(Axis(0), ic).indexed_iter() {
                for tap in &taps {
                    let mut flat = 0usize;
                    let mut inside = true;
                    for d in 0..sp {
                        let p = i_pos[d] as i64 * win.strides[d] + tap[d] as i64 * win.dilations[d] - win.pads[d];
                        if p < 0 || p >= out_spatial[d] as i64 {
                            inside = false;
                            break;
                        }
                        flat += p as usize * out_strides[d];
                    }
                    if !inside {
                        continue;
                    }
                    for oc in 0..mg {
                        let mut wi = vec![ic, oc];
                        wi.extend(tap);
                        out[(b_ * m + g * mg + oc) * out_size + flat] += xv * w[IxDyn(&wi)];
                    }
                }
            }
        }
    }
    if let Some(b) = b {
        for b_ in 0..n {
            for oc in 0..m {
                for v in &mut out[(b_ * m + oc) * out_size..(b_ * m + oc + 1) * out_size] {
                    *v += b[oc];
                }
            }
        }
    }
    let mut shape = vec![n, m];
    shape.extend(&out_spatial);
    Ok(ArrayD::from_shape_vec(IxDyn(&shape), out).expect("shape"))
}

fn pool(
    op: &str,
    x: &ArrayD<f64>,
    win: &Window,
    ceil: bool,
    count_include_pad: bool,
    storage_order: i64,
) -> (ArrayD<f64>, ArrayD<i64>) {
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let in_spatial: Vec<usize> = x.shape()[2..].to_vec();
    let out_spatial = win.static_out_dims(&in_spatial, ceil);
    let in_size: usize = in_spatial.iter().product();
    let out_size: usize = out_spatial.iter().product();
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard");
    let mut out = vec![0.0; n * c * out_size];
    let mut idx = vec![0i64; n * c * out_size];
    let sp = in_spatial.len();
    // The padded extent of each window, for count_include_pad (padding, not the overhang of
    // ceil mode, counts).
    for_each_window(&in_spatial, &out_spatial, win, |o, positions| {
        let out_pos: Vec<usize> = {
            let mut rem = o;
            let st = strides_of(&out_spatial);
            st.iter()
                .map(|s| {
                    let v = rem / s;
                    rem %= s;
                    v
                })
                .collect()
        };
        let padded_count: usize = (0..sp)
            .map(|d| {
                let start = out_pos[d] as i64 * win.strides[d] - win.pads[d];
                let hi = in_spatial[d] as i64 + win.pads[d + sp];
                (0..win.kernel[d]).filter(|k| start + k * win.dilations[d] < hi).count()
            })
            .product();
        for plane in 0..n * c {
            let base = plane * in_size;
            let values = positions.iter().flatten().map(|&p| (p, xs[base + p]));
            let r = if op == "max_pool" {
                let mut best = (0usize, f64::NEG_INFINITY);
                for (p, v) in values {
                    if above(v, best.1) {
                        best = (p, v);
                    }
                }
                // Indices are flat over the whole input (N, C, spatial), row-major unless
                // storage_order is 1 (column-major over the spatial dims).
                let flat = if storage_order == 1 && sp == 2 {
                    let (h, w) = (best.0 / in_spatial[1], best.0 % in_spatial[1]);
                    plane * in_size + w * in_spatial[0] + h
                } else {
                    base + best.0
                };
                idx[plane * out_size + o] = flat as i64;
                best.1
            } else {
                let (sum, count) = values.fold((0.0, 0usize), |(s, c), (_, v)| (s + v, c + 1));
                sum / if count_include_pad {
                    padded_count as f64
                } else {
                    count as f64
                }
            };
            out[plane * out_size + o] = r;
        }
    });
    let mut shape = vec![n, c];
    shape.extend(&out_spatial);
    (
        ArrayD::from_shape_vec(IxDyn(&shape), out).expect("shape"),
        ArrayD::from_shape_vec(IxDyn(&shape), idx).expect("shape"),
    )
}

/// numpy matmul of f64 arrays.
fn matmul(a: &ArrayD<f64>, b: &ArrayD<f64>) -> Result<ArrayD<f64>, SemError> {
    let a2 = if a.ndim() == 1 {
        a.clone().insert_axis(Axis(0))
    } else {
        a.clone()
    };
    let b2 = if b.ndim() == 1 {
        b.clone().insert_axis(Axis(1))
    } else {
        b.clone()
    };
    let (m, k) = (a2.shape()[a2.ndim() - 2], a2.shape()[a2.ndim() - 1]);
    let (kb, n) = (b2.shape()[b2.ndim() - 2], b2.shape()[b2.ndim() - 1]);
    if k != kb {
        return invalid(format!("MatMul inner dims {k} and {kb} differ"));
    }
    let batch = broadcast_static(&[&a2.shape()[..a2.ndim() - 2], &b2.shape()[..b2.ndim() - 2]])?;
    let mut ash = batch.clone();
    ash.extend([m, k]);
    let mut bsh = batch.clone();
    bsh.extend([k, n]);
    let a3 = a2
        .broadcast(IxDyn(&ash))
        .ok_or_else(|| SemError::Invalid("MatMul batch dims".into()))?
        .to_owned();
    let b3 = b2
        .broadcast(IxDyn(&bsh))
        .ok_or_else(|| SemError::Invalid("MatMul batch dims".into()))?
        .to_owned();
    let count: usize = batch.iter().product();
    let a3 = standard(a3)
        .into_shape_with_order(IxDyn(&[count, m, k]))
        .expect("count");
    let b3 = standard(b3)
        .into_shape_with_order(IxDyn(&[count, k, n]))
        .expect("count");
    let mut out = ArrayD::from_elem(IxDyn(&[count, m, n]), 0.0);
    for p in 0..count {
        let product = a3
            .index_axis(Axis(0), p)
            .into_dimensionality::<Ix2>()
            .expect("2-D")
            .dot(&b3.index_axis(Axis(0), p).into_dimensionality::<Ix2>().expect("2-D"));
        out.index_axis_mut(Axis(0), p).assign(&product);
    }
    let mut shape = batch;
    if a.ndim() > 1 {
        shape.push(m);
    }
    if b.ndim() > 1 {
        shape.push(n);
    }
    Ok(out.into_shape_with_order(IxDyn(&shape)).expect("count"))
}

/// The explicit form of an Einsum equation: each `...` replaced by capital letters for the
/// dims it covers (the operand's rank minus its named indices; broadcast dims line up from
/// the right), and an implicit output made explicit.
pub fn expand_ellipsis(equation: &str, ranks: &[usize]) -> Result<String, SemError> {
    let (lhs, rhs) = match equation.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (equation, None),
    };
    let terms: Vec<&str> = lhs.split(',').collect();
    if terms.len() != ranks.len() {
        return invalid("Einsum equation and inputs differ in count");
    }
    let mut widest = 0;
    let mut expanded = Vec::new();
    for (term, &rank) in terms.iter().zip(ranks) {
        let named = term.replace("...", "").chars().count();
        let covered = rank
            .checked_sub(named)
            .ok_or_else(|| SemError::Invalid("Einsum term longer than its operand's rank".into()))?;
        if covered > 0 && !term.contains("...") {
            return invalid(format!(
                "Einsum term '{term}' names {named} dims of a rank-{rank} operand"
            ));
        }
        widest = widest.max(covered);
        let letters: String = (0..covered)
            .map(|i| (b'A' + (26 - covered + i) as u8 % 26) as char)
            .collect();
        expanded.push(term.replace("...", &letters));
    }
    let ellipsis: String = (0..widest)
        .map(|i| (b'A' + (26 - widest + i) as u8 % 26) as char)
        .collect();
    let out = match rhs {
        Some(r) => r.replace("...", &ellipsis),
        // Implicit output: the ellipsis dims first, then the letters used once, sorted.
        None => {
            let all: String = expanded.concat();
            let mut once: Vec<char> = all
                .chars()
                .filter(|c| c.is_ascii_lowercase() && all.matches(*c).count() == 1)
                .collect();
            once.sort_unstable();
            format!("{ellipsis}{}", once.into_iter().collect::<String>())
        }
    };
    Ok(format!("{}->{out}", expanded.join(",")))
}

/// Einsum by explicit summation over every index combination.
fn einsum(equation: &str, inputs: &[ArrayD<f64>]) -> Result<ArrayD<f64>, SemError> {
    let equation: String = equation.chars().filter(|c| !c.is_whitespace()).collect();
    let ranks: Vec<usize> = inputs.iter().map(|a| a.ndim()).collect();
    einsum_explicit(&expand_ellipsis(&equation, &ranks)?, inputs)
}

/// Einsum of an explicit equation (`ij,jk->ik`); indices from an ellipsis (capitals) may
/// broadcast, size 1 against n.
fn einsum_explicit(equation: &str, inputs: &[ArrayD<f64>]) -> Result<ArrayD<f64>, SemError> {
    let (lhs, rhs) = equation.split_once("->").expect("expanded equations are explicit");
    let terms: Vec<Vec<char>> = lhs.split(',').map(|t| t.chars().collect()).collect();
    let mut sizes: std::collections::BTreeMap<char, usize> = Default::default();
    for (term, input) in terms.iter().zip(inputs) {
        for (&c, &d) in term.iter().zip(input.shape()) {
            let e = sizes.entry(c).or_insert(d);
            if *e == 1 {
                *e = d;
            } else if d != 1 && d != *e {
                return invalid(format!("Einsum index '{c}' has sizes {e} and {d}"));
            }
        }
    }
    let out: Vec<char> = rhs.chars().collect();
    if let Some(c) = out.iter().find(|c| !sizes.contains_key(c)) {
        return invalid(format!("Einsum output index '{c}' is not in any input"));
    }
    let letters: Vec<char> = sizes.keys().copied().collect();
    let dims: Vec<usize> = letters.iter().map(|c| sizes[c]).collect();
    let out_shape: Vec<usize> = out.iter().map(|c| sizes[c]).collect();
    let mut result = ArrayD::from_elem(IxDyn(&out_shape), 0.0);
    for p in ndarray::indices(IxDyn(&dims)) {
        let at = |c: char| p[letters.iter().position(|&l| l == c).expect("letter")];
        let mut prod = 1.0;
        for (term, input) in terms.iter().zip(inputs) {
            // A broadcast dim of size 1 is read at index 0.
            let idx: Vec<usize> = term
                .iter()
                .zip(input.shape())
                .map(|(&c, &d)| if d == 1 { 0 } else { at(c) })
                .collect();
            prod *= input[IxDyn(&idx)];
        }
        let oi: Vec<usize> = out.iter().map(|&c| at(c)).collect();
        result[IxDyn(&oi)] += prod;
    }
    Ok(result)
}

/// Normalizes `x` over the axes from `a` on: (x - mean) / sqrt(var + eps), or for RMS
/// x / sqrt(mean(x^2) + eps). Returns (y, mean, inv_std_dev) with reduced dims kept as 1.
fn normalize(x: &ArrayD<f64>, a: usize, eps: f64, rms: bool) -> (ArrayD<f64>, ArrayD<f64>, ArrayD<f64>) {
    let outer: usize = x.shape()[..a].iter().product();
    let inner: usize = x.shape()[a..].iter().product();
    let flat = x
        .as_standard_layout()
        .to_owned()
        .into_shape_with_order(IxDyn(&[outer, inner]))
        .expect("count");
    let mut y = flat.clone();
    let mut means = vec![0.0; outer];
    let mut inv = vec![0.0; outer];
    for o in 0..outer {
        let row = flat.index_axis(Axis(0), o);
        let mean = if rms { 0.0 } else { row.sum() / inner as f64 };
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / inner as f64;
        let s = 1.0 / (var + eps).sqrt();
        means[o] = mean;
        inv[o] = s;
        y.index_axis_mut(Axis(0), o).mapv_inplace(|v| (v - mean) * s);
    }
    let mut stat_shape: Vec<usize> = x.shape()[..a].to_vec();
    stat_shape.extend(std::iter::repeat_n(1, x.ndim() - a));
    (
        y.into_shape_with_order(IxDyn(x.shape())).expect("count"),
        ArrayD::from_shape_vec(IxDyn(&stat_shape), means).expect("count"),
        ArrayD::from_shape_vec(IxDyn(&stat_shape), inv).expect("count"),
    )
}

/// Broadcasts a per-channel vector over (N, C, ...) at axis 1.
fn per_channel(v: &Tensor, rank: usize) -> ArrayD<f64> {
    let mut shape = vec![1; rank];
    shape[1] = v.len();
    standard(v.to_f64())
        .into_shape_with_order(IxDyn(&shape))
        .expect("count")
}

fn resize_infer(x: &TypeInfo, args: &Args<Known>, attrs: &Attrs) -> Result<Vec<Option<i64>>, SemError> {
    for slot in [2, 3] {
        if let Some(v) = args.opt(slot).and_then(|k| k.value.as_ref())
            && v.len() != x.rank()
        {
            return invalid(format!(
                "Resize scales/sizes have {} values for rank {}",
                v.len(),
                x.rank()
            ));
        }
    }
    if let Some(sizes) = args.opt(3).and_then(|k| k.value.as_ref()) {
        if attrs.string("keep_aspect_ratio_policy")? != "stretch" {
            return Err(SemError::Unsupported(
                "Resize keep_aspect_ratio_policy other than stretch".into(),
            ));
        }
        return Ok(sizes.to_i64_vec().into_iter().map(Some).collect());
    }
    if let Some(scales) = args.opt(2).and_then(|k| k.value.as_ref()) {
        return Ok(x
            .shape
            .iter()
            .zip(scales.to_f64_vec())
            .map(|(d, s)| d.map(|d| (d as f64 * s).floor() as i64))
            .collect());
    }
    Ok(vec![None; x.rank()])
}

/// Maps an output coordinate to an input coordinate (ONNX coordinate_transformation_mode).
/// `out_len` is the resized length (input length x scale, unrounded) and `out_int` the
/// number of output elements.
fn source_coordinate(
    mode: &str,
    out: f64,
    scale: f64,
    in_len: f64,
    out_len: f64,
    out_int: f64,
    roi: Option<(f64, f64)>,
) -> Result<f64, SemError> {
    Ok(match mode {
        "half_pixel" => (out + 0.5) / scale - 0.5,
        "pytorch_half_pixel" => {
            if out_len > 1.0 {
                (out + 0.5) / scale - 0.5
            } else {
                0.0
            }
        }
        "align_corners" => {
            if out_len == 1.0 {
                0.0
            } else {
                out * (in_len - 1.0) / (out_len - 1.0)
            }
        }
        "asymmetric" => out / scale,
        "half_pixel_symmetric" => {
            let adj = out_int / out_len;
            let center = in_len / 2.0;
            let offset = center * (1.0 - adj);
            offset + (out + 0.5) / scale - 0.5
        }
        "tf_crop_and_resize" => {
            let (start, end) = roi.ok_or_else(|| SemError::Invalid("tf_crop_and_resize needs roi".into()))?;
            if out_len > 1.0 {
                start * (in_len - 1.0) + out * (end - start) * (in_len - 1.0) / (out_len - 1.0)
            } else {
                0.5 * (start + end) * (in_len - 1.0)
            }
        }
        other => {
            return Err(SemError::Unsupported(format!(
                "Resize coordinate_transformation_mode '{other}'"
            )));
        }
    })
}

/// The taps of an antialiased linear or cubic filter at input coordinate `c`, as the ONNX
/// definition computes them: a kernel stretched by 1/scale, its coefficients normalized, over
/// the nearest input indices (edge values beyond the borders, dropped with exclude_outside).
fn antialias_taps(mode: &str, c: f64, scale: f64, a: f64, in_len: usize, exclude: bool) -> Vec<(i64, f64)> {
    let s = scale.min(1.0);
    // The fraction in (0, 1]: an integer coordinate prefers the pixel on its left.
    let ratio = if c.fract() == 0.0 { 1.0 } else { c - c.floor() };
    let mut coeffs: Vec<f64> = if mode == "linear" {
        let start = (-1.0 / s).floor() as i64 + 1;
        let footprint = 2 - 2 * start;
        (start..start + footprint)
            .map(|i| (1.0 - ((i as f64 - ratio) * s).abs()).clamp(0.0, 1.0))
            .collect()
    } else {
        let start = (-2.0 / s).floor() as i64 + 1;
        (start..2 - start)
            .map(|i| cubic_kernel(s * (i as f64 - ratio), a))
            .collect()
    };
    let total: f64 = coeffs.iter().sum();
    coeffs.iter_mut().for_each(|w| *w /= total);
    // The n input indices nearest to c (ties to the smaller), in order.
    let n = coeffs.len() as i64;
    let base = c.floor() as i64;
    let mut near: Vec<i64> = (base - n..=base + n).collect();
    near.sort_by(|&p, &q| {
        ((p as f64 - c).abs(), p)
            .partial_cmp(&((q as f64 - c).abs(), q))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    near.truncate(n as usize);
    near.sort_unstable();
    let mut taps: Vec<(i64, f64)> = near.into_iter().zip(coeffs).collect();
    if exclude {
        taps.retain(|(i, _)| (0..in_len as i64).contains(i));
        let total: f64 = taps.iter().map(|t| t.1).sum();
        if total != 0.0 {
            taps.iter_mut().for_each(|t| t.1 /= total);
        }
    }
    taps.into_iter()
        .map(|(i, w)| (i.clamp(0, in_len as i64 - 1), w))
        .collect()
}

/// Keys' cubic convolution kernel with coefficient `a` (ONNX's cubic_coeff_a).
fn cubic_kernel(x: f64, a: f64) -> f64 {
    let x = x.abs();
    if x <= 1.0 {
        (a + 2.0) * x.powi(3) - (a + 3.0) * x.powi(2) + 1.0
    } else if x < 2.0 {
        a * x.powi(3) - 5.0 * a * x.powi(2) + 8.0 * a * x - 4.0 * a
    } else {
        0.0
    }
}

fn cubic_weights(t: f64, a: f64) -> [f64; 4] {
    [
        cubic_kernel(t + 1.0, a),
        cubic_kernel(t, a),
        cubic_kernel(1.0 - t, a),
        cubic_kernel(2.0 - t, a),
    ]
}

/// Resizes one axis of `x` to `out_len` (separable interpolation, as ONNX defines it).
fn resize_axis(
    x: &ArrayD<f64>,
    ax: usize,
    out_len: usize,
    scale: f64,
    attrs: &Attrs,
    roi: Option<(f64, f64)>,
) -> Result<ArrayD<f64>, SemError> {
    let in_len = x.shape()[ax];
    let mode = attrs.string("mode")?;
    let ctm = attrs.string("coordinate_transformation_mode")?;
    let nearest = attrs.string("nearest_mode")?;
    let a = attrs.float("cubic_coeff_a")?;
    let exclude = attrs.int("exclude_outside")? != 0;
    let extrapolation = attrs.float("extrapolation_value")?;
    // Antialias widens the linear/cubic filter by 1/scale when downscaling.
    let antialias = attrs.int("antialias")? != 0 && scale < 1.0 && (mode == "linear" || mode == "cubic");
    let mut shape = x.shape().to_vec();
    shape[ax] = out_len;
    let mut out = ArrayD::from_elem(IxDyn(&shape), 0.0);
    for o in 0..out_len {
        // ONNX uses the unrounded resized length (input length x scale) in the transforms.
        let c = source_coordinate(
            &ctm,
            o as f64,
            scale,
            in_len as f64,
            in_len as f64 * scale,
            out_len as f64,
            roi,
        )?;
        let mut taps: Vec<(i64, f64)> = Vec::new();
        if ctm == "tf_crop_and_resize" && (c < 0.0 || c > in_len as f64 - 1.0) {
            out.index_axis_mut(Axis(ax), o).fill(extrapolation);
            continue;
        }
        match mode.as_str() {
            _ if antialias => taps = antialias_taps(&mode, c, scale, a, in_len, exclude),
            "nearest" => {
                let i = match nearest.as_str() {
                    "round_prefer_floor" => {
                        if c.fract() == 0.5 {
                            c.floor()
                        } else {
                            c.round()
                        }
                    }
                    "round_prefer_ceil" => {
                        if c.fract() == 0.5 {
                            c.ceil()
                        } else {
                            c.round()
                        }
                    }
                    "floor" => c.floor(),
                    "ceil" => c.ceil(),
                    other => return Err(SemError::Unsupported(format!("Resize nearest_mode '{other}'"))),
                };
                taps.push(((i as i64).clamp(0, in_len as i64 - 1), 1.0));
            }
            "linear" => {
                let c = c.clamp(0.0, in_len as f64 - 1.0);
                let i0 = c.floor() as i64;
                let t = c - i0 as f64;
                taps.push((i0, 1.0 - t));
                taps.push(((i0 + 1).min(in_len as i64 - 1), t));
            }
            "cubic" => {
                let i0 = c.floor() as i64;
                let t = c - i0 as f64;
                let ws = cubic_weights(t, a);
                let mut total = 0.0;
                for (k, w) in ws.iter().enumerate() {
                    let i = i0 - 1 + k as i64;
                    if exclude && (i < 0 || i >= in_len as i64) {
                        continue;
                    }
                    total += w;
                    taps.push((i.clamp(0, in_len as i64 - 1), *w));
                }
                if exclude && total != 0.0 {
                    for t in &mut taps {
                        t.1 /= total;
                    }
                }
            }
            other => return Err(SemError::Unsupported(format!("Resize mode '{other}'"))),
        }
        let mut lane = out.index_axis_mut(Axis(ax), o);
        for (i, w) in taps {
            lane.scaled_add(w, &x.index_axis(Axis(ax), i as usize));
        }
    }
    Ok(out)
}

pub(super) fn infer(op: &str, attrs: &Attrs, args: &Args<Known>) -> Option<Result<Vec<TypeInfo>, SemError>> {
    if !OPS.contains(&op) {
        return None;
    }
    Some((|| -> Result<Vec<TypeInfo>, SemError> {
        let x = &args.get(0)?.info;
        Ok(match op {
            "conv" | "average_pool" | "max_pool" => {
                if x.rank() < 3 {
                    return invalid("needs an (N, C, spatial...) input");
                }
                if op == "conv" && args.get(1)?.info.rank() != x.rank() {
                    return invalid("the weight's rank differs from the input's");
                }
                let win = Window::from(attrs, x.rank() - 2)?;
                let ceil = op != "conv" && attrs.int("ceil_mode")? != 0;
                let channels = if op == "conv" {
                    args.get(1)?.info.shape[0]
                } else {
                    x.shape[1]
                };
                let mut shape = vec![x.shape[0], channels];
                shape.extend(win.out_dims(&x.shape[2..], ceil));
                let y = TypeInfo::new(x.dtype, shape.clone());
                if op == "max_pool" {
                    vec![y, TypeInfo::new(DType::I64, shape)]
                } else {
                    vec![y]
                }
            }
            "conv_transpose" => {
                let w = &args.get(1)?.info;
                if x.rank() < 3 || w.rank() != x.rank() {
                    return invalid("needs (N, C, spatial...) input and weight of equal rank");
                }
                let win = Window::from(attrs, x.rank() - 2)?;
                if attrs.ints("output_padding")?.len() != x.rank() - 2 {
                    return invalid("output_padding must match the spatial rank");
                }
                let group = attrs.int("group")?;
                let mut shape = vec![x.shape[0], w.shape[1].map(|m| m * group)];
                let sp: Option<Vec<i64>> = x.shape[2..].iter().copied().collect();
                match sp {
                    Some(sp) => shape.extend(
                        conv_transpose_out(&win, &sp, &attrs.ints("output_padding")?)
                            .into_iter()
                            .map(Some),
                    ),
                    None => shape.extend(vec![None; x.rank() - 2]),
                }
                vec![TypeInfo::new(x.dtype, shape)]
            }
            "global_average_pool" | "global_max_pool" => {
                let mut shape = x.shape[..2.min(x.rank())].to_vec();
                shape.extend(std::iter::repeat_n(Some(1), x.rank().saturating_sub(2)));
                vec![TypeInfo::new(x.dtype, shape)]
            }
            "batch_normalization" | "instance_normalization" | "lrn" => vec![x.clone()],
            "layer_normalization" | "rms_normalization" => {
                let a = axis(attrs.int("axis")?, x.rank())?;
                let mut stat = x.shape[..a].to_vec();
                stat.extend(std::iter::repeat_n(Some(1), x.rank() - a));
                let stash = if attrs.int("stash_type")? == 1 {
                    DType::F32
                } else {
                    x.dtype
                };
                if op == "layer_normalization" {
                    vec![
                        x.clone(),
                        TypeInfo::new(stash, stat.clone()),
                        TypeInfo::new(stash, stat),
                    ]
                } else {
                    vec![x.clone()]
                }
            }
            "gemm" => {
                let b = &args.get(1)?.info;
                if x.rank() != 2 || b.rank() != 2 {
                    return invalid("Gemm operands A and B must be 2-D");
                }
                let m = if attrs.int("trans_a")? != 0 {
                    x.shape[1]
                } else {
                    x.shape[0]
                };
                let n = if attrs.int("trans_b")? != 0 {
                    b.shape[0]
                } else {
                    b.shape[1]
                };
                vec![TypeInfo::new(x.dtype, vec![m, n])]
            }
            "mat_mul" => {
                let b = &args.get(1)?.info;
                if x.rank() == 0 || b.rank() == 0 {
                    return invalid("MatMul operands must have rank >= 1");
                }
                let a2: Vec<Option<i64>> = if x.rank() == 1 {
                    vec![Some(1), x.shape[0]]
                } else {
                    x.shape.clone()
                };
                let b2: Vec<Option<i64>> = if b.rank() == 1 {
                    vec![b.shape[0], Some(1)]
                } else {
                    b.shape.clone()
                };
                let mut shape = super::broadcast_dims(&[&a2[..a2.len() - 2], &b2[..b2.len() - 2]])?;
                if x.rank() > 1 {
                    shape.push(a2[a2.len() - 2]);
                }
                if b.rank() > 1 {
                    shape.push(b2[b2.len() - 1]);
                }
                vec![TypeInfo::new(x.dtype, shape)]
            }
            "einsum" => {
                let inputs = args.present_from(0);
                let zeros: Vec<ArrayD<f64>> = inputs
                    .iter()
                    .map(|k| {
                        k.info
                            .static_shape()
                            .map(|s| ArrayD::from_elem(IxDyn(&s.iter().map(|_| 1).collect::<Vec<_>>()), 0.0))
                    })
                    .collect::<Option<_>>()
                    .ok_or_else(|| SemError::Unsupported("Einsum of dynamic shapes".into()))?;
                // The output letters fix the output shape: evaluate on size-1 arrays to get
                // the output rank, then map each output letter to its size.
                let equation: String = attrs
                    .string("equation")?
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                let eq = expand_ellipsis(&equation, &zeros.iter().map(|z| z.ndim()).collect::<Vec<_>>())?;
                let rank = einsum_explicit(&eq, &zeros)?.ndim();
                let (lhs, rhs) = eq.split_once("->").expect("explicit");
                let mut sizes = std::collections::BTreeMap::new();
                for (term, k) in lhs.split(',').zip(&inputs) {
                    for (c, d) in term.chars().zip(&k.info.shape) {
                        // A broadcast (size-1) dim does not hide a larger one.
                        let entry = sizes.entry(c).or_insert(*d);
                        if *entry == Some(1) {
                            *entry = *d;
                        }
                    }
                }
                let letters: Vec<char> = rhs.chars().collect();
                debug_assert_eq!(letters.len(), rank);
                vec![TypeInfo::new(
                    x.dtype,
                    letters.iter().map(|c| sizes.get(c).copied().flatten()).collect(),
                )]
            }
            "resize" => vec![TypeInfo::new(x.dtype, resize_infer(x, args, attrs)?)],
            _ => unreachable!(),
        })
    })())
}

pub(super) fn evaluate(op: &str, attrs: &Attrs, args: &Args<Tensor>) -> Option<Result<Vec<Tensor>, SemError>> {
    if !OPS.contains(&op) {
        return None;
    }
    Some((|| -> Result<Vec<Tensor>, SemError> {
        let x = args.get(0)?;
        let out = |v: ArrayD<f64>| Tensor::float(x.dtype, v);
        if !x.dtype.is_float() && !matches!(op, "mat_mul" | "gemm" | "einsum" | "max_pool" | "resize") {
            return Err(SemError::Unsupported(format!("graph.{op} on {}", x.dtype)));
        }
        let back = |v: ArrayD<f64>| {
            if x.dtype.is_float() {
                Tensor::float(x.dtype, v)
            } else {
                Tensor::int(x.dtype, v.mapv(|e| e as i64))
            }
        };
        let rank = x.shape().len();
        Ok(match op {
            "conv" => {
                let win = Window::from(attrs, rank - 2)?;
                vec![out(conv(
                    &x.to_f64(),
                    &args.get(1)?.to_f64(),
                    args.opt(2).map(Tensor::to_f64_vec),
                    &win,
                    attrs.int("group")? as usize,
                )?)]
            }
            "conv_transpose" => {
                let win = Window::from(attrs, rank - 2)?;
                vec![out(conv_transpose(
                    &x.to_f64(),
                    &args.get(1)?.to_f64(),
                    args.opt(2).map(Tensor::to_f64_vec),
                    &win,
                    attrs.int("group")? as usize,
                    &attrs.ints("output_padding")?,
                )?)]
            }
            "average_pool" | "max_pool" => {
                let win = Window::from(attrs, rank - 2)?;
                let ceil = attrs.int("ceil_mode")? != 0;
                let include = op == "average_pool" && attrs.int("count_include_pad")? != 0;
                let order = if op == "max_pool" {
                    attrs.int("storage_order")?
                } else {
                    0
                };
                let (y, idx) = pool(op, &x.to_f64(), &win, ceil, include, order);
                if op == "max_pool" {
                    vec![back(y), Tensor::int(DType::I64, idx)]
                } else {
                    vec![out(y)]
                }
            }
            "global_average_pool" | "global_max_pool" => {
                let mut v = x.to_f64();
                for a in (2..rank).rev() {
                    v = if op == "global_average_pool" {
                        v.mean_axis(Axis(a)).expect("non-empty")
                    } else {
                        v.fold_axis(Axis(a), f64::NEG_INFINITY, |&m, &e| if above(e, m) { e } else { m })
                    }
                    .insert_axis(Axis(a));
                }
                vec![out(v)]
            }
            "batch_normalization" => {
                let eps = attrs.float("epsilon")?;
                let (scale, bias, mean, var) = (
                    per_channel(args.get(1)?, rank),
                    per_channel(args.get(2)?, rank),
                    per_channel(args.get(3)?, rank),
                    per_channel(args.get(4)?, rank),
                );
                let y = (&x.to_f64() - &mean) / (var.mapv(|v| (v + eps).sqrt())) * &scale + &bias;
                vec![out(y)]
            }
            "instance_normalization" => {
                let (y, _, _) = normalize(&x.to_f64(), 2, attrs.float("epsilon")?, false);
                vec![out(
                    y * per_channel(args.get(1)?, rank) + per_channel(args.get(2)?, rank)
                )]
            }
            "layer_normalization" | "rms_normalization" => {
                let a = axis(attrs.int("axis")?, rank)?;
                let (y, mean, inv) = normalize(&x.to_f64(), a, attrs.float("epsilon")?, op == "rms_normalization");
                let y = &y * &args.get(1)?.to_f64();
                let y = match args.opt(2) {
                    Some(b) => y + b.to_f64(),
                    None => y,
                };
                let stash = if attrs.int("stash_type")? == 1 {
                    DType::F32
                } else {
                    x.dtype
                };
                if op == "layer_normalization" {
                    vec![out(y), Tensor::float(stash, mean), Tensor::float(stash, inv)]
                } else {
                    vec![out(y)]
                }
            }
            "lrn" => {
                let (alpha, beta, bias, size) = (
                    attrs.float("alpha")?,
                    attrs.float("beta")?,
                    attrs.float("bias")?,
                    attrs.int("size")?,
                );
                let v = x.to_f64();
                let c = x.shape()[1] as i64;
                let lo = (size - 1) / 2;
                let hi = (size - 1) - lo;
                let y = ArrayD::from_shape_fn(v.raw_dim(), |p| {
                    let ch = p[1] as i64;
                    let mut sq = 0.0;
                    for j in (ch - lo).max(0)..=(ch + hi).min(c - 1) {
                        let mut q = p.clone();
                        q[1] = j as usize;
                        sq += v[&q] * v[&q];
                    }
                    v[&p] / (bias + alpha / size as f64 * sq).powf(beta)
                });
                vec![out(y)]
            }
            "gemm" => {
                let t = |a: ArrayD<f64>, tr: bool| if tr { a.reversed_axes() } else { a };
                let a = t(x.to_f64(), attrs.int("trans_a")? != 0);
                let b = t(args.get(1)?.to_f64(), attrs.int("trans_b")? != 0);
                let mut y = matmul(&a, &b)? * attrs.float("alpha")?;
                if let Some(c) = args.opt(2) {
                    y = &y + &(c.to_f64() * attrs.float("beta")?);
                }
                vec![back(y)]
            }
            "mat_mul" => vec![back(matmul(&x.to_f64(), &args.get(1)?.to_f64())?)],
            "einsum" => {
                let inputs: Vec<ArrayD<f64>> = args.present_from(0).iter().map(|t| t.to_f64()).collect();
                vec![back(einsum(&attrs.string("equation")?, &inputs)?)]
            }
            "resize" => {
                let v = x.to_f64();
                let roi = args.opt(1).map(Tensor::to_f64_vec).filter(|r| !r.is_empty());
                let (sizes, scales): (Vec<usize>, Vec<f64>) = if let Some(s) = args.opt(3).filter(|t| !t.is_empty()) {
                    if attrs.string("keep_aspect_ratio_policy")? != "stretch" {
                        return Err(SemError::Unsupported(
                            "Resize keep_aspect_ratio_policy other than stretch".into(),
                        ));
                    }
                    let sizes: Vec<usize> = s.to_i64_vec().into_iter().map(|d| d.max(0) as usize).collect();
                    // Both given (the importer's form of keep_aspect_ratio_policy): the sizes
                    // fix the output, the scales the coordinate transform.
                    let scales = match args.opt(2).filter(|t| !t.is_empty()) {
                        Some(given) => given.to_f64_vec(),
                        None => sizes
                            .iter()
                            .zip(x.shape())
                            .map(|(&o, &i)| o as f64 / i as f64)
                            .collect(),
                    };
                    (sizes, scales)
                } else {
                    let scales = args.get(2)?.to_f64_vec();
                    (
                        x.shape()
                            .iter()
                            .zip(&scales)
                            .map(|(&d, &s)| (d as f64 * s).floor() as usize)
                            .collect(),
                        scales,
                    )
                };
                if sizes.len() != rank || scales.len() != rank {
                    return invalid("Resize scales/sizes must cover every axis");
                }
                let mut v = v;
                for a in 0..rank {
                    if sizes[a] != x.shape()[a] || scales[a] != 1.0 {
                        let r = roi.as_ref().map(|r| (r[a], r[a + rank]));
                        v = resize_axis(&v, a, sizes[a], scales[a], attrs, r)?;
                    }
                }
                vec![back(v)]
            }
            _ => unreachable!(),
        })
    })())
}

#[cfg(test)]
mod tests {
    use super::super::{Attr, Attrs, Tensor, evaluate};

    /// Max pooling takes NaN and signed zeros as `arith.maximumf` does (as the CPU's
    /// pooling loop and the linalg lowering do): NaN propagates, +0 is above -0.
    #[test]
    fn max_pooling_propagates_nan_and_puts_positive_zero_above_negative() {
        let mut attrs = Attrs::default();
        for (name, values) in [
            ("kernel_shape", vec![2]),
            ("strides", vec![2]),
            ("dilations", vec![1]),
            ("pads", vec![0, 0]),
        ] {
            attrs.set(name, Attr::Ints(values));
        }
        attrs.set("ceil_mode", Attr::Int(0));
        attrs.set("storage_order", Attr::Int(0));
        let x = Tensor::f32(&[1, 1, 8], vec![1.0, f32::NAN, f32::NAN, 2.0, -0.0, 0.0, 0.0, -0.0]);
        let pooled = evaluate("graph.max_pool", &attrs, &[Some(x.clone())]).unwrap()[0].to_f64_vec();
        assert!(pooled[0].is_nan() && pooled[1].is_nan(), "{pooled:?}");
        assert!(pooled[2] == 0.0 && !pooled[2].is_sign_negative(), "{pooled:?}");
        assert!(pooled[3] == 0.0 && !pooled[3].is_sign_negative(), "{pooled:?}");
        let global = evaluate("graph.global_max_pool", &Attrs::default(), &[Some(x)]).unwrap()[0].to_f64_vec();
        assert!(global[0].is_nan(), "{global:?}");
    }
}
