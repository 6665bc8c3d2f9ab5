//! Reading input files and `--split-input-file`.

use std::io::Read;

/// The marker between independent buffers, as in mlir-opt.
pub const SPLIT_MARKER: &str = "// -----";

/// Reads `path`, or stdin for `-`. Returns (name used in locations, bytes).
pub fn read_input(path: &str) -> Result<(String, Vec<u8>), String> {
    if path == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        Ok(("<stdin>".to_string(), bytes))
    } else {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read '{path}': {e}"))?;
        Ok((path.to_string(), bytes))
    }
}

/// The first bytes of every MLIR bytecode file.
const BYTECODE_MAGIC: &[u8] = b"ML\xefR";

/// The input as MLIR text: bytecode (as `fuser import -o m.mlirbc` writes) is parsed in
/// `context` and printed, as mlir-opt accepts either; anything else must be UTF-8.
pub fn input_text(context: &melior::Context, name: &str, bytes: Vec<u8>) -> Result<String, String> {
    if bytes.starts_with(BYTECODE_MAGIC) {
        let module = fuser_dialects::ffi::parse_module_bytes(context, &bytes)
            .ok_or_else(|| format!("'{name}' is not valid MLIR bytecode"))?;
        return Ok(module.as_operation().to_string());
    }
    String::from_utf8(bytes).map_err(|e| format!("'{name}' is neither MLIR text (UTF-8) nor MLIR bytecode: {e}"))
}

/// Splits `text` at lines that start with the marker. Each chunk is padded with the
/// newlines that precede it, so that locations keep the line numbers of the whole file.
pub fn split_chunks(text: &str) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut current = String::new();
    let mut chunk_start = 0usize;
    for (line_index, line) in text.split_inclusive('\n').enumerate() {
        if line.starts_with(SPLIT_MARKER) {
            chunks.push("\n".repeat(chunk_start) + &current);
            current.clear();
            chunk_start = line_index + 1;
        } else {
            current.push_str(line);
        }
    }
    chunks.push("\n".repeat(chunk_start) + &current);
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_keep_line_numbers() {
        let chunks = split_chunks("a\n// -----\nb\nc\n// -----\nd");
        assert_eq!(
            chunks,
            vec!["a\n".to_string(), "\n\nb\nc\n".to_string(), "\n\n\n\n\nd".to_string()]
        );
        assert_eq!(split_chunks("only"), vec!["only".to_string()]);
    }
}
