//! Weights into the module: each `graph.weight` becomes an `arith.constant` holding its
//! bytes, so that bufferization turns it into a read-only global of the compiled code.

use fuser_dialects::{
    accessors::op_name,
    constants::{tensor_attribute_in, tensor_bytes},
    eval::Weights,
    ffi::{dense_from_bytes, erase_operation, make, nested_operations, replace_all_uses},
    semantics::DType,
};
use melior::ir::{
    BlockLike, OperationRef, ValueLike,
    attribute::StringAttribute,
    operation::{OperationBuilder, OperationLike},
};

/// Replaces every `graph.weight` under `root` with a constant of its data. Fails with
/// the name of a weight that has no data, or whose data does not fit its type.
pub fn materialize_weights(root: OperationRef, weights: &Weights) -> Result<(), String> {
    materialize_weights_as(root, weights, "arith.constant")
}

/// Like [`materialize_weights`], as `constant_op` (`arith.constant`, or `graph.constant`
/// for graph-level passes that evaluate the model).
pub fn materialize_weights_as(root: OperationRef, weights: &Weights, constant_op: &str) -> Result<(), String> {
    for op in nested_operations(root) {
        if op_name(&op) != "graph.weight" {
            continue;
        }
        let context = op.context();
        let name = op
            .attribute("name")
            .ok()
            .and_then(|a| StringAttribute::try_from(a).ok())
            .map(fuser_dialects::ffi::string_value)
            .ok_or("a graph.weight has no name")?;
        let tensor = weights
            .get(&name)
            .ok_or_else(|| format!("weight '{name}' has no data"))?;
        let ty = op.result(0).map_err(|_| "graph.weight without a result")?.r#type();
        // Booleans are one byte each in the tensor but one bit in MLIR's raw layout.
        let value = if tensor.dtype == DType::Bool {
            tensor_attribute_in(context, tensor)
        } else {
            dense_from_bytes(ty, &tensor_bytes(tensor))
        }
        .ok_or_else(|| format!("weight '{name}' does not match its type"))?;
        let constant = OperationBuilder::new(constant_op, op.location())
            .add_attributes(&[(make::identifier(context, "value"), value)])
            .add_results(&[ty])
            .build()
            .map_err(|e| e.to_string())?;
        let block = op.block().ok_or("graph.weight outside a block")?;
        let new = block.insert_operation_before(op, constant);
        replace_all_uses(
            op.result(0).map_err(|e| e.to_string())?.into(),
            new.result(0).map_err(|e| e.to_string())?.into(),
        );
        erase_operation(op);
    }
    Ok(())
}
