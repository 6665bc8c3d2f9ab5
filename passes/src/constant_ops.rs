//! Building `graph.constant` ops in passes that compute new constant values.

use fuser_dialects::{
    constants::tensor_attribute_in,
    ffi::{make, parse_type},
    semantics::{Tensor, TypeInfo},
};
use melior::ir::{
    BlockLike, OperationRef, Value,
    operation::{OperationBuilder, OperationLike},
};

/// A `graph.constant` holding `tensor`, inserted before `before`.
pub fn insert_constant<'c, 'a>(before: OperationRef<'c, 'a>, tensor: &Tensor) -> Option<Value<'c, 'a>> {
    let context = before.context();
    let value = tensor_attribute_in(context, tensor)?;
    let ty = parse_type(context, &TypeInfo::fixed(tensor.dtype, tensor.shape()).mlir())?;
    let op = OperationBuilder::new("graph.constant", before.location())
        .add_attributes(&[(make::identifier(context, "value"), value)])
        .add_results(&[ty])
        .build()
        .ok()?;
    let op = before.block()?.insert_operation_before(before, op);
    op.result(0).ok().map(Into::into)
}
