//! Constant weights kept packed between calls, for the kernels that lay them out their own
//! way ([`crate::packed_matmul`]'s panels, [`crate::blocked_conv`]'s channel blocks,
//! [`crate::winograd`]'s transformed filters).
//!
//! A packing is kept under (descriptor address, the descriptor's
//! [`constant_weights`](crate::fused::Descriptor::constant_weights) key, the weights'
//! address): the lowering derives the key from the compiled kernel and the weights at all
//! its calls, so one kernel called over two weights keeps two packings. A hit is checked
//! against the weights by the caller's `matches` (a few elements), so a packing left by a
//! dropped model whose memory a later one reuses is packed afresh.
//!
//! The packings kept take at most [`CACHE_BYTES`] (calls under way hold theirs, kept or
//! not, a while longer). When a new one would pass that, the packings no call used since
//! the last sweep are dropped (those of a model dropped since, or idle that long), and if
//! there is still no room the new packing serves its call without being kept. A sweep
//! comes at most once per [`SWEEP_FACTOR`] calls a packing kept, so a model larger than
//! the budget whose inference makes at most that many calls a packing kept uses every kept
//! packing between two sweeps: it keeps a stable share packed, instead of emptying the
//! cache and packing everything again call after call. The packings of a dropped model go
//! at the second sweep after its last call.

use crate::aligned::AlignedBuffer;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// (descriptor address, constant-weights key, weights' address).
pub(crate) type Key = (i64, i64, i64);

/// The most bytes of packings kept.
const CACHE_BYTES: usize = 1 << 30;
/// Calls between two sweeps, at least, per packing kept.
const SWEEP_FACTOR: usize = 8;

/// A kept packing, and whether a call used it since the last sweep.
struct Entry {
    packing: Arc<AlignedBuffer>,
    used: bool,
}

/// Packings kept between calls, and the calls since the last sweep.
#[derive(Default)]
struct Cache {
    entries: HashMap<Key, Entry>,
    calls: usize,
}

impl Cache {
    /// The bytes of the packings kept (a few hundred at most: summed when a packing is
    /// not found, not kept up to date on every change).
    fn bytes(&self) -> usize {
        self.entries.values().map(|entry| 4 * entry.packing.len()).sum()
    }

    /// The packing kept under `key`, marked used; the caller checks it against the
    /// weights (outside the lock).
    fn find(&mut self, key: Key) -> Option<Arc<AlignedBuffer>> {
        self.calls += 1;
        let entry = self.entries.get_mut(&key)?;
        entry.used = true;
        Some(entry.packing.clone())
    }

    /// Keeps `packing` under `key` (in place of what was kept there, a packing of other
    /// weights at the same address) if it fits in `budget` bytes, after a sweep if one is
    /// due (see the module docs); whether it was kept.
    fn keep(&mut self, key: Key, packing: &Arc<AlignedBuffer>, budget: usize) -> bool {
        let bytes = 4 * packing.len();
        self.entries.remove(&key);
        if self.bytes() + bytes > budget && self.calls >= SWEEP_FACTOR * self.entries.len() {
            self.entries.retain(|_, entry| std::mem::take(&mut entry.used));
            self.calls = 0;
        }
        if self.bytes() + bytes > budget {
            return false;
        }
        let entry = Entry {
            packing: packing.clone(),
            used: true,
        };
        self.entries.insert(key, entry);
        true
    }
}

/// The packing kept under `key` if `matches` accepts it, else `pack()`'s, kept from now on
/// if there is room. `matches` and `pack` run outside the lock: two threads that miss at
/// once both pack, and the later one is kept.
pub(crate) fn packed(
    key: Key,
    matches: impl Fn(&[f32]) -> bool,
    pack: impl FnOnce() -> AlignedBuffer,
) -> Arc<AlignedBuffer> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let found = cache.lock().expect("weight cache").find(key);
    if let Some(packing) = found.filter(|p| matches(p)) {
        return packing;
    }
    let packing = Arc::new(pack());
    cache.lock().expect("weight cache").keep(key, &packing, CACHE_BYTES);
    packing
}

