#![no_main]
//! Any text given to the JSON graph importer gives a model or an error, never a panic.

mod common;

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(graph) = fuser_frontends::json::parse_graph(text, "fuzz.json", Path::new("/nonexistent-fuzz-dir")) {
        common::import(&graph);
    }
});
