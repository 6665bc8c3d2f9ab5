//! Shared plumbing of fuser's command-line tools (`fuser-opt`, `fuser-translate`):
//! diagnostics collection and printing, `--verify-diagnostics`, `--split-input-file`,
//! and atomic output.

pub mod diagnostics;
pub mod driver;
pub mod input;
pub mod output;
pub mod session;
pub mod verify_diagnostics;
