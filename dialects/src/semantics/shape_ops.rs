//! Ops that move, select or create elements: Reshape, Transpose, Flatten, Squeeze,
//! Unsqueeze, Concat, Split, Slice, Gather, GatherElements, ScatterND, Expand, Tile, Pad,
//! Shape, Constant, ConstantOfShape, Range, DepthToSpace, SpaceToDepth, Trilu, CumSum.

use super::{Args, Attrs, DType, Data, Known, SemError, Tensor, TypeInfo, axis, broadcast_dims, invalid};
use crate::map_data;
use ndarray::Dimension;
use ndarray::{ArrayD, Axis, IxDyn, Slice};

const OPS: &[&str] = &[
    "reshape",
    "transpose",
    "flatten",
    "squeeze",
    "unsqueeze",
    "concat",
    "split",
    "slice",
    "gather",
    "gather_elements",
    "scatter_nd",
    "expand",
    "tile",
    "pad",
    "shape",
    "constant",
    "constant_of_shape",
    "range",
    "depth_to_space",
    "space_to_depth",
    "trilu",
    "cum_sum",
];

fn dims_of(shape: &[usize]) -> Vec<Option<i64>> {
    shape.iter().map(|&d| Some(d as i64)).collect()
}

/// The constant value of operand `i`, if known.
fn value<'a>(args: &Args<'a, Known>, i: usize) -> Option<&'a Tensor> {
    args.opt(i).and_then(|k| k.value.as_ref())
}

/// ONNX Reshape's target dims from the input dims (`0` copies unless allowzero, `-1`
/// is inferred).
fn reshape_dims(input: &[Option<i64>], target: &[i64], allowzero: bool) -> Result<Vec<Option<i64>>, SemError> {
    let mut dims: Vec<Option<i64>> = target
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            if d == 0 && !allowzero {
                input.get(i).copied().flatten()
            } else {
                Some(d)
            }
        })
        .collect();
    if target.iter().filter(|&&d| d == -1).count() > 1 || target.iter().any(|&d| d < -1) {
        return invalid(format!("invalid Reshape target {target:?}"));
    }
    if let Some(pos) = target.iter().position(|&d| d == -1) {
        let total: Option<i64> = input.iter().copied().product();
        let known: Option<i64> = dims
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != pos)
            .map(|(_, d)| *d)
            .product();
        dims[pos] = match (total, known) {
            (Some(0), Some(0)) => Some(0),
            (Some(t), Some(k)) if k != 0 && t % k == 0 => Some(t / k),
            (Some(_), Some(_)) => return invalid(format!("cannot infer -1 in Reshape target {target:?}")),
            _ => None,
        };
    }
    Ok(dims)
}

/// Normalized Slice parameters for one axis: (start, end, step) after clamping.
pub fn slice_bounds(start: i64, end: i64, step: i64, dim: i64) -> (i64, i64) {
    let clamp = |v: i64, lo: i64, hi: i64| v.max(lo).min(hi);
    let norm = |v: i64| if v < 0 { v + dim } else { v };
    if step > 0 {
        (clamp(norm(start), 0, dim), clamp(norm(end), 0, dim))
    } else {
        (clamp(norm(start), -1, dim - 1), clamp(norm(end), -1, dim - 1))
    }
}

fn slice_len(start: i64, end: i64, step: i64) -> i64 {
    if step > 0 {
        ((end - start + step - 1) / step).max(0)
    } else {
        ((start - end + (-step) - 1) / (-step)).max(0)
    }
}

/// Per-axis (start, end, step) of a Slice for a static shape.
fn slice_plan(
    shape: &[usize],
    starts: &[i64],
    ends: &[i64],
    axes: Option<Vec<i64>>,
    steps: Option<Vec<i64>>,
) -> Result<Vec<(usize, i64, i64, i64)>, SemError> {
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return invalid("Slice starts, ends, axes and steps differ in length");
    }
    let mut plan = Vec::new();
    for i in 0..starts.len() {
        let a = axis(axes[i], shape.len())?;
        if steps[i] == 0 {
            return invalid("Slice step 0");
        }
        let (s, e) = slice_bounds(starts[i], ends[i], steps[i], shape[a] as i64);
        plan.push((a, s, e, steps[i]));
    }
    Ok(plan)
}

fn apply_slice<T: Clone>(a: &ArrayD<T>, plan: &[(usize, i64, i64, i64)]) -> ArrayD<T> {
    let mut view = a.view();
    for &(ax, s, e, step) in plan {
        let len = slice_len(s, e, step);
        if len == 0 {
            view.slice_axis_inplace(Axis(ax), Slice::new(0, Some(0), 1));
        } else if step > 0 {
            view.slice_axis_inplace(Axis(ax), Slice::new(s as isize, Some(e as isize), step as isize));
        } else {
            // ndarray's negative step walks from the end of the range; pick the exact
            // window [last, s] and reverse it.
            let last = s + (len - 1) * step;
            view.slice_axis_inplace(
                Axis(ax),
                Slice::new(last as isize, Some(s as isize + 1), -step as isize),
            );
            view.invert_axis(Axis(ax));
        }
    }
    view.to_owned()
}

