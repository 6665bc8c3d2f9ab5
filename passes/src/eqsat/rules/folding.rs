//! Folding rules: a batch normalization, a scalar scale or a scalar shift after a conv
//! moves into the conv's weights and bias; MatMul + Add becomes Gemm with a bias; a
//! scalar scale after Gemm moves into alpha and beta. The new weights are graph ops on
//! constants, so they cost nothing and fold at compile time.

use super::{Rule, absent, add_attrs, add_constant, add_op, attrs_of, code_rule, is_constant, scalar_value, ty, var};
use crate::eqsat::analysis::{AttrsEntry, Graph, is_absent};
use egg::{Id, Subst};
use fuser_dialects::semantics::{Attr, Attrs, DType, Tensor};

pub fn rules() -> Vec<Rule> {
    vec![
        code_rule(
            "fold-conv-batch-norm",
            "(batch_normalization (conv ?x ?w ?b ?a) ?scale ?shift ?mean ?var ?bn)",
            conv_batch_norm,
        ),
        code_rule("fold-matmul-add-into-gemm", "(add (mat_mul ?a ?b) ?c)", matmul_add),
        code_rule("fold-matmul-add-into-gemm-left", "(add ?c (mat_mul ?a ?b))", matmul_add),
        code_rule("fold-scalar-mul-into-conv", "(mul (conv ?x ?w ?b ?a) ?s)", conv_scale),
        code_rule(
            "fold-scalar-mul-into-conv-left",
            "(mul ?s (conv ?x ?w ?b ?a))",
            conv_scale,
        ),
        code_rule("fold-scalar-add-into-conv", "(add (conv ?x ?w ?b ?a) ?s)", conv_shift),
        code_rule(
            "fold-scalar-add-into-conv-left",
            "(add ?s (conv ?x ?w ?b ?a))",
            conv_shift,
        ),
        code_rule("fold-scalar-mul-into-gemm", "(mul (gemm ?x ?w ?b ?a) ?s)", gemm_scale),
        code_rule(
            "fold-scalar-mul-into-gemm-left",
            "(mul ?s (gemm ?x ?w ?b ?a))",
            gemm_scale,
        ),
    ]
}

/// A rank-0 constant holding `value` in `dtype`.
fn scalar(g: &mut Graph, dtype: DType, value: f64) -> Id {
    add_constant(g, Tensor::full(dtype, &[], value))
}

/// `bn(conv(x, w, b), scale, shift, mean, var)` = `conv(x, w·f, (b - mean)·f + shift)`
/// with `f = scale / sqrt(var + epsilon)` per output channel.
fn conv_batch_norm(g: &mut Graph, _class: Id, s: &Subst) -> Option<Id> {
    const RULE: &str = "fold-conv-batch-norm";
    let (x, w, b, a) = (var(s, "?x"), var(s, "?w"), var(s, "?b"), var(s, "?a"));
    let params = [var(s, "?scale"), var(s, "?shift"), var(s, "?mean"), var(s, "?var")];
    let [scale, shift, mean, variance] = params;
    let bias_known = is_absent(g, b) || is_constant(g, b);
    if !is_constant(g, w) || !bias_known || params.iter().any(|&p| !is_constant(g, p)) {
        return None;
    }
    let wt = ty(g, w)?.clone();
    let channels = wt.shape.first().copied().flatten()?;
    // The statistics must be one value per output channel.
    if params
        .iter()
        .any(|&p| ty(g, p).map(|t| t.shape.clone()) != Some(vec![Some(channels)]))
    {
        return None;
    }
    let epsilon = attrs_of(g, var(s, "?bn"))?.float("epsilon").ok()?;
    let eps = scalar(g, wt.dtype, epsilon);
    let shifted = add_op(g, RULE, "add", &[variance, eps], None)?;
    let root = add_op(g, RULE, "sqrt", &[shifted], None)?;
    let factor = add_op(g, RULE, "div", &[scale, root], None)?;
    let mut dims = vec![channels];
    dims.extend(std::iter::repeat_n(1, wt.rank() - 1));
    let shape = add_constant(g, Tensor::i64(&[dims.len()], dims));
    let reshape_attrs = add_attrs(g, reshape_attrs());
    let per_filter = add_op(g, RULE, "reshape", &[factor, shape], Some(reshape_attrs))?;
    let weights = add_op(g, RULE, "mul", &[w, per_filter], None)?;
    let centred = if is_absent(g, b) {
        add_op(g, RULE, "neg", &[mean], None)?
    } else {
        add_op(g, RULE, "sub", &[b, mean], None)?
    };
    let scaled = add_op(g, RULE, "mul", &[centred, factor], None)?;
    let bias = add_op(g, RULE, "add", &[scaled, shift], None)?;
    add_op(g, RULE, "conv", &[x, weights, bias], Some(a))
}

/// Reshape's attributes: `allowzero = 0`.
pub fn reshape_attrs() -> AttrsEntry {
    let mut semantic = Attrs::default();
    semantic.set("allowzero", Attr::Int(0));
    AttrsEntry {
        semantic,
        mlir: vec![("allowzero".into(), "0 : i64".into())],
    }
}

