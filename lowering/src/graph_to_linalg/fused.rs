//! A kernel that is one contraction (2-D Conv at batch 1, depthwise Conv, MatMul or Gemm
//! with a matrix right operand, or a 2-D MaxPool at batch 1, the runtime's windowed loop
//! serving both the depthwise conv and the pooling) followed by a chain of elementwise ops
//! (bias, residual, scale, activation) lowers to one call of the runtime's fused kernel
//! (`fuser_runtime::fused`), which computes the product tile by tile and applies the
//! chain to each tile while it is in cache. A kernel of the contraction alone takes the
//! same path with an empty chain.
//!
//! The call is written on tensors: the operands enter through `bufferization.to_buffer`
//! (read-only), the result leaves through `bufferization.to_tensor` of a fresh buffer, so
//! one-shot bufferization places it like any other result. Kernels that do not match
//! (another dtype, a batched matmul, an op the runtime does not implement) lower op by op.

use super::{OpView, text::static_shape, view_of};
use crate::matmul_calls::declaration_of;
use fuser_dialects::{
    accessors::op_name,
    ffi::{has_single_use, nested_operations},
    semantics::DType,
};
use fuser_runtime::fused::{
    Batch, Contraction, ConvGeometry, Descriptor, FUSED_F32, FUSED_F32_ARITY, Layout, MAX_EPILOGUE_OPERANDS, Step,
    transposed_operand_strides,
};
use fuser_runtime::quantized::{ActivationQuantization, FUSED_Q8, FUSED_Q8_ARITY, Q8Call};
use melior::ir::{BlockLike, OperationRef, RegionLike, Value, ValueLike, operation::OperationLike};

/// A matched kernel: the ops it replaces (contraction first), the values its call reads
/// (the contraction's operands, then the epilogue operands), and the descriptor.
pub struct FusedKernel<'c, 'a> {
    pub ops: Vec<OperationRef<'c, 'a>>,
    pub operands: Vec<Value<'c, 'a>>,
    pub descriptor: Descriptor,
    pub out_shape: Vec<i64>,
    /// For an INT8 contraction (`ftensor.quantized_conv` / `quantized_mat_mul`): the
    /// activation's quantization, whether the activation arrives as codes, and the output's
    /// when the kernel ends in `ftensor.quantize` (it then writes codes). Its operands are
    /// the i8 weights, the activation and the weight scales; else A and B.
    pub quantization: Option<Q8Call>,
    /// The float type of the activation, the epilogue and the result: f32, or f16 (which
    /// only the GPU's tensor-core kernel takes; the CPU's lowering refuses it).
    pub element: DType,
}

impl FusedKernel<'_, '_> {
    /// How many operands precede the epilogue's.
    fn contraction_operands(&self) -> usize {
        contraction_operands(self.quantization.is_some())
    }
}

fn contraction_operands(quantized: bool) -> usize {
    if quantized { 3 } else { 2 }
}

/// How the `[M, N]` view of the output maps to its shape: rows are dim 1 of an NCHW conv
/// output, or all dims but the last of a matmul output.
#[derive(Clone, Copy)]
enum Rows {
    Channels,
    Leading,
}

/// Whether the kernel function `func` lowers to one call of the runtime's fused kernel.
pub fn is_fused_kernel(func: OperationRef) -> bool {
    match_kernel(func).is_some()
}

/// The kernel functions under `root` that match, in order.
pub fn fusable_kernels<'c, 'a>(root: OperationRef<'c, 'a>) -> Vec<FusedKernel<'c, 'a>> {
    nested_operations(root)
        .into_iter()
        .filter(|op| op_name(op) == "func.func" && op.attribute("ftensor.kernel").is_ok())
        .filter_map(match_kernel)
        .collect()
}

/// Marks the CPU runtime's matmul and conv calls whose weights are a constant with their key
/// ([`constant_weights_key`]); the GPU kernels have no use for it, so only the CPU lowering
/// hashes the weights.
pub fn mark_constant_weights<'c>(root: OperationRef<'c, '_>, kernels: &mut [FusedKernel<'c, '_>]) {
    let calls: Vec<OperationRef> = nested_operations(root)
        .into_iter()
        .filter(|op| op_name(op) == "func.call")
        .collect();
    for kernel in kernels {
        kernel.descriptor.constant_weights = constant_weights_key(kernel, &calls);
    }
}

