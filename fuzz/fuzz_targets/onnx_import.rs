#![no_main]
//! Any bytes given to the ONNX importer give a model or an error, never a panic.

mod common;

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    // External data is resolved inside an empty folder, so the fuzzer cannot reach files.
    if let Ok(graph) = fuser_frontends::onnx::parse_model(data, "fuzz.onnx", Path::new("/nonexistent-fuzz-dir")) {
        common::import(&graph);
    }
});
