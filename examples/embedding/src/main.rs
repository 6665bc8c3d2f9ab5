//! An embedding compiler: it owns its melior `Context`, registers fuser into it, defines
//! a pass of its own (counting graph ops), and runs one pipeline that mixes its pass,
//! fuser's `graph-simplify` and upstream `canonicalize`/`cse`. It checks the result and
//! exits non-zero if anything is off, so `make test` can run it.

use melior::{
    Context,
    ir::{
        Module, OperationRef,
        operation::{OperationLike, WalkOrder, WalkResult},
        r#type::TypeId,
    },
    pass::{ExternalPass, PassManager, create_external},
};
use std::{cell::Cell, process::ExitCode, rc::Rc};

const MODEL: &str = r#"
func.func @model(%x: tensor<2x3xf32>, %i: i32) -> (tensor<2x3xf32>, i32) {
  %0 = "graph.identity"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = "graph.transpose"(%0) {perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %2 = "graph.transpose"(%1) {perm = array<i64: 1, 0>} : (tensor<3x2xf32>) -> tensor<2x3xf32>
  %3 = "graph.relu"(%2) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %c0 = arith.constant 0 : i32
  %4 = arith.addi %i, %c0 : i32
  return %3, %4 : tensor<2x3xf32>, i32
}
"#;

#[repr(align(8))]
struct CountPassId;
static COUNT_PASS_ID: CountPassId = CountPassId;

/// The embedder's own pass: records how many graph ops it sees.
fn count_graph_ops(counts: Rc<Cell<Vec<usize>>>) -> melior::pass::Pass {
    create_external(
        move |op: OperationRef, _pass: ExternalPass| {
            let mut n = 0;
            op.walk(WalkOrder::PreOrder, |inner| {
                if inner
                    .name()
                    .as_string_ref()
                    .as_str()
                    .unwrap_or("")
                    .starts_with("graph.")
                {
                    n += 1;
                }
                WalkResult::Advance
            });
            let mut seen = counts.take();
            seen.push(n);
            counts.set(seen);
        },
        TypeId::create(&COUNT_PASS_ID),
        "CountGraphOpsPass",
        "count-graph-ops",
        "Count graph ops (an embedder's own pass)",
        "",
        &[],
    )
}

fn main() -> ExitCode {
    let context = Context::new();
    // The counting pass shares an `Rc` with main; keep MLIR from running it on
    // several functions in parallel threads.
    context.enable_multi_threading(false);
    if let Err(error) = fuser::register(&context) {
        eprintln!("embedding: {error}");
        return ExitCode::FAILURE;
    }
    let Some(mut module) = Module::parse(&context, MODEL) else {
        eprintln!("embedding: the model does not parse");
        return ExitCode::FAILURE;
    };
    if !fuser::verify(&module) {
        eprintln!("embedding: the model does not verify");
        return ExitCode::FAILURE;
    }

    let counts = Rc::new(Cell::new(Vec::new()));
    let make_counter = {
        let counts = counts.clone();
        move |_: &fuser::PassOptions| Ok(count_graph_ops(counts.clone()))
    };
    let manager = PassManager::new(&context);
    let pipeline = "builtin.module(func.func(count-graph-ops, graph-simplify, canonicalize, cse, count-graph-ops))";
    if let Err(error) = fuser::add_pipeline(
        &manager.as_operation_pass_manager(),
        pipeline,
        &[fuser::ExtraPass {
            flag: "count-graph-ops",
            create: &make_counter,
        }],
    ) {
        eprintln!("embedding: {error}");
        return ExitCode::FAILURE;
    }
    if manager.run(&mut module).is_err() {
        eprintln!("embedding: the pipeline failed");
        return ExitCode::FAILURE;
    }

    let text = module.as_operation().to_string();
    println!("pipeline: {pipeline}");
    println!("{text}");
    let seen = counts.take();
    // Before: identity, transpose, transpose, relu. After: relu alone. And the
    // upstream canonicalizer folded the `addi %i, 0`.
    let ok = seen == [4, 1] && !text.contains("arith.addi") && text.contains("graph.relu");
    println!("graph ops before/after graph-simplify, as counted by the embedder's pass: {seen:?}");
    if ok {
        println!("embedding: ok");
        ExitCode::SUCCESS
    } else {
        eprintln!("embedding: unexpected result");
        ExitCode::FAILURE
    }
}
