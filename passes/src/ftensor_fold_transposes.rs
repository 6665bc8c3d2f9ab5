//! `ftensor-fold-transposes`: a batched matmul kernel reads the transposes that feed it in
//! place, through strides, instead of after a kernel that copies them.
//!
//! Kernel formation leaves a transpose whose result only a matmul reads in a kernel of
//! its own (fusion joins an op to its producer's kernel, never to its consumer's):
//! attention's heads of Q, `Kᵀ` and V are each copied by one, then read by the batched
//! matmuls `Q·Kᵀ` and `P·V`. Here such a transpose moves into its consumer's kernel, in
//! front of the matmul, and the call passes the transpose's input; the CPU's fused-kernel
//! lowering takes it as the operand's strides (`fuser_runtime::fused::
//! transposed_operand_strides`) and drops it. Values are unchanged: the transpose is
//! still a graph op of the kernel, which the reference evaluator and every other lowering
//! compute as before.

use crate::kernel_functions::{build_graph_op, clone_kernel, is_private};
use crate::registry::{PassId, PassInfo, PassOptions, external_pass};
use fuser_dialects::{
    accessors::{AttrValue, i64_array, op_name, symbol_name},
    ffi::{
        body_and_return, callee, emit_error, erase_operation, has_single_use, nested_operations, parse_attribute,
        replace_uses_except, set_attribute, set_operand, sync_function_type, tensor_info,
    },
};
use melior::{
    ir::{BlockLike, OperationRef, Value, ValueLike, operation::OperationLike},
    pass::{ExternalPass, Pass},
};
use std::collections::HashSet;

static FTENSOR_FOLD_TRANSPOSES_PASS_ID: PassId = PassId;

pub const INFO: PassInfo = PassInfo {
    flag: "ftensor-fold-transposes",
    type_name: "FtensorFoldTransposesPass",
    summary: "batched matmul kernels read the transposes that feed them in place (attention's heads)",
    description: r#"Runs after kernel formation (`graph-eqsat-fuse`). A call of a private
kernel whose first op is a batched f32 `graph.mat_mul` (both operands of rank 3 or more)
takes in the transposes that feed its A or B, or both, where that operand is an argument
of the kernel that the matmul alone uses: a call of a kernel that is one `graph.transpose` of its argument,
whose result that call alone reads, with a permutation whose leading dims nest into one
batch stride (`fuser_runtime::fused::transposed_operand_strides`). The call gets a copy of
its kernel (`<kernel>_strided`) that starts with the transposes and takes their inputs;
the copy is kept only where the CPU's fused-kernel lowering takes it as one call (else
nothing changes). Kernels no call uses any more are erased.

Before:
```mlir
func.func private @t(%x: tensor<1x128x12x64xf32>) -> tensor<1x12x128x64xf32> attributes {ftensor.kernel} {
  %0 = "graph.transpose"(%x) {perm = array<i64: 0, 2, 1, 3>} ...
  return %0 : tensor<1x12x128x64xf32>
}
func.func private @k(%q: tensor<1x12x128x64xf32>, %k: tensor<1x12x64x128xf32>) -> ... {
  %0 = "graph.mat_mul"(%q, %k) ...
}
%q = call @t(%x) ...
%s = call @k(%q, %kt) ...
```
After:
```mlir
func.func private @k_strided(%x: tensor<1x128x12x64xf32>, %k: tensor<1x12x64x128xf32>) -> ... {
  %t = "graph.transpose"(%x) {perm = array<i64: 0, 2, 1, 3>} ...
  %0 = "graph.mat_mul"(%t, %k) ...
}
%s = call @k_strided(%x, %kt) ...
```"#,
    options: &[],
    create,
};

fn create(_: &PassOptions) -> Result<Pass, String> {
    Ok(external_pass(
        &FTENSOR_FOLD_TRANSPOSES_PASS_ID,
        &INFO,
        move |op: OperationRef, pass: ExternalPass| {
            if let Err(message) = fold_transposes(op) {
                emit_error(op.location(), &format!("ftensor-fold-transposes: {message}"));
                pass.signal_failure();
            }
        },
    ))
}

