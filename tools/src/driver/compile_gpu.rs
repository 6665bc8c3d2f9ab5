//! `fuser compile --target cuda:sm_80|cuda:sm_90|rocm:gfx90a|rocm:gfx942`: a model to
//! one device module of all its kernels (PTX for CUDA; a code object, default, or
//! AMDGPU assembly for ROCm), the host plan of buffers and launches (JSON), or MLIR after
//! any phase.

use super::compile::{CompileRequest, Emit, report_json, write_report};
use super::load::load;
use crate::output::write_output;
use fuser_dialects::{create_context, semantics::TypeInfo};
use fuser_lowering::gpu::{kernel_resources, toolkit};
use fuser_passes::{
    gpu_target::{GpuModel, GpuRequest, GpuStop, GpuTarget, Vendor, lower_for_gpu},
    phases::{Phase, report_time},
};

/// The host plan as `--emit host-plan` writes it: the target, the device module's
/// kernels, the entry's inputs and outputs, buffers and launches in order.
pub fn host_plan_json(model: &GpuModel, target: &GpuTarget, names: (&[String], &[String])) -> serde_json::Value {
    let describe = |info: &TypeInfo, name: &str| serde_json::json!({"name": name, "type": info.mlir(), "bytes": info.static_shape().map_or(0, |s| s.iter().product::<usize>()) * info.dtype.size()});
    let plan = model.plan.as_ref();
    serde_json::json!({
        "target": target.name(),
        "device_module": fuser_lowering::gpu::device_module::DEVICE_MODULE,
        "inputs": model.inputs.iter().zip(names.0).map(|(i, n)| describe(i, n)).collect::<Vec<_>>(),
        "outputs": model.outputs.iter().zip(names.1).map(|(i, n)| describe(i, n)).collect::<Vec<_>>(),
        "workspace_bytes": plan.map_or(0, |p| p.workspace_bytes()),
        "buffers": plan.map(|p| &p.buffers),
        "launches": plan.map(|p| &p.launches),
    })
}

/// The report's `gpu` section: per kernel of the device module, its launches and
/// threads per block, and its registers, shared memory, spills and theoretical occupancy
/// on the target chip (CUDA: from ptxas, when found: `make setup` installs it; ROCm: from
/// the assembly's kernel directives).
fn gpu_report(model: &GpuModel, target: &GpuTarget) -> Result<serde_json::Value, String> {
    let (Some(assembly), Some(plan)) = (model.assembly.as_deref(), model.plan.as_ref()) else {
        return Ok(serde_json::Value::Null);
    };
    let (resources, source) = match target.vendor {
        Vendor::Rocm => (
            Some(kernel_resources::parse_amdgpu_assembly(assembly)),
            "the .amdhsa_kernel directives",
        ),
        Vendor::Cuda => match toolkit::ptxas() {
            Some(ptxas) => (
                Some(kernel_resources::ptxas_resources(&ptxas, assembly, &target.chip)?),
                "ptxas -v",
            ),
            None => (None, "none: ptxas not found (make setup installs it)"),
        },
    };
    let limits = kernel_resources::sm_limits(&target.chip);
    let mut kernels: Vec<serde_json::Value> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for launch in &plan.launches {
        if !seen.insert(launch.kernel.clone()) {
            continue;
        }
        let threads = launch.block.iter().product::<u32>();
        let launches = plan.launches.iter().filter(|l| l.kernel == launch.kernel).count();
        let mut entry = serde_json::json!({
            "kernel": launch.kernel,
            "from": launch.from,
            "launches": launches,
            "grid": launch.grid,
            "block": launch.block,
        });
        if let Some(r) = resources.as_ref().and_then(|r| r.get(&launch.kernel)) {
            entry["registers"] = r.registers.into();
            entry["shared_bytes"] = r.shared_bytes.into();
            entry["spill_store_bytes"] = r.spill_store_bytes.into();
            entry["theoretical_occupancy"] = match target.vendor {
                Vendor::Cuda => kernel_resources::theoretical_occupancy(r, threads, limits),
                Vendor::Rocm => kernel_resources::amd_theoretical_occupancy(r, threads),
            }
            .into();
        }
        kernels.push(entry);
    }
    Ok(serde_json::json!({
        "target": target.name(),
        "resources_from": source,
        "kernels": kernels,
    }))
}

