//! The threads that kernels split their work items over: the calling thread and
//! `threads() - 1` helpers that spin for a while after each job before they sleep.
//!
//! A model is a chain of short kernels (MobileNetV2's take 50 to 500 µs each), each one
//! parallel job. Rayon's idle workers go to sleep between them, and every kernel then paid
//! a futex wake and a context switch before the second core joined in: scheduler
//! functions took about 17% of a two-thread perf profile of MobileNetV2 (see
//! docs/cpu-backend.md, "Threads", for the command). Here helpers
//! wait for the next job by spinning for up to [`SPIN`], as onnxruntime's pool does, and
//! sleep on a condition variable only after that, so a model's kernels find them awake.
//!
//! One job runs at a time. A call made while one is under way (from another thread, or
//! from inside a job's work) runs its items on the calling thread, in order. Each runs
//! exactly once, on some thread.
//!
//! Items are split into one contiguous range per thread (the calling thread's first),
//! which each thread claims from the front, one at a time; a thread done with its range
//! takes what is left of the others'. The kernels order their items along the tensors
//! they write (a conv's units position by position), so a thread mostly reads, in the
//! next kernel, what it wrote in this one: from its own L2 cache. With one shared
//! counter, items went to the threads at random, and on an AMD EPYC (Zen 4, 1 MiB of L2
//! a core) half of each kernel's input came from the other core's cache: MobileNetV2 took
//! 0.87 of the time with ranges (`fuser bench --ab`, two threads, two runs), and as a
//! shared library 0.950 and 0.986 of the build before (`bench/interleaved_ort.py
//! --versus`), ResNet-50 1.011 and 0.905, the BERT layer 1.013 and 1.016.
//!
//! The job protocol: the submitter publishes the job and makes the epoch odd; a helper
//! that sees an odd epoch it has not served registers in `active`, then checks the epoch
//! again before it reads the job (a stale epoch means the job is over, and it leaves). The
//! submitter, once every item has finished, makes the epoch even and waits until `active`
//! is zero, so no helper reads a job after its call returned. Both sides use sequentially
//! consistent operations for the register-then-check handshake.

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering::SeqCst};
use std::sync::{Condvar, Mutex, OnceLock, TryLockError};
use std::time::{Duration, Instant};

/// How long an idle helper spins before it sleeps.
const SPIN: Duration = Duration::from_millis(2);

/// Threads that can take part in one job, at most (the calling one and helpers).
const SLOTS: usize = 64;

/// A range of a job's items, claimed from the front: `next` is the next unclaimed one.
/// On its own cache line, so that threads claiming from their own ranges do not share one.
#[derive(Default)]
#[repr(align(128))]
struct Range {
    next: AtomicUsize,
    end: AtomicUsize,
}

/// A job's work: called with each item's index.
type Work<'a> = &'a (dyn Fn(usize) + Sync);

struct Pool {
    /// Odd while a job is open; each job moves it on by two.
    epoch: AtomicUsize,
    /// The open job's work (a pointer to the submitter's `Work`), its item count, its
    /// ranges of items (one per taking part thread, [`SLOTS`] at most), and the items
    /// finished.
    work: AtomicPtr<()>,
    count: AtomicUsize,
    ranges: [Range; SLOTS],
    parts: AtomicUsize,
    finished: AtomicUsize,
    /// Helpers that may take part in the open job (the call's thread count less one).
    wanted: AtomicUsize,
    /// Helpers between registering for a job and leaving it.
    active: AtomicUsize,
    /// Held by the one job under way.
    submission: Mutex<()>,
    /// Sleeping helpers wait here for the epoch to move.
    sleepers: (Mutex<()>, Condvar),
    asleep: AtomicUsize,
    /// Helpers started so far (read without the lock on every call).
    helpers: Mutex<usize>,
    started: AtomicUsize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        epoch: AtomicUsize::new(0),
        work: AtomicPtr::new(std::ptr::null_mut()),
        count: AtomicUsize::new(0),
        ranges: std::array::from_fn(|_| Range::default()),
        parts: AtomicUsize::new(0),
        finished: AtomicUsize::new(0),
        wanted: AtomicUsize::new(0),
        active: AtomicUsize::new(0),
        submission: Mutex::new(()),
        sleepers: (Mutex::new(()), Condvar::new()),
        asleep: AtomicUsize::new(0),
        helpers: Mutex::new(0),
        started: AtomicUsize::new(0),
    })
}

impl Pool {
    /// Claims and runs items of the open job until none is left: those of range `slot`
    /// first, in order, then the rest of the others'.
    fn run_items(&self, work: Work, slot: usize) {
        let parts = self.parts.load(SeqCst).clamp(1, SLOTS);
        for range in (slot..parts).chain(0..slot.min(parts)).map(|r| &self.ranges[r]) {
            let end = range.end.load(SeqCst);
            loop {
                let i = range.next.fetch_add(1, SeqCst);
                if i >= end {
                    break;
                }
                work(i);
                self.finished.fetch_add(1, SeqCst);
            }
        }
    }

