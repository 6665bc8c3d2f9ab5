//! The runtime's fused contraction kernels (`fuser_runtime::fused`), reached through the
//! whole CPU pipeline: random convs (padding, strides, dilations, depthwise), max
//! poolings (ceil mode too), matmuls and gemms (transposes, alpha, every bias shape), each
//! followed by a random epilogue chain, run on random inputs and compared with the
//! reference evaluator. Each case also checks that the kernel did take the fused call.

use crate::cpu_target::compile_cpu;
use fuser_dialects::{
    create_context,
    eval::{Tensor, evaluate},
    ffi::parse_module,
};
use proptest::prelude::*;

/// Random values in [-2, 2) from a seed (xorshift), never all zero.
pub(crate) fn values(seed: &mut u64, count: usize) -> Vec<f32> {
    (0..count)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0 + 1e-3
        })
        .collect()
}

/// The first element of `actual` further than `1e-4 · scale` from `expected`, `scale` the
/// largest magnitude in `expected` but at least `floor`: its index and both values.
pub(crate) fn beyond_range_tolerance(actual: &Tensor, expected: &Tensor, floor: f64) -> Option<(usize, f64, f64)> {
    let (a, e) = (actual.to_f64_vec(), expected.to_f64_vec());
    let scale = e.iter().fold(floor, |m, v| m.max(v.abs()));
    a.iter()
        .zip(&e)
        .enumerate()
        .find(|(_, (x, y))| (*x - *y).is_nan() || (*x - *y).abs() > 1e-4 * scale)
        .map(|(j, (x, y))| (j, *x, *y))
}

fn dims(shape: &[i64]) -> String {
    shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x")
}

fn ty(shape: &[i64]) -> String {
    format!("tensor<{}xf32>", dims(shape))
}

/// A function under construction: its arguments (with their inputs) and body.
struct Case {
    args: Vec<(String, Vec<i64>, Vec<f32>)>,
    lines: Vec<String>,
    next: usize,
    seed: u64,
}

impl Case {
    fn fresh(&mut self) -> String {
        self.next += 1;
        format!("%v{}", self.next)
    }
    fn argument(&mut self, shape: &[i64]) -> String {
        let name = format!("%in{}", self.args.len());
        let count = shape.iter().product::<i64>() as usize;
        let data = values(&mut self.seed, count);
        self.args.push((name.clone(), shape.to_vec(), data));
        name
    }
    fn constant(&mut self, shape: &[i64]) -> String {
        let count = shape.iter().product::<i64>() as usize;
        let list: Vec<String> = values(&mut self.seed, count)
            .iter()
            .map(|v| format!("{v:.7e}"))
            .collect();
        let name = self.fresh();
        let literal = if shape.is_empty() {
            list[0].clone()
        } else {
            format!("[{}]", list.join(", "))
        };
        // A flat literal fits any shape once reshaped: write rank-1 and reshape.
        if shape.len() <= 1 {
            self.lines.push(format!(
                "{name} = \"graph.constant\"() {{value = dense<{literal}> : {t}}} : () -> {t}",
                t = ty(shape)
            ));
            return name;
        }
        let flat = self.fresh();
        self.lines.push(format!(
            "{flat} = \"graph.constant\"() {{value = dense<{literal}> : tensor<{count}xf32>}} : () -> tensor<{count}xf32>"
        ));
        let target = self.fresh();
        let shape_list: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        self.lines.push(format!(
            "{target} = \"graph.constant\"() {{value = dense<[{}]> : tensor<{}xi64>}} : () -> tensor<{}xi64>",
            shape_list.join(", "),
            shape.len(),
            shape.len()
        ));
        self.lines.push(format!(
            "{name} = \"graph.reshape\"({flat}, {target}) {{allowzero = 0 : i64}} : (tensor<{count}xf32>, tensor<{}xi64>) -> {}",
            shape.len(),
            ty(shape)
        ));
        name
    }
    fn scalar(&mut self, value: f32) -> String {
        let name = self.fresh();
        self.lines.push(format!(
            "{name} = \"graph.constant\"() {{value = dense<{value:.7e}> : tensor<f32>}} : () -> tensor<f32>"
        ));
        name
    }
    /// The function `@f` returning `value` (of shape `out`), and its random inputs.
    fn function(&self, value: &str, out: &[i64]) -> (String, Vec<Tensor>) {
        let params: Vec<String> = self.args.iter().map(|(n, s, _)| format!("{n}: {}", ty(s))).collect();
        let mut text = format!("func.func @f({}) -> {} {{\n", params.join(", "), ty(out));
        for line in &self.lines {
            text.push_str(&format!("  {line}\n"));
        }
        text.push_str(&format!("  return {value} : {}\n}}\n", ty(out)));
        let inputs = self
            .args
            .iter()
            .map(|(_, s, data)| Tensor::f32(&s.iter().map(|&d| d as usize).collect::<Vec<_>>(), data.clone()))
            .collect();
        (text, inputs)
    }
    fn op(&mut self, text: String) -> String {
        let name = self.fresh();
        self.lines.push(format!("{name} = {text}"));
        name
    }
}

