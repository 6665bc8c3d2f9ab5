//! Reading input files and `--split-input-file`.

use std::io::Read;

/// The marker between independent buffers, as in mlir-opt.
pub const SPLIT_MARKER: &str = "// -----";

/// Reads `path`, or stdin for `-`. Returns (name used in locations, text).
pub fn read_input(path: &str) -> Result<(String, String), String> {
    if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        Ok(("<stdin>".to_string(), text))
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read '{path}': {e}"))?;
        Ok((path.to_string(), text))
    }
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
