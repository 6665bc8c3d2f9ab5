//! Model importers into the graph dialect.
//!
//! Both frontends produce one frontend-neutral graph (`model`): ONNX through its protobuf
//! (`onnx`), and the JSON graph format, which uses ONNX's op and attribute names. The
//! normalizer (`normalize`) maps every supported ONNX op, at every opset from 6 on, to one
//! graph-op form; the emitter (`emit`) builds a verified `func.func` from it, typing
//! results with the graph ops' inference and folding static subgraphs with their
//! evaluator.

pub mod bytecode;
pub mod emit;
pub mod error;
pub mod export;
pub mod json;
pub mod model;
pub mod normalize;
pub mod npy;
pub mod numpy_random;
pub mod onnx;
pub mod weights;

pub use emit::{ImportOptions, Imported, check_graph, import_graph};
pub use error::ImportError;

/// Reads a model file into the neutral graph: `.onnx` (protobuf) or `.json` (the JSON
/// graph format).
pub fn load_graph_file(path: &std::path::Path) -> Result<model::Graph, ImportError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => json::load_graph(path),
        Some("onnx") => onnx::load_model(path),
        _ => Err(ImportError::file(
            &path.display().to_string(),
            "unknown model kind (expected .onnx or .json)",
        )),
    }
}
