//! Every graph pass preserves semantics: random graphs (`random_graphs`) are evaluated
//! with the reference evaluator on random inputs before and after the pass. The CPU
//! target (every phase down to machine code) is checked the same way.

use crate::{PipelineOptions, add_pipeline, cpu_target::compile_cpu, random_graphs::random_function};
use fuser_dialects::{
    create_context,
    eval::{Tensor, evaluate},
    ffi::parse_module,
    verify_fuser_ops,
};
use melior::{ir::operation::OperationLike, pass::PassManager};
use proptest::prelude::*;

/// Runs `pipeline` on `text`; returns (evaluation before, after, the module text after).
fn run(text: &str, pipeline: &str, inputs: &[Tensor]) -> (Vec<Tensor>, Vec<Tensor>, String) {
    let context = create_context().unwrap();
    context.enable_multi_threading(false);
    let mut module =
        parse_module(&context, text, "random.mlir").unwrap_or_else(|| panic!("generated IR parses:\n{text}"));
    assert!(
        verify_fuser_ops(module.as_operation()),
        "generated IR verifies:\n{text}"
    );
    let before = evaluate(module.as_operation(), "f", inputs).expect("evaluates before");
    let manager = PassManager::new(&context);
    add_pipeline(
        &manager.as_operation_pass_manager(),
        pipeline,
        PipelineOptions { verify_each: true },
    )
    .unwrap();
    assert!(manager.run(&mut module).is_ok(), "{pipeline} failed on:\n{text}");
    assert!(module.as_operation().verify());
    let after_text = module.as_operation().to_string();
    let after = evaluate(module.as_operation(), "f", inputs).expect("evaluates after");
    (before, after, after_text)
}

/// Whether `actual` (computed in f32) matches `expected` (the evaluator, rounded once per
/// op) within a small relative tolerance.
fn close(actual: &[Tensor], expected: &[Tensor]) -> Result<(), String> {
    if actual.len() != expected.len() {
        return Err(format!("{} outputs, expected {}", actual.len(), expected.len()));
    }
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        if a.shape() != e.shape() || a.dtype != e.dtype {
            return Err(format!(
                "output {i}: {:?} {:?}, expected {:?} {:?}",
                a.dtype,
                a.shape(),
                e.dtype,
                e.shape()
            ));
        }
        for (j, (x, y)) in a.to_f64_vec().iter().zip(e.to_f64_vec()).enumerate() {
            let ok = (x - y).abs() <= 1e-5 + 1e-4 * y.abs() || (x.is_nan() && y.is_nan()) || x == &y;
            if !ok {
                return Err(format!("output {i} element {j}: {x}, expected {y}"));
            }
        }
    }
    Ok(())
}

/// Compiles random function `text` with `compile`, runs it on inputs `x` and `y`
/// (`tensor<2x3x4xf32>` each) and checks it against the reference evaluator.
fn compiled_matches_evaluator(
    text: &str,
    x: Vec<f32>,
    y: Vec<f32>,
    compile: impl FnOnce(
        &melior::Context,
        &mut melior::ir::Module,
    ) -> Result<fuser_lowering::JitModel, crate::cpu_target::CpuError>,
) -> Result<(), TestCaseError> {
    let inputs = [Tensor::f32(&[2, 3, 4], x), Tensor::f32(&[2, 3, 4], y)];
    let context = create_context().unwrap();
    context.enable_multi_threading(false);
    let mut module = parse_module(&context, text, "random.mlir").expect("generated IR parses");
    let expected = evaluate(module.as_operation(), "f", &inputs).expect("evaluates");
    let compiled = compile(&context, &mut module).unwrap_or_else(|e| panic!("{}\non:\n{text}", e.message));
    let actual = compiled.run(&inputs).expect("runs");
    if let Err(message) = close(&actual, &expected) {
        prop_assert!(false, "{}\non:\n{}", message, text);
    }
    Ok(())
}

fn count(text: &str, pattern: &str) -> usize {
    text.matches(pattern).count()
}

fn steps() -> impl Strategy<Value = Vec<(u8, u8, u8)>> {
    prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 1..24)
}

