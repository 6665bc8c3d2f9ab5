//! Ops that move data without arithmetic: Identity, Dropout (inference), the reshapes
//! (Reshape, Flatten, Squeeze, Unsqueeze), Transpose, Concat, Split, Slice, Expand, Tile,
//! Gather and constant Pad. Reshapes are `tensor.collapse_shape`/`expand_shape` views;
//! the rest are tensor slices or generics.

use super::{
    OpView,
    elementwise::map_elementwise,
    text::{
        FuncText, GenericInput, Lowered, affine_map, element, f32_tensor, fresh_output, generic, identity_map, list,
        output_tensor, read_address, refuse, static_shape, tensor_type,
    },
};
use fuser_dialects::semantics::{DType, slice_bounds};

pub fn handles(op: &str) -> bool {
    matches!(
        op,
        "identity"
            | "dropout"
            | "reshape"
            | "flatten"
            | "squeeze"
            | "unsqueeze"
            | "transpose"
            | "concat"
            | "split"
            | "slice"
            | "expand"
            | "tile"
            | "gather"
            | "gather_elements"
            | "trilu"
            | "depth_to_space"
            | "space_to_depth"
            | "cum_sum"
            | "pad"
    )
}

/// Reshapes `x` from `from` to `to` (same element count) through a rank-1 view.
pub fn reshape(f: &mut FuncText, x: &str, from: &[i64], to: &[i64], dtype: DType) -> Lowered<String> {
    if from == to {
        return Ok(x.to_string());
    }
    let count: i64 = from.iter().product();
    let flat_ty = tensor_type(&[count], dtype)?;
    let all = |rank: usize| {
        format!(
            "[[{}]]",
            (0..rank).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
        )
    };
    let flat = match from.len() {
        1 => x.to_string(),
        0 => f.assign(format!(
            "tensor.expand_shape {x} [] output_shape [1] : {} into {flat_ty}",
            tensor_type(from, dtype)?
        )),
        rank => f.assign(format!(
            "tensor.collapse_shape {x} {} : {} into {flat_ty}",
            all(rank),
            tensor_type(from, dtype)?
        )),
    };
    Ok(match to.len() {
        1 => flat,
        0 => f.assign(format!(
            "tensor.collapse_shape {flat} [] : {flat_ty} into {}",
            tensor_type(to, dtype)?
        )),
        rank => f.assign(format!(
            "tensor.expand_shape {flat} {} output_shape [{}] : {flat_ty} into {}",
            all(rank),
            list(to),
            tensor_type(to, dtype)?
        )),
    })
}

/// Transposes of at least this many f32 values are a runtime call ([`runtime_transpose`]);
/// smaller ones stay `linalg.transpose` loops, which cost no call.
const RUNTIME_TRANSPOSE_ELEMENTS: i64 = 1 << 14;

/// Whether an f32 transpose of `shape` is a runtime call: static, of at most
/// `fuser_runtime::transpose::MAX_RANK` axes and at least [`RUNTIME_TRANSPOSE_ELEMENTS`]
/// values.
fn takes_runtime_transpose(shape: &[i64]) -> bool {
    (1..=fuser_runtime::transpose::MAX_RANK).contains(&shape.len())
        && shape.iter().all(|&d| d > 0)
        && shape.iter().product::<i64>() >= RUNTIME_TRANSPOSE_ELEMENTS
}

