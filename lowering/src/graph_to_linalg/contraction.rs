//! Contractions: MatMul (numpy broadcasting, 1-D operands), Gemm, Einsum and Conv (any
//! spatial rank, groups, dilations, padding); ConvTranspose is in `conv_transpose`. The
//! plain 2-D cases use linalg's named ops (`linalg.matmul`, `linalg.batch_matmul`,
//! `linalg.conv_2d_nchw_fchw`), which later schedules recognise; every other case is one
//! `linalg.generic`.

use super::data_movement::reshape;
use super::{
    OpView, Operand,
    text::{
        FuncText, GenericInput, Lowered, affine_map, broadcast_map, element, expand_split, generic, identity_map,
        is_float, list, refuse, split_dim, static_shape, tensor_type,
    },
};
use fuser_dialects::semantics::{DType, expand_ellipsis};

pub fn handles(op: &str) -> bool {
    matches!(op, "mat_mul" | "gemm" | "conv" | "conv_transpose" | "einsum")
}

pub fn lower(f: &mut FuncText, view: &OpView) -> Lowered<Vec<String>> {
    match view.op.as_str() {
        "mat_mul" => matmul(f, view.input(0)?, view.input(1)?, &static_shape(view.result(0)?)?).map(|r| vec![r]),
        "gemm" => gemm(f, view).map(|r| vec![r]),
        "einsum" => einsum(f, view).map(|r| vec![r]),
        "conv_transpose" => super::conv_transpose::conv_transpose(f, view).map(|r| vec![r]),
        _ => conv(f, view).map(|r| vec![r]),
    }
}

/// `acc + a * b` in the body of a contraction.
fn multiply_add(b: &mut super::text::Body, args: &[String], dtype: DType) -> Lowered<String> {
    let ty = element(dtype)?;
    let (mul, add) = if is_float(dtype) {
        ("mulf", "addf")
    } else {
        ("muli", "addi")
    };
    let product = b.assign(format!("arith.{mul} {}, {} : {ty}", args[0], args[1]));
    Ok(b.assign(format!("arith.{add} {}, {product} : {ty}", args[2])))
}

