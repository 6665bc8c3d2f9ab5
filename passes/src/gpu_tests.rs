//! Tests of the GPU lowering's rewrites that run on the CPU.

use crate::{
    PipelineOptions, add_pipeline,
    cpu_target::{CpuRequest, lower_for_cpu},
    phases::{Fusion, Phase},
};
use fuser_dialects::{
    create_context,
    eval::{Tensor, evaluate},
    ffi::{make, parse_module, set_attribute},
};
use fuser_lowering::JitModel;
use melior::{ir::operation::OperationLike, pass::PassManager};
use proptest::prelude::*;

/// `erf` of `values` by the reference evaluator and by the CPU code of `math-expand-erf`'s
/// expansion (the graph lowered to buffers, erf expanded, then the CPU's llvm phase).
fn erf_both_ways(values: Vec<f32>) -> (Vec<f64>, Vec<f64>) {
    let n = values.len();
    let text = format!(
        "func.func @f(%x: tensor<{n}xf32>) -> tensor<{n}xf32> {{\n  %y = \"graph.erf\"(%x) : (tensor<{n}xf32>) -> tensor<{n}xf32>\n  return %y : tensor<{n}xf32>\n}}\n"
    );
    let context = create_context().unwrap();
    context.enable_multi_threading(false);
    let mut module = parse_module(&context, &text, "erf.mlir").expect("parses");
    let input = Tensor::f32(&[n], values);
    let expected = evaluate(module.as_operation(), "f", std::slice::from_ref(&input)).expect("evaluates");
    let request = CpuRequest {
        function: "f",
        weights: &Default::default(),
        input_shapes: None,
        up_to: Phase::Bufferized,
        entry_symbol: String::new(),
        profile: false,
        object_file: None,
        fusion: Fusion::default(),
    };
    let lowered = lower_for_cpu(&context, &mut module, &request).unwrap_or_else(|e| panic!("{}", e.message));
    let entry = fuser_dialects::eval::find_function(module.as_operation(), "f").expect("entry");
    set_attribute(entry, "sym_name", make::string(entry.context(), "_mlir_ciface_f"));
    let manager = PassManager::new(&context);
    let pipeline = format!("math-expand-erf,{}", Phase::Llvm.pipeline());
    add_pipeline(
        &manager.as_operation_pass_manager(),
        &pipeline,
        PipelineOptions::default(),
    )
    .unwrap();
    assert!(manager.run(&mut module).is_ok(), "the pipeline failed");
    let text = module.as_operation().to_string();
    assert!(!text.contains("math.erf") && !text.contains("@erff"), "an erf was left");
    let model = JitModel::new(&module, "f", lowered.inputs, lowered.outputs, None).expect("compiles");
    let actual = model.run(&[input]).expect("runs");
    (actual[0].to_f64_vec(), expected[0].to_f64_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// The expansion is within 6e-7 of erf over [-6, 6] (A&S's 1.5e-7 and f32 rounding),
    /// and within 1e-6 relative near zero, where erf is small.
    #[test]
    fn expanded_erf_matches_the_evaluator(
        wide in prop::collection::vec(-6.0f32..6.0, 1..256),
        small in prop::collection::vec(-0.3f32..0.3, 1..256),
    ) {
        let (actual, expected) = erf_both_ways(wide.iter().chain(&small).copied().collect());
        for (i, (x, y)) in actual.iter().zip(&expected).enumerate() {
            let tolerance = if y.abs() < 0.25 { 1e-6 * y.abs() + 3e-8 } else { 6e-7 };
            prop_assert!((x - y).abs() <= tolerance, "element {}: {} expected {}", i, x, y);
        }
    }
}