fn concat<T: Clone>(arrays: &[ArrayD<T>], axis: usize) -> Result<ArrayD<T>, SemError> {
    let views: Vec<_> = arrays.iter().map(|a| a.view()).collect();
    ndarray::concatenate(Axis(axis), &views).map_err(|e| SemError::Invalid(e.to_string()))
}

fn gather<T: Clone>(a: &ArrayD<T>, indices: &ArrayD<i64>, ax: usize) -> Result<ArrayD<T>, SemError> {
    let Some(&dim) = a.shape().get(ax) else {
        return invalid(format!("Gather along axis {ax} of a rank-{} tensor", a.ndim()));
    };
    let dim = dim as i64;
    let flat: Vec<usize> = indices
        .iter()
        .map(|&i| {
            let i = if i < 0 { i + dim } else { i };
            if i < 0 || i >= dim {
                invalid(format!("Gather index out of range for a dim of {dim}"))
            } else {
                Ok(i as usize)
            }
        })
        .collect::<Result<_, _>>()?;
    // `select` keeps the other axes in order and puts the picked slices, in the
    // indices' row-major order, on `ax`; reshaping splits that axis into the indices' shape.
    let picked = a.select(Axis(ax), &flat);
    let mut shape: Vec<usize> = a.shape()[..ax].to_vec();
    shape.extend(indices.shape());
    shape.extend(&a.shape()[ax + 1..]);
    Ok(picked
        .as_standard_layout()
        .to_owned()
        .into_shape_with_order(IxDyn(&shape))
        .expect("gather shape"))
}

fn gather_elements<T: Clone>(a: &ArrayD<T>, indices: &ArrayD<i64>, ax: usize) -> Result<ArrayD<T>, SemError> {
    let dim = a.shape()[ax] as i64;
    let mut out = Vec::with_capacity(indices.len());
    for (position, &i) in indices.indexed_iter() {
        let i = if i < 0 { i + dim } else { i };
        if i < 0 || i >= dim {
            return invalid("GatherElements index out of range");
        }
        let mut at: Vec<usize> = position.slice().to_vec();
        at[ax] = i as usize;
        out.push(a[IxDyn(&at)].clone());
    }
    Ok(ArrayD::from_shape_vec(IxDyn(indices.shape()), out).expect("indices shape"))
}

fn scatter_nd<T: Clone>(
    data: &ArrayD<T>,
    indices: &ArrayD<i64>,
    updates: &ArrayD<T>,
    reduction: &str,
    combine: impl Fn(&T, &T, &str) -> T,
) -> Result<ArrayD<T>, SemError> {
    let mut out = data.clone();
    let k = *indices
        .shape()
        .last()
        .ok_or_else(|| SemError::Invalid("ScatterND indices must have rank >= 1".into()))?;
    let batch: usize = indices.shape()[..indices.ndim() - 1].iter().product();
    let flat_indices = indices
        .as_standard_layout()
        .into_shape_with_order(IxDyn(&[batch, k]))
        .map_err(|e| SemError::Invalid(e.to_string()))?
        .to_owned();
    let slice_shape: Vec<usize> = data.shape()[k..].to_vec();
    let slice_len: usize = slice_shape.iter().product();
    let flat_updates = updates
        .as_standard_layout()
        .into_shape_with_order(IxDyn(&[batch, slice_len]))
        .map_err(|e| SemError::Invalid(e.to_string()))?
        .to_owned();
    for b in 0..batch {
        let mut prefix = Vec::new();
        for j in 0..k {
            let dim = data.shape()[j] as i64;
            let i = flat_indices[[b, j]];
            let i = if i < 0 { i + dim } else { i };
            if i < 0 || i >= dim {
                return invalid("ScatterND index out of range");
            }
            prefix.push(i as usize);
        }
        for (n, rest) in ndarray::indices(IxDyn(&slice_shape)).into_iter().enumerate() {
            let mut at = prefix.clone();
            at.extend(rest.slice());
            let current = out[IxDyn(&at)].clone();
            out[IxDyn(&at)] = combine(&current, &flat_updates[[b, n]], reduction);
        }
    }
    Ok(out)
}

