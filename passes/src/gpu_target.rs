//! The GPU targets: a model module through the graph, kernels, linalg and bufferized
//! phases (as for the CPU, with pure linalg instead of CPU runtime calls), then to GPU
//! kernels, one device module of machine code (PTX for `cuda:sm_XX`) and the host plan
//! of buffers and launches (`fuser compile --target cuda:sm_90`, `fuser run --target cuda`).

use crate::{
    cpu_target::{CpuError, phase_error, phase_reports, prepare_graph, with_diagnostics},
    phases::{Fusion, Phase, run_pipeline},
    pipeline::{PipelineOptions, add_pipeline},
};
use fuser_dialects::{eval::Weights, semantics::TypeInfo};
use fuser_lowering::gpu::{
    device_module::{DEVICE_MODULE, device_assembly, merge_kernel_modules},
    host_plan::{BufferKind, HostPlan, global_bytes, host_plan},
    host_program::{read_host_program, replace_host_code},
};
use melior::{
    Context,
    ir::{Module, operation::OperationLike},
    pass::PassManager,
};
use std::{cell::RefCell, rc::Rc};

/// A GPU vendor's toolchain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    /// NVIDIA: NVVM, PTX.
    Cuda,
    /// AMD: ROCDL, AMDGPU ISA (`amdgcn-amd-amdhsa`).
    Rocm,
}

/// A GPU to compile for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuTarget {
    pub vendor: Vendor,
    /// `sm_80`, `sm_90`, `gfx90a`, `gfx942`.
    pub chip: String,
}

/// The NVIDIA chips fuser compiles for.
pub const CUDA_CHIPS: [&str; 2] = ["sm_80", "sm_90"];
/// The AMD chips fuser compiles for.
pub const ROCM_CHIPS: [&str; 2] = ["gfx90a", "gfx942"];

impl GpuTarget {
    pub fn cuda(chip: &str) -> GpuTarget {
        GpuTarget {
            vendor: Vendor::Cuda,
            chip: chip.into(),
        }
    }

    /// Parses `cuda:sm_80`, `cuda:sm_90` (plain `cuda` is `cuda:sm_90`), `rocm:gfx90a` or
    /// `rocm:gfx942` (plain `rocm` is `rocm:gfx942`). `None` for a target that is not a
    /// GPU's; an error for an unknown chip.
    pub fn parse(target: &str) -> Option<Result<GpuTarget, String>> {
        let (vendor, chip, known, label) = match target {
            "cuda" => (Vendor::Cuda, "sm_90", &CUDA_CHIPS, "cuda"),
            "rocm" => (Vendor::Rocm, "gfx942", &ROCM_CHIPS, "rocm"),
            _ => match (target.strip_prefix("cuda:"), target.strip_prefix("rocm:")) {
                (Some(chip), _) => (Vendor::Cuda, chip, &CUDA_CHIPS, "cuda"),
                (_, Some(chip)) => (Vendor::Rocm, chip, &ROCM_CHIPS, "rocm"),
                _ => return None,
            },
        };
        Some(if known.contains(&chip) {
            Ok(GpuTarget {
                vendor,
                chip: chip.to_string(),
            })
        } else {
            Err(format!(
                "unknown {} chip '{chip}' (known: {})",
                if vendor == Vendor::Cuda { "CUDA" } else { "ROCm" },
                known.map(|c| format!("{label}:{c}")).join(", ")
            ))
        })
    }

    pub fn name(&self) -> String {
        match self.vendor {
            Vendor::Cuda => format!("cuda:{}", self.chip),
            Vendor::Rocm => format!("rocm:{}", self.chip),
        }
    }

    /// The PTX ISA version LLVM's NVPTX backend writes for this chip (`.version`),
    /// as a target feature.
    fn ptx_feature(&self) -> &'static str {
        if self.chip == "sm_90" { "+ptx80" } else { "+ptx70" }
    }

    /// The cost model's name for this target (`graph-eqsat-fuse{target=...}`).
    fn cost_model(&self) -> &'static str {
        match self.vendor {
            Vendor::Cuda => "cuda:sm_90",
            Vendor::Rocm => "rocm:gfx942",
        }
    }
}