/// The key under which the runtime keeps an f32 contraction's weights (a matmul's B, a
/// conv's A) packed between calls ([`Descriptor::constant_weights`]): a hash of the
/// descriptor and of the weights' contents at every call of the kernel, when they are a
/// constant at all of them; 0 when they may change between calls (a runtime value), or the
/// kernel is neither such a matmul nor such a conv.
fn constant_weights_key<'c>(kernel: &FusedKernel<'c, '_>, calls: &[OperationRef<'c, '_>]) -> i64 {
    use std::hash::{Hash, Hasher};
    // Which of the call's operands the weights are.
    let weights_operand = match kernel.descriptor.contraction {
        Contraction::Matmul => 1,
        Contraction::Conv2d => 0,
        _ => return 0,
    };
    if kernel.quantization.is_some() || kernel.element != DType::F32 {
        return 0;
    }
    let constant_data = |value: Value<'c, '_>| -> Option<&'c [u8]> {
        let owner = melior::ir::operation::OperationResult::try_from(value).ok()?.owner();
        matches!(op_name(&owner).as_str(), "arith.constant" | "graph.constant")
            .then(|| fuser_dialects::ffi::dense_raw_data(owner.attribute("value").ok()?))
            .flatten()
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    kernel.descriptor.encode().hash(&mut hasher);
    let weights = kernel.operands[weights_operand];
    if let Some(data) = constant_data(weights) {
        data.hash(&mut hasher);
    } else {
        // The weights are an argument of the kernel function: a constant at every call, or
        // no key. A public function may be called from outside the module, with any.
        let Ok(argument) = melior::ir::block::BlockArgument::try_from(weights) else {
            return 0;
        };
        let Some(function) = kernel.ops[0].parent_operation() else {
            return 0;
        };
        let text = |name: &str| {
            let attribute = function.attribute(name).ok()?;
            let string = melior::ir::attribute::StringAttribute::try_from(attribute).ok()?;
            Some(fuser_dialects::ffi::string_value(string))
        };
        let (Some("private"), Some(name)) = (text("sym_visibility").as_deref(), text("sym_name")) else {
            return 0;
        };
        let mut called = false;
        for call in calls
            .iter()
            .filter(|c| fuser_dialects::ffi::callee(c).as_deref() == Some(name.as_str()))
        {
            let Some(data) = call.operand(argument.argument_number()).ok().and_then(constant_data) else {
                return 0;
            };
            data.hash(&mut hasher);
            called = true;
        }
        if !called {
            return 0;
        }
    }
    // Never 0, which means "not a constant".
    (hasher.finish() | 1) as i64
}

fn value_key(v: Value) -> usize {
    v.to_raw().ptr as usize
}