/// numpy matmul of `a` and `b` into a result of shape `out`.
pub fn matmul(f: &mut FuncText, a: &Operand, b: &Operand, out: &[i64]) -> Lowered<String> {
    let dtype = a.info.dtype;
    let (sa, sb) = (static_shape(&a.info)?, static_shape(&b.info)?);
    let out_ty = tensor_type(out, dtype)?;
    let init = f.filled(out, dtype, 0.0)?;
    let (ta, tb) = (tensor_type(&sa, dtype)?, tensor_type(&sb, dtype)?);
    let ty = element(dtype)?;
    if sa.len() == 2 && sb.len() == 2 {
        return Ok(f.assign(format!(
            "linalg.matmul ins({}, {} : {ta}, {tb}) outs({init} : {out_ty}) -> {out_ty}",
            a.name, b.name
        )));
    }
    if sa.len() > 2 && sb.len() == 2 && is_float(dtype) {
        // A stack of rows times one matrix: one 2-D matmul over the collapsed rows.
        let rows: i64 = sa[..sa.len() - 1].iter().product();
        let a2 = reshape(f, &a.name, &sa, &[rows, sa[sa.len() - 1]], dtype)?;
        let flat_out = [rows, sb[1]];
        let flat_ty = tensor_type(&flat_out, dtype)?;
        let zero = f.filled(&flat_out, dtype, 0.0)?;
        let product = f.assign(format!(
            "linalg.matmul ins({a2}, {} : {}, {tb}) outs({zero} : {flat_ty}) -> {flat_ty}",
            b.name,
            tensor_type(&[rows, sa[sa.len() - 1]], dtype)?
        ));
        return reshape(f, &product, &flat_out, out, dtype);
    }
    if sa.len() >= 3 && sa.len() == sb.len() && sa[..sa.len() - 2] == sb[..sb.len() - 2] && is_float(dtype) {
        // Equal batch dims: one batch_matmul over the collapsed batch.
        let r = sa.len();
        let batch: i64 = sa[..r - 2].iter().product();
        let (a3s, b3s, o3s) = (
            [batch, sa[r - 2], sa[r - 1]],
            [batch, sb[r - 2], sb[r - 1]],
            [batch, out[r - 2], out[r - 1]],
        );
        let a3 = reshape(f, &a.name, &sa, &a3s, dtype)?;
        let b3 = reshape(f, &b.name, &sb, &b3s, dtype)?;
        let o3_ty = tensor_type(&o3s, dtype)?;
        let zero = f.filled(&o3s, dtype, 0.0)?;
        let product = f.assign(format!(
            "linalg.batch_matmul ins({a3}, {b3} : {}, {}) outs({zero} : {o3_ty}) -> {o3_ty}",
            tensor_type(&a3s, dtype)?,
            tensor_type(&b3s, dtype)?
        ));
        return reshape(f, &product, &o3s, out, dtype);
    }
    // Loops: the output dims (batch..., m if a is a matrix, n if b is one), then k.
    let rank = out.len() + 1;
    let k = format!("d{}", out.len());
    let batch = out.len() - usize::from(sa.len() > 1) - usize::from(sb.len() > 1);
    let operand_map = |shape: &[i64], is_a: bool| -> String {
        if shape.len() == 1 {
            return affine_map(rank, std::slice::from_ref(&k));
        }
        let own_batch = shape.len() - 2;
        let mut exprs: Vec<String> = (0..own_batch)
            .map(|i| {
                let out_dim = batch - own_batch + i;
                if shape[i] == 1 && out[out_dim] != 1 {
                    "0".to_string()
                } else {
                    format!("d{out_dim}")
                }
            })
            .collect();
        if is_a {
            exprs.push(format!("d{batch}"));
            exprs.push(k.clone());
        } else {
            exprs.push(k.clone());
            exprs.push(format!("d{}", out.len() - 1));
        }
        affine_map(rank, &exprs)
    };
    let out_exprs: Vec<String> = (0..out.len()).map(|i| format!("d{i}")).collect();
    let mut reduction = vec![false; out.len()];
    reduction.push(true);
    let inputs = [
        GenericInput {
            name: a.name.clone(),
            ty: ta,
            map: operand_map(&sa, true),
            element: ty.to_string(),
        },
        GenericInput {
            name: b.name.clone(),
            ty: tb,
            map: operand_map(&sb, false),
            element: ty.to_string(),
        },
    ];
    generic(
        f,
        &inputs,
        (&init, &out_ty, &affine_map(rank, &out_exprs), ty),
        &reduction,
        |body, args| multiply_add(body, args, dtype),
    )
}