/// `count` indices spread evenly over `0..len` (`len > 0`), first and last included: where
/// a packing is checked against its weights.
pub(crate) fn samples(len: usize, count: usize) -> impl Iterator<Item = usize> {
    (0..count).map(move |s| s * (len - 1) / (count - 1).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer(values: &[f32]) -> AlignedBuffer {
        AlignedBuffer::from_slice(values)
    }

    /// A packing is kept under its key while `matches` accepts it, packed afresh when it
    /// does not, and other keys keep their own.
    #[test]
    fn packings_are_kept_until_they_no_longer_match() {
        let key = (1, 2, 3);
        let first = packed(key, |_| true, || buffer(&[1.0, 2.0]));
        let kept = packed(key, |_| true, || panic!("a hit packs nothing"));
        assert!(Arc::ptr_eq(&first, &kept));
        let fresh = packed(key, |p| p[0] == 5.0, || buffer(&[5.0]));
        assert_eq!(&fresh[..], &[5.0]);
        assert_eq!(&packed(key, |p| p[0] == 5.0, || panic!("kept"))[..], &[5.0]);
        assert_eq!(&packed((1, 2, 4), |_| true, || buffer(&[7.0]))[..], &[7.0]);
        assert_eq!(samples(10, 4).collect::<Vec<_>>(), vec![0, 3, 6, 9]);
        assert_eq!(samples(1, 16).max(), Some(0));
    }

    /// One call of `key` through `cache` with room for `budget` bytes: whether it hit.
    fn call(cache: &mut Cache, key: i64, budget: usize) -> bool {
        let key = (0, 1, key);
        if cache.find(key).is_some() {
            return true;
        }
        cache.keep(key, &Arc::new(buffer(&[key.2 as f32; 4])), budget);
        false
    }

    /// A packing of other weights at the same key is replaced, and the bytes counted are
    /// those of the packings kept.
    #[test]
    fn a_replaced_packing_is_counted_once() {
        let mut cache = Cache::default();
        assert!(cache.keep((0, 1, 9), &Arc::new(buffer(&[0.0; 4])), 64));
        assert!(cache.keep((0, 1, 9), &Arc::new(buffer(&[1.0; 8])), 64));
        assert_eq!((cache.entries.len(), cache.bytes()), (1, 32));
        assert_eq!(cache.find((0, 1, 9)).as_deref().map(|p| &p[..]), Some(&[1.0; 8][..]));
        assert!(
            !cache.keep((0, 1, 10), &Arc::new(buffer(&[2.0; 17])), 64),
            "over the budget alone"
        );
        assert_eq!(cache.bytes(), 32);
    }

    /// Weights larger than the budget (three packings of 16 bytes, room for two) keep two
    /// packings call after call, and pack only the third again, over more calls than a
    /// sweep waits for; a model's packings that no call uses any more (a dropped model)
    /// make room for the next model's.
    #[test]
    fn a_full_cache_keeps_what_is_used() {
        let mut cache = Cache::default();
        let hits: Vec<bool> = (0..20)
            .flat_map(|_| [1, 2, 3])
            .map(|k| call(&mut cache, k, 32))
            .collect();
        assert_eq!(&hits[..3], [false, false, false]);
        for round in hits[3..].chunks(3) {
            assert_eq!(round, [true, true, false]);
        }
        assert_eq!(cache.bytes(), 32);
        // The next model's calls: the first sweep finds the dropped model's packings used
        // since the sweep before it and only marks them unused; the second drops them, and
        // the next model's packings are kept from then on.
        let next: Vec<bool> = (0..24).flat_map(|_| [4, 5]).map(|k| call(&mut cache, k, 32)).collect();
        let first_hit = next
            .iter()
            .position(|&hit| hit)
            .expect("the next model's packings are kept");
        assert!(first_hit > 16, "a sweep waits for 8 calls a packing kept: {next:?}");
        assert!(next[first_hit..].iter().all(|&hit| hit), "{next:?}");
        assert!(!cache.entries.contains_key(&(0, 1, 1)) && !cache.entries.contains_key(&(0, 1, 2)));
        assert_eq!(cache.bytes(), 32);
    }
}
