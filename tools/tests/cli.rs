//! Command-line contract of fuser-opt and fuser-translate that lit cannot express:
//! exact exit codes, silence on success, atomic output, and no panic on any input.

use std::{path::Path, process::Command};

const OPT: &str = env!("CARGO_BIN_EXE_fuser-opt");
const TRANSLATE: &str = env!("CARGO_BIN_EXE_fuser-translate");

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(tool: &str, args: &[&str]) -> Outcome {
    let out = Command::new(tool).args(args).output().expect("tool runs");
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

const VALID: &str = r#"func.func @f(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = "graph.identity"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = "graph.relu"(%0) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %1 : tensor<2x3xf32>
}
"#;

/// The three rejections of the Foundation acceptance criteria, with their locations.
const REJECTED: [(&str, &str); 3] = [
    (
        "func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {\n  %0 = \"graph.add\"(%x) : (tensor<4xf32>) -> tensor<4xf32>\n  return %0 : tensor<4xf32>\n}\n",
        ":2:8: error: op expects exactly 2 operands, but got 1",
    ),
    (
        "func.func @f(%x: tensor<4xi1>) -> tensor<4xi1> {\n  %0 = \"graph.relu\"(%x) : (tensor<4xi1>) -> tensor<4xi1>\n  return %0 : tensor<4xi1>\n}\n",
        ":2:8: error: 'graph.relu' op operand #0 has element type i1",
    ),
    (
        "func.func @f(%a: tensor<2x16xf32>, %b: tensor<15x8xf32>) -> tensor<2x8xf32> {\n  %0 = \"graph.mat_mul\"(%a, %b) : (tensor<2x16xf32>, tensor<15x8xf32>) -> tensor<2x8xf32>\n  return %0 : tensor<2x8xf32>\n}\n",
        ":2:8: error: 'graph.mat_mul' op inner dimensions differ",
    ),
];

#[test]
fn rejections_exit_1_with_a_located_error_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (text, expected)) in REJECTED.iter().enumerate() {
        let input = write(dir.path(), &format!("bad{i}.mlir"), text);
        let out = run(OPT, &[&input]);
        assert_eq!(out.code, Some(1), "{input}: {}", out.stderr);
        assert!(out.stderr.contains(&format!("bad{i}.mlir{expected}")), "{}", out.stderr);
        assert!(out.stdout.is_empty(), "no output on failure: {}", out.stdout);
        assert!(!out.stderr.contains("panicked"));
    }
}

#[test]
fn success_is_silent_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "ok.mlir", VALID);
    let out = run(
        OPT,
        &[
            &input,
            "--pass-pipeline=builtin.module(func.func(graph-simplify,canonicalize,cse))",
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.is_empty(), "stderr: {}", out.stderr);
    assert!(out.stdout.contains("graph.relu") && !out.stdout.contains("graph.identity"));
}

#[test]
fn output_file_is_written_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "ok.mlir", VALID);
    let bad = write(dir.path(), "bad.mlir", REJECTED[2].0);
    let target = dir.path().join("out.mlir");
    let target_str = target.to_string_lossy().into_owned();

    // A failure creates no output file.
    assert_eq!(run(OPT, &[&bad, "-o", &target_str]).code, Some(1));
    assert!(!target.exists());

    // A success writes it, and leaves no temporary file behind.
    assert_eq!(run(OPT, &[&good, "-o", &target_str]).code, Some(0));
    let written = std::fs::read_to_string(&target).unwrap();
    assert!(written.contains("graph.relu"));
    let entries = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(entries, 3, "only the two inputs and the output");

    // A later failure leaves the previous output untouched.
    assert_eq!(run(OPT, &[&bad, "-o", &target_str]).code, Some(1));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), written);

    // Special files are written directly.
    assert_eq!(run(OPT, &[&good, "-o", "/dev/null"]).code, Some(0));
}

#[test]
fn malformed_input_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        "",
        "func.func @f(",
        "\u{0}\u{1}\u{2}garbage\u{7f}",
        "\"graph.relu\"() : () -> ()",
        "func.func @f() { %0 = \"graph.constant\"() : () -> tensor<2xf32>\n return }",
        "module { module { } } }",
        &VALID[..VALID.len() / 2],
    ];
    for (i, text) in cases.iter().enumerate() {
        let input = write(dir.path(), &format!("m{i}.mlir"), text);
        let out = run(OPT, &[&input, "--graph-simplify"]);
        assert!(
            matches!(out.code, Some(0) | Some(1)),
            "case {i}: {:?} {}",
            out.code,
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"), "case {i}: {}", out.stderr);
        if out.code == Some(1) {
            assert!(out.stderr.contains("error:"), "case {i}: {}", out.stderr);
        }
    }
}