/// Einsum: one generic whose loops are the equation's indices (an ellipsis expands to
/// one index per dim it covers); indices in the output are parallel, the others are
/// summed. A size-1 dim against a larger index broadcasts (read at 0).
fn einsum(f: &mut FuncText, view: &OpView) -> Lowered<String> {
    let operands: Vec<&Operand> = view.inputs.iter().flatten().collect();
    let Some(first) = operands.first() else {
        return refuse("graph.einsum without operands");
    };
    let dtype = first.info.dtype;
    let ty = element(dtype)?;
    let shapes: Vec<Vec<i64>> = operands.iter().map(|o| static_shape(&o.info)).collect::<Lowered<_>>()?;
    let equation: String = view
        .string("equation")?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let ranks: Vec<usize> = shapes.iter().map(Vec::len).collect();
    let explicit =
        expand_ellipsis(&equation, &ranks).map_err(|e| super::text::Refusal(format!("graph.einsum: {e}")))?;
    let (lhs, rhs) = explicit.split_once("->").unwrap_or((explicit.as_str(), ""));
    let terms: Vec<Vec<char>> = lhs.split(',').map(|t| t.chars().collect()).collect();
    let mut sizes: std::collections::BTreeMap<char, i64> = Default::default();
    for (term, shape) in terms.iter().zip(&shapes) {
        for (&c, &d) in term.iter().zip(shape) {
            let size = sizes.entry(c).or_insert(d);
            if *size == 1 {
                *size = d;
            }
        }
    }
    let letters: Vec<char> = sizes.keys().copied().collect();
    let dim = |c: char| format!("d{}", letters.iter().position(|&l| l == c).unwrap_or(0));
    let out: Vec<char> = rhs.chars().collect();
    if out.iter().any(|c| !sizes.contains_key(c)) {
        return refuse(format!("graph.einsum: output indices of '{equation}' not in any input"));
    }
    let out_shape: Vec<i64> = out.iter().map(|c| sizes[c]).collect();
    let out_ty = tensor_type(&out_shape, dtype)?;
    let rank = letters.len();
    let mut inputs = Vec::new();
    for ((operand, term), shape) in operands.iter().zip(&terms).zip(&shapes) {
        let exprs: Vec<String> = term
            .iter()
            .zip(shape)
            .map(|(&c, &d)| {
                if d == 1 && sizes[&c] != 1 {
                    "0".to_string()
                } else {
                    dim(c)
                }
            })
            .collect();
        inputs.push(GenericInput {
            name: operand.name.clone(),
            ty: tensor_type(shape, dtype)?,
            map: affine_map(rank, &exprs),
            element: ty.to_string(),
        });
    }
    let init = f.filled(&out_shape, dtype, 0.0)?;
    let out_exprs: Vec<String> = out.iter().map(|&c| dim(c)).collect();
    let reduction: Vec<bool> = letters.iter().map(|c| !out.contains(c)).collect();
    let float = is_float(dtype);
    let count = inputs.len();
    generic(
        f,
        &inputs,
        (&init, &out_ty, &affine_map(rank, &out_exprs), ty),
        &reduction,
        |body, args| {
            let (mul, add) = if float { ("mulf", "addf") } else { ("muli", "addi") };
            let mut product = args[0].clone();
            for arg in &args[1..count] {
                product = body.assign(format!("arith.{mul} {product}, {arg} : {ty}"));
            }
            Ok(body.assign(format!("arith.{add} {}, {product} : {ty}", args[count])))
        },
    )
}

/// Gemm: `alpha * op(A) op(B) + beta * C`.
fn gemm(f: &mut FuncText, view: &OpView) -> Lowered<String> {
    let (a, b) = (view.input(0)?, view.input(1)?);
    let dtype = a.info.dtype;
    let ty = element(dtype)?;
    let out = static_shape(view.result(0)?)?;
    let out_ty = tensor_type(&out, dtype)?;
    let (trans_a, trans_b) = (view.int("trans_a")? != 0, view.int("trans_b")? != 0);
    let (alpha, beta) = (view.float("alpha")?, view.float("beta")?);
    let init = f.filled(&out, dtype, 0.0)?;
    let map = |exprs: [&str; 2]| affine_map(3, &exprs.map(String::from));
    // A named matmul whose maps express the transposes, so no operand is copied.
    let maps = [
        if trans_a { map(["d2", "d0"]) } else { map(["d0", "d2"]) },
        if trans_b { map(["d1", "d2"]) } else { map(["d2", "d1"]) },
        map(["d0", "d1"]),
    ];
    let product = f.assign(format!(
        "linalg.matmul indexing_maps = [{}] ins({}, {} : {}, {}) outs({init} : {out_ty}) -> {out_ty}",
        maps.join(", "),
        a.name,
        b.name,
        tensor_type(&static_shape(&a.info)?, dtype)?,
        tensor_type(&static_shape(&b.info)?, dtype)?
    ));
    let c = if view.has_input(2) { Some(view.input(2)?) } else { None };
    if alpha == 1.0 && c.is_none() {
        return Ok(product);
    }
    // The epilogue: scale, then add the broadcast C.
    let mut epilogue_inputs = vec![GenericInput {
        name: product,
        ty: out_ty.clone(),
        map: identity_map(2),
        element: ty.to_string(),
    }];
    if let Some(c) = c {
        let shape = static_shape(&c.info)?;
        epilogue_inputs.push(GenericInput {
            name: c.name.clone(),
            ty: tensor_type(&shape, dtype)?,
            map: broadcast_map(&shape, &out),
            element: ty.to_string(),
        });
    }
    let has_c = c.is_some();
    let empty = f.empty(&out_ty);
    let float = is_float(dtype);
    generic(
        f,
        &epilogue_inputs,
        (&empty, &out_ty, &identity_map(2), ty),
        &[false, false],
        |body, args| {
            let (mul, add) = if float { ("mulf", "addf") } else { ("muli", "addi") };
            let mut value = args[0].clone();
            if alpha != 1.0 {
                let k = body.constant(alpha, dtype)?;
                value = body.assign(format!("arith.{mul} {k}, {value} : {ty}"));
            }
            if has_c {
                let mut c = args[1].clone();
                if beta != 1.0 {
                    let k = body.constant(beta, dtype)?;
                    c = body.assign(format!("arith.{mul} {k}, {c} : {ty}"));
                }
                value = body.assign(format!("arith.{add} {value}, {c} : {ty}"));
            }
            Ok(value)
        },
    )
}