/// `fuser_transpose_f32` of `x` (f32, `shape`) by `perm`: the input read in place, the
/// result in a fresh buffer. The upstream lowering of `linalg.transpose` is a scalar loop
/// nest on one core; the call copies whole rows where the last axis stays last, on every
/// thread (`fuser_runtime::transpose`).
fn runtime_transpose(f: &mut FuncText, x: &str, shape: &[i64], perm: &[i64]) -> Lowered<String> {
    let rank = shape.len();
    let mut sorted = perm.to_vec();
    sorted.sort_unstable();
    if sorted != (0..rank as i64).collect::<Vec<_>>() {
        return refuse(format!(
            "graph.transpose: perm {perm:?} is not a permutation of {rank} axes"
        ));
    }
    let out: Vec<i64> = perm.iter().map(|&p| shape[p as usize]).collect();
    let words: Vec<i64> = std::iter::once(rank as i64)
        .chain(shape.iter().copied())
        .chain(perm.iter().copied())
        .collect();
    let descriptor_ty = format!("tensor<{}xi64>", words.len());
    let descriptor = f.assign(format!("arith.constant dense<[{}]> : {descriptor_ty}", list(&words)));
    let descriptor_address = read_address(f, &descriptor, &descriptor_ty);
    let (input_tensor, output_tensor_ty) = (f32_tensor(shape), f32_tensor(&out));
    let input_address = read_address(f, x, &input_tensor);
    let (output, output_address) = fresh_output(f, &output_tensor_ty);
    f.line(format!(
        "func.call @{}({descriptor_address}, {input_address}, {output_address}) : (index, index, index) -> ()",
        fuser_runtime::TRANSPOSE_F32
    ));
    f.declare(fuser_runtime::TRANSPOSE_F32, fuser_runtime::TRANSPOSE_F32_ARITY);
    Ok(output_tensor(f, &output, &output_tensor_ty))
}

pub fn lower(f: &mut FuncText, view: &OpView) -> Lowered<Vec<String>> {
    let x = view.input(0)?;
    let dtype = x.info.dtype;
    let ty = element(dtype)?;
    let shape = static_shape(&x.info)?;
    let x_ty = tensor_type(&shape, dtype)?;
    let out = static_shape(view.result(0)?)?;
    let out_ty = tensor_type(&out, dtype)?;
    let rank = shape.len();
    let axis_of = |a: i64, rank: usize| if a < 0 { (a + rank as i64) as usize } else { a as usize };
    Ok(match view.op.as_str() {
        "identity" => vec![x.name.clone()],
        "dropout" => {
            let mut results = vec![x.name.clone()];
            if view.has_result(1) {
                results.push(f.filled(&shape, DType::Bool, 1.0)?);
            }
            results
        }
        "reshape" | "flatten" | "squeeze" | "unsqueeze" => vec![reshape(f, &x.name, &shape, &out, dtype)?],
        "transpose" if view.runtime_calls && dtype == DType::F32 && takes_runtime_transpose(&shape) => {
            vec![runtime_transpose(f, &x.name, &shape, &view.ints("perm")?)?]
        }
        "transpose" => {
            let empty = f.empty(&out_ty);
            vec![f.assign(format!(
                "linalg.transpose ins({} : {x_ty}) outs({empty} : {out_ty}) permutation = [{}]",
                x.name,
                list(&view.ints("perm")?)
            ))]
        }
        "concat" => {
            let axis = axis_of(view.int("axis")?, rank);
            let mut dest = f.empty(&out_ty);
            let mut offset = 0;
            for operand in view.inputs.iter().flatten() {
                let s = static_shape(&operand.info)?;
                let mut offsets = vec![0; rank];
                offsets[axis] = offset;
                offset += s[axis];
                if s.contains(&0) {
                    continue;
                }
                dest = f.assign(format!(
                    "tensor.insert_slice {} into {dest}[{}] [{}] [{}] : {} into {out_ty}",
                    operand.name,
                    list(&offsets),
                    list(&s),
                    list(&vec![1; rank]),
                    tensor_type(&s, dtype)?
                ));
            }
            vec![dest]
        }
        "split" => {
            let axis = axis_of(view.int("axis")?, rank);
            let mut offset = 0;
            let mut results = Vec::new();
            for info in view.results.iter().flatten() {
                let s = static_shape(info)?;
                let mut offsets = vec![0; rank];
                offsets[axis] = offset;
                offset += s[axis];
                if s.contains(&0) {
                    let empty_ty = tensor_type(&s, dtype)?;
                    results.push(f.empty(&empty_ty));
                    continue;
                }
                results.push(f.assign(format!(
                    "tensor.extract_slice {}[{}] [{}] [{}] : {x_ty} to {}",
                    x.name,
                    list(&offsets),
                    list(&s),
                    list(&vec![1; rank]),
                    tensor_type(&s, dtype)?
                )));
            }
            results
        }
        "slice" => {
            let starts = view.constant_ints(1)?;
            let ends = view.constant_ints(2)?;
            let axes = if view.has_input(3) {
                view.constant_ints(3)?
            } else {
                (0..starts.len() as i64).collect()
            };
            let steps = if view.has_input(4) {
                view.constant_ints(4)?
            } else {
                vec![1; starts.len()]
            };
            let mut offsets = vec![0; rank];
            let mut strides = vec![1; rank];
            for i in 0..starts.len() {
                let a = axis_of(axes[i], rank);
                let (start, _) = slice_bounds(starts[i], ends[i], steps[i], shape[a]);
                offsets[a] = start;
                strides[a] = steps[i];
            }
            if out.contains(&0) {
                vec![f.empty(&out_ty)]
            } else if strides.iter().all(|&s| s > 0) {
                vec![f.assign(format!(
                    "tensor.extract_slice {}[{}] [{}] [{}] : {x_ty} to {out_ty}",
                    x.name,
                    list(&offsets),
                    list(&out),
                    list(&strides)
                ))]
            } else {
                // A negative step reads backwards: out[i] = x[start + i * step].
                let exprs: Vec<String> = (0..rank)
                    .map(|d| format!("d{d} * {} + {}", strides[d], offsets[d]))
                    .collect();
                vec![gather_by_map(f, &x.name, &x_ty, &out_ty, &exprs, ty)?]
            }
        }
        "expand" => vec![map_elementwise(f, &[x], view.result(0)?, |_, a| Ok(a[0].clone()))?],
        "tile" => {
            let exprs: Vec<String> = (0..rank).map(|d| format!("d{d} mod {}", shape[d])).collect();
            vec![gather_by_map(f, &x.name, &x_ty, &out_ty, &exprs, ty)?]
        }
        "gather" => vec![gather(f, view)?],
        "gather_elements" => vec![gather_elements(f, view)?],
        "trilu" => vec![trilu(f, view)?],
        "depth_to_space" | "space_to_depth" => vec![depth_space(f, view)?],
        "cum_sum" => vec![cum_sum(f, view)?],
        "pad" => vec![pad(f, view)?],
        other => return refuse(format!("graph.{other} has no CPU lowering yet")),
    })
}

