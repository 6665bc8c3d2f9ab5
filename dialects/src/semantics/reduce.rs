//! Reductions along axes: ReduceL2/Max/Mean/Min/Prod/Sum, ArgMax, Softmax, LogSoftmax,
//! TopK.

use super::{Args, Attrs, DType, Known, SemError, Tensor, TypeInfo, axis, invalid};
use ndarray::Dimension;
use ndarray::{ArrayD, Axis, IxDyn};

const REDUCE: &[&str] = &[
    "reduce_l2",
    "reduce_max",
    "reduce_mean",
    "reduce_min",
    "reduce_prod",
    "reduce_sum",
];
const OPS: &[&str] = &["arg_max", "softmax", "log_softmax", "top_k"];

/// The reduced axes: the `axes` operand, or all axes when it is absent or empty (unless
/// noop_with_empty_axes, which makes the op the identity).
fn reduce_axes(axes: Option<Vec<i64>>, rank: usize, noop_with_empty: bool) -> Result<Vec<usize>, SemError> {
    match axes {
        Some(a) if !a.is_empty() => {
            let mut out: Vec<usize> = a.iter().map(|&x| axis(x, rank)).collect::<Result<_, _>>()?;
            out.sort_unstable();
            out.dedup();
            Ok(out)
        }
        _ if noop_with_empty => Ok(vec![]),
        _ => Ok((0..rank).collect()),
    }
}

fn reduced_shape<T: Copy>(shape: &[T], axes: &[usize], keepdims: bool, one: T) -> Vec<T> {
    shape
        .iter()
        .enumerate()
        .filter_map(|(i, &d)| {
            if axes.contains(&i) {
                keepdims.then_some(one)
            } else {
                Some(d)
            }
        })
        .collect()
}

pub(super) fn infer(op: &str, attrs: &Attrs, args: &Args<Known>) -> Option<Result<Vec<TypeInfo>, SemError>> {
    if !REDUCE.contains(&op) && !OPS.contains(&op) {
        return None;
    }
    Some((|| -> Result<Vec<TypeInfo>, SemError> {
        let x = &args.get(0)?.info;
        Ok(match op {
            _ if REDUCE.contains(&op) => {
                let keepdims = attrs.int("keepdims")? != 0;
                let axes = match args.opt(1) {
                    Some(k) => match &k.value {
                        Some(v) => Some(v.to_i64_vec()),
                        None => {
                            // Axes known only at run time: the rank is still known.
                            let count = k.info.shape.first().copied().flatten().ok_or_else(|| {
                                SemError::Unsupported(format!("graph.{op} with axes of unknown length"))
                            })?;
                            let rank = if keepdims { x.rank() } else { x.rank() - count as usize };
                            return Ok(vec![TypeInfo::new(x.dtype, vec![None; rank])]);
                        }
                    },
                    None => None,
                };
                let axes = reduce_axes(axes, x.rank(), attrs.int("noop_with_empty_axes")? != 0)?;
                vec![TypeInfo::new(
                    x.dtype,
                    reduced_shape(&x.shape, &axes, keepdims, Some(1)),
                )]
            }
            "arg_max" => {
                let a = axis(attrs.int("axis")?, x.rank())?;
                vec![TypeInfo::new(
                    DType::I64,
                    reduced_shape(&x.shape, &[a], attrs.int("keepdims")? != 0, Some(1)),
                )]
            }
            "softmax" | "log_softmax" => vec![x.clone()],
            "top_k" => {
                let a = axis(attrs.int("axis")?, x.rank())?;
                let k = args.get(1)?.value.as_ref().map(|t| t.to_i64_vec()[0]);
                let mut shape = x.shape.clone();
                shape[a] = k;
                vec![TypeInfo::new(x.dtype, shape.clone()), TypeInfo::new(DType::I64, shape)]
            }
            _ => unreachable!(),
        })
    })())
}

fn reduce_lane(op: &str, values: &[f64]) -> f64 {
    match op {
        "reduce_l2" => values.iter().map(|v| v * v).sum::<f64>().sqrt(),
        "reduce_max" => values.iter().copied().fold(f64::NEG_INFINITY, |a, b| {
            if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
        }),
        "reduce_min" => values.iter().copied().fold(f64::INFINITY, |a, b| {
            if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) }
        }),
        "reduce_mean" => values.iter().sum::<f64>() / values.len() as f64,
        "reduce_prod" => values.iter().product(),
        _ => values.iter().sum(),
    }
}