/// Pads the spatial dims of an NC... tensor with `value`; returns it unchanged when no
/// padding is asked for.
pub fn pad_spatial(
    f: &mut FuncText,
    x: &str,
    shape: &[i64],
    dtype: DType,
    pads: &[i64],
    value: f64,
) -> Lowered<(String, Vec<i64>)> {
    let spatial = shape.len() - 2;
    if pads.iter().all(|&p| p == 0) {
        return Ok((x.to_string(), shape.to_vec()));
    }
    let mut low = vec![0, 0];
    let mut high = vec![0, 0];
    low.extend(&pads[..spatial]);
    high.extend(&pads[spatial..]);
    let padded: Vec<i64> = shape.iter().enumerate().map(|(i, &d)| d + low[i] + high[i]).collect();
    let fill = f.constant(value, dtype)?;
    let index_args: Vec<String> = (0..shape.len()).map(|i| format!("%i{i}: index")).collect();
    let result = f.assign(format!(
        "tensor.pad {x} low[{}] high[{}] {{\n  ^bb0({}):\n    tensor.yield {fill} : {}\n  }} : {} to {}",
        list(&low),
        list(&high),
        index_args.join(", "),
        element(dtype)?,
        tensor_type(shape, dtype)?,
        tensor_type(&padded, dtype)?
    ));
    Ok((result, padded))
}

/// A tensor of `out_shape` holding the bias broadcast along dim 1, or zeros.
fn conv_init(f: &mut FuncText, bias: Option<&Operand>, out: &[i64], dtype: DType) -> Lowered<String> {
    let Some(bias) = bias else {
        return f.filled(out, dtype, 0.0);
    };
    let out_ty = tensor_type(out, dtype)?;
    let empty = f.empty(&out_ty);
    let input = GenericInput {
        name: bias.name.clone(),
        ty: tensor_type(&static_shape(&bias.info)?, dtype)?,
        map: affine_map(out.len(), &["d1".to_string()]),
        element: element(dtype)?.to_string(),
    };
    generic(
        f,
        &[input],
        (&empty, &out_ty, &identity_map(out.len()), element(dtype)?),
        &vec![false; out.len()],
        |_, args| Ok(args[0].clone()),
    )
}

