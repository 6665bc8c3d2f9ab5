//! `gpu-tile-parallel-loops`: every outermost `scf.parallel` (as
//! `convert-linalg-to-parallel-loops` leaves them) becomes a grid of thread blocks,
//! marked for upstream `convert-parallel-loops-to-gpu`.
//!
//! Upstream `scf-parallel-loop-tiling` takes one list of tile sizes for every loop and
//! `gpu-map-parallel-loops` maps the outermost dimension to `x`; neither fits loops of
//! mixed ranks whose innermost dimension is the contiguous one. Here each loop gets its
//! own shape: its innermost (up to) three dimensions go to threads `x`, `y`, `z` of a
//! block of at most `max_threads` threads (innermost first, so neighbouring threads touch
//! neighbouring elements), the grid covers the rest with bounds checks, and any outer
//! dimensions are sequential loops inside each thread.
//!
//! The rewrite: a template (blocks loop, threads loop, global index, guard) is parsed,
//! spliced before the loop, and the loop's body is moved into the guard with its
//! induction variables replaced by the global indices.

use crate::ffi::{clone_before, entry_block_operations, parse_in};
use fuser_dialects::{
    accessors::op_name,
    ffi::{erase_operation, nested_operations, replace_all_uses},
};
use melior::ir::{
    BlockLike, Location, OperationRef, RegionLike,
    attribute::IntegerAttribute,
    operation::{OperationLike, OperationResult},
};
use mlir_sys::mlirOperationMoveBefore;

/// The callee of the placeholder call that marks where the loop body goes.
const BODY_MARKER: &str = "fuser_loop_body";

/// How one loop of static trip counts `extents` is laid out on the GPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoopLayout {
    /// Per dimension: threads per block along it (1 for a sequential dimension).
    pub threads: Vec<i64>,
    /// Per dimension: the hardware axis it is mapped to (0 = x, 1 = y, 2 = z), or
    /// `None` for a dimension each thread walks sequentially.
    pub axis: Vec<Option<usize>>,
}

/// Threads a block may have along x, y and z (CUDA and HIP alike).
const AXIS_LIMITS: [i64; 3] = [1024, 1024, 64];

/// The innermost (up to) three dimensions of more than one iteration go to x, y and z,
/// innermost first; the innermost takes as many threads as it has iterations (up to
/// `max_threads` and the axis' limit), the next ones what is left of the budget. Unit
/// dimensions take no axis.
pub fn layout(extents: &[i64], max_threads: i64) -> LoopLayout {
    let rank = extents.len();
    let mut threads = vec![1; rank];
    let mut axis = vec![None; rank];
    let mut budget = max_threads.max(1);
    let mut next = 0;
    for d in (0..rank).rev() {
        if next == 3 {
            break;
        }
        if extents[d] <= 1 {
            continue;
        }
        let t = extents[d].clamp(1, budget.min(AXIS_LIMITS[next]));
        threads[d] = t;
        axis[d] = Some(next);
        budget = (budget / t).max(1);
        next += 1;
    }
    // A loop of one iteration still needs one thread.
    if next == 0 && rank > 0 {
        axis[rank - 1] = Some(0);
    }
    LoopLayout { threads, axis }
}

/// Blocks along each hardware axis the grid may have.
const GRID_LIMITS: [i64; 3] = [i32::MAX as i64, 65535, 65535];

/// The names of the hardware axes.
const AXES: [&str; 3] = ["x", "y", "z"];

fn mapping(processor: &str) -> String {
    format!("#gpu.loop_dim_map<processor = {processor}, map = (d0) -> (d0), bound = (d0) -> (d0)>")
}