/// How far to lower.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum GpuStop {
    /// After one of the shared phases (MLIR out).
    Phase(Phase),
    /// Every kernel's loop nest tiled and guarded for blocks and threads, still
    /// `scf.parallel` (what `compile_gpu_loops_for_cpu` runs on the CPU).
    TiledLoops,
    /// Kernels outlined into `gpu.module @fuser_kernels`, host code with launches.
    Outlined,
    /// The device module compiled (PTX in a `gpu.binary`).
    Binary,
}

/// What lowering for a GPU needs besides the module.
pub struct GpuRequest<'w> {
    pub function: &'w str,
    pub weights: &'w Weights,
    pub target: GpuTarget,
    pub fusion: Fusion,
    pub up_to: GpuStop,
    /// 16-bit float convolutions and matrix products on matrix instructions: NVIDIA
    /// tensor cores (`mma.sync`, f16) or AMD matrix cores (MFMA, f16 and bf16). Off by
    /// default: the kernels compile and pass ptxas / llvm-mc, but have not yet run on a
    /// GPU.
    pub tensor_cores: bool,
}

/// A model compiled for a GPU.
pub struct GpuModel {
    pub inputs: Vec<TypeInfo>,
    pub outputs: Vec<TypeInfo>,
    /// The device module's assembly (PTX, or AMDGPU assembly), once compiled.
    pub assembly: Option<String>,
    /// Buffers and launches, once outlined.
    pub plan: Option<HostPlan>,
    /// The JSON report of `graph-eqsat-fuse`.
    pub fusion_report: Option<String>,
    /// `hw-plan-memory`'s totals (naive activation bytes, arena bytes).
    pub memory_plan: Option<(u64, u64)>,
}

impl GpuModel {
    /// The bytes of every constant buffer of the plan, by buffer index.
    pub fn constant_data(&self, module: &Module) -> Result<Vec<(usize, Vec<u8>)>, String> {
        let Some(plan) = &self.plan else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (index, buffer) in plan.buffers.iter().enumerate() {
            if let BufferKind::Constant { global } = &buffer.kind {
                out.push((index, global_bytes(module.as_operation(), global)?));
            }
        }
        Ok(out)
    }
}

/// The pipeline of a phase for a GPU, where it differs from the CPU's.
/// `loops_on_cpu`: every kernel a loop nest, none a hand-tiled `gpu.launch` (which only
/// a GPU runs), for `compile_gpu_loops_for_cpu`.
fn phase_pipeline(phase: Phase, request: &GpuRequest, loops_on_cpu: bool) -> String {
    let (target, fusion) = (&request.target, request.fusion);
    match phase {
        // One cost model per vendor (sm_90's numbers serve sm_80 too, gfx942's gfx90a).
        Phase::Kernels => format!(
            "graph-eqsat-fuse{{target={}{}}}",
            target.cost_model(),
            if fusion == Fusion::Greedy {
                " strategy=greedy"
            } else {
                ""
            }
        ),
        Phase::Linalg => format!(
            "convert-graph-to-linalg{{contractions={}}},canonicalize,cse,linalg-fuse-elementwise-ops,canonicalize,cse",
            match (loops_on_cpu, target.vendor, request.tensor_cores) {
                (true, _, _) => "linalg",
                (false, Vendor::Cuda, true) => "gpu-mma",
                (false, Vendor::Rocm, true) => "gpu-mfma",
                (false, _, _) => "gpu",
            }
        ),
        // The tiled contraction kernels are `gpu.launch` ops, whose memory effects the
        // ownership-based deallocation cannot see; a GPU plan allocates every buffer
        // once, at load, so it needs no deallocation.
        Phase::Bufferized => phase.pipeline().replace("buffer-deallocation-pipeline,", ""),
        _ => phase.pipeline().to_string(),
    }
}

/// Linalg on buffers to loop nests mapped to blocks and threads.
const TILE_PIPELINE: &str = "convert-memref-copy-to-linalg{dense=true},linalg-parallel-dims-first,\
     func.func(convert-linalg-to-parallel-loops),gpu-tile-parallel-loops";

/// Mapped loop nests to outlined kernels: every nest a `gpu.launch`.
const OUTLINE_PIPELINE: &str = "func.func(convert-parallel-loops-to-gpu),func.func(gpu-launch-sink-index-computations),\
     gpu-kernel-outlining,canonicalize,cse";

