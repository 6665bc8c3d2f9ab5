//! The named phases of compilation, listed once (in the style of IREE's `Pipelines.h`).
//! `fuser compile --compile-to=<phase>` stops after one; each phase is an ordinary
//! pipeline string, so `fuser-opt --pass-pipeline='builtin.module(<text>)'` runs the
//! same step by hand.

use crate::pipeline::{PipelineError, PipelineOptions, add_pipeline};
use melior::{Context, ir::Module, pass::PassManager};

/// How the kernels phase groups graph ops into kernels (`fuser compile --fusion`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fusion {
    /// `graph-eqsat-fuse`: equality saturation and extraction by the cost model.
    #[default]
    Eqsat,
    /// `graph-eqsat-fuse{strategy=greedy}`: the producer-epilogue heuristic.
    Greedy,
}

impl Fusion {
    pub fn name(self) -> &'static str {
        match self {
            Fusion::Eqsat => "eqsat",
            Fusion::Greedy => "greedy",
        }
    }

    pub fn from_name(name: &str) -> Option<Fusion> {
        [Fusion::Eqsat, Fusion::Greedy].into_iter().find(|f| f.name() == name)
    }
}

/// A compilation phase; each ends at the IR level it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Graph-level cleanup: shapes refined, constants folded, graph simplified.
    Graph,
    /// Graph ops grouped into outlined `ftensor.kernel` functions.
    Kernels,
    /// Every graph op lowered to linalg/tensor/arith/math on tensors.
    Linalg,
    /// One-shot bufferization: memrefs, results as out-parameters, deallocation.
    Bufferized,
    /// The llvm dialect, ready for translation to LLVM IR.
    Llvm,
}

impl Phase {
    pub const ALL: [Phase; 5] = [
        Phase::Graph,
        Phase::Kernels,
        Phase::Linalg,
        Phase::Bufferized,
        Phase::Llvm,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Graph => "graph",
            Phase::Kernels => "kernels",
            Phase::Linalg => "linalg",
            Phase::Bufferized => "bufferized",
            Phase::Llvm => "llvm",
        }
    }

    pub fn from_name(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == name)
    }

    pub fn summary(self) -> &'static str {
        match self {
            Phase::Graph => "graph dialect after shape inference, constant folding and simplification",
            Phase::Kernels => {
                "graph ops fused by equality saturation (graph-eqsat-fuse) into outlined ftensor.kernel functions called from the model function; INT8 kernels hand INT8 consumers codes (ftensor-int8-activations); on AVX2 CPUs conv kernels hand conv kernels channel-blocked tensors (ftensor-blocked-layout); batched matmul kernels read the transposes that feed them in place (ftensor-fold-transposes)"
            }
            Phase::Linalg => "upstream linalg/tensor/arith/math on tensors",
            Phase::Bufferized => {
                "memrefs after one-shot bufferization, with results as out-parameters and intermediate buffers planned into one arena (hw.alloc)"
            }
            Phase::Llvm => "the llvm dialect, with bare-pointer calling convention",
        }
    }

    /// The pipeline of this phase with the fusion strategy `fusion`.
    pub fn pipeline_for(self, fusion: Fusion) -> &'static str {
        match (self, fusion) {
            (Phase::Kernels, Fusion::Greedy) => {
                "graph-eqsat-fuse{target=cpu strategy=greedy},ftensor-int8-activations,ftensor-blocked-layout,ftensor-fold-transposes"
            }
            _ => self.pipeline(),
        }
    }

    /// The pipeline (inside `builtin.module(...)`) that takes the previous phase's IR
    /// to this one, with the default fusion strategy.
    pub fn pipeline(self) -> &'static str {
        match self {
            // Folding makes shape operands constant, inference then makes more shapes
            // static, which lets more fold: `infer-shapes` repeats both until nothing folds.
            Phase::Graph => "graph-infer-shapes,graph-fold-constants{infer-shapes=true},graph-simplify",
            Phase::Kernels => {
                "graph-eqsat-fuse{target=cpu},ftensor-int8-activations,ftensor-blocked-layout,ftensor-fold-transposes"
            }
            Phase::Linalg => "convert-graph-to-linalg,canonicalize,cse",
            Phase::Bufferized => {
                "tensor-distinct-results,one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map},\
                 buffer-results-to-out-params{hoist-static-allocs modify-public-functions},\
                 buffer-deallocation-pipeline,memref-forward-copies,canonicalize,cse,hw-plan-memory"
            }
            Phase::Llvm => {
                "convert-hw-to-memref,convert-memref-copy-to-linalg,convert-linalg-to-microkernels,convert-linalg-to-loops,lower-affine,convert-scf-to-cf,expand-strided-metadata,lower-affine,\
                 finalize-memref-to-llvm,convert-math-to-funcs,convert-math-to-llvm,convert-math-to-libm,convert-arith-to-llvm,\
                 convert-index-to-llvm,convert-func-to-llvm{use-bare-ptr-memref-call-conv},convert-cf-to-llvm,\
                 convert-ub-to-llvm,reconcile-unrealized-casts,llvm-flatten-constant-globals"
            }
        }
    }
}

/// The markdown table of phases, for `--help` and the docs.
pub fn phases_table() -> String {
    let mut out = String::new();
    for phase in Phase::ALL {
        out.push_str(&format!("  {:<11} {}\n", phase.name(), phase.summary()));
    }
    out
}

/// Runs every phase from the one after `from` up to and including `to` on `module`.
/// Diagnostics go to the context's handlers; an `Err` says which phase failed.
pub fn run_phases(
    context: &Context,
    module: &mut Module,
    from: Option<Phase>,
    to: Phase,
    fusion: Fusion,
) -> Result<(), PhaseError> {
    for phase in Phase::ALL {
        if from.is_some_and(|f| phase <= f) || phase > to {
            continue;
        }
        let start = std::time::Instant::now();
        run_pipeline(context, module, phase.pipeline_for(fusion), phase)?;
        report_time(&format!("phase {}", phase.name()), start);
    }
    Ok(())
}

/// Runs `pipeline` (the passes of `phase`, or a target's own pipeline for it) on
/// `module`; an `Err` names `phase`.
pub fn run_pipeline(context: &Context, module: &mut Module, pipeline: &str, phase: Phase) -> Result<(), PhaseError> {
    let manager = PassManager::new(context);
    add_pipeline(
        &manager.as_operation_pass_manager(),
        pipeline,
        PipelineOptions::default(),
    )
    .map_err(|e| PhaseError::Pipeline(phase, e))?;
    if std::env::var_os("FUSER_PHASE_TIMES").is_some() {
        crate::enable_timing(&manager);
    }
    manager.run(module).map_err(|_| PhaseError::Failed(phase))
}

/// With `FUSER_PHASE_TIMES` set, prints how long `step` took since `start` (stderr).
pub fn report_time(step: &str, start: std::time::Instant) {
    if std::env::var_os("FUSER_PHASE_TIMES").is_some() {
        eprintln!("{step}: {:.2} s", start.elapsed().as_secs_f64());
    }
}

/// Why a phase did not complete.
#[derive(Debug, thiserror::Error)]
pub enum PhaseError {
    #[error("the {phase} phase's pipeline is invalid: {error}", phase = .0.name(), error = .1)]
    Pipeline(Phase, PipelineError),
    #[error("the {phase} phase failed (see the errors above)", phase = .0.name())]
    Failed(Phase),
}
