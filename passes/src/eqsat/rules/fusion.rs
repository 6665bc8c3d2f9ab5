//! Fusion rules: an elementwise op joins the kernel of the op that produces its operand,
//! as a fused node `fused#K(inputs...)` in the same e-class. The producer may be any
//! computing op (a conv or matmul with its epilogue, a pool with its activation, an
//! elementwise chain) or a fused node already. Extraction decides which fused nodes
//! become kernels: fusing a producer whose result is also used elsewhere recomputes it,
//! and the cost model charges for that.
//!
//! Bounds: a body has at most [`MAX_STEPS`] ops, and an epilogue never changes the
//! producer's type (no broadcasting the producer to a larger shape), so each class gets
//! at most one fused node per producer node and body length.

use super::{Rule, add, is_constant, union_if_same_type};
use crate::eqsat::{
    analysis::{BodyMeta, FusedBody, Graph, GraphAnalysis, Operand, Step, is_absent, split_children},
    language::GraphLang,
};
use egg::{Applier, Id, PatternAst, Rewrite, SearchMatches, Searcher, Subst, Symbol, Var};

/// The most ops in one fused kernel.
pub const MAX_STEPS: usize = 8;

/// Elementwise ops of one computed operand (clip's bounds are constants).
pub const ACTIVATIONS: &[&str] = &[
    "relu",
    "leaky_relu",
    "clip",
    "sigmoid",
    "tanh",
    "hard_sigmoid",
    "hard_swish",
    "gelu",
    "elu",
    "selu",
    "softplus",
    "erf",
    "sqrt",
    "exp",
    "neg",
    "abs",
];

/// Elementwise ops of several operands.
pub const BINARY: &[&str] = &["add", "sub", "mul", "div", "p_relu", "batch_normalization"];

/// Pure views: never kernels, never inside one.
pub const VIEWS: &[&str] = &["reshape", "flatten", "squeeze", "unsqueeze", "identity"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An activation after its producer.
    Activation,
    /// An elementwise op whose other operands are constants (bias, scale, shift).
    Bias,
    /// An elementwise op with a second computed operand (a residual add).
    Residual,
}

pub fn rules() -> Vec<Rule> {
    [
        ("fuse-epilogue-activation", Kind::Activation),
        ("fuse-epilogue-bias", Kind::Bias),
        ("fuse-epilogue-residual", Kind::Residual),
    ]
    .into_iter()
    .map(|(name, kind)| Rewrite::new(name, FusionSearcher { kind }, FusionApplier { kind, name }).expect("rule"))
    .collect()
}

fn producer_var() -> Var {
    "?producer".parse().expect("variable")
}

/// Whether a node can be the producer of a fused kernel.
pub fn is_producer(g: &Graph, node: &GraphLang) -> bool {
    match node {
        GraphLang::Op(name, _) => !VIEWS.contains(&name.as_str()),
        GraphLang::Fused(key, _) => g.analysis.body(*key).steps.len() < MAX_STEPS,
        _ => false,
    }
}

/// Whether `node` (in class `class`) is a consumer of `kind` reading `producer` in slot
/// `slot`.
fn consumes(g: &Graph, kind: Kind, class: Id, node: &GraphLang, slot: usize, slots: &[Id]) -> bool {
    let GraphLang::Op(name, _) = node else { return false };
    let name = name.as_str();
    let others = slots
        .iter()
        .enumerate()
        .filter(|&(i, &c)| i != slot && !is_absent(g, c) && c != slots[slot]);
    let kind_fits = match kind {
        Kind::Activation => ACTIVATIONS.contains(&name) && others.clone().all(|(_, &c)| is_constant(g, c)),
        Kind::Bias => BINARY.contains(&name) && others.clone().all(|(_, &c)| is_constant(g, c)),
        Kind::Residual => {
            BINARY.contains(&name) && name != "batch_normalization" && others.clone().any(|(_, &c)| !is_constant(g, c))
        }
    };
    let producer = slots[slot];
    kind_fits
        && !is_constant(g, producer)
        && !is_absent(g, producer)
        && g[class].data.ty.is_some()
        && g[class].data.ty == g[producer].data.ty
        && g.find(producer) != g.find(class)
}

struct FusionSearcher {
    kind: Kind,
}

