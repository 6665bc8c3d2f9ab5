//! Where the CUDA tools fuser uses without a GPU live: libdevice (the math functions
//! kernels link) and ptxas (which checks PTX and reports each kernel's registers).

use std::path::{Path, PathBuf};

/// The folders that may hold a CUDA toolkit, in order: `$FUSER_CUDA_TOOLKIT`,
/// `$CUDA_HOME`, `$CUDA_PATH`, `/usr/local/cuda`, then the `nvidia-cuda-nvcc-cu12` wheel
/// in the project's `.venv` (which `make setup` installs).
fn candidates() -> Vec<PathBuf> {
    let mut candidates: Vec<PathBuf> = ["FUSER_CUDA_TOOLKIT", "CUDA_HOME", "CUDA_PATH"]
        .iter()
        .filter_map(|v| std::env::var_os(v).map(Into::into))
        .collect();
    candidates.push("/usr/local/cuda".into());
    // The wheel, from the repository root: the executable is in target/<profile>/.
    if let Some(root) = std::env::current_exe()
        .ok()
        .and_then(|e| Some(e.parent()?.parent()?.parent()?.to_path_buf()))
        && let Ok(entries) = std::fs::read_dir(root.join(".venv/lib"))
    {
        for entry in entries.flatten() {
            candidates.push(entry.path().join("site-packages/nvidia/cuda_nvcc"));
        }
    }
    candidates
}

/// A toolkit folder with libdevice (`nvvm/libdevice/libdevice.10.bc`), which kernels
/// using math functions (exp, erf, sqrt: `__nv_expf`...) link.
pub fn cuda_toolkit() -> Option<PathBuf> {
    let has_libdevice = |dir: &Path| dir.join("nvvm/libdevice/libdevice.10.bc").is_file();
    candidates().into_iter().find(|dir| has_libdevice(dir))
}

/// `ptxas`: on the PATH, else in a toolkit folder's `bin`.
pub fn ptxas() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("ptxas");
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    candidates()
        .into_iter()
        .map(|dir| dir.join("bin/ptxas"))
        .find(|p| p.is_file())
}