/// The contraction: (kind, sizes, flags) → its result and output shape, plus whether
/// rows are channels (a conv) for the epilogue operand shapes.
fn contraction(case: &mut Case, kind: u8, s: &[i64; 8], flags: u8) -> (String, Vec<i64>, bool) {
    match kind % 5 {
        4 => {
            // A max pooling (the runtime's windowed loop): pads below the window, ceil
            // mode from a flag.
            let c = 1 + s[0] % 8;
            let (kh, kw) = (1 + s[2] % 3, 1 + s[3] % 3);
            let (sh, sw) = (1 + (flags as i64 & 1), 1 + ((flags as i64 >> 1) & 1));
            let (dh, dw) = (1 + ((flags as i64 >> 2) & 1), 1 + ((flags as i64 >> 3) & 1));
            let pads = [s[4] % kh, s[5] % kw, s[6] % kh, s[7] % kw];
            let ceil = flags & 16 != 0;
            let h = (dh * (kh - 1) + 1).max(2 + s[6] % 7);
            let w = (dw * (kw - 1) + 1).max(2 + s[7] % 6 + if flags & 32 != 0 { 17 + s[5] % 40 } else { 0 });
            let (oh, ow) = (
                fuser_dialects::semantics::window_out(h, kh, sh, dh, pads[0], pads[2], ceil),
                fuser_dialects::semantics::window_out(w, kw, sw, dw, pads[1], pads[3], ceil),
            );
            let x = case.argument(&[1, c, h, w]);
            let out = vec![1, c, oh, ow];
            let result = case.op(format!(
                "\"graph.max_pool\"({x}) {{ceil_mode = {} : i64, dilations = array<i64: {dh}, {dw}>, kernel_shape = array<i64: {kh}, {kw}>, pads = array<i64: {}, {}, {}, {}>, storage_order = 0 : i64, strides = array<i64: {sh}, {sw}>}} : ({}) -> {}",
                i64::from(ceil),
                pads[0],
                pads[1],
                pads[2],
                pads[3],
                ty(&[1, c, h, w]),
                ty(&out)
            ));
            (result, out, true)
        }
        0 | 1 => {
            let depthwise = kind % 4 == 1;
            let c = 1 + s[0] % 4;
            // Up to 12 output channels: the register-tiled kernel takes 6 or more.
            let f = if depthwise { c } else { 1 + s[1] % 12 };
            let (kh, kw) = (1 + s[2] % 3, 1 + s[3] % 3);
            // Stride 3 reaches the generic strided reads, wide inputs several vector
            // chunks of an output row and a partial last one.
            let sw = if flags & 64 != 0 {
                3
            } else {
                1 + ((flags as i64 >> 1) & 1)
            };
            let sh = 1 + (flags as i64 & 1);
            let (dh, dw) = (1 + ((flags as i64 >> 2) & 1), 1 + ((flags as i64 >> 3) & 1));
            let pads = [s[4] % 3, s[5] % 3, s[6] % 2, s[7] % 2];
            // Inputs large enough for one output position at least.
            let h = (dh * (kh - 1) + 1).max(2 + s[6] % 5);
            let wide = if flags & 32 != 0 { 17 + s[5] % 40 } else { 0 };
            let w = (dw * (kw - 1) + 1).max(2 + s[7] % 6 + wide);
            let oh = (h + pads[0] + pads[2] - dh * (kh - 1) - 1) / sh + 1;
            let ow = (w + pads[1] + pads[3] - dw * (kw - 1) - 1) / sw + 1;
            let x = case.argument(&[1, c, h, w]);
            let weights = case.constant(&[f, if depthwise { 1 } else { c }, kh, kw]);
            let out = vec![1, f, oh, ow];
            let bias = flags & 16 != 0;
            let mut operands = format!("{x}, {weights}");
            let mut types = format!(
                "{}, {}",
                ty(&[1, c, h, w]),
                ty(&[f, if depthwise { 1 } else { c }, kh, kw])
            );
            if bias {
                let b = case.constant(&[f]);
                operands.push_str(&format!(", {b}"));
                types.push_str(&format!(", {}", ty(&[f])));
            }
            let result = case.op(format!(
                "\"graph.conv\"({operands}) {{dilations = array<i64: {dh}, {dw}>, group = {} : i64, kernel_shape = array<i64: {kh}, {kw}>, pads = array<i64: {}, {}, {}, {}>, strides = array<i64: {sh}, {sw}>}} : ({types}) -> {}",
                if depthwise { c } else { 1 },
                pads[0],
                pads[1],
                pads[2],
                pads[3],
                ty(&out)
            ));
            (result, out, true)
        }
        2 => {
            let (m, k, n) = (1 + s[0] % 5, 1 + s[1] % 6, 1 + s[2] % 5);
            let a_shape = if flags & 1 != 0 { vec![2, m, k] } else { vec![m, k] };
            let a = case.argument(&a_shape);
            let b = case.constant(&[k, n]);
            let mut out = a_shape.clone();
            *out.last_mut().unwrap() = n;
            let result = case.op(format!(
                "\"graph.mat_mul\"({a}, {b}) : ({}, {}) -> {}",
                ty(&a_shape),
                ty(&[k, n]),
                ty(&out)
            ));
            (result, out, false)
        }
        _ => {
            let (m, k, n) = (1 + s[0] % 5, 1 + s[1] % 6, 1 + s[2] % 5);
            let (trans_a, trans_b) = (flags & 1 != 0, flags & 2 != 0);
            let a_shape = if trans_a { vec![k, m] } else { vec![m, k] };
            let b_shape = if trans_b { vec![n, k] } else { vec![k, n] };
            let a = case.argument(&a_shape);
            let b = case.constant(&b_shape);
            let alpha = if flags & 4 != 0 { 0.5 } else { 1.0 };
            let c_shape: Option<Vec<i64>> = match (flags >> 3) % 4 {
                0 => None,
                1 => Some(vec![n]),
                2 => Some(vec![m, n]),
                _ => Some(vec![m, 1]),
            };
            let mut operands = format!("{a}, {b}");
            let mut types = format!("{}, {}", ty(&a_shape), ty(&b_shape));
            if let Some(shape) = &c_shape {
                let c = case.constant(shape);
                operands.push_str(&format!(", {c}"));
                types.push_str(&format!(", {}", ty(shape)));
            }
            let out = vec![m, n];
            let result = case.op(format!(
                "\"graph.gemm\"({operands}) {{alpha = {alpha:.7e} : f32, beta = 1.0 : f32, trans_a = {} : i64, trans_b = {} : i64}} : ({types}) -> {}",
                i64::from(trans_a),
                i64::from(trans_b),
                ty(&out)
            ));
            (result, out, false)
        }
    }
}

