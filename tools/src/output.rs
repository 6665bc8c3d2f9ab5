//! Writing results: atomically (temp file + rename) for regular files, so a failure
//! never leaves a partial output; directly for `-`, `/dev/null` and other special files.

use std::{io::Write, path::Path};

/// Writes `bytes` to `path` (`-` is stdout).
pub fn write_output(path: &str, bytes: &[u8]) -> Result<(), String> {
    if path == "-" {
        let mut stdout = std::io::stdout().lock();
        return stdout
            .write_all(bytes)
            .and_then(|_| stdout.flush())
            .map_err(|e| format!("cannot write stdout: {e}"));
    }
    let target = Path::new(path);
    if let Ok(meta) = std::fs::metadata(target)
        && !meta.is_file()
    {
        return std::fs::write(target, bytes).map_err(|e| format!("cannot write '{path}': {e}"));
    }
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| format!("cannot create a temporary file in '{}': {e}", dir.display()))?;
    temp.write_all(bytes)
        .map_err(|e| format!("cannot write '{path}': {e}"))?;
    // A temporary file is private (0600); the result is an ordinary file (0644).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(|e| format!("cannot write '{path}': {e}"))?;
    }
    temp.persist(target)
        .map_err(|e| format!("cannot write '{path}': {}", e.error))?;
    Ok(())
}

/// Writes `files` (paths relative to the directory) as directory `path`, all or nothing:
/// they go into a temporary directory beside it, which then takes its place. An existing
/// `path` is replaced only when it is empty or holds `marker` (a file an earlier run
/// wrote), so a directory of other files is never deleted; the old one is moved aside
/// first and put back if the new one cannot take its place.
pub fn write_directory(path: &str, files: &[(String, Vec<u8>)], marker: &str) -> Result<(), String> {
    let target = Path::new(path);
    if let Ok(meta) = std::fs::symlink_metadata(target) {
        if !meta.is_dir() {
            return Err(format!("'{path}' exists and is not a directory"));
        }
        let mut entries = std::fs::read_dir(target).map_err(|e| format!("cannot read '{path}': {e}"))?;
        if entries.next().is_some() && !target.join(marker).is_file() {
            return Err(format!(
                "'{path}' is a directory that fuser did not write (it has no {marker}); give a new or empty directory"
            ));
        }
    }
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = tempfile::Builder::new()
        .prefix(".fuser-output-")
        .tempdir_in(parent)
        .map_err(|e| format!("cannot create a temporary directory in '{}': {e}", parent.display()))?;
    for (name, bytes) in files {
        let file = temp.path().join(name);
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot write '{path}/{name}': {e}"))?;
        }
        std::fs::write(&file, bytes).map_err(|e| format!("cannot write '{path}/{name}': {e}"))?;
    }
    // A temporary directory is private (0700); the result is an ordinary one (0755).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("cannot write '{path}': {e}"))?;
    }
    let old = if target.exists() {
        let aside = tempfile::Builder::new()
            .prefix(".fuser-old-")
            .tempdir_in(parent)
            .map_err(|e| format!("cannot replace '{path}': {e}"))?
            .keep();
        let aside = aside.join("old");
        std::fs::rename(target, &aside).map_err(|e| format!("cannot replace '{path}': {e}"))?;
        Some(aside)
    } else {
        None
    };
    let fresh = temp.keep();
    if let Err(e) = std::fs::rename(&fresh, target) {
        let _ = std::fs::remove_dir_all(&fresh);
        if let Some(aside) = &old {
            let _ = std::fs::rename(aside, target);
        }
        return Err(format!("cannot write '{path}': {e}"));
    }
    if let Some(aside) = old
        && let Some(holder) = aside.parent()
    {
        let _ = std::fs::remove_dir_all(holder);
    }
    Ok(())
}
