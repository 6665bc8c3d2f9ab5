//! Layout rules: a transpose moves after the elementwise ops that follow it, so that an
//! NCHW→NHWC→NCHW pair meets and cancels (`transpose-transpose`) and the elementwise ops
//! join their producer's kernel. Transposes only ever move toward the outputs, so a
//! chain of n ops gives at most n new nodes.

use super::{Rule, add_op, union_matched, var};
use crate::eqsat::analysis::{Graph, GraphAnalysis};
use crate::eqsat::language::GraphLang;
use egg::{Applier, Id, Pattern, PatternAst, Rewrite, Subst, Symbol};
use fuser_dialects::spec::find_op;

/// Elementwise ops of one operand, which commute with any transpose.
const UNARY: &[&str] = &[
    "relu",
    "sigmoid",
    "tanh",
    "gelu",
    "erf",
    "sqrt",
    "exp",
    "neg",
    "abs",
    "elu",
    "selu",
    "softplus",
    "hard_sigmoid",
    "hard_swish",
    "leaky_relu",
];

/// Elementwise ops of two operands, which commute with the same transpose of both.
const BINARY: &[&str] = &["add", "sub", "mul", "div"];

pub fn rules() -> Vec<Rule> {
    let mut rules = Vec::new();
    for (ops, binary) in [(UNARY, false), (BINARY, true)] {
        for &op in ops {
            // Rule names live as long as the program: egg's appliers take `&'static str`.
            let name: &'static str = Box::leak(format!("sink-transpose-through-{op}").into_boxed_str());
            // Ops that declare attributes (gelu's approximation, elu's alpha) end with them.
            let attributed = find_op(&format!("graph.{op}")).is_some_and(|spec| !spec.attributes.is_empty());
            let attrs = if attributed { " ?a" } else { "" };
            let pattern = if binary {
                format!("({op} (transpose ?x ?p) (transpose ?y ?p){attrs})")
            } else {
                format!("({op} (transpose ?x ?p){attrs})")
            };
            let searcher: Pattern<GraphLang> = pattern.parse().expect("pattern");
            let applier = SinkTranspose {
                op,
                name,
                binary,
                attributed,
                lhs: searcher.ast.clone(),
            };
            rules.push(Rewrite::new(name, searcher, applier).expect("rule"));
        }
    }
    rules
}

/// `op(transpose(x, p)[, transpose(y, p)])` = `transpose(op(x[, y]), p)`.
struct SinkTranspose {
    op: &'static str,
    name: &'static str,
    binary: bool,
    attributed: bool,
    lhs: PatternAst<GraphLang>,
}

impl Applier<GraphLang, GraphAnalysis> for SinkTranspose {
    fn apply_one(
        &self,
        g: &mut Graph,
        class: Id,
        s: &Subst,
        _ast: Option<&PatternAst<GraphLang>>,
        _rule: Symbol,
    ) -> Vec<Id> {
        let (x, p) = (var(s, "?x"), var(s, "?p"));
        let operands = if self.binary { vec![x, var(s, "?y")] } else { vec![x] };
        let attrs = self.attributed.then(|| var(s, "?a"));
        let Some(inner) = add_op(g, self.name, self.op, &operands, attrs) else {
            return vec![];
        };
        match add_op(g, self.name, "transpose", &[inner], Some(p)) {
            Some(new) => union_matched(g, class, new, self.name, &self.lhs, s),
            None => vec![],
        }
    }
}
