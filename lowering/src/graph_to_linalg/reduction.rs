//! Reductions: ReduceSum/Mean/Max/Min/Prod/L2 over constant axes (keepdims or not),
//! and the shared helpers that normalization and softmax build on: reducing a tensor
//! over a set of dims, and mapping a reduced tensor back over the full shape.

use super::{
    OpView,
    data_movement::reshape,
    text::{
        Body, FuncText, GenericInput, Lowered, affine_map, element, generic, identity_map, is_float, refuse,
        static_shape, tensor_type,
    },
};
use fuser_dialects::semantics::DType;

pub fn handles(op: &str) -> bool {
    matches!(
        op,
        "reduce_sum" | "reduce_mean" | "reduce_max" | "reduce_min" | "reduce_prod" | "reduce_l2" | "arg_max"
    )
}

/// The loop exprs of the dims of a rank-`rank` tensor that survive reducing `dims`.
pub fn kept_exprs(rank: usize, dims: &[usize]) -> Vec<String> {
    (0..rank)
        .filter(|d| !dims.contains(d))
        .map(|d| format!("d{d}"))
        .collect()
}

/// Reduces `x` (of `shape`) over `dims`: starts from `init` and folds each element with
/// `combine(body, accumulator, element)`. Returns the reduced tensor (reduced dims
/// dropped) and its shape.
pub fn reduce(
    f: &mut FuncText,
    x: &str,
    shape: &[i64],
    dtype: DType,
    dims: &[usize],
    init: f64,
    combine: impl FnOnce(&mut Body, &str, &str) -> Lowered<String>,
) -> Lowered<(String, Vec<i64>)> {
    let ty = element(dtype)?;
    let rank = shape.len();
    let reduced: Vec<i64> = (0..rank).filter(|d| !dims.contains(d)).map(|d| shape[d]).collect();
    let reduced_ty = tensor_type(&reduced, dtype)?;
    let filled = f.filled(&reduced, dtype, init)?;
    let input = GenericInput {
        name: x.to_string(),
        ty: tensor_type(shape, dtype)?,
        map: identity_map(rank),
        element: ty.to_string(),
    };
    let kinds: Vec<bool> = (0..rank).map(|d| dims.contains(&d)).collect();
    let value = generic(
        f,
        &[input],
        (&filled, &reduced_ty, &affine_map(rank, &kept_exprs(rank, dims)), ty),
        &kinds,
        |b, args| combine(b, &args[1], &args[0]),
    )?;
    Ok((value, reduced))
}

/// An input of a full-rank generic that reads a tensor reduced over `dims`.
pub fn reduced_input(name: &str, reduced: &[i64], rank: usize, dims: &[usize], dtype: DType) -> Lowered<GenericInput> {
    Ok(GenericInput {
        name: name.to_string(),
        ty: tensor_type(reduced, dtype)?,
        map: affine_map(rank, &kept_exprs(rank, dims)),
        element: element(dtype)?.to_string(),
    })
}

/// `value / count` on every element of a tensor of `shape`.
pub fn divide_all(f: &mut FuncText, x: &str, shape: &[i64], dtype: DType, count: f64) -> Lowered<String> {
    let ty = element(dtype)?;
    let out_ty = tensor_type(shape, dtype)?;
    let empty = f.empty(&out_ty);
    let input = GenericInput {
        name: x.to_string(),
        ty: out_ty.clone(),
        map: identity_map(shape.len()),
        element: ty.to_string(),
    };
    generic(
        f,
        &[input],
        (&empty, &out_ty, &identity_map(shape.len()), ty),
        &vec![false; shape.len()],
        |b, args| {
            let n = b.constant(count, dtype)?;
            Ok(if is_float(dtype) {
                b.assign(format!("arith.divf {}, {n} : {ty}", args[0]))
            } else {
                b.assign(format!("arith.divsi {}, {n} : {ty}", args[0]))
            })
        },
    )
}

