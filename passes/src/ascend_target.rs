//! The Ascend target (`ascend:910b`): a model module through the graph and kernels
//! phases (with the 910B cost model), then `convert-ftensor-to-cann`, and the C++
//! program of its aclnn calls (`fuser compile --target ascend:910b --emit cann-cpp`).

use crate::{
    cpu_target::{CpuError, phase_error, phase_reports, prepare_graph, with_diagnostics},
    phases::{Fusion, Phase, run_pipeline},
};
use fuser_dialects::{eval::Weights, semantics::TypeInfo};
use fuser_lowering::cann::emit_cpp::{File, emit_cpp};
use melior::{Context, ir::Module};

/// The Ascend chips fuser emits for.
pub const CHIPS: &[&str] = &["910b"];

/// `ascend:<chip>`: `None` for another kind of target, an error for an unknown chip.
pub fn parse_target(target: &str) -> Option<Result<String, String>> {
    let chip = target.strip_prefix("ascend:")?;
    Some(if CHIPS.contains(&chip) {
        Ok(chip.to_string())
    } else {
        Err(format!(
            "unknown Ascend chip '{chip}' in --target {target}; fuser emits for {}",
            CHIPS
                .iter()
                .map(|c| format!("ascend:{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// How far to lower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AscendStop {
    /// After the kernels phase (graph ops grouped into kernel functions).
    Kernels,
    /// After `convert-ftensor-to-cann` (MLIR out).
    Cann,
    /// The C++ files.
    Cpp,
}

pub struct AscendRequest<'w> {
    pub function: &'w str,
    pub weights: &'w Weights,
    pub fusion: Fusion,
    pub up_to: AscendStop,
    /// The inputs' names, for the generated interface.
    pub input_names: &'w [String],
}

/// A model lowered for Ascend.
pub struct AscendModel {
    pub inputs: Vec<TypeInfo>,
    pub outputs: Vec<TypeInfo>,
    /// The JSON report of `graph-eqsat-fuse`.
    pub fusion_report: Option<String>,
    /// The C++ library, its example main and the weight files, once emitted.
    pub files: Option<Vec<File>>,
}

/// Lowers `module` for Ascend up to `request.up_to`, in place.
pub fn lower_for_ascend(
    context: &Context,
    module: &mut Module,
    request: &AscendRequest,
) -> Result<AscendModel, CpuError> {
    with_diagnostics(context, |messages| {
        let (inputs, outputs) = prepare_graph(
            context,
            module,
            request.function,
            request.weights,
            "ascend:910b",
            messages,
        )?;
        let strategy = if request.fusion == Fusion::Greedy {
            " strategy=greedy"
        } else {
            ""
        };
        run_pipeline(
            context,
            module,
            &format!("graph-eqsat-fuse{{target=ascend:910b{strategy}}}"),
            Phase::Kernels,
        )
        .map_err(|e| phase_error(e, messages))?;
        let (fusion_report, _) = phase_reports(module);
        let mut model = AscendModel {
            inputs,
            outputs,
            fusion_report,
            files: None,
        };
        if request.up_to == AscendStop::Kernels {
            return Ok(model);
        }
        run_pipeline(context, module, "convert-ftensor-to-cann", Phase::Kernels).map_err(|_| {
            let details = messages.borrow().join("\n");
            CpuError {
                message: format!("{details}\n(convert-ftensor-to-cann failed: the ops above have no aclnn mapping)"),
                unsupported: true,
            }
        })?;
        if request.up_to == AscendStop::Cann {
            return Ok(model);
        }
        model.files =
            Some(emit_cpp(module.as_operation(), request.function, request.input_names).map_err(CpuError::failed)?);
        Ok(model)
    })
}
