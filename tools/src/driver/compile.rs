//! `fuser compile`: a model to a shared library (default), an object file, optimized
//! LLVM IR, or MLIR at any phase, for the host CPU or another x86-64 CPU.

use super::link::link_shared_library;
use super::load::load;
use crate::output::write_output;
use fuser_dialects::{create_context, semantics::TypeInfo};
use fuser_frontends::ImportOptions;
use fuser_lowering::object::{Artifact, CpuSpec, emit, emit_objects};
use fuser_passes::{
    cpu_target::{CpuRequest, lower_for_cpu},
    phases::{Fusion, Phase, report_time},
};
use std::path::{Path, PathBuf};

/// What `fuser compile` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emit {
    SharedLib,
    Obj,
    LlvmIr,
    Mlir,
    /// CUDA targets: the device module's PTX.
    Ptx,
    /// ROCm targets: the device module's AMDGPU assembly (`amdgcn-amd-amdhsa`).
    Amdgcn,
    /// ROCm targets: the device module as a code object (assembled, linked by ld.lld).
    Hsaco,
    /// GPU targets: buffers, kernels and launches (JSON).
    HostPlan,
    /// Ascend targets: a C++ library on CANN's aclnn API and an example main (a
    /// directory).
    CannCpp,
}

impl Emit {
    pub const ALL: [Emit; 9] = [
        Emit::SharedLib,
        Emit::Obj,
        Emit::LlvmIr,
        Emit::Mlir,
        Emit::Ptx,
        Emit::Amdgcn,
        Emit::Hsaco,
        Emit::HostPlan,
        Emit::CannCpp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Emit::SharedLib => "shared-lib",
            Emit::Obj => "obj",
            Emit::LlvmIr => "llvm-ir",
            Emit::Mlir => "mlir",
            Emit::Ptx => "ptx",
            Emit::Amdgcn => "amdgcn",
            Emit::Hsaco => "hsaco",
            Emit::HostPlan => "host-plan",
            Emit::CannCpp => "cann-cpp",
        }
    }

    pub fn parse(name: &str) -> Option<Emit> {
        Emit::ALL.into_iter().find(|e| e.name() == name)
    }
}

/// What `fuser compile` was asked to do.
pub struct CompileRequest<'p> {
    pub model: &'p Path,
    pub options: ImportOptions,
    pub target: &'p str,
    pub emit: Emit,
    pub compile_to: Option<Phase>,
    pub output: &'p Path,
    /// How ops are grouped into kernels.
    pub fusion: Fusion,
    /// Write the fusion report (JSON) here.
    pub report: Option<&'p Path>,
    /// CUDA targets: f16 contractions on tensor cores.
    pub tensor_cores: bool,
}

/// The C symbol of a model's entry function (`fuser_<function>`: the graph's own name,
/// often `main`, would collide in C).
pub fn entry_symbol(function: &str) -> String {
    let clean: String = function
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("fuser_{clean}")
}

/// Compiles the model; returns a summary line.
pub fn compile(request: &CompileRequest) -> Result<String, String> {
    if let Some(target) = fuser_passes::gpu_target::GpuTarget::parse(request.target) {
        return super::compile_gpu::compile_gpu(request, target?);
    }
    if let Some(chip) = fuser_passes::ascend_target::parse_target(request.target) {
        return super::compile_ascend::compile_ascend(request, &chip?);
    }
    if request.tensor_cores {
        return Err(
            "--tensor-cores is for GPU targets (--target cuda:sm_80|cuda:sm_90|rocm:gfx90a|rocm:gfx942)".into(),
        );
    }
    if request.emit == Emit::CannCpp {
        return Err("--emit cann-cpp needs --target ascend:910b".into());
    }
    if matches!(request.emit, Emit::Ptx | Emit::Amdgcn | Emit::Hsaco | Emit::HostPlan) {
        return Err(format!(
            "--emit {} needs a GPU target (--target cuda:sm_80|cuda:sm_90|rocm:gfx90a|rocm:gfx942)",
            request.emit.name()
        ));
    }
    let spec = CpuSpec::parse(request.target)?;
    let up_to = request.compile_to.unwrap_or(Phase::Llvm);
    if up_to != Phase::Llvm && request.emit != Emit::Mlir {
        return Err(format!(
            "--compile-to={} stops before machine code; add --emit mlir",
            up_to.name()
        ));
    }
    let context = create_context().map_err(|e| e.to_string())?;
    context.enable_multi_threading(false);
    let start = std::time::Instant::now();
    let mut loaded = load(&context, request.model, &request.options)?;
    report_time("load", start);
    let symbol = entry_symbol(&loaded.function);
    let cpu_request = CpuRequest {
        function: &loaded.function,
        weights: &loaded.weights,
        input_shapes: None,
        up_to,
        entry_symbol: symbol.clone(),
        profile: false,
        object_file: None,
        fusion: request.fusion,
    };
    if request.report.is_some() && up_to < Phase::Kernels {
        return Err(format!(
            "--report needs the kernels phase, and --compile-to={} stops before it",
            up_to.name()
        ));
    }
    let lowered = lower_for_cpu(&context, &mut loaded.module, &cpu_request).map_err(|e| e.message)?;
    if let Some(path) = request.report {
        let report = report_json(lowered.fusion_report.as_deref(), lowered.memory_plan)?;
        write_report(path, &report)?;
    }
    let (inputs, outputs) = (lowered.inputs, lowered.outputs);
    let path = request.output.display().to_string();
    match request.emit {
        Emit::Ptx | Emit::Amdgcn | Emit::Hsaco | Emit::HostPlan | Emit::CannCpp => {
            unreachable!("refused before lowering")
        }
        Emit::Mlir => write_output(&path, loaded.module.as_operation().to_string().as_bytes())?,
        Emit::LlvmIr => write_output(&path, &emit(&loaded.module, &spec, Artifact::OptimizedIr)?)?,
        Emit::Obj => write_output(&path, &emit(&loaded.module, &spec, Artifact::Object)?)?,
        Emit::SharedLib => {
            let start = std::time::Instant::now();
            // LLVM's work on one thread per core (the module split in parts).
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            let objects = emit_objects(&loaded.module, &spec, threads)?;
            report_time("machine code", start);
            let start = std::time::Instant::now();
            link_shared_library(&objects, request.output, &[&symbol])?;
            report_time("link", start);
            let header = header_path(request.output);
            let names: Vec<&str> = loaded.inputs.iter().map(|(n, _)| n.as_str()).collect();
            let output_names: Vec<&str> = loaded.outputs.iter().map(String::as_str).collect();
            let text = c_header(&symbol, request.model, &names, &inputs, &output_names, &outputs);
            write_output(&header.display().to_string(), text.as_bytes())?;
            return Ok(format!(
                "fuser compile: wrote {path} and {} (entry {symbol}, for {} {})",
                header.display(),
                spec.cpu,
                if spec.features.is_empty() {
                    ""
                } else {
                    "with its features"
                }
            ));
        }
    }
    Ok(format!("fuser compile: wrote {path}"))
}

