//! Value specialization for the JIT. The CPU backend compiles static shapes, and some
//! lowerings need constant operands (reduction axes, a CumSum axis). When a model
//! computes shapes or axes from the *values* of its inputs (a Reshape whose shape is an
//! input, a ReduceSum whose axes are), no static compile exists. `fuser run` knows those
//! values, so it compiles for them: each small input (integers up to
//! [`MAX_SPECIALIZED_ELEMENTS`], others up to [`MAX_SPECIALIZED_OTHER_ELEMENTS`]) becomes a constant, the
//! Graph phase folds what depends on it, and the code it gets is valid for those values
//! only. The entry keeps its signature (the specialized inputs are still passed, and
//! ignored), so callers run it like any other model; they must not reuse it for other
//! values (`Specialized::matches`).

use crate::cpu_target::entry_and_block;
use crate::cpu_target::{CpuError, CpuRequest, compile_cpu_with};
use fuser_dialects::{
    constants::tensor_attribute_in,
    eval::Tensor,
    ffi::{clone_operation, make, replace_all_uses},
    semantics::DType,
};
use fuser_lowering::JitModel;
use melior::{
    Context,
    ir::{
        BlockLike, Module,
        attribute::AttributeLike,
        operation::{OperationBuilder, OperationLike},
    },
};

/// Integer inputs up to this many elements are specialized (shape and axes operands are
/// small; index tensors of real models are not specialized unless they are too).
pub const MAX_SPECIALIZED_ELEMENTS: usize = 1024;
/// Inputs of other types up to this many elements are specialized too.
pub const MAX_SPECIALIZED_OTHER_ELEMENTS: usize = 16;

/// The inputs a compiled model was specialized on: (input index, value).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Specialized(pub Vec<(usize, Tensor)>);

impl Specialized {
    /// Whether `inputs` carry the values the code was compiled for.
    pub fn matches(&self, inputs: &[Tensor]) -> bool {
        self.0.iter().all(|(i, value)| inputs.get(*i) == Some(value))
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Whether specializing on input values can lift this refusal.
pub fn lifted_by_values(error: &CpuError) -> bool {
    error.unsupported
        && (error.message.contains("needs static shapes") || error.message.contains("must be a constant to lower"))
}

fn specializable(tensor: &Tensor) -> bool {
    match tensor.dtype {
        DType::I64 | DType::I32 => tensor.len() <= MAX_SPECIALIZED_ELEMENTS,
        // Resize scales, Pad values, Range bounds: a handful of values.
        _ => tensor.len() <= MAX_SPECIALIZED_OTHER_ELEMENTS,
    }
}

/// Replaces the uses of each small input of `function` by a constant holding
/// its value in `inputs`. Returns what was specialized.
pub fn specialize(module: &Module, function: &str, inputs: &[Tensor]) -> Result<Specialized, String> {
    let (entry, block) = entry_and_block(module, function)?;
    let context = entry.context();
    let mut specialized = Vec::new();
    for (index, tensor) in inputs.iter().enumerate() {
        if !specializable(tensor) || index >= block.argument_count() {
            continue;
        }
        let argument = block.argument(index).map_err(|e| e.to_string())?;
        let value = tensor_attribute_in(context, tensor).ok_or("an input value that is not a constant")?;
        let constant = OperationBuilder::new("graph.constant", entry.location())
            .add_attributes(&[(make::identifier(context, "value"), value)])
            .add_results(&[value.r#type()])
            .build()
            .map_err(|e| e.to_string())?;
        let constant = match block.first_operation() {
            Some(first) => block.insert_operation_before(first, constant),
            None => block.append_operation(constant),
        };
        replace_all_uses(argument.into(), constant.result(0).map_err(|e| e.to_string())?.into());
        specialized.push((index, tensor.clone()));
    }
    Ok(Specialized(specialized))
}

/// Compiles `module` as `request` asks; if that is refused because shapes or axes
/// depend on input values, compiles it again (from the module as it was) specialized
/// on the values of `inputs`. The module is lowered in place either way.
pub fn compile_cpu_for_inputs(
    context: &Context,
    module: &mut Module,
    request: &CpuRequest,
    inputs: &[Tensor],
) -> Result<(JitModel, Vec<String>, Specialized), CpuError> {
    // The module as it was, for a second compile: kept only when one could happen.
    let original = inputs
        .iter()
        .any(specializable)
        .then(|| clone_operation(module.as_operation()));
    match compile_cpu_with(context, module, request) {
        Err(error) if lifted_by_values(&error) && original.is_some() => {
            let Some(mut fresh) = original.and_then(Module::from_operation) else {
                return Err(error);
            };
            let specialized = specialize(&fresh, request.function, inputs).map_err(|e| CpuError {
                message: e,
                unsupported: false,
            })?;
            let (model, names) = compile_cpu_with(context, &mut fresh, request)?;
            *module = fresh;
            Ok((model, names, specialized))
        }
        other => other.map(|(model, names)| (model, names, Specialized::default())),
    }
}
