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

}

proptest! {
    // Each case compiles a module to machine code: fewer cases than the graph passes.
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    #[test]
    fn cpu_target_matches_the_evaluator(steps in steps(), returns in prop::collection::vec(any::<u8>(), 0..3), x in data(), y in data()) {
        let text = random_function(&steps, &returns, false);
        let inputs = [Tensor::f32(&[2, 3, 4], x), Tensor::f32(&[2, 3, 4], y)];
        let context = create_context().unwrap();
        context.enable_multi_threading(false);
        let mut module = parse_module(&context, &text, "random.mlir").expect("generated IR parses");
        let expected = evaluate(module.as_operation(), "f", &inputs).expect("evaluates");
        let compiled = compile_cpu(&context, &mut module, "f", &Default::default(), None)
            .unwrap_or_else(|e| panic!("{}\non:\n{text}", e.message));
        let actual = compiled.run(&inputs).expect("runs");
        if let Err(message) = close(&actual, &expected) {
            prop_assert!(false, "{}\non:\n{}", message, text);
        }
    }
}
