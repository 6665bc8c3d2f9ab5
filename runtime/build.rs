//! A fingerprint of the runtime's sources, so that `fuser compile` can tell a
//! `libfuser_runtime.a` built from other sources than its own copy of the runtime (the
//! calling conventions of generated code and runtime must match).

use std::hash::{Hash, Hasher};

fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("the runtime's sources")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=src");
    let mut files = Vec::new();
    sources(std::path::Path::new("src"), &mut files);
    // `DefaultHasher::new()` has fixed keys: the same sources give the same fingerprint.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for file in &files {
        file.hash(&mut hasher);
        std::fs::read(file).expect("a source file").hash(&mut hasher);
    }
    println!("cargo:rustc-env=FUSER_RUNTIME_FINGERPRINT={:016x}", hasher.finish());
}