fn data() -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(-3.0f32..3.0, 24).prop_filter("not all zero", |v| v.iter().any(|x| *x != 0.0))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn graph_simplify_preserves_semantics(steps in steps(), returns in prop::collection::vec(any::<u8>(), 0..3), x in data(), y in data()) {
        let text = random_function(&steps, &returns, false);
        let inputs = [Tensor::f32(&[2, 3, 4], x), Tensor::f32(&[2, 3, 4], y)];
        let (before, after, simplified) = run(&text, "builtin.module(func.func(graph-simplify))", &inputs);
        prop_assert_eq!(&before, &after, "semantics changed:\n{}\n=>\n{}", text, simplified);
        prop_assert!(count(&simplified, "\"graph.") <= count(&text, "\"graph."));
        for op in ["graph.identity", "graph.dropout", "graph.cast"] {
            prop_assert!(!simplified.contains(op), "{} left in:\n{}", op, simplified);
        }
    }

    #[test]
    fn graph_fold_constants_preserves_semantics(steps in steps(), returns in prop::collection::vec(any::<u8>(), 0..3), x in data(), y in data()) {
        let text = random_function(&steps, &returns, false);
        let inputs = [Tensor::f32(&[2, 3, 4], x), Tensor::f32(&[2, 3, 4], y)];
        let (before, after, folded) = run(&text, "builtin.module(func.func(graph-fold-constants))", &inputs);
        prop_assert_eq!(&before, &after, "semantics changed:\n{}\n=>\n{}", text, folded);
        // Nothing whose operands are all constant is left: a second run folds nothing.
        let (_, _, again) = run(&folded, "builtin.module(func.func(graph-fold-constants))", &inputs);
        prop_assert_eq!(count(&again, "\"graph."), count(&folded, "\"graph."));
        // Alternating with shape inference (on the dynamic form, where shapes are
        // refined as it goes) keeps the semantics too.
        let dynamic = random_function(&steps, &returns, true);
        let (before, after, folded) =
            run(&dynamic, "builtin.module(graph-fold-constants{infer-shapes=true})", &inputs);
        prop_assert_eq!(&before, &after, "semantics changed:\n{}\n=>\n{}", dynamic, folded);
    }

    #[test]
    fn graph_infer_shapes_recovers_every_static_type(steps in steps(), returns in prop::collection::vec(any::<u8>(), 0..3), x in data(), y in data()) {
        // The same graph written with `?` dims everywhere must infer back to the static one.
        let static_text = random_function(&steps, &returns, false);
        let dynamic_text = random_function(&steps, &returns, true);
        let inputs = [Tensor::f32(&[2, 3, 4], x), Tensor::f32(&[2, 3, 4], y)];
        let (before, after, inferred) = run(&dynamic_text, "builtin.module(graph-infer-shapes)", &inputs);
        prop_assert_eq!(&before, &after);
        let (_, _, reference) = run(&static_text, "builtin.module(graph-infer-shapes)", &inputs);
        prop_assert_eq!(inferred, reference, "from:\n{}", dynamic_text);
    }

    /// The ONNX exporter: a graph written as ONNX and imported again computes the same,
    /// whatever it returns (arguments, constants, one value twice), static or dynamic.
    #[test]
    fn onnx_export_round_trips(steps in steps(), returns in prop::collection::vec(any::<u8>(), 0..3), dynamic in any::<bool>(), x in data(), y in data()) {
        use fuser_frontends::{ImportOptions, export::export_graph, import_graph, onnx::{model_bytes, parse_model}};
        let text = random_function(&steps, &returns, dynamic);
        let inputs = [Tensor::f32(&[2, 3, 4], x), Tensor::f32(&[2, 3, 4], y)];
        let context = create_context().unwrap();
        let module = parse_module(&context, &text, "random.mlir").unwrap();
        let before = evaluate(module.as_operation(), "f", &inputs).expect("evaluates before");
        let graph = export_graph(module.as_operation(), &[]).unwrap_or_else(|e| panic!("{e}:\n{text}"));
        prop_assert_eq!(graph.inputs.len(), 2);
        prop_assert_eq!(graph.outputs.len(), returns.len() + 1);
        let bytes = model_bytes(&graph, "property test").unwrap();
        let parsed = parse_model(&bytes, "export.onnx", std::path::Path::new(".")).unwrap();
        let imported = import_graph(&context, &parsed, "export.onnx", &ImportOptions::default())
            .unwrap_or_else(|e| panic!("{e}:\n{text}"));
        let weights = imported.weights.iter().filter_map(|w| Some((w.name.clone(), w.tensor()?))).collect();
        let after = fuser_dialects::eval::evaluate_with_weights(imported.module.as_operation(), &imported.function, &inputs, &weights)
            .expect("evaluates after");
        prop_assert_eq!(&before, &after, "the export of\n{}\ncomputes otherwise", text);
    }
}

