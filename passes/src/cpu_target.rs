//! The CPU target: a model module through every compilation phase to the llvm dialect,
//! then into the JIT (`fuser run --target cpu`, conformance, tests).

use crate::phases::{Phase, PhaseError, run_phases};
use fuser_dialects::{
    eval::{Weights, describe_location, find_function},
    ffi::{make, parse_type, set_attribute, tensor_info},
    semantics::{DType, TypeInfo},
};
use fuser_lowering::{JitModel, materialize_weights};
use melior::{
    Context,
    ir::{
        BlockLike, Module, RegionLike, Type, ValueLike, attribute::TypeAttribute, operation::OperationLike,
        r#type::FunctionType,
    },
};
use std::{cell::RefCell, rc::Rc};

/// Why a model did not compile for the CPU. `unsupported` marks a refusal (an op or
/// attribute with no CPU lowering yet), as opposed to a failure.
#[derive(Debug)]
pub struct CpuError {
    pub message: String,
    pub unsupported: bool,
}

impl CpuError {
    fn failed(message: impl Into<String>) -> Self {
        CpuError {
            message: message.into(),
            unsupported: false,
        }
    }
}

/// The input and result types of function `name`.
pub fn signature_types(module: &Module, name: &str) -> Result<(Vec<TypeInfo>, Vec<TypeInfo>), String> {
    let function = find_function(module.as_operation(), name).ok_or_else(|| format!("no function '{name}'"))?;
    let ty: Type = function
        .attribute("function_type")
        .ok()
        .and_then(|a| TypeAttribute::try_from(a).ok())
        .map(|t| t.value())
        .ok_or("a function without a type")?;
    let ty = FunctionType::try_from(ty).map_err(|_| "a function type that is not one")?;
    let info = |t: Type| -> Result<TypeInfo, String> {
        let i = tensor_info(t).ok_or_else(|| format!("{t} is not a ranked tensor"))?;
        let dtype = DType::from_mlir(&i.element).ok_or_else(|| format!("element type {}", i.element))?;
        Ok(TypeInfo::new(dtype, i.shape))
    };
    let inputs = (0..ty.input_count())
        .map(|i| info(ty.input(i).expect("input")))
        .collect::<Result<_, _>>()?;
    let results = (0..ty.result_count())
        .map(|i| info(ty.result(i).expect("result")))
        .collect::<Result<_, _>>()?;
    Ok((inputs, results))
}

/// Gives the entry's dynamic inputs the static shapes of the inputs it will run on; the
/// Graph phase then infers every other shape from them.
fn specialize_inputs(module: &Module, function: &str, shapes: &[Vec<usize>]) -> Result<(), String> {
    let entry = find_function(module.as_operation(), function).ok_or_else(|| format!("no function '{function}'"))?;
    let block = entry
        .region(0)
        .ok()
        .and_then(|r| r.first_block())
        .ok_or("an entry function without a body")?;
    if block.argument_count() != shapes.len() {
        return Err(format!(
            "the model takes {} inputs, {} were given",
            block.argument_count(),
            shapes.len()
        ));
    }
    for (i, shape) in shapes.iter().enumerate() {
        let argument = block.argument(i).map_err(|e| e.to_string())?;
        let info = tensor_info(argument.r#type()).ok_or("an input that is not a ranked tensor")?;
        if info.static_shape().is_some() {
            continue;
        }
        let fits = info.shape.len() == shape.len()
            && info
                .shape
                .iter()
                .zip(shape)
                .all(|(d, &s)| d.is_none_or(|d| d == s as i64));
        if !fits {
            return Err(format!(
                "input {i} has shape {shape:?}, which does not fit the model's {:?}",
                info.shape
            ));
        }
        let dims: Vec<String> = shape
            .iter()
            .map(|d| d.to_string())
            .chain([info.element.clone()])
            .collect();
        let ty = parse_type(entry.context(), &format!("tensor<{}>", dims.join("x")))
            .ok_or("an input type that does not parse")?;
        argument.set_type(ty);
    }
    Ok(())
}

/// Compiles `module` (whose entry is `function`) for the host CPU and loads it into the
/// JIT. The module is lowered in place. `input_shapes`, when given, fix the dims that the
/// model leaves dynamic (the shapes of the inputs it is about to run on).
pub fn compile_cpu(
    context: &Context,
    module: &mut Module,
    function: &str,
    weights: &Weights,
    input_shapes: Option<&[Vec<usize>]>,
) -> Result<JitModel, CpuError> {
    if let Some(shapes) = input_shapes {
        specialize_inputs(module, function, shapes).map_err(CpuError::failed)?;
    }
    let messages: Rc<RefCell<Vec<String>>> = Rc::default();
    let store = messages.clone();
    let handler = context.attach_diagnostic_handler(move |diagnostic| {
        let place = describe_location(diagnostic.location())
            .map(|p| format!("{p}: "))
            .unwrap_or_default();
        store.borrow_mut().push(format!("{place}{diagnostic}"));
        true
    });
    let result = compile_with(context, module, function, weights, &messages);
    context.detach_diagnostic_handler(handler);
    result
}

fn compile_with(
    context: &Context,
    module: &mut Module,
    function: &str,
    weights: &Weights,
    messages: &Rc<RefCell<Vec<String>>>,
) -> Result<JitModel, CpuError> {
    materialize_weights(module.as_operation(), weights).map_err(CpuError::failed)?;
    run_phases(context, module, None, Phase::Graph).map_err(|e| phase_error(e, messages))?;
    let (inputs, outputs) = signature_types(module, function).map_err(CpuError::failed)?;
    if let Some(dynamic) = inputs.iter().chain(&outputs).find(|t| t.static_shape().is_none()) {
        return Err(CpuError {
            message: format!(
                "--target cpu needs static shapes, and the model has {}; fix dims with --shape NAME=DIMS",
                dynamic.mlir()
            ),
            unsupported: true,
        });
    }
    run_phases(context, module, Some(Phase::Graph), Phase::Bufferized).map_err(|e| phase_error(e, messages))?;
    // The C API's JIT invokes `_mlir_ciface_<name>`; with bare pointers MLIR makes no
    // such wrapper, so the entry itself takes that name (after kernels were named after it).
    let entry = find_function(module.as_operation(), function).ok_or_else(|| CpuError::failed("no entry function"))?;
    set_attribute(
        entry,
        "sym_name",
        make::string(entry.context(), &format!("_mlir_ciface_{function}")),
    );
    run_phases(context, module, Some(Phase::Bufferized), Phase::Llvm).map_err(|e| phase_error(e, messages))?;
    JitModel::new(module, function, inputs, outputs).map_err(|e| {
        let details = messages.borrow().join("\n");
        CpuError::failed(if details.is_empty() {
            e.to_string()
        } else {
            format!("{details}\n({e})")
        })
    })
}

fn phase_error(error: PhaseError, messages: &Rc<RefCell<Vec<String>>>) -> CpuError {
    let details = messages.borrow().join("\n");
    let refused = matches!(error, PhaseError::Failed(Phase::Linalg)) && !details.contains("internal error");
    CpuError {
        message: if details.is_empty() {
            error.to_string()
        } else {
            format!("{details}\n({error})")
        },
        unsupported: refused,
    }
}
