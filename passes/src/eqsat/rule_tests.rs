//! Soundness of every rule: for each rule, random tensors (never all zero) in a function
//! that matches its pattern; the rule alone is applied, the function is rebuilt from the
//! nodes the rule made (fused kernels outlined and called), and the reference evaluator
//! runs both. A rule without a fixture here fails `every_rule_is_tested`.

use super::{
    analysis::Graph,
    extract::{Selection, reachable},
    language::GraphLang,
    rebuild::rebuild,
    rules::all_rules,
    translate::translate,
};
use crate::graph_form_kernels::outline_group;
use egg::{CostFunction, Extractor, Id, Language, Runner, Symbol};
use fuser_dialects::{
    create_context,
    eval::{Tensor, evaluate, find_function},
    ffi::parse_module,
    verify_fuser_ops,
};
use melior::ir::operation::OperationLike;
use proptest::prelude::*;

/// A small deterministic generator for the fixtures' values.
struct Values(u64);

impl Values {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    /// In [-2, -0.25] ∪ [0.25, 2]: never zero.
    fn signed(&mut self) -> f32 {
        let m = 0.25 + 1.75 * self.next();
        (if self.next() < 0.5 { -m } else { m }) as f32
    }
    fn positive(&mut self) -> f32 {
        (0.25 + 1.75 * self.next()) as f32
    }
    fn tensor(&mut self, shape: &[usize]) -> Tensor {
        let n = shape.iter().product();
        Tensor::f32(shape, (0..n).map(|_| self.signed()).collect())
    }
}

fn ty(shape: &[usize]) -> String {
    let mut dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    dims.push("f32".into());
    format!("tensor<{}>", dims.join("x"))
}

/// The nested literal of `values` in `shape`, as `dense<...>` writes it.
fn nested(shape: &[usize], values: &[f32]) -> String {
    match shape.split_first() {
        None => format!("{:.8e}", values[0]),
        Some((&d, rest)) => {
            let step = rest.iter().product::<usize>();
            let parts: Vec<String> = (0..d)
                .map(|i| nested(rest, &values[i * step..(i + 1) * step]))
                .collect();
            format!("[{}]", parts.join(", "))
        }
    }
}

fn constant(name: &str, shape: &[usize], values: &[f32]) -> String {
    format!(
        "  %{name} = \"graph.constant\"() {{value = dense<{}> : {t}}} : () -> {t}\n",
        nested(shape, values),
        t = ty(shape)
    )
}

fn random_constant(values: &mut Values, name: &str, shape: &[usize], positive: bool) -> String {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n)
        .map(|_| if positive { values.positive() } else { values.signed() })
        .collect();
    constant(name, shape, &data)
}

/// Random conv weights `%w` of shape `ws`, and a bias `%b` when asked.
fn conv_weights(values: &mut Values, ws: &[usize], with_bias: bool) -> String {
    let mut text = random_constant(values, "w", ws, false);
    if with_bias {
        text += &random_constant(values, "b", &[ws[0]], false);
    }
    text
}

fn conv(out: &str, x: &str, w: &str, b: Option<&str>, xs: &[usize], ws: &[usize], os: &[usize]) -> String {
    let (operands, types, segments) = match b {
        Some(b) => (
            format!("%{x}, %{w}, %{b}"),
            format!("{}, {}, {}", ty(xs), ty(ws), ty(&[ws[0]])),
            "1, 1, 1",
        ),
        None => (format!("%{x}, %{w}"), format!("{}, {}", ty(xs), ty(ws)), "1, 1, 0"),
    };
    format!(
        "  %{out} = \"graph.conv\"({operands}) {{dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: {kh}, {kw}>, operandSegmentSizes = array<i32: {segments}>, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 1, 1>}} : ({types}) -> {o}\n",
        kh = ws[2],
        kw = ws[3],
        o = ty(os),
    )
}

fn binary(out: &str, op: &str, a: &str, b: &str, sa: &[usize], sb: &[usize], so: &[usize]) -> String {
    format!(
        "  %{out} = \"graph.{op}\"(%{a}, %{b}) : ({}, {}) -> {}\n",
        ty(sa),
        ty(sb),
        ty(so)
    )
}

fn unary(out: &str, op: &str, a: &str, s: &[usize], attrs: &str) -> String {
    format!("  %{out} = \"graph.{op}\"(%{a}) {attrs} : ({t}) -> {t}\n", t = ty(s))
}

