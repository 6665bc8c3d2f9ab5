//! `convert-graph-to-linalg`: every graph op becomes upstream linalg/tensor/arith/math
//! IR on tensors.
//!
//! Each op's lowering is written as a small `func.func` in text (one file per family of
//! ops), parsed once per distinct text, and spliced in place of the op: its body is
//! cloned before the op, its arguments stand for the op's operands, and the values it
//! returns replace the op's results. Identical ops (same types and attributes) share one
//! parsed form. An op with no lowering is reported by name and location, never guessed.

mod contraction;
mod conv_transpose;
mod data_movement;
mod elementwise;
pub(crate) mod fused;
mod normalization;
mod pooling;
mod quantization;
mod reduction;
mod scatter;
pub mod text;
mod unsigned;

use crate::ffi;
pub use fused::is_fused_kernel;
use fuser_dialects::{
    accessors::{op_name, operand_group, result_group},
    eval::op_attrs,
    ffi::{
        dense_to_tensor, emit_error, erase_operation, make, nested_operations, replace_all_uses, set_operand,
        tensor_info,
    },
    semantics::{Attrs, DType, Tensor, TypeInfo},
    spec::find_op,
};
use melior::ir::{
    BlockLike, Module, OperationRef, Value, ValueLike,
    block::BlockArgument,
    operation::{OperationBuilder, OperationLike},
};
use std::collections::HashMap;
pub use text::Refusal;
use text::{FuncText, Lowered, refuse, static_shape, tensor_type};

/// One operand of the op being lowered: its name inside the lowering function, type, and
/// value when it is a constant (shape operands, axes, pads).
pub struct Operand {
    pub name: String,
    pub info: TypeInfo,
    pub value: Option<Tensor>,
}

/// What a lowering sees of a graph op: its name without the dialect prefix, operands and
/// results per IRDL slot (`None` for an absent optional), and attributes.
pub struct OpView {
    pub op: String,
    pub inputs: Vec<Option<Operand>>,
    pub results: Vec<Option<TypeInfo>>,
    pub attrs: Attrs,
    /// Whether the lowering may call the CPU runtime (`fuser_runtime`); false for GPU
    /// targets, which get pure linalg.
    pub runtime_calls: bool,
}

impl OpView {
    pub fn input(&self, slot: usize) -> Lowered<&Operand> {
        match self.inputs.get(slot) {
            Some(Some(operand)) => Ok(operand),
            _ => refuse(format!("graph.{} is missing operand {slot}", self.op)),
        }
    }
    pub fn has_input(&self, slot: usize) -> bool {
        matches!(self.inputs.get(slot), Some(Some(_)))
    }
    pub fn result(&self, slot: usize) -> Lowered<&TypeInfo> {
        match self.results.get(slot) {
            Some(Some(info)) => Ok(info),
            _ => refuse(format!("graph.{} is missing result {slot}", self.op)),
        }
    }
    pub fn has_result(&self, slot: usize) -> bool {
        matches!(self.results.get(slot), Some(Some(_)))
    }
    /// The constant value of operand `slot`, as integers (shape operands, axes).
    pub fn constant_ints(&self, slot: usize) -> Lowered<Vec<i64>> {
        let operand = self.input(slot)?;
        match &operand.value {
            Some(t) => Ok(t.to_i64().iter().copied().collect()),
            None => refuse(format!("graph.{}: operand {slot} must be a constant to lower", self.op)),
        }
    }
    fn attr_error(&self, e: impl std::fmt::Display) -> Refusal {
        Refusal(format!("graph.{}: {e}", self.op))
    }
    pub fn int(&self, name: &str) -> Lowered<i64> {
        self.attrs.int(name).map_err(|e| self.attr_error(e))
    }
    pub fn float(&self, name: &str) -> Lowered<f64> {
        self.attrs.float(name).map_err(|e| self.attr_error(e))
    }
    pub fn ints(&self, name: &str) -> Lowered<Vec<i64>> {
        self.attrs.ints(name).map_err(|e| self.attr_error(e))
    }
    pub fn string(&self, name: &str) -> Lowered<String> {
        self.attrs.string(name).map_err(|e| self.attr_error(e))
    }
}

