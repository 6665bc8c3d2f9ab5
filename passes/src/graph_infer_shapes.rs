//! `graph-infer-shapes`: refines `?` dims of graph op results with the graph ops'
//! inference (the same functions the importer and the evaluator use), and the result
//! types of the functions that return them.

use crate::{
    graph_fold_constants::constant_value,
    registry::{PassId, PassInfo, PassOptions, external_pass},
};
use fuser_dialects::{
    accessors::{op_name, operand_group},
    eval::op_attrs,
    ffi::{function_type, nested_operations, parse_type, set_attribute, tensor_info},
    semantics::{self, DType, Known, TypeInfo},
    spec::find_op,
};
use melior::{
    ir::{
        OperationRef, RegionLike, Type, ValueLike, attribute::TypeAttribute, block::BlockLike, operation::OperationLike,
    },
    pass::{ExternalPass, Pass},
};

static GRAPH_INFER_SHAPES_PASS_ID: PassId = PassId;

pub const INFO: PassInfo = PassInfo {
    flag: "graph-infer-shapes",
    type_name: "GraphInferShapesPass",
    summary: "Refine dynamic dims of graph op results, and function result types",
    description: r#"Walks each function in order and infers every graph op's result types from its
operands' types and constant values. A dim that is `?` and inferred static becomes static;
a known dim is never changed (a conflict is left to the verifier). Function result types
follow the refined values they return.

Before:
```mlir
func.func @f(%x: tensor<2x3xf32>) -> tensor<?x?xf32> {
  %0 = "graph.relu"(%x) : (tensor<2x3xf32>) -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}
```
After:
```mlir
func.func @f(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = "graph.relu"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}
```"#,
    options: &[],
    create,
};

fn create(_options: &PassOptions) -> Result<Pass, String> {
    Ok(external_pass(
        &GRAPH_INFER_SHAPES_PASS_ID,
        &INFO,
        |op: OperationRef, _pass: ExternalPass| {
            infer_shapes(op);
        },
    ))
}

fn type_info(ty: Type) -> Option<TypeInfo> {
    let info = tensor_info(ty)?;
    Some(TypeInfo::new(DType::from_mlir(&info.element)?, info.shape))
}

/// `current` with its dynamic dims filled from `inferred` when the ranks and dtypes agree.
fn refine(current: &TypeInfo, inferred: &TypeInfo) -> Option<TypeInfo> {
    if current.rank() != inferred.rank() || current.dtype != inferred.dtype {
        return None;
    }
    let shape: Vec<Option<i64>> = current
        .shape
        .iter()
        .zip(&inferred.shape)
        .map(|(c, i)| c.or(*i))
        .collect();
    (shape != current.shape).then(|| TypeInfo::new(current.dtype, shape))
}

/// Refines result types under `root`; returns the number of values refined.
pub fn infer_shapes(root: OperationRef) -> usize {
    let mut refined = 0;
    for op in nested_operations(root) {
        let name = op_name(&op);
        let Some(spec) = find_op(&name).filter(|_| name.starts_with("graph.")) else {
            continue;
        };
        let Ok(attrs) = op_attrs(&op) else { continue };
        let mut knowns = Vec::new();
        let mut complete = true;
        for slot in 0..spec.operands.len() {
            knowns.push(match operand_group(&op, spec, slot).first() {
                Some(v) => match type_info(v.r#type()) {
                    Some(info) => Some(Known {
                        info,
                        value: constant_value(*v),
                    }),
                    None => {
                        complete = false;
                        None
                    }
                },
                None => None,
            });
        }
        if !complete {
            continue;
        }
        let Ok(inferred) = semantics::infer(&name, &attrs, &knowns) else {
            continue;
        };
        // Optional result slots the op does not carry are skipped by slot.
        let mut result_index = 0;
        for (slot, info) in inferred.iter().enumerate() {
            let present = if spec.results.iter().any(|s| s.name.ends_with("_0")) || spec.results.len() <= 1 {
                result_index < op.result_count()
            } else {
                !fuser_dialects::accessors::result_group(&op, spec, slot).is_empty()
            };
            if !present {
                continue;
            }
            let Ok(result) = op.result(result_index) else { break };
            result_index += 1;
            let Some(current) = type_info(result.r#type()) else {
                continue;
            };
            if let Some(better) = refine(&current, info)
                && let Some(ty) = parse_type(op.location().context(), &better.mlir())
            {
                result.set_type(ty);
                refined += 1;
            }
        }
    }
    update_function_types(root);
    refined
}

/// Sets each function's result types to the types it returns.
fn update_function_types(root: OperationRef) {
    for f in nested_operations(root) {
        if op_name(&f) != "func.func" {
            continue;
        }
        let Some(block) = f.region(0).ok().and_then(|r| r.first_block()) else {
            continue;
        };
        let Some(ret) = block.terminator() else { continue };
        let inputs: Vec<Type> = (0..block.argument_count())
            .filter_map(|i| block.argument(i).ok().map(|a| a.r#type()))
            .collect();
        let results: Vec<Type> = ret.operands().map(|v| v.r#type()).collect();
        let ty = function_type(f.location().context(), &inputs, &results);
        set_attribute(f, "function_type", TypeAttribute::new(ty).into());
    }
}