fn transpose(out: &str, a: &str, perm: &[usize], s: &[usize]) -> (String, Vec<usize>) {
    let shape: Vec<usize> = perm.iter().map(|&p| s[p]).collect();
    let perm_text: Vec<String> = perm.iter().map(usize::to_string).collect();
    (
        format!(
            "  %{out} = \"graph.transpose\"(%{a}) {{perm = array<i64: {}>}} : ({}) -> {}\n",
            perm_text.join(", "),
            ty(s),
            ty(&shape)
        ),
        shape,
    )
}

/// A function of `args` (name, shape) computing `body`, returning `%result` of `out`.
fn function(args: &[(&str, Vec<usize>)], body: &str, out: &[usize]) -> String {
    let params: Vec<String> = args.iter().map(|(n, s)| format!("%{n}: {}", ty(s))).collect();
    format!(
        "func.func @f({}) -> {} {{\n{body}  return %result : {}\n}}\n",
        params.join(", "),
        ty(out),
        ty(out)
    )
}

/// Extra attributes some unary ops need.
fn unary_attrs(op: &str) -> &'static str {
    match op {
        "leaky_relu" => "{alpha = 0.100000001 : f32}",
        "elu" => "{alpha = 1.000000e+00 : f32}",
        "selu" => "{alpha = 1.67326319 : f32, gamma = 1.05070102 : f32}",
        "hard_sigmoid" => "{alpha = 0.200000003 : f32, beta = 5.000000e-01 : f32}",
        "gelu" => "{approximate = \"none\"}",
        _ => "",
    }
}

