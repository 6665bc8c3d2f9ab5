//! Loading a model of any accepted kind into a module plus its weights.

use fuser_dialects::eval::Weights;
use fuser_frontends::{ImportError, ImportOptions, import_graph, onnx::load_model};
use melior::{Context, ir::Module};
use std::path::Path;

/// A loaded model: its module, the function to run, and weight data.
pub struct Loaded<'c> {
    pub module: Module<'c>,
    pub function: String,
    pub weights: Weights,
}

/// Imports an ONNX file, keeping its weights in memory.
pub fn load_onnx<'c>(context: &'c Context, path: &Path, options: &ImportOptions) -> Result<Loaded<'c>, ImportError> {
    let file = path.display().to_string();
    let graph = load_model(path)?;
    let imported = import_graph(context, &graph, &file, options)?;
    let mut weights = Weights::new();
    for w in &imported.weights {
        let tensor = w.tensor().ok_or_else(|| ImportError::file(&file, format!("weight '{}' is inconsistent", w.name)))?;
        weights.insert(w.name.clone(), tensor);
    }
    Ok(Loaded { module: imported.module, function: imported.function, weights })
}