fn depth_space<T: Clone>(a: &ArrayD<T>, block: usize, to_space: bool, crd: bool) -> Result<ArrayD<T>, SemError> {
    let s = a.shape();
    if s.len() != 4 {
        return invalid("DepthToSpace/SpaceToDepth need a 4-D input");
    }
    let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
    let b = block;
    if to_space {
        if c % (b * b) != 0 {
            return invalid("channels not divisible by blocksize^2");
        }
        let oc = c / (b * b);
        let (shape, perm): (Vec<usize>, Vec<usize>) = if crd {
            (vec![n, oc, b, b, h, w], vec![0, 1, 4, 2, 5, 3])
        } else {
            (vec![n, b, b, oc, h, w], vec![0, 3, 4, 1, 5, 2])
        };
        let t = a
            .as_standard_layout()
            .to_owned()
            .into_shape_with_order(IxDyn(&shape))
            .expect("count");
        let t = t.permuted_axes(IxDyn(&perm)).as_standard_layout().to_owned();
        Ok(t.into_shape_with_order(IxDyn(&[n, oc, h * b, w * b])).expect("count"))
    } else {
        if h % b != 0 || w % b != 0 {
            return invalid("spatial dims not divisible by blocksize");
        }
        let t = a
            .as_standard_layout()
            .to_owned()
            .into_shape_with_order(IxDyn(&[n, c, h / b, b, w / b, b]))
            .expect("count");
        // DCR puts the block offsets before the channels, CRD after them.
        let perm: [usize; 6] = if crd { [0, 1, 3, 5, 2, 4] } else { [0, 3, 5, 1, 2, 4] };
        let t = t.permuted_axes(IxDyn(&perm)).as_standard_layout().to_owned();
        Ok(t.into_shape_with_order(IxDyn(&[n, c * b * b, h / b, w / b]))
            .expect("count"))
    }
}

fn pad_array<T: Clone>(a: &ArrayD<T>, pads: &[i64], mode: &str, fill: T) -> Result<ArrayD<T>, SemError> {
    let r = a.ndim();
    let out_shape: Vec<usize> = (0..r)
        .map(|i| (a.shape()[i] as i64 + pads[i] + pads[i + r]).max(0) as usize)
        .collect();
    let mut out = ArrayD::from_elem(IxDyn(&out_shape), fill);
    for (position, slot) in out.indexed_iter_mut() {
        let mut src = Vec::with_capacity(r);
        let mut inside = true;
        for i in 0..r {
            let dim = a.shape()[i] as i64;
            let mut p = position[i] as i64 - pads[i];
            if p < 0 || p >= dim {
                match mode {
                    "constant" => inside = false,
                    "edge" => p = p.clamp(0, dim - 1),
                    "reflect" => {
                        if dim == 1 {
                            p = 0;
                        } else {
                            let period = 2 * (dim - 1);
                            p = p.rem_euclid(period);
                            if p >= dim {
                                p = period - p;
                            }
                        }
                    }
                    "wrap" => p = p.rem_euclid(dim),
                    other => return invalid(format!("Pad mode '{other}'")),
                }
            }
            src.push(p as usize);
        }
        if inside {
            *slot = a[IxDyn(&src)].clone();
        }
    }
    Ok(out)
}

/// The (axis, pads) of a Pad with optional axes, as full begin/end lists.
fn full_pads(pads: &[i64], axes: Option<Vec<i64>>, rank: usize) -> Result<Vec<i64>, SemError> {
    let axes: Vec<usize> = match axes {
        Some(a) => a.iter().map(|&x| axis(x, rank)).collect::<Result<_, _>>()?,
        None => (0..rank).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return invalid(format!("Pad has {} pads for {} axes", pads.len(), axes.len()));
    }
    let mut full = vec![0; 2 * rank];
    for (i, &a) in axes.iter().enumerate() {
        full[a] = pads[i];
        full[a + rank] = pads[i + axes.len()];
    }
    Ok(full)
}

