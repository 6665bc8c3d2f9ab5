//! Normalizations and softmax: BatchNormalization (inference), Layer-, RMS- and
//! InstanceNormalization, Softmax and LogSoftmax. Statistics are reductions
//! (`reduction::reduce`); the normalizing step is one full-rank generic reading them
//! broadcast back.

use super::{
    OpView, Operand,
    reduction::{divide_all, reduce, reduced_input},
    text::{
        FuncText, GenericInput, Lowered, affine_map, broadcast_map, element, f32_tensor, fresh_output, generic,
        identity_map, is_float, list, output_tensor, read_address, refuse, static_shape, tensor_type,
    },
};
use fuser_dialects::semantics::DType;

pub fn handles(op: &str) -> bool {
    matches!(
        op,
        "batch_normalization"
            | "layer_normalization"
            | "rms_normalization"
            | "instance_normalization"
            | "softmax"
            | "log_softmax"
            | "lrn"
    )
}

pub fn lower(f: &mut FuncText, view: &OpView) -> Lowered<Vec<String>> {
    let x = view.input(0)?;
    if !is_float(x.info.dtype) {
        return refuse(format!("graph.{} on {}", view.op, x.info.dtype));
    }
    match view.op.as_str() {
        "batch_normalization" => batch_norm(f, view, x).map(|r| vec![r]),
        "softmax" | "log_softmax" => softmax(f, view, x).map(|r| vec![r]),
        "lrn" => lrn(f, view, x).map(|r| vec![r]),
        _ => normalize(f, view, x),
    }
}

fn input_of(operand: &Operand, map: String) -> Lowered<GenericInput> {
    Ok(GenericInput {
        name: operand.name.clone(),
        ty: tensor_type(&static_shape(&operand.info)?, operand.info.dtype)?,
        map,
        element: element(operand.info.dtype)?.to_string(),
    })
}

/// LRN: `x / (bias + alpha/size · Σ x²)^beta`, the sum over a window of `size`
/// channels around each one (`(size-1)/2` below, the rest above, clipped at the edges).
/// The squares are padded with zeros along the channels, and a generic sums the window
/// with a loop over it (the window's extent comes from an empty `[size]` operand, as in
/// linalg's pooling ops).
fn lrn(f: &mut FuncText, view: &OpView, x: &Operand) -> Lowered<String> {
    let dtype = x.info.dtype;
    let ty = element(dtype)?;
    let shape = static_shape(&x.info)?;
    let rank = shape.len();
    let (alpha, beta, bias, size) = (
        view.float("alpha")?,
        view.float("beta")?,
        view.float("bias")?,
        view.int("size")?,
    );
    let (below, above) = ((size - 1) / 2, (size - 1) - (size - 1) / 2);
    let x_ty = tensor_type(&shape, dtype)?;
    let empty = f.empty(&x_ty);
    let squares = generic(
        f,
        &[input_of(x, identity_map(rank))?],
        (&empty, &x_ty, &identity_map(rank), ty),
        &vec![false; rank],
        |b, a| Ok(b.assign(format!("arith.mulf {}, {} : {ty}", a[0], a[0]))),
    )?;
    let mut padded = shape.clone();
    padded[1] += below + above;
    let padded_ty = tensor_type(&padded, dtype)?;
    let zero = f.constant(0.0, dtype)?;
    let (mut low, mut high) = (vec![0; rank], vec![0; rank]);
    low[1] = below;
    high[1] = above;
    let index_args: Vec<String> = (0..rank).map(|i| format!("%i{i}: index")).collect();
    let padded_squares = f.assign(format!(
        "tensor.pad {squares} low[{}] high[{}] {{\n  ^bb0({}):\n    tensor.yield {zero} : {ty}\n  }} : {x_ty} to {padded_ty}",
        list(&low),
        list(&high),
        index_args.join(", ")
    ));
    let window_ty = tensor_type(&[size], dtype)?;
    let window = f.empty(&window_ty);
    let k = format!("d{rank}");
    let mut read: Vec<String> = (0..rank).map(|i| format!("d{i}")).collect();
    read[1] = format!("d1 + {k}");
    let sums_init = f.filled(&shape, dtype, 0.0)?;
    let mut reduction = vec![false; rank];
    reduction.push(true);
    let sums = generic(
        f,
        &[
            GenericInput {
                name: padded_squares,
                ty: padded_ty,
                map: affine_map(rank + 1, &read),
                element: ty.to_string(),
            },
            GenericInput {
                name: window,
                ty: window_ty,
                map: affine_map(rank + 1, std::slice::from_ref(&k)),
                element: ty.to_string(),
            },
        ],
        (
            &sums_init,
            &x_ty,
            &affine_map(rank + 1, &(0..rank).map(|i| format!("d{i}")).collect::<Vec<_>>()),
            ty,
        ),
        &reduction,
        |b, a| Ok(b.assign(format!("arith.addf {}, {} : {ty}", a[2], a[0]))),
    )?;
    let out = f.empty(&x_ty);
    generic(
        f,
        &[
            input_of(x, identity_map(rank))?,
            GenericInput {
                name: sums,
                ty: x_ty.clone(),
                map: identity_map(rank),
                element: ty.to_string(),
            },
        ],
        (&out, &x_ty, &identity_map(rank), ty),
        &vec![false; rank],
        |b, a| {
            let scale = b.constant(alpha / size as f64, dtype)?;
            let offset = b.constant(bias, dtype)?;
            let exponent = b.constant(beta, dtype)?;
            let scaled = b.assign(format!("arith.mulf {scale}, {} : {ty}", a[1]));
            let base = b.assign(format!("arith.addf {offset}, {scaled} : {ty}"));
            let power = b.assign(format!("math.powf {base}, {exponent} : {ty}"));
            Ok(b.assign(format!("arith.divf {}, {power} : {ty}", a[0])))
        },
    )
}