fn conv(f: &mut FuncText, view: &OpView) -> Lowered<String> {
    let (x, w) = (view.input(0)?, view.input(1)?);
    let dtype = x.info.dtype;
    if !is_float(dtype) {
        return refuse(format!("graph.conv on {dtype}"));
    }
    let xs = static_shape(&x.info)?;
    let ws = static_shape(&w.info)?;
    let out = static_shape(view.result(0)?)?;
    let spatial = xs.len() - 2;
    let group = view.int("group")?;
    let strides = view.ints("strides")?;
    let dilations = view.ints("dilations")?;
    let pads = view.ints("pads")?;
    let bias = if view.has_input(2) { Some(view.input(2)?) } else { None };
    let (padded, ps) = pad_spatial(f, &x.name, &xs, dtype, &pads, 0.0)?;
    let init = conv_init(f, bias, &out, dtype)?;
    let out_ty = tensor_type(&out, dtype)?;
    let (tp, tw) = (tensor_type(&ps, dtype)?, tensor_type(&ws, dtype)?);
    if group == 1 && spatial == 2 && xs[0] == 1 {
        return conv_as_matmul(f, &padded, &ps, w, &ws, bias, &out, &strides, &dilations, dtype);
    }
    if group == 1 && spatial == 2 {
        return Ok(f.assign(format!(
            "linalg.conv_2d_nchw_fchw {{dilations = dense<[{}, {}]> : tensor<2xi64>, strides = dense<[{}, {}]> : tensor<2xi64>}} ins({padded}, {} : {tp}, {tw}) outs({init} : {out_ty}) -> {out_ty}",
            dilations[0], dilations[1], strides[0], strides[1], w.name
        )));
    }
    // Grouped (or not 2-D): expand channels into (group, per-group) and run one generic
    // with loops n, g, f, o_1..o_s, c, k_1..k_s.
    let (n, c, feat) = (xs[0], xs[1], ws[0]);
    let (cg, fg) = (c / group, feat / group);
    let mut xe = vec![n, group, cg];
    xe.extend(&ps[2..]);
    let mut we = vec![group, fg, ws[1]];
    we.extend(&ws[2..]);
    let mut oe = vec![n, group, fg];
    oe.extend(&out[2..]);
    let (xv, txe) = expand_split(f, &padded, &tp, &xe, dtype, 1)?;
    let (wv, twe) = expand_split(f, &w.name, &tw, &we, dtype, 0)?;
    let (init_e, toe) = expand_split(f, &init, &out_ty, &oe, dtype, 1)?;
    let result = grouped_correlation(
        f,
        (&xv, &txe),
        (&wv, &twe),
        (&init_e, &toe),
        spatial,
        |i, o, k| format!("{o} * {} + {k} * {}", strides[i], dilations[i]),
        false,
        dtype,
    )?;
    // A 2-D depthwise conv (one filter per channel) is marked for
    // `convert-linalg-to-microkernels`, which runs it as row-wise multiply-adds.
    if dtype == DType::F32 && spatial == 2 && cg == 1 && fg == 1 {
        f.tag_last(&format!(
            "fuser.depthwise = array<i64: {}, {}, {}, {}>",
            strides[0], strides[1], dilations[0], dilations[1]
        ));
    }
    Ok(f.assign(format!(
        "tensor.collapse_shape {result} {} : {toe} into {out_ty}",
        split_dim(oe.len(), 1)
    )))
}

/// One generic over loops (n, g, f, outputs..., c, window...) that sums
/// `x[n, g, c, x_spatial(i, o_i, k_i)...] · w[g, f, c, k...]` (or `w[g, c, f, k...]` with
/// `channels_first`) into `init[n, g, f, outputs...]`: a grouped conv (or, with other
/// input positions, a ConvTranspose) on group-expanded operands.
#[allow(clippy::too_many_arguments)]
pub(super) fn grouped_correlation(
    f: &mut FuncText,
    x: (&str, &str),
    w: (&str, &str),
    init: (&str, &str),
    spatial: usize,
    x_spatial: impl Fn(usize, &str, &str) -> String,
    channels_first: bool,
    dtype: DType,
) -> Lowered<String> {
    let ty = element(dtype)?;
    let rank = 3 + spatial + 1 + spatial;
    let o = |i: usize| format!("d{}", 3 + i);
    let cdim = format!("d{}", 3 + spatial);
    let kd = |i: usize| format!("d{}", 4 + spatial + i);
    let mut x_exprs = vec!["d0".to_string(), "d1".to_string(), cdim.clone()];
    let mut w_exprs = if channels_first {
        vec!["d1".to_string(), cdim, "d2".to_string()]
    } else {
        vec!["d1".to_string(), "d2".to_string(), cdim]
    };
    let mut o_exprs = vec!["d0".to_string(), "d1".to_string(), "d2".to_string()];
    for i in 0..spatial {
        x_exprs.push(x_spatial(i, &o(i), &kd(i)));
        w_exprs.push(kd(i));
        o_exprs.push(o(i));
    }
    let mut reduction = vec![false; 3 + spatial];
    reduction.extend(vec![true; 1 + spatial]);
    let inputs = [
        GenericInput {
            name: x.0.to_string(),
            ty: x.1.to_string(),
            map: affine_map(rank, &x_exprs),
            element: ty.to_string(),
        },
        GenericInput {
            name: w.0.to_string(),
            ty: w.1.to_string(),
            map: affine_map(rank, &w_exprs),
            element: ty.to_string(),
        },
    ];
    generic(
        f,
        &inputs,
        (init.0, init.1, &affine_map(rank, &o_exprs), ty),
        &reduction,
        |body, args| multiply_add(body, args, dtype),
    )
}