/// Gemm's attributes.
pub fn gemm_attrs(alpha: f64, beta: f64, trans_a: i64, trans_b: i64) -> AttrsEntry {
    let mut semantic = Attrs::default();
    semantic
        .set("alpha", Attr::Float(alpha as f32 as f64))
        .set("beta", Attr::Float(beta as f32 as f64))
        .set("trans_a", Attr::Int(trans_a))
        .set("trans_b", Attr::Int(trans_b));
    AttrsEntry {
        semantic,
        mlir: vec![
            ("alpha".into(), format!("{:.8e} : f32", alpha as f32)),
            ("beta".into(), format!("{:.8e} : f32", beta as f32)),
            ("trans_a".into(), format!("{trans_a} : i64")),
            ("trans_b".into(), format!("{trans_b} : i64")),
        ],
    }
}

/// `matmul(a, b) + c` = `gemm(a, b, c)` for matrices `a` and `b`, when `c` broadcasts
/// to the product's shape (Gemm's bias broadcasts one way only).
fn matmul_add(g: &mut Graph, class: Id, s: &Subst) -> Option<Id> {
    let (a, b, c) = (var(s, "?a"), var(s, "?b"), var(s, "?c"));
    let (at, bt, ct, out) = (ty(g, a)?, ty(g, b)?, ty(g, c)?, ty(g, class)?);
    if at.rank() != 2 || bt.rank() != 2 || ct.rank() > 2 || !at.dtype.is_float() || out.rank() != 2 {
        return None;
    }
    let unidirectional = ct
        .shape
        .iter()
        .rev()
        .zip(out.shape.iter().rev())
        .all(|(&d, &o)| d == Some(1) || (d.is_some() && d == o));
    if !unidirectional {
        return None;
    }
    let attrs = add_attrs(g, gemm_attrs(1.0, 1.0, 0, 0));
    add_op(g, "fold-matmul-add-into-gemm", "gemm", &[a, b, c], Some(attrs))
}

/// `conv(x, w, b) · s` = `conv(x, w·s, b·s)` for a one-element constant `s`.
fn conv_scale(g: &mut Graph, _class: Id, s: &Subst) -> Option<Id> {
    const RULE: &str = "fold-scalar-mul-into-conv";
    let (x, w, b, a, k) = (var(s, "?x"), var(s, "?w"), var(s, "?b"), var(s, "?a"), var(s, "?s"));
    let factor = scalar_value(g, k)?;
    if !is_constant(g, w) || !(is_absent(g, b) || is_constant(g, b)) {
        return None;
    }
    let dtype = ty(g, w)?.dtype;
    let factor = scalar(g, dtype, factor);
    let weights = add_op(g, RULE, "mul", &[w, factor], None)?;
    let bias = if is_absent(g, b) {
        absent(g)
    } else {
        add_op(g, RULE, "mul", &[b, factor], None)?
    };
    add_op(g, RULE, "conv", &[x, weights, bias], Some(a))
}

/// `conv(x, w, b) + s` = `conv(x, w, b + s)` for a one-element constant `s`.
fn conv_shift(g: &mut Graph, _class: Id, s: &Subst) -> Option<Id> {
    const RULE: &str = "fold-scalar-add-into-conv";
    let (x, w, b, a, k) = (var(s, "?x"), var(s, "?w"), var(s, "?b"), var(s, "?a"), var(s, "?s"));
    let shift = scalar_value(g, k)?;
    let wt = ty(g, w)?.clone();
    let channels = wt.shape.first().copied().flatten()? as usize;
    let bias = if is_absent(g, b) {
        add_constant(g, Tensor::full(wt.dtype, &[channels], shift))
    } else if is_constant(g, b) {
        let shift = scalar(g, wt.dtype, shift);
        add_op(g, RULE, "add", &[b, shift], None)?
    } else {
        return None;
    };
    add_op(g, RULE, "conv", &[x, w, bias], Some(a))
}

/// `gemm(a, b, c; alpha, beta) · s` = `gemm(a, b, c·s; alpha·s, beta)` for a one-element
/// constant `s` and a constant (or absent) `c`: beta stays as it was (1 for a bias), which
/// the fused contraction needs.
fn gemm_scale(g: &mut Graph, _class: Id, s: &Subst) -> Option<Id> {
    const RULE: &str = "fold-scalar-mul-into-gemm";
    let (x, w, b, a, k) = (var(s, "?x"), var(s, "?w"), var(s, "?b"), var(s, "?a"), var(s, "?s"));
    let factor = scalar_value(g, k)?;
    let attrs = attrs_of(g, a)?;
    let (alpha, beta) = (attrs.float("alpha").ok()?, attrs.float("beta").ok()?);
    let (ta, tb) = (attrs.int("trans_a").ok()?, attrs.int("trans_b").ok()?);
    let bias = if is_absent(g, b) {
        b
    } else if is_constant(g, b) {
        let dtype = ty(g, b)?.dtype;
        let factor = scalar(g, dtype, factor);
        add_op(g, RULE, "mul", &[b, factor], None)?
    } else {
        return None;
    };
    let new_attrs = add_attrs(g, gemm_attrs(alpha * factor, beta, ta, tb));
    add_op(g, RULE, "gemm", &[x, w, bias], Some(new_attrs))
}