/// The `--report` document: the fusion report, with the memory plan's totals as `memory`.
pub(super) fn report_json(
    fusion_report: Option<&str>,
    memory_plan: Option<(u64, u64)>,
) -> Result<serde_json::Value, String> {
    let text = fusion_report.ok_or("the kernels phase left no fusion report")?;
    let mut report: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("the fusion report is not JSON: {e}"))?;
    if let Some((naive, peak)) = memory_plan {
        report["memory"] = serde_json::json!({"naive_activation_bytes": naive, "arena_peak_bytes": peak});
    }
    Ok(report)
}

/// Writes the `--report` document to `path` (pretty JSON, atomically).
pub(super) fn write_report(path: &Path, report: &serde_json::Value) -> Result<(), String> {
    let pretty = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    write_output(&path.display().to_string(), format!("{pretty}\n").as_bytes())
}

/// `model.so` → `model.h`.
pub fn header_path(library: &Path) -> PathBuf {
    library.with_extension("h")
}

fn c_type(info: &TypeInfo) -> &'static str {
    use fuser_dialects::semantics::DType::*;
    match info.dtype {
        F32 => "float",
        F64 => "double",
        F16 | BF16 => "uint16_t",
        I8 => "int8_t",
        U8 | Bool => "uint8_t",
        I32 => "int32_t",
        I64 => "int64_t",
    }
}

/// The C header of a compiled model: its entry point, with each input's and output's
/// name, shape and element type.
pub fn c_header(
    symbol: &str,
    model: &Path,
    input_names: &[&str],
    inputs: &[TypeInfo],
    output_names: &[&str],
    outputs: &[TypeInfo],
) -> String {
    let guard = format!("{}_H", symbol.to_uppercase());
    let mut params = Vec::new();
    let mut doc = Vec::new();
    let describe = |info: &TypeInfo| {
        let dims: Vec<String> = info
            .shape
            .iter()
            .map(|d| d.map_or("?".into(), |d| d.to_string()))
            .collect();
        format!("{} [{}]", info.dtype.mlir(), dims.join("x"))
    };
    for (i, (name, info)) in input_names.iter().zip(inputs).enumerate() {
        params.push(format!("const {} *input{i}", c_type(info)));
        doc.push(format!(" *   input{i}  '{name}': {}", describe(info)));
    }
    for (i, (name, info)) in output_names.iter().zip(outputs).enumerate() {
        params.push(format!("{} *output{i}", c_type(info)));
        doc.push(format!(" *   output{i} '{name}': {}", describe(info)));
    }
    let counts = |infos: &[TypeInfo]| -> String {
        infos
            .iter()
            .map(|i| i.static_shape().map_or(0, |s| s.iter().product::<usize>()).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "/* Generated by `fuser compile` from {model}; do not edit. */\n\
         #ifndef {guard}\n#define {guard}\n\n#include <stdint.h>\n\n#ifdef __cplusplus\nextern \"C\" {{\n#endif\n\n\
         /* Runs the model. Buffers are dense, row-major, and owned by the caller; inputs\n\
         \x20* are only read, and outputs must not overlap them (outputs are written while the\n\
         \x20* model runs). f16/bf16 elements are passed as their 16-bit patterns.\n{}\n */\n\
         void {symbol}({});\n\n\
         /* Element counts of each input and output, in order. */\n\
         #define {guard_prefix}_INPUT_ELEMENTS {{{}}}\n#define {guard_prefix}_OUTPUT_ELEMENTS {{{}}}\n\n\
         /* The same under fixed names, for code written for any model (docs/examples/c). */\n\
         #define FUSER_MODEL_RUN {symbol}\n\
         #define FUSER_MODEL_INPUT_ELEMENTS {guard_prefix}_INPUT_ELEMENTS\n\
         #define FUSER_MODEL_OUTPUT_ELEMENTS {guard_prefix}_OUTPUT_ELEMENTS\n\n\
         #ifdef __cplusplus\n}}\n#endif\n\n#endif\n",
        doc.join("\n"),
        params.join(", "),
        counts(inputs),
        counts(outputs),
        model = model
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        guard_prefix = symbol.to_uppercase(),
    )
}