fn match_kernel<'c, 'a>(func: OperationRef<'c, 'a>) -> Option<FusedKernel<'c, 'a>> {
    let body = func.region(0).ok()?.first_block()?;
    let mut ops = Vec::new();
    let mut returned = None;
    let mut next = body.first_operation();
    while let Some(op) = next {
        next = op.next_in_block();
        match op_name(&op).as_str() {
            "graph.constant" => {}
            "func.return" => returned = Some(op),
            name if name.starts_with("graph.") || fuser_dialects::semantics::is_quantization_op(name) => ops.push(op),
            _ => return None,
        }
    }
    let returned = returned?;
    let layout_ops = peel_layout(&mut ops, returned)?;
    let operand_transposes = peel_operand_transposes(&mut ops);
    let (root, chain) = ops.split_first()?;
    let mut quantization = None;
    let root_view = view_of(*root, true).ok()?;
    let (mut descriptor, rows, out_shape) = contraction(&root_view)?;
    let quantized = root_view.op.starts_with("ftensor.");
    // The activation (operand 0 of every contraction, quantized or not); a quantized
    // contraction's epilogue is f32 whether its activation is f32 or codes.
    let activation = root_view.input(0).ok()?.info.dtype;
    let element = if quantized { DType::F32 } else { activation };
    let mut operands: Vec<Value> = if quantized {
        // Weights, activation, weight scales; the activation's scale and zero point are
        // constants, read now.
        let scalar = |slot: usize| {
            let operand = root_view.input(slot).ok()?;
            let value = operand.value.as_ref().filter(|v| v.len() == 1)?;
            Some((value.to_f64_vec()[0], operand.info.dtype))
        };
        let ((scale, _), (zero, zero_type)) = (scalar(3)?, scalar(4)?);
        if !matches!(zero_type, DType::U8 | DType::I8)
            || root_view.input(2).ok()?.info.dtype != DType::F32
            || !(activation == DType::F32 || activation == zero_type)
        {
            return None;
        }
        quantization = Some(Q8Call {
            input: ActivationQuantization {
                scale: scale as f32,
                zero_point: zero as i64,
                signed: zero_type == DType::I8,
            },
            input_is_codes: activation != DType::F32,
            output: None,
        });
        vec![root.operand(1).ok()?, root.operand(0).ok()?, root.operand(2).ok()?]
    } else {
        // The call reads A then B: a conv's A is its weights (operand 1), B its input; a
        // pooling reads B alone (its input passes for A, unread).
        let (a, b) = match root_view.op.as_str() {
            "conv" => (1, 0),
            "max_pool" => (0, 0),
            _ => (0, 1),
        };
        vec![root.operand(a).ok()?, root.operand(b).ok()?]
    };
    // A batched matmul reads its transposed operands in place, through their strides.
    for transpose in &operand_transposes {
        if !descriptor.batch.is_batched() {
            return None;
        }
        let (count, [batch, row, column]) = transposed_operand_strides(&transpose.shape, &transpose.perm)?;
        let batch = match (transpose.slot, count) {
            (_, c) if c == descriptor.batch.count => batch,
            (1, 1) => 0,
            _ => return None,
        };
        match transpose.slot {
            0 => {
                descriptor.strides[..2].copy_from_slice(&[row, column]);
                descriptor.batch.a_stride = batch;
            }
            _ => {
                descriptor.strides[2..].copy_from_slice(&[row, column]);
                descriptor.batch.b_stride = batch;
            }
        }
        operands[transpose.slot] = transpose.input;
    }
    let fixed = contraction_operands(quantized);
    let bias_slot = if quantized { 5 } else { 2 };
    if matches!(descriptor.contraction, Contraction::Matmul) && root_view.op == "gemm" {
        // Gemm: alpha · A·B + beta · C.
        let alpha = root_view.float("alpha").ok()?;
        if alpha != 1.0 {
            descriptor.epilogue.push(Step::MulScalar(alpha as f32));
        }
        if root_view.has_input(2) {
            if root_view.float("beta").ok()? != 1.0 {
                return None;
            }
            let c = root_view.input(2).ok()?;
            if c.info.dtype != element {
                return None;
            }
            let step = operand_step("add", root.operand(2).ok()?, c, &out_shape, rows, fixed, &mut operands)?;
            descriptor.epilogue.push(step);
        }
    } else if root_view.op.ends_with("conv") && root_view.has_input(bias_slot) {
        // A conv's bias is one value per output channel (not numpy-broadcast).
        let bias = root_view.input(bias_slot).ok()?;
        if bias.info.dtype != element {
            return None;
        }
        operands.push(operand_group(root, bias_slot)?);
        descriptor.epilogue.push(Step::AddRow(0));
    }
    let mut previous: Value = root.result(0).ok()?.into();
    for (index, op) in chain.iter().enumerate() {
        if !has_single_use(previous) {
            return None;
        }
        let view = view_of(*op, true).ok()?;
        let result = view.result(0).ok()?;
        // A requantize epilogue: the last op of a quantized kernel quantizes per tensor
        // with constants, and the kernel writes its codes.
        if view.op == "ftensor.quantize" {
            let call = quantization.as_mut()?;
            let constant = |slot: usize| {
                let operand = view.input(slot).ok()?;
                let value = operand.value.as_ref().filter(|v| v.len() == 1)?;
                Some((value.to_f64_vec()[0], operand.info.dtype))
            };
            let ((scale, scale_type), (zero, zero_type)) = (constant(1)?, constant(2)?);
            if index + 1 != chain.len()
                || op.operand(0).ok()? != previous
                || scale_type != DType::F32
                || !matches!(zero_type, DType::U8 | DType::I8)
                || static_shape(result).ok()? != out_shape
            {
                return None;
            }
            call.output = Some(ActivationQuantization {
                scale: scale as f32,
                zero_point: zero as i64,
                signed: zero_type == DType::I8,
            });
            previous = op.result(0).ok()?.into();
            continue;
        }
        if result.dtype != element || static_shape(result).ok()? != out_shape || op.result_count() != 1 {
            return None;
        }
        let position = (0..op.operand_count()).find(|&i| op.operand(i).is_ok_and(|v| v == previous))?;
        if (0..op.operand_count())
            .filter(|&i| op.operand(i).is_ok_and(|v| v == previous))
            .count()
            != 1
        {
            return None;
        }
        let step = match view.op.as_str() {
            "add" | "mul" | "sub" | "div" if op.operand_count() == 2 => {
                let other = 1 - position;
                let operand = view.inputs.get(other)?.as_ref()?;
                if operand.info.dtype != element {
                    return None;
                }
                let value = op.operand(other).ok()?;
                let scalar = scalar_constant(operand);
                match (view.op.as_str(), position, scalar) {
                    ("sub", 0, Some(c)) => Step::AddScalar(-c),
                    ("div", 0, Some(c)) => Step::DivScalar(c),
                    ("add" | "mul", _, _) => {
                        operand_step(&view.op, value, operand, &out_shape, rows, fixed, &mut operands)?
                    }
                    _ => return None,
                }
            }
            "relu" => Step::Relu,
            "sigmoid" => Step::Sigmoid,
            "tanh" => Step::Tanh,
            "hard_swish" => Step::HardSwish,
            "gelu" => match view.string("approximate").ok()?.as_str() {
                "tanh" => Step::GeluTanh,
                _ => Step::GeluErf,
            },
            "leaky_relu" => Step::LeakyRelu(view.float("alpha").ok()? as f32),
            "hard_sigmoid" => Step::HardSigmoid(view.float("alpha").ok()? as f32, view.float("beta").ok()? as f32),
            "clip" if position == 0 => {
                let bound = |slot: usize, default: f32| match view.inputs.get(slot) {
                    Some(Some(operand)) => scalar_constant(operand),
                    _ => Some(default),
                };
                Step::Clip(bound(1, f32::NEG_INFINITY)?, bound(2, f32::INFINITY)?)
            }
            _ => return None,
        };
        descriptor.epilogue.push(step);
        previous = op.result(0).ok()?.into();
    }
    let result = layout_ops.blocked_result.unwrap_or(returned.operand(0).ok()?);
    if returned.operand_count() != 1 || result != previous || !has_single_use(previous) {
        return None;
    }
    let mut out_shape = out_shape;
    if !layout_ops.is_empty() {
        descriptor.layout = blocked_operands(&layout_ops, &mut operands, &descriptor, fixed)?;
        if descriptor.layout.output_blocked {
            out_shape = vec![1, out_shape[1] / 8, out_shape[2], out_shape[3], 8];
        }
    }
    // The runtime refuses a descriptor it cannot honour (and would then write nothing):
    // such a kernel lowers op by op instead.
    Descriptor::decode(&descriptor.encode())?;
    Some(FusedKernel {
        ops: operand_transposes
            .iter()
            .map(|t| t.op)
            .chain(layout_ops.prologue)
            .chain(ops)
            .chain(layout_ops.epilogue)
            .collect(),
        operands,
        descriptor,
        out_shape,
        quantization,
        element,
    })
}

