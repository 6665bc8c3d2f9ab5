//! `graph-form-kernels`: groups the graph ops of each function into kernels, outlined as
//! `func.func` marked `ftensor.kernel` and called with `func.call`. This is the simple
//! grouping used until e-graph fusion decides kernels: every compute op anchors a kernel,
//! and an elementwise op joins the kernel of its producer when it is that producer's only
//! user (conv/matmul + bias + activation + residual add chains). Constants, weights and
//! pure views (reshape, flatten, squeeze, unsqueeze, identity) stay in the caller.

use crate::registry::{PassId, PassInfo, PassOptions, external_pass};
use fuser_dialects::{
    accessors::op_name,
    ffi::{
        clone_operation, erase_operation, function_type, has_single_use, has_uses, make, nested_operations,
        parse_attribute, replace_all_uses, set_operand,
    },
};
use melior::{
    ir::{
        Block, BlockLike, Location, OperationRef, Region, RegionLike, Type, Value, ValueLike,
        attribute::{StringAttribute, TypeAttribute},
        operation::{OperationBuilder, OperationLike, OperationResult},
    },
    pass::{ExternalPass, Pass},
};
use std::collections::HashMap;

static GRAPH_FORM_KERNELS_PASS_ID: PassId = PassId;

pub const INFO: PassInfo = PassInfo {
    flag: "graph-form-kernels",
    type_name: "GraphFormKernelsPass",
    summary: "Group graph ops into outlined ftensor.kernel functions (simple producer-epilogue grouping)",
    description: r#"Each graph op that computes (everything but constants, weights and pure views)
anchors a kernel. An elementwise op joins its producer's kernel when it is the only user of
that producer's result, so `conv → add bias → relu → add residual` is one kernel. Each
kernel becomes a private `func.func @<function>_k<N>_<anchor op>` with the unit attribute
`ftensor.kernel`, taking the values it reads from outside (small constants are copied in
so that lowerings see them: integer ones up to 1024 elements, float ones up to 16) and
returning its last value; the caller invokes it with `func.call`. Kernels with identical
bodies are then one function, so each is compiled once. E-graph fusion replaces this
pass's grouping, not the lowering that follows.

Before:
```mlir
func.func @f(%x: tensor<4xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "graph.mul"(%x, %y) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %1 = "graph.relu"(%0) : (tensor<4xf32>) -> tensor<4xf32>
  return %1 : tensor<4xf32>
}
```
After:
```mlir
func.func private @f_k0_mul(%arg0: tensor<4xf32>, %arg1: tensor<4xf32>) -> tensor<4xf32> attributes {ftensor.kernel} {
  %0 = "graph.mul"(%arg0, %arg1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %1 = "graph.relu"(%0) : (tensor<4xf32>) -> tensor<4xf32>
  return %1 : tensor<4xf32>
}
func.func @f(%x: tensor<4xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
  %0 = call @f_k0_mul(%x, %y) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
```"#,
    options: &[],
    create,
};

fn create(_options: &PassOptions) -> Result<Pass, String> {
    Ok(external_pass(
        &GRAPH_FORM_KERNELS_PASS_ID,
        &INFO,
        |op: OperationRef, _pass: ExternalPass| form_kernels(op),
    ))
}

/// Ops that stay in the calling function: storage and pure views.
const NOT_KERNELS: &[&str] = &[
    "graph.constant",
    "graph.weight",
    "graph.reshape",
    "graph.flatten",
    "graph.squeeze",
    "graph.unsqueeze",
    "graph.identity",
];

/// Ops that may join their producer's kernel as an epilogue.
const EPILOGUES: &[&str] = &[
    "graph.add",
    "graph.sub",
    "graph.mul",
    "graph.div",
    "graph.relu",
    "graph.leaky_relu",
    "graph.clip",
    "graph.sigmoid",
    "graph.tanh",
    "graph.hard_sigmoid",
    "graph.hard_swish",
    "graph.gelu",
    "graph.elu",
    "graph.selu",
    "graph.softplus",
    "graph.p_relu",
    "graph.batch_normalization",
    "graph.erf",
    "graph.sqrt",
    "graph.exp",
    "graph.neg",
    "graph.abs",
];

/// Float constants this small (clip bounds, scalars) are copied into each kernel that
/// reads them; integer constants (shapes, axes, pads, which lowerings need to see) are
/// copied up to `INLINE_INTEGER_ELEMENTS`. Larger ones are passed in, so that kernels that
/// differ only in their weights or biases are one function.
const INLINE_FLOAT_ELEMENTS: i64 = 16;
const INLINE_INTEGER_ELEMENTS: i64 = 1024;

fn form_kernels(root: OperationRef) {
    let functions: Vec<OperationRef> = nested_operations(root)
        .into_iter()
        .filter(|op| op_name(op) == "func.func" && op.attribute("ftensor.kernel").is_err())
        .collect();
    for function in functions {
        outline_function(function);
    }
    deduplicate_kernels(root);
}