/// Reduces `x` over `axes` lane by lane, in f64.
fn reduce(op: &str, x: &ArrayD<f64>, axes: &[usize], keepdims: bool) -> ArrayD<f64> {
    let out_shape = reduced_shape(x.shape(), axes, true, 1);
    let mut out = ArrayD::from_elem(IxDyn(&out_shape), 0.0);
    let mut groups: std::collections::BTreeMap<Vec<usize>, Vec<f64>> = Default::default();
    for (p, &v) in x.indexed_iter() {
        let key: Vec<usize> = p
            .slice()
            .iter()
            .enumerate()
            .map(|(i, &c)| if axes.contains(&i) { 0 } else { c })
            .collect();
        groups.entry(key).or_default().push(v);
    }
    for (key, values) in groups {
        out[IxDyn(&key)] = reduce_lane(op, &values);
    }
    if x.is_empty() {
        out.fill(reduce_lane(op, &[]));
    }
    if keepdims {
        out
    } else {
        out.into_shape_with_order(IxDyn(&reduced_shape(x.shape(), axes, false, 1)))
            .expect("count")
    }
}

pub(super) fn evaluate(op: &str, attrs: &Attrs, args: &Args<Tensor>) -> Option<Result<Vec<Tensor>, SemError>> {
    if !REDUCE.contains(&op) && !OPS.contains(&op) {
        return None;
    }
    Some((|| -> Result<Vec<Tensor>, SemError> {
        let x = args.get(0)?;
        let rank = x.shape().len();
        let back = |values: ArrayD<f64>| match x.dtype {
            d if d.is_float() => Tensor::float(d, values),
            // Booleans reduce as 0/1; an empty max (-inf) is false and an empty min (+inf) true.
            DType::Bool => Tensor::bool(values.mapv(|v| v > 0.0)),
            d => Tensor::int(d, values.mapv(|v| v as i64)),
        };
        Ok(match op {
            _ if REDUCE.contains(&op) => {
                let axes = reduce_axes(
                    args.opt(1).map(Tensor::to_i64_vec),
                    rank,
                    attrs.int("noop_with_empty_axes")? != 0,
                )?;
                if axes.is_empty() {
                    return Ok(vec![x.clone()]);
                }
                vec![back(reduce(op, &x.to_f64(), &axes, attrs.int("keepdims")? != 0))]
            }
            "arg_max" => {
                let a = axis(attrs.int("axis")?, rank)?;
                let last = attrs.int("select_last_index")? != 0;
                let values = x.to_f64();
                let picked = values.map_axis(Axis(a), |lane| {
                    let mut best = 0usize;
                    for (i, &v) in lane.iter().enumerate() {
                        if v > lane[best] || (last && v == lane[best]) {
                            best = i;
                        }
                    }
                    best as i64
                });
                let picked = if attrs.int("keepdims")? != 0 {
                    picked.insert_axis(Axis(a))
                } else {
                    picked
                };
                vec![Tensor::int(DType::I64, picked)]
            }
            "softmax" | "log_softmax" => {
                let a = axis(attrs.int("axis")?, rank)?;
                let mut values = x.to_f64();
                for mut lane in values.lanes_mut(Axis(a)) {
                    let max = lane.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let sum: f64 = lane.iter().map(|v| (v - max).exp()).sum();
                    lane.mapv_inplace(|v| {
                        if op == "softmax" {
                            (v - max).exp() / sum
                        } else {
                            v - max - sum.ln()
                        }
                    });
                }
                vec![Tensor::float(x.dtype, values)]
            }
            "top_k" => {
                let a = axis(attrs.int("axis")?, rank)?;
                let k = args.get(1)?.to_i64_vec()[0];
                if k < 0 || k as usize > x.shape()[a] {
                    return invalid(format!("TopK k = {k} exceeds the dim"));
                }
                let k = k as usize;
                let largest = attrs.int("largest")? != 0;
                let values = x.to_f64();
                let mut shape = x.shape().to_vec();
                shape[a] = k;
                let mut out_v = ArrayD::from_elem(IxDyn(&shape), 0.0);
                let mut out_i = ArrayD::from_elem(IxDyn(&shape), 0i64);
                for ((lane, mut ov), mut oi) in values
                    .lanes(Axis(a))
                    .into_iter()
                    .zip(out_v.lanes_mut(Axis(a)))
                    .zip(out_i.lanes_mut(Axis(a)))
                {
                    let mut order: Vec<usize> = (0..lane.len()).collect();
                    // Stable sort: equal values keep the lower index first, as ONNX requires.
                    order.sort_by(|&p, &q| {
                        let o = lane[p].partial_cmp(&lane[q]).unwrap_or(std::cmp::Ordering::Equal);
                        if largest { o.reverse() } else { o }
                    });
                    for j in 0..k {
                        ov[j] = lane[order[j]];
                        oi[j] = order[j] as i64;
                    }
                }
                vec![back(out_v), Tensor::int(DType::I64, out_i)]
            }
            _ => unreachable!(),
        })
    })())
}