/// The template replacing a loop of trip counts `extents`: a function whose body is one
/// `scf.execute_region` holding the constants and the two-level loop, with a call of
/// `BODY_MARKER` on the global indices (canonicalization inlines the region later).
fn template(extents: &[i64], layout: &LoopLayout) -> String {
    let rank = extents.len();
    let mapped: Vec<usize> = (0..rank).filter(|&d| layout.axis[d].is_some()).collect();
    let axis = |d: usize| AXES[layout.axis[d].expect("a mapped dimension")];
    let mut t = String::new();
    t.push_str(&format!(
        "func.func private @{BODY_MARKER}({})\n",
        vec!["index"; rank].join(", ")
    ));
    // One op (the region) holds everything, so that one clone carries its own constants.
    t.push_str("func.func @tiled() {\n scf.execute_region {\n  %c0 = arith.constant 0 : index\n  %c1 = arith.constant 1 : index\n");
    let mut grid = Vec::new();
    for (d, &extent) in extents.iter().enumerate() {
        let blocks = if layout.axis[d].is_some() {
            (extent + layout.threads[d] - 1) / layout.threads[d]
        } else {
            extent
        };
        t.push_str(&format!("  %grid{d} = arith.constant {blocks} : index\n"));
        grid.push(format!("%grid{d}"));
    }
    for &d in &mapped {
        t.push_str(&format!(
            "  %threads{d} = arith.constant {} : index\n  %extent{d} = arith.constant {} : index\n",
            layout.threads[d], extents[d]
        ));
    }
    let ivs = |prefix: &str, dims: &[usize]| -> String {
        dims.iter()
            .map(|d| format!("%{prefix}{d}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let all: Vec<usize> = (0..rank).collect();
    let zeros = |n: usize| vec!["%c0"; n].join(", ");
    let ones = |n: usize| vec!["%c1"; n].join(", ");
    t.push_str(&format!(
        "  scf.parallel ({}) = ({}) to ({}) step ({}) {{\n",
        ivs("b", &all),
        zeros(rank),
        grid.join(", "),
        ones(rank)
    ));
    t.push_str(&format!(
        "    scf.parallel ({}) = ({}) to ({}) step ({}) {{\n",
        ivs("t", &mapped),
        zeros(mapped.len()),
        ivs("threads", &mapped),
        ones(mapped.len())
    ));
    let mut indices = Vec::new();
    let mut conditions = Vec::new();
    for d in 0..rank {
        if layout.axis[d].is_some() {
            t.push_str(&format!(
                "      %base{d} = arith.muli %b{d}, %threads{d} : index\n      %i{d} = arith.addi %base{d}, %t{d} : index\n      %in{d} = arith.cmpi ult, %i{d}, %extent{d} : index\n"
            ));
            indices.push(format!("%i{d}"));
            conditions.push(format!("%in{d}"));
        } else {
            indices.push(format!("%b{d}"));
        }
    }
    let mut all_in = conditions[0].clone();
    for (k, c) in conditions.iter().enumerate().skip(1) {
        t.push_str(&format!("      %all{k} = arith.andi {all_in}, {c} : i1\n"));
        all_in = format!("%all{k}");
    }
    t.push_str(&format!(
        "      scf.if {all_in} {{\n        func.call @{BODY_MARKER}({}) : ({}) -> ()\n      }}\n      scf.reduce\n",
        indices.join(", "),
        vec!["index"; rank].join(", ")
    ));
    let thread_maps: Vec<String> = mapped
        .iter()
        .map(|&d| mapping(&format!("thread_{}", axis(d))))
        .collect();
    let block_maps: Vec<String> = (0..rank)
        .map(|d| {
            if layout.axis[d].is_some() {
                mapping(&format!("block_{}", axis(d)))
            } else {
                mapping("sequential")
            }
        })
        .collect();
    t.push_str(&format!("    }} {{mapping = [{}]}}\n", thread_maps.join(", ")));
    t.push_str("    scf.reduce\n");
    t.push_str(&format!(
        "  }} {{mapping = [{}]}}\n  scf.yield\n }}\n return\n}}\n",
        block_maps.join(", ")
    ));
    t
}

/// The constant value of operand `index` of `op`, when an `arith.constant` defines it.
fn constant_operand(op: OperationRef, index: usize) -> Option<i64> {
    let value = op.operand(index).ok()?;
    let result = OperationResult::try_from(value).ok()?;
    let owner = result.owner();
    if op_name(&owner) != "arith.constant" {
        return None;
    }
    IntegerAttribute::try_from(owner.attribute("value").ok()?)
        .ok()
        .map(|a| a.value())
}

/// Why a loop could not be mapped, at its location.
pub struct MapError<'c> {
    pub location: Location<'c>,
    pub message: String,
}

/// The trip counts of `parallel`: it must start at 0, step by 1, end at constants and
/// carry no reductions (what `convert-linalg-to-parallel-loops` gives for static shapes).
fn extents(parallel: OperationRef) -> Result<Vec<i64>, String> {
    let body = parallel
        .region(0)
        .ok()
        .and_then(|r| r.first_block())
        .ok_or("a loop without a body")?;
    let rank = body.argument_count();
    if parallel.operand_count() != 3 * rank || parallel.result_count() != 0 {
        return Err("a parallel loop with reductions has no GPU mapping yet".into());
    }
    let mut extents = Vec::new();
    for d in 0..rank {
        let lower = constant_operand(parallel, d);
        let upper = constant_operand(parallel, rank + d);
        let step = constant_operand(parallel, 2 * rank + d);
        match (lower, upper, step) {
            (Some(0), Some(upper), Some(1)) => extents.push(upper),
            _ => return Err("the GPU mapping needs loops from 0 to a constant by 1 (static shapes)".into()),
        }
    }
    Ok(extents)
}

/// Whether `op` sits inside another `scf.parallel`.
fn is_nested(op: OperationRef) -> bool {
    let mut current = op.parent_operation();
    while let Some(parent) = current {
        if op_name(&parent) == "scf.parallel" {
            return true;
        }
        current = parent.parent_operation();
    }
    false
}

/// Rewrites every outermost `scf.parallel` under `root` into a mapped grid of blocks
/// of at most `max_threads` threads. Stops at the first loop that cannot be mapped.
pub fn tile_parallel_loops<'c>(root: OperationRef<'c, '_>, max_threads: i64) -> Result<usize, MapError<'c>> {
    let loops: Vec<OperationRef> = nested_operations(root)
        .into_iter()
        .filter(|op| op_name(op) == "scf.parallel" && !is_nested(*op))
        .collect();
    let count = loops.len();
    for parallel in loops {
        let fail = |message: String| MapError {
            location: parallel.location(),
            message,
        };
        let extents = extents(parallel).map_err(fail)?;
        let layout = layout(&extents, max_threads);
        for (d, axis) in layout.axis.iter().enumerate() {
            if let Some(a) = *axis {
                let blocks = (extents[d] + layout.threads[d] - 1) / layout.threads[d];
                if blocks > GRID_LIMITS[a] {
                    return Err(fail(format!(
                        "a loop dimension of {} iterations needs {blocks} blocks along {}, more than a grid has",
                        extents[d], AXES[a]
                    )));
                }
            }
        }
        let text = template(&extents, &layout);
        let parsed = parse_in(parallel.context(), &text)
            .ok_or_else(|| fail(format!("internal error: the loop template does not parse:\n{text}")))?;
        let function = entry_block_operations(parsed.as_operation())
            .into_iter()
            .find(|op| op.attribute("sym_name").is_ok_and(|a| a.to_string() == "\"tiled\""))
            .ok_or_else(|| fail("internal error: the loop template has no function".into()))?;
        let mut marker = None;
        for op in entry_block_operations(function) {
            if op_name(&op) == "func.return" {
                continue;
            }
            let clone = clone_before(op, parallel);
            marker = marker.or_else(|| {
                nested_operations(clone).into_iter().find(|inner| {
                    op_name(inner) == "func.call"
                        && inner
                            .attribute("callee")
                            .is_ok_and(|c| c.to_string() == format!("@{BODY_MARKER}"))
                })
            });
        }
        let marker = marker.ok_or_else(|| fail("internal error: the loop template lost its body marker".into()))?;
        let body = parallel
            .region(0)
            .ok()
            .and_then(|r| r.first_block())
            .ok_or_else(|| fail("a loop without a body".into()))?;
        for d in 0..body.argument_count() {
            let argument = body.argument(d).expect("argument in range");
            replace_all_uses(argument.into(), marker.operand(d).expect("marker operand"));
        }
        let mut moving = Vec::new();
        let mut current = body.first_operation();
        while let Some(op) = current {
            current = op.next_in_block();
            if op_name(&op) != "scf.reduce" {
                moving.push(op);
            }
        }
        for op in moving {
            // SAFETY: both ops are alive; the marker's block takes ownership of `op`.
            unsafe { mlirOperationMoveBefore(op.to_raw(), marker.to_raw()) }
        }
        erase_operation(marker);
        erase_operation(parallel);
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn innermost_dimensions_take_the_threads() {
        let l = layout(&[1, 64, 28, 28], 256);
        assert_eq!(l.threads, vec![1, 1, 9, 28]);
        assert_eq!(l.axis, vec![None, Some(2), Some(1), Some(0)]);
        let l = layout(&[1000], 256);
        assert_eq!((l.threads, l.axis), (vec![256], vec![Some(0)]));
        let l = layout(&[3, 2], 256);
        assert_eq!(l.threads, vec![3, 2]);
        // Unit dimensions take no axis: a pooled [1, 2048, 1, 1] maps its channels to x.
        let l = layout(&[1, 2048, 1, 1], 256);
        assert_eq!(
            (l.threads, l.axis),
            (vec![1, 256, 1, 1], vec![None, Some(0), None, None])
        );
        // z has at most 64 threads.
        let l = layout(&[512, 2, 2], 1024);
        assert_eq!(l.threads, vec![64, 2, 2]);
        // One iteration in all: one thread.
        let l = layout(&[1, 1], 256);
        assert_eq!((l.threads, l.axis), (vec![1, 1], vec![None, Some(0)]));
    }

    #[test]
    fn the_template_guards_every_mapped_dimension() {
        let extents = [2, 64, 28, 28];
        let text = template(&extents, &layout(&extents, 256));
        // Blocks: the sequential outer dimension keeps its extent, the others are
        // ceil(extent / threads).
        for line in [
            "%grid0 = arith.constant 2 : index",
            "%grid1 = arith.constant 64 : index",
            "%grid2 = arith.constant 4 : index",
            "%grid3 = arith.constant 1 : index",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
        assert!(text.contains("%in1 = arith.cmpi ult, %i1, %extent1"));
        assert!(text.contains("processor = thread_x"));
        assert!(text.contains("processor = sequential"));
        assert!(text.contains("func.call @fuser_loop_body(%b0, %i1, %i2, %i3)"));
    }
}