    /// Starts helpers until there are `wanted` of them.
    fn start_helpers(&'static self, wanted: usize) {
        if self.started.load(SeqCst) >= wanted {
            return;
        }
        let mut started = self.helpers.lock().unwrap_or_else(|e| e.into_inner());
        while *started < wanted {
            let index = *started;
            let spawned = std::thread::Builder::new()
                .name(format!("fuser-worker-{index}"))
                .spawn(move || {
                    crate::affinity::pin_helper(index);
                    self.helper(index)
                });
            if spawned.is_err() {
                // No more threads: the calling thread and those started do the work.
                break;
            }
            *started += 1;
            self.started.store(*started, SeqCst);
        }
    }

    /// A helper's life: wait for a job it is wanted in, take part, repeat.
    fn helper(&self, index: usize) {
        let mut served = 0;
        loop {
            // An open job (odd epoch) this helper is wanted in.
            let epoch = self.wait_for_job(index, served);
            served = epoch;
            self.active.fetch_add(1, SeqCst);
            if self.epoch.load(SeqCst) == epoch {
                // SAFETY: the job is still open (checked after registering), so its
                // submitter waits for `active` to fall to zero and its work is alive.
                let work = unsafe { *(self.work.load(SeqCst) as *const Work) };
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_items(work, index + 1)));
                if outcome.is_err() {
                    // The submitter would wait for the item forever; kernels are called
                    // from C, where a panic aborts too.
                    std::process::abort();
                }
            }
            self.active.fetch_sub(1, SeqCst);
        }
    }

    /// Waits until the epoch is odd, not `served`, and its job wants helper `index`,
    /// spinning for up to [`SPIN`], then sleeping; returns that epoch (the value seen,
    /// which the helper then checks again once registered).
    fn wait_for_job(&self, index: usize, served: usize) -> usize {
        let open = |epoch: usize| epoch % 2 == 1 && epoch != served && index < self.wanted.load(SeqCst);
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            let epoch = self.epoch.load(SeqCst);
            if open(epoch) {
                return epoch;
            }
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(256) || start.elapsed() < SPIN {
                // Now and then the core goes to another thread (more threads than cores).
                if spins.is_multiple_of(4096) {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
                continue;
            }
            let (lock, wake) = &self.sleepers;
            self.asleep.fetch_add(1, SeqCst);
            let mut guard = lock.lock().unwrap_or_else(|e| e.into_inner());
            let mut epoch = self.epoch.load(SeqCst);
            while !open(epoch) {
                guard = wake.wait(guard).unwrap_or_else(|e| e.into_inner());
                epoch = self.epoch.load(SeqCst);
            }
            drop(guard);
            self.asleep.fetch_sub(1, SeqCst);
            return epoch;
        }
    }

    /// Spins until `done`, yielding the core now and then (a helper the scheduler has
    /// put off would otherwise cost a whole time slice of spinning).
    fn spin_until(done: impl Fn() -> bool) {
        let mut spins = 0u32;
        while !done() {
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(4096) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

/// Closes the open job when the submitter leaves [`for_each_index`], also by unwinding
/// out of an item that panicked: no item is claimed after it, and helpers still running
/// one finish before the work they borrow is dropped.
struct CloseJob(&'static Pool);

impl Drop for CloseJob {
    fn drop(&mut self) {
        let pool = self.0;
        // The job's ranges only: the next job sets its own before it opens.
        for range in pool.ranges.iter().take(pool.parts.load(SeqCst)) {
            range.next.store(usize::MAX / 2, SeqCst);
        }
        pool.epoch.fetch_add(1, SeqCst);
        Pool::spin_until(|| pool.active.load(SeqCst) == 0);
    }
}

/// Runs `work(i)` for every `i < count` across `threads` threads (the calling one and
/// helpers), each exactly once; returns when all have finished. Runs them in order on the
/// calling thread when `threads` is 1, `count` is 1, or another job is under way.
pub(crate) fn for_each_index(count: usize, threads: usize, work: impl Fn(usize) + Sync) {
    let pool = pool();
    let helpers = threads.saturating_sub(1).min(count.saturating_sub(1)).min(SLOTS - 1);
    let guard = match helpers {
        0 => None,
        _ => match pool.submission.try_lock() {
            Ok(guard) => Some(guard),
            // A job whose item panicked in a test: the job was closed all the same.
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        },
    };
    let Some(_guard) = guard else {
        return (0..count).for_each(work);
    };
    pool.start_helpers(helpers);
    let work: Work = &work;
    pool.work.store(&work as *const Work as *mut (), SeqCst);
    pool.count.store(count, SeqCst);
    let parts = helpers + 1;
    for (r, range) in pool.ranges.iter().enumerate().take(parts) {
        range.next.store(r * count / parts, SeqCst);
        range.end.store((r + 1) * count / parts, SeqCst);
    }
    pool.parts.store(parts, SeqCst);
    pool.finished.store(0, SeqCst);
    pool.wanted.store(helpers, SeqCst);
    // Open the job, and wake sleeping helpers.
    pool.epoch.fetch_add(1, SeqCst);
    let _close = CloseJob(pool);
    if pool.asleep.load(SeqCst) > 0 {
        let (lock, wake) = &pool.sleepers;
        let _sleepers = lock.lock().unwrap_or_else(|e| e.into_inner());
        wake.notify_all();
    }
    pool.run_items(work, 0);
    Pool::spin_until(|| pool.finished.load(SeqCst) >= count);
    // `_close` closes the job and waits for helpers still inside it to leave (before
    // `work`, a parameter, is dropped).
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    /// Every index runs exactly once, for many jobs in a row (helpers awake), after a
    /// pause long enough for them to sleep, and at every thread count.
    #[test]
    fn every_item_runs_once() {
        for threads in 1..=4 {
            for count in [0usize, 1, 2, 3, 17, 1000] {
                for round in 0..50 {
                    if round == 25 {
                        std::thread::sleep(SPIN * 3);
                    }
                    let hits: Vec<AtomicU32> = (0..count).map(|_| AtomicU32::new(0)).collect();
                    for_each_index(count, threads, |i| {
                        hits[i].fetch_add(1, SeqCst);
                    });
                    assert!(
                        hits.iter().all(|h| h.load(SeqCst) == 1),
                        "{threads} threads, {count} items"
                    );
                }
            }
        }
    }

    /// Each thread claims its own range first, in order: the calling thread's is the first
    /// (while the helper is held up in its first item, the caller runs `0..count / 2` in
    /// order before it takes anything of the helper's). A call that the helper missed
    /// (asleep, or the pool busy with another test's job) runs every item on the caller
    /// and is tried again, until the helper has taken part (20 s at most).
    #[test]
    fn the_calling_thread_takes_its_own_range_first() {
        let count = 40;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            let caller = std::thread::current().id();
            let order = Mutex::new(Vec::new());
            let helper_items = AtomicU32::new(0);
            let helper_busy = std::sync::atomic::AtomicBool::new(true);
            for_each_index(count, 2, |i| {
                if std::thread::current().id() == caller {
                    order.lock().unwrap().push(i);
                    if i == count / 2 - 1 {
                        helper_busy.store(false, SeqCst);
                    }
                    return;
                }
                helper_items.fetch_add(1, SeqCst);
                if i == count / 2 {
                    // The helper's first item waits (a while at most) until the caller has
                    // run its whole range.
                    let start = Instant::now();
                    while helper_busy.load(SeqCst) && start.elapsed() < Duration::from_secs(2) {
                        std::thread::yield_now();
                    }
                }
            });
            if helper_items.load(SeqCst) == 0 {
                // Other tests' jobs hold the pool now and then: wait a little.
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            let order = order.into_inner().unwrap();
            assert_eq!(order[..count / 2], (0..count / 2).collect::<Vec<_>>(), "{order:?}");
            return;
        }
        panic!("the helper took no item in 20 s of calls");
    }

    /// An item that panics on the calling thread: the job is closed, and its helpers have
    /// left it, before the panic leaves the call; later jobs still run every item once.
    #[test]
    fn a_panicking_item_closes_its_job() {
        let hits = AtomicU32::new(0);
        let caller = std::thread::current().id();
        let panicking = std::sync::atomic::AtomicBool::new(false);
        let outcome = std::panic::catch_unwind(|| {
            for_each_index(64, 2, |_| {
                hits.fetch_add(1, SeqCst);
                // Only on the calling thread: a helper's panic aborts the process. A
                // helper's item waits (a while at most) for the caller to claim one, so
                // helpers cannot take every item first.
                if std::thread::current().id() == caller {
                    panicking.store(true, SeqCst);
                    panic!("an item on the calling thread");
                }
                let start = Instant::now();
                while !panicking.load(SeqCst) && start.elapsed() < Duration::from_secs(2) {
                    std::thread::yield_now();
                }
                // Slow items: without the job closed, helpers would still be claiming
                // them after the call returned.
                std::thread::sleep(Duration::from_millis(2));
            })
        });
        assert!(outcome.is_err());
        // The job was closed, and its helpers had left, before the panic left the call:
        // no item runs after it (helpers may have run the rest while the panic unwound,
        // each once).
        let after = hits.load(SeqCst);
        std::thread::sleep(SPIN * 3);
        assert_eq!(hits.load(SeqCst), after);
        assert!(after <= 64);
        let seen: Vec<AtomicU32> = (0..100).map(|_| AtomicU32::new(0)).collect();
        for_each_index(100, 2, |i| {
            seen[i].fetch_add(1, SeqCst);
        });
        assert!(seen.iter().all(|h| h.load(SeqCst) == 1));
    }

    /// A job started from inside a job's work, and jobs from two threads at once, run
    /// every item once too (the nested or second one on its calling thread).
    #[test]
    fn nested_and_concurrent_jobs_run_every_item() {
        let total = AtomicU32::new(0);
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    for _ in 0..200 {
                        for_each_index(8, 2, |_| {
                            for_each_index(4, 2, |_| {
                                total.fetch_add(1, SeqCst);
                            });
                        });
                    }
                });
            }
        });
        assert_eq!(total.load(SeqCst), 2 * 200 * 8 * 4);
    }
}
