//! `ftensor-int8-activations`: INT8 kernels hand their INT8 consumers codes instead of f32
//! (a requantize epilogue).
//!
//! After kernel formation, a kernel whose root is a quantized contraction (an INT8
//! kernel) produces f32, and every INT8 kernel it feeds quantizes that f32 again on entry.
//! When all the users of such a result are INT8 kernels that quantize it the same way (the
//! same scale and zero point), the producer ends in that `ftensor.quantize` instead and
//! returns the codes, and the consumers take the codes as their activation. The values
//! are the same (a quantized contraction of codes dequantizes them as they are), while the
//! tensor between the kernels is a quarter of the bytes and the consumers skip the
//! quantization.

use crate::registry::{PassId, PassInfo, PassOptions, external_pass};
use fuser_dialects::constants::graph_constant_value as constant_value;
use fuser_dialects::{
    accessors::{build_op, op_name},
    ffi::{callee, nested_operations, parse_type, set_operand, set_value_type, sync_function_type},
    semantics::Tensor,
    spec::find_op,
};
use melior::{
    ir::r#type::TypeLike,
    ir::{BlockLike, OperationRef, RegionLike, Type, Value, ValueLike, operation::OperationLike},
    pass::{ExternalPass, Pass},
};
use std::collections::HashMap;

static FTENSOR_INT8_ACTIVATIONS_PASS_ID: PassId = PassId;

pub const INFO: PassInfo = PassInfo {
    flag: "ftensor-int8-activations",
    type_name: "FtensorInt8ActivationsPass",
    summary: "INT8 kernels return codes to the INT8 kernels they feed (a requantize epilogue)",
    description: r#"Runs after kernel formation (`graph-eqsat-fuse`). For each call of a
kernel whose root is `ftensor.quantized_conv` or `ftensor.quantized_mat_mul` and which
returns one f32 tensor: if every user of that tensor is the call of a kernel whose root
quantized contraction takes it as its activation, with the same constant scale and zero
point, and both kernels have this one call, the producer ends in an `ftensor.quantize` with
that scale and zero point and returns the codes, and the consumers take codes. The CPU
lowering then writes the codes from the INT8 kernel's f32 tile and reads them back without
quantizing. The values are unchanged.

Before:
```mlir
func.func private @k1(...) -> tensor<1x64x56x56xf32> attributes {ftensor.kernel} { ... }
func.func private @k2(%x: tensor<1x64x56x56xf32>, ...) attributes {ftensor.kernel} {
  %y = "ftensor.quantized_conv"(%x, %w, %ws, %s, %z, %b) ...
```
After:
```mlir
func.func private @k1(...) -> tensor<1x64x56x56xui8> attributes {ftensor.kernel} {
  ...
  %q = "ftensor.quantize"(%r, %s, %z) {axis = 1 : i64} : (...) -> tensor<1x64x56x56xui8>
  return %q : tensor<1x64x56x56xui8>
}
func.func private @k2(%x: tensor<1x64x56x56xui8>, ...) attributes {ftensor.kernel} {
  %y = "ftensor.quantized_conv"(%x, %w, %ws, %s, %z, %b) ...
```"#,
    options: &[],
    create,
};

fn create(_options: &PassOptions) -> Result<Pass, String> {
    Ok(external_pass(
        &FTENSOR_INT8_ACTIVATIONS_PASS_ID,
        &INFO,
        |op: OperationRef, pass: ExternalPass| {
            if let Err(message) = hand_over_codes(op) {
                fuser_dialects::ffi::emit_error(op.location(), &format!("ftensor-int8-activations: {message}"));
                pass.signal_failure();
            }
        },
    ))
}

fn is_quantized_contraction(name: &str) -> bool {
    matches!(name, "ftensor.quantized_conv" | "ftensor.quantized_mat_mul")
}

/// The first op of a kernel body that is not a constant.
fn root_of<'c, 'a>(kernel: OperationRef<'c, 'a>) -> Option<OperationRef<'c, 'a>> {
    let mut op = kernel.region(0).ok()?.first_block()?.first_operation();
    while let Some(current) = op {
        if op_name(&current) != "graph.constant" {
            return Some(current);
        }
        op = current.next_in_block();
    }
    None
}

/// How a kernel quantizes its activation: the argument its root quantized contraction
/// takes as the activation (used by nothing else), and the scale and zero point (constants).
struct Consumer {
    argument: usize,
    scale: Tensor,
    zero_point: Tensor,
}

fn consumer_of(kernel: OperationRef) -> Option<Consumer> {
    let root = root_of(kernel)?;
    if !is_quantized_contraction(&op_name(&root)) {
        return None;
    }
    let block = kernel.region(0).ok()?.first_block()?;
    let x = root.operand(0).ok()?;
    let argument = (0..block.argument_count()).find(|&i| block.argument(i).is_ok_and(|a| Value::from(a) == x))?;
    // The argument feeds the root alone.
    let uses = nested_operations(kernel)
        .iter()
        .flat_map(|op| (0..op.operand_count()).filter_map(move |i| op.operand(i).ok()))
        .filter(|v| *v == x)
        .count();
    let (scale, zero_point) = (
        constant_value(root.operand(3).ok()?)?,
        constant_value(root.operand(4).ok()?)?,
    );
    (uses == 1 && x.r#type().to_string().ends_with("xf32>") && scale.len() == 1).then_some(Consumer {
        argument,
        scale,
        zero_point,
    })
}