/// An AMDGPU code object (`.hsaco`) of `assembly`: assembled by `llvm-mc-22` and
/// linked by `ld.lld-22` (both from `make setup`'s LLVM 22), as the ROCm runtime loads it.
fn code_object(assembly: &str, chip: &str) -> Result<Vec<u8>, String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (source, object, linked) = (
        work.path().join("kernels.s"),
        work.path().join("kernels.o"),
        work.path().join("kernels.hsaco"),
    );
    std::fs::write(&source, assembly).map_err(|e| e.to_string())?;
    let run = |program: &str, args: &[&std::ffi::OsStr]| -> Result<(), String> {
        let output = std::process::Command::new(program)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run {program} (install LLVM 22: make setup): {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    };
    let mcpu = format!("-mcpu={chip}");
    run(
        "llvm-mc-22",
        &[
            "-triple=amdgcn-amd-amdhsa".as_ref(),
            mcpu.as_ref(),
            "-filetype=obj".as_ref(),
            source.as_os_str(),
            "-o".as_ref(),
            object.as_os_str(),
        ],
    )?;
    run(
        "ld.lld-22",
        &[
            "-shared".as_ref(),
            object.as_os_str(),
            "-o".as_ref(),
            linked.as_os_str(),
        ],
    )?;
    std::fs::read(&linked).map_err(|e| e.to_string())
}

/// Compiles the model for `target`; returns a summary line.
pub fn compile_gpu(request: &CompileRequest, target: GpuTarget) -> Result<String, String> {
    let up_to = match (request.emit, request.compile_to) {
        (Emit::Mlir, Some(phase)) if phase <= Phase::Bufferized => GpuStop::Phase(phase),
        (_, Some(phase)) => {
            return Err(format!(
                "--compile-to={} with --target {}: a GPU stops after graph, kernels, linalg or bufferized (with --emit mlir)",
                phase.name(),
                target.name()
            ));
        }
        (Emit::HostPlan, None) => GpuStop::Outlined,
        (Emit::Ptx, None) if target.vendor == Vendor::Cuda => GpuStop::Binary,
        (Emit::Amdgcn | Emit::Hsaco, None) if target.vendor == Vendor::Rocm => GpuStop::Binary,
        (Emit::Mlir, None) => GpuStop::Binary,
        (other, None) => {
            return Err(format!(
                "--emit {} is not for --target {}, which writes {}, host-plan or mlir",
                other.name(),
                target.name(),
                if target.vendor == Vendor::Cuda {
                    "ptx (default)"
                } else {
                    "hsaco (default), amdgcn"
                }
            ));
        }
    };
    // The report's per-kernel resources come from the compiled device code.
    let up_to = if request.report.is_some() && up_to == GpuStop::Outlined {
        GpuStop::Binary
    } else {
        up_to
    };
    let context = create_context().map_err(|e| e.to_string())?;
    context.enable_multi_threading(false);
    let start = std::time::Instant::now();
    let mut loaded = load(&context, request.model, &request.options)?;
    report_time("load", start);
    let gpu_request = GpuRequest {
        function: &loaded.function,
        weights: &loaded.weights,
        target: target.clone(),
        fusion: request.fusion,
        up_to,
        tensor_cores: request.tensor_cores,
    };
    let model = lower_for_gpu(&context, &mut loaded.module, &gpu_request).map_err(|e| e.message)?;
    if let Some(path) = request.report {
        let mut report = report_json(model.fusion_report.as_deref(), model.memory_plan)?;
        if model.assembly.is_some() {
            report["gpu"] = gpu_report(&model, &target)?;
        }
        write_report(path, &report)?;
    }
    let path = request.output.display().to_string();
    match request.emit {
        Emit::Mlir => write_output(&path, loaded.module.as_operation().to_string().as_bytes())?,
        Emit::Ptx | Emit::Amdgcn | Emit::Hsaco => {
            let assembly = model.assembly.as_deref().ok_or("no device code was made")?;
            let (bytes, what) = match request.emit {
                Emit::Hsaco => (code_object(assembly, &target.chip)?, "code object"),
                Emit::Amdgcn => (assembly.as_bytes().to_vec(), "AMDGPU assembly"),
                _ => (assembly.as_bytes().to_vec(), "PTX"),
            };
            write_output(&path, &bytes)?;
            let launches = model.plan.as_ref().map_or(0, |p| p.launches.len());
            return Ok(format!(
                "fuser compile: wrote {path} ({what} for {}, {launches} launches)",
                target.name()
            ));
        }
        Emit::HostPlan => {
            let names: Vec<String> = loaded.inputs.iter().map(|(n, _)| n.clone()).collect();
            let json = host_plan_json(&model, &target, (&names, &loaded.outputs));
            let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
            write_output(&path, format!("{text}\n").as_bytes())?;
        }
        _ => unreachable!("refused above"),
    }
    Ok(format!("fuser compile: wrote {path}"))
}
