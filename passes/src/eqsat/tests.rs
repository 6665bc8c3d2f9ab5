//! The pass as a whole: bounded on a graph of thousands of ops, deterministic, and
//! semantics-preserving (the reference evaluator before and after).

use crate::{PipelineOptions, add_pipeline};
use fuser_dialects::{create_context, eval::evaluate, ffi::parse_module, semantics::Tensor};
use melior::{ir::operation::OperationLike, pass::PassManager};
use std::time::Instant;

/// A chain of `blocks` × 5 elementwise ops on a small tensor, with a residual add from
/// five ops back in every block, so that fusion has choices and shared producers.
fn long_chain(blocks: usize) -> String {
    let t = "tensor<1x4x4x4xf32>";
    let mut body = String::new();
    body.push_str(&format!(
        "  %c = \"graph.constant\"() {{value = dense<[[[0.5]], [[-0.25]], [[0.75]], [[1.5]]]> : tensor<4x1x1xf32>}} : () -> tensor<4x1x1xf32>\n  %h0 = \"graph.identity\"(%x) : ({t}) -> {t}\n"
    ));
    for i in 0..blocks {
        let (h, n) = (format!("%h{i}"), format!("%h{}", i + 1));
        body.push_str(&format!(
            "  %a{i} = \"graph.add\"({h}, %c) : ({t}, tensor<4x1x1xf32>) -> {t}\n  \
             %r{i} = \"graph.relu\"(%a{i}) : ({t}) -> {t}\n  \
             %m{i} = \"graph.mul\"(%r{i}, %c) : ({t}, tensor<4x1x1xf32>) -> {t}\n  \
             %s{i} = \"graph.tanh\"(%m{i}) : ({t}) -> {t}\n  \
             {n} = \"graph.add\"(%s{i}, {h}) : ({t}, {t}) -> {t}\n"
        ));
    }
    format!("func.func @f(%x: {t}) -> {t} {{\n{body}  return %h{blocks} : {t}\n}}\n")
}

fn run(text: &str, pipeline: &str) -> (String, Vec<Tensor>, Vec<Tensor>, f64) {
    let context = create_context().unwrap();
    context.enable_multi_threading(false);
    let mut module = parse_module(&context, text, "chain.mlir").expect("parses");
    let values: Vec<f32> = (0..64).map(|i| ((i * 37 % 29) as f32 - 14.0) / 7.0).collect();
    let inputs = vec![Tensor::f32(&[1, 4, 4, 4], values)];
    let before = evaluate(module.as_operation(), "f", &inputs).expect("evaluates before");
    let manager = PassManager::new(&context);
    add_pipeline(
        &manager.as_operation_pass_manager(),
        pipeline,
        PipelineOptions::default(),
    )
    .unwrap();
    let start = Instant::now();
    assert!(manager.run(&mut module).is_ok(), "{pipeline} failed");
    let seconds = start.elapsed().as_secs_f64();
    assert!(module.as_operation().verify());
    let after = evaluate(module.as_operation(), "f", &inputs).expect("evaluates after");
    (module.as_operation().to_string(), before, after, seconds)
}

fn assert_close(a: &[Tensor], b: &[Tensor]) {
    for (x, y) in a.iter().zip(b) {
        for (p, q) in x.to_f64_vec().iter().zip(y.to_f64_vec()) {
            assert!((p - q).abs() <= 1e-5 + 1e-5 * q.abs(), "{p} vs {q}");
        }
    }
}

#[test]
fn eqsat_thousands_of_ops() {
    // 3000 ops; the search stops at its limits, and the whole pass stays near them.
    let text = long_chain(600);
    let (after_text, before, after, seconds) = run(
        &text,
        "builtin.module(graph-eqsat-fuse{node-limit=30000 iter-limit=8 time-limit-ms=1500})",
    );
    assert_close(&after, &before);
    assert!(after_text.contains("ftensor.kernel"));
    // The search stops at 1.5 s; extraction, rebuild and outlining take about as long again.
    assert!(seconds < 10.0, "the pass took {seconds:.1} s on 3000 ops");
    let report = after_text.split("ftensor.fusion_report = \"").nth(1).expect("a report");
    assert!(report.contains("stop_reason"), "{report}");
    eprintln!(
        "3000 ops: {seconds:.2} s; report head: {}",
        &report[..report.len().min(400)]
    );
}

#[test]
fn eqsat_is_deterministic() {
    let text = long_chain(40);
    let first = run(&text, "builtin.module(graph-eqsat-fuse)");
    let second = run(&text, "builtin.module(graph-eqsat-fuse)");
    // The report holds the search's time in ms; everything else must be equal.
    let without_time = |s: &str| {
        let start = s.find("\\22ms\\22:").expect("ms");
        let end = start + s[start..].find(',').expect("comma");
        format!("{}{}", &s[..start], &s[end..])
    };
    assert_eq!(without_time(&first.0), without_time(&second.0));
    assert_close(&first.2, &first.1);
}

#[test]
fn greedy_strategy_preserves_semantics() {
    let (_, before, after, _) = run(&long_chain(40), "builtin.module(graph-eqsat-fuse{strategy=greedy})");
    assert_close(&after, &before);
}

/// The report attribute's text, unescaped enough to search.
fn report_of(module_text: &str) -> String {
    module_text
        .split("ftensor.fusion_report = \"")
        .nth(1)
        .and_then(|s| s.split("\"}").next())
        .expect("a report")
        .replace("\\22", "\"")
}

#[test]
fn ilp_extraction_preserves_semantics() {
    let (text, before, after, _) = run(
        &long_chain(4),
        "builtin.module(graph-eqsat-fuse{extraction=ilp ilp-time-limit-ms=20000})",
    );
    assert_close(&after, &before);
    let report = report_of(&text);
    assert!(report.contains("\"extraction\":\"ilp"), "{report}");
}

#[test]
fn ilp_out_of_time_falls_back_to_the_heuristic() {
    let (text, before, after, _) = run(
        &long_chain(4),
        "builtin.module(graph-eqsat-fuse{extraction=ilp ilp-time-limit-ms=0})",
    );
    assert_close(&after, &before);
    let report = report_of(&text);
    assert!(report.contains("dag-greedy (ilp fell back"), "{report}");
}
