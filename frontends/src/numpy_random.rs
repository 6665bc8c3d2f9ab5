//! The stream of numbers numpy's legacy `RandomState(seed)` (and `np.random.seed(seed)`)
//! draws: MT19937 seeded by `init_genrand`, doubles from two 32-bit words (53 bits).
//! ONNX defines training-mode Dropout's mask through it (its reference draws
//! `uniform(0, 1, shape)` after seeding with the node's `seed`), so a Dropout with a seed
//! is deterministic, and the importer builds the mask's uniform draws as a constant.

/// MT19937's state: 624 words and the position of the next one.
struct Mt19937 {
    words: [u32; 624],
    next: usize,
}

impl Mt19937 {
    fn new(seed: u32) -> Mt19937 {
        let mut words = [0u32; 624];
        words[0] = seed;
        for i in 1..624 {
            let previous = words[i - 1];
            words[i] = 1_812_433_253u32
                .wrapping_mul(previous ^ (previous >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { words, next: 624 }
    }

    /// Regenerates the 624 words.
    fn twist(&mut self) {
        for i in 0..624 {
            let y = (self.words[i] & 0x8000_0000) | (self.words[(i + 1) % 624] & 0x7fff_ffff);
            let mut value = self.words[(i + 397) % 624] ^ (y >> 1);
            if y & 1 != 0 {
                value ^= 0x9908_b0df;
            }
            self.words[i] = value;
        }
        self.next = 0;
    }

    fn next_u32(&mut self) -> u32 {
        if self.next >= 624 {
            self.twist();
        }
        let mut y = self.words[self.next];
        self.next += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// A double in [0, 1) from two words, as numpy's `random_sample`.
    fn next_f64(&mut self) -> f64 {
        let high = f64::from(self.next_u32() >> 5);
        let low = f64::from(self.next_u32() >> 6);
        (high * 67_108_864.0 + low) / 9_007_199_254_740_992.0
    }
}

/// The first `count` values of `RandomState(seed).uniform(0, 1, count)` (`None` for a seed
/// numpy refuses: outside `0..2^32`).
pub fn uniform(seed: i64, count: usize) -> Option<Vec<f64>> {
    let mut generator = Mt19937::new(u32::try_from(seed).ok()?);
    Some((0..count).map(|_| generator.next_f64()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values printed by numpy: `np.random.seed(0); np.random.uniform(0, 1, 4)` and
    /// `np.random.seed(42); np.random.uniform(0, 1, 2)` (the first twist included:
    /// 1000 draws take 2000 words).
    #[test]
    fn matches_numpy() {
        let zero = uniform(0, 1000).unwrap();
        assert_eq!(
            zero[..4],
            [
                0.5488135039273248,
                0.7151893663724195,
                0.6027633760716439,
                0.5448831829968969
            ]
        );
        assert_eq!(zero[999], NUMPY_SEED_0_DRAW_999);
        assert_eq!(uniform(42, 2).unwrap(), [0.3745401188473625, 0.9507143064099162]);
        assert_eq!(uniform(-1, 1), None);
        assert_eq!(uniform(1 << 32, 1), None);
    }

    /// `np.random.seed(0); np.random.uniform(0, 1, 1000)[999]`.
    const NUMPY_SEED_0_DRAW_999: f64 = 0.6771411441114241;
}