/// `(x - mean) / sqrt(var + eps) * scale + b`, per channel (dim 1).
fn batch_norm(f: &mut FuncText, view: &OpView, x: &Operand) -> Lowered<String> {
    let dtype = x.info.dtype;
    let ty = element(dtype)?;
    let shape = static_shape(&x.info)?;
    let rank = shape.len();
    let eps = view.float("epsilon")?;
    let channel = affine_map(rank, &["d1".to_string()]);
    let mut inputs = vec![input_of(x, identity_map(rank))?];
    for slot in 1..5 {
        inputs.push(input_of(view.input(slot)?, channel.clone())?);
    }
    let out_ty = tensor_type(&shape, dtype)?;
    let empty = f.empty(&out_ty);
    generic(
        f,
        &inputs,
        (&empty, &out_ty, &identity_map(rank), ty),
        &vec![false; rank],
        |b, a| {
            let e = b.constant(eps, dtype)?;
            let centered = b.assign(format!("arith.subf {}, {} : {ty}", a[0], a[3]));
            let shifted = b.assign(format!("arith.addf {}, {e} : {ty}", a[4]));
            let std = b.assign(format!("math.sqrt {shifted} : {ty}"));
            let normalized = b.assign(format!("arith.divf {centered}, {std} : {ty}"));
            let scaled = b.assign(format!("arith.mulf {normalized}, {} : {ty}", a[1]));
            Ok(b.assign(format!("arith.addf {scaled}, {} : {ty}", a[2])))
        },
    )
}

