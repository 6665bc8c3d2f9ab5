//! The general static shape check: every graph op's declared result types must agree with
//! what its inference (`crate::semantics`) derives from the operand types and constant
//! operands, wherever both are known. The hand-written rules in `shapes.rs` run first and
//! give the more specific messages for the common ops.

use super::OpView;
use crate::{
    accessors::{op_name, operand_group, result_group},
    eval::op_attrs,
    ffi::{dense_to_tensor, tensor_info},
    semantics::{self, DType, Known, SemError, TypeInfo},
};
use melior::ir::{
    Value, ValueLike,
    operation::{OperationLike, OperationResult},
};

fn type_info(value: Value) -> Option<TypeInfo> {
    let info = tensor_info(value.r#type())?;
    Some(TypeInfo::new(DType::from_mlir(&info.element)?, info.shape))
}

fn constant(value: Value) -> Option<semantics::Tensor> {
    let owner = OperationResult::try_from(value).ok()?.owner();
    (op_name(&owner) == "graph.constant")
        .then(|| owner.attribute("value").ok().and_then(dense_to_tensor))
        .flatten()
}

pub(super) fn check(view: &OpView) -> Result<(), String> {
    if !view.name.starts_with("graph.") || view.name == "graph.weight" {
        return Ok(());
    }
    let Ok(attrs) = op_attrs(&view.op) else { return Ok(()) };
    let mut knowns = Vec::new();
    for slot in 0..view.spec.operands.len() {
        knowns.push(match operand_group(&view.op, view.spec, slot).first() {
            Some(v) => match type_info(*v) {
                Some(info) => Some(Known {
                    info,
                    value: constant(*v),
                }),
                None => return Ok(()),
            },
            None => None,
        });
    }
    let inferred = match semantics::infer(&view.name, &attrs, &knowns) {
        Ok(i) => i,
        // What inference cannot type is left to the other checks.
        Err(SemError::Unsupported(_)) => return Ok(()),
        Err(SemError::Invalid(message)) => return Err(message),
    };
    let families = view.spec.results.iter().any(|s| s.name.ends_with("_0"));
    let mut actual: Vec<Option<Value>> = Vec::new();
    for slot in 0..view.spec.results.len() {
        let group = result_group(&view.op, view.spec, slot);
        if families {
            actual.extend(group.into_iter().map(Some));
        } else {
            actual.push(group.first().copied());
        }
    }
    for (index, (expected, value)) in inferred.iter().zip(actual).enumerate() {
        let Some(value) = value else { continue };
        let Some(declared) = type_info(value) else { continue };
        let conflict = declared.rank() != expected.rank()
            || declared
                .shape
                .iter()
                .zip(&expected.shape)
                .any(|(d, e)| matches!((d, e), (Some(d), Some(e)) if d != e));
        if conflict {
            return Err(format!(
                "result #{index} has type {}, but the operands give {}",
                declared.mlir(),
                expected.mlir()
            ));
        }
    }
    Ok(())
}
