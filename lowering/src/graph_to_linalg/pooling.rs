//! Pooling: MaxPool and AveragePool (any spatial rank, padding, dilations, ceil mode)
//! and the global pools. A window op is one `linalg.generic` over (n, c, outputs...,
//! window...) that reads a padded input; an empty window tensor gives the window loops
//! their bounds, as linalg's named pooling ops do. An f32 GlobalAveragePool is one call of
//! the runtime's row mean (`fuser_runtime::global_pool`) where runtime calls are allowed.

use super::{
    OpView,
    contraction::pad_spatial,
    text::{
        FuncText, GenericInput, Lowered, affine_map, element, f32_tensor, fresh_output, generic, is_float,
        output_tensor, read_address, refuse, static_shape, tensor_type,
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
        "max_pool" if view.has_result(1) => max_pool_with_indices(f, view),
        "max_pool" | "average_pool" => window_pool(f, view).map(|r| vec![r]),
        _ => global_pool(f, view).map(|r| vec![r]),
    }
}

fn window_pool(f: &mut FuncText, view: &OpView) -> Lowered<String> {
    let max = view.op == "max_pool";
    let x = view.input(0)?;
    let dtype = x.info.dtype;
    // MaxPool also takes 8-bit integers: their smallest value pads and starts the max.
    let lowest = match dtype {
        _ if is_float(dtype) => f64::NEG_INFINITY,
        DType::U8 if max => 0.0,
        DType::I8 if max => -128.0,
        _ => return refuse(format!("graph.{} on {dtype}", view.op)),
    };
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
    let full_pads = window_pads(&xs, &out, &kernel, &strides, &dilations, &pads);
    let fill = if max { lowest } else { 0.0 };
    let (padded, ps) = pad_spatial(f, &x.name, &xs, dtype, &full_pads, fill)?;
    let window_ty = tensor_type(&kernel, dtype)?;
    let window = f.empty(&window_ty);
    let init = f.filled(&out, dtype, fill)?;
    let out_ty = tensor_type(&out, dtype)?;
    let rank = 2 + 2 * spatial;
    // Loops (n, c, outputs but the last, window..., last output): the innermost loop
    // runs along an output row, so it vectorizes.
    let (x_exprs, o_exprs, w_exprs) = row_inner_window_exprs(spatial, &strides, &dilations);
    let mut reduction = vec![false; 1 + spatial];
    reduction.extend(vec![true; spatial]);
    reduction.push(false);
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
    let combine = match dtype {
        DType::U8 => "maxui",
        DType::I8 => "maxsi",
        _ if max => "maximumf",
        _ => "addf",
    };
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

/// The pads of a window op's input, the end pads grown so that every window of the
/// output (ceil mode can reach past the given end padding) lies inside.
fn window_pads(xs: &[i64], out: &[i64], kernel: &[i64], strides: &[i64], dilations: &[i64], pads: &[i64]) -> Vec<i64> {
    let spatial = xs.len() - 2;
    let mut full = pads.to_vec();
    for i in 0..spatial {
        let needed = (out[2 + i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1;
        let have = xs[2 + i] + pads[i] + pads[spatial + i];
        full[spatial + i] += (needed - have).max(0);
    }
    full
}

/// The affine expressions of a window op over loops (n, c, outputs but the last,
/// window..., last output): the padded input's, the output's and the window's.
fn row_inner_window_exprs(
    spatial: usize,
    strides: &[i64],
    dilations: &[i64],
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let output = |i: usize| if i + 1 == spatial { 1 + 2 * spatial } else { 2 + i };
    let window = |i: usize| 1 + spatial + i;
    let mut x_exprs = vec!["d0".to_string(), "d1".to_string()];
    let mut o_exprs = x_exprs.clone();
    let mut w_exprs = Vec::new();
    for i in 0..spatial {
        let (o, k) = (output(i), window(i));
        x_exprs.push(format!("d{o} * {} + d{k} * {}", strides[i], dilations[i]));
        o_exprs.push(format!("d{o}"));
        w_exprs.push(format!("d{k}"));
    }
    (x_exprs, o_exprs, w_exprs)
}

/// The affine expressions of a window op over loops (n, c, outputs..., window...): the
/// padded input's, the output's and the window's.
fn window_exprs(spatial: usize, strides: &[i64], dilations: &[i64]) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut x_exprs = vec!["d0".to_string(), "d1".to_string()];
    let mut o_exprs = x_exprs.clone();
    let mut w_exprs = Vec::new();
    for i in 0..spatial {
        let (o, k) = (2 + i, 2 + spatial + i);
        x_exprs.push(format!("d{o} * {} + d{k} * {}", strides[i], dilations[i]));
        o_exprs.push(format!("d{o}"));
        w_exprs.push(format!("d{k}"));
    }
    (x_exprs, o_exprs, w_exprs)
}

/// MaxPool with its indices result: one generic with two outputs, the running maximum
/// and the flat input index (row-major over N, C and the spatial dims, or column-major
/// over a 2-D window's spatial dims with `storage_order = 1`) of the first element that
/// beat it, computed from the loop indices. Padding holds -inf and is never taken; an
/// output whose window holds nothing larger than -inf gets its plane's first index, as
/// in the evaluator.
fn max_pool_with_indices(f: &mut FuncText, view: &OpView) -> Lowered<Vec<String>> {
    let x = view.input(0)?;
    let dtype = x.info.dtype;
    if !is_float(dtype) {
        return refuse(format!("graph.max_pool on {dtype}"));
    }
    let ty = element(dtype)?;
    let xs = static_shape(&x.info)?;
    let out = static_shape(view.result(0)?)?;
    let spatial = xs.len() - 2;
    let (kernel, strides, dilations, pads) = (
        view.ints("kernel_shape")?,
        view.ints("strides")?,
        view.ints("dilations")?,
        view.ints("pads")?,
    );
    let column_major = view.int("storage_order")? == 1 && spatial == 2;
    let full_pads = window_pads(&xs, &out, &kernel, &strides, &dilations, &pads);
    let (padded, ps) = pad_spatial(f, &x.name, &xs, dtype, &full_pads, f64::NEG_INFINITY)?;
    let window_ty = tensor_type(&kernel, dtype)?;
    let window = f.empty(&window_ty);
    let values_init = f.filled(&out, dtype, f64::NEG_INFINITY)?;
    let indices_init = f.filled(&out, DType::I64, -1.0)?;
    let (out_ty, index_ty) = (tensor_type(&out, dtype)?, tensor_type(&out, DType::I64)?);
    let rank = 2 + 2 * spatial;
    let (x_exprs, o_exprs, w_exprs) = window_exprs(spatial, &strides, &dilations);
    let mut iterators = vec!["\"parallel\""; 2 + spatial];
    iterators.extend(vec!["\"reduction\""; spatial]);
    // The body: the input position of this tap, its flat index, and the update.
    let in_size: i64 = xs[2..].iter().product();
    let mut lines = Vec::new();
    let mut name = |lines: &mut Vec<String>, text: String| {
        let n = f.fresh();
        lines.push(format!("{n} = {text}"));
        n
    };
    let (n, c) = (
        name(&mut lines, "linalg.index 0 : index".into()),
        name(&mut lines, "linalg.index 1 : index".into()),
    );
    let channels = name(&mut lines, format!("arith.constant {} : index", xs[1]));
    let plane_n = name(&mut lines, format!("arith.muli {n}, {channels} : index"));
    let plane = name(&mut lines, format!("arith.addi {plane_n}, {c} : index"));
    let size = name(&mut lines, format!("arith.constant {in_size} : index"));
    let mut flat = name(&mut lines, format!("arith.muli {plane}, {size} : index"));
    let mut positions = Vec::new();
    for i in 0..spatial {
        let o = name(&mut lines, format!("linalg.index {} : index", 2 + i));
        let k = name(&mut lines, format!("linalg.index {} : index", 2 + spatial + i));
        let s = name(&mut lines, format!("arith.constant {} : index", strides[i]));
        let d = name(&mut lines, format!("arith.constant {} : index", dilations[i]));
        let pad = name(&mut lines, format!("arith.constant {} : index", pads[i]));
        let os = name(&mut lines, format!("arith.muli {o}, {s} : index"));
        let kd = name(&mut lines, format!("arith.muli {k}, {d} : index"));
        let sum = name(&mut lines, format!("arith.addi {os}, {kd} : index"));
        positions.push(name(&mut lines, format!("arith.subi {sum}, {pad} : index")));
    }
    // Row-major strides over the spatial dims, or (h, w) → w·H + h.
    let order: Vec<(usize, i64)> = if column_major {
        vec![(1, xs[2]), (0, 1)]
    } else {
        (0..spatial).map(|i| (i, xs[3 + i..].iter().product())).collect()
    };
    for (i, stride) in order {
        let st = name(&mut lines, format!("arith.constant {stride} : index"));
        let term = name(&mut lines, format!("arith.muli {}, {st} : index", positions[i]));
        flat = name(&mut lines, format!("arith.addi {flat}, {term} : index"));
    }
    let flat64 = name(&mut lines, format!("arith.index_cast {flat} : index to i64"));
    let (value, best, best_index, gt) = (f.fresh(), f.fresh(), f.fresh(), f.fresh());
    let mut body_lines = Vec::new();
    body_lines.push(format!("{gt} = arith.cmpf ogt, {value}, {best} : {ty}"));
    let new_value = f.fresh();
    body_lines.push(format!("{new_value} = arith.select {gt}, {value}, {best} : {ty}"));
    let new_index = f.fresh();
    body_lines.push(format!("{new_index} = arith.select {gt}, {flat64}, {best_index} : i64"));
    let window_arg = f.fresh();
    let mut all = lines;
    all.extend(body_lines);
    let maps = [
        affine_map(rank, &x_exprs),
        affine_map(rank, &w_exprs),
        affine_map(rank, &o_exprs),
        affine_map(rank, &o_exprs),
    ];
    let pooled = f.fresh();
    f.line(format!(
        "{pooled}:2 = linalg.generic {{indexing_maps = [{}], iterator_types = [{}]}} ins({padded}, {window} : {}, {window_ty}) outs({values_init}, {indices_init} : {out_ty}, {index_ty}) {{\n  ^bb0({value}: {ty}, {window_arg}: {ty}, {best}: {ty}, {best_index}: i64):\n    {}\n    linalg.yield {new_value}, {new_index} : {ty}, i64\n  }} -> ({out_ty}, {index_ty})",
        maps.join(", "),
        iterators.join(", "),
        tensor_type(&ps, dtype)?,
        all.join("\n    ")
    ));
    // Outputs no element beat keep -1: their plane's first index.
    let index_rank = out.len();
    let identity = affine_map(
        index_rank,
        &(0..index_rank).map(|i| format!("d{i}")).collect::<Vec<_>>(),
    );
    let empty = f.empty(&index_ty);
    let fixed = generic(
        f,
        &[GenericInput {
            name: format!("{pooled}#1"),
            ty: index_ty.clone(),
            map: identity.clone(),
            element: "i64".into(),
        }],
        (&empty, &index_ty, &identity, "i64"),
        &vec![false; index_rank],
        |b, a| {
            let n = b.assign("linalg.index 0 : index");
            let c = b.assign("linalg.index 1 : index");
            let channels = b.assign(format!("arith.constant {} : index", xs[1]));
            let size = b.assign(format!("arith.constant {in_size} : index"));
            let plane_n = b.assign(format!("arith.muli {n}, {channels} : index"));
            let plane = b.assign(format!("arith.addi {plane_n}, {c} : index"));
            let first = b.assign(format!("arith.muli {plane}, {size} : index"));
            let first64 = b.assign(format!("arith.index_cast {first} : index to i64"));
            let none = b.assign("arith.constant -1 : i64");
            let missing = b.assign(format!("arith.cmpi eq, {}, {none} : i64", a[0]));
            Ok(b.assign(format!("arith.select {missing}, {first64}, {} : i64", a[0])))
        },
    )?;
    Ok(vec![format!("{pooled}#0"), fixed])
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

/// `fuser_global_average_pool_f32` over the maps of `x` (f32, static `xs`, every dimension
/// positive): each of the `N·C` maps' mean in a fresh buffer of the output's shape `out`,
/// the input read in place. The generic below sums a map one value after another.
fn global_average_pool_call(f: &mut FuncText, x: &str, xs: &[i64], out: &[i64]) -> String {
    let (input_ty, output_ty) = (f32_tensor(xs), f32_tensor(out));
    let input_address = read_address(f, x, &input_ty);
    let (output, output_address) = fresh_output(f, &output_ty);
    let rows = f.index(xs[0] * xs[1]);
    let cols = f.index(xs[2..].iter().product());
    f.line(format!(
        "func.call @{}({input_address}, {output_address}, {rows}, {cols}) : (index, index, index, index) -> ()",
        fuser_runtime::GLOBAL_AVERAGE_POOL_F32
    ));
    f.declare(
        fuser_runtime::GLOBAL_AVERAGE_POOL_F32,
        fuser_runtime::GLOBAL_AVERAGE_POOL_F32_ARITY,
    );
    output_tensor(f, &output, &output_ty)
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
    if view.runtime_calls && !max && dtype == DType::F32 && rank >= 3 && xs.iter().all(|&d| d > 0) {
        return Ok(global_average_pool_call(f, &x.name, &xs, &out));
    }
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