/// Layer/RMS/Instance normalization: statistics over dims `axis..` (2.. for instance
/// norm), then `(x - mean) * inv_std * scale + b`.
fn normalize(f: &mut FuncText, view: &OpView, x: &Operand) -> Lowered<Vec<String>> {
    let wants_statistics = view.results.iter().skip(1).any(Option::is_some);
    if wants_statistics && view.op != "layer_normalization" {
        return refuse(format!(
            "graph.{} with statistics results has no CPU lowering yet",
            view.op
        ));
    }
    let dtype = x.info.dtype;
    let ty = element(dtype)?;
    let shape = static_shape(&x.info)?;
    let rank = shape.len();
    let instance = view.op == "instance_normalization";
    let rms = view.op == "rms_normalization";
    let axis = if instance {
        2
    } else {
        let a = view.int("axis")?;
        if a < 0 { (a + rank as i64) as usize } else { a as usize }
    };
    let eps = view.float("epsilon")?;
    if view.runtime_calls
        && view.op == "layer_normalization"
        && dtype == DType::F32
        && axis + 1 == rank
        && !wants_statistics
        && shape.iter().all(|&d| d > 0)
        && let Some(y) = layer_norm_call(f, view, x, &shape, eps)?
    {
        return Ok(vec![y]);
    }
    let dims: Vec<usize> = (axis..rank).collect();
    let count: i64 = shape[axis..].iter().product();
    // mean (zero for RMS), then the mean of squared deviations.
    let mean = if rms {
        None
    } else {
        let (sum, reduced) = reduce(f, &x.name, &shape, dtype, &dims, 0.0, |b, acc, e| {
            Ok(b.assign(format!("arith.addf {acc}, {e} : {ty}")))
        })?;
        Some((divide_all(f, &sum, &reduced, dtype, count as f64)?, reduced))
    };
    let reduced: Vec<i64> = shape[..axis].to_vec();
    let reduced_ty = tensor_type(&reduced, dtype)?;
    let variance_init = f.filled(&reduced, dtype, 0.0)?;
    let mut stat_inputs = vec![input_of(x, identity_map(rank))?];
    if let Some((mean, _)) = &mean {
        stat_inputs.push(reduced_input(mean, &reduced, rank, &dims, dtype)?);
    }
    let kinds: Vec<bool> = (0..rank).map(|d| d >= axis).collect();
    let has_mean = mean.is_some();
    let kept = affine_map(rank, &(0..axis).map(|d| format!("d{d}")).collect::<Vec<_>>());
    let squares = generic(
        f,
        &stat_inputs,
        (&variance_init, &reduced_ty, &kept, ty),
        &kinds,
        |b, a| {
            let centered = if has_mean {
                b.assign(format!("arith.subf {}, {} : {ty}", a[0], a[1]))
            } else {
                a[0].clone()
            };
            let square = b.assign(format!("arith.mulf {centered}, {centered} : {ty}"));
            Ok(b.assign(format!("arith.addf {}, {square} : {ty}", a[a.len() - 1])))
        },
    )?;
    let variance = divide_all(f, &squares, &reduced, dtype, count as f64)?;
    // y = (x - mean) / sqrt(var + eps) * scale + b.
    let mut inputs = vec![
        input_of(x, identity_map(rank))?,
        reduced_input(&variance, &reduced, rank, &dims, dtype)?,
    ];
    if let Some((mean, _)) = &mean {
        inputs.push(reduced_input(mean, &reduced, rank, &dims, dtype)?);
    }
    let affine_operand = |slot: usize| -> Lowered<Option<GenericInput>> {
        if !view.has_input(slot) {
            return Ok(None);
        }
        let operand = view.input(slot)?;
        let map = if instance {
            affine_map(rank, &["d1".to_string()])
        } else {
            broadcast_map(&static_shape(&operand.info)?, &shape)
        };
        Ok(Some(input_of(operand, map)?))
    };
    let scale = affine_operand(1)?;
    let bias = affine_operand(2)?;
    let (has_scale, has_bias) = (scale.is_some(), bias.is_some());
    inputs.extend(scale);
    inputs.extend(bias);
    let out_ty = tensor_type(&shape, dtype)?;
    let empty = f.empty(&out_ty);
    let statistics = if wants_statistics {
        // LayerNormalization's optional Mean and InvStdDev: over the kept dims, with the
        // normalized dims as 1s.
        let mean = match &mean {
            Some((mean, _)) => mean.clone(),
            None => f.filled(&reduced, dtype, 0.0)?,
        };
        let reduced_len = reduced.len();
        let input = GenericInput {
            name: variance.clone(),
            ty: reduced_ty.clone(),
            map: identity_map(reduced_len),
            element: ty.to_string(),
        };
        let empty_stat = f.empty(&reduced_ty);
        let inv = generic(
            f,
            &[input],
            (&empty_stat, &reduced_ty, &identity_map(reduced_len), ty),
            &vec![false; reduced_len],
            |b, a| {
                let e = b.constant(eps, dtype)?;
                let one = b.constant(1.0, dtype)?;
                let shifted = b.assign(format!("arith.addf {}, {e} : {ty}", a[0]));
                let std = b.assign(format!("math.sqrt {shifted} : {ty}"));
                Ok(b.assign(format!("arith.divf {one}, {std} : {ty}")))
            },
        )?;
        let mut results = Vec::new();
        for (slot, value) in [(1, mean), (2, inv)] {
            if view.has_result(slot) {
                let stat_shape = static_shape(view.result(slot)?)?;
                results.push(super::data_movement::reshape(f, &value, &reduced, &stat_shape, dtype)?);
            }
        }
        results
    } else {
        Vec::new()
    };
    let y = generic(
        f,
        &inputs,
        (&empty, &out_ty, &identity_map(rank), ty),
        &vec![false; rank],
        |b, a| {
            let mut next = 2;
            let centered = if has_mean {
                next += 1;
                b.assign(format!("arith.subf {}, {} : {ty}", a[0], a[2]))
            } else {
                a[0].clone()
            };
            let e = b.constant(eps, dtype)?;
            let shifted = b.assign(format!("arith.addf {}, {e} : {ty}", a[1]));
            let std = b.assign(format!("math.sqrt {shifted} : {ty}"));
            let one = b.constant(1.0, dtype)?;
            let inv = b.assign(format!("arith.divf {one}, {std} : {ty}"));
            let mut y = b.assign(format!("arith.mulf {centered}, {inv} : {ty}"));
            if has_scale {
                y = b.assign(format!("arith.mulf {y}, {} : {ty}", a[next]));
                next += 1;
            }
            if has_bias {
                y = b.assign(format!("arith.addf {y}, {} : {ty}", a[next]));
            }
            Ok(y)
        },
    )?;
    let mut results = vec![y];
    results.extend(statistics);
    Ok(results)
}

