//! The `fuser` driver's subcommands.

pub mod bench;
pub mod cache;
pub mod check;
pub mod compare;
pub mod compile;
pub mod compile_ascend;
pub mod compile_gpu;
pub mod conformance;
pub mod explain;
pub mod link;
pub mod load;
pub mod quantize;
pub mod run;
pub mod run_cuda;