/// The linalg form of one graph op: a `func.func @lowered` whose arguments are the op's
/// present operands and whose results are its present results.
pub fn lower_op_text(view: &OpView) -> Lowered<String> {
    let mut f = FuncText::new();
    let op = view.op.as_str();
    let results = if computes_in_f32(view) {
        lower_widened(&mut f, view)?
    } else {
        lower_into(&mut f, view)?
    };
    let mut args = Vec::new();
    for operand in view.inputs.iter().flatten() {
        args.push((
            operand.name.clone(),
            tensor_type(&static_shape(&operand.info)?, operand.info.dtype)?,
        ));
    }
    let result_types: Vec<&TypeInfo> = view.results.iter().flatten().collect();
    if result_types.len() != results.len() {
        return refuse(format!(
            "graph.{op} with these optional results has no CPU lowering yet"
        ));
    }
    let mut returned = Vec::new();
    for (name, info) in results.into_iter().zip(result_types) {
        returned.push((name, tensor_type(&static_shape(info)?, info.dtype)?));
    }
    Ok(f.finish("lowered", &args, &returned))
}

fn lower_into(f: &mut FuncText, view: &OpView) -> Lowered<Vec<String>> {
    let op = view.op.as_str();
    match op {
        _ if elementwise::handles(op) => elementwise::lower(f, view),
        _ if contraction::handles(op) => contraction::lower(f, view),
        _ if pooling::handles(op) => pooling::lower(f, view),
        _ if normalization::handles(op) => normalization::lower(f, view),
        _ if reduction::handles(op) => reduction::lower(f, view),
        _ if data_movement::handles(op) => data_movement::lower(f, view),
        _ if scatter::handles(op) => scatter::lower(f, view),
        _ if quantization::handles(op) => quantization::lower(f, view),
        "ftensor.quantized_conv" | "ftensor.quantized_mat_mul" => refuse(format!(
            "{op} lowers only as an INT8 fused kernel: a batch-1 2-D conv with one group, or a product with a \
             constant [K, N] i8 matrix, static shapes, f32 activation and epilogue"
        )),
        _ if op.contains('.') => refuse(format!("{op} has no CPU lowering yet")),
        _ => refuse(format!("graph.{op} has no CPU lowering yet")),
    }
}

fn is_half(dtype: DType) -> bool {
    matches!(dtype, DType::F16 | DType::BF16)
}

/// Arithmetic on f16/bf16 runs in f32 and rounds once at the end of the op, as the
/// reference evaluator does; accumulating a matmul or a sum in f16 loses too much. Ops
/// that only move data, and Cast, keep their types.
fn computes_in_f32(view: &OpView) -> bool {
    let halves = view.inputs.iter().flatten().any(|o| is_half(o.info.dtype))
        || view.results.iter().flatten().any(|r| is_half(r.dtype));
    halves && view.op != "cast" && !data_movement::handles(&view.op)
}

/// Lowers `view` with its f16/bf16 operands widened to f32 and its results narrowed back.
fn lower_widened(f: &mut FuncText, view: &OpView) -> Lowered<Vec<String>> {
    let widen = |info: &TypeInfo| {
        if is_half(info.dtype) {
            TypeInfo::new(DType::F32, info.shape.clone())
        } else {
            info.clone()
        }
    };
    let mut inputs = Vec::new();
    for operand in &view.inputs {
        inputs.push(match operand {
            Some(o) if is_half(o.info.dtype) => {
                let wide = widen(&o.info);
                let from = o.info.dtype;
                let converted = elementwise::map_elementwise(f, &[o], &wide, |b, a| {
                    elementwise::convert(b, &a[0], from, DType::F32)
                })?;
                Some(Operand {
                    name: converted,
                    info: wide,
                    value: o.value.as_ref().map(|t| t.cast(DType::F32)),
                })
            }
            Some(o) => Some(Operand {
                name: o.name.clone(),
                info: o.info.clone(),
                value: o.value.clone(),
            }),
            None => None,
        });
    }
    let wide_view = OpView {
        op: view.op.clone(),
        inputs,
        results: view.results.iter().map(|r| r.as_ref().map(widen)).collect(),
        attrs: view.attrs.clone(),
        runtime_calls: view.runtime_calls,
    };
    let wide_results = lower_into(f, &wide_view)?;
    let mut results = Vec::new();
    for (name, info) in wide_results.into_iter().zip(view.results.iter().flatten()) {
        if is_half(info.dtype) {
            let operand = Operand {
                name,
                info: widen(info),
                value: None,
            };
            let to = info.dtype;
            results.push(elementwise::map_elementwise(f, &[&operand], info, |b, a| {
                elementwise::convert(b, &a[0], DType::F32, to)
            })?);
        } else {
            results.push(name);
        }
    }
    Ok(results)
}

