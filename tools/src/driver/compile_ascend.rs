//! `fuser compile --target ascend:910b`: a model to a C++17 library on CANN's aclnn API
//! (`--emit cann-cpp`, default: a directory), or MLIR after the kernels phase
//! (`--compile-to kernels`) or after `convert-ftensor-to-cann` (`--emit mlir`).

use super::compile::{CompileRequest, Emit, report_json, write_report};
use super::load::load;
use crate::output::{write_directory, write_output};
use fuser_dialects::create_context;
use fuser_passes::{
    ascend_target::{AscendRequest, AscendStop, lower_for_ascend},
    phases::{Phase, report_time},
};

/// The file that marks an output directory as written by `fuser compile`.
const MARKER: &str = ".fuser-cann-cpp";

/// Compiles the model for Ascend chip `chip`; returns a summary line.
pub fn compile_ascend(request: &CompileRequest, chip: &str) -> Result<String, String> {
    let target = format!("ascend:{chip}");
    if request.tensor_cores {
        return Err(format!("--tensor-cores is for GPU targets, not {target}"));
    }
    let up_to = match (request.emit, request.compile_to) {
        (Emit::Mlir, Some(Phase::Kernels)) => AscendStop::Kernels,
        (Emit::Mlir, None) => AscendStop::Cann,
        (Emit::CannCpp, None) => AscendStop::Cpp,
        (_, Some(phase)) => {
            return Err(format!(
                "--compile-to={} with --target {target}: Ascend stops after kernels (with --emit mlir)",
                phase.name()
            ));
        }
        (other, None) => {
            return Err(format!(
                "--emit {} is not for --target {target}, which writes cann-cpp (default: a directory) or mlir",
                other.name()
            ));
        }
    };
    let context = create_context().map_err(|e| e.to_string())?;
    context.enable_multi_threading(false);
    let start = std::time::Instant::now();
    let mut loaded = load(&context, request.model, &request.options)?;
    report_time("load", start);
    let names: Vec<String> = loaded.inputs.iter().map(|(n, _)| n.clone()).collect();
    let ascend_request = AscendRequest {
        function: &loaded.function,
        weights: &loaded.weights,
        fusion: request.fusion,
        up_to,
        input_names: &names,
    };
    let model = lower_for_ascend(&context, &mut loaded.module, &ascend_request).map_err(|e| e.message)?;
    if let Some(path) = request.report {
        write_report(path, &report_json(model.fusion_report.as_deref(), None)?)?;
    }
    let path = request.output.display().to_string();
    match model.files {
        Some(files) => {
            let calls = files.iter().find(|f| f.path == "model.cpp").map_or(0, |f| {
                String::from_utf8_lossy(&f.bytes).matches("GetWorkspaceSize(").count()
            });
            let weights = files.iter().filter(|f| f.path.starts_with("weights/")).count();
            let mut files: Vec<(String, Vec<u8>)> = files.into_iter().map(|f| (f.path, f.bytes)).collect();
            // Marks the directory as fuser's, so that a later run may replace it.
            files.push((
                MARKER.into(),
                format!("written by fuser compile --target {target}\n").into_bytes(),
            ));
            write_directory(&path, &files, MARKER)?;
            Ok(format!(
                "fuser compile: wrote {path}/ (C++ on aclnn for {target}: {calls} aclnn calls, {weights} weight files)"
            ))
        }
        None => {
            write_output(&path, loaded.module.as_operation().to_string().as_bytes())?;
            Ok(format!("fuser compile: wrote {path}"))
        }
    }
}
