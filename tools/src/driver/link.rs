//! Linking compiled model code into a shared library with fuser's runtime
//! (`libfuser_runtime.a`), through the system's C compiler driver.

use crate::output::write_output;
use std::path::{Path, PathBuf};

/// The static runtime library linked into every shared library (`libfuser_runtime.a`),
/// looked for beside the running `fuser` binary.
pub(crate) fn runtime_library() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe.parent().ok_or("the fuser binary has no folder")?;
    for candidate in [dir.join("libfuser_runtime.a"), dir.join("../libfuser_runtime.a")] {
        if candidate.exists() {
            check_fingerprint(&candidate)?;
            return Ok(candidate);
        }
    }
    Err(format!(
        "libfuser_runtime.a is not beside {} (build it with `cargo build --release -p fuser-runtime`)",
        exe.display()
    ))
}

/// Refuses a runtime library built from other sources than this binary's runtime: the
/// code fuser generates calls the runtime's entry points as this build defines them.
fn check_fingerprint(library: &Path) -> Result<(), String> {
    let bytes = std::fs::read(library).map_err(|e| format!("cannot read {}: {e}", library.display()))?;
    let marker = fuser_runtime::FINGERPRINT.as_bytes();
    if bytes.windows(marker.len()).any(|w| w == marker) {
        return Ok(());
    }
    Err(format!(
        "{} was built from other runtime sources than this fuser binary (rebuild both: `make build`, or `cargo build --release -p fuser-runtime --lib`)",
        library.display()
    ))
}

/// Links `objects` and the runtime into a shared library at `output` (atomically) that
/// exports the symbols `exports` only.
pub fn link_shared_library(objects: &[Vec<u8>], output: &Path, exports: &[&str]) -> Result<(), String> {
    let runtime = runtime_library()?;
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut object_paths = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        let path = work.path().join(format!("model{i}.o"));
        std::fs::write(&path, object).map_err(|e| e.to_string())?;
        object_paths.push(path);
    }
    // The linker writes straight into a temporary file beside the output, renamed into
    // place at the end, unless the output is not a regular file (then it is copied).
    let output_dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let in_place = std::fs::metadata(output).map_or(true, |m| m.is_file());
    let beside = match in_place {
        true => Some(
            tempfile::Builder::new()
                .suffix(".so")
                .tempfile_in(output_dir)
                .map_err(|e| format!("cannot create a temporary file in '{}': {e}", output_dir.display()))?,
        ),
        false => None,
    };
    let library = beside
        .as_ref()
        .map_or_else(|| work.path().join("model.so"), |t| t.path().to_path_buf());
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
    let link = |extra: &[&str]| {
        std::process::Command::new(linker)
            .arg("-shared")
            .args(extra)
            .arg("-o")
            .arg(&library)
            .args(&object_paths)
            .arg(&runtime)
            .arg(format!("-Wl,--version-script={}", exports_file.display()))
            // Exports the object does not define (the runtime's) must still be pulled
            // from the archive.
            .args(exports.iter().map(|e| format!("-Wl,--undefined={e}")))
            .args(["-Wl,--gc-sections", "-Wl,-z,defs", "-lm", "-lpthread", "-ldl", "-lc"])
            .output()
            .map_err(|e| format!("cannot run {linker}: {e}"))
    };
    // LLVM's lld where the driver finds it: several times faster than the system
    // linker on a model's weights. Otherwise the driver's default linker.
    let mut status = link(&["-fuse-ld=lld"])?;
    if !status.status.success() {
        status = link(&[])?;
    }
    if !status.status.success() {
        return Err(format!("linking failed: {}", String::from_utf8_lossy(&status.stderr)));
    }
    match beside {
        Some(temp) => {
            // A temporary file is private (0600); the result is an ordinary file (0644).
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o644))
                    .map_err(|e| format!("cannot write '{}': {e}", output.display()))?;
            }
            temp.persist(output)
                .map_err(|e| format!("cannot write '{}': {}", output.display(), e.error))?;
            Ok(())
        }
        None => {
            let bytes = std::fs::read(&library).map_err(|e| e.to_string())?;
            write_output(&output.display().to_string(), &bytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_fingerprint;

    /// A runtime library is taken only if it carries this build's marker.
    #[test]
    fn runtime_libraries_of_other_sources_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (ours, other) = (dir.path().join("ours.a"), dir.path().join("other.a"));
        let mut bytes = b"!<arch>\n...".to_vec();
        bytes.extend(fuser_runtime::FINGERPRINT.as_bytes());
        bytes.extend(b"...");
        std::fs::write(&ours, &bytes).unwrap();
        std::fs::write(&other, b"!<arch>\nfuser-runtime-fingerprint:0000000000000000;").unwrap();
        assert!(check_fingerprint(&ours).is_ok());
        let error = check_fingerprint(&other).unwrap_err();
        assert!(error.contains("built from other runtime sources"), "{error}");
    }
}