/// Reads a graph op into an [`OpView`]; operand names are `%a0, %a1, ...` in order.
fn view_of(op: OperationRef, runtime_calls: bool) -> Lowered<OpView> {
    let name = op_name(&op);
    let spec = find_op(&name).ok_or_else(|| Refusal(format!("{name} is not a graph op")))?;
    let attrs = op_attrs(&op).map_err(|e| Refusal(format!("{name}: {e}")))?;
    let info_of = |value: Value| -> Lowered<TypeInfo> {
        let info =
            tensor_info(value.r#type()).ok_or_else(|| Refusal(format!("{name}: an operand is not a ranked tensor")))?;
        let dtype =
            DType::from_mlir(&info.element).ok_or_else(|| Refusal(format!("{name}: element type {}", info.element)))?;
        Ok(TypeInfo::new(dtype, info.shape.clone()))
    };
    let mut inputs = Vec::new();
    let mut count = 0;
    for slot in 0..spec.operands.len() {
        match operand_group(&op, spec, slot).first() {
            Some(&value) => {
                let info = info_of(value)?;
                inputs.push(Some(Operand {
                    name: format!("%a{count}"),
                    info,
                    value: constant_value(value),
                }));
                count += 1;
            }
            None => inputs.push(None),
        }
    }
    let mut results = Vec::new();
    for slot in 0..spec.results.len() {
        results.push(match result_group(&op, spec, slot).first() {
            Some(&value) => Some(info_of(value)?),
            None => None,
        });
    }
    Ok(OpView {
        op: name.trim_start_matches("graph.").to_string(),
        inputs,
        results,
        attrs,
        runtime_calls,
    })
}

/// The value of `value` when a constant op (graph or arith) defines it.
pub(crate) fn constant_value(value: Value) -> Option<Tensor> {
    if BlockArgument::try_from(value).is_ok() {
        return None;
    }
    let result = melior::ir::operation::OperationResult::try_from(value).ok()?;
    let owner = result.owner();
    let name = op_name(&owner);
    if name == "graph.constant" || name == "arith.constant" {
        dense_to_tensor(owner.attribute("value").ok()?)
    } else {
        None
    }
}

/// How kernels that are one contraction and its epilogue lower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contractions {
    /// One call of the CPU runtime's fused kernel (and f32 row softmax a runtime call).
    RuntimeCalls,
    /// One tiled shared-memory `gpu.launch` (`crate::gpu::contraction_kernel`); with
    /// `matrix_cores`, 16-bit float ones use the vendor's matrix instructions.
    GpuKernels { matrix_cores: Option<MatrixCores> },
    /// Op by op, pure linalg like everything else.
    Linalg,
}

/// The matrix instructions of a GPU's contraction kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatrixCores {
    /// NVIDIA tensor cores, `mma.sync` through nvgpu (f16; sm_80 and newer).
    MmaSync,
    /// AMD matrix cores, MFMA through the amdgpu dialect (f16 and bf16; gfx90a, gfx942).
    Mfma,
}

impl Contractions {
    pub fn parse(name: &str) -> Option<Contractions> {
        Some(match name {
            "runtime" => Contractions::RuntimeCalls,
            "gpu" => Contractions::GpuKernels { matrix_cores: None },
            "gpu-mma" => Contractions::GpuKernels {
                matrix_cores: Some(MatrixCores::MmaSync),
            },
            "gpu-mfma" => Contractions::GpuKernels {
                matrix_cores: Some(MatrixCores::Mfma),
            },
            "linalg" => Contractions::Linalg,
            _ => return None,
        })
    }
}

