//! Generates the upstream half of `--list-passes` from `mlir-opt-22 --list-passes`: the C
//! API can neither register an external pass by name nor list registered passes.

use std::{env, fs, path::Path, process::Command};

fn main() {
    let prefix = env::var("MLIR_SYS_220_PREFIX").unwrap_or_else(|_| "/usr/lib/llvm-22".into());
    let mlir_opt = Path::new(&prefix).join("bin/mlir-opt");
    println!("cargo:rerun-if-changed={}", mlir_opt.display());
    println!("cargo:rerun-if-env-changed=MLIR_SYS_220_PREFIX");
    let output = Command::new(&mlir_opt)
        .arg("--list-passes")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} (install mlir-22-tools: `make setup`): {e}",
                mlir_opt.display()
            )
        });
    assert!(output.status.success(), "mlir-opt --list-passes failed");
    let text = String::from_utf8_lossy(&output.stdout);
    // Lines look like `  --canonicalize   -   Canonicalize operations`; options are
    // indented further and also start with `--`: keep only the 2-space pass lines.
    let mut entries = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("  --") else {
            continue;
        };
        if line.starts_with("   ") {
            continue;
        }
        let (name, summary) = match rest.split_once(" - ") {
            Some((n, s)) => (n.trim().to_string(), s.trim().to_string()),
            None => (rest.trim().to_string(), String::new()),
        };
        entries.push(format!("    ({name:?}, {summary:?}),"));
    }
    assert!(entries.len() > 100, "unexpected mlir-opt --list-passes output");
    // Registered pass pipelines (`buffer-deallocation-pipeline`, ...) are listed only by
    // `--help`, under "Pass Pipelines:", at 6 spaces.
    let help = Command::new(&mlir_opt).arg("--help").output().expect("mlir-opt --help");
    let help = String::from_utf8_lossy(&help.stdout);
    let mut in_pipelines = false;
    for line in help.lines() {
        if line.trim() == "Pass Pipelines:" {
            in_pipelines = true;
            continue;
        }
        if in_pipelines {
            let Some(rest) = line.strip_prefix("      --") else {
                if !line.starts_with("        ") {
                    break;
                }
                continue;
            };
            if let Some((name, summary)) = rest.split_once(" - ") {
                let summary = summary.trim().split(". ").next().unwrap_or_default();
                entries.push(format!("    ({:?}, {:?}),", name.trim(), summary));
            }
        }
    }
    let out = format!(
        "/// Upstream MLIR passes (flag, summary), from `mlir-opt-22 --list-passes` at build time.\npub static UPSTREAM_PASSES: &[(&str, &str)] = &[\n{}\n];\n",
        entries.join("\n")
    );
    fs::write(Path::new(&env::var("OUT_DIR").unwrap()).join("upstream_passes.rs"), out).unwrap();
}
