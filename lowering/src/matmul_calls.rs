//! `linalg.matmul` / `linalg.batch_matmul` on f32 memrefs → calls of the `gemm`
//! microkernel (`fuser_runtime::fuser_sgemm_f32`). Runs after bufferization: each operand
//! is passed as its aligned pointer, offset and strides, read with
//! `memref.extract_strided_metadata`, so strided views need no copy. A transposed
//! operand (a matmul whose indexing maps swap its dims) swaps its strides.

use crate::{ffi, graph_to_linalg::splice};
use fuser_dialects::{
    accessors::op_name,
    ffi::{clone_operation, nested_operations},
};
use fuser_runtime::SGEMM_F32;
use melior::ir::{BlockLike, OperationRef, RegionLike, ValueLike, operation::OperationLike};
use std::collections::HashMap;

/// The memref type's element type and static shape, e.g. `f32` and `[2, 3]`.
fn memref_shape(ty: &str) -> Option<(String, Vec<i64>)> {
    let inner = ty.strip_prefix("memref<")?;
    let dims_and_element = inner.split(',').next()?.trim_end_matches('>');
    let mut parts: Vec<&str> = dims_and_element.split('x').collect();
    let element = parts.pop()?.to_string();
    let dims = parts.iter().map(|d| d.parse().ok()).collect::<Option<Vec<i64>>>()?;
    Some((element, dims))
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
        let types: Vec<String> = (0..op.operand_count())
            .filter_map(|i| op.operand(i).ok())
            .map(|v| v.r#type().to_string())
            .collect();
        let Some(shapes) = types.iter().map(|t| memref_shape(t)).collect::<Option<Vec<_>>>() else {
            continue;
        };
        if types.len() != 3 || shapes.iter().any(|(e, _)| e != "f32") {
            continue;
        }
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
        if !parsed.contains_key(&text) {
            let Some(module) = ffi::parse_in(context, &text) else {
                return false;
            };
            parsed.insert(text.clone(), module);
        }
        if let Some(fill) = zero_fill {
            fuser_dialects::ffi::erase_operation(fill);
        }
        splice(op, &parsed[&text]);
        any = true;
    }
    if any { declare_microkernel(root) } else { true }
}

/// The declaration of the microkernel: 20 index arguments (see `fuser_sgemm_f32`).
fn declaration() -> String {
    format!("func.func private @{SGEMM_F32}({})\n", vec!["index"; 20].join(", "))
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

/// Adds the microkernel's declaration to the module `root`, once.
fn declare_microkernel(root: OperationRef) -> bool {
    let declared = nested_operations(root).into_iter().any(|op| {
        op_name(&op) == "func.func"
            && op
                .attribute("sym_name")
                .is_ok_and(|a| a.to_string() == format!("\"{SGEMM_F32}\""))
    });
    if declared {
        return true;
    }
    let Some(module) = ffi::parse_in(root.context(), &declaration()) else {
        return false;
    };
    let Some(declaration) = ffi::entry_block_operations(module.as_operation()).first().copied() else {
        return false;
    };
    let Some(body) = root.region(0).ok().and_then(|r| r.first_block()) else {
        return false;
    };
    body.append_operation(clone_operation(declaration));
    true
}
