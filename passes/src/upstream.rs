//! The upstream MLIR passes, listed at build time (see `build.rs`).

include!(concat!(env!("OUT_DIR"), "/upstream_passes.rs"));

/// Whether `flag` names an upstream pass.
pub fn is_upstream_pass(flag: &str) -> bool {
    UPSTREAM_PASSES.iter().any(|(name, _)| *name == flag)
}
