//! Linking compiled model code into a shared library with fuser's runtime
//! (`libfuser_runtime.a`), through the system's C compiler driver.

use crate::output::write_output;
use std::path::{Path, PathBuf};

/// The static runtime library linked into every shared library (`libfuser_runtime.a`),
/// looked for beside the running `fuser` binary.
fn runtime_library() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe.parent().ok_or("the fuser binary has no folder")?;
    for candidate in [dir.join("libfuser_runtime.a"), dir.join("../libfuser_runtime.a")] {
        if candidate.exists() {
            return Ok(candidate);
        }
    }
    Err(format!(
        "libfuser_runtime.a is not beside {} (build it with `cargo build --release -p fuser-runtime`)",
        exe.display()
    ))
}

/// Links `object` and the runtime into a shared library at `output` (atomically) that
/// exports the symbols `exports` only.
pub fn link_shared_library(object: &[u8], output: &Path, exports: &[&str]) -> Result<(), String> {
    let runtime = runtime_library()?;
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let object_path = work.path().join("model.o");
    std::fs::write(&object_path, object).map_err(|e| e.to_string())?;
    let library = work.path().join("model.so");
    let exports_file = work.path().join("exports.map");
    std::fs::write(
        &exports_file,
        format!("{{ global: {}; local: *; }};\n", exports.join("; ")),
    )
    .map_err(|e| e.to_string())?;
    let linker = ["clang-22", "clang", "cc"]
        .into_iter()
        .find(|l| std::process::Command::new(l).arg("--version").output().is_ok())
        .ok_or("no C compiler driver (clang-22, clang or cc) to link the shared library")?;
    let status = std::process::Command::new(linker)
        .arg("-shared")
        .arg("-o")
        .arg(&library)
        .arg(&object_path)
        .arg(&runtime)
        .arg(format!("-Wl,--version-script={}", exports_file.display()))
        // Exports the object does not define (the runtime's) must still be pulled from
        // the archive.
        .args(exports.iter().map(|e| format!("-Wl,--undefined={e}")))
        .args(["-Wl,--gc-sections", "-Wl,-z,defs", "-lm", "-lpthread", "-ldl", "-lc"])
        .output()
        .map_err(|e| format!("cannot run {linker}: {e}"))?;
    if !status.status.success() {
        return Err(format!("linking failed: {}", String::from_utf8_lossy(&status.stderr)));
    }
    let bytes = std::fs::read(&library).map_err(|e| e.to_string())?;
    write_output(&output.display().to_string(), &bytes)
}