/// A function matching `rule`'s pattern, and its inputs; `None` for an unknown rule.
fn fixture(rule: &str, seed: u64, n: usize) -> Option<(String, Vec<Tensor>)> {
    let mut v = Values(seed | 1);
    let (c, h) = (1 + n % 3, 2 + n % 3);
    let image = vec![1, c, h, h];
    let text = match rule {
        "identity-elim" => function(
            &[("x", image.clone())],
            &(format!(
                "  %i = \"graph.identity\"(%x) : ({t}) -> {t}\n{}",
                unary("result", "relu", "i", &image, ""),
                t = ty(&image)
            )),
            &image,
        ),
        "mul-by-one" | "mul-by-one-left" | "div-by-one" | "add-zero" | "add-zero-left" | "sub-zero" => {
            let (op, value) = match rule {
                "mul-by-one" | "mul-by-one-left" => ("mul", 1.0),
                "div-by-one" => ("div", 1.0),
                "sub-zero" => ("sub", 0.0),
                _ => ("add", 0.0),
            };
            let shape = vec![c, 1, 1];
            let mut body = constant("k", &shape, &vec![value; c]);
            body += &if rule.ends_with("-left") {
                binary("y", op, "k", "x", &shape, &image, &image)
            } else {
                binary("y", op, "x", "k", &image, &shape, &image)
            };
            body += &unary("result", "relu", "y", &image, "");
            let _ = v.next();
            function(&[("x", image.clone())], &body, &image)
        }
        "transpose-transpose" => {
            let s = vec![2, 3, 4];
            let perms = [[0, 2, 1], [1, 2, 0], [2, 0, 1], [1, 0, 2]];
            let (p, q) = (perms[n % 4], perms[(n / 4) % 4]);
            let (t1, s1) = transpose("t", "x", &p, &s);
            let (t2, s2) = transpose("u", "t", &q, &s1);
            let body = format!("{t1}{t2}{}", unary("result", "relu", "u", &s2, ""));
            function(&[("x", s.clone())], &body, &s2)
        }
        "reshape-reshape" => {
            let s = vec![2, 3, 4];
            let text = format!(
                "  %s1 = \"graph.constant\"() {{value = dense<[6, 4]> : tensor<2xi64>}} : () -> tensor<2xi64>\n  %s2 = \"graph.constant\"() {{value = dense<[4, -1]> : tensor<2xi64>}} : () -> tensor<2xi64>\n  %r1 = \"graph.reshape\"(%x, %s1) {{allowzero = 0 : i64}} : ({}, tensor<2xi64>) -> tensor<6x4xf32>\n  %r2 = \"graph.reshape\"(%r1, %s2) {{allowzero = 0 : i64}} : (tensor<6x4xf32>, tensor<2xi64>) -> tensor<4x6xf32>\n{}",
                ty(&s),
                unary("result", "relu", "r2", &[4, 6], "")
            );
            function(&[("x", s)], &text, &[4, 6])
        }
        "reassociate-add-constants" | "reassociate-mul-constants" => {
            let op = if rule.contains("add") { "add" } else { "mul" };
            let mut body = random_constant(&mut v, "c", &[c, 1, 1], false);
            body += &random_constant(&mut v, "d", &[c, 1, 1], false);
            body += &binary("y", op, "x", "c", &image, &[c, 1, 1], &image);
            body += &binary("result", op, "y", "d", &image, &[c, 1, 1], &image);
            function(&[("x", image.clone())], &body, &image)
        }
        "fold-conv-batch-norm" => {
            let k = 2 + n % 2;
            let ws = vec![k, c, 3, 3];
            let os = vec![1, k, h, h];
            let with_bias = n.is_multiple_of(2);
            let mut body = conv_weights(&mut v, &ws, with_bias);
            for (name, positive) in [("g", false), ("beta", false), ("m", false), ("var", true)] {
                body += &random_constant(&mut v, name, &[k], positive);
            }
            body += &conv("y", "x", "w", with_bias.then_some("b"), &image, &ws, &os);
            let p = ty(&[k]);
            body += &format!(
                "  %result = \"graph.batch_normalization\"(%y, %g, %beta, %m, %var) {{epsilon = 9.99999974E-6 : f32, momentum = 0.899999976 : f32}} : ({}, {p}, {p}, {p}, {p}) -> {}\n",
                ty(&os),
                ty(&os)
            );
            function(&[("x", image.clone())], &body, &os)
        }
        "fold-matmul-add-into-gemm" | "fold-matmul-add-into-gemm-left" => {
            let (m, k, cols) = (2 + n % 3, 3, 4);
            let mut body = random_constant(&mut v, "b", &[k, cols], false);
            body += &random_constant(&mut v, "c", &[cols], false);
            body += &binary("p", "mat_mul", "a", "b", &[m, k], &[k, cols], &[m, cols]);
            body += &if rule.ends_with("-left") {
                binary("result", "add", "c", "p", &[cols], &[m, cols], &[m, cols])
            } else {
                binary("result", "add", "p", "c", &[m, cols], &[cols], &[m, cols])
            };
            function(&[("a", vec![m, k])], &body, &[m, cols])
        }
        "fold-scalar-mul-into-conv"
        | "fold-scalar-mul-into-conv-left"
        | "fold-scalar-add-into-conv"
        | "fold-scalar-add-into-conv-left" => {
            let k = 2;
            let ws = vec![k, c, 3, 3];
            let os = vec![1, k, h, h];
            let with_bias = n.is_multiple_of(2);
            let mut body = conv_weights(&mut v, &ws, with_bias);
            body += &random_constant(&mut v, "s", &[], false);
            body += &conv("y", "x", "w", with_bias.then_some("b"), &image, &ws, &os);
            let op = if rule.contains("mul") { "mul" } else { "add" };
            body += &if rule.ends_with("-left") {
                binary("result", op, "s", "y", &[], &os, &os)
            } else {
                binary("result", op, "y", "s", &os, &[], &os)
            };
            function(&[("x", image.clone())], &body, &os)
        }
        "fold-scalar-mul-into-gemm" | "fold-scalar-mul-into-gemm-left" => {
            let (m, k, cols) = (2 + n % 3, 3, 4);
            let mut body = random_constant(&mut v, "b", &[k, cols], false);
            body += &random_constant(&mut v, "c", &[cols], false);
            body += &random_constant(&mut v, "s", &[], false);
            body += &format!(
                "  %g = \"graph.gemm\"(%a, %b, %c) {{alpha = 1.500000e+00 : f32, beta = 5.000000e-01 : f32, operandSegmentSizes = array<i32: 1, 1, 1>, trans_a = 0 : i64, trans_b = 0 : i64}} : ({}, {}, {}) -> {}\n",
                ty(&[m, k]),
                ty(&[k, cols]),
                ty(&[cols]),
                ty(&[m, cols])
            );
            body += &if rule.ends_with("-left") {
                binary("result", "mul", "s", "g", &[], &[m, cols], &[m, cols])
            } else {
                binary("result", "mul", "g", "s", &[m, cols], &[], &[m, cols])
            };
            function(&[("a", vec![m, k])], &body, &[m, cols])
        }
        sink if sink.starts_with("sink-transpose-through-") => {
            let op = sink.trim_start_matches("sink-transpose-through-");
            let s = vec![2, 3, 4];
            let (t1, s1) = transpose("t", "x", &[2, 0, 1], &s);
            let body = if ["add", "sub", "mul", "div"].contains(&op) {
                let (t2, _) = transpose("u", "y", &[2, 0, 1], &s);
                format!("{t1}{t2}{}", binary("result", op, "t", "u", &s1, &s1, &s1))
            } else {
                format!("{t1}{}", unary("result", op, "t", &s1, unary_attrs(op)))
            };
            let args = vec![("x", s.clone()), ("y", s.clone())];
            function(&args, &body, &s1)
        }
        "fuse-epilogue-activation" | "fuse-epilogue-bias" | "fuse-epilogue-residual" => {
            let k = 2;
            let ws = vec![k, c, 3, 3];
            let os = vec![1, k, h, h];
            let mut body = random_constant(&mut v, "w", &ws, false);
            body += &random_constant(&mut v, "bias", &[k, 1, 1], false);
            body += &conv("y", "x", "w", None, &image, &ws, &os);
            body += &binary("b", "add", "y", "bias", &os, &[k, 1, 1], &os);
            body += &unary("r", if n.is_multiple_of(2) { "relu" } else { "sigmoid" }, "b", &os, "");
            body += &binary("result", "add", "r", "z", &os, &os, &os);
            function(&[("x", image.clone()), ("z", os.clone())], &body, &os)
        }
        "recompose-layer-norm" | "recompose-softmax" => {
            let s = vec![2 + n % 3, 4 + n % 4];
            let row = vec![s[0], 1];
            let reduce = |out: &str, op: &str, a: &str, from: &[usize]| {
                format!(
                    "  %{out} = \"graph.{op}\"(%{a}, %axes) {{keepdims = 1 : i64, noop_with_empty_axes = 0 : i64}} : ({}, tensor<1xi64>) -> {}\n",
                    ty(from),
                    ty(&row)
                )
            };
            let mut body = "  %axes = \"graph.constant\"() {value = dense<-1> : tensor<1xi64>} : () -> tensor<1xi64>\n"
                .to_string();
            if rule == "recompose-layer-norm" {
                body += &constant("two", &[], &[2.0]);
                body += &constant("eps", &[], &[1e-5]);
                body += &reduce("mean", "reduce_mean", "x", &s);
                body += &binary("d", "sub", "x", "mean", &s, &row, &s);
                body += &if n.is_multiple_of(2) {
                    binary("sq", "pow", "d", "two", &s, &[], &s)
                } else {
                    binary("sq", "mul", "d", "d", &s, &s, &s)
                };
                body += &reduce("var", "reduce_mean", "sq", &s);
                body += &binary("ve", "add", "var", "eps", &row, &[], &row);
                body += &unary("sd", "sqrt", "ve", &row, "");
                body += &binary("result", "div", "d", "sd", &s, &row, &s);
            } else {
                body += &reduce("mx", "reduce_max", "x", &s);
                body += &binary("sh", "sub", "x", "mx", &s, &row, &s);
                body += &unary("e", "exp", "sh", &s, "");
                body += &reduce("sum", "reduce_sum", "e", &s);
                body += &binary("result", "div", "e", "sum", &s, &row, &s);
            }
            function(&[("x", s.clone())], &body, &s)
        }
        _ => return None,
    };
    // Inputs: one random tensor per argument, in order.
    let shapes = argument_shapes(&text);
    let inputs = shapes
        .iter()
        .map(|s| {
            if rule.contains("sqrt") {
                let n = s.iter().product();
                Tensor::f32(s, (0..n).map(|_| v.positive()).collect())
            } else {
                v.tensor(s)
            }
        })
        .collect();
    Some((text, inputs))
}