proptest! {
    // Each case compiles a module to machine code: fewer cases than the graph passes.
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    #[test]
    fn cpu_target_matches_the_evaluator(steps in steps(), returns in prop::collection::vec(any::<u8>(), 0..3), x in data(), y in data()) {
        let text = random_function(&steps, &returns, false);
        compiled_matches_evaluator(&text, x, y, |context, module| compile_cpu(context, module, "f", &Default::default(), None))?;
    }

    /// The GPU lowering without a GPU: pure linalg, elementwise fusion, bufferization and
    /// the loop nests tiled and guarded for blocks and threads, run on the CPU.
    #[test]
    fn gpu_loops_match_the_evaluator(steps in steps(), returns in prop::collection::vec(any::<u8>(), 0..3), x in data(), y in data()) {
        let text = random_function(&steps, &returns, false);
        compiled_matches_evaluator(&text, x, y, |context, module| {
            crate::gpu_target::compile_gpu_loops_for_cpu(context, module, "f", &Default::default())
        })?;
    }

    /// The Ascend lowering (kernels phase, then `convert-ftensor-to-cann`) keeps the values
    /// of random graphs: the cann ops evaluate (by their reference semantics) to what the
    /// graph does. A graph with an op that has no aclnn mapping is refused naming it.
    #[test]
    fn cann_ops_match_the_evaluator(steps in steps(), returns in prop::collection::vec(any::<u8>(), 0..3), x in data(), y in data()) {
        use crate::ascend_target::{AscendRequest, AscendStop, lower_for_ascend};
        let text = random_function(&steps, &returns, false);
        let inputs = [Tensor::f32(&[2, 3, 4], x), Tensor::f32(&[2, 3, 4], y)];
        let context = create_context().unwrap();
        context.enable_multi_threading(false);
        let mut module = parse_module(&context, &text, "random.mlir").expect("generated IR parses");
        let expected = evaluate(module.as_operation(), "f", &inputs).expect("evaluates");
        let request = AscendRequest {
            function: "f",
            weights: &Default::default(),
            fusion: Default::default(),
            up_to: AscendStop::Cann,
            input_names: &[],
        };
        match lower_for_ascend(&context, &mut module, &request) {
            Ok(_) => {
                let printed = module.as_operation().to_string();
                prop_assert!(!printed.lines().any(|l| l.contains("\"graph.") && !l.contains("\"graph.constant\"")),
                    "graph ops left:\n{}", printed);
                let actual = evaluate(module.as_operation(), "f", &inputs).expect("the cann ops evaluate");
                if let Err(message) = close(&actual, &expected) {
                    prop_assert!(false, "{}\non:\n{}\nlowered:\n{}", message, text, printed);
                }
            }
            Err(e) => prop_assert!(e.message.contains("has no aclnn mapping"), "{}\non:\n{}", e.message, text),
        }
    }

    /// The host side of a random graph outlined for a GPU becomes one hw function, which
    /// verifies and gives back the host plan of the host code it replaced (compared inside
    /// `lower_for_gpu`); every launch argument names an allocated buffer.
    #[test]
    fn gpu_host_functions_give_back_the_host_plan(steps in steps(), returns in prop::collection::vec(any::<u8>(), 0..3)) {
        use crate::gpu_target::{GpuRequest, GpuStop, GpuTarget, lower_for_gpu};
        use fuser_lowering::gpu::host_plan::Arg;
        let text = random_function(&steps, &returns, false);
        let context = create_context().unwrap();
        context.enable_multi_threading(false);
        let mut module = parse_module(&context, &text, "random.mlir").expect("generated IR parses");
        let request = GpuRequest {
            function: "f",
            weights: &Default::default(),
            target: GpuTarget::cuda("sm_90"),
            fusion: Default::default(),
            up_to: GpuStop::Outlined,
            tensor_cores: false,
        };
        let model = lower_for_gpu(&context, &mut module, &request).unwrap_or_else(|e| panic!("{}\non:\n{text}", e.message));
        let plan = model.plan.expect("an outlined module has a plan");
        prop_assert!(verify_fuser_ops(module.as_operation()), "the hw host function does not verify:\n{}", module.as_operation());
        let printed = module.as_operation().to_string();
        prop_assert_eq!(count(&printed, "func.func"), 1, "host code beside the hw function:\n{}", printed);
        prop_assert_eq!(count(&printed, "\"hw.launch\""), plan.launches.len());
        for launch in &plan.launches {
            for arg in &launch.args {
                if let Arg::Memref(m) = arg {
                    prop_assert!(m.buffer < plan.buffers.len());
                }
            }
        }
    }

}