/// The conversions `ftensor-blocked-layout` wrote into a kernel: for each blocked argument
/// a prologue `graph.transpose` → `graph.reshape` back to NCHW, and for a blocked result
/// an epilogue `graph.reshape` → `graph.transpose` before the return.
#[derive(Default)]
struct LayoutOps<'c, 'a> {
    /// The prologue's ops, in order.
    prologue: Vec<OperationRef<'c, 'a>>,
    /// Each blocked argument's NCHW value (the reshape's result) and the argument.
    unblocked: Vec<(Value<'c, 'a>, Value<'c, 'a>)>,
    /// The epilogue's ops, in order.
    epilogue: Vec<OperationRef<'c, 'a>>,
    /// The NCHW value the epilogue blocks.
    blocked_result: Option<Value<'c, 'a>>,
}

impl LayoutOps<'_, '_> {
    fn is_empty(&self) -> bool {
        self.prologue.is_empty() && self.epilogue.is_empty()
    }
}

/// A `graph.transpose` at the front of a kernel whose result only the matmul after it reads,
/// as its operand `slot` (A or B): the matmul reads `input` through strides instead.
struct OperandTranspose<'c, 'a> {
    op: OperationRef<'c, 'a>,
    slot: usize,
    input: Value<'c, 'a>,
    shape: Vec<i64>,
    perm: Vec<i64>,
}

/// Takes the transposes off the front of `ops` when they feed the `graph.mat_mul` right
/// after them, each one operand of it and nothing else (`ftensor-fold-transposes` puts
/// them there); else leaves `ops` as it is.
fn peel_operand_transposes<'c, 'a>(ops: &mut Vec<OperationRef<'c, 'a>>) -> Vec<OperandTranspose<'c, 'a>> {
    let count = ops.iter().take_while(|op| op_name(*op) == "graph.transpose").count();
    let Some(root) = ops
        .get(count)
        .filter(|root| count > 0 && op_name(*root) == "graph.mat_mul")
    else {
        return Vec::new();
    };
    let peel = |op: &OperationRef<'c, 'a>| -> Option<OperandTranspose<'c, 'a>> {
        let result: Value = op.result(0).ok()?.into();
        let slot = (0..2).find(|&s| root.operand(s).is_ok_and(|v| v == result))?;
        let input = op.operand(0).ok()?;
        let perm = view_of(*op, true).ok()?.ints("perm").ok()?;
        (has_single_use(result) && root.operand(1 - slot).is_ok_and(|v| v != result)).then_some(OperandTranspose {
            op: *op,
            slot,
            input,
            shape: shape_of(input)?,
            perm,
        })
    };
    let Some(peeled) = ops[..count].iter().map(peel).collect::<Option<Vec<_>>>() else {
        return Vec::new();
    };
    if peeled.len() == 2 && peeled[0].slot == peeled[1].slot {
        return Vec::new();
    }
    ops.drain(..count);
    peeled
}

/// Whether `op` is a `graph.transpose` with permutation `perm`.
fn is_transpose(op: &OperationRef, perm: &[i64]) -> bool {
    op_name(op) == "graph.transpose" && view_of(*op, true).is_ok_and(|view| view.ints("perm").is_ok_and(|p| p == perm))
}