/// Softmax along one axis: `exp(x - max) / sum`, or `x - max - log(sum)` for LogSoftmax.
/// An f32 Softmax along the last axis is one call of the runtime's row softmax.
fn softmax(f: &mut FuncText, view: &OpView, x: &Operand) -> Lowered<String> {
    let dtype: DType = x.info.dtype;
    let ty = element(dtype)?;
    let shape = static_shape(&x.info)?;
    let rank = shape.len();
    let a = view.int("axis")?;
    let axis = if a < 0 { (a + rank as i64) as usize } else { a as usize };
    if view.runtime_calls
        && view.op == "softmax"
        && dtype == DType::F32
        && axis + 1 == rank
        && shape.iter().all(|&d| d > 0)
    {
        return Ok(row_softmax_call(f, &x.name, &shape));
    }
    let dims = [axis];
    let (max, reduced) = reduce(f, &x.name, &shape, dtype, &dims, f64::NEG_INFINITY, |b, acc, e| {
        Ok(b.assign(format!("arith.maximumf {acc}, {e} : {ty}")))
    })?;
    let out_ty = tensor_type(&shape, dtype)?;
    let empty = f.empty(&out_ty);
    let shifted_inputs = [
        input_of(x, identity_map(rank))?,
        reduced_input(&max, &reduced, rank, &dims, dtype)?,
    ];
    let shifted = generic(
        f,
        &shifted_inputs,
        (&empty, &out_ty, &identity_map(rank), ty),
        &vec![false; rank],
        |b, a| Ok(b.assign(format!("arith.subf {}, {} : {ty}", a[0], a[1]))),
    )?;
    let (sum, _) = reduce(f, &shifted, &shape, dtype, &dims, 0.0, |b, acc, e| {
        let exp = b.assign(format!("math.exp {e} : {ty}"));
        Ok(b.assign(format!("arith.addf {acc}, {exp} : {ty}")))
    })?;
    let log = view.op == "log_softmax";
    let empty = f.empty(&out_ty);
    let inputs = [
        GenericInput {
            name: shifted,
            ty: out_ty.clone(),
            map: identity_map(rank),
            element: ty.to_string(),
        },
        reduced_input(&sum, &reduced, rank, &dims, dtype)?,
    ];
    generic(
        f,
        &inputs,
        (&empty, &out_ty, &identity_map(rank), ty),
        &vec![false; rank],
        |b, a| {
            Ok(if log {
                let l = b.assign(format!("math.log {} : {ty}", a[1]));
                b.assign(format!("arith.subf {}, {l} : {ty}", a[0]))
            } else {
                let e = b.assign(format!("math.exp {} : {ty}", a[0]));
                b.assign(format!("arith.divf {e}, {} : {ty}", a[1]))
            })
        },
    )
}

