//! `ftensor-blocked-layout`: conv kernels hand the conv kernels they feed their output
//! channel-blocked, `[1][C/8][H][W][8]` (onnxruntime's NCHWc), instead of NCHW.
//!
//! On AVX2 the CPU runtime's conv computes 8 output channels in a vector and reads its
//! input 8 channels at a time: with NCHW tensors between kernels it transposes its input
//! in and its output out on every call. Here the tensor between two such kernels is
//! blocked: the producer ends in `graph.reshape` → `graph.transpose` (NCHW to blocked) and
//! returns the blocked tensor, and each consumer starts with `graph.transpose` →
//! `graph.reshape` (back to NCHW) on that argument. The graph ops state the layout, so the
//! reference evaluator, `--compare-with reference` and any lowering that does not know it
//! compute the same values; the CPU's fused-kernel lowering takes the pair as the
//! runtime's blocked layout (`fuser_runtime::fused::Layout`) and drops it.
//!
//! A value between kernels is blocked when its producer is a conv kernel that may write
//! it blocked and every use is a conv kernel reading it as its input, or as a residual of
//! an output that is blocked too. A max pooling kernel counts as a conv kernel here: it
//! reads and writes blocked tensors without weights or residuals. Those conditions tie call sites together, so they are
//! settled as a greatest fixpoint; a kernel called with different layouts is cloned, one
//! function per layout. The pass is idempotent: a blocked input starts its kernel with a
//! transpose instead of the conv, and a blocked output is returned from one, so a value
//! it blocked qualifies no more (a second run can only find less).

use crate::kernel_functions::{build_graph_op, clone_kernel};
use crate::registry::{PassId, PassInfo, PassOptionInfo, PassOptions, external_pass};
use fuser_dialects::{
    accessors::{AttrValue, op_name, symbol_name},
    ffi::{
        body_and_return, callee, emit_error, has_single_use, nested_operations, parse_attribute, parse_type,
        replace_uses_except, set_attribute, set_operand, set_value_type, sync_function_type, tensor_info, value_key,
    },
    semantics::Tensor,
};
use melior::{
    ir::{BlockLike, OperationRef, Value, ValueLike, operation::OperationLike},
    pass::{ExternalPass, Pass},
};
use std::collections::HashMap;

static FTENSOR_BLOCKED_LAYOUT_PASS_ID: PassId = PassId;

/// Channels in a block.
const LANES: i64 = 8;

