//! `fuser quantize`: reduced precision for a model. The model is loaded with its weights
//! as constants and goes through the graph phase; then either `graph-quantize` quantizes
//! it to INT8 on the calibration samples (first folding each BatchNormalization after a
//! Conv into it), or `graph-mixed-precision` makes it compute in bf16/f16. The result is
//! graph-level MLIR (weights inline) that `fuser run`, `bench` and `compile` accept, or
//! the same graph as ONNX (`fuser_frontends::export`: QDQ form for the quantized ops),
//! which onnxruntime and fuser itself import.

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

/// How the model's numbers change: INT8 quantization, or bf16/f16 mixed precision.
pub enum Precision {
    Int8(Options),
    Mixed(fuser_passes::graph_mixed_precision::Options),
}

pub struct QuantizeRequest<'p> {
    pub model: &'p Path,
    pub options: ImportOptions,
    pub precision: Precision,
    pub output: &'p Path,
}

/// Converts the model; returns a summary line.
pub fn quantize(request: &QuantizeRequest) -> Result<String, String> {
    let path = request.output.display().to_string();
    let onnx = match request.output.extension().and_then(|e| e.to_str()) {
        Some("onnx") => true,
        Some("mlir") => false,
        _ => return Err(format!("{path}: the output must be OUT.onnx or OUT.mlir")),
    };
    let context = create_context().map_err(|e| e.to_string())?;
    let mut loaded = load(&context, request.model, &request.options)?;
    let root = loaded.module.as_operation();
    materialize_weights_as(root, &loaded.weights, "graph.constant")?;
    run_phases(&context, &mut loaded.module, None, Phase::Graph, Fusion::Eqsat).map_err(|e| e.to_string())?;
    let root = loaded.module.as_operation();
    let summary = match &request.precision {
        Precision::Int8(options) => {
            // Calibration runs the model once per sample (twice for percentile and entropy).
            let bar = if std::io::stderr().is_terminal() {
                ProgressBar::new(0)
            } else {
                ProgressBar::hidden()
            };
            bar.set_style(ProgressStyle::with_template("calibrating {bar:40} {pos}/{len}").expect("template"));
            quantize_module(root, options, &mut |done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            })?;
            bar.finish_and_clear();
            let count = fuser_dialects::ffi::nested_operations(root)
                .iter()
                .filter(|op| fuser_dialects::accessors::op_name(*op).starts_with("ftensor.quantized_"))
                .count();
            format!("{count} contractions quantized to int8")
        }
        Precision::Mixed(options) => {
            // Conv+BN fold first, in f32, as for INT8.
            fuser_passes::graph_fold_batch_norm::fold_batch_norms(root);
            fuser_passes::graph_mixed_precision::convert_module(root, options)?;
            // Casts of constants fold into low-precision constants.
            run_phases(&context, &mut loaded.module, None, Phase::Graph, Fusion::Eqsat).map_err(|e| e.to_string())?;
            format!("computing in {} with f32 at the boundaries", options.low)
        }
    };
    let root = loaded.module.as_operation();
    if !root.verify() {
        return Err("internal error: the converted module does not verify".into());
    }
    let bytes = if onnx {
        let graph = fuser_frontends::export::export_graph(root, &[])?;
        fuser_frontends::onnx::model_bytes(&graph, "fuser quantize")?
    } else {
        root.to_string().into_bytes()
    };
    write_output(&path, &bytes)?;
    Ok(format!("wrote {path} ({summary})"))
}