/// A random contraction of `kind` followed by the epilogue `steps`: the case (for its
/// arguments), the function `@f` and its random inputs.
fn random_case(kind: u8, sizes: &[i64; 8], flags: u8, steps: &[u8], seed: u64) -> (Case, String, Vec<Tensor>) {
    let mut case = Case {
        args: Vec::new(),
        lines: Vec::new(),
        next: 0,
        seed,
    };
    let (mut value, out, channels) = contraction(&mut case, kind, sizes, flags);
    for &step in steps {
        value = epilogue(&mut case, &value, &out, channels, step);
    }
    let (text, inputs) = case.function(&value, &out);
    (case, text, inputs)
}

/// Appends one epilogue op of kind `step` to `value`.
fn epilogue(case: &mut Case, value: &str, out: &[i64], channels: bool, step: u8) -> String {
    let t = ty(out);
    let unary =
        |case: &mut Case, op: &str, attrs: &str| case.op(format!("\"graph.{op}\"({value}){attrs} : ({t}) -> {t}"));
    let binary = |case: &mut Case, op: &str, other: &str, other_ty: &str, swap: bool| {
        let (l, r, lt, rt) = if swap {
            (other, value, other_ty, t.as_str())
        } else {
            (value, other, t.as_str(), other_ty)
        };
        case.op(format!("\"graph.{op}\"({l}, {r}) : ({lt}, {rt}) -> {t}"))
    };
    match step % 16 {
        0 => unary(case, "relu", ""),
        1 => {
            let (lo, hi) = (case.scalar(-0.5), case.scalar(1.0));
            case.op(format!(
                "\"graph.clip\"({value}, {lo}, {hi}) {{operandSegmentSizes = array<i32: 1, 1, 1>}} : ({t}, tensor<f32>, tensor<f32>) -> {t}"
            ))
        }
        2 => unary(case, "sigmoid", ""),
        3 => unary(case, "tanh", ""),
        4 => unary(case, "gelu", " {approximate = \"none\"}"),
        5 => unary(case, "gelu", " {approximate = \"tanh\"}"),
        6 => unary(case, "leaky_relu", " {alpha = 1.0e-01 : f32}"),
        7 => unary(case, "hard_sigmoid", " {alpha = 2.0e-01 : f32, beta = 5.0e-01 : f32}"),
        8 => unary(case, "hard_swish", ""),
        9 | 10 => {
            let residual = case.argument(out);
            binary(
                case,
                if step % 16 == 9 { "add" } else { "mul" },
                &residual,
                &t,
                step & 16 != 0,
            )
        }
        11 | 12 => {
            let c = case.scalar(0.75);
            binary(
                case,
                if step % 16 == 11 { "add" } else { "mul" },
                &c,
                "tensor<f32>",
                step & 16 != 0,
            )
        }
        13 => {
            let c = case.scalar(0.25);
            binary(case, "sub", &c, "tensor<f32>", false)
        }
        14 => {
            let c = case.scalar(1.5);
            binary(case, "div", &c, "tensor<f32>", false)
        }
        _ => {
            // A per-channel (conv) or per-column (matmul) operand.
            let shape = if channels {
                vec![out[1], 1, 1]
            } else {
                vec![out[out.len() - 1]]
            };
            let v = case.constant(&shape);
            binary(case, "add", &v, &ty(&shape), step & 16 != 0)
        }
    }
}

