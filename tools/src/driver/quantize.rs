//! `fuser quantize`: INT8 post-training quantization of a model. The model is loaded with
//! its weights as constants, goes through the graph phase, and is quantized by
//! `graph-quantize` on the calibration samples (which first folds each BatchNormalization
//! after a Conv into it). The result is graph-level
//! MLIR with the quantized contractions, which `fuser run`, `bench` and `compile` accept.

use super::load::load;
use crate::output::write_output;
use fuser_dialects::create_context;
use fuser_frontends::ImportOptions;
use fuser_lowering::materialize_weights_as;
use fuser_passes::{
    graph_quantize::{Options, quantize_module},
    phases::{Fusion, Phase, run_phases},
};
use indicatif::{ProgressBar, ProgressStyle};
use melior::ir::operation::OperationLike;
use std::{io::IsTerminal, path::Path};

pub struct QuantizeRequest<'p> {
    pub model: &'p Path,
    pub options: ImportOptions,
    pub quantization: Options,
    pub output: &'p Path,
}

/// Quantizes the model; returns a summary line.
pub fn quantize(request: &QuantizeRequest) -> Result<String, String> {
    let path = request.output.display().to_string();
    if request.output.extension().is_none_or(|e| e != "mlir") {
        return Err(format!(
            "{path}: fuser quantize writes MLIR (OUT.mlir); ONNX output is not supported yet"
        ));
    }
    let context = create_context().map_err(|e| e.to_string())?;
    let mut loaded = load(&context, request.model, &request.options)?;
    let root = loaded.module.as_operation();
    materialize_weights_as(root, &loaded.weights, "graph.constant")?;
    run_phases(&context, &mut loaded.module, None, Phase::Graph, Fusion::Eqsat).map_err(|e| e.to_string())?;
    let root = loaded.module.as_operation();
    // Calibration runs the model once per sample (twice for percentile and entropy).
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(ProgressStyle::with_template("calibrating {bar:40} {pos}/{len}").expect("template"));
    quantize_module(root, &request.quantization, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    let quantized = fuser_dialects::ffi::nested_operations(root)
        .iter()
        .filter(|op| fuser_dialects::accessors::op_name(*op).starts_with("ftensor.quantized_"))
        .count();
    if !root.verify() {
        return Err("internal error: the quantized module does not verify".into());
    }
    write_output(&path, root.to_string().as_bytes())?;
    Ok(format!(
        "fuser quantize: wrote {path} ({quantized} contractions quantized to int8)"
    ))
}
