//! Machine code for a CPU through inkwell's TargetMachine: an llvm-dialect module is
//! translated to LLVM IR, optimized with LLVM's O3 pipeline for the target, and written
//! as an object file (or optimized LLVM IR). `cpu` is the host CPU with all its features;
//! `cpu:<mcpu>[+feature,-feature...]` cross-compiles for another x86-64 CPU.
//!
//! # Safety
//! The LLVM module produced by MLIR's translation is handed to inkwell, which owns and
//! disposes it with its context.

use inkwell::{
    OptimizationLevel,
    context::Context,
    memory_buffer::MemoryBuffer,
    module::Module as LlvmModule,
    passes::PassBuilderOptions,
    targets::{CodeModel, FileType, InitializationConfig, RelocMode, Target, TargetMachine, TargetTriple},
};
use melior::ir::Module;

/// A CPU to compile for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuSpec {
    /// LLVM's CPU name (`sapphirerapids`, `x86-64-v3`).
    pub cpu: String,
    /// LLVM's feature string (`+avx512f,-amx-tile`).
    pub features: String,
}

impl CpuSpec {
    /// The CPU this process runs on, with every feature it has.
    pub fn host() -> Self {
        CpuSpec {
            cpu: TargetMachine::get_host_cpu_name().to_string(),
            features: TargetMachine::get_host_cpu_features().to_string(),
        }
    }

    /// Parses a `--target` value: `cpu` or `cpu:<mcpu>[+feature...][,-feature...]`. The
    /// feature list starts at the first `+` (CPU names contain `-`, as in `x86-64-v3`);
    /// features are joined by `+`, and a disabled one follows a comma (`+avx512f,-amx-tile`),
    /// since feature names contain `-` too.
    pub fn parse(target: &str) -> Result<Self, String> {
        if target == "cpu" {
            return Ok(Self::host());
        }
        let rest = target.strip_prefix("cpu:").ok_or_else(|| {
            format!("unknown target '{target}' (cpu, cpu:<mcpu>[+features], cuda:sm_80 or cuda:sm_90)")
        })?;
        let split = rest.find('+').unwrap_or(rest.len());
        let (cpu, features) = rest.split_at(split);
        if cpu.is_empty() {
            return Err(format!("target '{target}' names no CPU"));
        }
        // Items are separated by `,` (needed before a `-feature`, since names contain
        // `-`) or `+`; an item without a sign is enabled.
        let mut list = Vec::new();
        for item in features.split(',').filter(|i| !i.is_empty()) {
            let (negative, names) = match item.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, item),
            };
            for (k, name) in names.split('+').filter(|n| !n.is_empty()).enumerate() {
                let sign = if negative && k == 0 { '-' } else { '+' };
                list.push(format!("{sign}{name}"));
            }
        }
        Ok(CpuSpec {
            cpu: cpu.to_string(),
            features: list.join(","),
        })
    }
}

/// What to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Artifact {
    Object,
    /// LLVM IR after LLVM's O3 pipeline for the target.
    OptimizedIr,
}

fn target_machine(spec: &CpuSpec) -> Result<TargetMachine, String> {
    // Registration is global and not safe to race: once per process.
    static INITIALIZE: std::sync::Once = std::sync::Once::new();
    INITIALIZE.call_once(|| Target::initialize_x86(&InitializationConfig::default()));
    let triple = TargetTriple::create("x86_64-unknown-linux-gnu");
    let target = Target::from_triple(&triple).map_err(|e| e.to_string())?;
    target
        .create_target_machine(
            &triple,
            &spec.cpu,
            &spec.features,
            OptimizationLevel::Aggressive,
            RelocMode::PIC,
            CodeModel::Default,
        )
        .ok_or_else(|| {
            format!(
                "LLVM has no target machine for CPU '{}' with '{}'",
                spec.cpu, spec.features
            )
        })
}

