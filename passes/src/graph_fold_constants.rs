//! `graph-fold-constants`: evaluates graph ops whose operands are all constant, with the
//! reference evaluator's semantics, and replaces them by `graph.constant`. `graph.shape`
//! of a statically shaped tensor folds too. Folding and execution share one semantics.

use crate::registry::{PassId, PassInfo, PassOptionInfo, PassOptions, external_pass};
use fuser_dialects::{
    accessors::{op_name, operand_group},
    constants::tensor_attribute_in,
    eval::op_attrs,
    ffi::{erase_operation, make, nested_operations, parse_type, replace_all_uses, tensor_info},
    semantics::{self, Tensor, TypeInfo},
    spec::find_op,
};
use melior::{
    ContextRef,
    ir::{
        OperationRef, Type, Value, ValueLike,
        block::BlockLike,
        operation::{OperationBuilder, OperationLike},
    },
    pass::{ExternalPass, Pass},
};

static GRAPH_FOLD_CONSTANTS_PASS_ID: PassId = PassId;

pub const INFO: PassInfo = PassInfo {
    flag: "graph-fold-constants",
    type_name: "GraphFoldConstantsPass",
    summary: "Evaluate graph ops whose operands are all constant, and graph.shape of static tensors",
    description: r#"Replaces each graph op whose operands are all `graph.constant` by constants holding
its results, computed by the reference evaluator (so folding and execution agree). A
`graph.shape` of a statically shaped tensor folds whatever its operand. Results larger than
`max-elements` are left alone; a result whose elements are all equal is a splat and always
folds. Graph ops left dead are erased.

Before:
```mlir
%s = "graph.shape"(%x) {end = 2 : i64, start = 0 : i64} : (tensor<2x3xf32>) -> tensor<2xi64>
%c = "graph.constant"() {value = dense<2> : tensor<2xi64>} : () -> tensor<2xi64>
%m = "graph.mul"(%s, %c) : (tensor<2xi64>, tensor<2xi64>) -> tensor<2xi64>
```
After:
```mlir
%m = "graph.constant"() {value = dense<[4, 6]> : tensor<2xi64>} : () -> tensor<2xi64>
```"#,
    options: &[
        PassOptionInfo {
            name: "max-elements",
            default: "65536",
            help: "fold only results with at most this many elements (splats always fold)",
        },
        PassOptionInfo {
            name: "infer-shapes",
            default: "false",
            help: "alternate with graph-infer-shapes until nothing more folds (a folded shape operand makes more shapes static, which makes more graph.shape ops fold)",
        },
    ],
    create,
};

/// Rounds of inference and folding at most, with `infer-shapes`.
const MAX_ROUNDS: usize = 32;

fn create(options: &PassOptions) -> Result<Pass, String> {
    let max_elements: usize = match options.get("max-elements") {
        Some(v) => v
            .parse()
            .map_err(|_| format!("pass 'graph-fold-constants': max-elements must be a count, got '{v}'"))?,
        None => 65536,
    };
    let with_shapes = match options.get("infer-shapes").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(v) => {
            return Err(format!(
                "pass 'graph-fold-constants': infer-shapes must be true or false, got '{v}'"
            ));
        }
    };
    Ok(external_pass(
        &GRAPH_FOLD_CONSTANTS_PASS_ID,
        &INFO,
        move |op: OperationRef, _pass: ExternalPass| {
            if !with_shapes {
                fold_constants(op, max_elements);
                return;
            }
            for _ in 0..MAX_ROUNDS {
                crate::graph_infer_shapes::infer_shapes(op);
                if fold_constants(op, max_elements) == 0 {
                    break;
                }
            }
        },
    ))
}

/// The constant value of `value`, if a `graph.constant` defines it.
pub use fuser_dialects::constants::graph_constant_value as constant_value;

/// The results of `op` if it can be folded.
fn fold(op: &OperationRef, max_elements: usize) -> Option<Vec<Tensor>> {
    let name = op_name(op);
    if !name.starts_with("graph.") || name == "graph.constant" || name == "graph.weight" {
        return None;
    }
    let spec = find_op(&name)?;
    let attrs = op_attrs(op).ok()?;
    if name == "graph.shape" {
        let info = tensor_info(op.operand(0).ok()?.r#type())?;
        let shape: Vec<usize> = info.static_shape()?.into_iter().map(|d| d as usize).collect();
        let dtype = fuser_dialects::semantics::DType::from_mlir(&info.element)?;
        let stand_in = Tensor::full(dtype, &shape, 0.0);
        return semantics::evaluate(&name, &attrs, &[Some(stand_in)]).ok();
    }
    let mut inputs = Vec::new();
    for slot in 0..spec.operands.len() {
        inputs.push(match operand_group(op, spec, slot).first() {
            Some(v) => Some(constant_value(*v)?),
            None => None,
        });
    }
    let outputs = semantics::evaluate(&name, &attrs, &inputs).ok()?;
    let splat = |t: &Tensor| {
        t.to_f64_vec()
            .windows(2)
            .all(|w| w[0] == w[1] || (w[0].is_nan() && w[1].is_nan()))
    };
    outputs
        .iter()
        .all(|t| t.len() <= max_elements || splat(t))
        .then_some(outputs)
}

/// Folds until nothing changes; returns the number of ops folded.
pub fn fold_constants(root: OperationRef, max_elements: usize) -> usize {
    let mut folded = 0;
    loop {
        let mut changed = false;
        for op in nested_operations(root) {
            let Some(outputs) = fold(&op, max_elements) else {
                continue;
            };
            let location = op.location();
            let context: ContextRef = location.context();
            let Some(block) = op.block() else { continue };
            let results: Vec<Value> = op.results().map(Into::into).collect();
            let mut replaced = true;
            for (result, tensor) in results.iter().zip(&outputs) {
                let Some(value) = tensor_attribute_in(context, tensor) else {
                    replaced = false;
                    break;
                };
                let ty: Type =
                    parse_type(context, &TypeInfo::fixed(tensor.dtype, tensor.shape()).mlir()).expect("type parses");
                // Keep the declared type: folding never changes types (graph-infer-shapes does).
                if result.r#type() != ty {
                    replaced = false;
                    break;
                }
                let constant = OperationBuilder::new("graph.constant", location)
                    .add_attributes(&[(make::identifier(context, "value"), value)])
                    .add_results(&[ty])
                    .build()
                    .expect("a valid constant");
                let constant = block.insert_operation_before(op, constant);
                replace_all_uses(*result, constant.result(0).expect("one result").into());
            }
            if replaced {
                // Only this op is erased, so the handles of the ops after it stay valid.
                erase_operation(op);
                folded += 1;
                changed = true;
            }
        }
        if !changed {
            crate::graph_simplify::eliminate_dead_graph_ops(root);
            return folded;
        }
    }
}
