//! `graph-simplify`: inference-time cleanups of the graph dialect.
//!
//! IRDL ops carry no `Pure` trait and no folders, so upstream `canonicalize` and `cse`
//! leave graph ops alone. This pass does their work for the graph dialect:
//! - removes Identity, and Dropout whose mask is unused (inference);
//! - removes no-op Reshape (same static type), Transpose (identity perm) and Cast (same
//!   element type);
//! - folds transpose∘transpose into one transpose, and reshape∘reshape into the outer
//!   reshape when its target shape is a constant without `0` entries (a `0` would copy a
//!   dim of the intermediate, which differs from the source's);
//! - erases dead graph ops and merges identical ones (CSE within a block).
//!
//! It iterates to a fixpoint.

use crate::registry::{PassInfo, PassOptions};
use fuser_dialects::{
    accessors::op_name,
    ffi::{dense_i64_values, erase_operation, has_uses, nested_operations, replace_all_uses, set_operand},
    graph_ops::{Cast, Reshape, Transpose},
};
use melior::{
    ir::{
        OperationRef, Value, ValueLike,
        block::BlockLike,
        operation::{OperationLike, OperationResult},
        r#type::TypeId,
    },
    pass::{ExternalPass, Pass, create_external},
};
use std::collections::HashMap;

#[repr(align(8))]
struct PassId;
static GRAPH_SIMPLIFY_PASS_ID: PassId = PassId;

pub const INFO: PassInfo = PassInfo {
    flag: "graph-simplify",
    type_name: "GraphSimplifyPass",
    summary: "Remove Identity/Dropout and no-op Reshape/Transpose/Cast, fold reshape and transpose chains, erase dead graph ops and merge duplicates",
    description: r#"Inference-time cleanup of the graph dialect, iterated to a fixpoint. Upstream
`canonicalize` and `cse` cannot do this: IRDL ops have no `Pure` trait or folders.

Before:
```mlir
%0 = "graph.identity"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
%1 = "graph.transpose"(%0) {perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
%2 = "graph.transpose"(%1) {perm = array<i64: 1, 0>} : (tensor<3x2xf32>) -> tensor<2x3xf32>
%3 = "graph.relu"(%2) : (tensor<2x3xf32>) -> tensor<2x3xf32>
%4 = "graph.relu"(%2) : (tensor<2x3xf32>) -> tensor<2x3xf32>
%5 = "graph.add"(%3, %4) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
```
After:
```mlir
%0 = "graph.relu"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
%1 = "graph.add"(%0, %0) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
```"#,
    options: &[],
    create,
};

fn create(_options: &PassOptions) -> Result<Pass, String> {
    Ok(create_external(
        |op: OperationRef, _pass: ExternalPass| {
            simplify(op);
        },
        TypeId::create(&GRAPH_SIMPLIFY_PASS_ID),
        "GraphSimplifyPass",
        INFO.flag,
        INFO.summary,
        "",
        &[],
    ))
}

/// Runs all rewrites under `root` until nothing changes. Returns the number of changes.
pub fn simplify(root: OperationRef) -> usize {
    let mut total = 0;
    loop {
        let changes = rewrite_once(root) + eliminate_dead(root) + merge_duplicates(root);
        total += changes;
        if changes == 0 {
            return total;
        }
    }
}

fn graph_ops<'c, 'a>(root: OperationRef<'c, 'a>) -> Vec<OperationRef<'c, 'a>> {
    nested_operations(root)
        .into_iter()
        .filter(|op| op_name(op).starts_with("graph."))
        .collect()
}

fn defining_op<'c, 'a>(value: Value<'c, 'a>) -> Option<OperationRef<'c, 'a>> {
    OperationResult::try_from(value).ok().map(|r| r.owner())
}

/// Replaces the single result of `op` with `with` and erases `op`.
fn forward(op: OperationRef, with: Value) {
    if let Ok(result) = op.result(0) {
        replace_all_uses(result.into(), with);
    }
    erase_operation(op);
}