/// How many tensors the epilogue of the random case `text` reads besides the chain: the
/// contraction's bias (or Gemm's C) and each non-scalar operand of an add or mul that the
/// chain does not produce. More than the runtime's `MAX_EPILOGUE_OPERANDS` keeps the
/// kernel off the fused call (it then lowers op by op, still checked for its values).
fn epilogue_operands(text: &str) -> usize {
    let mut chain = std::collections::HashSet::new();
    let mut read = std::collections::HashSet::new();
    let mut count = 0;
    for line in text.lines().map(str::trim) {
        let Some((result, rest)) = line.split_once(" = \"graph.") else {
            continue;
        };
        let (op, rest) = rest.split_once('"').unwrap_or_default();
        let operands: Vec<&str> = rest
            .trim_start_matches('(')
            .split(')')
            .next()
            .unwrap_or_default()
            .split(", ")
            .filter(|o| !o.is_empty())
            .collect();
        let types: Vec<&str> = rest
            .rsplit_once(": (")
            .map(|(_, t)| t.split(") ->").next().unwrap_or_default())
            .unwrap_or_default()
            .split(", ")
            .collect();
        match op {
            "gemm" | "conv" | "mat_mul" => {
                chain.insert(result.to_string());
                count += usize::from(operands.len() > 2);
            }
            "add" | "mul" | "sub" | "div" if operands.iter().any(|o| chain.contains(*o)) => {
                for (o, ty) in operands.iter().zip(&types) {
                    let scalar = ty
                        .trim_start_matches("tensor<")
                        .split('x')
                        .all(|d| d == "1" || d.starts_with('f'));
                    if !chain.contains(*o) && !scalar {
                        read.insert(o.to_string());
                    }
                }
                chain.insert(result.to_string());
            }
            _ if operands.iter().any(|o| chain.contains(*o)) => {
                chain.insert(result.to_string());
            }
            _ => {}
        }
    }
    count + read.len()
}

/// Compiles `text` (function `f`) with `compile`, runs it on `inputs` and checks the
/// result against the reference evaluator's (1e-5 + 1e-4 relative); returns whether the
/// compiled module calls the CPU runtime's fused kernel.
fn compiled_matches_evaluator(
    text: &str,
    inputs: &[Tensor],
    compile: impl FnOnce(
        &melior::Context,
        &mut melior::ir::Module,
    ) -> Result<fuser_lowering::JitModel, crate::cpu_target::CpuError>,
) -> Result<bool, TestCaseError> {
    let context = create_context().unwrap();
    context.enable_multi_threading(false);
    let mut module = parse_module(&context, text, "fused.mlir").unwrap_or_else(|| panic!("parses:\n{text}"));
    let expected = evaluate(module.as_operation(), "f", inputs).expect("evaluates");
    let compiled = compile(&context, &mut module).unwrap_or_else(|e| panic!("{}\non:\n{text}", e.message));
    let calls_runtime = module.as_operation().to_string().contains(fuser_runtime::FUSED_F32);
    let actual = compiled.run(inputs).expect("runs");
    let (a, e) = (actual[0].to_f64_vec(), expected[0].to_f64_vec());
    for (j, (x, y)) in a.iter().zip(&e).enumerate() {
        prop_assert!(
            (x - y).abs() <= 1e-5 + 1e-4 * y.abs(),
            "element {}: {} expected {}\non:\n{}",
            j,
            x,
            y,
            text
        );
    }
    Ok(calls_runtime)
}