impl Searcher<GraphLang, GraphAnalysis> for FusionSearcher {
    fn search_eclass_with_limit(&self, g: &Graph, eclass: Id, limit: usize) -> Option<SearchMatches<'_, GraphLang>> {
        let mut substs = Vec::new();
        for node in &g[eclass].nodes {
            let GraphLang::Op(name, children) = node else { continue };
            let (slots, _) = split_children(g, name.as_str(), children);
            for slot in 0..slots.len() {
                let producer = slots[slot];
                if !consumes(g, self.kind, eclass, node, slot, &slots)
                    || !g[producer].nodes.iter().any(|n| is_producer(g, n))
                {
                    continue;
                }
                let mut subst = Subst::with_capacity(1);
                subst.insert(producer_var(), producer);
                if !substs.contains(&subst) {
                    substs.push(subst);
                }
                if substs.len() >= limit {
                    break;
                }
            }
        }
        (!substs.is_empty()).then_some(SearchMatches {
            eclass,
            substs,
            ast: None,
        })
    }

    fn vars(&self) -> Vec<Var> {
        vec![producer_var()]
    }
}

struct FusionApplier {
    kind: Kind,
    name: &'static str,
}

impl Applier<GraphLang, GraphAnalysis> for FusionApplier {
    fn apply_one(
        &self,
        g: &mut Graph,
        eclass: Id,
        subst: &Subst,
        _ast: Option<&PatternAst<GraphLang>>,
        _rule: Symbol,
    ) -> Vec<Id> {
        let producer = g.find(subst[producer_var()]);
        let consumers: Vec<GraphLang> = g[eclass]
            .nodes
            .iter()
            .filter(|node| {
                let GraphLang::Op(name, children) = node else {
                    return false;
                };
                let (slots, _) = split_children(g, name.as_str(), children);
                (0..slots.len())
                    .any(|s| g.find(slots[s]) == producer && consumes(g, self.kind, eclass, node, s, &slots))
            })
            .cloned()
            .collect();
        let producers: Vec<GraphLang> = g[producer]
            .nodes
            .iter()
            .filter(|n| is_producer(g, n))
            .cloned()
            .collect();
        let mut changed = Vec::new();
        for consumer in &consumers {
            for node in &producers {
                if let Some(fused) = fused_node(g, node, producer, consumer, eclass, self.name) {
                    let id = add(g, fused, self.name);
                    changed.extend(union_if_same_type(g, eclass, id, self.name));
                }
            }
        }
        changed
    }
}

/// The fused node computing `consumer` (in `class`) with `node` (in `producer`) inside.
pub(crate) fn fused_node(
    g: &mut Graph,
    node: &GraphLang,
    producer: Id,
    consumer: &GraphLang,
    class: Id,
    rule: &'static str,
) -> Option<GraphLang> {
    let mut inputs: Vec<Id> = Vec::new();
    let input = |inputs: &mut Vec<Id>, c: Id| match inputs.iter().position(|&i| i == c) {
        Some(i) => Operand::Input(i),
        None => {
            inputs.push(c);
            Operand::Input(inputs.len() - 1)
        }
    };
    let (mut body, mut types) = match node {
        GraphLang::Op(name, children) => {
            let (slots, attrs) = split_children(g, name.as_str(), children);
            let operands = slots
                .iter()
                .map(|&c| {
                    if is_absent(g, c) {
                        Operand::Absent
                    } else {
                        input(&mut inputs, g.find(c))
                    }
                })
                .collect();
            let ty = g[producer].data.ty.clone()?;
            let made_by = g.analysis.created_by.get(node).copied();
            let body = FusedBody {
                steps: vec![Step {
                    op: *name,
                    attrs,
                    operands,
                    ty: ty.mlir(),
                }],
                rules: made_by.into_iter().collect(),
            };
            (body, vec![ty])
        }
        GraphLang::Fused(key, children) => {
            inputs = children.iter().map(|&c| g.find(c)).collect();
            (g.analysis.body(*key).clone(), g.analysis.meta(*key).step_types.clone())
        }
        _ => return None,
    };
    if body.steps.len() >= MAX_STEPS {
        return None;
    }
    let GraphLang::Op(name, children) = consumer else {
        return None;
    };
    let (slots, attrs) = split_children(g, name.as_str(), children);
    let last = body.steps.len() - 1;
    let operands = slots
        .iter()
        .map(|&c| {
            if g.find(c) == producer {
                Operand::Step(last)
            } else if is_absent(g, c) {
                Operand::Absent
            } else {
                input(&mut inputs, g.find(c))
            }
        })
        .collect();
    let ty = g[class].data.ty.clone()?;
    if inputs.contains(&g.find(class)) {
        return None;
    }
    if let Some(&made_by) = g.analysis.created_by.get(consumer) {
        body.rules.push(made_by);
    }
    body.rules.push(rule);
    body.steps.push(Step {
        op: *name,
        attrs,
        operands,
        ty: ty.mlir(),
    });
    types.push(ty);
    let key = g.analysis.intern_body(body, BodyMeta { step_types: types });
    Some(GraphLang::Fused(key, inputs))
}
