//! Row-reduction rules (part of the fusion family): a layer normalization or a softmax
//! that an exporter wrote out op by op (PyTorch before opset 17 writes LayerNorm as nine
//! ops) becomes the one graph op again, which is one kernel, and whose affine tail then
//! joins it as an epilogue.

use super::{Rule, add_attrs, add_constant, add_op, attrs_of, code_rule, is_constant, is_splat, scalar_value, ty, var};
use crate::eqsat::{
    analysis::{AttrsEntry, Graph, split_children},
    language::GraphLang,
};
use egg::{Id, Subst};
use fuser_dialects::semantics::{Attr, Attrs, Tensor};

pub fn rules() -> Vec<Rule> {
    vec![
        code_rule("recompose-layer-norm", "(div ?d (sqrt (add ?v ?eps)))", layer_norm),
        code_rule("recompose-softmax", "(div ?e (reduce_sum ?e ?axes ?a))", softmax),
    ]
}

/// The operand slots of a node `name(...)` in `class`, the first that `accept` takes.
fn find_op(g: &Graph, class: Id, name: &str, mut accept: impl FnMut(&[Id], Option<Id>) -> bool) -> Option<Vec<Id>> {
    g[class].nodes.iter().find_map(|node| {
        let GraphLang::Op(op, children) = node else { return None };
        if op.as_str() != name {
            return None;
        }
        let (slots, attrs) = split_children(g, name, children);
        let attrs_class = attrs.and_then(|_| children.last().copied());
        accept(&slots, attrs_class).then_some(slots)
    })
}

/// Whether a reduction with `axes` and attributes `attrs` reduces the last axis of a
/// rank-`rank` tensor and keeps it.
fn last_axis_kept(g: &Graph, axes: Id, attrs: Option<Id>, rank: usize) -> bool {
    let keeps = attrs
        .and_then(|a| attrs_of(g, a))
        .and_then(|a| a.int("keepdims").ok())
        .is_some_and(|k| k == 1);
    let axes = g[axes].data.value.as_ref().map(|v| v.to_i64_vec());
    keeps && rank > 0 && matches!(axes.as_deref(), Some([a]) if *a == -1 || *a == rank as i64 - 1)
}

/// When `class` holds `x - reduction(x)` over the last axis (kept): `x` and the
/// reduction's class.
fn centred(g: &Graph, class: Id, reduction: &str, rank: usize) -> Option<(Id, Id)> {
    let mut found = None;
    find_op(g, class, "sub", |slots, _| {
        let (x, stat) = (slots[0], slots[1]);
        let ok = find_op(g, stat, reduction, |r, a| {
            g.find(r[0]) == g.find(x) && last_axis_kept(g, r[1], a, rank)
        })
        .is_some();
        if ok {
            found = Some((x, stat));
        }
        ok
    })?;
    found
}

/// `(x - mean(x)) / sqrt(mean((x - mean(x))²) + ε)` over the last axis =
/// `layer_normalization(x, 1, ε)`.
fn layer_norm(g: &mut Graph, _class: Id, s: &Subst) -> Option<Id> {
    let (d, v, eps) = (var(s, "?d"), var(s, "?v"), var(s, "?eps"));
    let epsilon = scalar_value(g, eps)?;
    let xt = ty(g, d)?.clone();
    let rank = xt.rank();
    let (x, mean) = centred(g, d, "reduce_mean", rank)?;
    // v = mean(d²), the square written as pow(d, 2) or d·d.
    let mut square = None;
    find_op(g, v, "reduce_mean", |r, a| {
        let p = r[0];
        let squared = find_op(g, p, "pow", |q, _| g.find(q[0]) == g.find(d) && is_splat(g, q[1], 2.0)).is_some()
            || find_op(g, p, "mul", |q, _| {
                g.find(q[0]) == g.find(d) && g.find(q[1]) == g.find(d)
            })
            .is_some();
        let ok = squared && last_axis_kept(g, r[1], a, rank);
        if ok {
            square = Some(p);
        }
        ok
    })?;
    if !xt.dtype.is_float() || is_constant(g, x) {
        return None;
    }
    let width = xt.shape.last().copied().flatten()? as usize;
    let scale = add_constant(g, Tensor::full(xt.dtype, &[width], 1.0));
    let mut semantic = Attrs::default();
    semantic
        .set("axis", Attr::Int(-1))
        .set("epsilon", Attr::Float(epsilon as f32 as f64))
        .set("stash_type", Attr::Int(1));
    let attrs = add_attrs(
        g,
        AttrsEntry {
            semantic,
            mlir: vec![
                ("axis".into(), "-1 : i64".into()),
                ("epsilon".into(), format!("{:.8e} : f32", epsilon as f32)),
                ("stash_type".into(), "1 : i64".into()),
            ],
        },
    );
    let absent = super::absent(g);
    let new = add_op(
        g,
        "recompose-layer-norm",
        "layer_normalization",
        &[x, scale, absent],
        Some(attrs),
    )?;
    // The report lists the whole decomposition with the new op.
    let mut absorbed = std::collections::BTreeSet::new();
    for c in [d, mean, v, square?] {
        absorbed.extend(g[c].data.originals.iter().copied());
    }
    let new_class = g.find(new);
    g[new_class].data.originals.extend(absorbed);
    Some(new)
}

/// `exp(x - max(x)) / sum(exp(x - max(x)))` over the last axis = `softmax(x)`.
fn softmax(g: &mut Graph, _class: Id, s: &Subst) -> Option<Id> {
    let (e, axes, a) = (var(s, "?e"), var(s, "?axes"), var(s, "?a"));
    let rank = ty(g, e)?.rank();
    if !last_axis_kept(g, axes, Some(a), rank) {
        return None;
    }
    let shifted = find_op(g, e, "exp", |_, _| true)?[0];
    let (x, max) = centred(g, shifted, "reduce_max", rank)?;
    if !ty(g, x)?.dtype.is_float() {
        return None;
    }
    let mut semantic = Attrs::default();
    semantic.set("axis", Attr::Int(-1));
    let attrs = add_attrs(
        g,
        AttrsEntry {
            semantic,
            mlir: vec![("axis".into(), "-1 : i64".into())],
        },
    );
    let new = add_op(g, "recompose-softmax", "softmax", &[x], Some(attrs))?;
    let mut absorbed = std::collections::BTreeSet::new();
    for c in [e, shifted, max] {
        absorbed.extend(g[c].data.originals.iter().copied());
    }
    let new_class = g.find(new);
    g[new_class].data.originals.extend(absorbed);
    Some(new)
}
