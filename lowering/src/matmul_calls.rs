//! `linalg.matmul` / `linalg.batch_matmul` on f32 memrefs → calls of the `gemm`
//! microkernel (`fuser_runtime::fuser_sgemm_f32`). Runs after bufferization: each operand
//! is passed as its aligned pointer, offset and strides, read with
//! `memref.extract_strided_metadata`, so strided views need no copy. A transposed
//! operand (a matmul whose indexing maps swap its dims) swaps its strides.

use crate::{ffi, graph_to_linalg::splice};
use fuser_dialects::{
    accessors::op_name,
    ffi::{clone_operation, memref_info, nested_operations},
};
use fuser_runtime::{DEPTHWISE_F32, IM2COL_F32, SGEMM_F32};
use melior::ir::{BlockLike, OperationRef, RegionLike, ValueLike, operation::OperationLike};
use std::collections::HashMap;

/// One memref operand, as the rewrites need it.
struct MemrefOperand {
    element: String,
    shape: Vec<i64>,
    dense: bool,
    /// The type as text, for the rewrite.
    ty: String,
}

/// Each operand of `op`, if all are static-shaped memrefs.
fn operand_memrefs(op: OperationRef) -> Option<Vec<MemrefOperand>> {
    (0..op.operand_count())
        .map(|i| {
            let value = op.operand(i).ok()?;
            let (info, dense) = memref_info(value.r#type())?;
            Some(MemrefOperand {
                shape: info.static_shape()?,
                element: info.element,
                dense,
                ty: value.r#type().to_string(),
            })
        })
        .collect()
}

/// Rewrites every f32 matmul under `root` (a module). Returns whether all rewrites
/// parsed.
pub fn matmuls_to_microkernels(root: OperationRef) -> bool {
    let context = root.context();
    let matmuls: Vec<OperationRef> = nested_operations(root)
        .into_iter()
        .filter(|op| matches!(op_name(op).as_str(), "linalg.matmul" | "linalg.batch_matmul"))
        .collect();
    let mut parsed = HashMap::new();
    let mut any = false;
    for op in matmuls {
        let batched = op_name(&op) == "linalg.batch_matmul";
        let Some(operands) = operand_memrefs(op) else { continue };
        if operands.len() != 3 || operands.iter().any(|o| o.element != "f32") {
            continue;
        }
        let types: Vec<String> = operands.iter().map(|o| o.ty.clone()).collect();
        let shapes: Vec<(String, Vec<i64>)> = operands.iter().map(|o| (o.element.clone(), o.shape.clone())).collect();
        let maps = op.attribute("indexing_maps").map(|a| a.to_string()).unwrap_or_default();
        let (a_map, b_map) = match maps
            .strip_prefix('[')
            .map(|m| m.split("affine_map").collect::<Vec<_>>())
        {
            Some(parts) if parts.len() == 4 => (parts[1].to_string(), parts[2].to_string()),
            _ => (String::new(), String::new()),
        };
        let a_transposed = a_map.contains("-> (d2, d0)") || a_map.contains("-> (d0, d3, d1)");
        let b_transposed = b_map.contains("-> (d1, d2)") || b_map.contains("-> (d0, d2, d3)");
        let c_dims = &shapes[2].1;
        let (m, n) = (c_dims[c_dims.len() - 2], c_dims[c_dims.len() - 1]);
        let a_dims = &shapes[0].1;
        let k = if a_transposed {
            a_dims[a_dims.len() - 2]
        } else {
            a_dims[a_dims.len() - 1]
        };
        let batch = if batched { c_dims[0] } else { 1 };
        // A zero fill of the output right before the product is folded into the call:
        // the microkernel overwrites instead of accumulating.
        let zero_fill = zero_fill_before(op);
        let accumulate = i64::from(zero_fill.is_none());
        let rank = if batched { 3 } else { 2 };
        let mut text = format!(
            "func.func @lowered(%a0: {}, %a1: {}, %a2: {}) {{\n  %batch = arith.constant {batch} : index\n  %m = arith.constant {m} : index\n  %n = arith.constant {n} : index\n  %k = arith.constant {k} : index\n  %zero = arith.constant 0 : index\n",
            types[0], types[1], types[2]
        );
        text.push_str(&format!("  %accumulate = arith.constant {accumulate} : index\n"));
        let mut args = vec!["%batch".to_string(), "%m".into(), "%n".into(), "%k".into()];
        for (i, ty) in types.iter().enumerate() {
            let sizes: Vec<String> = (0..rank).map(|d| format!("%s{i}_{d}")).collect();
            let strides: Vec<String> = (0..rank).map(|d| format!("%t{i}_{d}")).collect();
            text.push_str(&format!(
                "  %p{i} = memref.extract_aligned_pointer_as_index %a{i} : {ty} -> index\n  %base{i}, %o{i}, {}, {} = memref.extract_strided_metadata %a{i} : {ty} -> memref<f32>, index, {}, {}\n",
                sizes.join(", "),
                strides.join(", "),
                vec!["index"; rank].join(", "),
                vec!["index"; rank].join(", ")
            ));
            let transposed = (i == 0 && a_transposed) || (i == 1 && b_transposed);
            let (row, col) = (&strides[rank - 2], &strides[rank - 1]);
            let (row, col) = if transposed { (col, row) } else { (row, col) };
            let batch_stride = if batched {
                strides[0].clone()
            } else {
                "%zero".to_string()
            };
            args.extend([
                format!("%p{i}"),
                format!("%o{i}"),
                batch_stride,
                row.clone(),
                col.clone(),
            ]);
        }
        args.push("%accumulate".into());
        text.push_str(&format!(
            "  func.call @{SGEMM_F32}({}) : ({}) -> ()\n  func.return\n}}\n{}",
            args.join(", "),
            vec!["index"; args.len()].join(", "),
            declaration()
        ));
        let Some(lowered) = ffi::parse_cached(context, &mut parsed, &text) else {
            return false;
        };
        if let Some(fill) = zero_fill {
            fuser_dialects::ffi::erase_operation(fill);
        }
        splice(op, lowered);
        any = true;
    }
    let Some(used) = tagged_generics_to_microkernels(root, &mut parsed) else {
        return false;
    };
    let mut ok = true;
    if any {
        ok &= declare(root, SGEMM_F32, 20);
    }
    for (symbol, arity) in used {
        ok &= declare(root, symbol, arity);
    }
    ok
}

/// The microkernel a tagged `linalg.generic` becomes: its tag, symbol and arity.
const TAGGED: [(&str, &str, usize); 2] = [("fuser.im2col", IM2COL_F32, 15), ("fuser.depthwise", DEPTHWISE_F32, 18)];

/// The call arguments of a tagged generic: pointers are `%p<operand>`, the rest
/// constants. `None` if the shapes do not fit the microkernel.
fn tagged_arguments(tag: &str, params: &[i64], shapes: &[Vec<i64>]) -> Option<Vec<String>> {
    let constants = |values: &[i64]| values.iter().map(|v| format!("{v}")).collect::<Vec<_>>();
    let mut args = Vec::new();
    match tag {
        "fuser.im2col" => {
            let (src, dst) = (shapes.first()?, shapes.get(1)?);
            if src.len() != 4 || dst.len() != 5 || params.len() != 7 {
                return None;
            }
            args.extend(["%p0".to_string(), "0".into()]);
            args.extend(constants(&[src[1], src[2], src[3], dst[1], dst[2], dst[3], dst[4]]));
            args.extend(constants(&params[..4]));
            args.extend(["%p1".to_string(), "0".into()]);
        }
        _ => {
            // ins(x [N, G, 1, H, W], w [G, 1, 1, KH, KW]) outs(y [N, G, 1, OH, OW]).
            let (x, w, y) = (shapes.first()?, shapes.get(1)?, shapes.get(2)?);
            if x.len() != 5 || w.len() != 5 || y.len() != 5 || params.len() != 4 || x[2] != 1 || w[1] != 1 || w[2] != 1
            {
                return None;
            }
            args.extend(["%p0".to_string(), "0".into()]);
            args.extend(constants(&[x[0], x[1], x[3], x[4]]));
            args.extend(["%p1".to_string(), "0".into()]);
            args.extend(constants(&[w[3], w[4]]));
            args.extend(["%p2".to_string(), "0".into()]);
            args.extend(constants(&[y[3], y[4]]));
            args.extend(constants(params));
        }
    }
    Some(args)
}

/// Replaces each f32 `linalg.generic` tagged by a lowering (`fuser.im2col`,
/// `fuser.depthwise`) whose operands are dense buffers with a call of its microkernel.
/// Returns the microkernels used, or `None` if a rewrite did not parse.
fn tagged_generics_to_microkernels<'c>(
    root: OperationRef<'c, '_>,
    parsed: &mut HashMap<String, melior::ir::Module<'c>>,
) -> Option<Vec<(&'static str, usize)>> {
    let context = root.context();
    let mut used = Vec::new();
    let generics: Vec<OperationRef> = nested_operations(root)
        .into_iter()
        .filter(|op| op_name(op) == "linalg.generic")
        .collect();
    for op in generics {
        let Some(&(tag, symbol, arity)) = TAGGED.iter().find(|(t, _, _)| op.attribute(t).is_ok()) else {
            continue;
        };
        let Some(array) = op
            .attribute(tag)
            .ok()
            .and_then(|a| melior::ir::attribute::DenseI64ArrayAttribute::try_from(a).ok())
        else {
            continue;
        };
        let params: Vec<i64> = (0..array.len()).filter_map(|i| array.element(i).ok()).collect();
        let Some(operands) = operand_memrefs(op) else { continue };
        if operands.iter().any(|o| !o.dense) {
            continue;
        }
        let types: Vec<String> = operands.iter().map(|o| o.ty.clone()).collect();
        let shapes: Vec<Vec<i64>> = operands.iter().map(|o| o.shape.clone()).collect();
        let Some(args) = tagged_arguments(tag, &params, &shapes) else {
            continue;
        };
        let params_text: Vec<String> = types.iter().enumerate().map(|(i, t)| format!("%a{i}: {t}")).collect();
        let mut text = format!("func.func @lowered({}) {{\n", params_text.join(", "));
        for (i, t) in types.iter().enumerate() {
            text.push_str(&format!(
                "  %p{i} = memref.extract_aligned_pointer_as_index %a{i} : {t} -> index\n"
            ));
        }
        let mut names = Vec::new();
        for (i, arg) in args.iter().enumerate() {
            if arg.starts_with('%') {
                names.push(arg.clone());
            } else {
                text.push_str(&format!("  %k{i} = arith.constant {arg} : index\n"));
                names.push(format!("%k{i}"));
            }
        }
        text.push_str(&format!(
            "  func.call @{symbol}({}) : ({}) -> ()\n  func.return\n}}\n{}",
            names.join(", "),
            vec!["index"; arity].join(", "),
            declaration_of(symbol, arity)
        ));
        splice(op, ffi::parse_cached(context, parsed, &text)?);
        if !used.contains(&(symbol, arity)) {
            used.push((symbol, arity));
        }
    }
    Some(used)
}

