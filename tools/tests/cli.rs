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
    let out = run(OPT, &[&input, "--pass-pipeline=builtin.module(func.func(graph-simplify,canonicalize,cse))"]);
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
        assert!(matches!(out.code, Some(0) | Some(1)), "case {i}: {:?} {}", out.code, out.stderr);
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
    assert!(missing.stderr.contains("cannot read '/nonexistent/in.mlir'"), "{}", missing.stderr);
    assert_eq!(run(OPT, &["--no-such-flag"]).code, Some(2));
    let help = run(OPT, &["--help"]);
    assert_eq!(help.code, Some(0));
    for flag in ["--pass-pipeline", "--split-input-file", "--verify-diagnostics", "--mlir-print-ir-after-all", "--mlir-timing", "--list-passes", "--verify-each", "--mlir-print-debuginfo", "--<pass>"] {
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