/// The shapes of `@f`'s arguments, read back from the text.
fn argument_shapes(text: &str) -> Vec<Vec<usize>> {
    let header = text.lines().next().unwrap_or_default();
    let args = header
        .split('(')
        .nth(1)
        .and_then(|s| s.split(')').next())
        .unwrap_or_default();
    args.split("tensor<")
        .skip(1)
        .map(|t| {
            let dims = t.split('>').next().unwrap_or_default();
            let parts: Vec<&str> = dims.split('x').collect();
            parts[..parts.len() - 1].iter().map(|d| d.parse().unwrap()).collect()
        })
        .collect()
}

/// Prefers what `rule` made: its nodes and fused nodes cost 1, imported ops 10.
struct PreferRule<'g> {
    g: &'g Graph,
    rule: &'static str,
}

impl CostFunction<GraphLang> for PreferRule<'_> {
    type Cost = f64;
    fn cost<C: FnMut(Id) -> f64>(&mut self, enode: &GraphLang, mut costs: C) -> f64 {
        let own = match enode {
            GraphLang::Op(..) => {
                let canonical = enode.clone().map_children(|c| self.g.find(c));
                if self.g.analysis.created_by.get(&canonical) == Some(&self.rule) {
                    1.0
                } else {
                    10.0
                }
            }
            GraphLang::Fused(..) => 1.0,
            _ => 0.0,
        };
        enode.children().iter().fold(own, |sum, &c| sum + costs(c))
    }
}