/// A batch-1, group-1 2-D conv as one matmul: W[F, C·KH·KW] × col[C·KH·KW, OH·OW], where
/// `col` gathers each output position's window (im2col; a 1×1 stride-1 conv reads the
/// input as it is). The accumulator starts at the bias.
#[allow(clippy::too_many_arguments)]
fn conv_as_matmul(
    f: &mut FuncText,
    padded: &str,
    ps: &[i64],
    w: &Operand,
    ws: &[i64],
    bias: Option<&Operand>,
    out: &[i64],
    strides: &[i64],
    dilations: &[i64],
    dtype: DType,
) -> Lowered<String> {
    let ty = element(dtype)?;
    let (c, kh, kw) = (ws[1], ws[2], ws[3]);
    let (features, oh, ow) = (out[1], out[2], out[3]);
    let (rows, cols) = (c * kh * kw, oh * ow);
    let col_shape = [rows, cols];
    let direct = kh == 1 && kw == 1 && strides == [1, 1] && ps[2] == oh && ps[3] == ow;
    let col = if direct {
        reshape(f, padded, ps, &col_shape, dtype)?
    } else {
        let window_shape = [c, kh, kw, oh, ow];
        let window_ty = tensor_type(&window_shape, dtype)?;
        let empty = f.empty(&window_ty);
        let exprs = [
            "0".to_string(),
            "d0".to_string(),
            format!("d3 * {} + d1 * {}", strides[0], dilations[0]),
            format!("d4 * {} + d2 * {}", strides[1], dilations[1]),
        ];
        let input = GenericInput {
            name: padded.to_string(),
            ty: tensor_type(ps, dtype)?,
            map: affine_map(5, &exprs),
            element: ty.to_string(),
        };
        let windows = generic(
            f,
            &[input],
            (&empty, &window_ty, &identity_map(5), ty),
            &[false; 5],
            |_, a| Ok(a[0].clone()),
        )?;
        // Marked for `convert-linalg-to-microkernels`, which copies the windows with
        // row copies instead of element loops (f32 only).
        if dtype == DType::F32 {
            f.tag_last(&format!(
                "fuser.im2col = array<i64: {}, {}, {}, {}, {}, {}, {}>",
                strides[0], strides[1], dilations[0], dilations[1], c, ps[2], ps[3]
            ));
        }
        reshape(f, &windows, &window_shape, &col_shape, dtype)?
    };
    let weights = reshape(f, &w.name, ws, &[features, rows], dtype)?;
    let result_shape = [features, cols];
    let result_ty = tensor_type(&result_shape, dtype)?;
    let init = match bias {
        Some(bias) => {
            let empty = f.empty(&result_ty);
            let input = GenericInput {
                name: bias.name.clone(),
                ty: tensor_type(&static_shape(&bias.info)?, dtype)?,
                map: affine_map(2, &["d0".to_string()]),
                element: ty.to_string(),
            };
            generic(
                f,
                &[input],
                (&empty, &result_ty, &identity_map(2), ty),
                &[false, false],
                |_, a| Ok(a[0].clone()),
            )?
        }
        None => f.filled(&result_shape, dtype, 0.0)?,
    };
    let product = f.assign(format!(
        "linalg.matmul ins({weights}, {col} : {}, {}) outs({init} : {result_ty}) -> {result_ty}",
        tensor_type(&[features, rows], dtype)?,
        tensor_type(&col_shape, dtype)?
    ));
    reshape(f, &product, &result_shape, out, dtype)
}
