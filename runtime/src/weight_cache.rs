//! Constant weights kept packed between calls, for the kernels that lay them out their own
//! way ([`crate::packed_matmul`]'s panels, [`crate::blocked_conv`]'s channel blocks).
//!
//! A packing is kept under (descriptor address, the descriptor's
//! [`constant_weights`](crate::fused::Descriptor::constant_weights) key, the weights'
//! address): the lowering derives the key from the compiled kernel and the weights at all
//! its calls, so one kernel called over two weights keeps two packings. A hit is checked
//! against the weights by the caller's `matches` (a few elements), so a packing left by a
//! dropped model whose memory a later one reuses is packed afresh. The cache is emptied
//! before it would pass [`CACHE_BYTES`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// (descriptor address, constant-weights key, weights' address).
pub(crate) type Key = (i64, i64, i64);

/// Packings kept between calls, and their total size.
#[derive(Default)]
struct Cache {
    entries: HashMap<Key, Arc<Vec<f32>>>,
    bytes: usize,
}

/// The cache is emptied before it would grow past this many bytes: a process that loads
/// and drops models (tests, a server reloading them) would otherwise keep every packing.
/// Calls under way keep their packings alive (they hold an `Arc`).
const CACHE_BYTES: usize = 1 << 30;

/// The packing kept under `key` if `matches` accepts it, else `pack()`'s, kept from now on.
/// Two threads that miss at once both pack (outside the lock); the later one is kept.
pub(crate) fn packed(key: Key, matches: impl Fn(&[f32]) -> bool, pack: impl FnOnce() -> Vec<f32>) -> Arc<Vec<f32>> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let found = cache.lock().expect("weight cache").entries.get(&key).cloned();
    if let Some(packing) = found.filter(|p| matches(p)) {
        return packing;
    }
    let packing = Arc::new(pack());
    let mut cache = cache.lock().expect("weight cache");
    let bytes = 4 * packing.len();
    if cache.bytes + bytes > CACHE_BYTES {
        cache.entries.clear();
        cache.bytes = 0;
    }
    if let Some(old) = cache.entries.insert(key, packing.clone()) {
        cache.bytes -= 4 * old.len();
    }
    cache.bytes += bytes;
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

    /// A packing is kept under its key while `matches` accepts it, packed afresh when it
    /// does not, and other keys keep their own.
    #[test]
    fn packings_are_kept_until_they_no_longer_match() {
        let key = (1, 2, 3);
        let first = packed(key, |_| true, || vec![1.0, 2.0]);
        let kept = packed(key, |_| true, || panic!("a hit packs nothing"));
        assert!(Arc::ptr_eq(&first, &kept));
        let fresh = packed(key, |p| p[0] == 5.0, || vec![5.0]);
        assert_eq!(*fresh, vec![5.0]);
        assert_eq!(*packed(key, |p| p[0] == 5.0, || panic!("kept")), vec![5.0]);
        assert_eq!(*packed((1, 2, 4), |_| true, || vec![7.0]), vec![7.0]);
        assert_eq!(samples(10, 4).collect::<Vec<_>>(), vec![0, 3, 6, 9]);
        assert_eq!(samples(1, 16).max(), Some(0));
    }
}
