//! Reorders the loops of each `linalg.generic` so that its parallel dimensions come
//! before its reductions. A softmax over a leading axis is a generic with iterators
//! `[reduction, parallel]`; `convert-linalg-to-parallel-loops` makes that an `scf.for`
//! around an `scf.parallel`, and only a parallel loop at the top of a kernel function is
//! mapped to blocks and threads: the `scf.for` would be left on the host. With the
//! parallel dimensions first, each thread runs the reduction of its output element.
//!
//! The loops of one linalg op may be permuted freely: the iteration space is the same and
//! each output element still accumulates its reduction in order. The permutation renames
//! the dimensions in every indexing map and permutes `iterator_types`; a body that reads
//! loop indices (`linalg.index`) is left alone.
//!
//! # Safety
//! The C API calls read and build affine maps of attributes that are checked to be
//! affine maps, in the op's own context; the attributes they make live in that context.

use fuser_dialects::{
    accessors::op_name,
    ffi::{nested_operations, parse_attribute, set_attribute},
};
use melior::ir::{
    Attribute, OperationRef,
    attribute::{ArrayAttribute, AttributeLike},
    operation::OperationLike,
};

/// The generic's iterator kinds, `true` for parallel.
fn iterators(op: OperationRef) -> Option<Vec<bool>> {
    let list = ArrayAttribute::try_from(op.attribute("iterator_types").ok()?).ok()?;
    (0..list.len())
        .map(|i| {
            let text = list.element(i).ok()?.to_string();
            if text.contains("parallel") {
                Some(true)
            } else if text.contains("reduction") {
                Some(false)
            } else {
                None
            }
        })
        .collect()
}

/// `map` with its dimension `j` renamed to `new_of_old[j]`.
fn renamed<'c>(map: Attribute<'c>, new_of_old: &[isize]) -> Option<Attribute<'c>> {
    // SAFETY: see the module note.
    unsafe {
        let raw = map.to_raw();
        if !mlir_sys::mlirAttributeIsAAffineMap(raw) {
            return None;
        }
        let map = mlir_sys::mlirAffineMapAttrGetValue(raw);
        let context = mlir_sys::mlirAffineMapGetContext(map);
        let dims = mlir_sys::mlirAffineMapGetNumDims(map);
        if dims as usize != new_of_old.len() {
            return None;
        }
        // (new dims) -> (old dims): old d_j is new d_{new_of_old[j]}.
        let mut permutation: Vec<u32> = new_of_old.iter().map(|&i| i as u32).collect();
        let substitution =
            mlir_sys::mlirAffineMapPermutationGet(context, permutation.len() as isize, permutation.as_mut_ptr());
        let mut results: Vec<mlir_sys::MlirAffineExpr> = (0..mlir_sys::mlirAffineMapGetNumResults(map))
            .map(|r| mlir_sys::mlirAffineExprCompose(mlir_sys::mlirAffineMapGetResult(map, r), substitution))
            .collect();
        let symbols = mlir_sys::mlirAffineMapGetNumSymbols(map);
        let new_map = mlir_sys::mlirAffineMapGet(context, dims, symbols, results.len() as isize, results.as_mut_ptr());
        Some(Attribute::from_raw(mlir_sys::mlirAffineMapAttrGet(new_map)))
    }
}

/// Puts the parallel dimensions of `generic` first, keeping the order within each kind.
/// Returns whether it changed the op.
fn reorder(generic: OperationRef) -> bool {
    let Some(kinds) = iterators(generic) else {
        return false;
    };
    let first_reduction = kinds.iter().position(|p| !p);
    let last_parallel = kinds.iter().rposition(|p| *p);
    if !matches!((first_reduction, last_parallel), (Some(r), Some(p)) if r < p) {
        return false;
    }
    if nested_operations(generic)
        .iter()
        .any(|op| op_name(op) == "linalg.index")
    {
        return false;
    }
    // New loop i is old loop order[i].
    let order: Vec<usize> = (0..kinds.len())
        .filter(|&i| kinds[i])
        .chain((0..kinds.len()).filter(|&i| !kinds[i]))
        .collect();
    let mut new_of_old = vec![0isize; order.len()];
    for (new, &old) in order.iter().enumerate() {
        new_of_old[old] = new as isize;
    }
    let Some(maps) = generic
        .attribute("indexing_maps")
        .ok()
        .and_then(|a| ArrayAttribute::try_from(a).ok())
    else {
        return false;
    };
    let Some(new_maps) = (0..maps.len())
        .map(|i| renamed(maps.element(i).ok()?, &new_of_old))
        .collect::<Option<Vec<Attribute>>>()
    else {
        return false;
    };
    let context = generic.context();
    let kinds_text: Vec<&str> = order
        .iter()
        .map(|&old| {
            if kinds[old] {
                "#linalg.iterator_type<parallel>"
            } else {
                "#linalg.iterator_type<reduction>"
            }
        })
        .collect();
    let maps_text: Vec<String> = new_maps.iter().map(|m| m.to_string()).collect();
    let (Some(new_iterators), Some(maps_attribute)) = (
        parse_attribute(context, &format!("[{}]", kinds_text.join(", "))),
        parse_attribute(context, &format!("[{}]", maps_text.join(", "))),
    ) else {
        return false;
    };
    set_attribute(generic, "indexing_maps", maps_attribute);
    set_attribute(generic, "iterator_types", new_iterators);
    true
}

/// Reorders every `linalg.generic` under `root`; returns how many changed.
pub fn parallel_dims_first(root: OperationRef) -> usize {
    nested_operations(root)
        .into_iter()
        .filter(|op| op_name(op) == "linalg.generic")
        .filter(|op| reorder(*op))
        .count()
}