#[test]
fn counts_the_epilogue_operands_of_a_case() {
    let text = r#"func.func @f(%in0: tensor<1x1xf32>, %in1: tensor<1x2xf32>, %in2: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %v4 = "graph.constant"() {value = dense<[1.8, 0.1]> : tensor<2xf32>} : () -> tensor<2xf32>
  %v5 = "graph.gemm"(%in0, %v1, %v4) {alpha = 1.0 : f32} : (tensor<1x1xf32>, tensor<1x2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
  %v7 = "graph.add"(%v5, %v6) : (tensor<1x2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
  %v8 = "graph.add"(%in1, %v7) : (tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2xf32>
  %v9 = "graph.add"(%v8, %in2) : (tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2xf32>
  %v10 = "graph.mul"(%v9, %s) : (tensor<1x2xf32>, tensor<1xf32>) -> tensor<1x2xf32>
  return %v10 : tensor<1x2xf32>
}"#;
    // C, %v6, %in1, %in2 (the scalar %s does not count).
    assert_eq!(epilogue_operands(text), 4);
}

proptest! {
    // Each case compiles to machine code.
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn fused_kernels_match_the_evaluator(
        kind in 0u8..5,
        sizes in prop::array::uniform8(0i64..64),
        flags in any::<u8>(),
        // Random chains, and the chains the runtime applies in one pass (after a conv's
        // bias: ReLU, Clip, a residual add then ReLU) more often than chance gives them.
        steps in prop_oneof![
            2 => prop::collection::vec(any::<u8>(), 0..4),
            1 => Just(vec![0u8]),
            1 => Just(vec![1u8]),
            1 => Just(vec![9u8, 0]),
        ],
        seed in 1u64..u64::MAX,
    ) {
        let (_, text, inputs) = random_case(kind, &sizes, flags, &steps, seed);
        let calls_runtime = compiled_matches_evaluator(&text, &inputs, |context, module| {
            compile_cpu(context, module, "f", &Default::default(), None)
        })?;
        prop_assert!(
            calls_runtime || epilogue_operands(&text) > fuser_runtime::fused::MAX_EPILOGUE_OPERANDS,
            "the contraction did not take the fused call:\n{}", text
        );
    }
}

proptest! {
    // Each case compiles to machine code.
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// The GPU lowering of the same contractions and epilogues (pure linalg, no runtime
    /// call; the loop nests tiled and guarded for blocks and threads), run on the CPU.
    #[test]
    fn gpu_loops_match_the_evaluator(
        kind in 0u8..4,
        sizes in prop::array::uniform8(0i64..64),
        flags in any::<u8>(),
        steps in prop::collection::vec(any::<u8>(), 0..4),
        seed in 1u64..u64::MAX,
    ) {
        let (_, text, inputs) = random_case(kind, &sizes, flags, &steps, seed);
        let calls_runtime = compiled_matches_evaluator(&text, &inputs, |context, module| {
            crate::gpu_target::compile_gpu_loops_for_cpu(context, module, "f", &Default::default())
        })?;
        prop_assert!(!calls_runtime, "the GPU lowering called the CPU runtime:\n{}", text);
    }
}

/// `graph-quantize`'s defaults (minmax, per-channel weights, asymmetric activations) on
/// the samples in `dir`, with i8 or u8 activations.
fn int8_options(dir: &std::path::Path, signed: bool) -> crate::graph_quantize::Options {
    use crate::calibration::{IntType, Method};
    crate::graph_quantize::Options {
        calibration: dir.to_path_buf(),
        method: Method::MinMax,
        per_channel: true,
        activation_type: if signed { IntType::I8 } else { IntType::U8 },
        symmetric_activations: false,
    }
}

/// Writes calibration samples under a fresh directory: `inputs` themselves as the first
/// sample, then `extra` random ones; one `.npy` per sample for one input, else one
/// directory per sample with `arg<i>.npy`. With the evaluated inputs among the samples,
/// no input saturates, so what the test measures is the quantization step alone.
fn calibration_dir(inputs: &[Tensor], extra: usize, seed: u64) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fuser-calibration-{}-{seed}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let mut state = seed | 1;
    for sample in 0..=extra {
        for (i, input) in inputs.iter().enumerate() {
            let tensor = if sample == 0 {
                input.clone()
            } else {
                let dims = input.shape().to_vec();
                Tensor::f32(&dims, values(&mut state, dims.iter().product()))
            };
            let path = if inputs.len() == 1 {
                dir.join(format!("{sample:03}.npy"))
            } else {
                let sample_dir = dir.join(format!("{sample:03}"));
                std::fs::create_dir_all(&sample_dir).expect("a sample directory");
                sample_dir.join(format!("arg{i}.npy"))
            };
            fuser_frontends::npy::write(&path, &tensor).expect("writes");
        }
    }
    dir
}

proptest! {
    // Each case compiles to machine code.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// INT8: a conv (one group), matmul or gemm with a random epilogue, quantized by
    /// `graph-quantize` on calibration samples (the evaluated inputs and random ones),
    /// runs through the whole CPU pipeline as the runtime's INT8 kernel and matches the
    /// reference evaluator of the quantized module, on those inputs and on inputs half
    /// again outside the calibrated range (saturating codes); the quantized module stays
    /// close to the float one.
    #[test]
    fn int8_kernels_match_the_evaluator(
        kind in prop_oneof![Just(0u8), Just(2u8), Just(3u8)],
        sizes in prop::array::uniform8(0i64..64),
        // No alpha (gemm) for quantizable contractions.
        flags in any::<u8>().prop_map(|f| f & !4),
        steps in prop::collection::vec(any::<u8>(), 0..3),
        signed in any::<bool>(),
        seed in 1u64..u64::MAX,
    ) {
        use crate::{graph_quantize::quantize_module, phases::{Fusion, Phase, run_phases}};
        // No transposed left operand (gemm's flag bit 0): not quantizable.
        let flags = if kind == 3 { flags & !1 } else { flags };
        let (_, text, inputs) = random_case(kind, &sizes, flags, &steps, seed);
        let context = create_context().unwrap();
        context.enable_multi_threading(false);
        let mut module = parse_module(&context, &text, "int8.mlir").unwrap_or_else(|| panic!("parses:\n{text}"));
        let float = evaluate(module.as_operation(), "f", &inputs).expect("evaluates");
        run_phases(&context, &mut module, None, Phase::Graph, Fusion::Eqsat).expect("the graph phase");
        let dir = calibration_dir(&inputs, 3, seed);
        let options = int8_options(&dir, signed);
        quantize_module(module.as_operation(), &options, &mut |_, _| {}).expect("quantizes");
        let _ = std::fs::remove_dir_all(&dir);
        let quantized_text = module.as_operation().to_string();
        prop_assert!(quantized_text.contains("ftensor.quantized_"), "nothing was quantized:\n{}", text);
        let expected = evaluate(module.as_operation(), "f", &inputs).expect("evaluates");
        let wide: Vec<Tensor> = inputs
            .iter()
            .map(|t| Tensor::f32(t.shape(), t.to_f64_vec().iter().map(|v| (v * 1.5) as f32).collect()))
            .collect();
        let expected_wide = evaluate(module.as_operation(), "f", &wide).expect("evaluates");
        let compiled = compile_cpu(&context, &mut module, "f", &Default::default(), None)
            .unwrap_or_else(|e| panic!("{}\non:\n{quantized_text}", e.message));
        prop_assert!(
            module.as_operation().to_string().contains(fuser_runtime::FUSED_Q8),
            "the contraction did not take the INT8 call:\n{}", quantized_text
        );
        for (inputs, expected) in [(&inputs, &expected), (&wide, &expected_wide)] {
            let actual = compiled.run(inputs).expect("runs");
            if let Some((j, x, y)) = beyond_range_tolerance(&actual[0], &expected[0], 1.0) {
                prop_assert!(false, "element {}: {} expected {}\non:\n{}", j, x, y, quantized_text);
            }
        }
        let (e, f) = (expected[0].to_f64_vec(), float[0].to_f64_vec());
        // Quantization error: within a quarter of the float model's range, a loose bound
        // (the inputs are among the calibration samples, so none saturates). A range
        // over a handful of outputs says nothing: a short dot product of cancelling terms
        // (a saved case: K = 4, one output of 0.17) errs by its terms' size, not its own.
        if f.len() >= 8 {
            let float_scale = f.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
            let worst = e.iter().zip(&f).map(|(q, f)| (q - f).abs()).fold(0.0, f64::max);
            prop_assert!(worst <= 0.25 * float_scale, "quantized {} away from float (range {})\non:\n{}", worst, float_scale, text);
        }
    }
}

proptest! {
    // Each case compiles to machine code.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Mixed precision: a contraction with a random epilogue, converted to bf16 or f16 by
    /// `graph-mixed-precision`, stays near the f32 model on the reference evaluator, and
    /// the CPU computes the converted module as the evaluator does (to a unit in the last
    /// place of the low type).
    #[test]
    fn mixed_precision_matches_the_evaluator(
        kind in 0u8..4,
        sizes in prop::array::uniform8(0i64..64),
        flags in any::<u8>(),
        steps in prop::collection::vec(any::<u8>(), 0..3),
        half in any::<bool>(),
        seed in 1u64..u64::MAX,
    ) {
        use crate::graph_mixed_precision::{Options, convert_module};
        use fuser_dialects::semantics::DType;
        use melior::ir::operation::OperationLike;
        let (_, text, inputs) = random_case(kind, &sizes, flags, &steps, seed);
        let context = create_context().unwrap();
        context.enable_multi_threading(false);
        let mut module = parse_module(&context, &text, "mixed.mlir").unwrap_or_else(|| panic!("parses:\n{text}"));
        let float = evaluate(module.as_operation(), "f", &inputs).expect("evaluates");
        let low = if half { DType::F16 } else { DType::BF16 };
        // The f32 model on inputs rounded to the low type: how much rounding alone moves
        // the output. Where the contraction's terms cancel, that is far more than a unit
        // of the (small) output.
        let rounded: Vec<Tensor> = inputs.iter().map(|t| t.cast(low).cast(DType::F32)).collect();
        let float_rounded = evaluate(module.as_operation(), "f", &rounded).expect("evaluates");
        convert_module(module.as_operation(), &Options { low, keep_f32: Vec::new() }).expect("converts");
        prop_assert!(module.as_operation().verify(), "the converted module does not verify:\n{}", module.as_operation());
        let converted = module.as_operation().to_string();
        prop_assert!(converted.contains(&format!("x{}>", low.mlir())), "nothing was converted:\n{}", converted);
        let expected = evaluate(module.as_operation(), "f", &inputs).expect("evaluates");
        let compiled = compile_cpu(&context, &mut module, "f", &Default::default(), None)
            .unwrap_or_else(|e| panic!("{}\non:\n{converted}", e.message));
        let actual = compiled.run(&inputs).expect("runs");
        let (a, e, f) = (actual[0].to_f64_vec(), expected[0].to_f64_vec(), float[0].to_f64_vec());
        // One unit in the last place of the low type (bf16: 2^-8, f16: 2^-11), relative to
        // the output's range, per rounding the ops make.
        let ulp = if half { 1.0 / 2048.0 } else { 1.0 / 256.0 };
        let range = f.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
        let ops = 1.0 + steps.len() as f64;
        for (j, (x, y)) in a.iter().zip(&e).enumerate() {
            prop_assert!((x - y).abs() <= 2.0 * ops * ulp * range, "element {}: {} expected {}\non:\n{}", j, x, y, converted);
        }
        // Weights and intermediates round too: a few times the inputs' share.
        let sensitivity = float_rounded[0]
            .to_f64_vec()
            .iter()
            .zip(&f)
            .fold(0.0f64, |m, (r, y)| m.max((r - y).abs()));
        for (j, (q, y)) in e.iter().zip(&f).enumerate() {
            prop_assert!(
                (q - y).abs() <= 8.0 * ops * ulp * range + 8.0 * sensitivity,
                "element {}: {} vs f32 {} (input rounding alone moves it {})\non:\n{}", j, q, y, sensitivity, converted
            );
        }
    }
}

/// Chained INT8 kernels (a conv with ReLU feeding a 3×3 conv and, through a flatten, a
/// matmul): `ftensor-int8-activations` makes a producer end in its consumer's quantize
/// and hand it codes, which changes no value of the reference evaluator, and the CPU
/// (codes written by one INT8 kernel, read by the next) computes what the evaluator does.
#[test]
fn int8_kernels_hand_codes_to_int8_consumers() {
    use crate::{
        graph_quantize::quantize_module,
        phases::{Fusion, Phase, run_phases},
    };
    use fuser_dialects::{constants::dense_text, ffi::clone_operation};
    for (seed, signed) in [(3u64, false), (17, true), (29, false)] {
        let mut state = seed;
        let mut constant = |name: &str, shape: &[usize], scale: f32| {
            let data: Vec<f32> = values(&mut state, shape.iter().product())
                .iter()
                .map(|v| v * scale)
                .collect();
            let tensor = Tensor::f32(shape, data);
            let shape: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
            format!(
                "  %{name} = \"graph.constant\"() {{value = {}}} : () -> {}\n",
                dense_text(&tensor),
                ty(&shape)
            )
        };
        let conv = |out: &str,
                    x: &str,
                    w: &str,
                    b: &str,
                    k: i64,
                    pad: i64,
                    shape_in: &str,
                    w_ty: &str,
                    out_ty: &str| {
            format!(
                "  %{out} = \"graph.conv\"(%{x}, %{w}, %{b}) {{dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: {k}, {k}>, pads = array<i64: {pad}, {pad}, {pad}, {pad}>, strides = array<i64: 1, 1>}} : ({shape_in}, {w_ty}, tensor<{}xf32>) -> {out_ty}\n",
                w_ty.trim_start_matches("tensor<").split('x').next().unwrap()
            )
        };
        let mut text = String::from("func.func @f(%x: tensor<1x8x10x10xf32>) -> tensor<1x5xf32> {\n");
        text += &constant("w1", &[16, 8, 1, 1], 0.3);
        text += &constant("b1", &[16], 0.1);
        text += &conv(
            "c1",
            "x",
            "w1",
            "b1",
            1,
            0,
            "tensor<1x8x10x10xf32>",
            "tensor<16x8x1x1xf32>",
            "tensor<1x16x10x10xf32>",
        );
        text += "  %r1 = \"graph.relu\"(%c1) : (tensor<1x16x10x10xf32>) -> tensor<1x16x10x10xf32>\n";
        text += &constant("w2", &[12, 16, 3, 3], 0.1);
        text += &constant("b2", &[12], 0.1);
        text += &conv(
            "c2",
            "r1",
            "w2",
            "b2",
            3,
            1,
            "tensor<1x16x10x10xf32>",
            "tensor<12x16x3x3xf32>",
            "tensor<1x12x10x10xf32>",
        );
        text += "  %r2 = \"graph.relu\"(%c2) : (tensor<1x12x10x10xf32>) -> tensor<1x12x10x10xf32>\n";
        text += "  %f = \"graph.flatten\"(%r2) {axis = 1 : i64} : (tensor<1x12x10x10xf32>) -> tensor<1x1200xf32>\n";
        text += &constant("w3", &[1200, 5], 0.05);
        text += "  %y = \"graph.mat_mul\"(%f, %w3) : (tensor<1x1200xf32>, tensor<1200x5xf32>) -> tensor<1x5xf32>\n";
        text += "  return %y : tensor<1x5xf32>\n}\n";
        let context = create_context().unwrap();
        context.enable_multi_threading(false);
        let mut module = parse_module(&context, &text, "chain.mlir").unwrap_or_else(|| panic!("parses:\n{text}"));
        run_phases(&context, &mut module, None, Phase::Graph, Fusion::Eqsat).expect("the graph phase");
        let dir = std::env::temp_dir().join(format!("fuser-chain-calibration-{}-{seed}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        for sample in 0..4 {
            let x = Tensor::f32(&[1, 8, 10, 10], values(&mut state, 800));
            fuser_frontends::npy::write(&dir.join(format!("{sample:03}.npy")), &x).expect("writes");
        }
        let options = int8_options(&dir, signed);
        quantize_module(module.as_operation(), &options, &mut |_, _| {}).expect("quantizes");
        let _ = std::fs::remove_dir_all(&dir);
        let inputs = [Tensor::f32(&[1, 8, 10, 10], values(&mut state, 800))];
        let expected = evaluate(module.as_operation(), "f", &inputs).expect("evaluates");
        // The kernels phase hands codes over, and the evaluator sees the same values.
        let mut kernels = melior::ir::Module::from_operation(clone_operation(module.as_operation())).expect("a module");
        run_phases(
            &context,
            &mut kernels,
            Some(Phase::Graph),
            Phase::Kernels,
            Fusion::Eqsat,
        )
        .expect("kernels");
        let kernels_text = kernels.as_operation().to_string();
        let codes = if signed { "xi8>" } else { "xui8>" };
        // The first conv hands its codes to the second; the second's result reaches the
        // matmul through a flatten in the model function, so it stays f32.
        assert_eq!(
            kernels_text.matches("\"ftensor.quantize\"").count(),
            1,
            "one producer ends in a quantize:\n{kernels_text}"
        );
        assert!(
            kernels_text.contains(&format!("-> tensor<1x16x10x10{codes}")),
            "{kernels_text}"
        );
        let handed = evaluate(kernels.as_operation(), "f", &inputs).expect("evaluates");
        assert_eq!(handed, expected, "seed {seed}");
        // The CPU.
        let compiled = compile_cpu(&context, &mut module, "f", &Default::default(), None)
            .unwrap_or_else(|e| panic!("{}\non:\n{kernels_text}", e.message));
        let actual = compiled.run(&inputs).expect("runs");
        if let Some((j, x, y)) = beyond_range_tolerance(&actual[0], &expected[0], 1e-6) {
            panic!("seed {seed} element {j}: {x} expected {y}");
        }
    }
}
