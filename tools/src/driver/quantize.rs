//! `fuser quantize`: INT8 post-training quantization of a model. The model is loaded with
//! its weights as constants, goes through the graph phase, has each BatchNormalization
//! after a Conv folded into it (the quantized conv then carries the folded weights), and
//! is quantized by `graph-quantize` on the calibration samples. The result is graph-level
//! MLIR with the quantized contractions, which `fuser run`, `bench` and `compile` accept.

use super::load::load;
use crate::output::write_output;
use fuser_dialects::create_context;
use fuser_frontends::ImportOptions;
use fuser_lowering::materialize_weights_as;
use fuser_passes::{
    PipelineOptions, add_pipeline,
    graph_quantize::{Options, quantize_module},
    phases::{Fusion, Phase, run_phases},
};
use melior::{ir::operation::OperationLike, pass::PassManager};
use std::path::Path;

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
    let manager = PassManager::new(&context);
    add_pipeline(
        &manager.as_operation_pass_manager(),
        "graph-fold-batch-norm",
        PipelineOptions::default(),
    )
    .map_err(|e| e.to_string())?;
    manager
        .run(&mut loaded.module)
        .map_err(|_| "folding BatchNormalization into convolutions failed".to_string())?;
    let root = loaded.module.as_operation();
    quantize_module(root, &request.quantization)?;
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