#[test]
fn usage_and_io_errors() {
    let missing = run(OPT, &["/nonexistent/in.mlir"]);
    assert_eq!(missing.code, Some(1));
    assert!(
        missing.stderr.contains("cannot read '/nonexistent/in.mlir'"),
        "{}",
        missing.stderr
    );
    assert_eq!(run(OPT, &["--no-such-flag"]).code, Some(2));
    let help = run(OPT, &["--help"]);
    assert_eq!(help.code, Some(0));
    for flag in [
        "--pass-pipeline",
        "--split-input-file",
        "--verify-diagnostics",
        "--mlir-print-ir-after-all",
        "--mlir-timing",
        "--list-passes",
        "--verify-each",
        "--mlir-print-debuginfo",
        "--<pass>",
    ] {
        assert!(help.stdout.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn translate_rejects_modules_not_in_the_llvm_dialect() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "g.mlir", VALID);
    let target = dir.path().join("out.ll");
    let out = run(TRANSLATE, &["--to", "llvm-ir", &input, "-o", &target.to_string_lossy()]);
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("error:"), "{}", out.stderr);
    assert!(!target.exists());
    let llvm = write(dir.path(), "l.mlir", "llvm.func @g() {\n  llvm.return\n}\n");
    let out = run(TRANSLATE, &["--to", "llvm-ir", &llvm]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("define void @g()"));
}

/// ONNX models built in the test, for the bad-input contract of `fuser import`/`check`.
mod onnx_models {
    use onnx_protobuf::{
        GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto,
        ValueInfoProto,
        tensor_shape_proto::{Dimension, dimension},
        type_proto,
    };

    pub fn value(name: &str, elem_type: i32, dims: &[i64]) -> ValueInfoProto {
        let shape = TensorShapeProto {
            dim: dims
                .iter()
                .map(|&d| Dimension {
                    value: Some(dimension::Value::DimValue(d)),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let tensor = type_proto::Tensor {
            elem_type,
            shape: Some(shape).into(),
            ..Default::default()
        };
        ValueInfoProto {
            name: name.into(),
            type_: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(tensor)),
                ..Default::default()
            })
            .into(),
            ..Default::default()
        }
    }

    pub fn node(name: &str, op: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
        NodeProto {
            name: name.into(),
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    pub fn weight(name: &str, dims: &[i64]) -> TensorProto {
        let count: i64 = dims.iter().product();
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: 1,
            float_data: (0..count).map(|i| i as f32 * 0.5 - 1.0).collect(),
            ..Default::default()
        }
    }

    pub fn model(
        opset: i64,
        inputs: Vec<ValueInfoProto>,
        outputs: Vec<ValueInfoProto>,
        nodes: Vec<NodeProto>,
        initializers: Vec<TensorProto>,
    ) -> Vec<u8> {
        let graph = GraphProto {
            name: "g".into(),
            node: nodes,
            input: inputs,
            output: outputs,
            initializer: initializers,
            ..Default::default()
        };
        let model = ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: opset,
                ..Default::default()
            }],
            graph: Some(graph).into(),
            ..Default::default()
        };
        model.write_to_bytes().unwrap()
    }

    /// x (1x4) -> MatMul(w: 4x3) -> Relu -> y (1x3)
    pub fn valid() -> Vec<u8> {
        model(
            17,
            vec![value("x", 1, &[1, 4])],
            vec![value("y", 1, &[1, 3])],
            vec![
                node("mm", "MatMul", &["x", "w"], &["h"]),
                node("act", "Relu", &["h"], &["y"]),
            ],
            vec![weight("w", &[4, 3])],
        )
    }
}

const FUSER: &str = env!("CARGO_BIN_EXE_fuser");

#[test]
fn import_refuses_bad_models_with_one_located_line() {
    use onnx_models::*;
    let dir = tempfile::tempdir().unwrap();
    let valid = valid();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", valid[..valid.len() / 2].to_vec(), "not a valid ONNX model"),
        (
            "garbage",
            b"\x08\x96\x01\xff\xfe garbage \x00\x01".to_vec(),
            "not a valid ONNX model",
        ),
        (
            "missing_initializer",
            model(
                17,
                vec![value("x", 1, &[1, 4])],
                vec![value("y", 1, &[1, 3])],
                vec![node("mm", "MatMul", &["x", "w"], &["y"])],
                vec![],
            ),
            "node 'mm' (MatMul): input 'w' is not produced by any node, input or initializer",
        ),
        (
            "dangling_edge",
            model(
                17,
                vec![value("x", 1, &[1, 4])],
                vec![value("y", 1, &[1, 4])],
                vec![node("act", "Relu", &["x"], &["h"])],
                vec![],
            ),
            "output 'y' is not produced by any node",
        ),
        (
            "type_mismatch",
            model(
                17,
                vec![value("x", 1, &[1, 4]), value("i", 7, &[1, 4])],
                vec![value("y", 1, &[1, 4])],
                vec![node("sum", "Add", &["x", "i"], &["y"])],
                vec![],
            ),
            "node 'sum' (Add): operands have element types f32 and i64",
        ),
        (
            "unknown_opset",
            {
                let mut m = valid.clone();
                m.clear();
                m.extend(model(
                    99,
                    vec![value("x", 1, &[1, 4])],
                    vec![value("y", 1, &[1, 4])],
                    vec![node("act", "Relu", &["x"], &["y"])],
                    vec![],
                ));
                m
            },
            "opset 99 is outside the supported range 6..=28",
        ),
    ];
    let ok_path = dir.path().join("ok.onnx");
    std::fs::write(&ok_path, &valid).unwrap();
    let out = dir.path().join("ok.mlir");
    let ok = run(
        FUSER,
        &["import", &ok_path.to_string_lossy(), "-o", &out.to_string_lossy()],
    );
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    for (name, bytes, expected) in cases {
        let path = dir.path().join(format!("{name}.onnx"));
        std::fs::write(&path, bytes).unwrap();
        let target = dir.path().join(format!("{name}.mlir"));
        let out = run(
            FUSER,
            &["import", &path.to_string_lossy(), "-o", &target.to_string_lossy()],
        );
        assert_eq!(out.code, Some(1), "{name}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{name}: one line: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("{name}.onnx")),
            "{name}: names the file: {}",
            out.stderr
        );
        assert!(out.stderr.contains(expected), "{name}: {}", out.stderr);
        assert!(
            !target.exists() && !target.with_extension("safetensors").exists(),
            "{name}: no output"
        );
        assert!(!out.stderr.contains("panicked"));
    }
}