/// A new tensor of `out_ty` whose element at each index reads `x` at the affine
/// expressions `exprs` of that index (strided slices, tiles).
fn gather_by_map(f: &mut FuncText, x: &str, x_ty: &str, out_ty: &str, exprs: &[String], ty: &str) -> Lowered<String> {
    let rank = exprs.len();
    let input = GenericInput {
        name: x.to_string(),
        ty: x_ty.to_string(),
        map: affine_map(rank, exprs),
        element: ty.to_string(),
    };
    let empty = f.empty(out_ty);
    generic(
        f,
        &[input],
        (&empty, out_ty, &identity_map(rank), ty),
        &vec![false; rank],
        |_, a| Ok(a[0].clone()),
    )
}

/// An index value read from an ONNX index tensor element, wrapped once if negative (as
/// Gather and GatherElements define) for an axis of size `dim`.
fn wrapped_index(b: &mut super::text::Body, raw: &str, index_ty: &str, dim: i64) -> String {
    let index = b.assign(format!("arith.index_cast {raw} : {index_ty} to index"));
    let zero = b.assign("arith.constant 0 : index");
    let size = b.assign(format!("arith.constant {dim} : index"));
    let negative = b.assign(format!("arith.cmpi slt, {index}, {zero} : index"));
    let wrapped = b.assign(format!("arith.addi {index}, {size} : index"));
    b.assign(format!("arith.select {negative}, {wrapped}, {index} : index"))
}