/// The arguments a private kernel's leading batched f32 matmul reads as A and B, each
/// used by the matmul alone (`None` for an operand that is not such an argument).
fn matmul_arguments(kernel: OperationRef) -> Option<[Option<usize>; 2]> {
    if !is_private(kernel) {
        return None;
    }
    let (block, _) = body_and_return(kernel).ok()?;
    let mut root = block.first_operation();
    while let Some(op) = root.filter(|op| op_name(op) == "graph.constant") {
        root = op.next_in_block();
    }
    let root = root?;
    let batched_f32 = |slot: usize| {
        root.operand(slot)
            .ok()
            .and_then(|v| tensor_info(v.r#type()))
            .is_some_and(|t| t.element == "f32" && t.static_shape().is_some_and(|s| s.len() >= 3))
    };
    if op_name(&root) != "graph.mat_mul" || !batched_f32(0) || !batched_f32(1) {
        return None;
    }
    let argument = |slot: usize| {
        let value = root.operand(slot).ok()?;
        let index = (0..block.argument_count()).find(|&i| block.argument(i).is_ok_and(|a| Value::from(a) == value))?;
        has_single_use(value).then_some(index)
    };
    Some([argument(0), argument(1)])
}

/// The permutation of a kernel that is one `graph.transpose` of its only argument,
/// returned.
fn transpose_only(kernel: OperationRef) -> Option<Vec<i64>> {
    let (block, ret) = body_and_return(kernel).ok()?;
    let op = block.first_operation()?;
    let argument: Value = block.argument(0).ok()?.into();
    let single = block.argument_count() == 1 && op.next_in_block() == Some(ret);
    let returned = ret.operand_count() == 1 && ret.operand(0).ok()? == op.result(0).ok()?.into();
    (single && returned && op_name(&op) == "graph.transpose" && op.operand(0).ok()? == argument)
        .then(|| i64_array(&op, "perm"))
}

/// One transpose to take in: the call's argument `index`, the call that computes it, the
/// permutation.
struct Fold<'c, 'a> {
    index: usize,
    producer: OperationRef<'c, 'a>,
    perm: Vec<i64>,
}

pub fn fold_transposes(module: OperationRef) -> Result<(), String> {
    let operations = nested_operations(module);
    let kernels = crate::kernel_functions::kernels_by_name(&operations);
    let calls: Vec<OperationRef> = operations
        .iter()
        .filter(|op| op_name(*op) == "func.call")
        .copied()
        .collect();
    let mut touched: HashSet<String> = HashSet::new();
    for call in &calls {
        let Some(name) = callee(call) else { continue };
        let Some(&kernel) = kernels.get(&name) else { continue };
        let Some(arguments) = matmul_arguments(kernel) else {
            continue;
        };
        let folds: Vec<Fold> = arguments
            .iter()
            .flatten()
            .filter_map(|&index| {
                let value = call.operand(index).ok()?;
                let producer = melior::ir::operation::OperationResult::try_from(value).ok()?.owner();
                let transpose = kernels.get(&callee(&producer)?)?;
                let perm = transpose_only(*transpose)?;
                let shape = tensor_info(producer.operand(0).ok()?.r#type())?.static_shape()?;
                let foldable = op_name(&producer) == "func.call"
                    && has_single_use(value)
                    && fuser_runtime::fused::transposed_operand_strides(&shape, &perm).is_some();
                foldable.then_some(Fold { index, producer, perm })
            })
            .collect();
        if folds.is_empty() {
            continue;
        }
        let copy = clone_kernel(kernel, &format!("{name}_strided"))?;
        take_in(copy, &folds)?;
        if !fuser_lowering::is_fused_kernel(copy) {
            erase_operation(copy);
            continue;
        }
        let copy_name = symbol_name(&copy).ok_or("a kernel without a name")?;
        let symbol = parse_attribute(call.context(), &format!("@{copy_name}")).ok_or("a symbol reference")?;
        set_attribute(*call, "callee", symbol);
        touched.insert(name);
        for fold in &folds {
            set_operand(*call, fold.index, fold.producer.operand(0).map_err(|e| e.to_string())?);
            touched.extend(callee(&fold.producer));
            erase_operation(fold.producer);
        }
    }
    // The kernels that lost calls and have none left.
    let used: HashSet<String> = nested_operations(module)
        .iter()
        .filter(|op| op_name(*op) == "func.call")
        .filter_map(callee)
        .collect();
    let mut names: Vec<&String> = touched.difference(&used).collect();
    names.sort();
    for name in names.into_iter().filter(|name| is_private(kernels[*name])) {
        erase_operation(kernels[name]);
    }
    Ok(())
}

/// Makes `function` take each fold's transpose input for its argument and start with the
/// transpose.
fn take_in(function: OperationRef, folds: &[Fold]) -> Result<(), String> {
    let (block, _) = body_and_return(function)?;
    let first = block.first_operation().ok_or("an empty kernel")?;
    for fold in folds {
        let argument = block.argument(fold.index).map_err(|e| e.to_string())?;
        let transposed = argument.r#type();
        argument.set_type(fold.producer.operand(0).map_err(|e| e.to_string())?.r#type());
        let transpose = build_graph_op(
            first,
            "graph.transpose",
            vec![argument.into()],
            transposed,
            vec![("perm", AttrValue::I64Array(fold.perm.clone()))],
        )?;
        replace_uses_except(
            argument.into(),
            transpose.result(0).map_err(|e| e.to_string())?.into(),
            transpose,
        );
    }
    sync_function_type(function)
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

    fn permuted(shape: &[usize], perm: &[usize]) -> Vec<usize> {
        perm.iter().map(|&p| shape[p]).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        /// Attention's core on heads of random sizes: `x` and `y` (`[1, tokens, heads,
        /// width]`) transposed into Q, `Kᵀ` (or K) and V by kernels of their own, the scaled
        /// scores' softmax times V, the result transposed back. The kernels phase folds the
        /// transposes that a batched matmul alone reads into its kernel; the evaluator gives
        /// the same values before and after, the lowering leaves no transpose in the
        /// matmuls' kernels, and the CPU agrees with the evaluator.
        #[test]
        fn folded_transposes_match_the_evaluator(
            tokens in 2usize..20, heads in 2usize..5, width in 1usize..12, keys_transposed in any::<bool>(),
            seed in 1u64..u64::MAX,
        ) {
            let mut state = seed;
            let x = [1, tokens, heads, width];
            let heads_first = [0, 2, 1, 3];
            // Kᵀ straight from `y`, or as K then a second transpose (which the graph phase
            // composes into one).
            let key_perm = if keys_transposed { [0, 2, 3, 1] } else { [0, 2, 1, 3] };
            let (q, k) = (permuted(&x, &heads_first), permuted(&x, &key_perm));
            let scores = [1, heads, tokens, tokens];
            let perm_text = |p: &[usize]| p.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ");
            let mut body = format!(
                "  %q = \"graph.transpose\"(%x) {{perm = array<i64: {}>}} : ({}) -> {}\n",
                perm_text(&heads_first), ty(&x), ty(&q)
            );
            body += &format!(
                "  %k = \"graph.transpose\"(%y) {{perm = array<i64: {}>}} : ({}) -> {}\n",
                perm_text(&key_perm), ty(&x), ty(&k)
            );
            let kt = if keys_transposed {
                "k".to_string()
            } else {
                // Kᵀ as a second transpose of K: the graph phase composes the two.
                body += &format!(
                    "  %kt = \"graph.transpose\"(%k) {{perm = array<i64: 0, 1, 3, 2>}} : ({}) -> {}\n",
                    ty(&k), ty(&permuted(&k, &[0, 1, 3, 2]))
                );
                "kt".to_string()
            };
            body += &format!(
                "  %s = \"graph.mat_mul\"(%q, %{kt}) : ({}, {}) -> {}\n",
                ty(&q), ty(&permuted(&x, &[0, 2, 3, 1])), ty(&scores)
            );
            body += "  %c = \"graph.constant\"() {value = dense<0.125> : tensor<f32>} : () -> tensor<f32>\n";
            body += &format!("  %ss = \"graph.mul\"(%s, %c) : ({t}, tensor<f32>) -> {t}\n", t = ty(&scores));
            body += &format!("  %p = \"graph.softmax\"(%ss) {{axis = -1 : i64}} : ({t}) -> {t}\n", t = ty(&scores));
            body += &format!(
                "  %v = \"graph.transpose\"(%y) {{perm = array<i64: 0, 2, 1, 3>}} : ({}) -> {}\n",
                ty(&x), ty(&q)
            );
            body += &format!("  %o = \"graph.mat_mul\"(%p, %v) : ({}, {}) -> {}\n", ty(&scores), ty(&q), ty(&q));
            body += &format!(
                "  %r = \"graph.transpose\"(%o) {{perm = array<i64: 0, 2, 1, 3>}} : ({}) -> {}\n",
                ty(&q), ty(&x)
            );
            let text = format!("func.func @f(%x: {t}, %y: {t}) -> {t} {{\n{body}  return %r : {t}\n}}\n", t = ty(&x));
            let count = x.iter().product();
            let inputs = [Tensor::f32(&x, values(&mut state, count)), Tensor::f32(&x, values(&mut state, count))];
            let context = create_context().unwrap();
            context.enable_multi_threading(false);
            let mut module = parse_module(&context, &text, "attention.mlir").expect("parses");
            let expected = evaluate(module.as_operation(), "f", &inputs).expect("evaluates");
            run_phases(&context, &mut module, None, Phase::Graph, Fusion::Eqsat).expect("the graph phase");
            run_pipeline(&context, &mut module, "graph-eqsat-fuse{target=cpu},ftensor-fold-transposes", Phase::Kernels)
                .expect("the kernels phase");
            let kernels_text = module.as_operation().to_string();
            // Q's transpose (read by the scores alone) is folded, and with it the kernel
            // that made it.
            prop_assert!(kernels_text.contains("_strided"), "nothing folded:\n{}", kernels_text);
            let mut folded = melior::ir::Module::from_operation(clone_operation(module.as_operation())).expect("a module");
            prop_assert_eq!(&evaluate(folded.as_operation(), "f", &inputs).expect("evaluates"), &expected);
            run_pipeline(&context, &mut folded, "convert-graph-to-linalg", Phase::Linalg).expect("the linalg phase");
            let lowered = folded.as_operation().to_string();
            for function in lowered.split("func.func").filter(|f| f.contains("_strided")) {
                prop_assert!(!function.contains("linalg.transpose"), "a folded transpose was copied:\n{}", lowered);
            }
            let compiled = compile_cpu(&context, &mut module, "f", &Default::default(), None)
                .unwrap_or_else(|e| panic!("{}\non:\n{kernels_text}", e.message));
            let actual = compiled.run(&inputs).expect("runs");
            if let Some((j, got, want)) = beyond_range_tolerance(&actual[0], &expected[0], 1e-6) {
                prop_assert!(false, "element {}: {} expected {}\non:\n{}", j, got, want, kernels_text);
            }
        }
    }
}
