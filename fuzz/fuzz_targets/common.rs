//! Shared by the fuzz targets: import a parsed graph into a reused MLIR context, which is
//! recreated every few thousand inputs so that uniqued constants cannot pile up.

use fuser_frontends::{ImportOptions, import_graph, model::Graph};
use std::cell::RefCell;

thread_local! {
    static CONTEXT: RefCell<(melior_context::Holder, usize)> = RefCell::new((melior_context::Holder::new(), 0));
}

pub mod melior_context {
    /// Owns a context with fuser's dialects, its diagnostics silenced.
    pub struct Holder(pub fuser_dialects::melior::Context);
    impl Holder {
        pub fn new() -> Self {
            let context = fuser_dialects::create_context().expect("dialects load");
            context.enable_multi_threading(false);
            context.attach_diagnostic_handler(|_| true);
            Holder(context)
        }
    }
}

/// Imports `graph`; any outcome but a panic or an abort is fine.
pub fn import(graph: &Graph) {
    CONTEXT.with(|cell| {
        let mut slot = cell.borrow_mut();
        slot.1 += 1;
        if slot.1 % 4096 == 0 {
            slot.0 = melior_context::Holder::new();
        }
        let options = ImportOptions::default();
        let _ = import_graph(&slot.0.0, graph, "fuzz", &options);
    });
}
