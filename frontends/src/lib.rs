//! Model importers (ONNX, JSON graph) into the graph dialect.
//!
//! Not implemented yet: this crate is the home of the Frontends issue. It exists now so
//! that the workspace layout is the one in docs/architecture.md and dependents can name it.