/// Gather along `axis`: out[pre, idx, post] = x[pre, indices[idx] (wrapped if negative), post].
fn gather(f: &mut FuncText, view: &OpView) -> Lowered<String> {
    let (x, indices) = (view.input(0)?, view.input(1)?);
    let dtype = x.info.dtype;
    let ty = element(dtype)?;
    let shape = static_shape(&x.info)?;
    let index_shape = static_shape(&indices.info)?;
    let index_ty = element(indices.info.dtype)?;
    let out = static_shape(view.result(0)?)?;
    let out_ty = tensor_type(&out, dtype)?;
    let a = view.int("axis")?;
    let axis = if a < 0 {
        (a + shape.len() as i64) as usize
    } else {
        a as usize
    };
    let q = index_shape.len();
    let rank = out.len();
    let index_exprs: Vec<String> = (axis..axis + q).map(|d| format!("d{d}")).collect();
    let input = GenericInput {
        name: indices.name.clone(),
        ty: tensor_type(&index_shape, indices.info.dtype)?,
        map: affine_map(rank, &index_exprs),
        element: index_ty.to_string(),
    };
    let empty = f.empty(&out_ty);
    let x_name = x.name.clone();
    let x_ty = tensor_type(&shape, dtype)?;
    let dim = shape[axis];
    generic(
        f,
        &[input],
        (&empty, &out_ty, &identity_map(rank), ty),
        &vec![false; rank],
        |b, args| {
            let index = wrapped_index(b, &args[0], index_ty, dim);
            let mut coordinates = Vec::new();
            for d in 0..axis {
                coordinates.push(b.assign(format!("linalg.index {d} : index")));
            }
            coordinates.push(index);
            for d in axis + q..rank {
                coordinates.push(b.assign(format!("linalg.index {d} : index")));
            }
            Ok(b.assign(format!("tensor.extract {x_name}[{}] : {x_ty}", coordinates.join(", "))))
        },
    )
}

/// Constant-mode Pad with constant, non-negative pads.
fn pad(f: &mut FuncText, view: &OpView) -> Lowered<String> {
    let x = view.input(0)?;
    let dtype = x.info.dtype;
    let ty = element(dtype)?;
    let shape = static_shape(&x.info)?;
    let rank = shape.len();
    if view.string("mode")? != "constant" {
        return refuse(format!(
            "graph.pad mode '{}' has no CPU lowering yet",
            view.string("mode")?
        ));
    }
    let given = view.constant_ints(1)?;
    let axes: Vec<usize> = if view.has_input(3) {
        view.constant_ints(3)?
            .iter()
            .map(|&a| if a < 0 { (a + rank as i64) as usize } else { a as usize })
            .collect()
    } else {
        (0..rank).collect()
    };
    let mut low = vec![0; rank];
    let mut high = vec![0; rank];
    for (i, &a) in axes.iter().enumerate() {
        low[a] = given[i];
        high[a] = given[axes.len() + i];
    }
    if low.iter().chain(&high).any(|&p| p < 0) {
        return refuse("graph.pad with negative pads has no CPU lowering yet");
    }
    let fill = if view.has_input(2) {
        let value = view.input(2)?;
        let value_ty = tensor_type(&static_shape(&value.info)?, dtype)?;
        let zeros = vec!["0".to_string(); static_shape(&value.info)?.len()];
        let indices: Vec<String> = zeros.iter().map(|_| "%c0".to_string()).collect();
        if !zeros.is_empty() {
            f.line("%c0 = arith.constant 0 : index");
        }
        f.assign(format!(
            "tensor.extract {}[{}] : {value_ty}",
            value.name,
            indices.join(", ")
        ))
    } else {
        f.constant(0.0, dtype)?
    };
    let out = static_shape(view.result(0)?)?;
    let index_args: Vec<String> = (0..rank).map(|i| format!("%i{i}: index")).collect();
    Ok(f.assign(format!(
        "tensor.pad {} low[{}] high[{}] {{\n  ^bb0({}):\n    tensor.yield {fill} : {ty}\n  }} : {} to {}",
        x.name,
        list(&low),
        list(&high),
        index_args.join(", "),
        tensor_type(&shape, dtype)?,
        tensor_type(&out, dtype)?
    )))
}