pub(super) fn infer(op: &str, attrs: &Attrs, args: &Args<Known>) -> Option<Result<Vec<TypeInfo>, SemError>> {
    if !OPS.contains(&op) {
        return None;
    }
    Some((|| -> Result<Vec<TypeInfo>, SemError> {
        // When every operand is constant, evaluating is the most precise inference.
        let constant_inputs = args.items.iter().all(|k| k.as_ref().is_none_or(|k| k.value.is_some()));
        if constant_inputs && op != "weight" {
            let values: Vec<Option<Tensor>> = args
                .items
                .iter()
                .map(|k| k.as_ref().and_then(|k| k.value.clone()))
                .collect();
            if let Some(Ok(out)) = evaluate(op, attrs, &Args { op, items: &values }) {
                return Ok(out.iter().map(|t| TypeInfo::fixed(t.dtype, t.shape())).collect());
            }
        }
        let x = || args.get(0).map(|k| &k.info);
        Ok(match op {
            "constant" => {
                let v = attrs.tensor("value")?;
                vec![TypeInfo::fixed(v.dtype, v.shape())]
            }
            "reshape" => {
                let x = x()?;
                match value(args, 1) {
                    Some(t) => {
                        let dims = reshape_dims(&x.shape, &t.to_i64_vec(), attrs.int("allowzero")? != 0)?;
                        let (from, to): (Option<i64>, Option<i64>) =
                            (x.shape.iter().copied().product(), dims.iter().copied().product());
                        if let (Some(from), Some(to)) = (from, to)
                            && from != to
                        {
                            return invalid(format!("cannot reshape {from} elements into {to} elements"));
                        }
                        vec![TypeInfo::new(x.dtype, dims)]
                    }
                    None => {
                        let rank = args
                            .get(1)?
                            .info
                            .shape
                            .first()
                            .copied()
                            .flatten()
                            .ok_or_else(|| SemError::Unsupported("Reshape to a shape of unknown length".into()))?;
                        vec![TypeInfo::new(x.dtype, vec![None; rank as usize])]
                    }
                }
            }
            "transpose" => {
                let x = x()?;
                let perm = attrs.ints("perm")?;
                let mut sorted = perm.clone();
                sorted.sort_unstable();
                if sorted != (0..x.rank() as i64).collect::<Vec<_>>() {
                    return invalid(format!("'perm' {perm:?} is not a permutation of {} dims", x.rank()));
                }
                vec![TypeInfo::new(
                    x.dtype,
                    perm.iter().map(|&p| x.shape[p as usize]).collect(),
                )]
            }
            "flatten" => {
                let x = x()?;
                let a = attrs.int("axis")?;
                let a = if a < 0 { a + x.rank() as i64 } else { a } as usize;
                let prod = |d: &[Option<i64>]| d.iter().copied().product::<Option<i64>>();
                vec![TypeInfo::new(
                    x.dtype,
                    vec![prod(&x.shape[..a.min(x.rank())]), prod(&x.shape[a.min(x.rank())..])],
                )]
            }
            "squeeze" => {
                let x = x()?;
                match (args.opt(1), value(args, 1)) {
                    (None, _) => {
                        if x.shape.contains(&None) {
                            return Err(SemError::Unsupported("Squeeze without axes of a dynamic shape".into()));
                        }
                        vec![TypeInfo::new(
                            x.dtype,
                            x.shape.iter().copied().filter(|&d| d != Some(1)).collect(),
                        )]
                    }
                    (Some(_), Some(axes)) => {
                        let axes: Vec<usize> = axes
                            .to_i64_vec()
                            .iter()
                            .map(|&a| axis(a, x.rank()))
                            .collect::<Result<_, _>>()?;
                        vec![TypeInfo::new(
                            x.dtype,
                            x.shape
                                .iter()
                                .enumerate()
                                .filter(|(i, _)| !axes.contains(i))
                                .map(|(_, d)| *d)
                                .collect(),
                        )]
                    }
                    (Some(a), None) => {
                        let n = a
                            .info
                            .shape
                            .first()
                            .copied()
                            .flatten()
                            .ok_or_else(|| SemError::Unsupported("Squeeze with axes of unknown length".into()))?;
                        let rank = x
                            .rank()
                            .checked_sub(n as usize)
                            .ok_or_else(|| SemError::Invalid("Squeeze of more axes than the rank".into()))?;
                        vec![TypeInfo::new(x.dtype, vec![None; rank])]
                    }
                }
            }
            "unsqueeze" => {
                let x = x()?;
                let Some(axes) = value(args, 1).map(Tensor::to_i64_vec) else {
                    let count = args
                        .get(1)?
                        .info
                        .shape
                        .first()
                        .copied()
                        .flatten()
                        .ok_or_else(|| SemError::Unsupported("Unsqueeze with axes of unknown length".into()))?;
                    return Ok(vec![TypeInfo::new(x.dtype, vec![None; x.rank() + count as usize])]);
                };
                let rank = x.rank() + axes.len();
                let axes: Vec<usize> = axes.iter().map(|&a| axis(a, rank)).collect::<Result<_, _>>()?;
                let mut rest = x.shape.iter();
                vec![TypeInfo::new(
                    x.dtype,
                    (0..rank)
                        .map(|i| {
                            if axes.contains(&i) {
                                Some(1)
                            } else {
                                rest.next().copied().flatten()
                            }
                        })
                        .collect(),
                )]
            }
            "concat" => {
                let inputs = args.present_from(0);
                let first = &inputs
                    .first()
                    .ok_or_else(|| SemError::Invalid("Concat needs an input".into()))?
                    .info;
                let a = axis(attrs.int("axis")?, first.rank())?;
                let mut shape = first.shape.clone();
                if inputs.iter().any(|k| k.info.rank() != first.rank()) {
                    return invalid("Concat operands differ in rank");
                }
                for k in &inputs[1..] {
                    shape[a] = match (shape[a], k.info.shape.get(a).copied().flatten()) {
                        (Some(p), Some(q)) => Some(p + q),
                        _ => None,
                    };
                    for (d, dim) in shape.iter_mut().enumerate() {
                        if d != a && dim.is_none() {
                            *dim = k.info.shape[d];
                        }
                    }
                }
                vec![TypeInfo::new(first.dtype, shape)]
            }
            "split" => {
                // The importer always gives `split`; its value fixes the output count.
                let x = x()?;
                let a = axis(attrs.int("axis")?, x.rank())?;
                let Some(sizes) = value(args, 1).map(Tensor::to_i64_vec) else {
                    let count = args
                        .get(1)?
                        .info
                        .shape
                        .first()
                        .copied()
                        .flatten()
                        .ok_or_else(|| SemError::Unsupported("Split with sizes of unknown length".into()))?;
                    let mut shape = x.shape.clone();
                    shape[a] = None;
                    return Ok(vec![TypeInfo::new(x.dtype, shape); count as usize]);
                };
                sizes
                    .iter()
                    .map(|&s| {
                        let mut shape = x.shape.clone();
                        shape[a] = Some(s);
                        TypeInfo::new(x.dtype, shape)
                    })
                    .collect()
            }
            "slice" => {
                let x = x()?;
                let (Some(starts), Some(ends)) = (value(args, 1), value(args, 2)) else {
                    return Ok(vec![TypeInfo::new(x.dtype, vec![None; x.rank()])]);
                };
                let (starts, ends) = (starts.to_i64_vec(), ends.to_i64_vec());
                // Axes or steps known only at run time: the rank is all that is known.
                if (args.opt(3).is_some() && value(args, 3).is_none())
                    || (args.opt(4).is_some() && value(args, 4).is_none())
                {
                    return Ok(vec![TypeInfo::new(x.dtype, vec![None; x.rank()])]);
                }
                let axes = value(args, 3).map(Tensor::to_i64_vec);
                let steps = value(args, 4).map(Tensor::to_i64_vec);
                let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
                let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
                if ends.len() != starts.len()
                    || axes.len() != starts.len()
                    || steps.len() != starts.len()
                    || steps.contains(&0)
                {
                    return invalid("Slice starts, ends, axes and steps differ in length, or a step is 0");
                }
                let mut shape = x.shape.clone();
                for i in 0..starts.len() {
                    let a = axis(axes[i], x.rank())?;
                    shape[a] = x.shape[a].map(|dim| {
                        let (s, e) = slice_bounds(starts[i], ends[i], steps[i], dim);
                        slice_len(s, e, steps[i])
                    });
                }
                vec![TypeInfo::new(x.dtype, shape)]
            }
            "gather" => {
                let (x, idx) = (x()?, &args.get(1)?.info);
                let a = axis(attrs.int("axis")?, x.rank())?;
                let mut shape = x.shape[..a].to_vec();
                shape.extend(idx.shape.iter().copied());
                shape.extend(x.shape[a + 1..].iter().copied());
                vec![TypeInfo::new(x.dtype, shape)]
            }
            "gather_elements" => vec![TypeInfo::new(x()?.dtype, args.get(1)?.info.shape.clone())],
            "scatter_nd" => vec![x()?.clone()],
            "expand" => {
                let x = x()?;
                let target: Vec<Option<i64>> = match value(args, 1) {
                    Some(t) => t.to_i64_vec().into_iter().map(Some).collect(),
                    None => {
                        vec![
                            None;
                            args.get(1)?.info.shape.first().copied().flatten().ok_or_else(|| {
                                SemError::Unsupported("Expand to a shape of unknown length".into())
                            })? as usize
                        ]
                    }
                };
                vec![TypeInfo::new(x.dtype, broadcast_dims(&[&x.shape, &target])?)]
            }
            "tile" => {
                let x = x()?;
                match value(args, 1) {
                    Some(r) => vec![TypeInfo::new(
                        x.dtype,
                        x.shape
                            .iter()
                            .zip(r.to_i64_vec())
                            .map(|(d, r)| d.map(|d| d * r))
                            .collect(),
                    )],
                    None => vec![TypeInfo::new(x.dtype, vec![None; x.rank()])],
                }
            }
            "pad" => {
                let x = x()?;
                match value(args, 1) {
                    Some(p) => {
                        let axes = value(args, 3).map(|a| a.to_i64_vec());
                        let pads = full_pads(&p.to_i64_vec(), axes, x.rank())?;
                        let r = x.rank();
                        vec![TypeInfo::new(
                            x.dtype,
                            (0..r).map(|i| x.shape[i].map(|d| d + pads[i] + pads[i + r])).collect(),
                        )]
                    }
                    None => vec![TypeInfo::new(x.dtype, vec![None; x.rank()])],
                }
            }
            "shape" => {
                let x = x()?;
                let (start, end) = shape_range(attrs, x.rank())?;
                vec![TypeInfo::fixed(DType::I64, &[end.saturating_sub(start)])]
            }
            "constant_of_shape" => {
                let v = attrs.tensor("value")?;
                match value(args, 0) {
                    Some(s) => vec![TypeInfo::new(v.dtype, s.to_i64_vec().into_iter().map(Some).collect())],
                    None => vec![TypeInfo::new(
                        v.dtype,
                        vec![None; args.get(0)?.info.shape.first().copied().flatten().unwrap_or(0) as usize],
                    )],
                }
            }
            "range" => vec![TypeInfo::new(x()?.dtype, vec![None])],
            "depth_to_space" | "space_to_depth" => {
                let x = x()?;
                let b = attrs.int("blocksize")?;
                if b < 1 {
                    return invalid("blocksize must be positive");
                }
                if x.rank() != 4 {
                    return invalid("DepthToSpace/SpaceToDepth need a 4-D input");
                }
                let s = &x.shape;
                let shape = if op == "depth_to_space" {
                    vec![
                        s[0],
                        s[1].map(|c| c / (b * b)),
                        s[2].map(|h| h * b),
                        s[3].map(|w| w * b),
                    ]
                } else {
                    vec![s[0], s[1].map(|c| c * b * b), s[2].map(|h| h / b), s[3].map(|w| w / b)]
                };
                vec![TypeInfo::new(x.dtype, shape)]
            }
            "trilu" | "cum_sum" => vec![x()?.clone()],
            _ => unreachable!("listed in OPS"),
        })
    })())
}