/// Applies `rule` alone to `text`'s `@f`, rebuilds from its nodes, and compares.
fn check_rule(rule: &'static str, text: &str, inputs: &[Tensor]) -> Result<(), String> {
    let context = create_context().unwrap();
    context.enable_multi_threading(false);
    let module = parse_module(&context, text, "rule.mlir").ok_or_else(|| format!("fixture parses:\n{text}"))?;
    assert!(verify_fuser_ops(module.as_operation()), "fixture verifies:\n{text}");
    let before = evaluate(module.as_operation(), "f", inputs).map_err(|e| format!("before: {e}"))?;
    let function = find_function(module.as_operation(), "f").unwrap();
    let mut t = translate(function).unwrap();
    let rules: Vec<_> = all_rules().into_iter().filter(|r| r.name.as_str() == rule).collect();
    let runner = Runner::default().with_egraph(t.egraph).with_iter_limit(4).run(&rules);
    let applied: usize = runner
        .iterations
        .iter()
        .map(|it| it.applied.get(&Symbol::from(rule)).copied().unwrap_or(0))
        .sum();
    if applied == 0 {
        return Err(format!("{rule} did not apply to:\n{text}"));
    }
    t.egraph = runner.egraph;
    let created: std::collections::HashMap<GraphLang, &'static str> = t
        .egraph
        .analysis
        .created_by
        .iter()
        .map(|(n, r)| (n.clone().map_children(|c| t.egraph.find(c)), *r))
        .collect();
    t.egraph.analysis.created_by = created;
    let extractor = Extractor::new(&t.egraph, PreferRule { g: &t.egraph, rule });
    let selection: Selection = t
        .egraph
        .classes()
        .map(|c| (c.id, extractor.find_best_node(c.id).clone()))
        .collect();
    let roots: Vec<Id> = function
        .region(0)
        .ok()
        .and_then(|r| melior::ir::RegionLike::first_block(&r))
        .and_then(|b| melior::ir::BlockLike::terminator(&b))
        .map(|ret| {
            ret.operands()
                .filter_map(|v| {
                    t.class_of
                        .get(&super::translate::value_key(v))
                        .map(|&c| t.egraph.find(c))
                })
                .collect()
        })
        .unwrap_or_default();
    reachable(&t.egraph, &selection, &roots).ok_or("the selection is not a program")?;
    let groups = rebuild(function, &t, &selection)?;
    for (i, group) in groups.iter().enumerate() {
        outline_group(function, &format!("f_k{i}"), &group.ops);
    }
    let after_text = module.as_operation().to_string();
    if !module.as_operation().verify() || !verify_fuser_ops(module.as_operation()) {
        return Err(format!("the rebuilt module does not verify:\n{after_text}"));
    }
    let after = evaluate(module.as_operation(), "f", inputs).map_err(|e| format!("after: {e}\n{after_text}"))?;
    for (a, b) in after.iter().zip(&before) {
        if a.shape() != b.shape() {
            return Err(format!("shape {:?}, expected {:?}", a.shape(), b.shape()));
        }
        for (x, y) in a.to_f64_vec().iter().zip(b.to_f64_vec()) {
            if (x - y).abs() > 1e-5 + 1e-5 * y.abs() {
                return Err(format!(
                    "{rule}: {x} where the original gives {y}\n{text}\n{after_text}"
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn every_rule_is_tested() {
    for rule in all_rules() {
        assert!(
            fixture(rule.name.as_str(), 1, 0).is_some(),
            "rule {} has no soundness fixture",
            rule.name
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn rule_soundness(seed in any::<u64>(), n in 0usize..16) {
        for rule in all_rules() {
            let name: &'static str = Box::leak(rule.name.as_str().to_string().into_boxed_str());
            let (text, inputs) = fixture(name, seed, n).expect("every rule has a fixture");
            if let Err(message) = check_rule(name, &text, &inputs) {
                prop_assert!(false, "{}", message);
            }
        }
    }
}
