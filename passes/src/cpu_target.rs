//! The CPU target: a model module through every compilation phase to the llvm dialect,
//! then into the JIT (`fuser run --target cpu`, conformance, tests).

use crate::{
    empty_boundaries::replace_empty_boundaries,
    phases::{Fusion, Phase, PhaseError, run_phases},
};
use fuser_dialects::{
    eval::{Weights, describe_location, find_function},
    ffi::{make, parse_attribute, parse_type, remove_attribute, set_attribute, tensor_info},
    semantics::{DType, TypeInfo},
};
use fuser_lowering::{JitModel, instrument_kernel_calls, materialize_weights};
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
    pub(crate) fn failed(message: impl Into<String>) -> Self {
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

/// The entry function `function` of `module` and its body block.
pub(crate) fn entry_and_block<'c, 'a>(
    module: &'a Module<'c>,
    function: &str,
) -> Result<(melior::ir::OperationRef<'c, 'a>, melior::ir::BlockRef<'c, 'a>), String> {
    let entry = find_function(module.as_operation(), function).ok_or_else(|| format!("no function '{function}'"))?;
    let block = entry
        .region(0)
        .ok()
        .and_then(|r| r.first_block())
        .ok_or("an entry function without a body")?;
    Ok((entry, block))
}

/// Gives the entry's dynamic inputs the static shapes of the inputs it will run on; the
/// Graph phase then infers every other shape from them.
fn specialize_inputs(module: &Module, function: &str, shapes: &[Vec<usize>]) -> Result<(), String> {
    let (entry, block) = entry_and_block(module, function)?;
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

/// What lowering for the CPU needs besides the module.
pub struct CpuRequest<'w> {
    /// The entry function.
    pub function: &'w str,
    pub weights: &'w Weights,
    /// Shapes for the entry's dynamic input dims (those of the inputs about to run).
    pub input_shapes: Option<&'w [Vec<usize>]>,
    /// The last phase to run.
    pub up_to: Phase,
    /// The entry's symbol in the llvm dialect: `_mlir_ciface_<function>` for the JIT
    /// (which invokes that name), the function's own name for libraries.
    pub entry_symbol: String,
    /// Time each kernel call (`fuser bench --profile`).
    pub profile: bool,
    /// Also write the JIT's code here as an object file (for the model cache).
    pub object_file: Option<&'w std::path::Path>,
    /// How the kernels phase groups ops.
    pub fusion: Fusion,
}

/// What lowering produced besides the module: the entry's types, and the kernel timed
/// under each profile id.
pub struct LoweredModel {
    pub inputs: Vec<TypeInfo>,
    pub outputs: Vec<TypeInfo>,
    pub profiled_kernels: Vec<String>,
    /// The JSON report of `graph-eqsat-fuse`, when the kernels phase ran.
    pub fusion_report: Option<String>,
    /// `hw-plan-memory`'s totals (naive activation bytes, arena bytes), when it ran.
    pub memory_plan: Option<(u64, u64)>,
}

/// Lowers `module` for the CPU through the phases up to `request.up_to`, in place, and
/// returns the entry's input and output types. Diagnostics are collected into the error.
pub fn lower_for_cpu(context: &Context, module: &mut Module, request: &CpuRequest) -> Result<LoweredModel, CpuError> {
    if let Some(shapes) = request.input_shapes {
        specialize_inputs(module, request.function, shapes).map_err(CpuError::failed)?;
    }
    with_diagnostics(context, |messages| lower_with(context, module, request, messages))
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
    let request = CpuRequest {
        function,
        weights,
        input_shapes,
        up_to: Phase::Llvm,
        entry_symbol: format!("_mlir_ciface_{function}"),
        profile: false,
        object_file: None,
        fusion: Fusion::default(),
    };
    compile_cpu_with(context, module, &request).map(|(model, _)| model)
}

/// Like [`compile_cpu`], with every option of `request`; also returns the kernel timed
/// under each profile id when `request.profile` is set.
pub fn compile_cpu_with(
    context: &Context,
    module: &mut Module,
    request: &CpuRequest,
) -> Result<(JitModel, Vec<String>), CpuError> {
    let lowered = lower_for_cpu(context, module, request)?;
    let model = JitModel::new(
        module,
        request.function,
        lowered.inputs,
        lowered.outputs,
        request.object_file,
    )
    .map_err(|e| CpuError::failed(e.to_string()))?;
    Ok((model, lowered.profiled_kernels))
}

/// Collects the context's diagnostics while `work` runs, for the error it may return.
pub(crate) fn with_diagnostics<T>(
    context: &Context,
    work: impl FnOnce(&Rc<RefCell<Vec<String>>>) -> Result<T, CpuError>,
) -> Result<T, CpuError> {
    let messages: Rc<RefCell<Vec<String>>> = Rc::default();
    let store = messages.clone();
    let handler = context.attach_diagnostic_handler(move |diagnostic| {
        let place = describe_location(diagnostic.location())
            .map(|p| format!("{p}: "))
            .unwrap_or_default();
        store.borrow_mut().push(format!("{place}{diagnostic}"));
        true
    });
    let result = work(&messages);
    context.detach_diagnostic_handler(handler);
    result
}

/// The steps every target starts with: weights become constants, the Graph phase runs,
/// shapes must be static (`target` names the target in the message), and the entry is
/// readied for bufferization. Returns the entry's input and output types.
pub(crate) fn prepare_graph(
    context: &Context,
    module: &mut Module,
    function: &str,
    weights: &Weights,
    target: &str,
    messages: &Rc<RefCell<Vec<String>>>,
) -> Result<(Vec<TypeInfo>, Vec<TypeInfo>), CpuError> {
    materialize_weights(module.as_operation(), weights).map_err(CpuError::failed)?;
    run_phases(context, module, None, Phase::Graph, Fusion::default()).map_err(|e| phase_error(e, messages))?;
    let (inputs, outputs) = signature_types(module, function).map_err(CpuError::failed)?;
    if let Some(dynamic) = inputs.iter().chain(&outputs).find(|t| t.static_shape().is_none()) {
        return Err(CpuError {
            message: format!(
                "--target {target} needs static shapes, and the model has {}; fix dims with --shape NAME=DIMS",
                dynamic.mlir()
            ),
            unsupported: true,
        });
    }
    // The signature keeps the types callers see (`inputs`, `outputs` above); inside,
    // empty boundary tensors become constants (see `empty_boundaries`).
    replace_empty_boundaries(module, function).map_err(CpuError::failed)?;
    mark_inputs_read_only(module, function, inputs.len()).map_err(CpuError::failed)?;
    Ok((inputs, outputs))
}

/// The fusion report and the memory plan's totals that the kernels and bufferized
/// phases left on the module.
pub(crate) fn phase_reports(module: &Module) -> (Option<String>, Option<(u64, u64)>) {
    let fusion_report = module
        .as_operation()
        .attribute(crate::graph_eqsat_fuse::REPORT_ATTRIBUTE)
        .ok()
        .and_then(|a| melior::ir::attribute::StringAttribute::try_from(a).ok())
        .map(fuser_dialects::ffi::string_value);
    let memory_plan = module
        .as_operation()
        .attribute(crate::hw_plan_memory::PLAN_ATTRIBUTE)
        .ok()
        .and_then(|a| {
            let text = a.to_string();
            let number = |name: &str| -> Option<u64> {
                let rest = text.split(&format!("{name} = ")).nth(1)?;
                rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
            };
            Some((number("naive_activation_bytes")?, number("arena_peak_bytes")?))
        });
    (fusion_report, memory_plan)
}

fn lower_with(
    context: &Context,
    module: &mut Module,
    request: &CpuRequest,
    messages: &Rc<RefCell<Vec<String>>>,
) -> Result<LoweredModel, CpuError> {
    let function = request.function;
    let (inputs, outputs) = prepare_graph(context, module, function, request.weights, "cpu", messages)?;
    let before_llvm = request.up_to.min(Phase::Bufferized);
    run_phases(context, module, Some(Phase::Graph), before_llvm, request.fusion)
        .map_err(|e| phase_error(e, messages))?;
    let (fusion_report, memory_plan) = phase_reports(module);
    let profiled_kernels = if request.profile && before_llvm >= Phase::Kernels {
        instrument_kernel_calls(module.as_operation(), function).map_err(CpuError::failed)?
    } else {
        Vec::new()
    };
    if request.up_to == Phase::Llvm {
        // Kernels were named after the function already; now the entry takes its symbol.
        let entry =
            find_function(module.as_operation(), function).ok_or_else(|| CpuError::failed("no entry function"))?;
        set_attribute(entry, "sym_name", make::string(entry.context(), &request.entry_symbol));
        run_phases(context, module, Some(Phase::Bufferized), Phase::Llvm, request.fusion)
            .map_err(|e| phase_error(e, messages))?;
    }
    Ok(LoweredModel {
        inputs,
        outputs,
        profiled_kernels,
        fusion_report,
        memory_plan,
    })
}

/// The entry's arguments are the caller's input buffers: bufferization must never write
/// into them (it copies first). Their `graph.name` attributes, which the signature
/// already gave, go: LLVM's translation does not know them.
fn mark_inputs_read_only(module: &Module, function: &str, count: usize) -> Result<(), String> {
    let entry = find_function(module.as_operation(), function).ok_or_else(|| format!("no function '{function}'"))?;
    let context = entry.context();
    let dicts = vec!["{bufferization.writable = false}"; count].join(", ");
    let attribute = parse_attribute(context, &format!("[{dicts}]")).ok_or("argument attributes")?;
    set_attribute(entry, "arg_attrs", attribute);
    remove_attribute(entry, "res_attrs");
    Ok(())
}

pub(crate) fn phase_error(error: PhaseError, messages: &Rc<RefCell<Vec<String>>>) -> CpuError {
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