/// Converts every graph op under `root`. Ops that cannot be lowered are reported at their
/// location; returns whether all were converted. `contractions` says how the fused
/// contraction kernels lower; only `RuntimeCalls` calls the CPU runtime.
pub fn convert_graph_to_linalg(root: OperationRef, contractions: Contractions) -> bool {
    let context = root.context();
    let mut parsed: HashMap<String, Module> = HashMap::new();
    let mut ok = true;
    let runtime_calls = contractions == Contractions::RuntimeCalls;
    // Kernels the runtime's fused contraction (or the GPU's tiled kernel) implements
    // lower as one call (one launch) each.
    let mut fused_kernels = if contractions == Contractions::Linalg {
        Vec::new()
    } else {
        fused::fusable_kernels(root)
    };
    if runtime_calls {
        fused::mark_constant_weights(root, &mut fused_kernels);
    }
    for kernel in fused_kernels {
        let text = match contractions {
            Contractions::GpuKernels { matrix_cores } => {
                crate::gpu::contraction_kernel::gpu_contraction_text(&kernel, matrix_cores)
            }
            _ => fused::lowered_text(&kernel),
        };
        let Some(text) = text else {
            continue;
        };
        let Some(lowered) = ffi::parse_cached(context, &mut parsed, &text) else {
            emit_error(
                kernel.ops[0].location(),
                &format!("internal error: the fused lowering of this kernel does not parse:\n{text}"),
            );
            ok = false;
            continue;
        };
        if runtime_calls {
            fused::mark_in_place_arguments(&kernel);
        }
        fused::splice_kernel(&kernel, lowered);
        ok &= declare_runtime_functions(root, lowered);
    }
    let ops: Vec<OperationRef> = nested_operations(root)
        .into_iter()
        .filter(|op| {
            let name = op_name(op);
            name.starts_with("graph.") || fuser_dialects::semantics::is_quantization_op(&name)
        })
        .collect();
    // Views are read while uint8 tensors still say so; then the module goes signless.
    let views: Vec<Lowered<OpView>> = ops.iter().map(|op| view_of(*op, runtime_calls)).collect();
    if let Err(constant) = unsigned::make_signless(root) {
        emit_error(
            constant.location(),
            "internal error: this uint8 constant could not be made signless",
        );
        return false;
    }
    for (op, view) in ops.into_iter().zip(views) {
        let name = op_name(&op);
        if name == "graph.constant" {
            constant_to_arith(op);
            continue;
        }
        if name == "graph.weight" {
            emit_error(
                op.location(),
                "graph.weight has no data at this level: lower a model through `fuser compile`, which makes weights constants",
            );
            ok = false;
            continue;
        }
        let text = match view.and_then(|view| lower_op_text(&view)) {
            Ok(text) => text,
            Err(refusal) => {
                emit_error(op.location(), &refusal.0);
                ok = false;
                continue;
            }
        };
        let Some(lowered) = ffi::parse_cached(context, &mut parsed, &text) else {
            emit_error(
                op.location(),
                &format!("internal error: the linalg form of {name} does not parse:\n{text}"),
            );
            ok = false;
            continue;
        };
        splice(op, lowered);
        ok &= declare_runtime_functions(root, lowered);
    }
    ok
}

/// Declares in `root` the runtime functions a lowering calls: the declarations after its
/// function in `lowered`.
fn declare_runtime_functions(root: OperationRef, lowered: &Module) -> bool {
    ffi::entry_block_operations(lowered.as_operation())
        .into_iter()
        .skip(1)
        .all(|declaration| crate::matmul_calls::declare_like(root, declaration))
}

/// Replaces `op` by the body of the single function in `lowered`.
pub(crate) fn splice(op: OperationRef, lowered: &Module) {
    let operands: Vec<Value> = (0..op.operand_count())
        .map(|i| op.operand(i).expect("operand"))
        .collect();
    splice_values(op, &operands, lowered);
    erase_operation(op);
}

/// Clones the body of the first function in `lowered` before `op`, its arguments
/// standing for `operands`, and points the uses of `op`'s results at the values it
/// returns. `op` itself stays for the caller to erase.
fn splice_values<'c, 'a>(op: OperationRef<'c, 'a>, operands: &[Value<'c, 'a>], lowered: &Module) {
    let func = ffi::entry_block_operations(lowered.as_operation())[0];
    let mut mapped: HashMap<usize, Value> = HashMap::new();
    let key = |v: Value| v.to_raw().ptr as usize;
    for (index, &operand) in operands.iter().enumerate() {
        let arg = ffi::entry_argument(func, index);
        mapped.insert(key(arg), operand);
    }
    for body_op in ffi::entry_block_operations(func) {
        if op_name(&body_op) == "func.return" {
            let results: Vec<Value> = op.results().map(Into::into).collect();
            for (index, result) in results.into_iter().enumerate() {
                let returned = body_op.operand(index).expect("returned value");
                replace_all_uses(result, mapped[&key(returned)]);
            }
            break;
        }
        let clone = ffi::clone_before(body_op, op);
        // Operands defined outside the cloned op still name the lowering function's
        // values: point them at their spliced counterparts.
        for nested in nested_operations(clone) {
            for index in 0..nested.operand_count() {
                let operand = nested.operand(index).expect("operand");
                if let Some(&replacement) = mapped.get(&key(operand)) {
                    set_operand(nested, index, replacement);
                }
            }
        }
        for index in 0..body_op.result_count() {
            let old: Value = body_op.result(index).expect("result").into();
            mapped.insert(key(old), clone.result(index).expect("result").into());
        }
    }
}

/// `graph.constant {value}` → `arith.constant {value}`.
fn constant_to_arith(op: OperationRef) {
    let context = op.context();
    let value = op.attribute("value").expect("verified graph.constant has a value");
    let ty = op.result(0).expect("one result").r#type();
    let constant = OperationBuilder::new("arith.constant", op.location())
        .add_attributes(&[(make::identifier(context, "value"), value)])
        .add_results(&[ty])
        .build()
        .expect("arith.constant");
    let block = op.block().expect("op in a block");
    let new = block.insert_operation_before(op, constant);
    replace_all_uses(
        op.result(0).expect("one result").into(),
        new.result(0).expect("result").into(),
    );
    erase_operation(op);
}
