//! Pooling: MaxPool and AveragePool (any spatial rank, padding, dilations, ceil mode)
//! and the global pools. A window op is one `linalg.generic` over (n, c, outputs...,
//! window...) that reads a padded input; an empty window tensor gives the window loops
//! their bounds, as linalg's named pooling ops do.

use super::{
    OpView,
    contraction::pad_spatial,
    text::{
        FuncText, GenericInput, Lowered, affine_map, element, generic, is_float, refuse, static_shape, tensor_type,
    },
};
use fuser_dialects::semantics::DType;

pub fn handles(op: &str) -> bool {
    matches!(
        op,
        "max_pool" | "average_pool" | "global_average_pool" | "global_max_pool"
    )
}

pub fn lower(f: &mut FuncText, view: &OpView) -> Lowered<Vec<String>> {
    match view.op.as_str() {
        "max_pool" | "average_pool" => window_pool(f, view).map(|r| vec![r]),
        _ => global_pool(f, view).map(|r| vec![r]),
    }
}

fn window_pool(f: &mut FuncText, view: &OpView) -> Lowered<String> {
    let max = view.op == "max_pool";
    if max && view.has_result(1) {
        return refuse("graph.max_pool with an indices result has no CPU lowering yet");
    }
    let x = view.input(0)?;
    let dtype = x.info.dtype;
    if !is_float(dtype) {
        return refuse(format!("graph.{} on {dtype}", view.op));
    }
    let ty = element(dtype)?;
    let xs = static_shape(&x.info)?;
    let out = static_shape(view.result(0)?)?;
    let spatial = xs.len() - 2;
    let kernel = view.ints("kernel_shape")?;
    let strides = view.ints("strides")?;
    let dilations = view.ints("dilations")?;
    let pads = view.ints("pads")?;
    // Ceil mode can read past the end padding: pad further so every window is in range
    // (with -inf or 0, which the divisor below does not count).
    let mut full_pads = pads.clone();
    for i in 0..spatial {
        let needed = (out[2 + i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1;
        let have = xs[2 + i] + pads[i] + pads[spatial + i];
        full_pads[spatial + i] += (needed - have).max(0);
    }
    let fill = if max { f64::NEG_INFINITY } else { 0.0 };
    let (padded, ps) = pad_spatial(f, &x.name, &xs, dtype, &full_pads, fill)?;
    let window_ty = tensor_type(&kernel, dtype)?;
    let window = f.empty(&window_ty);
    let init = f.filled(&out, dtype, fill)?;
    let out_ty = tensor_type(&out, dtype)?;
    let rank = 2 + 2 * spatial;
    let mut x_exprs = vec!["d0".to_string(), "d1".to_string()];
    let mut o_exprs = x_exprs.clone();
    let mut w_exprs = Vec::new();
    for i in 0..spatial {
        let (o, k) = (2 + i, 2 + spatial + i);
        x_exprs.push(format!("d{o} * {} + d{k} * {}", strides[i], dilations[i]));
        o_exprs.push(format!("d{o}"));
        w_exprs.push(format!("d{k}"));
    }
    let mut reduction = vec![false; 2 + spatial];
    reduction.extend(vec![true; spatial]);
    let inputs = [
        GenericInput {
            name: padded,
            ty: tensor_type(&ps, dtype)?,
            map: affine_map(rank, &x_exprs),
            element: ty.to_string(),
        },
        GenericInput {
            name: window,
            ty: window_ty,
            map: affine_map(rank, &w_exprs),
            element: ty.to_string(),
        },
    ];
    let combine = if max { "maximumf" } else { "addf" };
    let pooled = generic(
        f,
        &inputs,
        (&init, &out_ty, &affine_map(rank, &o_exprs), ty),
        &reduction,
        |b, args| Ok(b.assign(format!("arith.{combine} {}, {} : {ty}", args[2], args[0]))),
    )?;
    if max {
        return Ok(pooled);
    }
    let divisor = average_divisor(view, &xs, &out, &kernel, &strides, &dilations, &pads)?;
    divide_by_spatial_constant(f, &pooled, &out, dtype, &divisor)
}

/// The divisor of each output position of an average pool, over the output's spatial
/// dims (row-major), exactly as the reference evaluator counts: the window positions
/// inside the input, or inside input plus explicit padding with `count_include_pad`.
fn average_divisor(
    view: &OpView,
    xs: &[i64],
    out: &[i64],
    kernel: &[i64],
    strides: &[i64],
    dilations: &[i64],
    pads: &[i64],
) -> Lowered<Vec<f64>> {
    let include_pad = view.int("count_include_pad")? != 0;
    let spatial = xs.len() - 2;
    let per_axis: Vec<Vec<f64>> = (0..spatial)
        .map(|d| {
            (0..out[2 + d])
                .map(|o| {
                    let start = o * strides[d] - pads[d];
                    let (lo, hi) = if include_pad {
                        (-pads[d], xs[2 + d] + pads[spatial + d])
                    } else {
                        (0, xs[2 + d])
                    };
                    (0..kernel[d])
                        .filter(|k| (lo..hi).contains(&(start + k * dilations[d])))
                        .count() as f64
                })
                .collect()
        })
        .collect();
    let mut divisor = vec![1.0];
    for axis in &per_axis {
        divisor = divisor.iter().flat_map(|&p| axis.iter().map(move |&a| p * a)).collect();
    }
    Ok(divisor)
}

/// `x / divisor`, with `divisor` a constant over the spatial dims of `x`'s shape.
fn divide_by_spatial_constant(
    f: &mut FuncText,
    x: &str,
    shape: &[i64],
    dtype: DType,
    divisor: &[f64],
) -> Lowered<String> {
    let ty = element(dtype)?;
    let spatial_shape = &shape[2..];
    let divisor_ty = tensor_type(spatial_shape, dtype)?;
    let literal = |v: f64| super::text::float_literal(v, dtype);
    let body = if divisor.iter().all(|&d| d == divisor[0]) {
        literal(divisor[0])
    } else {
        nested_literal(spatial_shape, &divisor.iter().map(|&d| literal(d)).collect::<Vec<_>>())
    };
    let constant = f.assign(format!("arith.constant dense<{body}> : {divisor_ty}"));
    let out_ty = tensor_type(shape, dtype)?;
    let empty = f.empty(&out_ty);
    let rank = shape.len();
    let spatial_exprs: Vec<String> = (2..rank).map(|i| format!("d{i}")).collect();
    let inputs = [
        GenericInput {
            name: x.to_string(),
            ty: out_ty.clone(),
            map: super::text::identity_map(rank),
            element: ty.to_string(),
        },
        GenericInput {
            name: constant,
            ty: divisor_ty,
            map: affine_map(rank, &spatial_exprs),
            element: ty.to_string(),
        },
    ];
    generic(
        f,
        &inputs,
        (&empty, &out_ty, &super::text::identity_map(rank), ty),
        &vec![false; rank],
        |b, args| Ok(b.assign(format!("arith.divf {}, {} : {ty}", args[0], args[1]))),
    )
}

/// `[[a, b], [c, d]]` for row-major `values` of `shape`.
pub fn nested_literal(shape: &[i64], values: &[String]) -> String {
    match shape {
        [] => values.first().cloned().unwrap_or_default(),
        [first, rest @ ..] => {
            let chunk = values.len() / (*first).max(1) as usize;
            let parts: Vec<String> = values.chunks(chunk.max(1)).map(|c| nested_literal(rest, c)).collect();
            format!("[{}]", parts.join(", "))
        }
    }
}

fn global_pool(f: &mut FuncText, view: &OpView) -> Lowered<String> {
    let max = view.op == "global_max_pool";
    let x = view.input(0)?;
    let dtype = x.info.dtype;
    if !is_float(dtype) {
        return refuse(format!("graph.{} on {dtype}", view.op));
    }
    let ty = element(dtype)?;
    let xs = static_shape(&x.info)?;
    let out = static_shape(view.result(0)?)?;
    let rank = xs.len();
    let reduced = [xs[0], xs[1]];
    let reduced_ty = tensor_type(&reduced, dtype)?;
    let fill = if max { f64::NEG_INFINITY } else { 0.0 };
    let init = f.filled(&reduced, dtype, fill)?;
    let input = GenericInput {
        name: x.name.clone(),
        ty: tensor_type(&xs, dtype)?,
        map: super::text::identity_map(rank),
        element: ty.to_string(),
    };
    let mut reduction = vec![false, false];
    reduction.extend(vec![true; rank - 2]);
    let combine = if max { "maximumf" } else { "addf" };
    let mut value = generic(
        f,
        &[input],
        (&init, &reduced_ty, &affine_map(rank, &["d0".into(), "d1".into()]), ty),
        &reduction,
        |b, args| Ok(b.assign(format!("arith.{combine} {}, {} : {ty}", args[1], args[0]))),
    )?;
    if !max {
        let count: i64 = xs[2..].iter().product();
        let empty = f.empty(&reduced_ty);
        let input = GenericInput {
            name: value,
            ty: reduced_ty.clone(),
            map: super::text::identity_map(2),
            element: ty.to_string(),
        };
        value = generic(
            f,
            &[input],
            (&empty, &reduced_ty, &super::text::identity_map(2), ty),
            &[false, false],
            |b, args| {
                let n = b.constant(count as f64, dtype)?;
                Ok(b.assign(format!("arith.divf {}, {n} : {ty}", args[0])))
            },
        )?;
    }
    let tail: Vec<String> = (1..rank).map(|i| i.to_string()).collect();
    let out_dims: Vec<String> = out.iter().map(|d| d.to_string()).collect();
    Ok(f.assign(format!(
        "tensor.expand_shape {value} [[0], [{}]] output_shape [{}] : {reduced_ty} into {}",
        tail.join(", "),
        out_dims.join(", "),
        tensor_type(&out, dtype)?
    )))
}
