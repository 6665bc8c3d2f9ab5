//! Arena planning: buffers with a size and a live interval over the kernel schedule are
//! given byte offsets in one arena so that two buffers live at the same time never
//! overlap. Greedy by size (largest first, as TensorFlow Lite's arena planner does): each
//! buffer takes the lowest aligned offset that clears every placed buffer whose interval
//! meets its own. A buffer may take the place of one whose last use is the step that
//! defines it when that step allows it (an elementwise kernel writing over its input).

/// Offsets are multiples of this (a cache line, and AVX-512's vector width).
pub const ALIGNMENT: u64 = 64;

/// One buffer to place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Buffer {
    pub size: u64,
    /// The first and last schedule steps at which it is live (inclusive).
    pub first: usize,
    pub last: usize,
    /// A buffer whose memory this one may reuse in place: its last step is this one's
    /// first, and that step reads it elementwise into this one.
    pub in_place_of: Option<usize>,
}

/// The plan: each buffer's offset, and the arena's size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub offsets: Vec<u64>,
    pub peak: u64,
}

fn align(x: u64) -> u64 {
    x.div_ceil(ALIGNMENT) * ALIGNMENT
}

/// Whether buffers `a` and `b` must not share memory. A buffer that may work in place
/// of another does not conflict with it at the step where one ends and the other begins.
fn conflict(buffers: &[Buffer], a: usize, b: usize) -> bool {
    let (x, y) = (&buffers[a], &buffers[b]);
    let overlap = x.first <= y.last && y.first <= x.last;
    let in_place = (x.in_place_of == Some(b) && y.last == x.first && y.size == x.size)
        || (y.in_place_of == Some(a) && x.last == y.first && x.size == y.size);
    overlap && !in_place
}

/// Places `buffers` in one arena.
pub fn plan(buffers: &[Buffer]) -> Plan {
    let mut order: Vec<usize> = (0..buffers.len()).collect();
    // Largest first; ties by first use, then index, so the plan is deterministic.
    order.sort_by(|&a, &b| {
        buffers[b]
            .size
            .cmp(&buffers[a].size)
            .then(buffers[a].first.cmp(&buffers[b].first))
            .then(a.cmp(&b))
    });
    let mut offsets = vec![0u64; buffers.len()];
    let mut placed: Vec<usize> = Vec::new();
    let mut peak = 0;
    for &i in &order {
        let size = align(buffers[i].size.max(1));
        // The placed buffers it must avoid, by offset.
        let mut blockers: Vec<(u64, u64)> = placed
            .iter()
            .filter(|&&j| conflict(buffers, i, j))
            .map(|&j| (offsets[j], offsets[j] + align(buffers[j].size.max(1))))
            .collect();
        blockers.sort_unstable();
        let mut offset = 0;
        for (start, end) in blockers {
            if offset + size <= start {
                break;
            }
            offset = offset.max(end);
        }
        offsets[i] = offset;
        peak = peak.max(offset + size);
        placed.push(i);
    }
    Plan { offsets, peak }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn buffer(size: u64, first: usize, last: usize) -> Buffer {
        Buffer {
            size,
            first,
            last,
            in_place_of: None,
        }
    }

    #[test]
    fn disjoint_lifetimes_share_memory() {
        let plan = plan(&[buffer(100, 0, 1), buffer(100, 2, 3), buffer(50, 1, 2)]);
        assert_eq!(plan.offsets[0], plan.offsets[1]);
        assert_eq!(plan.peak, 128 + 64);
    }

    #[test]
    fn in_place_reuses_its_input() {
        let mut b = vec![buffer(256, 0, 1), buffer(256, 1, 2)];
        assert_eq!(plan(&b).peak, 512);
        b[1].in_place_of = Some(0);
        assert_eq!(plan(&b).peak, 256);
    }

    proptest! {
        /// No two live-at-once buffers overlap, offsets are aligned, and the arena is
        /// never larger than the buffers laid end to end.
        #[test]
        fn plans_are_valid(spec in prop::collection::vec((1u64..5000, 0usize..20, 0usize..6), 1..40)) {
            let buffers: Vec<Buffer> = spec.iter().map(|&(s, f, l)| buffer(s, f, f + l)).collect();
            let p = plan(&buffers);
            let naive: u64 = buffers.iter().map(|b| align(b.size)).sum();
            prop_assert!(p.peak <= naive);
            for i in 0..buffers.len() {
                prop_assert_eq!(p.offsets[i] % ALIGNMENT, 0);
                prop_assert!(p.offsets[i] + buffers[i].size <= p.peak);
                for j in 0..i {
                    if conflict(&buffers, i, j) {
                        let (a, b) = (p.offsets[i], p.offsets[j]);
                        prop_assert!(a + buffers[i].size <= b || b + buffers[j].size <= a, "{i} and {j} overlap");
                    }
                }
            }
        }
    }
}
