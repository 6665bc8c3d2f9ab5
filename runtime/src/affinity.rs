//! Each pool helper on a core of its own ([`pin_helper`]), as onnxruntime pins its
//! intra-op threads when it picks their number itself.
//!
//! A helper that slept (its spin over, [`crate::pool`]) and is woken by the next job may
//! be put by the scheduler on the calling thread's core, beside it, and stay there for
//! milliseconds: the two then share one core and a model runs at one thread's speed. On
//! a two-core VM (an AMD EPYC), runs started after a pause of a few milliseconds (as
//! `bench/interleaved_ort.py` pauses before each block) took the one-thread time in half
//! of them: a chain of 32 1×1 convs at 14×14, median 0.529 and 0.532 ms unpinned against
//! 0.329 pinned in two pairs of runs of `bench/paused_runs.py ./target/release/fuser
//! target/ops/pw64_14.onnx`, with and without `FUSER_PIN_THREADS=0` (0.33 back to back).
//!
//! Helper `i` takes the `(i + 1)`-th CPU of the set it inherits from the thread that
//! started it, where that set has one (the first is left to the calling thread, which is
//! never pinned and keeps its whole set); a helper past the set's end stays unpinned.
//! `FUSER_PIN_THREADS=0` leaves every helper unpinned (a program that places its own
//! threads, or several fuser processes on one machine, which would pin their helpers to
//! the same CPUs).

/// Pins the calling thread (helper `index`) to the `(index + 1)`-th CPU of the set it may
/// run on, unless `FUSER_PIN_THREADS=0` or the set has no such CPU; returns whether it
/// did (a kernel that refuses the call leaves it unpinned). Off Linux it does nothing.
pub(crate) fn pin_helper(index: usize) -> bool {
    if std::env::var("FUSER_PIN_THREADS").as_deref() == Ok("0") {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        let cpus = allowed_cpus();
        cpus.get(index + 1).is_some_and(|&cpu| set_cpu(cpu))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = index;
        false
    }
}

/// The CPUs the calling thread may run on, in order (none where the kernel does not say).
#[cfg(target_os = "linux")]
pub(crate) fn allowed_cpus() -> Vec<usize> {
    // SAFETY: `set` is a plain bit set that the call fills for this thread (0).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect()
    }
}

/// Restricts the calling thread to `cpu`; whether the kernel agreed.
#[cfg(target_os = "linux")]
fn set_cpu(cpu: usize) -> bool {
    // SAFETY: `set` is a plain bit set with `cpu` (below CPU_SETSIZE) in it, applied to
    // this thread (0).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// Helper 0 runs on the second CPU of the set, where there is one and the kernel lets
    /// it; a helper past the set's end, or any under `FUSER_PIN_THREADS=0`, keeps the
    /// whole set; the calling thread keeps its set.
    #[test]
    fn a_helper_is_pinned_to_a_cpu_of_its_own() {
        let cpus = super::allowed_cpus();
        let in_thread = |index: usize| {
            std::thread::spawn(move || (super::pin_helper(index), super::allowed_cpus()))
                .join()
                .expect("the thread ran")
        };
        let (pinned, set) = in_thread(0);
        let opted_out = std::env::var("FUSER_PIN_THREADS").as_deref() == Ok("0");
        if pinned {
            assert!(!opted_out && cpus.len() > 1);
            assert_eq!(set, vec![cpus[1]]);
        } else {
            assert_eq!(set, cpus);
            // Unpinned only where opted out, with one CPU, or where the kernel refuses.
            let kernel_agrees = cpus.len() > 1
                && std::thread::spawn({
                    let cpu = cpus[1];
                    move || super::set_cpu(cpu)
                })
                .join()
                .expect("the thread ran");
            assert!(opted_out || !kernel_agrees);
        }
        // Past the set's end: unpinned, never wrapped onto the caller's CPU.
        assert_eq!(in_thread(cpus.len()), (false, cpus.clone()));
        assert_eq!(super::allowed_cpus(), cpus);
    }
}
