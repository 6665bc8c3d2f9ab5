//! The model cache: `fuser run` and `fuser bench` compile a model once per content,
//! target and options. The JIT's object code is linked with the runtime into
//! `<key>.so` in the cache folder, beside `<key>.json` (the entry and its types); a later
//! run loads the library and skips compilation. The key hashes fuser's version and
//! binary, the phase pipelines, the host CPU and its features, the input shapes, and the
//! loaded model's IR and weights, so any change to either recompiles.

use super::link::link_shared_library;
use crate::output::write_output;
use fuser_dialects::{
    constants::tensor_bytes,
    eval::{Tensor, Weights},
    semantics::{DType, TypeInfo},
};
use fuser_lowering::{JitModel, object::CpuSpec, packed_entry_symbol};
use fuser_passes::{
    cpu_target::CpuRequest,
    phases::{Fusion, Phase},
    value_specialization::compile_cpu_for_inputs,
};
use melior::{Context, ir::Module};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The cache folder: `$FUSER_CACHE_DIR`, else `$XDG_CACHE_HOME/fuser`, else
/// `~/.cache/fuser`.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FUSER_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("fuser"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache").join("fuser"))
}

/// The key of a model as loaded (IR and weights), for the host CPU and these shapes.
pub fn cache_key(module: &Module, weights: &Weights, input_shapes: &[Vec<usize>], fusion: Fusion) -> String {
    let mut hash = Sha256::new();
    hash.update(env!("CARGO_PKG_VERSION"));
    // The binary itself and the runtime library linked into cached libraries (size and
    // modification time): a rebuilt compiler or runtime never reuses code an older build
    // compiled or linked.
    let runtime = super::link::runtime_library().ok();
    for meta in [std::env::current_exe().ok(), runtime]
        .into_iter()
        .flatten()
        .filter_map(|path| std::fs::metadata(path).ok())
    {
        hash.update(meta.len().to_le_bytes());
        if let Ok(modified) = meta.modified()
            && let Ok(since) = modified.duration_since(std::time::UNIX_EPOCH)
        {
            hash.update(since.as_nanos().to_le_bytes());
        }
    }
    for phase in Phase::ALL {
        hash.update(phase.pipeline_for(fusion));
    }
    let cpu = CpuSpec::host();
    hash.update(&cpu.cpu);
    hash.update(&cpu.features);
    hash.update(format!("{input_shapes:?}"));
    hash.update(module.as_operation().to_string());
    let mut names: Vec<&String> = weights.keys().collect();
    names.sort();
    for name in names {
        hash.update(name);
        hash.update(tensor_bytes(&weights[name]));
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// What `<key>.json` holds.
#[derive(serde::Serialize, serde::Deserialize)]
struct Meta {
    entry: String,
    inputs: Vec<(String, Vec<i64>)>,
    outputs: Vec<(String, Vec<i64>)>,
}

fn to_pairs(types: &[TypeInfo]) -> Vec<(String, Vec<i64>)> {
    types
        .iter()
        .map(|t| {
            (
                t.dtype.mlir().to_string(),
                t.shape.iter().map(|d| d.unwrap_or(-1)).collect(),
            )
        })
        .collect()
}

fn from_pairs(pairs: &[(String, Vec<i64>)]) -> Option<Vec<TypeInfo>> {
    pairs
        .iter()
        .map(|(dtype, shape)| {
            Some(TypeInfo::new(
                DType::from_mlir(dtype)?,
                shape.iter().map(|&d| Some(d)).collect(),
            ))
        })
        .collect()
}

/// A compiled model, and whether it came from the cache.
pub struct Compiled {
    pub model: JitModel,
    pub cached: bool,
    /// Seconds spent storing the model into the cache (not compiling).
    pub store_seconds: f64,
}

/// How `compile_cached` compiles: the runtime's threads, whether the cache is used, and
/// the fusion strategy (part of the cache key).
#[derive(Clone, Copy, Debug)]
pub struct CacheOptions {
    pub threads: usize,
    pub use_cache: bool,
    pub fusion: Fusion,
}

/// Loads the model for `key` from the cache, or compiles it with the JIT and stores it.
/// Without a cache folder (or with `use_cache` off) this is a plain JIT compile; a
/// failure to store is reported on stderr and does not fail the run.
pub fn compile_cached(
    context: &Context,
    module: &mut Module,
    function: &str,
    weights: &Weights,
    inputs: &[Tensor],
    options: CacheOptions,
) -> Result<Compiled, String> {
    let CacheOptions {
        threads,
        use_cache,
        fusion,
    } = options;
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
    let input_shapes = shapes.as_slice();
    let dir = cache_dir().filter(|_| use_cache);
    let key = dir.as_ref().map(|_| cache_key(module, weights, input_shapes, fusion));
    if let (Some(dir), Some(key)) = (&dir, &key) {
        let (library, meta) = (dir.join(format!("{key}.so")), dir.join(format!("{key}.json")));
        if let (true, Ok(text)) = (library.exists(), std::fs::read_to_string(&meta))
            && let Ok(meta) = serde_json::from_str::<Meta>(&text)
            && let (Some(inputs), Some(outputs)) = (from_pairs(&meta.inputs), from_pairs(&meta.outputs))
            && let Ok(model) = JitModel::load_library(&library, &meta.entry, inputs, outputs, threads)
        {
            return Ok(Compiled {
                model,
                cached: true,
                store_seconds: 0.0,
            });
        }
    }
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let object = work.path().join("model.o");
    let request = CpuRequest {
        function,
        weights,
        input_shapes: Some(input_shapes),
        up_to: Phase::Llvm,
        entry_symbol: format!("_mlir_ciface_{function}"),
        profile: false,
        object_file: dir.as_ref().map(|_| object.as_path()),
        fusion,
    };
    let (model, _, specialized) = compile_cpu_for_inputs(context, module, &request, inputs).map_err(|e| e.message)?;
    let start = std::time::Instant::now();
    // Code specialized on input values is only good for those values: not cached.
    if let (Some(dir), Some(key), true) = (dir, key, specialized.is_empty())
        && let Err(e) = store(&dir, &key, &object, function, &model)
    {
        eprintln!("fuser: warning: the compiled model was not cached: {e}");
    }
    Ok(Compiled {
        model,
        cached: false,
        store_seconds: start.elapsed().as_secs_f64(),
    })
}

fn store(dir: &Path, key: &str, object: &Path, function: &str, model: &JitModel) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let bytes = std::fs::read(object).map_err(|e| format!("the JIT wrote no object code: {e}"))?;
    let entry = packed_entry_symbol(function);
    link_shared_library(
        &[bytes],
        &dir.join(format!("{key}.so")),
        &[&entry, fuser_lowering::SET_THREADS_SYMBOL],
    )?;
    let meta = Meta {
        entry: function.to_string(),
        inputs: to_pairs(model.inputs()),
        outputs: to_pairs(model.outputs()),
    };
    let text = serde_json::to_string(&meta).map_err(|e| e.to_string())?;
    write_output(&dir.join(format!("{key}.json")).display().to_string(), text.as_bytes())
}
