//! Algebraic rules: identities, transpose and reshape chains, and reassociation of
//! constant operands so that a chain of biases or scales becomes one epilogue step.

use super::{CodeApplier, Rule, add_attrs, add_op, attrs_of, code_rule, is_constant, is_splat, ty, var};
use crate::eqsat::analysis::{AttrsEntry, Graph};
use egg::{ConditionalApplier, Id, Pattern, Rewrite, Subst, rewrite};
use fuser_dialects::semantics::{Attr, Attrs};

pub fn rules() -> Vec<Rule> {
    vec![
        rewrite!("identity-elim"; "(identity ?x)" => "?x"),
        neutral("mul-by-one", "(mul ?x ?c)", 1.0),
        neutral("mul-by-one-left", "(mul ?c ?x)", 1.0),
        neutral("add-zero", "(add ?x ?c)", 0.0),
        neutral("add-zero-left", "(add ?c ?x)", 0.0),
        neutral("sub-zero", "(sub ?x ?c)", 0.0),
        neutral("div-by-one", "(div ?x ?c)", 1.0),
        code_rule(
            "transpose-transpose",
            "(transpose (transpose ?x ?p) ?q)",
            transpose_transpose,
        ),
        code_rule("reshape-reshape", "(reshape (reshape ?x ?s ?a) ?t ?b)", reshape_reshape),
        code_rule("reassociate-add-constants", "(add (add ?x ?c) ?d)", |g, _, s| {
            reassociate(g, s, "add")
        }),
        code_rule("reassociate-mul-constants", "(mul (mul ?x ?c) ?d)", |g, _, s| {
            reassociate(g, s, "mul")
        }),
    ]
}

/// `op(x, c) = x` where `c` is all `value` and does not broadcast `x` to a larger shape.
fn neutral(name: &'static str, pattern: &str, value: f64) -> Rule {
    let searcher: Pattern<_> = pattern.parse().expect("pattern");
    let build: fn(&mut Graph, Id, &Subst) -> Option<Id> = |_, _, s| Some(var(s, "?x"));
    let condition = move |g: &mut Graph, class: Id, s: &Subst| {
        let (x, c) = (var(s, "?x"), var(s, "?c"));
        is_splat(g, c, value) && ty(g, x).is_some() && ty(g, x) == ty(g, class)
    };
    let lhs = searcher.ast.clone();
    Rewrite::new(
        name,
        searcher,
        ConditionalApplier {
            condition,
            applier: CodeApplier { name, build, lhs },
        },
    )
    .expect("rule")
}

fn perm_of(g: &Graph, attrs: Id) -> Option<Vec<i64>> {
    attrs_of(g, attrs)?.ints("perm").ok()
}

/// The attributes of a transpose by `perm`.
pub fn transpose_attrs(perm: &[i64]) -> AttrsEntry {
    let mut semantic = Attrs::default();
    semantic.set("perm", Attr::Ints(perm.to_vec()));
    let text: Vec<String> = perm.iter().map(i64::to_string).collect();
    let mlir = if perm.is_empty() {
        "array<i64>".to_string()
    } else {
        format!("array<i64: {}>", text.join(", "))
    };
    AttrsEntry {
        semantic,
        mlir: vec![("perm".into(), mlir)],
    }
}

/// `transpose(transpose(x, p), q) = transpose(x, p∘q)`, or `x` when that is the identity.
fn transpose_transpose(g: &mut Graph, _class: Id, s: &Subst) -> Option<Id> {
    let (x, p, q) = (var(s, "?x"), var(s, "?p"), var(s, "?q"));
    let (p, q) = (perm_of(g, p)?, perm_of(g, q)?);
    if p.len() != q.len() {
        return None;
    }
    // Output dim i of the outer transpose is its input dim q[i], which is x's dim p[q[i]].
    let composed: Vec<i64> = q.iter().map(|&i| p.get(i as usize).copied()).collect::<Option<_>>()?;
    if composed.iter().enumerate().all(|(i, &d)| d == i as i64) {
        return Some(x);
    }
    let attrs = add_attrs(g, transpose_attrs(&composed));
    add_op(g, "transpose-transpose", "transpose", &[x], Some(attrs))
}

/// `reshape(reshape(x, s), t) = reshape(x, t)` when `t` is known and copies no dim from
/// its input (no 0 entries, or `allowzero`).
fn reshape_reshape(g: &mut Graph, _class: Id, s: &Subst) -> Option<Id> {
    let (x, t, b) = (var(s, "?x"), var(s, "?t"), var(s, "?b"));
    let shape = g[t].data.value.as_ref()?.to_i64_vec();
    let allow_zero = attrs_of(g, b)?.int("allowzero").unwrap_or(0) != 0;
    if !allow_zero && shape.contains(&0) {
        return None;
    }
    add_op(g, "reshape-reshape", "reshape", &[x, t], Some(b))
}

/// `op(op(x, c), d) = op(x, op(c, d))` for constants `c` and `d`: the constant part
/// folds, and the chain is one step shorter.
fn reassociate(g: &mut Graph, s: &Subst, op: &'static str) -> Option<Id> {
    let (x, c, d) = (var(s, "?x"), var(s, "?c"), var(s, "?d"));
    if !is_constant(g, c) || !is_constant(g, d) || is_constant(g, x) {
        return None;
    }
    let name = if op == "add" {
        "reassociate-add-constants"
    } else {
        "reassociate-mul-constants"
    };
    let folded = add_op(g, name, op, &[c, d], None)?;
    add_op(g, name, op, &[x, folded], None)
}