/// The tiled loop nests to the llvm dialect for this CPU: the CPU's llvm phase, whose
/// `convert-scf-to-cf` runs each `scf.parallel` as sequential loops.
const LOOPS_ON_CPU_PIPELINE: &str = "convert-hw-to-memref,convert-linalg-to-loops,lower-affine,convert-scf-to-cf,\
     expand-strided-metadata,lower-affine,finalize-memref-to-llvm,convert-math-to-funcs,convert-math-to-llvm,\
     convert-math-to-libm,convert-arith-to-llvm,convert-index-to-llvm,convert-func-to-llvm{use-bare-ptr-memref-call-conv},\
     convert-cf-to-llvm,convert-ub-to-llvm,reconcile-unrealized-casts,llvm-flatten-constant-globals";

/// The device module to machine code: NVVM and PTX (with libdevice when a CUDA toolkit
/// is found), or ROCDL and AMDGPU assembly. Math functions on AMD GPUs are expanded
/// (`tanh` by `math-expand-ops`, `erf` by `math-expand-erf`) or become LLVM intrinsics
/// (`exp`, `sqrt`, ...), so the code needs no ROCm device library.
fn binary_pipeline(target: &GpuTarget) -> String {
    match target.vendor {
        Vendor::Cuda => {
            let toolkit = fuser_lowering::gpu::toolkit::cuda_toolkit()
                .map(|dir| format!(" toolkit={}", dir.display()))
                .unwrap_or_default();
            format!(
                "nvvm-attach-target{{module={DEVICE_MODULE} chip={} features={} O=3}},\
                 gpu.module(expand-strided-metadata,lower-affine,convert-scf-to-cf,convert-nvgpu-to-nvvm,convert-gpu-to-nvvm,canonicalize,cse,\
                 reconcile-unrealized-casts),gpu-module-to-binary{{format=isa{toolkit}}}",
                target.chip,
                target.ptx_feature()
            )
        }
        Vendor::Rocm => format!(
            "rocdl-attach-target{{module={DEVICE_MODULE} chip={} O=3}},\
             gpu.module(expand-strided-metadata,lower-affine,convert-scf-to-cf,math-expand-ops{{ops=tanh}},math-expand-erf,convert-math-to-llvm,\
             convert-amdgpu-to-rocdl{{chipset={}}},convert-gpu-to-rocdl{{chipset={}}},canonicalize,cse,reconcile-unrealized-casts),\
             gpu-module-to-binary{{format=isa}}",
            target.chip, target.chip, target.chip
        ),
    }
}

/// Runs one of the GPU steps after the shared phases; the error names the step.
fn run_step(context: &Context, module: &mut Module, pipeline: &str, step: &str) -> Result<(), String> {
    let manager = PassManager::new(context);
    add_pipeline(
        &manager.as_operation_pass_manager(),
        pipeline,
        PipelineOptions::default(),
    )
    .map_err(|e| format!("the {step} pipeline is invalid: {e}"))?;
    manager
        .run(module)
        .map_err(|_| format!("{step} failed (see the errors above)"))
}

/// Lowers `module` for a GPU up to `request.up_to`, in place.
pub fn lower_for_gpu(context: &Context, module: &mut Module, request: &GpuRequest) -> Result<GpuModel, CpuError> {
    with_diagnostics(context, |messages| lower_with(context, module, request, messages))
}