/// The static shape of `value`'s tensor type.
fn shape_of(value: Value) -> Option<Vec<i64>> {
    fuser_dialects::ffi::tensor_info(value.r#type())?.static_shape()
}

/// Whether `blocked` is `[1, C/8, H, W, 8]` for `plain`, `[1, C, H, W]`.
fn is_blocked_shape(blocked: &[i64], plain: &[i64]) -> bool {
    matches!((blocked, plain), ([1, cb, h, w, 8], [1, c, ph, pw]) if cb * 8 == *c && h == ph && w == pw)
}

/// Takes the blocked layout's conversions off the front and back of `ops` (see
/// [`LayoutOps`]), each pair checked to be the exact layout change between
/// `[1, C/8, H, W, 8]` and `[1, C, H, W]` and nothing else; `None` when they are there but
/// malformed.
fn peel_layout<'c, 'a>(
    ops: &mut Vec<OperationRef<'c, 'a>>,
    returned: OperationRef<'c, 'a>,
) -> Option<LayoutOps<'c, 'a>> {
    let mut layout = LayoutOps::default();
    while ops.len() > 2 && is_transpose(&ops[0], &[0, 1, 4, 2, 3]) && op_name(&ops[1]) == "graph.reshape" {
        let (transpose, reshape) = (ops[0], ops[1]);
        let argument = transpose.operand(0).ok()?;
        let unblocked: Value = reshape.result(0).ok()?.into();
        if melior::ir::block::BlockArgument::try_from(argument).is_err()
            || !is_blocked_shape(&shape_of(argument)?, &shape_of(unblocked)?)
            || reshape.operand(0).ok()? != transpose.result(0).ok()?.into()
            || !has_single_use(transpose.result(0).ok()?.into())
            || !has_single_use(unblocked)
        {
            return None;
        }
        layout.unblocked.push((unblocked, argument));
        layout.prologue.extend(ops.drain(..2));
    }
    let n = ops.len();
    if n > 2 && is_transpose(&ops[n - 1], &[0, 1, 3, 4, 2]) && op_name(&ops[n - 2]) == "graph.reshape" {
        let (reshape, transpose) = (ops[n - 2], ops[n - 1]);
        let blocked: Value = transpose.result(0).ok()?.into();
        let (plain, split) = (reshape.operand(0).ok()?, reshape.result(0).ok()?.into());
        let plain_shape = shape_of(plain)?;
        // [1, C, H, W] → [1, C/8, 8, H, W] → [1, C/8, H, W, 8].
        let split_as_expected = matches!((plain_shape.as_slice(), shape_of(split)?.as_slice()),
            ([1, c, h, w], [1, cb, 8, sh, sw]) if cb * 8 == *c && h == sh && w == sw);
        if !split_as_expected
            || !is_blocked_shape(&shape_of(blocked)?, &plain_shape)
            || transpose.operand(0).ok()? != split
            || !has_single_use(reshape.result(0).ok()?.into())
            || returned.operand(0).ok()? != blocked
        {
            return None;
        }
        layout.blocked_result = Some(plain);
        layout.epilogue = ops.split_off(n - 2);
    }
    Some(layout)
}

/// The layout of a conv (or depthwise conv, or max pooling) whose kernel had `layout`
/// conversions: each unblocked value among `operands` becomes its blocked argument. The
/// input may be blocked; the full-size epilogue operands must be blocked exactly when the
/// result is, and nothing else may be (a pooling's input, in both of its slots, aside).
fn blocked_operands<'c, 'a>(
    layout: &LayoutOps<'c, 'a>,
    operands: &mut [Value<'c, 'a>],
    descriptor: &Descriptor,
    fixed: usize,
) -> Option<Layout> {
    if !matches!(
        descriptor.contraction,
        Contraction::Conv2d | Contraction::Depthwise2d | Contraction::MaxPool2d
    ) || fixed != 2
    {
        return None;
    }
    // A max pooling reads its input alone, passed for both A and B: blocked in both slots
    // or in neither.
    let pooling = descriptor.contraction == Contraction::MaxPool2d;
    if pooling && operands[0] != operands[1] {
        return None;
    }
    let full: Vec<usize> = descriptor
        .epilogue
        .iter()
        .filter_map(|step| match *step {
            Step::AddFull(i) | Step::MulFull(i) => Some(fixed + i),
            _ => None,
        })
        .collect();
    let mut used = 0;
    let mut blocked = vec![false; operands.len()];
    for (slot, operand) in operands.iter_mut().enumerate() {
        if let Some((_, argument)) = layout.unblocked.iter().find(|(value, _)| value == operand) {
            *operand = *argument;
            blocked[slot] = true;
            used += 1;
        }
    }
    let output_blocked = layout.blocked_result.is_some();
    if pooling && blocked[1] {
        used -= 1;
        blocked[0] = false;
    }
    let valid = used == layout.unblocked.len()
        && !blocked[0]
        && (fixed..operands.len()).all(|slot| blocked[slot] == (output_blocked && full.contains(&slot)));
    valid.then_some(Layout {
        input_blocked: blocked[1],
        output_blocked,
    })
}

/// The value in operand slot `slot` of `op` (by its IRDL spec).
fn operand_group<'c, 'a>(op: &OperationRef<'c, 'a>, slot: usize) -> Option<Value<'c, 'a>> {
    let spec = fuser_dialects::spec::find_op(&op_name(op))?;
    fuser_dialects::accessors::operand_group(op, spec, slot)
        .first()
        .copied()
}

/// The value of a one-element constant operand.
fn scalar_constant(operand: &super::Operand) -> Option<f32> {
    let value = operand.value.as_ref()?;
    (value.len() == 1).then(|| value.to_f64_vec()[0] as f32)
}

/// The epilogue step of `add`/`mul` with `operand` (a scalar constant, or a row, column
/// or full operand of the `[M, N]` view), registering a non-scalar operand for the call.
fn operand_step<'c, 'a>(
    op: &str,
    value: Value<'c, 'a>,
    operand: &super::Operand,
    out: &[i64],
    rows: Rows,
    fixed: usize,
    operands: &mut Vec<Value<'c, 'a>>,
) -> Option<Step> {
    if let Some(c) = scalar_constant(operand) {
        return Some(if op == "add" {
            Step::AddScalar(c)
        } else {
            Step::MulScalar(c)
        });
    }
    let shape = static_shape(&operand.info).ok()?;
    if shape.len() > out.len() {
        return None;
    }
    // Right-align the operand's shape with the output's (numpy broadcasting).
    let mut aligned = vec![1; out.len() - shape.len()];
    aligned.extend(&shape);
    let rank = out.len();
    let kind = if aligned == out {
        2
    } else {
        match rows {
            Rows::Channels if rank == 4 && aligned == [1, out[1], 1, 1] => 0,
            Rows::Leading if aligned[..rank - 1].iter().all(|&d| d == 1) && aligned[rank - 1] == out[rank - 1] => 1,
            Rows::Leading if aligned[..rank - 1] == out[..rank - 1] && aligned[rank - 1] == 1 => 0,
            _ => return None,
        }
    };
    let slot = match operands[fixed..].iter().position(|v| value_key(*v) == value_key(value)) {
        Some(i) => i,
        None if operands.len() - fixed < MAX_EPILOGUE_OPERANDS => {
            operands.push(value);
            operands.len() - fixed - 1
        }
        None => return None,
    };
    Some(match (op, kind) {
        ("add", 0) => Step::AddRow(slot),
        ("add", 1) => Step::AddColumn(slot),
        ("add", _) => Step::AddFull(slot),
        (_, 0) => Step::MulRow(slot),
        (_, 1) => Step::MulColumn(slot),
        _ => Step::MulFull(slot),
    })
}

/// The contraction of `view`, its row convention and output shape, if the runtime
/// implements it.
fn contraction(view: &OpView) -> Option<(Descriptor, Rows, Vec<i64>)> {
    if view.op == "max_pool" {
        return max_pool(view);
    }
    let (a, b) = (view.input(0).ok()?, view.input(1).ok()?);
    let out = static_shape(view.result(0).ok()?).ok()?;
    // A quantized contraction is its float one over i8 weights.
    let (op, weight_type) = match view.op.as_str() {
        "ftensor.quantized_conv" => ("conv", DType::I8),
        "ftensor.quantized_mat_mul" => ("mat_mul", DType::I8),
        // f16 and bf16 contractions match too, for the GPUs' matrix cores.
        other if matches!(a.info.dtype, DType::F16 | DType::BF16) => (other, a.info.dtype),
        other => (other, DType::F32),
    };
    let float = if weight_type == DType::I8 {
        DType::F32
    } else {
        weight_type
    };
    // A quantized contraction's activation may also arrive as codes (u8 or i8).
    let codes = weight_type == DType::I8 && matches!(a.info.dtype, DType::U8 | DType::I8);
    if (a.info.dtype != float && !codes) || b.info.dtype != weight_type || out.contains(&0) {
        return None;
    }
    let (sa, sb) = (static_shape(&a.info).ok()?, static_shape(&b.info).ok()?);
    let matmul = |m: i64, n: i64, k: i64, strides: [i64; 4]| Descriptor {
        contraction: Contraction::Matmul,
        m,
        n,
        k,
        strides,
        conv: ConvGeometry::default(),
        batch: Batch::default(),
        constant_weights: 0,
        layout: Layout::default(),
        epilogue: Vec::new(),
    };
    match op {
        "mat_mul" if sa.len() >= 2 && sb.len() == 2 => {
            let (k, n) = (sb[0], sb[1]);
            let m: i64 = sa[..sa.len() - 1].iter().product();
            Some((matmul(m, n, k, [k, 1, n, 1]), Rows::Leading, out))
        }
        // A batch of products (attention's): B's batch dimensions are A's, or all 1 (one B
        // for every product); A's are the output's.
        "mat_mul" if sa.len() >= 3 && sb.len() == sa.len() && weight_type == DType::F32 => {
            let r = sa.len();
            let (m, k, n) = (sa[r - 2], sa[r - 1], sb[r - 1]);
            let shared_b = sb[..r - 2].iter().all(|&d| d == 1);
            if sb[r - 2] != k || out[..r - 2] != sa[..r - 2] || !(shared_b || sb[..r - 2] == sa[..r - 2]) {
                return None;
            }
            let mut descriptor = matmul(m, n, k, [k, 1, n, 1]);
            descriptor.batch = Batch {
                count: sa[..r - 2].iter().product(),
                a_stride: m * k,
                b_stride: if shared_b { 0 } else { k * n },
            };
            Some((descriptor, Rows::Leading, out))
        }
        "gemm" if sa.len() == 2 && sb.len() == 2 => {
            let (trans_a, trans_b) = (view.int("trans_a").ok()? != 0, view.int("trans_b").ok()? != 0);
            let (m, k) = if trans_a { (sa[1], sa[0]) } else { (sa[0], sa[1]) };
            let n = if trans_b { sb[0] } else { sb[1] };
            let a_strides = if trans_a { [1, m] } else { [k, 1] };
            let b_strides = if trans_b { [1, k] } else { [n, 1] };
            let strides = [a_strides[0], a_strides[1], b_strides[0], b_strides[1]];
            Some((matmul(m, n, k, strides), Rows::Leading, out))
        }
        "conv" if sa.len() == 4 && sa[0] == 1 => {
            let group = view.int("group").ok()?;
            let (strides, dilations, pads) = (
                view.ints("strides").ok()?,
                view.ints("dilations").ok()?,
                view.ints("pads").ok()?,
            );
            let (channels, features) = (sa[1], sb[0]);
            let kind = if group == 1 {
                Contraction::Conv2d
            } else if weight_type == DType::F32 && group == channels && features == channels && sb[1] == 1 {
                Contraction::Depthwise2d
            } else {
                return None;
            };
            let (kh, kw) = (sb[2], sb[3]);
            let k = if kind == Contraction::Conv2d {
                channels * kh * kw
            } else {
                kh * kw
            };
            let conv = window_geometry(&sa, &[kh, kw], &out, &strides, &dilations, &pads);
            let descriptor = Descriptor {
                contraction: kind,
                m: features,
                n: out[2] * out[3],
                k,
                strides: [k, 1, out[2] * out[3], 1],
                conv,
                batch: Batch::default(),
                constant_weights: 0,
                layout: Layout::default(),
                epilogue: Vec::new(),
            };
            Some((descriptor, Rows::Channels, out))
        }
        _ => None,
    }
}

/// The runtime's geometry of a 2-D window op (conv or pooling) on an NCHW input of shape
/// `input` with an NCHW output of shape `out`: the window, strides, dilations and the
/// top/left pads (each attribute's first two values).
fn window_geometry(
    input: &[i64],
    kernel: &[i64],
    out: &[i64],
    strides: &[i64],
    dilations: &[i64],
    pads: &[i64],
) -> ConvGeometry {
    ConvGeometry {
        channels: input[1],
        height: input[2],
        width: input[3],
        kernel_h: kernel[0],
        kernel_w: kernel[1],
        out_h: out[2],
        out_w: out[3],
        stride_h: strides[0],
        stride_w: strides[1],
        dilation_h: dilations[0],
        dilation_w: dilations[1],
        pad_top: pads[0],
        pad_left: pads[1],
    }
}

/// A 2-D f32 MaxPool at batch 1 without its indices result, as the runtime's windowed
/// loop computes it (rows are channels; the output shape already holds the ceil mode).
fn max_pool(view: &OpView) -> Option<(Descriptor, Rows, Vec<i64>)> {
    let x = view.input(0).ok()?;
    let (sx, out) = (static_shape(&x.info).ok()?, static_shape(view.result(0).ok()?).ok()?);
    if x.info.dtype != DType::F32 || sx.len() != 4 || sx[0] != 1 || view.has_result(1) || out.contains(&0) {
        return None;
    }
    let (kernel, strides, dilations, pads) = (
        view.ints("kernel_shape").ok()?,
        view.ints("strides").ok()?,
        view.ints("dilations").ok()?,
        view.ints("pads").ok()?,
    );
    let conv = window_geometry(&sx, &kernel, &out, &strides, &dilations, &pads);
    let descriptor = Descriptor {
        contraction: Contraction::MaxPool2d,
        m: sx[1],
        n: out[2] * out[3],
        k: kernel[0] * kernel[1],
        strides: [0; 4],
        conv,
        batch: Batch::default(),
        constant_weights: 0,
        layout: Layout::default(),
        epilogue: Vec::new(),
    };
    Some((descriptor, Rows::Channels, out))
}

/// The first line of a kernel's lowering: `func.func @lowered(%v0: <operand 0>, ...)
/// -> out_ty {`, its arguments the kernel's operands in order.
pub(crate) fn lowered_header(kernel: &FusedKernel, out_ty: &str) -> String {
    let arguments: Vec<String> = kernel
        .operands
        .iter()
        .enumerate()
        .map(|(i, v)| format!("%v{i}: {}", v.r#type()))
        .collect();
    format!("func.func @lowered({}) -> {out_ty} {{\n", arguments.join(", "))
}

/// The lowering of a matched kernel: a `func.func @lowered` taking the call's operands
/// and returning the output, followed by the runtime function's declaration.
pub fn lowered_text(kernel: &FusedKernel) -> Option<String> {
    let memref = |ty: &str| ty.replacen("tensor<", "memref<", 1);
    let types: Vec<String> = kernel.operands.iter().map(|v| v.r#type().to_string()).collect();
    let fixed = kernel.contraction_operands();
    // The weights of an INT8 contraction are i8, its activation f32 or codes (the
    // zero point's type); everything else is f32, and so is the output unless the kernel
    // ends in a quantize.
    let code_type = |q: &ActivationQuantization| if q.signed { "xi8>" } else { "xui8>" };
    let expected = |i: usize| match &kernel.quantization {
        Some(_) if i == 0 => "xi8>",
        Some(call) if i == 1 && call.input_is_codes => code_type(&call.input),
        _ => "xf32>",
    };
    if types
        .iter()
        .enumerate()
        .any(|(i, t)| !t.starts_with("tensor<") || !t.ends_with(expected(i)))
    {
        return None;
    }
    let dims: Vec<String> = kernel.out_shape.iter().map(|d| d.to_string()).collect();
    let out_element = match kernel.quantization.as_ref().and_then(|call| call.output.as_ref()) {
        Some(q) => code_type(q),
        None => "xf32>",
    };
    let out_ty = format!("tensor<{}{out_element}", dims.join("x"));
    let mut text = lowered_header(kernel, &out_ty);
    // Constant word arrays the call reads by address.
    let mut words_constant = |name: &str, words: &[i64]| {
        let words_text: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        let ty = format!("tensor<{}xi64>", words.len());
        text.push_str(&format!(
            "  %{name} = arith.constant dense<[{}]> : {ty}\n  %{name}m = bufferization.to_buffer %{name} read_only : {ty} to {}\n  %p{name} = memref.extract_aligned_pointer_as_index %{name}m : {} -> index\n",
            words_text.join(", "),
            memref(&ty),
            memref(&ty)
        ));
    };
    words_constant("d", &kernel.descriptor.encode());
    if let Some(q) = &kernel.quantization {
        words_constant("q", &q.encode());
    }
    for (i, t) in types.iter().enumerate() {
        text.push_str(&format!(
            "  %m{i} = bufferization.to_buffer %v{i} read_only : {t} to {}\n  %p{i} = memref.extract_aligned_pointer_as_index %m{i} : {} -> index\n",
            memref(t),
            memref(t)
        ));
    }
    let out_memref = memref(&out_ty);
    text.push_str(&format!(
        "  %o = memref.alloc() {{alignment = 64 : i64}} : {out_memref}\n  %po = memref.extract_aligned_pointer_as_index %o : {out_memref} -> index\n  %none = arith.constant 0 : index\n"
    ));
    let (function, arity, mut args) = match kernel.quantization {
        Some(_) => (
            FUSED_Q8,
            FUSED_Q8_ARITY,
            vec![
                "%pq".to_string(),
                "%pd".into(),
                "%p0".into(),
                "%p1".into(),
                "%po".into(),
                "%p2".into(),
            ],
        ),
        None => (
            FUSED_F32,
            FUSED_F32_ARITY,
            vec!["%pd".to_string(), "%p0".into(), "%p1".into(), "%po".into()],
        ),
    };
    for i in 0..MAX_EPILOGUE_OPERANDS {
        args.push(if i + fixed < types.len() {
            format!("%p{}", i + fixed)
        } else {
            "%none".into()
        });
    }
    text.push_str(&format!(
        "  func.call @{function}({}) : ({}) -> ()\n  %r = bufferization.to_tensor %o restrict writable : {out_memref} to {out_ty}\n  func.return %r : {out_ty}\n}}\n{}",
        args.join(", "),
        vec!["index"; arity].join(", "),
        declaration_of(function, arity)
    ));
    Some(text)
}

/// Marks the kernel function of a kernel the CPU runtime computes with the arguments its
/// output may be written over (`ftensor.in_place_args`, which `hw-plan-memory` honours
/// where such an argument's buffer dies at the call): those an epilogue step adds or
/// multiplies in full (a residual) that have the output's type. Every runtime path reads
/// such an operand at an output position before it writes that position, or computes into
/// a buffer of its own when the operand overlaps the output (`epilogue_reads_output`).
/// An argument the contraction reads too is left out (it reads other positions).
/// A ResNet bottleneck's last conv then writes its sum over the block's input: one
/// activation buffer less to bring into the cache.
pub fn mark_in_place_arguments(kernel: &FusedKernel) {
    let Some(function) = kernel.ops[0].parent_operation() else {
        return;
    };
    let Some(returned) = function
        .region(0)
        .ok()
        .and_then(|r| r.first_block())
        .and_then(|b| b.terminator())
        .and_then(|t| t.operand(0).ok())
    else {
        return;
    };
    let fixed = kernel.contraction_operands();
    let mut arguments: Vec<i64> = kernel
        .descriptor
        .epilogue
        .iter()
        .filter_map(|step| match *step {
            Step::AddFull(slot) | Step::MulFull(slot) => kernel.operands.get(fixed + slot),
            _ => None,
        })
        // Not one the contraction reads as well: it reads other positions than it writes.
        .filter(|value| value.r#type() == returned.r#type() && !kernel.operands[..fixed].contains(value))
        .filter_map(|value| melior::ir::block::BlockArgument::try_from(*value).ok())
        .filter(|argument| argument.owner().parent_operation() == Some(function))
        .map(|argument| argument.argument_number() as i64)
        .collect();
    arguments.sort_unstable();
    arguments.dedup();
    if !arguments.is_empty() {
        fuser_dialects::ffi::set_attribute(
            function,
            "ftensor.in_place_args",
            fuser_dialects::ffi::make::i64_array(function.context(), &arguments),
        );
    }
}

/// Replaces a matched kernel's ops by the body of `lowered`.
pub fn splice_kernel(kernel: &FusedKernel, lowered: &melior::ir::Module) {
    let last = *kernel.ops.last().expect("a matched kernel has ops");
    super::splice_values(last, &kernel.operands, lowered);
    for op in kernel.ops.iter().rev() {
        fuser_dialects::ffi::erase_operation(*op);
    }
}