/// The declaration of the matmul microkernel: 20 index arguments (see `fuser_sgemm_f32`).
fn declaration() -> String {
    declaration_of(SGEMM_F32, 20)
}

/// `func.func private @<symbol>(index × arity)`.
pub(crate) fn declaration_of(symbol: &str, arity: usize) -> String {
    format!("func.func private @{symbol}({})\n", vec!["index"; arity].join(", "))
}

/// The `linalg.fill` with 0.0 right before `matmul` in its block, if it fills the
/// matmul's output buffer.
fn zero_fill_before<'c, 'a>(matmul: OperationRef<'c, 'a>) -> Option<OperationRef<'c, 'a>> {
    let fill = ffi::previous_in_block(matmul)?;
    if op_name(&fill) != "linalg.fill" {
        return None;
    }
    let output = matmul.operand(2).ok()?;
    let filled = fill.operand(1).ok()?;
    if filled.to_raw().ptr != output.to_raw().ptr {
        return None;
    }
    let value = fill.operand(0).ok()?;
    let constant = melior::ir::operation::OperationResult::try_from(value).ok()?.owner();
    let attribute = constant.attribute("value").ok()?;
    (op_name(&constant) == "arith.constant" && attribute.to_string().starts_with("0.000000e+00")).then_some(fill)
}

/// Adds the declaration of runtime function `symbol` to the module `root`, once.
pub(crate) fn declare(root: OperationRef, symbol: &str, arity: usize) -> bool {
    let Some(module) = ffi::parse_in(root.context(), &declaration_of(symbol, arity)) else {
        return false;
    };
    let Some(declaration) = ffi::entry_block_operations(module.as_operation()).first().copied() else {
        return false;
    };
    declare_like(root, declaration)
}

/// Adds a clone of the function declaration `declaration` to the module `root`, unless
/// `root` already has a function of its name.
pub(crate) fn declare_like(root: OperationRef, declaration: OperationRef) -> bool {
    let Ok(name) = declaration.attribute("sym_name") else {
        return false;
    };
    let declared = nested_operations(root)
        .into_iter()
        .any(|op| op_name(&op) == "func.func" && op.attribute("sym_name").is_ok_and(|a| a == name));
    if declared {
        return true;
    }
    let Some(body) = root.region(0).ok().and_then(|r| r.first_block()) else {
        return false;
    };
    body.append_operation(clone_operation(declaration));
    true
}