#[test]
fn check_lists_every_unsupported_node_and_summarizes_supported_models() {
    use onnx_models::*;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.onnx");
    std::fs::write(&good, valid()).unwrap();
    let out = run(FUSER, &["check", &good.to_string_lossy()]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // MatMul 1x4 by 4x3: 2 x 3 x 4 = 24 FLOPs; Relu: 3.
    assert!(out.stdout.contains("12 parameters, 27 FLOPs"), "{}", out.stdout);
    assert!(out.stdout.contains("MatMul x1, Relu x1"), "{}", out.stdout);

    let bad = dir.path().join("bad.onnx");
    let nodes = vec![
        node("a", "Relu", &["x"], &["h"]),
        node("b", "Hardmax", &["h"], &["k"]),
        node("c", "Relu", &["k"], &["m"]),
        node("d", "Det", &["h"], &["y"]),
    ];
    std::fs::write(
        &bad,
        model(
            17,
            vec![value("x", 1, &[2, 2])],
            vec![value("y", 1, &[])],
            nodes,
            vec![],
        ),
    )
    .unwrap();
    let out = run(FUSER, &["check", &bad.to_string_lossy()]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stdout.contains("node 'b' (Hardmax): op 'Hardmax' is not supported"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("node 'd' (Det): op 'Det' is not supported"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("node 'c'"),
        "a node after an unsupported one is not blamed: {}",
        out.stdout
    );
    assert!(out.stdout.contains("2 unsupported node(s)"), "{}", out.stdout);

    // A training-mode Dropout without a seed has a random mask: refused by name.
    let random = dir.path().join("random.onnx");
    let inputs = vec![value("x", 1, &[2, 2]), value("r", 1, &[]), value("t", 9, &[])];
    let dropout = vec![node("drop", "Dropout", &["x", "r", "t"], &["y"])];
    std::fs::write(
        &random,
        model(17, inputs, vec![value("y", 1, &[2, 2])], dropout, vec![]),
    )
    .unwrap();
    let out = run(FUSER, &["check", &random.to_string_lossy()]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("node 'drop' (Dropout): training_mode without a seed"),
        "{}",
        out.stdout
    );
}

#[test]
fn run_writes_npy_outputs_for_onnx_and_imported_models() {
    use onnx_models::*;
    let dir = tempfile::tempdir().unwrap();
    let model_path = dir.path().join("m.onnx");
    std::fs::write(&model_path, valid()).unwrap();
    let a = dir.path().join("a");
    let out = run(
        FUSER,
        &[
            "run",
            &model_path.to_string_lossy(),
            "--random-inputs",
            "--seed",
            "5",
            "--output-dir",
            &a.to_string_lossy(),
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(a.join("input_0.npy").exists() && a.join("output_0.npy").exists());
    let mlir = dir.path().join("m.mlir");
    assert_eq!(
        run(
            FUSER,
            &["import", &model_path.to_string_lossy(), "-o", &mlir.to_string_lossy()]
        )
        .code,
        Some(0)
    );
    let b = dir.path().join("b");
    let input = format!("x={}", a.join("input_0.npy").display());
    let out = run(
        FUSER,
        &[
            "run",
            &mlir.to_string_lossy(),
            "--input",
            &input,
            "--output-dir",
            &b.to_string_lossy(),
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        std::fs::read(a.join("output_0.npy")).unwrap(),
        std::fs::read(b.join("output_0.npy")).unwrap()
    );
    // Bytecode carries the weights inside and runs the same.
    let bytecode = dir.path().join("bc.mlirbc");
    assert_eq!(
        run(
            FUSER,
            &[
                "import",
                &model_path.to_string_lossy(),
                "-o",
                &bytecode.to_string_lossy()
            ]
        )
        .code,
        Some(0)
    );
    assert!(!bytecode.with_extension("safetensors").exists());
    let c = dir.path().join("c");
    let out = run(
        FUSER,
        &[
            "run",
            &bytecode.to_string_lossy(),
            "--input",
            &input,
            "--output-dir",
            &c.to_string_lossy(),
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        std::fs::read(a.join("output_0.npy")).unwrap(),
        std::fs::read(c.join("output_0.npy")).unwrap()
    );
    // fuser-opt reads bytecode as mlir-opt does; a damaged file is one error line.
    let opt = run(OPT, &[&bytecode.to_string_lossy(), "--graph-infer-shapes"]);
    assert_eq!(opt.code, Some(0), "{}", opt.stderr);
    assert!(
        opt.stdout.contains("graph.weights") && opt.stdout.contains("\"graph.mat_mul\""),
        "{}",
        opt.stdout
    );
    let mut damaged = std::fs::read(&bytecode).unwrap();
    damaged.truncate(damaged.len() / 2);
    let damaged_path = dir.path().join("damaged.mlirbc");
    std::fs::write(&damaged_path, damaged).unwrap();
    let opt = run(OPT, &[&damaged_path.to_string_lossy()]);
    assert_eq!(opt.code, Some(1));
    assert_eq!(opt.stderr.lines().count(), 1, "{}", opt.stderr);
    assert!(opt.stderr.contains("is not valid MLIR bytecode"), "{}", opt.stderr);
    let wrong = run(
        FUSER,
        &[
            "run",
            &mlir.to_string_lossy(),
            "--input",
            "nope=x.npy",
            "--output-dir",
            &b.to_string_lossy(),
        ],
    );
    assert_eq!(wrong.code, Some(1));
    assert!(
        wrong
            .stderr
            .contains("the model has no input 'nope'; its inputs are: x"),
        "{}",
        wrong.stderr
    );
}

#[test]
fn json_graphs_import_and_refuse_bad_documents_with_a_location() {
    let dir = tempfile::tempdir().unwrap();
    let good = r#"{"format": "fuser-graph", "version": 1, "opset": 17,
        "inputs": [{"name": "x", "dtype": "float32", "shape": [2, 2]}], "outputs": [{"name": "y"}],
        "weights": [{"name": "b", "dtype": "float32", "shape": [2], "data": [0.5, -0.5]}],
        "nodes": [{"op": "Add", "inputs": ["x", "b"], "outputs": ["s"]}, {"name": "act", "op": "LeakyRelu", "inputs": ["s"], "outputs": ["y"], "attrs": {"alpha": 1}}]}"#;
    let path = dir.path().join("good.json");
    std::fs::write(&path, good).unwrap();
    let out_dir = dir.path().join("out");
    let out = run(
        FUSER,
        &[
            "run",
            &path.to_string_lossy(),
            "--random-inputs",
            "--output-dir",
            &out_dir.to_string_lossy(),
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let cases = [
        ("not_json", "{ nope".to_string(), "not valid JSON"),
        (
            "wrong_format",
            good.replace("fuser-graph", "other"),
            "'format' must be \"fuser-graph\"",
        ),
        (
            "bad_dtype",
            good.replace("\"float32\", \"shape\": [2, 2]", "\"float128\", \"shape\": [2, 2]"),
            "inputs[0]: unknown dtype 'float128'",
        ),
        (
            "short_data",
            good.replace("[0.5, -0.5]", "[0.5]"),
            "weight 'b': 'data' has 1 values for shape [2] (2)",
        ),
        (
            "escaping_npy",
            good.replace(
                "\"dtype\": \"float32\", \"shape\": [2], \"data\": [0.5, -0.5]",
                "\"npy\": \"../../etc/b.npy\"",
            ),
            "must be relative and inside the graph's folder",
        ),
        (
            "unknown_op",
            good.replace("LeakyRelu", "Frobnicate"),
            "node 'act' (Frobnicate): op 'Frobnicate' is not supported",
        ),
        (
            "bad_attr",
            good.replace("\"alpha\": 1", "\"alpha\": [\"a\", 1]"),
            "node 'act' attribute 'alpha': an attribute is a number, string, list or tensor",
        ),
    ];
    for (name, text, expected) in cases {
        let p = dir.path().join(format!("{name}.json"));
        std::fs::write(&p, text).unwrap();
        let target = dir.path().join(format!("{name}.mlir"));
        let out = run(
            FUSER,
            &["import", &p.to_string_lossy(), "-o", &target.to_string_lossy()],
        );
        assert_eq!(out.code, Some(1), "{name}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{name}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("{name}.json")) && out.stderr.contains(expected),
            "{name}: {}",
            out.stderr
        );
        assert!(!target.exists());
    }
}

#[test]
fn imported_graphs_export_to_onnx_that_runs_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let graph = r#"{"format": "fuser-graph", "version": 1, "opset": 17,
        "inputs": [{"name": "x", "dtype": "float32", "shape": [2, 3]}], "outputs": [{"name": "y"}, {"name": "x_again"}],
        "weights": [{"name": "w", "dtype": "float32", "shape": [3, 2], "data": [0.5, -1.5, 2.0, 0.25, -0.75, 1.0]}],
        "nodes": [{"name": "mm", "op": "MatMul", "inputs": ["x", "w"], "outputs": ["m"]},
                  {"name": "gemm", "op": "Gemm", "inputs": ["m", "w"], "outputs": ["g"], "attrs": {"transB": 1, "alpha": 0.5}},
                  {"name": "act", "op": "Softmax", "inputs": ["g"], "outputs": ["y"], "attrs": {"axis": 0}},
                  {"name": "same", "op": "Identity", "inputs": ["x"], "outputs": ["x_again"]}]}"#;
    let json = dir.path().join("graph.json");
    std::fs::write(&json, graph).unwrap();
    let onnx = dir.path().join("graph.onnx");
    let out = run(
        FUSER,
        &["import", &json.to_string_lossy(), "-o", &onnx.to_string_lossy()],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let from_json = run(
        FUSER,
        &[
            "run",
            &json.to_string_lossy(),
            "--random-inputs",
            "--output-dir",
            &a.to_string_lossy(),
        ],
    );
    assert_eq!(from_json.code, Some(0), "{}", from_json.stderr);
    let input = format!("x={}", a.join("input_0.npy").display());
    let from_onnx = run(
        FUSER,
        &[
            "run",
            &onnx.to_string_lossy(),
            "--input",
            &input,
            "--output-dir",
            &b.to_string_lossy(),
        ],
    );
    assert_eq!(from_onnx.code, Some(0), "{}", from_onnx.stderr);
    for output in ["output_0.npy", "output_1.npy"] {
        assert_eq!(
            std::fs::read(a.join(output)).unwrap(),
            std::fs::read(b.join(output)).unwrap(),
            "{output}"
        );
    }
    // fuser quantize writes .onnx or .mlir and nothing else.
    let wrong = dir.path().join("quantized.txt");
    let out = run(
        FUSER,
        &[
            "quantize",
            &json.to_string_lossy(),
            "--type",
            "bf16",
            "-o",
            &wrong.to_string_lossy(),
        ],
    );
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("must be OUT.onnx or OUT.mlir"), "{}", out.stderr);
    assert!(!wrong.exists());
}

#[test]
fn shape_derived_subgraphs_fold_at_import() {
    // x.view(x.size(0), -1), as PyTorch exports it: Shape -> Gather -> Unsqueeze -> Concat -> Reshape.
    let dir = tempfile::tempdir().unwrap();
    let model = r#"{"format": "fuser-graph", "version": 1, "opset": 17,
        "inputs": [{"name": "x", "dtype": "float32", "shape": [2, 3, 4]}], "outputs": [{"name": "y"}],
        "nodes": [
          {"op": "Shape", "inputs": ["x"], "outputs": ["s"]},
          {"op": "Constant", "inputs": [], "outputs": ["zero"], "attrs": {"value": {"dtype": "int64", "shape": [], "data": [0]}}},
          {"op": "Gather", "inputs": ["s", "zero"], "outputs": ["n"], "attrs": {"axis": 0}},
          {"op": "Constant", "inputs": [], "outputs": ["axes"], "attrs": {"value": {"dtype": "int64", "shape": [1], "data": [0]}}},
          {"op": "Unsqueeze", "inputs": ["n", "axes"], "outputs": ["n1"]},
          {"op": "Constant", "inputs": [], "outputs": ["rest"], "attrs": {"value": {"dtype": "int64", "shape": [1], "data": [-1]}}},
          {"op": "Concat", "inputs": ["n1", "rest"], "outputs": ["target"], "attrs": {"axis": 0}},
          {"name": "view", "op": "Reshape", "inputs": ["x", "target"], "outputs": ["y"]}
        ]}"#;
    let path = dir.path().join("view.json");
    std::fs::write(&path, model).unwrap();
    let out = dir.path().join("view.mlir");
    let result = run(
        FUSER,
        &["import", &path.to_string_lossy(), "-o", &out.to_string_lossy()],
    );
    assert_eq!(result.code, Some(0), "{}", result.stderr);
    let text = std::fs::read_to_string(&out).unwrap();
    for folded in ["graph.shape", "graph.gather", "graph.unsqueeze", "graph.concat"] {
        assert!(!text.contains(folded), "{folded} should fold:\n{text}");
    }
    assert!(text.contains("dense<[2, -1]> : tensor<2xi64>"), "{text}");
    assert!(text.contains("-> tensor<2x12xf32>"), "{text}");
}

/// `fuser compile` writes a shared library and header that the C example in
/// docs/examples/c links and runs; its output matches the reference evaluator.
#[test]
fn c_example_runs_a_compiled_shared_library() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let library = dir.path().join("model.so");
    let model = root.join("testdata/json/mlp.json");
    let out = run(
        FUSER,
        &[
            "compile",
            model.to_str().unwrap(),
            "--shape",
            "features=2x8",
            "-o",
            library.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(dir.path().join("model.h").exists());
    let program = dir.path().join("run_model");
    let compiler = ["cc", "clang-22", "clang"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok())
        .expect("a C compiler (make setup installs clang-22)");
    let built = Command::new(compiler)
        .arg(root.join("docs/examples/c/run_model.c"))
        .arg(format!("-I{}", dir.path().display()))
        .arg("-o")
        .arg(&program)
        .arg(&library)
        .arg(format!("-Wl,-rpath,{}", dir.path().display()))
        .arg("-lm")
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    // The same non-trivial input for both: raw floats for C, .npy for fuser run.
    let values: Vec<f32> = (0..16).map(|i| ((i as f32) * 0.37).sin() * 2.0 - 0.3).collect();
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.path().join("input.f32"), raw).unwrap();
    let array = ndarray::Array2::from_shape_vec((2, 8), values).unwrap();
    ndarray_npy::write_npy(dir.path().join("input.npy"), &array).unwrap();
    let ran = Command::new(&program)
        .arg(dir.path().join("input.f32"))
        .arg(dir.path().join("output.f32"))
        .output()
        .unwrap();
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let bytes = std::fs::read(dir.path().join("output.f32")).unwrap();
    let ours: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let reference_dir = dir.path().join("reference");
    let input_arg = format!("features={}", dir.path().join("input.npy").display());
    let out = run(
        FUSER,
        &[
            "run",
            model.to_str().unwrap(),
            "--input",
            &input_arg,
            "--output-dir",
            reference_dir.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let expected: ndarray::Array2<f32> = ndarray_npy::read_npy(reference_dir.join("output_0.npy")).unwrap();
    assert_eq!(ours.len(), expected.len());
    for (a, e) in ours.iter().zip(expected.iter()) {
        assert!((a - e).abs() <= 1e-5 + 1e-4 * e.abs(), "{a} vs {e}");
    }
    // Not a constant output: the softmax rows differ.
    assert!(ours.iter().any(|v| (v - ours[0]).abs() > 1e-3));
}

/// A second `fuser bench`/`fuser run --target cpu` of the same model loads it from the
/// cache; the cached code gives the same outputs as a fresh compile (`--no-cache`).
#[test]
fn compiled_models_are_cached_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/json/mlp.json");
    let model = model.to_str().unwrap();
    let bench = |extra: &[&str]| {
        let mut args = vec![
            "bench",
            model,
            "--shape",
            "features=2x8",
            "--iterations",
            "2",
            "--warmup",
            "0",
        ];
        args.extend(extra);
        let out = Command::new(FUSER)
            .args(&args)
            .env("FUSER_CACHE_DIR", &cache)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
        serde_json::from_str::<serde_json::Value>(&line).unwrap()
    };
    assert_eq!(bench(&[])["cached"], false);
    let entries = std::fs::read_dir(&cache).unwrap().count();
    assert_eq!(entries, 2, "one library and its description");
    assert_eq!(bench(&[])["cached"], true);
    assert_eq!(bench(&["--no-cache"])["cached"], false);
    // A different shape is a different entry.
    let mut args = vec![
        "bench",
        model,
        "--shape",
        "features=3x8",
        "--iterations",
        "1",
        "--warmup",
        "0",
    ];
    args.push("--threads");
    args.push("1");
    let out = Command::new(FUSER)
        .args(&args)
        .env("FUSER_CACHE_DIR", &cache)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 4);
    // Cached and fresh code agree.
    let run = |name: &str, extra: &[&str]| {
        let out_dir = dir.path().join(name);
        let mut args = vec![
            "run",
            model,
            "--shape",
            "features=2x8",
            "--target",
            "cpu",
            "--random-inputs",
            "--seed",
            "4",
        ];
        args.extend(["--output-dir", out_dir.to_str().unwrap()]);
        args.extend(extra);
        let out = Command::new(FUSER)
            .args(&args)
            .env("FUSER_CACHE_DIR", &cache)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::read(out_dir.join("output_0.npy")).unwrap()
    };
    assert_eq!(run("cached", &[]), run("fresh", &["--no-cache"]));
}

/// `fuser bench --profile` times every kernel, and the time outside them is what is left of
/// the same runs: never negative, and the kernels' shares add up to at most the whole.
#[test]
fn bench_profile_splits_the_runs() {
    let dir = tempfile::tempdir().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/json/mlp.json");
    let out = Command::new(FUSER)
        .args([
            "bench",
            model.to_str().unwrap(),
            "--shape",
            "features=2x8",
            "--iterations",
            "5",
            "--warmup",
            "1",
            "--profile",
        ])
        .env("FUSER_CACHE_DIR", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let result: serde_json::Value = serde_json::from_str(&line).unwrap();
    let kernels = result["kernels"].as_array().expect("kernels with --profile");
    assert!(!kernels.is_empty());
    let share: f64 = kernels.iter().map(|k| k["percent"].as_f64().unwrap()).sum();
    assert!(
        share > 0.0 && share <= 100.0 + 1e-6,
        "kernels take {share}% of the runs"
    );
    assert!(result["outside_kernels_ms"].as_f64().unwrap() >= 0.0);
    let table = String::from_utf8_lossy(&out.stderr);
    assert!(table.contains("(outside kernels"), "{table}");
}

/// `fuser bench --ab` times as many runs of each half, reports both medians, the pairs'
/// median ratio and B's distance from A, compiles afresh even when the model is cached, and
/// refuses `--profile`.
#[test]
fn bench_ab_times_both_halves() {
    let dir = tempfile::tempdir().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/json/mlp.json");
    let bench = |extra: &[&str]| {
        let mut args = vec![
            "bench",
            model.to_str().unwrap(),
            "--shape",
            "features=2x8",
            "--iterations",
            "6",
            "--warmup",
            "1",
        ];
        args.extend(extra);
        Command::new(FUSER)
            .args(args)
            .env("FUSER_CACHE_DIR", dir.path())
            .output()
            .unwrap()
    };
    // A first run stores the model in the cache; --ab never loads it from there (a cached
    // library has its own copy of the runtime, whose switch bench cannot reach).
    assert!(bench(&[]).status.success());
    for _ in 0..2 {
        let out = bench(&["--ab"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let result: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
        let ab = &result["ab"];
        let [a, b, ratio] = ["a_median_ms", "b_median_ms", "ratio"].map(|k| ab[k].as_f64().unwrap());
        assert!(a > 0.0 && b > 0.0 && ratio > 0.0, "{ab}");
        // No experiment is under way: both halves compute the same outputs.
        assert_eq!(ab["b_rel_l2"].as_f64(), Some(0.0));
        // The JSON's own figures are A's runs.
        assert_eq!(result["median_ms"].as_f64().unwrap(), a);
        assert_eq!(result["iterations"], 6);
        assert_eq!(result["cached"], false);
    }
    let refused = bench(&["--ab", "--profile"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--profile"));
}

/// `--compare-with reference` lists every kernel with its error against the evaluator.
#[test]
fn compare_with_reference_reports_every_kernel() {
    let dir = tempfile::tempdir().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/json/mlp.json");
    let out_dir = dir.path().join("out");
    let out = run(
        FUSER,
        &[
            "run",
            model.to_str().unwrap(),
            "--shape",
            "features=2x8",
            "--target",
            "cpu",
            "--compare-with",
            "reference",
            "--random-inputs",
            "--output-dir",
            out_dir.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // The two Gemm kernels (each with its epilogue) and the softmax.
    for kernel in ["mlp_k0_gemm", "mlp_k1_gemm", "mlp_k2_softmax"] {
        assert!(out.stdout.contains(kernel), "{kernel} missing from:\n{}", out.stdout);
    }
    assert!(out.stdout.contains("every kernel is within"), "{}", out.stdout);
    assert!(out_dir.join("output_0.npy").exists());
}

/// Threads split outputs, never reductions: outputs are bitwise the same for any count.
#[test]
fn cpu_results_do_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    // The outputs of `model` run with 1 and with 2 threads.
    let outputs_by_threads = |model: &str, extra: &[&str], outputs: usize| -> Vec<Vec<Vec<u8>>> {
        ["1", "2"]
            .iter()
            .map(|threads| {
                let out_dir = dir
                    .path()
                    .join(format!("{}-{threads}", Path::new(model).display()).replace('/', "_"));
                let mut args = vec!["run", model];
                args.extend(extra);
                let out_dir_text = out_dir.to_string_lossy().into_owned();
                args.extend([
                    "--target",
                    "cpu",
                    "--no-cache",
                    "--threads",
                    threads,
                    "--random-inputs",
                    "--output-dir",
                    &out_dir_text,
                ]);
                let out = run(FUSER, &args);
                assert_eq!(out.code, Some(0), "{}", out.stderr);
                (0..outputs)
                    .map(|i| std::fs::read(out_dir.join(format!("output_{i}.npy"))).unwrap())
                    .collect()
            })
            .collect()
    };
    let mlp = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/json/mlp.json");
    let outputs = outputs_by_threads(&mlp.to_string_lossy(), &["--shape", "features=64x8"], 1);
    assert_eq!(outputs[0], outputs[1]);
    // Products split by head, a row softmax and a depthwise conv: the other runtime
    // kernels that take threads.
    let weights: Vec<String> = (0..72)
        .map(|i| format!("{:.4}", ((i * 7) % 11) as f32 / 7.0 - 0.7))
        .collect();
    let heads = write(
        dir.path(),
        "heads.json",
        &r#"{"format": "fuser-graph", "version": 1, "name": "heads", "opset": 20,
  "inputs": [{"name": "q", "dtype": "float32", "shape": [4, 24, 16]}, {"name": "k", "dtype": "float32", "shape": [4, 16, 24]},
             {"name": "x", "dtype": "float32", "shape": [1, 8, 20, 20]}],
  "outputs": [{"name": "p"}, {"name": "y"}],
  "weights": [{"name": "w", "dtype": "float32", "shape": [8, 1, 3, 3], "data": [WEIGHTS]}],
  "nodes": [
    {"name": "scores", "op": "MatMul", "inputs": ["q", "k"], "outputs": ["s"]},
    {"name": "softmax", "op": "Softmax", "inputs": ["s"], "outputs": ["p"], "attrs": {"axis": -1}},
    {"name": "depthwise", "op": "Conv", "inputs": ["x", "w"], "outputs": ["y"],
     "attrs": {"group": 8, "kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2]}}
  ]}"#
            .replace("WEIGHTS", &weights.join(", ")),
    );
    let outputs = outputs_by_threads(&heads, &[], 2);
    assert_eq!(outputs[0], outputs[1]);
}

#[test]
fn cpu_runs_specialize_on_input_values_that_shapes_depend_on() {
    // A Reshape whose target shape is an input: no static compile exists, so `fuser run`
    // compiles for the values it is given, and never reuses that code for other values.
    let dir = tempfile::tempdir().unwrap();
    let model = write(
        dir.path(),
        "reshape.mlir",
        r#"func.func @f(%x: tensor<4x6xf32> {graph.name = "x"}, %s: tensor<2xi64> {graph.name = "s"}) -> (tensor<?x?xf32> {graph.name = "y"}) {
  %0 = "graph.reshape"(%x, %s) {allowzero = 0 : i64} : (tensor<4x6xf32>, tensor<2xi64>) -> tensor<?x?xf32>
  %1 = "graph.relu"(%0) : (tensor<?x?xf32>) -> tensor<?x?xf32>
  return %1 : tensor<?x?xf32>
}
"#,
    );
    let x = dir.path().join("x.npy");
    // 24 values: more than are ever specialized, so x stays an input and Relu a kernel.
    let values: Vec<f32> = (0..24).map(|i| (i as f32 - 11.5) * 0.37).collect();
    ndarray_npy::write_npy(&x, &ndarray::Array2::from_shape_vec((4, 6), values).unwrap()).unwrap();
    let cache = dir.path().join("cache");
    for (name, shape) in [("a", [6i64, 4]), ("b", [4, 6]), ("c", [6, 4])] {
        let s = dir.path().join(format!("s_{name}.npy"));
        ndarray_npy::write_npy(&s, &ndarray::arr1(&shape)).unwrap();
        let inputs = [format!("x={}", x.display()), format!("s={}", s.display())];
        let mut outputs = Vec::new();
        for target in ["reference", "cpu"] {
            let out_dir = dir.path().join(format!("{name}_{target}"));
            let out = Command::new(FUSER)
                .args([
                    "run",
                    &model,
                    "--target",
                    target,
                    "--output-dir",
                    &out_dir.to_string_lossy(),
                ])
                .args(["--input", &inputs[0], "--input", &inputs[1]])
                .env("FUSER_CACHE_DIR", &cache)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
            let y: ndarray::ArrayD<f32> = ndarray_npy::read_npy(out_dir.join("output_0.npy")).unwrap();
            assert_eq!(y.shape(), [shape[0] as usize, shape[1] as usize]);
            outputs.push(y);
        }
        assert_eq!(outputs[0], outputs[1], "cpu and reference differ for shape {shape:?}");
    }
    // Kernel by kernel beside the reference, specialized the same way.
    let compared = dir.path().join("compared");
    let out = run(
        FUSER,
        &[
            "run",
            &model,
            "--target",
            "cpu",
            "--compare-with",
            "reference",
            "--output-dir",
            &compared.to_string_lossy(),
            "--input",
            &format!("x={}", x.display()),
            "--input",
            &format!("s={}", dir.path().join("s_a.npy").display()),
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("relu") && out.stdout.contains("every kernel is within"),
        "{}",
        out.stdout
    );
    let y: ndarray::ArrayD<f32> = ndarray_npy::read_npy(dir.path().join("compared/output_0.npy")).unwrap();
    assert_eq!(y.shape(), [6, 4]);
}

#[test]
fn uint8_ops_on_the_cpu_are_unsigned() {
    // Values of 128 and more are negative as signed bytes: division, remainder,
    // comparisons, max/min and casts must treat them as unsigned, like the evaluator.
    let dir = tempfile::tempdir().unwrap();
    let model = write(
        dir.path(),
        "u8.json",
        r#"{"format": "fuser-graph", "version": 1, "name": "u8", "opset": 20,
  "inputs": [{"name": "a", "dtype": "uint8", "shape": [8]}, {"name": "b", "dtype": "uint8", "shape": [8]}],
  "outputs": [{"name": "q"}, {"name": "r"}, {"name": "g"}, {"name": "l"}, {"name": "hi"}, {"name": "lo"}, {"name": "f"}, {"name": "d"}],
  "nodes": [
    {"name": "div", "op": "Div", "inputs": ["a", "b"], "outputs": ["q"]},
    {"name": "mod", "op": "Mod", "inputs": ["a", "b"], "outputs": ["r"]},
    {"name": "greater", "op": "Greater", "inputs": ["a", "b"], "outputs": ["g"]},
    {"name": "less", "op": "Less", "inputs": ["a", "b"], "outputs": ["l"]},
    {"name": "max", "op": "Max", "inputs": ["a", "b"], "outputs": ["hi"]},
    {"name": "min", "op": "Min", "inputs": ["a", "b"], "outputs": ["lo"]},
    {"name": "cast", "op": "Cast", "inputs": ["a"], "outputs": ["f"], "attrs": {"to": 1}},
    {"name": "sub", "op": "Sub", "inputs": ["a", "b"], "outputs": ["d"]}
  ]}"#,
    );
    let (a, b) = (dir.path().join("a.npy"), dir.path().join("b.npy"));
    ndarray_npy::write_npy(&a, &ndarray::arr1(&[200u8, 255, 129, 7, 128, 0, 90, 250])).unwrap();
    ndarray_npy::write_npy(&b, &ndarray::arr1(&[3u8, 128, 200, 130, 1, 9, 255, 0])).unwrap();
    let mut outputs = Vec::new();
    for target in ["reference", "cpu"] {
        let out_dir = dir.path().join(target);
        let out = Command::new(FUSER)
            .args([
                "run",
                &model,
                "--target",
                target,
                "--no-cache",
                "--output-dir",
                &out_dir.to_string_lossy(),
            ])
            .args([
                "--input",
                &format!("a={}", a.display()),
                "--input",
                &format!("b={}", b.display()),
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        outputs.push(
            (0..8)
                .map(|i| std::fs::read(out_dir.join(format!("output_{i}.npy"))).unwrap())
                .collect::<Vec<_>>(),
        );
    }
    for (i, (reference, cpu)) in outputs[0].iter().zip(&outputs[1]).enumerate() {
        assert_eq!(reference, cpu, "output {i} differs between reference and cpu");
    }
    // And the reference is unsigned: 200 / 3 = 66, 255 > 128.
    let q: ndarray::Array1<u8> = ndarray_npy::read_npy(dir.path().join("reference/output_0.npy")).unwrap();
    assert_eq!(q[0], 66);
    let g: ndarray::Array1<bool> = ndarray_npy::read_npy(dir.path().join("reference/output_2.npy")).unwrap();
    assert!(g[1]);
}
