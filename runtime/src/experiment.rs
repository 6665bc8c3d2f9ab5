//! A switch between two versions of a kernel under measurement, for `fuser bench --ab`.
//!
//! On this project's machines a build's speed moves by a third from minute to minute, and
//! within one process too, so two builds timed in turn (`bench/ab.py`) differ by as much
//! when they are the same build (see docs/performance.md, "Measuring on a noisy
//! machine"). Instead, a change under measurement is written beside the code it would
//! replace, the two chosen by [`experiment`]; `fuser bench --ab` then alternates the
//! switch run by run in one process, so that both versions see the same machine. The
//! kernels read the switch only while such a change is being measured: a change that is
//! kept replaces the old code, one that is dropped goes, and with no reader both halves
//! of `--ab` run the same code (an A/A run, which shows the noise left).
//!
//! `--ab` checks only that B's outputs stay within 1e-4 of A's on the model it times:
//! while a kernel reads the switch, run the runtime's tests with it on as well. The
//! switch is global, so a test that turns it on (as the one below does) makes tests that
//! run beside it take B at random then.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

static ON: AtomicBool = AtomicBool::new(false);

/// Turns the version under measurement on (`fuser bench --ab`'s B runs) or off.
pub fn set_experiment(on: bool) {
    ON.store(on, Relaxed);
}

/// Whether the version under measurement is to run.
#[allow(dead_code)]
pub(crate) fn experiment() -> bool {
    ON.load(Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_reads_what_was_set() {
        set_experiment(true);
        assert!(experiment());
        set_experiment(false);
        assert!(!experiment());
    }
}
