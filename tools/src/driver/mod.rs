//! The `fuser` driver's subcommands.

pub mod conformance;
pub mod load;