fn lower_reduce(f: &mut FuncText, view: &OpView) -> Lowered<String> {
    let x = view.input(0)?;
    let dtype = x.info.dtype;
    let ty = element(dtype)?;
    let shape = static_shape(&x.info)?;
    let out = static_shape(view.result(0)?)?;
    let rank = shape.len();
    let axes = if view.has_input(1) {
        view.constant_ints(1)?
    } else {
        Vec::new()
    };
    let mut dims: Vec<usize> = if axes.is_empty() {
        if view.int("noop_with_empty_axes")? != 0 {
            return Ok(x.name.clone());
        }
        (0..rank).collect()
    } else {
        axes.iter()
            .map(|&a| if a < 0 { (a + rank as i64) as usize } else { a as usize })
            .collect()
    };
    dims.sort_unstable();
    dims.dedup();
    let float = is_float(dtype);
    let op = view.op.as_str();
    let (init, combine) = match op {
        "reduce_sum" | "reduce_mean" | "reduce_l2" => (0.0, if float { "addf" } else { "addi" }),
        "reduce_prod" => (1.0, if float { "mulf" } else { "muli" }),
        "reduce_max" => (
            if float {
                f64::NEG_INFINITY
            } else {
                extreme(dtype, false)?
            },
            if float { "maximumf" } else { "maxsi" },
        ),
        _ => (
            if float { f64::INFINITY } else { extreme(dtype, true)? },
            if float { "minimumf" } else { "minsi" },
        ),
    };
    if op == "reduce_l2" && !float {
        return refuse(format!("graph.reduce_l2 on {dtype}"));
    }
    let square = op == "reduce_l2";
    let (mut value, reduced) = reduce(f, &x.name, &shape, dtype, &dims, init, |b, acc, element| {
        let element = if square {
            b.assign(format!("arith.mulf {element}, {element} : {ty}"))
        } else {
            element.to_string()
        };
        Ok(b.assign(format!("arith.{combine} {acc}, {element} : {ty}")))
    })?;
    if op == "reduce_mean" {
        let count: i64 = dims.iter().map(|&d| shape[d]).product();
        value = divide_all(f, &value, &reduced, dtype, count as f64)?;
    }
    if square {
        let reduced_ty = tensor_type(&reduced, dtype)?;
        let empty = f.empty(&reduced_ty);
        let input = GenericInput {
            name: value,
            ty: reduced_ty.clone(),
            map: identity_map(reduced.len()),
            element: ty.to_string(),
        };
        value = generic(
            f,
            &[input],
            (&empty, &reduced_ty, &identity_map(reduced.len()), ty),
            &vec![false; reduced.len()],
            |b, args| Ok(b.assign(format!("math.sqrt {} : {ty}", args[0]))),
        )?;
    }
    reshape(f, &value, &reduced, &out, dtype)
}

/// The smallest (or largest) value of an integer dtype, the identity of max (or min).
fn extreme(dtype: DType, largest: bool) -> Lowered<f64> {
    Ok(match (dtype, largest) {
        (DType::I8, false) => i8::MIN as f64,
        (DType::I8, true) => i8::MAX as f64,
        (DType::I32, false) => i32::MIN as f64,
        (DType::I32, true) => i32::MAX as f64,
        (DType::I64, false) => i64::MIN as f64,
        (DType::I64, true) => i64::MAX as f64,
        _ => return refuse(format!("reductions on {dtype}")),
    })
}

pub fn lower(f: &mut FuncText, view: &OpView) -> Lowered<Vec<String>> {
    if view.op == "arg_max" {
        return arg_max(f, view).map(|r| vec![r]);
    }
    lower_reduce(f, view).map(|r| vec![r])
}

/// ArgMax along `axis`: one reduction generic with two accumulators, the best value and
/// its index; a later equal value wins only with `select_last_index`.
fn arg_max(f: &mut FuncText, view: &OpView) -> Lowered<String> {
    let x = view.input(0)?;
    let dtype = x.info.dtype;
    let ty = element(dtype)?;
    let shape = static_shape(&x.info)?;
    let rank = shape.len();
    let out = static_shape(view.result(0)?)?;
    let a = view.int("axis")?;
    let axis = if a < 0 { (a + rank as i64) as usize } else { a as usize };
    let last = view.int("select_last_index")? != 0;
    let float = is_float(dtype);
    let reduced: Vec<i64> = (0..rank).filter(|&d| d != axis).map(|d| shape[d]).collect();
    let (value_ty, index_ty) = (tensor_type(&reduced, dtype)?, tensor_type(&reduced, DType::I64)?);
    let lowest = if float {
        f64::NEG_INFINITY
    } else {
        extreme(dtype, false)?
    };
    let best = f.filled(&reduced, dtype, lowest)?;
    let first = f.filled(&reduced, DType::I64, 0.0)?;
    let kept = affine_map(rank, &kept_exprs(rank, &[axis]));
    let kinds: Vec<bool> = (0..rank).map(|d| d == axis).collect();
    let (v, bv, bi) = (f.fresh(), f.fresh(), f.fresh());
    let mut body = super::text::Body::new(f);
    let better = if float {
        body.assign(format!(
            "arith.cmpf {}, {v}, {bv} : {ty}",
            if last { "oge" } else { "ogt" }
        ))
    } else {
        body.assign(format!(
            "arith.cmpi {}, {v}, {bv} : {ty}",
            if last { "sge" } else { "sgt" }
        ))
    };
    let position = body.assign(format!("linalg.index {axis} : index"));
    let position = body.assign(format!("arith.index_cast {position} : index to i64"));
    let new_value = body.assign(format!("arith.select {better}, {v}, {bv} : {ty}"));
    let new_index = body.assign(format!("arith.select {better}, {position}, {bi} : i64"));
    let lines = std::mem::take(&mut body.lines);
    let mut text = format!(
        "linalg.generic {{indexing_maps = [{}, {kept}, {kept}], iterator_types = {}}} ins({} : {}) outs({best}, {first} : {value_ty}, {index_ty}) {{\n  ^bb0({v}: {ty}, {bv}: {ty}, {bi}: i64):\n",
        identity_map(rank),
        super::text::iterators(&kinds),
        x.name,
        tensor_type(&shape, dtype)?
    );
    for line in lines {
        text.push_str(&format!("    {line}\n"));
    }
    text.push_str(&format!(
        "    linalg.yield {new_value}, {new_index} : {ty}, i64\n  }} -> ({value_ty}, {index_ty})"
    ));
    let results = f.fresh();
    f.line(format!("{results}:2 = {text}"));
    reshape(f, &format!("{results}#1"), &reduced, &out, DType::I64)
}
