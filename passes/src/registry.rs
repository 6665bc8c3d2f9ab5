//! The pass registry: one table of every fuser pass. `fuser-opt --list-passes`,
//! `--<flag>` options and `docs/passes.md` are all generated from it.

use melior::pass::Pass;
use std::collections::BTreeMap;

/// One option of a pass, written `pass{name=value}` in a pipeline.
#[derive(Debug)]
pub struct PassOptionInfo {
    pub name: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

/// Parsed `{k=v ...}` options of one pipeline element.
pub type PassOptions = BTreeMap<String, String>;

/// One registered pass.
pub struct PassInfo {
    /// The pipeline name and command-line flag (`graph-simplify`).
    pub flag: &'static str,
    /// The Rust type implementing it (PascalCase of the flag + `Pass`).
    pub type_name: &'static str,
    pub summary: &'static str,
    /// Longer description with a before/after IR example (markdown).
    pub description: &'static str,
    pub options: &'static [PassOptionInfo],
    /// Creates the pass from validated options.
    pub create: fn(&PassOptions) -> Result<Pass, String>,
}

/// The identity MLIR needs for each external pass type: one `static` per pass.
#[repr(align(8))]
pub struct PassId;

/// A melior external pass for `info`, running `run` on each op it is scheduled on.
pub fn external_pass(
    id: &'static PassId,
    info: &PassInfo,
    // `'static: a closure that borrowed the options of `create` would read a dead stack frame.
    run: impl FnMut(melior::ir::OperationRef, melior::pass::ExternalPass) + Clone + 'static,
) -> Pass {
    melior::pass::create_external(
        run,
        melior::ir::r#type::TypeId::create(id),
        info.type_name,
        info.flag,
        info.summary,
        "",
        &[],
    )
}

/// Every fuser pass. Keep sorted by flag.
pub static PASSES: &[PassInfo] = &[
    crate::convert_ftensor_to_cann::INFO,
    crate::convert_graph_to_linalg::INFO,
    crate::convert_hw_to_memref::INFO,
    crate::convert_linalg_to_microkernels::INFO,
    crate::convert_memref_copy_to_linalg::INFO,
    crate::ftensor_blocked_layout::INFO,
    crate::ftensor_fold_transposes::INFO,
    crate::ftensor_int8_activations::INFO,
    crate::gpu_tile_parallel_loops::INFO,
    crate::graph_eqsat_fuse::INFO,
    crate::graph_fold_batch_norm::INFO,
    crate::graph_fold_constants::INFO,
    crate::graph_form_kernels::INFO,
    crate::graph_infer_shapes::INFO,
    crate::graph_mixed_precision::INFO,
    crate::graph_quantize::INFO,
    crate::graph_simplify::INFO,
    crate::hw_plan_memory::INFO,
    crate::linalg_parallel_dims_first::INFO,
    crate::llvm_flatten_constant_globals::INFO,
    crate::math_expand_erf::INFO,
    crate::memref_forward_copies::INFO,
    crate::tensor_distinct_results::INFO,
];

/// Looks a pass up by flag.
pub fn find_pass(flag: &str) -> Option<&'static PassInfo> {
    PASSES.iter().find(|p| p.flag == flag)
}

impl PassInfo {
    /// Checks that every given option is declared, then creates the pass.
    pub fn instantiate(&self, options: &PassOptions) -> Result<Pass, String> {
        for key in options.keys() {
            if !self.options.iter().any(|o| o.name == key) {
                let known: Vec<&str> = self.options.iter().map(|o| o.name).collect();
                return Err(if known.is_empty() {
                    format!("pass '{}' has no option '{key}' (it takes no options)", self.flag)
                } else {
                    format!(
                        "pass '{}' has no option '{key}'; options: {}",
                        self.flag,
                        known.join(", ")
                    )
                });
            }
        }
        (self.create)(options)
    }
}

/// `docs/passes.md`, generated from the registry.
pub fn passes_markdown() -> String {
    let mut out = String::from(
        "# fuser passes\n\n<!-- Generated from the pass registry (passes/src/registry.rs) by \
         `FUSER_BLESS=1 cargo test -p fuser-passes`; do not edit by hand. -->\n\n\
         Every pass below can be used in `fuser-opt --pass-pipeline='builtin.module(...)'`, \
         mixed with upstream MLIR passes, or on its own as `fuser-opt --<flag>`.\n\n",
    );
    for pass in PASSES {
        out.push_str(&format!(
            "## `{}` ({})\n\n{}\n\n{}\n\n",
            pass.flag,
            pass.type_name,
            pass.summary,
            pass.description.trim()
        ));
        if pass.options.is_empty() {
            out.push_str("Options: none.\n\n");
        } else {
            out.push_str("| option | default | meaning |\n|---|---|---|\n");
            for o in pass.options {
                out.push_str(&format!("| `{}` | `{}` | {} |\n", o.name, o.default, o.help));
            }
            out.push('\n');
        }
    }
    out.push_str(
        "## Compilation phases\n\n`fuser compile --compile-to=<phase>` stops after a phase; each is the pipeline \
         below, so `fuser-opt --pass-pipeline='builtin.module(<pipeline>)'` runs the same step on the previous \
         phase's output.\n\n| phase | result | pipeline |\n|---|---|---|\n",
    );
    for phase in crate::phases::Phase::ALL {
        out.push_str(&format!(
            "| `{}` | {} | `{}` |\n",
            phase.name(),
            phase.summary(),
            phase.pipeline()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/passes.md` must match the registry. Regenerate with `FUSER_BLESS=1`.
    #[test]
    fn passes_doc_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/passes.md");
        let expected = passes_markdown();
        if std::env::var_os("FUSER_BLESS").is_some() {
            std::fs::write(path, &expected).unwrap();
        }
        let actual = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            actual == expected,
            "docs/passes.md is stale: run `FUSER_BLESS=1 cargo test -p fuser-passes`"
        );
    }

    #[test]
    fn flags_follow_the_naming_convention() {
        for pass in PASSES {
            let pascal: String = pass.flag.split('-').map(|w| w[..1].to_uppercase() + &w[1..]).collect();
            assert_eq!(pass.type_name, format!("{pascal}Pass"), "{}", pass.flag);
            assert!(
                !crate::upstream::is_upstream_pass(pass.flag),
                "{} shadows an upstream pass",
                pass.flag
            );
        }
        let mut flags: Vec<_> = PASSES.iter().map(|p| p.flag).collect();
        let sorted = {
            let mut s = flags.clone();
            s.sort();
            s
        };
        assert_eq!(flags, sorted, "keep PASSES sorted");
        flags.dedup();
        assert_eq!(flags.len(), PASSES.len());
    }

    #[test]
    fn upstream_list_has_the_common_passes() {
        for name in ["canonicalize", "cse", "one-shot-bufferize", "convert-func-to-llvm"] {
            assert!(crate::upstream::is_upstream_pass(name), "{name}");
        }
    }
}