/// A conv followed by a batch normalization, every parameter a random constant.
fn conv_bn_text(w: &[f32], params: &[f32], bias: bool) -> String {
    // Nine significant digits (an f32 exactly) and always a `.`: MLIR reads `6e-1` as an
    // integer.
    let list = |v: &[f32]| v.iter().map(|x| format!("{x:.8e}")).collect::<Vec<_>>().join(", ");
    let constant = |name: &str, shape: &str, v: &[f32]| {
        format!(
            "  %{name} = \"graph.constant\"() {{value = dense<[{}]> : tensor<{shape}xf32>}} : () -> tensor<{shape}xf32>\n",
            list(v)
        )
    };
    let mut text = String::from("func.func @f(%x: tensor<1x3x5x5xf32>) -> tensor<1x4x3x3xf32> {\n");
    // The weights as a flat constant reshaped to 4x3x3x3 is not a graph.constant of the
    // conv's type, so write them nested.
    let nested: Vec<String> = w
        .chunks(27)
        .map(|f| {
            format!(
                "[{}]",
                f.chunks(9)
                    .map(|c| format!(
                        "[{}]",
                        c.chunks(3)
                            .map(|r| format!("[{}]", list(r)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    text.push_str(&format!(
        "  %w = \"graph.constant\"() {{value = dense<[{}]> : tensor<4x3x3x3xf32>}} : () -> tensor<4x3x3x3xf32>\n",
        nested.join(", ")
    ));
    for (i, name) in ["scale", "b", "mean", "var", "cb"].iter().enumerate() {
        let values: Vec<f32> = params[i * 4..i * 4 + 4]
            .iter()
            .map(|v| if *name == "var" { v.abs() + 0.1 } else { *v })
            .collect();
        text.push_str(&constant(name, "4", &values));
    }
    let conv_operands = if bias { "%x, %w, %cb" } else { "%x, %w" };
    let conv_types = if bias {
        "tensor<1x3x5x5xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>"
    } else {
        "tensor<1x3x5x5xf32>, tensor<4x3x3x3xf32>"
    };
    text.push_str(&format!(
        "  %y = \"graph.conv\"({conv_operands}) {{dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 3, 3>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>}} : ({conv_types}) -> tensor<1x4x3x3xf32>\n"
    ));
    text.push_str("  %z = \"graph.batch_normalization\"(%y, %scale, %b, %mean, %var) {epsilon = 1.0e-05 : f32, momentum = 9.0e-01 : f32} : (tensor<1x4x3x3xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<1x4x3x3xf32>\n");
    text.push_str("  return %z : tensor<1x4x3x3xf32>\n}\n");
    text
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn graph_fold_batch_norm_preserves_semantics(
        w in prop::collection::vec(-1.0f32..1.0, 108),
        params in prop::collection::vec(-2.0f32..2.0, 20),
        x in prop::collection::vec(-3.0f32..3.0, 75).prop_filter("not all zero", |v| v.iter().any(|x| *x != 0.0)),
        bias in any::<bool>(),
    ) {
        let text = conv_bn_text(&w, &params, bias);
        let inputs = [Tensor::f32(&[1, 3, 5, 5], x)];
        let (before, after, folded) = run(&text, "builtin.module(graph-fold-batch-norm)", &inputs);
        prop_assert!(!folded.contains("graph.batch_normalization"), "not folded:\n{}", folded);
        if let Err(message) = close(&after, &before) {
            prop_assert!(false, "{}\n{}", message, folded);
        }
    }

    #[test]
    fn graph_form_kernels_preserves_semantics(steps in steps(), returns in prop::collection::vec(any::<u8>(), 0..3), x in data(), y in data()) {
        let text = random_function(&steps, &returns, false);
        let inputs = [Tensor::f32(&[2, 3, 4], x), Tensor::f32(&[2, 3, 4], y)];
        let (before, after, outlined) = run(&text, "builtin.module(graph-form-kernels)", &inputs);
        prop_assert_eq!(&before, &after, "semantics changed:\n{}\n=>\n{}", text, outlined);
        // Only constants and views are left in the function itself.
        let body = outlined.split("func.func @f").nth(1).unwrap_or_default();
        for op in ["graph.relu", "graph.add", "graph.mul", "graph.transpose"] {
            prop_assert!(!body.contains(op), "{} left outside kernels:\n{}", op, outlined);
        }
    }
}