/// Translates `module` (fully in the llvm dialect) to LLVM IR in `context`, for the
/// target of `machine`.
fn translate<'ctx>(
    module: &Module,
    context: &'ctx Context,
    machine: &TargetMachine,
) -> Result<LlvmModule<'ctx>, String> {
    // SAFETY: the translation creates a module in `context`, which outlives it; a null
    // result means the module is not translatable (diagnostics were emitted).
    let llvm = unsafe {
        let raw = mlir_sys::mlirTranslateModuleToLLVMIR(module.as_operation().to_raw(), context.raw().cast());
        if raw.is_null() {
            return Err("the module could not be translated to LLVM IR (is it fully in the llvm dialect?)".into());
        }
        LlvmModule::new(raw.cast())
    };
    llvm.set_triple(&machine.get_triple());
    llvm.set_data_layout(&machine.get_target_data().get_data_layout());
    llvm.verify().map_err(|e| format!("invalid LLVM IR: {e}"))?;
    Ok(llvm)
}

/// Runs LLVM's O3 pipeline on `llvm`, then writes `artifact`.
fn optimize_and_write(llvm: &LlvmModule, machine: &TargetMachine, artifact: Artifact) -> Result<Vec<u8>, String> {
    llvm.run_passes("default<O3>", machine, PassBuilderOptions::create())
        .map_err(|e| e.to_string())?;
    match artifact {
        Artifact::OptimizedIr => Ok(llvm.print_to_string().to_bytes().to_vec()),
        Artifact::Object => machine
            .write_to_memory_buffer(llvm, FileType::Object)
            .map(|buffer| buffer.as_slice().to_vec())
            .map_err(|e| e.to_string()),
    }
}

/// Compiles `module` (fully in the llvm dialect) for `spec` at O3, on this thread.
pub fn emit(module: &Module, spec: &CpuSpec, artifact: Artifact) -> Result<Vec<u8>, String> {
    let machine = target_machine(spec)?;
    let context = Context::create();
    let llvm = translate(module, &context, &machine)?;
    optimize_and_write(&llvm, &machine, artifact)
}

/// Compiles `module` for `spec` at O3 into object files that link into one program: the
/// module is split into up to `threads` parts (`split_for_codegen`) and LLVM optimizes
/// and generates code for each on its own thread. Translation to LLVM IR needs the MLIR
/// context, so it runs on this thread; the first part (the one with the weights) is
/// compiled here too, and the others travel to their threads as bitcode, each into an
/// LLVM context of its own (bitcode writes constant arrays element by element, so the
/// weights do not travel).
pub fn emit_objects(module: &Module, spec: &CpuSpec, threads: usize) -> Result<Vec<Vec<u8>>, String> {
    let Some(parts) = crate::split_module::split_for_codegen(module, threads) else {
        return Ok(vec![emit(module, spec, Artifact::Object)?]);
    };
    let machine = target_machine(spec)?;
    let mut bitcode = Vec::new();
    for part in &parts[1..] {
        let context = Context::create();
        let llvm = translate(part, &context, &machine)?;
        bitcode.push(llvm.write_bitcode_to_memory().as_slice().to_vec());
    }
    std::thread::scope(|scope| {
        let workers: Vec<_> = bitcode
            .iter()
            .map(|code| {
                scope.spawn(move || {
                    let machine = target_machine(spec)?;
                    let context = Context::create();
                    let buffer = MemoryBuffer::create_from_memory_range_copy(code, "part");
                    let llvm = LlvmModule::parse_bitcode_from_buffer(&buffer, &context).map_err(|e| e.to_string())?;
                    optimize_and_write(&llvm, &machine, Artifact::Object)
                })
            })
            .collect();
        let context = Context::create();
        let first = translate(&parts[0], &context, &machine)
            .and_then(|llvm| optimize_and_write(&llvm, &machine, Artifact::Object));
        let mut objects = vec![first?];
        for worker in workers {
            objects.push(
                worker
                    .join()
                    .map_err(|_| "an LLVM code generation thread panicked".to_string())??,
            );
        }
        Ok(objects)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_cpu_and_features() {
        let spec = CpuSpec::parse("cpu:x86-64-v3").unwrap();
        assert_eq!((spec.cpu.as_str(), spec.features.as_str()), ("x86-64-v3", ""));
        let spec = CpuSpec::parse("cpu:skylake-avx512+avx512f+avx512bw,-amx-tile").unwrap();
        assert_eq!(
            (spec.cpu.as_str(), spec.features.as_str()),
            ("skylake-avx512", "+avx512f,+avx512bw,-amx-tile")
        );
        assert!(CpuSpec::parse("gpu").is_err());
        assert!(CpuSpec::parse("cpu:").is_err());
    }
}