/// GatherElements along `axis`: out[p] = x[p with p[axis] replaced by indices[p]]
/// (negative indices wrap).
fn gather_elements(f: &mut FuncText, view: &OpView) -> Lowered<String> {
    let (x, indices) = (view.input(0)?, view.input(1)?);
    let dtype = x.info.dtype;
    let ty = element(dtype)?;
    let shape = static_shape(&x.info)?;
    let index_shape = static_shape(&indices.info)?;
    let index_ty = element(indices.info.dtype)?;
    let rank = index_shape.len();
    let out_ty = tensor_type(&index_shape, dtype)?;
    let a = view.int("axis")?;
    let axis = if a < 0 { (a + rank as i64) as usize } else { a as usize };
    let input = GenericInput {
        name: indices.name.clone(),
        ty: tensor_type(&index_shape, indices.info.dtype)?,
        map: identity_map(rank),
        element: index_ty.to_string(),
    };
    let empty = f.empty(&out_ty);
    let (x_name, x_ty, dim) = (x.name.clone(), tensor_type(&shape, dtype)?, shape[axis]);
    generic(
        f,
        &[input],
        (&empty, &out_ty, &identity_map(rank), ty),
        &vec![false; rank],
        |b, args| {
            let index = wrapped_index(b, &args[0], index_ty, dim);
            let coordinates: Vec<String> = (0..rank)
                .map(|d| {
                    if d == axis {
                        index.clone()
                    } else {
                        b.assign(format!("linalg.index {d} : index"))
                    }
                })
                .collect();
            Ok(b.assign(format!("tensor.extract {x_name}[{}] : {x_ty}", coordinates.join(", "))))
        },
    )
}

/// Trilu: keeps the upper (j - i >= k) or lower (j - i <= k) triangle of the last two
/// dims and zeroes the rest; `k` may be a runtime value.
fn trilu(f: &mut FuncText, view: &OpView) -> Lowered<String> {
    let x = view.input(0)?;
    let dtype = x.info.dtype;
    let ty = element(dtype)?;
    let shape = static_shape(&x.info)?;
    let rank = shape.len();
    if rank < 2 {
        return refuse("graph.trilu needs rank 2 or more");
    }
    let upper = view.int("upper")? != 0;
    let k = if view.has_input(1) {
        let k = view.input(1)?;
        let k_shape = static_shape(&k.info)?;
        let zeros = vec!["%c0"; k_shape.len()].join(", ");
        if !k_shape.is_empty() {
            f.line("%c0 = arith.constant 0 : index");
        }
        let value = f.assign(format!(
            "tensor.extract {}[{zeros}] : {}",
            k.name,
            tensor_type(&k_shape, k.info.dtype)?
        ));
        f.assign(format!(
            "arith.index_cast {value} : {} to index",
            element(k.info.dtype)?
        ))
    } else {
        f.index(0)
    };
    let x_ty = tensor_type(&shape, dtype)?;
    let input = GenericInput {
        name: x.name.clone(),
        ty: x_ty.clone(),
        map: identity_map(rank),
        element: ty.to_string(),
    };
    let empty = f.empty(&x_ty);
    generic(
        f,
        &[input],
        (&empty, &x_ty, &identity_map(rank), ty),
        &vec![false; rank],
        |b, args| {
            let i = b.assign(format!("linalg.index {} : index", rank - 2));
            let j = b.assign(format!("linalg.index {} : index", rank - 1));
            let diagonal = b.assign(format!("arith.subi {j}, {i} : index"));
            let predicate = if upper { "sge" } else { "sle" };
            let keep = b.assign(format!("arith.cmpi {predicate}, {diagonal}, {k} : index"));
            let zero = b.constant(0.0, dtype)?;
            Ok(b.assign(format!("arith.select {keep}, {}, {zero} : {ty}", args[0])))
        },
    )
}