/// Whether `kernel` is an INT8 kernel returning one f32 tensor.
fn is_int8_producer(kernel: OperationRef) -> bool {
    let Some(root) = root_of(kernel) else {
        return false;
    };
    let Some(ret) = kernel
        .region(0)
        .ok()
        .and_then(|r| r.first_block())
        .and_then(|b| b.terminator())
    else {
        return false;
    };
    is_quantized_contraction(&op_name(&root))
        && ret.operand_count() == 1
        && ret.operand(0).is_ok_and(|v| v.r#type().to_string().ends_with("xf32>"))
}

/// `tensor<...xf32>` with the codes' element type.
fn codes_type<'c>(ty: Type<'c>, zero_point: &Tensor) -> Option<Type<'c>> {
    let text = ty.to_string();
    let shape = text.strip_prefix("tensor<")?.strip_suffix("xf32>")?;
    parse_type(ty.context(), &format!("tensor<{shape}x{}>", zero_point.dtype.mlir()))
}

/// Ends `producer` in a quantize with `consumer`'s scale and zero point; returns the
/// codes' type.
fn end_in_quantize<'c>(producer: OperationRef<'c, '_>, consumer: &Consumer) -> Result<Type<'c>, String> {
    let (block, ret) = fuser_dialects::ffi::body_and_return(producer)?;
    let result = ret.operand(0).map_err(|e| e.to_string())?;
    let codes = codes_type(result.r#type(), &consumer.zero_point).ok_or("a kernel result that is not f32")?;
    let scale = crate::constant_ops::insert_constant(ret, &consumer.scale).ok_or("a scale constant")?;
    let zero_point = crate::constant_ops::insert_constant(ret, &consumer.zero_point).ok_or("a zero point constant")?;
    let quantize = build_op(
        ret.location(),
        find_op("ftensor.quantize").ok_or("ftensor.quantize is not registered")?,
        vec![vec![result], vec![scale], vec![zero_point]],
        vec![vec![codes]],
        vec![("axis", fuser_dialects::accessors::AttrValue::Integer(1))],
    )
    .map_err(|e| e.to_string())?;
    let quantize = block.insert_operation_before(ret, quantize);
    set_operand(ret, 0, quantize.result(0).map_err(|e| e.to_string())?.into());
    sync_function_type(producer)?;
    Ok(codes)
}

/// The pass over a module (see the module docs).
pub fn hand_over_codes(module: OperationRef) -> Result<(), String> {
    let operations = nested_operations(module);
    let kernels = crate::kernel_functions::kernels_by_name(&operations);
    let calls: Vec<OperationRef> = operations
        .iter()
        .filter(|op| op_name(*op) == "func.call" && callee(op).is_some_and(|c| kernels.contains_key(&c)))
        .copied()
        .collect();
    let mut call_count: HashMap<String, usize> = HashMap::new();
    for call in &calls {
        *call_count
            .entry(callee(call).expect("filtered on the callee"))
            .or_default() += 1;
    }
    let called_once = |name: &str| call_count.get(name) == Some(&1);
    for call in &calls {
        let name = callee(call).expect("filtered on the callee");
        let producer = kernels[&name];
        if !called_once(&name) || call.result_count() != 1 || !is_int8_producer(producer) {
            continue;
        }
        let result: Value = call.result(0).map_err(|e| e.to_string())?.into();
        // Every use: the activation argument of a consuming INT8 kernel's only call.
        let mut uses = Vec::new();
        let mut all_consumers = true;
        for user in calls
            .iter()
            .filter(|c| (0..c.operand_count()).any(|i| c.operand(i).is_ok_and(|v| v == result)))
        {
            let user_name = callee(user).expect("filtered on the callee");
            let consumer = consumer_of(kernels[&user_name]).filter(|_| called_once(&user_name));
            match consumer {
                Some(c) if user.operand(c.argument).is_ok_and(|v| v == result) => uses.push((*user, c)),
                _ => all_consumers = false,
            }
        }
        let use_count = operations
            .iter()
            .flat_map(|op| (0..op.operand_count()).filter_map(move |i| op.operand(i).ok()))
            .filter(|v| *v == result)
            .count();
        let Some((_, first)) = uses.first() else {
            continue;
        };
        let same = uses
            .iter()
            .all(|(_, c)| c.scale == first.scale && c.zero_point == first.zero_point);
        if !all_consumers || use_count != uses.len() || !same {
            continue;
        }
        let codes = end_in_quantize(producer, first)?;
        set_value_type(result, codes);
        for (user, consumer) in &uses {
            let kernel = kernels[&callee(user).expect("filtered on the callee")];
            let block = kernel
                .region(0)
                .ok()
                .and_then(|r| r.first_block())
                .ok_or("a kernel without a body")?;
            block
                .argument(consumer.argument)
                .map_err(|e| e.to_string())?
                .set_type(codes);
            sync_function_type(kernel)?;
        }
    }
    Ok(())
}
