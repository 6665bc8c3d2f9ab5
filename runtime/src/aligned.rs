//! f32 buffers that start on a cache line, for the values kernels load as whole vectors
//! (packed weights, panels).
//!
//! A vector load that straddles two cache lines costs two. `Vec<f32>` starts where the
//! allocator puts it: glibc gives a large block 16 bytes past a page boundary, so a
//! packing's 32-byte loads at its 32-byte steps straddle a line one time in two when it
//! lies 16 or 48 bytes into a line (28 of ResNet-50's 53 blocked conv packings did).
//! (Counted by a temporary print of each packing's address modulo 64 in one run.) With
//! every blocked conv packing 16 bytes into a line (`blocked_conv::run` handing
//! `run_packed` a copy of its packing 4 values into an aligned buffer), ResNet-50 took
//! 1.02–1.03 times as long as with them aligned (`fuser bench MODEL --ab`, one and two
//! threads; `bench/interleaved_ort.py` of the two builds at two threads: 1.026).

use std::ops::{Deref, DerefMut};

/// Values in a cache line.
const LINE: usize = 16;

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; LINE]);

/// A growable `[f32]` whose first value starts a cache line. Its lines are kept when it
/// is cleared or shrunk, as a `Vec`'s capacity is.
#[derive(Clone, Default)]
pub(crate) struct AlignedBuffer {
    lines: Vec<Line>,
    len: usize,
}

impl AlignedBuffer {
    /// No values (allocates nothing).
    pub(crate) const fn new() -> Self {
        Self {
            lines: Vec::new(),
            len: 0,
        }
    }

    /// `len` zeros.
    pub(crate) fn zeroed(len: usize) -> Self {
        let mut buffer = Self::default();
        buffer.resize(len, 0.0);
        buffer
    }

    /// A copy of `values`.
    #[cfg(test)]
    pub(crate) fn from_slice(values: &[f32]) -> Self {
        let mut buffer = Self::zeroed(values.len());
        buffer.copy_from_slice(values);
        buffer
    }

    /// `len` values: those it held first (up to `len`), then `value`.
    pub(crate) fn resize(&mut self, len: usize, value: f32) {
        let kept = self.len.min(len);
        if self.lines.len() * LINE < len {
            self.lines.resize(len.div_ceil(LINE), Line([0.0; LINE]));
        }
        self.len = len;
        self[kept..].fill(value);
    }

    /// No values (the lines stay for the next [`resize`](Self::resize)).
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }
}

impl Deref for AlignedBuffer {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        // SAFETY: the lines hold at least `len` initialized f32s, contiguous (`repr(C)`
        // arrays with no padding: 64 bytes each).
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr() as *const f32, self.len) }
    }
}

impl DerefMut for AlignedBuffer {
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `deref`, borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr() as *mut f32, self.len) }
    }
}

impl std::fmt::Debug for AlignedBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values start a cache line at every size, resizing keeps what was there and
    /// fills the rest, and a cleared buffer fills anew.
    #[test]
    fn buffers_start_on_a_line_and_resize_like_a_vec() {
        let mut buffer = AlignedBuffer::default();
        let mut model: Vec<f32> = Vec::new();
        for (step, len) in [1usize, 17, 5, 100, 33, 0, 64, 65].into_iter().enumerate() {
            let value = step as f32 + 0.5;
            buffer.resize(len, value);
            model.resize(len, value);
            assert_eq!(&buffer[..], &model[..], "resized to {len}");
            assert_eq!(buffer.as_ptr() as usize % 64, 0);
            buffer.iter_mut().zip(&mut model).enumerate().for_each(|(i, (b, m))| {
                *b = i as f32 * 0.25 - 3.0;
                *m = *b;
            });
        }
        buffer.clear();
        assert!(buffer.is_empty());
        buffer.resize(20, 2.0);
        assert!(buffer.iter().all(|&v| v == 2.0));
        assert_eq!(&AlignedBuffer::from_slice(&[1.5, -2.0])[..], &[1.5, -2.0]);
    }
}