/// Kernels with the same body (types, attributes, constants) are one function: calls of
/// a duplicate are pointed at the first, and the duplicate is erased, so each distinct
/// kernel is compiled once.
pub(crate) fn deduplicate_kernels(root: OperationRef) -> HashMap<String, String> {
    let kernels: Vec<OperationRef> = nested_operations(root)
        .into_iter()
        .filter(|op| op_name(op) == "func.func" && op.attribute("ftensor.kernel").is_ok())
        .collect();
    let mut first_by_body: HashMap<String, String> = HashMap::new();
    let mut renamed: HashMap<String, String> = HashMap::new();
    let mut duplicates = Vec::new();
    for kernel in kernels {
        let Some(name) = symbol_name(kernel) else { continue };
        let body = kernel.to_string().replacen(&format!("@{name}("), "@kernel(", 1);
        match first_by_body.get(&body) {
            Some(first) => {
                renamed.insert(name, first.clone());
                duplicates.push(kernel);
            }
            None => {
                first_by_body.insert(body, name);
            }
        }
    }
    if renamed.is_empty() {
        return renamed;
    }
    for call in nested_operations(root)
        .into_iter()
        .filter(|op| op_name(op) == "func.call")
    {
        let Some(callee) = call
            .attribute("callee")
            .ok()
            .map(|a| a.to_string().trim_start_matches('@').to_string())
        else {
            continue;
        };
        if let Some(first) = renamed.get(&callee)
            && let Some(attribute) = parse_attribute(call.context(), &format!("@{first}"))
        {
            fuser_dialects::ffi::set_attribute(call, "callee", attribute);
        }
    }
    for duplicate in duplicates {
        erase_operation(duplicate);
    }
    renamed
}

fn symbol_name(op: OperationRef) -> Option<String> {
    op.attribute("sym_name")
        .ok()
        .and_then(|a| StringAttribute::try_from(a).ok())
        .map(fuser_dialects::ffi::string_value)
}

fn key(value: Value) -> usize {
    value.to_raw().ptr as usize
}

/// The op defining `value`, if it is an op result.
fn producer<'c, 'a>(value: Value<'c, 'a>) -> Option<OperationRef<'c, 'a>> {
    OperationResult::try_from(value).ok().map(|r| r.owner())
}