/// One sweep of the local rewrites; each erases at most the op it visits, so the
/// collected handles of later ops stay valid.
fn rewrite_once(root: OperationRef) -> usize {
    let mut changes = 0;
    for op in graph_ops(root) {
        let name = op_name(&op);
        let Ok(input) = op.operand(0) else { continue };
        let same_type = op.result(0).map(|r| r.r#type() == input.r#type()).unwrap_or(false);
        match name.as_str() {
            "graph.identity" => {
                forward(op, input);
                changes += 1;
            }
            "graph.dropout" => {
                let mask_used = op.result(1).map(|m| has_uses(m.into())).unwrap_or(false);
                if !mask_used {
                    forward(op, input);
                    changes += 1;
                }
            }
            "graph.cast" if same_type && Cast::cast(op).is_some() => {
                forward(op, input);
                changes += 1;
            }
            "graph.reshape" if same_type && fuser_dialects::ffi::tensor_info(input.r#type()).and_then(|t| t.static_shape()).is_some() => {
                forward(op, input);
                changes += 1;
            }
            "graph.reshape" => {
                changes += usize::from(fold_reshape_chain(op));
            }
            "graph.transpose" => {
                let Some(outer) = Transpose::cast(op) else { continue };
                let perm = outer.perm();
                if perm.iter().enumerate().all(|(i, &p)| p == i as i64) {
                    forward(op, input);
                    changes += 1;
                } else if let Some(inner) = defining_op(input).and_then(Transpose::cast) {
                    // transpose(transpose(x, p1), p2) = transpose(x, q), q[i] = p1[p2[i]].
                    let p1 = inner.perm();
                    let composed: Vec<i64> = perm.iter().map(|&p| p1[p as usize]).collect();
                    let Ok(result) = op.result(0) else { continue };
                    let Ok(new) = Transpose::build(op.location(), inner.data(), result.r#type(), &composed) else {
                        continue;
                    };
                    let Some(block) = op.block() else { continue };
                    let new = block.insert_operation_before(op, new);
                    let Ok(new_result) = new.result(0) else { continue };
                    forward(op, new_result.into());
                    changes += 1;
                }
            }
            _ => {}
        }
    }
    changes
}

/// reshape(reshape(x, s1), s2) -> reshape(x, s2) when s2 is a constant without zeros
/// (or allowzero is set), so it does not read the intermediate's dims.
fn fold_reshape_chain(op: OperationRef) -> bool {
    let Some(outer) = Reshape::cast(op) else { return false };
    let Some(inner) = defining_op(outer.data()).and_then(Reshape::cast) else { return false };
    let Some(shape_op) = defining_op(outer.shape()) else { return false };
    if op_name(&shape_op) != "graph.constant" {
        return false;
    }
    let Some(target) = shape_op.attribute("value").ok().and_then(dense_i64_values) else { return false };
    if outer.allowzero() == 0 && target.contains(&0) {
        return false;
    }
    set_operand(op, 0, inner.data());
    true
}

/// Erases graph ops whose results are all unused, users first.
fn eliminate_dead(root: OperationRef) -> usize {
    let mut changes = 0;
    for op in graph_ops(root).into_iter().rev() {
        if op.results().all(|r| !has_uses(r.into())) {
            erase_operation(op);
            changes += 1;
        }
    }
    changes
}

/// Merges graph ops with the same name, operands, attributes and result types within a
/// block: the later one is replaced by the earlier, which dominates it.
fn merge_duplicates(root: OperationRef) -> usize {
    let mut changes = 0;
    let mut seen: HashMap<String, OperationRef> = HashMap::new();
    for op in graph_ops(root) {
        let Some(block) = op.block() else { continue };
        let mut key = format!("{:?}|{}|", block.to_raw().ptr, op_name(&op));
        for operand in op.operands() {
            key.push_str(&format!("{:?},", operand.to_raw().ptr));
        }
        let mut attributes: Vec<String> = op.attributes().map(|(n, a)| format!("{}={a}", n.as_string_ref().as_str().unwrap_or_default())).collect();
        attributes.sort();
        key.push_str(&attributes.join(","));
        for result in op.results() {
            key.push_str(&format!("|{}", result.r#type()));
        }
        match seen.get(&key) {
            Some(first) => {
                for (mine, theirs) in op.results().zip(first.results()) {
                    replace_all_uses(mine.into(), theirs.into());
                }
                erase_operation(op);
                changes += 1;
            }
            None => {
                seen.insert(key, op);
            }
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    //! graph-simplify must preserve semantics: random graphs built from the ops it
    //! rewrites (and their chains, duplicates and dead values) are evaluated with the
    //! reference evaluator on random inputs before and after the pass.
    use crate::{PipelineOptions, add_pipeline};
    use fuser_dialects::{
        create_context,
        eval::{Tensor, evaluate},
        ffi::parse_module,
        verify_fuser_ops,
    };
    use melior::{ir::operation::OperationLike, pass::PassManager};
    use proptest::prelude::*;

    /// Reshape targets for 24 elements; 0 copies an input dim and -1 is inferred.
    const TARGETS: [&[i64]; 8] = [&[24], &[4, 6], &[2, 12], &[2, 3, 4], &[6, -1], &[0, -1], &[0, 0, -1], &[3, 8]];

    struct Builder {
        lines: Vec<String>,
        values: Vec<(String, Vec<usize>)>,
        next: usize,
    }

    fn ty(shape: &[usize]) -> String {
        format!("tensor<{}xf32>", shape.iter().map(usize::to_string).collect::<Vec<_>>().join("x"))
    }

    impl Builder {
        fn fresh(&mut self) -> String {
            self.next += 1;
            format!("%v{}", self.next)
        }
        fn push(&mut self, rhs: String, shape: Vec<usize>) {
            let name = self.fresh();
            self.lines.push(format!("  {name} = {rhs}"));
            self.values.push((name, shape));
        }
        fn unary(&mut self, op: &str, attrs: &str, v: usize) {
            let (name, shape) = self.values[v].clone();
            let t = ty(&shape);
            self.push(format!("\"graph.{op}\"({name}){attrs} : ({t}) -> {t}"), shape);
        }
        fn transpose(&mut self, v: usize, seed: u8) {
            let (name, shape) = self.values[v].clone();
            let mut perm: Vec<usize> = (0..shape.len()).collect();
            // A deterministic permutation from the seed (Fisher-Yates with the seed's bits).
            let mut s = seed as usize;
            for i in (1..perm.len()).rev() {
                perm.swap(i, s % (i + 1));
                s /= i + 1;
            }
            let out: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
            let perm_text = perm.iter().map(usize::to_string).collect::<Vec<_>>().join(", ");
            self.push(format!("\"graph.transpose\"({name}) {{perm = array<i64: {perm_text}>}} : ({}) -> {}", ty(&shape), ty(&out)), out);
        }
        fn reshape(&mut self, v: usize, target: &[i64]) {
            let (name, shape) = self.values[v].clone();
            let mut dims: Vec<i64> = target.to_vec();
            for (i, d) in dims.iter_mut().enumerate() {
                if *d == 0 {
                    match shape.get(i) {
                        Some(&s) => *d = s as i64,
                        None => return, // 0 without an input dim: not a valid case
                    }
                }
            }
            let known: i64 = dims.iter().filter(|&&d| d != -1).product();
            if 24 % known != 0 {
                return;
            }
            let out: Vec<usize> = dims.iter().map(|&d| if d == -1 { (24 / known) as usize } else { d as usize }).collect();
            let constant = self.fresh();
            let values = target.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
            self.lines.push(format!(
                "  {constant} = \"graph.constant\"() {{value = dense<[{values}]> : tensor<{}xi64>}} : () -> tensor<{}xi64>",
                target.len(),
                target.len()
            ));
            self.push(
                format!("\"graph.reshape\"({name}, {constant}) {{allowzero = 0 : i64}} : ({}, tensor<{}xi64>) -> {}", ty(&shape), target.len(), ty(&out)),
                out,
            );
        }
        fn add(&mut self, v: usize, w_seed: usize) {
            let (a, shape) = self.values[v].clone();
            let same: Vec<usize> = (0..self.values.len()).filter(|&i| self.values[i].1 == shape).collect();
            let b = self.values[same[w_seed % same.len()]].0.clone();
            let t = ty(&shape);
            self.push(format!("\"graph.add\"({a}, {b}) : ({t}, {t}) -> {t}"), shape);
        }
    }

    /// Builds the text of `func.func @f(%x, %y)` from a list of random steps.
    fn random_function(steps: &[(u8, u8, u8)], returns: &[u8]) -> String {
        let mut b = Builder {
            lines: vec![],
            values: vec![("%x".into(), vec![2, 3, 4]), ("%y".into(), vec![2, 3, 4])],
            next: 0,
        };
        for &(kind, pick, extra) in steps {
            // Mostly use one of the last three values, so chains form.
            let n = b.values.len();
            let v = n - 1 - (pick as usize % n.min(3));
            match kind % 13 {
                0 => b.unary("identity", "", v),
                1 => b.unary("relu", "", v),
                2 => b.unary("dropout", " {operandSegmentSizes = array<i32: 1, 0, 0>, resultSegmentSizes = array<i32: 1, 0>}", v),
                3 | 4 => b.transpose(v, extra),
                5 => b.reshape(v, TARGETS[extra as usize % TARGETS.len()]),
                6 => b.unary("cast", " {saturate = 1 : i64, to = 1 : i64}", v),
                7 => b.add(v, extra as usize),
                8 => {
                    // A duplicate of an earlier line: the same op on the same operands.
                    if let Some(line) = b.lines.iter().rev().find(|l| !l.contains("graph.constant")).cloned() {
                        let (_, rhs) = line.split_once(" = ").unwrap();
                        let shape = b.values.iter().find(|(name, _)| line.trim_start().starts_with(&format!("{name} "))).map(|(_, s)| s.clone()).unwrap();
                        b.push(rhs.to_string(), shape);
                    }
                }
                12 => {
                    // A reshape chain, the pattern the reshape fold looks for.
                    b.reshape(v, TARGETS[extra as usize % TARGETS.len()]);
                    let last = b.values.len() - 1;
                    b.reshape(last, TARGETS[pick as usize % TARGETS.len()]);
                }
                9 => b.unary("leaky_relu", &format!(" {{alpha = {}.0e-01 : f32}}", extra % 10), v),
                10 => {
                    let shape: Vec<i64> = b.values[v].1.iter().map(|&d| d as i64).collect();
                    b.reshape(v, &shape);
                }
                _ => {
                    let rank = b.values[v].1.len();
                    let (name, shape) = b.values[v].clone();
                    let perm = (0..rank).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
                    let t = ty(&shape);
                    b.push(format!("\"graph.transpose\"({name}) {{perm = array<i64: {perm}>}} : ({t}) -> {t}"), shape);
                }
            }
        }
        let mut outputs = vec![b.values.len() - 1];
        for &r in returns {
            outputs.push(r as usize % b.values.len());
        }
        let names: Vec<String> = outputs.iter().map(|&i| b.values[i].0.clone()).collect();
        let types: Vec<String> = outputs.iter().map(|&i| ty(&b.values[i].1)).collect();
        format!(
            "func.func @f(%x: tensor<2x3x4xf32>, %y: tensor<2x3x4xf32>) -> ({}) {{\n{}\n  return {} : {}\n}}\n",
            types.join(", "),
            b.lines.join("\n"),
            names.join(", "),
            types.join(", ")
        )
    }

    fn count_graph_ops(text: &str) -> usize {
        text.matches("\"graph.").count()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]
        #[test]
        fn preserves_semantics_on_random_graphs(
            steps in prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 1..24),
            returns in prop::collection::vec(any::<u8>(), 0..3),
            x in prop::collection::vec(-3.0f32..3.0, 24),
            y in prop::collection::vec(-3.0f32..3.0, 24),
        ) {
            prop_assume!(x.iter().any(|v| *v != 0.0) && y.iter().any(|v| *v != 0.0));
            let text = random_function(&steps, &returns);
            let context = create_context().unwrap();
            context.enable_multi_threading(false);
            let mut module = parse_module(&context, &text, "random.mlir").expect("generated IR parses");
            prop_assert!(verify_fuser_ops(module.as_operation()), "generated IR verifies:\n{}", text);
            let inputs = [Tensor::f32(&[2, 3, 4], x), Tensor::f32(&[2, 3, 4], y)];
            let before = evaluate(module.as_operation(), "f", &inputs).expect("evaluates before");

            let manager = PassManager::new(&context);
            add_pipeline(&manager.as_operation_pass_manager(), "builtin.module(func.func(graph-simplify))", PipelineOptions { verify_each: true }).unwrap();
            prop_assert!(manager.run(&mut module).is_ok(), "pass failed on:\n{}", text);
            prop_assert!(module.as_operation().verify());
            let simplified = module.as_operation().to_string();
            let after = evaluate(module.as_operation(), "f", &inputs).expect("evaluates after");

            prop_assert_eq!(&before, &after, "semantics changed:\n{}\n=>\n{}", text, simplified);
            prop_assert!(count_graph_ops(&simplified) <= count_graph_ops(&text));
            for op in ["graph.identity", "graph.dropout", "graph.cast"] {
                prop_assert!(!simplified.contains(op), "{} left in:\n{}", op, simplified);
            }
        }
    }
}