pub const INFO: PassInfo = PassInfo {
    flag: "ftensor-blocked-layout",
    type_name: "FtensorBlockedLayoutPass",
    summary: "conv and max-pool kernels hand the conv and pool kernels they feed channel-blocked tensors ([1][C/8][H][W][8]) on AVX2 CPUs",
    description: r#"Runs after kernel formation (`graph-eqsat-fuse`). A kernel qualifies when
it is private and its first op is an f32 `graph.conv` (batch 1) whose output channels are
a multiple of 8, with weights that are a constant (inside, or at each call that takes a
blocked layout): a depthwise conv, or a conv of one group of a shape the runtime's AVX2
conv takes (`fuser_runtime::fused::conv_takes_blocked_layout`). It may read its input
blocked when the input is an argument used by the conv alone with a multiple of 8
channels, and write its result blocked, with its residuals (arguments of the result's
type, each an operand of one `graph.add` or `graph.mul` alone), when it returns one
tensor of its conv's shape and its input has no other use. A result between two call sites is blocked when its producer may write it so and
every use is a qualifying call's input, or the residual of a call whose result is blocked
too (a greatest fixpoint over the call sites). A kernel whose first op is a 2-D f32
`graph.max_pool` (batch 1, a multiple of 8 channels, no indices) qualifies too: it may read
its input blocked, and write its result blocked when it returns the pooling alone (a
ResNet's stem, pooling and first conv then pass blocked tensors). Each kernel gets one function per layout
its calls need: the kernel itself when none of its calls stays NCHW, and clones named
`<kernel>_blocked_in`, `_out` or `_io` for the others.

`target=host` (the default) turns the pass on where the runtime computes blocked convs
without copies (AVX2 with FMA, no AVX-512); `target=avx2` always, `target=none` never.

Before:
```mlir
func.func private @k1(%x: tensor<1x64x56x56xf32>, %w: ...) -> tensor<1x64x56x56xf32>
    attributes {ftensor.kernel} {
  %y = "graph.conv"(%x, %w, %b) ... -> tensor<1x64x56x56xf32>
  %r = "graph.relu"(%y) ...
  return %r : tensor<1x64x56x56xf32>
}
```
After (a blocked output; a blocked input starts with the inverse pair):
```mlir
func.func private @k1(%x: tensor<1x64x56x56xf32>, %w: ...) -> tensor<1x8x56x56x8xf32>
    attributes {ftensor.kernel} {
  ...
  %s = "graph.constant"() {value = dense<[1, 8, 8, 56, 56]> : tensor<5xi64>} ...
  %p = "graph.reshape"(%r, %s) {allowzero = 0 : i64} ... -> tensor<1x8x8x56x56xf32>
  %t = "graph.transpose"(%p) {perm = array<i64: 0, 1, 3, 4, 2>} ... -> tensor<1x8x56x56x8xf32>
  return %t : tensor<1x8x56x56x8xf32>
}
```"#,
    options: &[PassOptionInfo {
        name: "target",
        default: "host",
        help: "host (where this CPU's runtime takes blocked convs), avx2 (always) or none",
    }],
    create,
};

fn create(options: &PassOptions) -> Result<Pass, String> {
    let enabled = match options.get("target").map_or("host", String::as_str) {
        "host" => fuser_runtime::fused::blocked_layout_on_host(),
        "avx2" => true,
        "none" => false,
        other => {
            return Err(format!(
                "pass 'ftensor-blocked-layout': unknown target '{other}' (known: host, avx2, none)"
            ));
        }
    };
    Ok(external_pass(
        &FTENSOR_BLOCKED_LAYOUT_PASS_ID,
        &INFO,
        move |op: OperationRef, pass: ExternalPass| {
            if !enabled {
                return;
            }
            if let Err(message) = block_layouts(op) {
                emit_error(op.location(), &format!("ftensor-blocked-layout: {message}"));
                pass.signal_failure();
            }
        },
    ))
}

/// What a kernel function may do in the blocked layout.
#[derive(Clone, Default)]
struct Capability {
    /// The argument its conv reads, when it may read it blocked.
    input: Option<usize>,
    /// Whether it may return its result blocked.
    output: bool,
    /// The arguments of the result's type (residuals), other than the conv's input.
    residuals: Vec<usize>,
    /// The argument that holds the conv's weights (`None`: a constant inside), which must
    /// be a constant at a call that takes a blocked layout.
    weights: Option<usize>,
}

/// The static shape of an f32 tensor type of rank `rank`.
fn f32_shape(ty: melior::ir::Type, rank: usize) -> Option<Vec<i64>> {
    let info = tensor_info(ty)?;
    let shape = info.static_shape()?;
    (info.element == "f32" && shape.len() == rank).then_some(shape)
}

fn capability(kernel: OperationRef) -> Option<Capability> {
    let (block, ret) = body_and_return(kernel).ok()?;
    let mut root = block.first_operation();
    while let Some(op) = root.filter(|op| op_name(op) == "graph.constant") {
        root = op.next_in_block();
    }
    let root = root?;
    if op_name(&root) == "graph.max_pool" {
        return pooling_capability(kernel, root, ret);
    }
    if op_name(&root) != "graph.conv" || root.operand_count() < 2 {
        return None;
    }
    let x = root.operand(0).ok()?;
    let input_shape = f32_shape(x.r#type(), 4)?;
    let weight_shape = f32_shape(root.operand(1).ok()?.r#type(), 4)?;
    let out_shape = f32_shape(root.result(0).ok()?.r#type(), 4)?;
    let (channels, features) = (input_shape[1], weight_shape[0]);
    // Batch 1; one group (a shape the AVX2 conv takes), or depthwise (any shape).
    let depthwise = weight_shape[1] == 1 && features == channels;
    let reduction_steps = channels * weight_shape[2] * weight_shape[3];
    let takes = match weight_shape[1] == channels {
        true => {
            let window = weight_shape[2] * weight_shape[3];
            fuser_runtime::fused::conv_takes_blocked_layout(features, reduction_steps, window)
        }
        false => depthwise,
    };
    if input_shape[0] != 1 || features % LANES != 0 || !takes {
        return None;
    }
    // A public kernel keeps the signature callers outside the module see.
    if !crate::kernel_functions::is_private(kernel) {
        return None;
    }
    let arguments: Vec<Value> = (0..block.argument_count())
        .map(|i| block.argument(i).map(Value::from))
        .collect::<Result<_, _>>()
        .ok()?;
    // The runtime's blocked conv packs constant weights once; weights that may change
    // between calls would take the copies.
    let w = root.operand(1).ok()?;
    let weights = match arguments.iter().position(|a| *a == w) {
        Some(i) => Some(i),
        None if producer_is_constant(w) => None,
        None => return None,
    };
    let input = arguments
        .iter()
        .position(|a| *a == x)
        .filter(|_| channels % LANES == 0 && has_single_use(x));
    let returns_conv_shape = ret.operand_count() == 1
        && ret.operand(0).ok().and_then(|v| f32_shape(v.r#type(), 4)).as_ref() == Some(&out_shape);
    let residuals: Vec<usize> = arguments
        .iter()
        .enumerate()
        .filter(|(_, a)| **a != x && f32_shape(a.r#type(), 4).as_ref() == Some(&out_shape))
        .map(|(i, _)| i)
        .collect();
    // A blocked output takes its residuals blocked: each must be an operand of the chain's
    // `add` or `mul` alone (the lowering's full-size epilogue operands), and the conv's
    // own input must not be one (it would stay NCHW).
    let operations = nested_operations(kernel);
    let chain_operand = |value: Value| {
        has_single_use(value)
            && operations.iter().any(|op| {
                matches!(op_name(op).as_str(), "graph.add" | "graph.mul")
                    && (0..op.operand_count()).any(|i| op.operand(i).is_ok_and(|v| v == value))
            })
    };
    let output = returns_conv_shape && has_single_use(x) && residuals.iter().all(|&i| chain_operand(arguments[i]));
    Some(Capability {
        input,
        output,
        residuals,
        weights,
    })
}

/// A max pooling kernel's capability: a private kernel whose first op is a 2-D f32
/// `graph.max_pool` at batch 1 without its indices, of a multiple of 8 channels, that
/// returns the pooling alone, may read its input and write its result blocked (the
/// runtime pools blocked tensors in place: `fuser_runtime`'s `max_pool_channels`). A
/// ResNet's stem then hands the pooling, and the pooling its first conv, blocked tensors.
fn pooling_capability(kernel: OperationRef, root: OperationRef, ret: OperationRef) -> Option<Capability> {
    let x = root.operand(0).ok()?;
    let input_shape = f32_shape(x.r#type(), 4)?;
    let out_shape = f32_shape(root.result(0).ok()?.r#type(), 4)?;
    if root.result_count() != 1
        || input_shape[0] != 1
        || input_shape[1] % LANES != 0
        || !crate::kernel_functions::is_private(kernel)
        || !has_single_use(x)
    {
        return None;
    }
    let (block, _) = body_and_return(kernel).ok()?;
    let input = (0..block.argument_count()).find(|&i| block.argument(i).is_ok_and(|a| Value::from(a) == x))?;
    let pooled: Value = root.result(0).ok()?.into();
    let returns_pool = ret.operand_count() == 1
        && ret.operand(0).ok() == Some(pooled)
        && f32_shape(pooled.r#type(), 4).as_ref() == Some(&out_shape);
    Some(Capability {
        input: Some(input),
        output: returns_pool,
        residuals: Vec::new(),
        weights: None,
    })
}

/// Whether `value` is the result of a constant op.
fn producer_is_constant(value: Value) -> bool {
    melior::ir::operation::OperationResult::try_from(value)
        .is_ok_and(|result| matches!(op_name(&result.owner()).as_str(), "graph.constant" | "arith.constant"))
}

/// The layout one call site takes: its input blocked, its output (and residuals) blocked.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
struct Signature {
    input: bool,
    output: bool,
}

/// The pass over a module (see the module docs).
pub fn block_layouts(module: OperationRef) -> Result<(), String> {
    let operations = nested_operations(module);
    let kernels = crate::kernel_functions::kernels_by_name(&operations);
    let capabilities: HashMap<&str, Capability> = kernels
        .iter()
        .filter_map(|(name, kernel)| Some((name.as_str(), capability(*kernel)?)))
        .collect();
    let calls: Vec<(OperationRef, &Capability)> = operations
        .iter()
        .filter(|op| op_name(*op) == "func.call")
        .filter_map(|call| Some((*call, capabilities.get(callee(call)?.as_str())?)))
        .collect();
    // Optimistic start: every call site in every layout its kernel allows, where it passes
    // constant weights.
    let mut signatures: Vec<Signature> = calls
        .iter()
        .map(|(call, capability)| {
            let constant = capability
                .weights
                .is_none_or(|i| call.operand(i).is_ok_and(producer_is_constant));
            Signature {
                input: constant && capability.input.is_some(),
                output: constant && capability.output && call.result_count() == 1,
            }
        })
        .collect();
    // Every use of every value: the user and the operand's slot.
    let mut uses: HashMap<usize, Vec<(OperationRef, usize)>> = HashMap::new();
    for op in &operations {
        for slot in 0..op.operand_count() {
            let value = op.operand(slot).map_err(|e| e.to_string())?;
            uses.entry(value_key(value)).or_default().push((*op, slot));
        }
    }
    let producer = |value: Value| -> Option<usize> {
        let result = melior::ir::operation::OperationResult::try_from(value).ok()?;
        calls.iter().position(|(call, _)| *call == result.owner())
    };
    loop {
        let mut changed = false;
        for (index, (call, capability)) in calls.iter().enumerate() {
            let blocked_from = |signatures: &[Signature], operand: usize| {
                call.operand(operand)
                    .ok()
                    .and_then(producer)
                    .is_some_and(|p| signatures[p].output)
            };
            let mut signature = signatures[index];
            if signature.input && !blocked_from(&signatures, capability.input.expect("an input to block")) {
                signature.input = false;
            }
            if signature.output {
                let result: Value = call.result(0).map_err(|e| e.to_string())?.into();
                let residuals_blocked = capability.residuals.iter().all(|&i| blocked_from(&signatures, i));
                let uses = uses.get(&value_key(result)).map_or(&[][..], Vec::as_slice);
                signature.output =
                    residuals_blocked && !uses.is_empty() && uses_all_read_blocked(uses, &calls, &signatures);
            }
            if signature != signatures[index] {
                signatures[index] = signature;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    rewrite(&kernels, &calls, &signatures)
}

/// Whether every use (user, slot) of a value is a call in `calls` that reads it blocked:
/// as its input with its input blocked, or as a residual with its output blocked.
fn uses_all_read_blocked(
    uses: &[(OperationRef, usize)],
    calls: &[(OperationRef, &Capability)],
    signatures: &[Signature],
) -> bool {
    uses.iter().all(|(user, slot)| {
        let Some(index) = calls.iter().position(|(call, _)| call == user) else {
            return false;
        };
        let (signature, capability) = (signatures[index], calls[index].1);
        (signature.input && capability.input == Some(*slot))
            || (signature.output && capability.residuals.contains(slot))
    })
}

/// Gives each call site the function of its signature: the kernel itself where all of its
/// call sites agree, else one clone per blocked signature.
fn rewrite(
    kernels: &HashMap<String, OperationRef>,
    calls: &[(OperationRef, &Capability)],
    signatures: &[Signature],
) -> Result<(), String> {
    let mut by_kernel: HashMap<String, Vec<usize>> = HashMap::new();
    for (index, (call, _)) in calls.iter().enumerate() {
        by_kernel
            .entry(callee(call).expect("a call of a kernel"))
            .or_default()
            .push(index);
    }
    let mut names: Vec<&String> = by_kernel.keys().collect();
    names.sort();
    for name in names {
        let sites = &by_kernel[name];
        let kernel = kernels[name];
        let mut wanted: Vec<Signature> = sites.iter().map(|&i| signatures[i]).collect();
        wanted.sort_by_key(|s| (s.input, s.output));
        wanted.dedup();
        // The kernel itself takes the first blocked signature when no call site keeps it
        // plain; the other blocked signatures get clones.
        let in_place = (!wanted.contains(&Signature::default())).then(|| wanted[0]);
        // Clones first, so that each copies the kernel as it was.
        let mut blocked: Vec<Signature> = wanted.into_iter().filter(|s| Some(*s) != in_place).collect();
        blocked.retain(|s| *s != Signature::default());
        blocked.extend(in_place);
        for signature in &blocked {
            let capability = calls[sites[0]].1;
            let function = if in_place == Some(*signature) {
                kernel
            } else {
                clone_kernel(kernel, &format!("{name}_blocked_{}", suffix(*signature)))?
            };
            block_function(function, capability, *signature)?;
            let new_name = symbol_name(&function).ok_or("a kernel without a name")?;
            for &site in sites.iter().filter(|&&i| signatures[i] == *signature) {
                let call = calls[site].0;
                if new_name != *name {
                    let symbol =
                        parse_attribute(call.context(), &format!("@{new_name}")).ok_or("a symbol reference")?;
                    set_attribute(call, "callee", symbol);
                }
                if signature.output {
                    let (_, ret) = body_and_return(function)?;
                    let ty = ret.operand(0).map_err(|e| e.to_string())?.r#type();
                    set_value_type(call.result(0).map_err(|e| e.to_string())?.into(), ty);
                }
            }
        }
    }
    Ok(())
}

fn suffix(signature: Signature) -> &'static str {
    match (signature.input, signature.output) {
        (true, true) => "io",
        (true, false) => "in",
        _ => "out",
    }
}

/// `tensor<1x{c/8}x{h}x{w}x8xf32>` for `[1, c, h, w]`.
fn blocked_type(shape: &[i64]) -> String {
    format!("tensor<1x{}x{}x{}x{LANES}xf32>", shape[1] / LANES, shape[2], shape[3])
}

/// Rewrites `function` to take its input and residuals and return its result in the
/// layout of `signature`.
fn block_function(function: OperationRef, capability: &Capability, signature: Signature) -> Result<(), String> {
    let (block, ret) = body_and_return(function)?;
    let mut blocked_arguments = Vec::new();
    if signature.input {
        blocked_arguments.push(capability.input.expect("an input to block"));
    }
    if signature.output {
        blocked_arguments.extend(&capability.residuals);
    }
    let first = block.first_operation().ok_or("an empty kernel")?;
    for index in blocked_arguments {
        let argument = block.argument(index).map_err(|e| e.to_string())?;
        let shape = f32_shape(argument.r#type(), 4).ok_or("a blocked argument that is not a 4-D f32 tensor")?;
        let context = function.context();
        let ty = |text: &str| parse_type(context, text).ok_or_else(|| format!("the type {text}"));
        argument.set_type(ty(&blocked_type(&shape))?);
        // [1][C/8][H][W][8] → [1][C/8][8][H][W] → [1][C][H][W].
        let split = format!("tensor<1x{}x{LANES}x{}x{}xf32>", shape[1] / LANES, shape[2], shape[3]);
        let transpose = build_graph_op(
            first,
            "graph.transpose",
            vec![argument.into()],
            ty(&split)?,
            vec![("perm", AttrValue::I64Array(vec![0, 1, 4, 2, 3]))],
        )?;
        let reshape = reshape_to(
            first,
            transpose.result(0).map_err(|e| e.to_string())?.into(),
            &shape,
            context,
        )?;
        replace_uses_except(
            argument.into(),
            reshape.result(0).map_err(|e| e.to_string())?.into(),
            transpose,
        );
    }
    if signature.output {
        let result = ret.operand(0).map_err(|e| e.to_string())?;
        let shape = f32_shape(result.r#type(), 4).ok_or("a result that is not a 4-D f32 tensor")?;
        let context = function.context();
        // [1][C][H][W] → [1][C/8][8][H][W] → [1][C/8][H][W][8].
        let split = [1, shape[1] / LANES, LANES, shape[2], shape[3]];
        let reshape = reshape_to(ret, result, &split, context)?;
        let ty = parse_type(context, &blocked_type(&shape)).ok_or("a blocked type")?;
        let transpose = build_graph_op(
            ret,
            "graph.transpose",
            vec![reshape.result(0).map_err(|e| e.to_string())?.into()],
            ty,
            vec![("perm", AttrValue::I64Array(vec![0, 1, 3, 4, 2]))],
        )?;
        set_operand(ret, 0, transpose.result(0).map_err(|e| e.to_string())?.into());
    }
    sync_function_type(function)
}

/// `graph.reshape` of `value` to `shape` (its shape operand a new constant), before `before`.
fn reshape_to<'c, 'a>(
    before: OperationRef<'c, 'a>,
    value: Value<'c, 'a>,
    shape: &[i64],
    context: melior::ContextRef<'c>,
) -> Result<OperationRef<'c, 'a>, String> {
    let dims = Tensor::i64(&[shape.len()], shape.to_vec());
    let constant = crate::constant_ops::insert_constant(before, &dims).ok_or("a shape constant")?;
    let text: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let ty = parse_type(context, &format!("tensor<{}xf32>", text.join("x"))).ok_or("a reshaped type")?;
    build_graph_op(
        before,
        "graph.reshape",
        vec![value, constant],
        ty,
        vec![("allowzero", AttrValue::Integer(0))],
    )
}

#[cfg(test)]
mod tests {
    use crate::{
        cpu_target::compile_cpu,
        fused_kernel_tests::{beyond_range_tolerance, values},
        phases::{Fusion, Phase, run_phases, run_pipeline},
    };
    use fuser_dialects::{
        create_context,
        eval::{Tensor, evaluate},
        ffi::{clone_operation, parse_module},
    };
    use proptest::prelude::*;

    use crate::random_graphs::ty;

    /// A constant of `shape` (hex-encoded random values in [-2, 2), scaled by `scale`).
    fn constant(name: &str, shape: &[usize], scale: f32, seed: &mut u64) -> String {
        let count = shape.iter().product();
        let hex: String = values(seed, count)
            .iter()
            .flat_map(|v| (v * scale).to_le_bytes())
            .map(|b| format!("{b:02X}"))
            .collect();
        format!(
            "  %{name} = \"graph.constant\"() {{value = dense<\"0x{hex}\"> : {t}}} : () -> {t}\n",
            t = ty(shape)
        )
    }

    /// A conv of `input` (`[1, c, h, w]`) to `f` channels with a `k×k` window, stride
    /// `s` and padding `(k - 1) / 2`, with a bias, depthwise (`f = c` groups) or of one
    /// group; returns its text and output shape.
    fn conv(
        name: &str,
        input: (&str, [usize; 4]),
        (f, k, s, depthwise): (usize, usize, usize, bool),
        seed: &mut u64,
    ) -> (String, [usize; 4]) {
        let (x, [_, c, h, w]) = input;
        let p = (k - 1) / 2;
        let out = [1, f, (h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1];
        let (group, per_group) = if depthwise { (c, 1) } else { (1, c) };
        let weights = [f, per_group, k, k];
        let mut text = constant(&format!("{name}w"), &weights, 1.0 / (per_group * k * k) as f32, seed);
        text += &constant(&format!("{name}b"), &[f], 0.1, seed);
        text += &format!(
            "  %{name} = \"graph.conv\"(%{x}, %{name}w, %{name}b) {{dilations = array<i64: 1, 1>, group = {group} : i64, kernel_shape = array<i64: {k}, {k}>, pads = array<i64: {p}, {p}, {p}, {p}>, strides = array<i64: {s}, {s}>, operandSegmentSizes = array<i32: 1, 1, 1>}} : ({}, {}, {}) -> {}\n",
            ty(&[1, c, h, w]),
            ty(&weights),
            ty(&[f]),
            ty(&out)
        );
        (text, out)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]

        /// A bottleneck-like chain of convs (`a` → `b` → `c` with `a` as its residual →
        /// `d`, the result; `b` may be depthwise, `a` may be max pooled before `b` reads
        /// it) of random channels (16 and 24 too, and
        /// so 1×1 convs of 16 or 24 steps), windows, strides and activations: the
        /// kernels phase with this pass (on any CPU: the runtime takes blocked tensors
        /// through plain copies where it has no blocked conv) chooses blocked tensors, the
        /// evaluator gives the same values before and after, and the CPU agrees with it.
        #[test]
        fn blocked_chains_match_the_evaluator(
            channels in prop::array::uniform4(prop_oneof![Just(16usize), Just(24), Just(32), Just(64)]),
            windows in prop::array::uniform3(prop_oneof![Just(1usize), Just(3)]),
            stride in 1usize..3, size in 3usize..9, activation in 0u8..3, depthwise in any::<bool>(),
            pool in prop::option::of(1usize..3), seed in 1u64..u64::MAX,
        ) {
            let mut state = seed;
            let [c0, ca, cb, cd] = channels;
            let x = [1, c0, size, size + 1];
            let mut text = format!("func.func @f(%x: {}) -> ", ty(&x));
            let mut body = String::new();
            let (a, sa) = conv("a", ("x", x), (ca, windows[0], stride, false), &mut state);
            body += &a;
            body += &format!("  %ra = \"graph.relu\"(%a) : ({t}) -> {t}\n", t = ty(&sa));
            // A 3×3 max pooling of `a` (stride 1 or 2, padding 1) in a kernel of its own,
            // as a ResNet's after its stem, may take the place of `a` from here on.
            let (pa, sa) = match pool {
                Some(s) => {
                    let sp = [1, ca, (sa[2] - 1) / s + 1, (sa[3] - 1) / s + 1];
                    body += &format!(
                        "  %pa = \"graph.max_pool\"(%ra) {{ceil_mode = 0 : i64, dilations = array<i64: 1, 1>, kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, storage_order = 0 : i64, strides = array<i64: {s}, {s}>}} : ({}) -> {}\n",
                        ty(&sa),
                        ty(&sp)
                    );
                    ("pa", sp)
                }
                None => ("ra", sa),
            };
            let (b, sb) = match depthwise {
                true => conv("b", (pa, sa), (ca, 3, stride, true), &mut state),
                false => conv("b", (pa, sa), (cb, windows[1], 1, false), &mut state),
            };
            body += &b;
            body += &match activation {
                0 => format!("  %rb = \"graph.relu\"(%b) : ({t}) -> {t}\n", t = ty(&sb)),
                1 => format!("  %rb = \"graph.sigmoid\"(%b) : ({t}) -> {t}\n", t = ty(&sb)),
                _ => format!("  %rb = \"graph.tanh\"(%b) : ({t}) -> {t}\n", t = ty(&sb)),
            };
            // A residual where `b` kept the map's size.
            let (c, sc) = conv("c", ("rb", sb), (ca, 1, 1, false), &mut state);
            body += &c;
            match sc == sa {
                true => {
                    body += &format!("  %sum = \"graph.add\"(%c, %{pa}) : ({t}, {t}) -> {t}\n", t = ty(&sc));
                    body += &format!("  %rc = \"graph.relu\"(%sum) : ({t}) -> {t}\n", t = ty(&sc));
                }
                false => body += &format!("  %rc = \"graph.relu\"(%c) : ({t}) -> {t}\n", t = ty(&sc)),
            }
            let (d, sd) = conv("d", ("rc", sc), (cd, windows[2], 1, false), &mut state);
            body += &d;
            text += &format!("{} {{\n{body}  return %d : {}\n}}\n", ty(&sd), ty(&sd));
            let inputs = [Tensor::f32(&x, values(&mut state, x.iter().product()))];
            let context = create_context().unwrap();
            context.enable_multi_threading(false);
            let mut module = parse_module(&context, &text, "chain.mlir").expect("parses");
            let expected = evaluate(module.as_operation(), "f", &inputs).expect("evaluates");
            run_phases(&context, &mut module, None, Phase::Graph, Fusion::Eqsat).expect("the graph phase");
            run_pipeline(
                &context,
                &mut module,
                "graph-eqsat-fuse{target=cpu},ftensor-blocked-layout{target=avx2}",
                Phase::Kernels,
            )
            .expect("the kernels phase");
            let kernels_text = module.as_operation().to_string();
            // `a` (b's input and c's residual) and `c` (d's input) at least are blocked,
            // and the pooling's result too.
            prop_assert!(
                kernels_text.matches("perm = array<i64: 0, 1, 3, 4, 2>").count() >= 2 + pool.is_some() as usize,
                "no blocked tensors:\n{}", kernels_text
            );
            let mut blocked = melior::ir::Module::from_operation(clone_operation(module.as_operation())).expect("a module");
            let evaluated = evaluate(blocked.as_operation(), "f", &inputs).expect("evaluates");
            prop_assert_eq!(&evaluated, &expected);
            // The fused-kernel lowering takes every layout change as the runtime's layout:
            // none is left to lower as a transpose.
            run_pipeline(&context, &mut blocked, "convert-graph-to-linalg", Phase::Linalg).expect("the linalg phase");
            let lowered = blocked.as_operation().to_string();
            prop_assert!(
                !lowered.contains("linalg.transpose") && !lowered.contains("fuser_transpose_f32"),
                "a layout change was not taken:\n{}", kernels_text
            );
            let compiled = compile_cpu(&context, &mut module, "f", &Default::default(), None)
                .unwrap_or_else(|e| panic!("{}\non:\n{kernels_text}", e.message));
            let actual = compiled.run(&inputs).expect("runs");
            if let Some((j, x, y)) = beyond_range_tolerance(&actual[0], &expected[0], 1e-6) {
                prop_assert!(false, "element {}: {} expected {}\non:\n{}", j, x, y, kernels_text);
            }
        }
    }
}