fn is_small_constant(op: OperationRef) -> bool {
    let Some(info) = op
        .result(0)
        .ok()
        .and_then(|r| fuser_dialects::ffi::tensor_info(r.r#type()))
    else {
        return false;
    };
    let limit = if info.element.starts_with('f') || info.element == "bf16" {
        INLINE_FLOAT_ELEMENTS
    } else {
        INLINE_INTEGER_ELEMENTS
    };
    op_name(&op) == "graph.constant" && info.element_count().is_some_and(|n| n <= limit)
}

/// Whether `op` reads or writes a tensor with no elements. Such ops stay in the caller:
/// MLIR 22's bare-pointer lowering leaves a function with an empty memref argument
/// unconverted, and there is nothing to compute anyway.
fn touches_empty_tensor(op: OperationRef) -> bool {
    let empty = |ty: Type| fuser_dialects::ffi::tensor_info(ty).and_then(|i| i.element_count()) == Some(0);
    (0..op.operand_count()).any(|i| op.operand(i).is_ok_and(|v| empty(v.r#type())))
        || (0..op.result_count()).any(|i| op.result(i).is_ok_and(|v| empty(v.r#type())))
}

fn outline_function(function: OperationRef) {
    let body: Vec<OperationRef> = function
        .region(0)
        .ok()
        .and_then(|r| r.first_block())
        .map(|b| {
            let mut ops = Vec::new();
            let mut current = b.first_operation();
            while let Some(op) = current {
                ops.push(op);
                current = op.next_in_block();
            }
            ops
        })
        .unwrap_or_default();
    // Group ids by op, and each group's ops in order.
    let mut group_of: HashMap<usize, usize> = HashMap::new();
    let mut groups: Vec<Vec<OperationRef>> = Vec::new();
    for &op in &body {
        let name = op_name(&op);
        if !name.starts_with("graph.") || NOT_KERNELS.contains(&name.as_str()) || touches_empty_tensor(op) {
            continue;
        }
        let joined = EPILOGUES.contains(&name.as_str()) && op.result_count() == 1 && {
            let mut target = None;
            for index in 0..op.operand_count() {
                let operand = op.operand(index).expect("operand");
                if let Some(p) = producer(operand)
                    && let Some(&g) = group_of.get(&(p.to_raw().ptr as usize))
                    && groups[g].last().is_some_and(|tail| tail.to_raw().ptr == p.to_raw().ptr)
                    && p.result_count() == 1
                    && has_single_use(operand)
                {
                    target = Some(g);
                    break;
                }
            }
            if let Some(g) = target {
                groups[g].push(op);
                group_of.insert(op.to_raw().ptr as usize, g);
                true
            } else {
                false
            }
        };
        if !joined {
            group_of.insert(op.to_raw().ptr as usize, groups.len());
            groups.push(vec![op]);
        }
    }
    let function_name = function
        .attribute("sym_name")
        .ok()
        .and_then(|a| StringAttribute::try_from(a).ok())
        .map(fuser_dialects::ffi::string_value)
        .unwrap_or_else(|| "f".into());
    for (index, group) in groups.iter().enumerate() {
        outline_group(function, &format!("{function_name}_k{index}"), group);
    }
}

/// Moves `group` into a new kernel function placed before `function`, and calls it.
/// Returns the kernel's symbol.
pub(crate) fn outline_group(function: OperationRef, name: &str, group: &[OperationRef]) -> String {
    let context = function.context();
    let tail = *group.last().expect("non-empty group");
    let location = tail.location();
    let members: Vec<usize> = group.iter().map(|op| op.to_raw().ptr as usize).collect();
    // Values read from outside the group, in order of first use; small constants are
    // copied in instead.
    let mut inputs: Vec<Value> = Vec::new();
    let mut copied: Vec<OperationRef> = Vec::new();
    for op in group {
        for index in 0..op.operand_count() {
            let operand = op.operand(index).expect("operand");
            let inside = producer(operand).is_some_and(|p| members.contains(&(p.to_raw().ptr as usize)));
            if inside {
                continue;
            }
            match producer(operand) {
                Some(p) if is_small_constant(p) => {
                    if !copied.iter().any(|c| c.to_raw().ptr == p.to_raw().ptr) {
                        copied.push(p);
                    }
                }
                _ => {
                    if !inputs.iter().any(|v| key(*v) == key(operand)) {
                        inputs.push(operand);
                    }
                }
            }
        }
    }
    let input_types: Vec<Type> = inputs.iter().map(|v| v.r#type()).collect();
    let result_types: Vec<Type> = (0..tail.result_count())
        .map(|i| tail.result(i).expect("result").r#type())
        .collect();
    let arguments: Vec<(Type, Location)> = input_types.iter().map(|&t| (t, location)).collect();
    let block = Block::new(&arguments);
    let mut mapped: HashMap<usize, Value> = HashMap::new();
    for (i, v) in inputs.iter().enumerate() {
        mapped.insert(key(*v), block.argument(i).expect("argument").into());
    }
    for op in copied.iter().chain(group) {
        let clone = block.append_operation(clone_operation(*op));
        for nested in nested_operations(clone) {
            for index in 0..nested.operand_count() {
                let operand = nested.operand(index).expect("operand");
                if let Some(&replacement) = mapped.get(&key(operand)) {
                    set_operand(nested, index, replacement);
                }
            }
        }
        for index in 0..op.result_count() {
            mapped.insert(
                key(op.result(index).expect("result").into()),
                clone.result(index).expect("result").into(),
            );
        }
    }
    let returned: Vec<Value> = (0..tail.result_count())
        .map(|i| mapped[&key(tail.result(i).expect("result").into())])
        .collect();
    block.append_operation(
        OperationBuilder::new("func.return", location)
            .add_operands(&returned)
            .build()
            .expect("func.return"),
    );
    let region = Region::new();
    region.append_block(block);
    let anchor = op_name(&group[0]).trim_start_matches("graph.").to_string();
    let symbol = format!("{name}_{anchor}");
    let kernel = OperationBuilder::new("func.func", location)
        .add_attributes(&[
            (make::identifier(context, "sym_name"), make::string(context, &symbol)),
            (
                make::identifier(context, "function_type"),
                TypeAttribute::new(function_type(context, &input_types, &result_types)).into(),
            ),
            (
                make::identifier(context, "sym_visibility"),
                make::string(context, "private"),
            ),
            (
                make::identifier(context, "ftensor.kernel"),
                parse_attribute(context, "unit").expect("unit"),
            ),
        ])
        .add_regions([region])
        .build()
        .expect("kernel func.func");
    let module_block = function.block().expect("function in a module");
    module_block.insert_operation_before(function, kernel);
    // The call replaces the group at its last op's position.
    let call = OperationBuilder::new("func.call", location)
        .add_attributes(&[(
            make::identifier(context, "callee"),
            parse_attribute(context, &format!("@{symbol}")).expect("symbol ref"),
        )])
        .add_operands(&inputs)
        .add_results(&result_types)
        .build()
        .expect("func.call");
    let function_block = tail.block().expect("op in a block");
    let call = function_block.insert_operation_before(tail, call);
    for index in 0..tail.result_count() {
        let old: Value = tail.result(index).expect("result").into();
        replace_all_uses(old, call.result(index).expect("result").into());
    }
    for op in group.iter().rev() {
        erase_operation(*op);
    }
    for constant in copied {
        if constant.results().all(|r| !has_uses(r.into())) {
            erase_operation(constant);
        }
    }
    symbol
}
