//! One case per mapping of `convert-ftensor-to-cann`: a small graph is converted and
//! emitted; the cann ops and the C++ call blocks are an insta snapshot
//! (`snapshots/`), and the reference evaluator gives the same values before and after
//! the conversion on random inputs.

use super::{convert_ftensor_to_cann, emit_cpp::emit_cpp};
use fuser_dialects::{
    create_context,
    eval::{Tensor, evaluate},
    ffi::parse_module,
};
use melior::ir::operation::OperationLike;

/// A small deterministic generator (xorshift), so every run checks the same values.
struct Random(u64);

impl Random {
    /// Uniform in [lo, hi).
    fn values(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                lo + (hi - lo) * ((self.0 >> 40) as f32 / (1u64 << 24) as f32)
            })
            .collect()
    }
}

/// A case: the function's arguments (shape, and whether its values must be positive:
/// a divisor, a variance, a square root's operand) and body.
struct Case {
    name: &'static str,
    args: &'static [(&'static [usize], bool)],
    body: &'static str,
}

fn shape_text(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!("tensor<{}xf32>", dims.join("x"))
}

/// The C++ call blocks of `model.cpp` (what the snapshot keeps of it).
fn call_blocks(model_cpp: &str) -> String {
    let run = model_cpp.split("int run(").nth(1).unwrap_or_default();
    run.lines()
        .skip_while(|l| !l.trim_start().starts_with("{  // ") && !l.trim_start().starts_with("// cann.reshape"))
        .take_while(|l| !l.contains("aclrtSynchronizeStream"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn check(case: &Case) {
    let context = create_context().unwrap();
    let (result, body) = case.body.split_once('\n').expect("a result type line, then the body");
    let args: Vec<String> = case
        .args
        .iter()
        .enumerate()
        .map(|(i, (shape, _))| format!("%a{i}: {}", shape_text(shape)))
        .collect();
    let text = format!("func.func @f({}) -> {result} {{\n{body}\n}}\n", args.join(", "));
    let module = parse_module(&context, &text, "case.mlir").unwrap_or_else(|| panic!("{}: parses:\n{text}", case.name));
    let mut random = Random(0x9E37_79B9_7F4A_7C15 ^ case.name.len() as u64);
    let inputs: Vec<Tensor> = case
        .args
        .iter()
        .map(|(shape, positive)| {
            let n = shape.iter().product();
            let values = if *positive {
                random.values(n, 0.5, 2.0)
            } else {
                random.values(n, -2.0, 2.0)
            };
            Tensor::f32(shape, values)
        })
        .collect();
    let expected = evaluate(module.as_operation(), "f", &inputs).expect("the graph evaluates");
    assert!(
        convert_ftensor_to_cann(module.as_operation()),
        "{}: converts",
        case.name
    );
    assert!(module.as_operation().verify(), "{}: the cann ops verify", case.name);
    let actual = evaluate(module.as_operation(), "f", &inputs).expect("the cann ops evaluate");
    for (a, e) in actual.iter().zip(&expected) {
        assert_eq!(a.shape(), e.shape(), "{}", case.name);
        for (x, y) in a.to_f64_vec().iter().zip(e.to_f64_vec()) {
            assert!((x - y).abs() <= 1e-6 * (1.0 + y.abs()), "{}: {x} != {y}", case.name);
        }
    }
    let files = emit_cpp(module.as_operation(), "f", &[]).expect("emits");
    let model = files.iter().find(|f| f.path == "model.cpp").expect("a model.cpp");
    let snapshot = format!(
        "{}\n// model.cpp, the calls of run():\n{}",
        module.as_operation(),
        call_blocks(&String::from_utf8_lossy(&model.bytes))
    );
    insta::assert_snapshot!(case.name, snapshot);
}

const CASES: &[Case] = &[
    Case {
        name: "conv_bias",
        args: &[(&[1, 2, 5, 5], false), (&[3, 2, 3, 3], false), (&[3], false)],
        body: "tensor<1x3x3x3xf32>\n  %0 = \"graph.conv\"(%a0, %a1, %a2) {dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>, operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<1x2x5x5xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>) -> tensor<1x3x3x3xf32>\n  return %0 : tensor<1x3x3x3xf32>",
    },
    Case {
        name: "conv_relu_kernel",
        args: &[(&[1, 2, 4, 4], false), (&[2, 1, 3, 3], false)],
        body: "tensor<1x2x2x2xf32>\n  %0 = \"graph.conv\"(%a0, %a1) {dilations = array<i64: 1, 1>, group = 2 : i64, kernel_shape = array<i64: 3, 3>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x2x4x4xf32>, tensor<2x1x3x3xf32>) -> tensor<1x2x2x2xf32>\n  %1 = \"graph.relu\"(%0) : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>\n  return %1 : tensor<1x2x2x2xf32>",
    },
    Case {
        name: "mat_mul",
        args: &[(&[2, 3, 4], false), (&[4, 5], false)],
        body: "tensor<2x3x5xf32>\n  %0 = \"graph.mat_mul\"(%a0, %a1) : (tensor<2x3x4xf32>, tensor<4x5xf32>) -> tensor<2x3x5xf32>\n  return %0 : tensor<2x3x5xf32>",
    },
    Case {
        name: "gemm_addmm_transposed",
        args: &[(&[2, 4], false), (&[3, 4], false), (&[3], false)],
        body: "tensor<2x3xf32>\n  %0 = \"graph.gemm\"(%a0, %a1, %a2) {alpha = 5.0e-01 : f32, beta = 2.0 : f32, trans_a = 0 : i64, trans_b = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<2x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<2x3xf32>\n  return %0 : tensor<2x3xf32>",
    },
    Case {
        name: "gemm_matmul",
        args: &[(&[4, 2], false), (&[4, 3], false)],
        body: "tensor<2x3xf32>\n  %0 = \"graph.gemm\"(%a0, %a1) {alpha = 1.0 : f32, beta = 1.0 : f32, trans_a = 1 : i64, trans_b = 0 : i64, operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<4x2xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>\n  return %0 : tensor<2x3xf32>",
    },
    Case {
        name: "add",
        args: &[(&[2, 3], false), (&[3], false)],
        body: "tensor<2x3xf32>\n  %0 = \"graph.add\"(%a0, %a1) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>\n  return %0 : tensor<2x3xf32>",
    },
    Case {
        name: "sub",
        args: &[(&[2, 3], false), (&[2, 1], false)],
        body: "tensor<2x3xf32>\n  %0 = \"graph.sub\"(%a0, %a1) : (tensor<2x3xf32>, tensor<2x1xf32>) -> tensor<2x3xf32>\n  return %0 : tensor<2x3xf32>",
    },
    Case {
        name: "mul",
        args: &[(&[2, 3], false), (&[2, 3], false)],
        body: "tensor<2x3xf32>\n  %0 = \"graph.mul\"(%a0, %a1) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>\n  return %0 : tensor<2x3xf32>",
    },
    Case {
        name: "div",
        args: &[(&[2, 3], false), (&[3], true)],
        body: "tensor<2x3xf32>\n  %0 = \"graph.div\"(%a0, %a1) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>\n  return %0 : tensor<2x3xf32>",
    },
    Case {
        name: "relu",
        args: &[(&[2, 3], false)],
        body: "tensor<2x3xf32>\n  %0 = \"graph.relu\"(%a0) : (tensor<2x3xf32>) -> tensor<2x3xf32>\n  return %0 : tensor<2x3xf32>",
    },
    Case {
        name: "sigmoid",
        args: &[(&[2, 3], false)],
        body: "tensor<2x3xf32>\n  %0 = \"graph.sigmoid\"(%a0) : (tensor<2x3xf32>) -> tensor<2x3xf32>\n  return %0 : tensor<2x3xf32>",
    },
    Case {
        name: "tanh",
        args: &[(&[2, 3], false)],
        body: "tensor<2x3xf32>\n  %0 = \"graph.tanh\"(%a0) : (tensor<2x3xf32>) -> tensor<2x3xf32>\n  return %0 : tensor<2x3xf32>",
    },
    Case {
        name: "exp",
        args: &[(&[2, 3], false)],
        body: "tensor<2x3xf32>\n  %0 = \"graph.exp\"(%a0) : (tensor<2x3xf32>) -> tensor<2x3xf32>\n  return %0 : tensor<2x3xf32>",
    },
    Case {
        name: "sqrt",
        args: &[(&[2, 3], true)],
        body: "tensor<2x3xf32>\n  %0 = \"graph.sqrt\"(%a0) : (tensor<2x3xf32>) -> tensor<2x3xf32>\n  return %0 : tensor<2x3xf32>",
    },
    Case {
        name: "leaky_relu",
        args: &[(&[2, 3], false)],
        body: "tensor<2x3xf32>\n  %0 = \"graph.leaky_relu\"(%a0) {alpha = 1.0e-01 : f32} : (tensor<2x3xf32>) -> tensor<2x3xf32>\n  return %0 : tensor<2x3xf32>",
    },
    Case {
        name: "gelu",
        args: &[(&[2, 3], false)],
        body: "tensor<2x3xf32>\n  %0 = \"graph.gelu\"(%a0) {approximate = \"none\"} : (tensor<2x3xf32>) -> tensor<2x3xf32>\n  return %0 : tensor<2x3xf32>",
    },
    Case {
        name: "gelu_tanh",
        args: &[(&[2, 3], false)],
        body: "tensor<2x3xf32>\n  %0 = \"graph.gelu\"(%a0) {approximate = \"tanh\"} : (tensor<2x3xf32>) -> tensor<2x3xf32>\n  return %0 : tensor<2x3xf32>",
    },
    Case {
        name: "clip",
        args: &[(&[2, 3], false)],
        body: "tensor<2x3xf32>\n  %lo = \"graph.constant\"() {value = dense<-5.0e-01> : tensor<f32>} : () -> tensor<f32>\n  %hi = \"graph.constant\"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>\n  %0 = \"graph.clip\"(%a0, %lo, %hi) {operandSegmentSizes = array<i32: 1, 1, 1>} : (tensor<2x3xf32>, tensor<f32>, tensor<f32>) -> tensor<2x3xf32>\n  return %0 : tensor<2x3xf32>",
    },
    Case {
        name: "max_pool",
        args: &[(&[1, 2, 5, 5], false)],
        body: "tensor<1x2x3x3xf32>\n  %0 = \"graph.max_pool\"(%a0) {ceil_mode = 0 : i64, dilations = array<i64: 1, 1>, kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, storage_order = 0 : i64, strides = array<i64: 2, 2>, resultSegmentSizes = array<i32: 1, 0>} : (tensor<1x2x5x5xf32>) -> tensor<1x2x3x3xf32>\n  return %0 : tensor<1x2x3x3xf32>",
    },
    Case {
        name: "average_pool",
        args: &[(&[1, 2, 5, 5], false)],
        body: "tensor<1x2x3x3xf32>\n  %0 = \"graph.average_pool\"(%a0) {ceil_mode = 0 : i64, count_include_pad = 0 : i64, dilations = array<i64: 1, 1>, kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>} : (tensor<1x2x5x5xf32>) -> tensor<1x2x3x3xf32>\n  return %0 : tensor<1x2x3x3xf32>",
    },
    Case {
        name: "global_average_pool",
        args: &[(&[1, 3, 4, 4], false)],
        body: "tensor<1x3x1x1xf32>\n  %0 = \"graph.global_average_pool\"(%a0) : (tensor<1x3x4x4xf32>) -> tensor<1x3x1x1xf32>\n  return %0 : tensor<1x3x1x1xf32>",
    },
    Case {
        name: "softmax",
        args: &[(&[2, 3, 4], false)],
        body: "tensor<2x3x4xf32>\n  %0 = \"graph.softmax\"(%a0) {axis = -2 : i64} : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>\n  return %0 : tensor<2x3x4xf32>",
    },
    Case {
        name: "layer_normalization",
        args: &[(&[2, 3, 4], false), (&[4], false), (&[4], false)],
        body: "tensor<2x3x4xf32>\n  %0 = \"graph.layer_normalization\"(%a0, %a1, %a2) {axis = -1 : i64, epsilon = 9.99999974E-6 : f32, stash_type = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 1>, resultSegmentSizes = array<i32: 1, 0, 0>} : (tensor<2x3x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x3x4xf32>\n  return %0 : tensor<2x3x4xf32>",
    },
    Case {
        name: "batch_normalization",
        args: &[
            (&[1, 3, 2, 2], false),
            (&[3], false),
            (&[3], false),
            (&[3], false),
            (&[3], true),
        ],
        body: "tensor<1x3x2x2xf32>\n  %0 = \"graph.batch_normalization\"(%a0, %a1, %a2, %a3, %a4) {epsilon = 9.99999974E-6 : f32, momentum = 0.899999976 : f32} : (tensor<1x3x2x2xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<1x3x2x2xf32>\n  return %0 : tensor<1x3x2x2xf32>",
    },
    Case {
        name: "concat",
        args: &[(&[1, 2, 3], false), (&[1, 1, 3], false), (&[1, 3, 3], false)],
        body: "tensor<1x6x3xf32>\n  %0 = \"graph.concat\"(%a0, %a1, %a2) {axis = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<1x2x3xf32>, tensor<1x1x3xf32>, tensor<1x3x3xf32>) -> tensor<1x6x3xf32>\n  return %0 : tensor<1x6x3xf32>",
    },
    Case {
        name: "transpose",
        args: &[(&[2, 3, 4], false)],
        body: "tensor<4x2x3xf32>\n  %0 = \"graph.transpose\"(%a0) {perm = array<i64: 2, 0, 1>} : (tensor<2x3x4xf32>) -> tensor<4x2x3xf32>\n  return %0 : tensor<4x2x3xf32>",
    },
    Case {
        name: "reduce_sum",
        args: &[(&[2, 3, 4], false)],
        body: "tensor<2x1x4xf32>\n  %axes = \"graph.constant\"() {value = dense<[1]> : tensor<1xi64>} : () -> tensor<1xi64>\n  %0 = \"graph.reduce_sum\"(%a0, %axes) {keepdims = 1 : i64, noop_with_empty_axes = 0 : i64, operandSegmentSizes = array<i32: 1, 1>} : (tensor<2x3x4xf32>, tensor<1xi64>) -> tensor<2x1x4xf32>\n  return %0 : tensor<2x1x4xf32>",
    },
    Case {
        name: "reduce_mean",
        args: &[(&[2, 3, 4], false)],
        body: "tensor<3xf32>\n  %axes = \"graph.constant\"() {value = dense<[0, -1]> : tensor<2xi64>} : () -> tensor<2xi64>\n  %0 = \"graph.reduce_mean\"(%a0, %axes) {keepdims = 0 : i64, noop_with_empty_axes = 0 : i64, operandSegmentSizes = array<i32: 1, 1>} : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<3xf32>\n  return %0 : tensor<3xf32>",
    },
    Case {
        name: "reshape_flatten",
        args: &[(&[2, 3, 4], false)],
        body: "tensor<6x4xf32>\n  %shape = \"graph.constant\"() {value = dense<[6, 4]> : tensor<2xi64>} : () -> tensor<2xi64>\n  %0 = \"graph.reshape\"(%a0, %shape) {allowzero = 0 : i64} : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<6x4xf32>\n  %1 = \"graph.relu\"(%0) : (tensor<6x4xf32>) -> tensor<6x4xf32>\n  %2 = \"graph.flatten\"(%1) {axis = 1 : i64} : (tensor<6x4xf32>) -> tensor<6x4xf32>\n  return %2 : tensor<6x4xf32>",
    },
];

#[test]
fn every_mapping_keeps_the_values_and_its_snapshot() {
    for case in CASES {
        check(case);
    }
}