/// DepthToSpace and SpaceToDepth as reshape, transpose, reshape (ONNX's definitions).
fn depth_space(f: &mut FuncText, view: &OpView) -> Lowered<String> {
    let x = view.input(0)?;
    let dtype = x.info.dtype;
    let shape = static_shape(&x.info)?;
    if shape.len() != 4 {
        return refuse(format!("graph.{} on rank {}", view.op, shape.len()));
    }
    let out = static_shape(view.result(0)?)?;
    let b = view.int("blocksize")?;
    let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3]);
    let crd = view.string("mode")? == "CRD";
    let (split, perm): (Vec<i64>, [i64; 6]) = if view.op == "space_to_depth" {
        let perm = if crd { [0, 1, 3, 5, 2, 4] } else { [0, 3, 5, 1, 2, 4] };
        (vec![n, c, h / b, b, w / b, b], perm)
    } else if crd {
        (vec![n, c / (b * b), b, b, h, w], [0, 1, 4, 2, 5, 3])
    } else {
        (vec![n, b, b, c / (b * b), h, w], [0, 3, 4, 1, 5, 2])
    };
    let split_value = reshape(f, &x.name, &shape, &split, dtype)?;
    let permuted: Vec<i64> = perm.iter().map(|&p| split[p as usize]).collect();
    let (split_ty, permuted_ty) = (tensor_type(&split, dtype)?, tensor_type(&permuted, dtype)?);
    let empty = f.empty(&permuted_ty);
    let moved = f.assign(format!(
        "linalg.transpose ins({split_value} : {split_ty}) outs({empty} : {permuted_ty}) permutation = [{}]",
        list(&perm)
    ));
    reshape(f, &moved, &permuted, &out, dtype)
}

/// CumSum along a constant axis: out[i] sums x[j] over j <= i (j < i when exclusive;
/// j >= i, j > i when reversed), as a reduction over a second loop on the axis.
fn cum_sum(f: &mut FuncText, view: &OpView) -> Lowered<String> {
    let x = view.input(0)?;
    let dtype = x.info.dtype;
    let ty = element(dtype)?;
    let shape = static_shape(&x.info)?;
    let rank = shape.len();
    let axis_value = view.constant_ints(1)?;
    let a = *axis_value
        .first()
        .ok_or_else(|| super::text::Refusal("graph.cum_sum without an axis".into()))?;
    let axis = if a < 0 { (a + rank as i64) as usize } else { a as usize };
    let (exclusive, reverse) = (view.int("exclusive")? != 0, view.int("reverse")? != 0);
    let x_ty = tensor_type(&shape, dtype)?;
    // Loops: the output dims, then j (d<rank>) along the axis.
    let exprs: Vec<String> = (0..rank)
        .map(|d| if d == axis { format!("d{rank}") } else { format!("d{d}") })
        .collect();
    let input = GenericInput {
        name: x.name.clone(),
        ty: x_ty.clone(),
        map: affine_map(rank + 1, &exprs),
        element: ty.to_string(),
    };
    let init = f.filled(&shape, dtype, 0.0)?;
    let out_exprs: Vec<String> = (0..rank).map(|d| format!("d{d}")).collect();
    let mut kinds = vec![false; rank];
    kinds.push(true);
    let float = super::text::is_float(dtype);
    let predicate = match (reverse, exclusive) {
        (false, false) => "sle",
        (false, true) => "slt",
        (true, false) => "sge",
        (true, true) => "sgt",
    };
    generic(
        f,
        &[input],
        (&init, &x_ty, &affine_map(rank + 1, &out_exprs), ty),
        &kinds,
        |b, args| {
            let i = b.assign(format!("linalg.index {axis} : index"));
            let j = b.assign(format!("linalg.index {rank} : index"));
            let include = b.assign(format!("arith.cmpi {predicate}, {j}, {i} : index"));
            let zero = b.constant(0.0, dtype)?;
            let term = b.assign(format!("arith.select {include}, {}, {zero} : {ty}", args[0]));
            let add = if float { "addf" } else { "addi" };
            Ok(b.assign(format!("arith.{add} {}, {term} : {ty}", args[1])))
        },
    )
}