fn lower_with(
    context: &Context,
    module: &mut Module,
    request: &GpuRequest,
    messages: &Rc<RefCell<Vec<String>>>,
) -> Result<GpuModel, CpuError> {
    let name = request.target.name();
    let (inputs, outputs) = prepare_graph(context, module, request.function, request.weights, &name, messages)?;
    let last_phase = match request.up_to {
        GpuStop::Phase(p) => p,
        _ => Phase::Bufferized,
    };
    for phase in [Phase::Kernels, Phase::Linalg, Phase::Bufferized] {
        if phase > last_phase {
            break;
        }
        let pipeline = phase_pipeline(phase, request, request.up_to == GpuStop::TiledLoops);
        run_pipeline(context, module, &pipeline, phase).map_err(|e| phase_error(e, messages))?;
    }
    let (fusion_report, memory_plan) = phase_reports(module);
    let mut model = GpuModel {
        inputs,
        outputs,
        assembly: None,
        plan: None,
        fusion_report,
        memory_plan,
    };
    if matches!(request.up_to, GpuStop::Phase(_)) {
        return Ok(model);
    }
    let failed = |message: String| CpuError {
        message: {
            let details = messages.borrow().join("\n");
            if details.is_empty() {
                message
            } else {
                format!("{details}\n{message}")
            }
        },
        unsupported: false,
    };
    run_step(
        context,
        module,
        TILE_PIPELINE,
        "mapping the loops to blocks and threads",
    )
    .map_err(&failed)?;
    if request.up_to == GpuStop::TiledLoops {
        return Ok(model);
    }
    run_step(context, module, OUTLINE_PIPELINE, "outlining the kernels").map_err(&failed)?;
    merge_kernel_modules(module.as_operation()).map_err(&failed)?;
    // The host code becomes one hw function (allocations, copies, launches, wait); the
    // plan a runtime loads is read back from it.
    let plan = host_plan(module.as_operation(), request.function, model.inputs.len()).map_err(&failed)?;
    replace_host_code(module.as_operation(), &plan, request.function, DEVICE_MODULE).map_err(&failed)?;
    let read = read_host_program(module.as_operation(), request.function).map_err(&failed)?;
    if read != plan {
        return Err(failed(format!(
            "internal error: the hw host function does not give back the host plan\nfrom the host code: {plan:?}\nfrom hw: {read:?}"
        )));
    }
    model.plan = Some(read);
    if request.up_to == GpuStop::Outlined {
        return Ok(model);
    }
    run_step(
        context,
        module,
        &binary_pipeline(&request.target),
        &format!("device code for {name}"),
    )
    .map_err(&failed)?;
    let assembly = device_assembly(module.as_operation()).map_err(&failed)?;
    if let Some(call) = unresolved_libdevice_call(&assembly).filter(|_| request.target.vendor == Vendor::Cuda) {
        return Err(failed(format!(
            "the kernels call {call} from CUDA's libdevice, and no CUDA toolkit with nvvm/libdevice was found \
             (set FUSER_CUDA_TOOLKIT, or run `make setup`, which installs it in .venv)"
        )));
    }
    model.assembly = Some(assembly);
    Ok(model)
}

/// A libdevice function (`__nv_...`) that `ptx` calls but does not define.
fn unresolved_libdevice_call(ptx: &str) -> Option<String> {
    ptx.lines()
        .filter_map(|line| line.trim().strip_prefix(".extern .func"))
        .find_map(|rest| {
            let name = rest.split(['(', ' ', ',']).find(|w| w.starts_with("__nv_"))?;
            Some(name.to_string())
        })
}

/// Compiles `module` as for a GPU up to the tiled loop nests (blocks, threads, bounds
/// checks: everything but the launch itself), then runs those nests sequentially on this
/// CPU through the JIT. The check of the GPU lowering that needs no GPU: its results
/// must match the reference evaluator's.
pub fn compile_gpu_loops_for_cpu(
    context: &Context,
    module: &mut Module,
    function: &str,
    weights: &Weights,
) -> Result<fuser_lowering::JitModel, CpuError> {
    let request = GpuRequest {
        function,
        weights,
        target: GpuTarget::cuda("sm_90"),
        fusion: Fusion::default(),
        up_to: GpuStop::TiledLoops,
        tensor_cores: false,
    };
    let lowered = lower_for_gpu(context, module, &request)?;
    with_diagnostics(context, |messages| {
        let entry = fuser_dialects::eval::find_function(module.as_operation(), function)
            .ok_or_else(|| CpuError::failed("no entry function"))?;
        fuser_dialects::ffi::set_attribute(
            entry,
            "sym_name",
            fuser_dialects::ffi::make::string(entry.context(), &format!("_mlir_ciface_{function}")),
        );
        run_pipeline(context, module, LOOPS_ON_CPU_PIPELINE, Phase::Llvm).map_err(|e| phase_error(e, messages))?;
        fuser_lowering::JitModel::new(module, function, lowered.inputs, lowered.outputs, None)
            .map_err(|e| CpuError::failed(e.to_string()))
    })
}