fn shape_range(attrs: &Attrs, rank: usize) -> Result<(usize, usize), SemError> {
    let clamp = |v: i64| {
        let v = if v < 0 { v + rank as i64 } else { v };
        v.clamp(0, rank as i64) as usize
    };
    Ok((clamp(attrs.int("start")?), clamp(attrs.int("end")?)))
}

pub(super) fn evaluate(op: &str, attrs: &Attrs, args: &Args<Tensor>) -> Option<Result<Vec<Tensor>, SemError>> {
    if !OPS.contains(&op) {
        return None;
    }
    Some((|| -> Result<Vec<Tensor>, SemError> {
        let keep = |x: &Tensor, data: Data| Tensor { dtype: x.dtype, data };
        Ok(match op {
            "constant" => vec![attrs.tensor("value")?.clone()],
            "reshape" => {
                let x = args.get(0)?;
                let dims = reshape_dims(
                    &dims_of(x.shape()),
                    &args.get(1)?.to_i64_vec(),
                    attrs.int("allowzero")? != 0,
                )?;
                let dims: Vec<usize> = dims.into_iter().map(|d| d.unwrap_or(0) as usize).collect();
                if dims.iter().product::<usize>() != x.len() {
                    return invalid(format!("cannot reshape {:?} into {dims:?}", x.shape()));
                }
                vec![keep(
                    x,
                    map_data!(&x.data, a => a.as_standard_layout().to_owned().into_shape_with_order(IxDyn(&dims)).expect("count")),
                )]
            }
            "transpose" => {
                let x = args.get(0)?;
                let perm: Vec<usize> = attrs.ints("perm")?.into_iter().map(|p| p as usize).collect();
                if perm.len() != x.shape().len() {
                    return invalid("'perm' does not match the rank");
                }
                vec![keep(
                    x,
                    map_data!(&x.data, a => a.clone().permuted_axes(IxDyn(&perm)).as_standard_layout().to_owned()),
                )]
            }
            "flatten" => {
                let x = args.get(0)?;
                let r = x.shape().len() as i64;
                let a = attrs.int("axis")?;
                let a = (if a < 0 { a + r } else { a }).clamp(0, r) as usize;
                let dims = [
                    x.shape()[..a].iter().product::<usize>(),
                    x.shape()[a..].iter().product(),
                ];
                vec![keep(
                    x,
                    map_data!(&x.data, a => a.as_standard_layout().to_owned().into_shape_with_order(IxDyn(&dims)).expect("count")),
                )]
            }
            "squeeze" => {
                let x = args.get(0)?;
                let rank = x.shape().len();
                let axes: Vec<usize> = match args.opt(1) {
                    Some(a) => a
                        .to_i64_vec()
                        .iter()
                        .map(|&v| axis(v, rank))
                        .collect::<Result<_, _>>()?,
                    None => (0..rank).filter(|&i| x.shape()[i] == 1).collect(),
                };
                if axes.iter().any(|&a| x.shape()[a] != 1) {
                    return invalid("Squeeze of a dim that is not 1");
                }
                let dims: Vec<usize> = (0..rank).filter(|i| !axes.contains(i)).map(|i| x.shape()[i]).collect();
                vec![keep(
                    x,
                    map_data!(&x.data, a => a.as_standard_layout().to_owned().into_shape_with_order(IxDyn(&dims)).expect("count")),
                )]
            }
            "unsqueeze" => {
                let x = args.get(0)?;
                let axes = args.get(1)?.to_i64_vec();
                let rank = x.shape().len() + axes.len();
                let axes: Vec<usize> = axes.iter().map(|&a| axis(a, rank)).collect::<Result<_, _>>()?;
                let mut rest = x.shape().iter();
                let dims: Vec<usize> = (0..rank)
                    .map(|i| {
                        if axes.contains(&i) {
                            1
                        } else {
                            *rest.next().unwrap_or(&1)
                        }
                    })
                    .collect();
                vec![keep(
                    x,
                    map_data!(&x.data, a => a.as_standard_layout().to_owned().into_shape_with_order(IxDyn(&dims)).expect("count")),
                )]
            }
            "concat" => {
                let inputs = args.present_from(0);
                let first = inputs
                    .first()
                    .ok_or_else(|| SemError::Invalid("Concat needs an input".into()))?;
                let a = axis(attrs.int("axis")?, first.shape().len())?;
                let data = match &first.data {
                    Data::Float(_) => Data::Float(concat(&inputs.iter().map(|t| t.to_f64()).collect::<Vec<_>>(), a)?),
                    Data::Int(_) => Data::Int(concat(&inputs.iter().map(|t| t.to_i64()).collect::<Vec<_>>(), a)?),
                    Data::Bool(_) => Data::Bool(concat(&inputs.iter().map(|t| t.to_bool()).collect::<Vec<_>>(), a)?),
                };
                vec![keep(first, data)]
            }
            "split" => {
                let x = args.get(0)?;
                let a = axis(attrs.int("axis")?, x.shape().len())?;
                let sizes = args.get(1)?.to_i64_vec();
                if sizes.iter().sum::<i64>() != x.shape()[a] as i64 {
                    return invalid("Split sizes do not add up to the dim");
                }
                let mut start = 0i64;
                sizes.iter().map(|&s| {
                    let part = keep(x, map_data!(&x.data, arr => arr.slice_axis(Axis(a), Slice::new(start as isize, Some((start + s) as isize), 1)).to_owned()));
                    start += s;
                    part
                }).collect()
            }
            "slice" => {
                let x = args.get(0)?;
                let plan = slice_plan(
                    x.shape(),
                    &args.get(1)?.to_i64_vec(),
                    &args.get(2)?.to_i64_vec(),
                    args.opt(3).map(Tensor::to_i64_vec),
                    args.opt(4).map(Tensor::to_i64_vec),
                )?;
                vec![keep(x, map_data!(&x.data, a => apply_slice(a, &plan)))]
            }
            "gather" => {
                let x = args.get(0)?;
                let a = axis(attrs.int("axis")?, x.shape().len())?;
                let idx = args.get(1)?.to_i64();
                vec![keep(x, map_data!(&x.data, d => gather(d, &idx, a)?))]
            }
            "gather_elements" => {
                let x = args.get(0)?;
                let a = axis(attrs.int("axis")?, x.shape().len())?;
                let idx = args.get(1)?.to_i64();
                vec![keep(x, map_data!(&x.data, d => gather_elements(d, &idx, a)?))]
            }
            "scatter_nd" => {
                let (x, idx, upd) = (args.get(0)?, args.get(1)?.to_i64(), args.get(2)?);
                let reduction = attrs.string("reduction")?;
                vec![match &x.data {
                    Data::Float(d) => Tensor::float(
                        x.dtype,
                        scatter_nd(d, &idx, &upd.to_f64(), &reduction, |c, u, r| match r {
                            "add" => c + u,
                            "mul" => c * u,
                            "max" => c.max(*u),
                            "min" => c.min(*u),
                            _ => *u,
                        })?,
                    ),
                    Data::Int(d) => Tensor::int(
                        x.dtype,
                        scatter_nd(d, &idx, &upd.to_i64(), &reduction, |c, u, r| match r {
                            "add" => c.wrapping_add(*u),
                            "mul" => c.wrapping_mul(*u),
                            "max" => *c.max(u),
                            "min" => *c.min(u),
                            _ => *u,
                        })?,
                    ),
                    Data::Bool(d) => Tensor::bool(scatter_nd(d, &idx, &upd.to_bool(), &reduction, |_, u, _| *u)?),
                }]
            }
            "expand" => {
                let x = args.get(0)?;
                let target: Vec<Option<i64>> = args.get(1)?.to_i64_vec().into_iter().map(Some).collect();
                let shape: Vec<usize> = broadcast_dims(&[&dims_of(x.shape()), &target])?
                    .into_iter()
                    .map(|d| d.unwrap_or(1) as usize)
                    .collect();
                vec![keep(
                    x,
                    map_data!(&x.data, a => a.broadcast(IxDyn(&shape)).ok_or_else(|| SemError::Invalid("cannot expand".into()))?.to_owned()),
                )]
            }
            "tile" => {
                let x = args.get(0)?;
                let reps = args.get(1)?.to_i64_vec();
                if reps.len() != x.shape().len() {
                    return invalid("Tile repeats do not match the rank");
                }
                let mut data = x.data.clone();
                for (a, &r) in reps.iter().enumerate() {
                    data = map_data!(&data, arr => {
                        let views: Vec<_> = (0..r.max(0)).map(|_| arr.view()).collect();
                        if views.is_empty() {
                            let mut shape = arr.shape().to_vec();
                            shape[a] = 0;
                            ArrayD::from_shape_vec(IxDyn(&shape), vec![]).expect("empty")
                        } else {
                            ndarray::concatenate(Axis(a), &views).expect("same shapes")
                        }
                    });
                }
                vec![keep(x, data)]
            }
            "pad" => {
                let x = args.get(0)?;
                let pads = full_pads(
                    &args.get(1)?.to_i64_vec(),
                    args.opt(3).map(Tensor::to_i64_vec),
                    x.shape().len(),
                )?;
                let mode = attrs.string("mode")?;
                let fill = args
                    .opt(2)
                    .map(|t| t.to_f64_vec().first().copied().unwrap_or(0.0))
                    .unwrap_or(0.0);
                vec![match &x.data {
                    Data::Float(a) => Tensor::float(x.dtype, pad_array(a, &pads, &mode, fill)?),
                    Data::Int(a) => Tensor::int(x.dtype, pad_array(a, &pads, &mode, fill as i64)?),
                    Data::Bool(a) => Tensor::bool(pad_array(a, &pads, &mode, fill != 0.0)?),
                }]
            }
            "shape" => {
                let x = args.get(0)?;
                let (start, end) = shape_range(attrs, x.shape().len())?;
                let dims: Vec<i64> = x.shape()[start..end.max(start)].iter().map(|&d| d as i64).collect();
                vec![Tensor::i64(&[dims.len()], dims)]
            }
            "constant_of_shape" => {
                let v = attrs.tensor("value")?;
                let shape: Vec<usize> = args
                    .get(0)?
                    .to_i64_vec()
                    .into_iter()
                    .map(|d| d.max(0) as usize)
                    .collect();
                let fill = v.to_f64_vec().first().copied().unwrap_or(0.0);
                vec![match v.dtype {
                    d if d.is_int() => Tensor::int(d, ArrayD::from_elem(IxDyn(&shape), v.to_i64_vec()[0])),
                    d => Tensor::full(d, &shape, fill),
                }]
            }
            "range" => {
                let (s, l, d) = (args.get(0)?, args.get(1)?, args.get(2)?);
                if s.dtype.is_float() {
                    let (s, l, d) = (s.to_f64_vec()[0], l.to_f64_vec()[0], d.to_f64_vec()[0]);
                    let n = ((l - s) / d).ceil().max(0.0) as usize;
                    vec![Tensor::float(
                        args.get(0)?.dtype,
                        ArrayD::from_shape_vec(IxDyn(&[n]), (0..n).map(|i| s + i as f64 * d).collect()).expect("n"),
                    )]
                } else {
                    let (s0, l, d) = (s.to_i64_vec()[0], l.to_i64_vec()[0], d.to_i64_vec()[0]);
                    if d == 0 {
                        return invalid("Range delta 0");
                    }
                    let n = ((l - s0) as f64 / d as f64).ceil().max(0.0) as usize;
                    vec![Tensor::int(
                        s.dtype,
                        ArrayD::from_shape_vec(IxDyn(&[n]), (0..n as i64).map(|i| s0 + i * d).collect()).expect("n"),
                    )]
                }
            }
            "depth_to_space" | "space_to_depth" => {
                let x = args.get(0)?;
                let b = attrs.int("blocksize")?;
                if b < 1 {
                    return invalid("blocksize must be positive");
                }
                let b = b as usize;
                let crd = attrs.string("mode")? == "CRD";
                vec![keep(
                    x,
                    match &x.data {
                        Data::Float(a) => Data::Float(depth_space(a, b, op == "depth_to_space", crd)?),
                        Data::Int(a) => Data::Int(depth_space(a, b, op == "depth_to_space", crd)?),
                        Data::Bool(a) => Data::Bool(depth_space(a, b, op == "depth_to_space", crd)?),
                    },
                )]
            }
            "trilu" => {
                let x = args.get(0)?;
                let k = args.opt(1).map(|t| t.to_i64_vec()[0]).unwrap_or(0);
                let upper = attrs.int("upper")? != 0;
                let r = x.shape().len();
                if r < 2 {
                    return invalid("Trilu needs rank >= 2");
                }
                let keep_at = |p: &[usize]| {
                    let (i, j) = (p[r - 2] as i64, p[r - 1] as i64);
                    if upper { j - i >= k } else { j - i <= k }
                };
                vec![keep(
                    x,
                    match &x.data {
                        Data::Float(a) => Data::Float(ArrayD::from_shape_fn(a.raw_dim(), |p| {
                            if keep_at(p.slice()) { a[&p] } else { 0.0 }
                        })),
                        Data::Int(a) => Data::Int(ArrayD::from_shape_fn(a.raw_dim(), |p| {
                            if keep_at(p.slice()) { a[&p] } else { 0 }
                        })),
                        Data::Bool(a) => {
                            Data::Bool(ArrayD::from_shape_fn(a.raw_dim(), |p| keep_at(p.slice()) && a[&p]))
                        }
                    },
                )]
            }
            "cum_sum" => {
                let x = args.get(0)?;
                let a = axis(args.get(1)?.to_i64_vec()[0], x.shape().len())?;
                let (exclusive, reverse) = (attrs.int("exclusive")? != 0, attrs.int("reverse")? != 0);
                let cum = |v: &[f64]| -> Vec<f64> {
                    let mut out = vec![0.0; v.len()];
                    let mut acc = 0.0;
                    let order: Vec<usize> = if reverse {
                        (0..v.len()).rev().collect()
                    } else {
                        (0..v.len()).collect()
                    };
                    for i in order {
                        if exclusive {
                            out[i] = acc;
                            acc += v[i];
                        } else {
                            acc += v[i];
                            out[i] = acc;
                        }
                    }
                    out
                };
                let mut values = x.to_f64();
                for mut lane in values.lanes_mut(Axis(a)) {
                    let v: Vec<f64> = lane.iter().copied().collect();
                    for (slot, c) in lane.iter_mut().zip(cum(&v)) {
                        *slot = c;
                    }
                }
                vec![if x.dtype.is_float() {
                    Tensor::float(x.dtype, values)
                } else {
                    Tensor::int(x.dtype, values.mapv(|v| v as i64))
                }]
            }
            _ => unreachable!("listed in OPS"),
        })
    })())
}
