//! Per-kernel timing for `fuser bench --profile`: the instrumented entry function calls
//! `fuser_profile_begin(id)` and `fuser_profile_end(id)` around each kernel call.

use std::{sync::Mutex, time::Instant};

pub const PROFILE_BEGIN: &str = "fuser_profile_begin";
pub const PROFILE_END: &str = "fuser_profile_end";

struct Slot {
    seconds: f64,
    calls: u64,
    started: Option<Instant>,
}

static SLOTS: Mutex<Vec<Slot>> = Mutex::new(Vec::new());

fn with_slot(id: i64, f: impl FnOnce(&mut Slot)) {
    let mut slots = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
    let id = id.max(0) as usize;
    while slots.len() <= id {
        slots.push(Slot {
            seconds: 0.0,
            calls: 0,
            started: None,
        });
    }
    f(&mut slots[id]);
}

/// Starts timing kernel `id`.
#[unsafe(no_mangle)]
pub extern "C" fn fuser_profile_begin(id: i64) {
    with_slot(id, |s| s.started = Some(Instant::now()));
}

/// Stops timing kernel `id`.
#[unsafe(no_mangle)]
pub extern "C" fn fuser_profile_end(id: i64) {
    with_slot(id, |s| {
        if let Some(start) = s.started.take() {
            s.seconds += start.elapsed().as_secs_f64();
            s.calls += 1;
        }
    });
}

/// The time and call count of each kernel id so far, and resets them.
pub fn take_profile() -> Vec<(f64, u64)> {
    let mut slots = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
    slots.drain(..).map(|s| (s.seconds, s.calls)).collect()
}
