//! Each pool helper on a core of its own ([`pin_helper`]), as onnxruntime pins its
//! intra-op threads.
//!
//! A helper that slept (its spin over, [`crate::pool`]) and is woken by the next job may
//! be put by the scheduler on the calling thread's core, beside it, and stay there for
//! milliseconds: the two then share one core and a model runs at one thread's speed. On
//! a two-core VM (an AMD EPYC), MobileNetV2-sized runs started after a pause of a few
//! milliseconds (as `bench/interleaved_ort.py` pauses before each block) took the
//! one-thread time in half of them: a chain of 32 1×1 convs at 14×14, median 0.48–0.53
//! ms over blocks of 10 runs against 0.327 with the helper pinned (0.33 back to back).
//!
//! Helper `i` takes the `(i + 1)`-th CPU of the set the process may run on (the calling
//! thread keeps the others, the first among them). `FUSER_PIN_THREADS=0` leaves the
//! helpers unpinned (a program that places its own threads).

/// Pins the calling thread (helper `index`) to the `(index + 1)`-th CPU (wrapping) of the
/// set it may run on, unless `FUSER_PIN_THREADS=0`. Does nothing where that set has one
/// CPU, or off Linux.
pub(crate) fn pin_helper(index: usize) {
    if std::env::var("FUSER_PIN_THREADS").as_deref() == Ok("0") {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let cpus = allowed_cpus();
        if cpus.len() > 1 {
            set_cpu(cpus[(index + 1) % cpus.len()]);
        }
    }
}

/// The CPUs the calling thread may run on, in order.
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

/// Restricts the calling thread to `cpu`; a refusal leaves it as it was.
#[cfg(target_os = "linux")]
fn set_cpu(cpu: usize) {
    // SAFETY: `set` is a plain bit set with `cpu` (below CPU_SETSIZE) in it, applied to
    // this thread (0).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// A pinned helper runs on one CPU: the second of the set (or the first again, where
    /// there is one); `FUSER_PIN_THREADS=0` leaves it the whole set.
    #[test]
    fn a_helper_is_pinned_to_a_cpu_of_its_own() {
        let cpus = super::allowed_cpus();
        assert!(!cpus.is_empty());
        let pinned = std::thread::spawn(|| {
            super::pin_helper(0);
            super::allowed_cpus()
        })
        .join()
        .expect("the thread ran");
        let expected = match (std::env::var("FUSER_PIN_THREADS").as_deref(), cpus.len()) {
            (Ok("0"), _) | (_, 1) => cpus.clone(),
            _ => vec![cpus[1]],
        };
        assert_eq!(pinned, expected);
        // The calling thread keeps its set.
        assert_eq!(super::allowed_cpus(), cpus);
    }
}