/// `fuser_softmax_f32` over the rows of `x` (f32, static, last axis): the input read in
/// place, the result in a fresh buffer.
fn row_softmax_call(f: &mut FuncText, x: &str, shape: &[i64]) -> String {
    let tensor = f32_tensor(shape);
    let input_address = read_address(f, x, &tensor);
    let (output, output_address) = fresh_output(f, &tensor);
    let cols = shape[shape.len() - 1];
    let rows = f.index(shape.iter().product::<i64>() / cols);
    let cols = f.index(cols);
    f.line(format!(
        "func.call @{}({input_address}, {output_address}, {rows}, {cols}) : (index, index, index, index) -> ()",
        fuser_runtime::SOFTMAX_F32
    ));
    f.declare(fuser_runtime::SOFTMAX_F32, fuser_runtime::SOFTMAX_F32_ARITY);
    output_tensor(f, &output, &tensor)
}

/// An f32 LayerNormalization along the last axis whose scale (and bias, if any) hold one
/// value per column, as one call of the runtime's row kernel (`fuser_runtime::layer_norm`);
/// `None` for any other.
fn layer_norm_call(f: &mut FuncText, view: &OpView, x: &Operand, shape: &[i64], eps: f64) -> Lowered<Option<String>> {
    let cols = shape[shape.len() - 1];
    let per_column = |slot: usize| -> Lowered<Option<(String, String)>> {
        let operand = view.input(slot)?;
        let operand_shape = static_shape(&operand.info)?;
        let ok = operand.info.dtype == DType::F32 && operand_shape.iter().product::<i64>() == cols;
        Ok(ok.then(|| (operand.name.clone(), f32_tensor(&operand_shape))))
    };
    let Some(scale) = per_column(1)? else {
        return Ok(None);
    };
    let bias = if view.has_input(2) {
        match per_column(2)? {
            Some(bias) => Some(bias),
            None => return Ok(None),
        }
    } else {
        None
    };
    let tensor = f32_tensor(shape);
    let input_address = read_address(f, &x.name, &tensor);
    let scale_address = read_address(f, &scale.0, &scale.1);
    let bias_address = match &bias {
        Some((name, ty)) => read_address(f, name, ty),
        None => f.index(0),
    };
    let (output, output_address) = fresh_output(f, &tensor);
    let rows = f.index(shape.iter().product::<i64>() / cols);
    let cols = f.index(cols);
    let epsilon = f.index(eps.to_bits() as i64);
    f.line(format!(
        "func.call @{}({input_address}, {scale_address}, {bias_address}, {output_address}, {rows}, {cols}, {epsilon}) : ({}) -> ()",
        fuser_runtime::LAYER_NORM_F32,
        ["index"; fuser_runtime::LAYER_NORM_F32_ARITY].join(", ")
    ));
    f.declare(fuser_runtime::LAYER_NORM_F32, fuser_runtime::LAYER_NORM_F32_ARITY);
    Ok(Some(output_tensor(f, &output, &tensor)))
}
