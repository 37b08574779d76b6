//! Seeded randomness: one ChaCha8 generator per run, split into independent streams.
//!
//! Every subsystem draws from its own stream of the run's generator (same key, different
//! stream number), so adding a draw to, say, the fault schedule does not shift the latencies the
//! network draws. Nothing here touches the OS.

use detcd_core::Duration;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// The streams of one run's generator. Never renumber these: that changes every seed's run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Stream {
    Options = 1,
    Network = 2,
    Disk = 3,
    Faults = 4,
    Boot = 5,
    Clock = 6,
    Client = 7,
    Node = 8,
}

/// A generator for one subsystem of the run seeded by `seed`.
#[derive(Clone, Debug)]
pub struct Random {
    rng: ChaCha8Rng,
}

impl Random {
    pub fn new(seed: u64, stream: Stream) -> Random {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream as u64);
        Random { rng }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// A uniform draw from `0..bound` (Lemire's multiply-shift; the bias is below 2^-64 * bound).
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "below(0) has no values to draw");
        ((u128::from(self.rng.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// A uniform draw from `min..=max`.
    pub fn between(&mut self, min: u64, max: u64) -> u64 {
        assert!(min <= max, "empty range {min}..={max}");
        if min == max {
            return min;
        }
        match (max - min).checked_add(1) {
            Some(span) => min + self.below(span),
            None => self.rng.next_u64(),
        }
    }

    /// A duration drawn uniformly at nanosecond resolution from `[min_ms, max_ms]` milliseconds.
    pub fn duration_ms(&mut self, min_ms: u64, max_ms: u64) -> Duration {
        Duration::from_nanos(self.between(min_ms * 1_000_000, max_ms * 1_000_000))
    }

    /// True with probability `probability`. Certain outcomes draw nothing, so a run whose options
    /// disable a fault spends no randomness on it.
    pub fn chance(&mut self, probability: f64) -> bool {
        if probability <= 0.0 {
            return false;
        }
        if probability >= 1.0 {
            return true;
        }
        let unit = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        unit < probability
    }

    /// An index into `weights` drawn in proportion to the weights; None if they are all zero.
    pub fn weighted(&mut self, weights: &[u64]) -> Option<usize> {
        let total: u64 = weights.iter().sum();
        if total == 0 {
            return None;
        }
        let mut draw = self.below(total);
        for (index, &weight) in weights.iter().enumerate() {
            if draw < weight {
                return Some(index);
            }
            draw -= weight;
        }
        unreachable!("draw below the total falls in some weight")
    }

    /// Shuffle `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for last in (1..items.len()).rev() {
            let pick = self.below(last as u64 + 1) as usize;
            items.swap(last, pick);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Streams of one seed are independent: drawing from one does not change another's values.
    #[test]
    fn streams_are_independent() {
        let mut network = Random::new(7, Stream::Network);
        let expected: Vec<u64> = (0..4).map(|_| network.next_u64()).collect();
        let mut faults = Random::new(7, Stream::Faults);
        let mut network = Random::new(7, Stream::Network);
        let mut drawn = Vec::new();
        for _ in 0..4 {
            faults.next_u64();
            drawn.push(network.next_u64());
        }
        assert_eq!(drawn, expected);
        assert_ne!(Random::new(7, Stream::Disk).next_u64(), expected[0]);
    }

    // Bounded draws stay inside their bounds, including the degenerate and full ranges.
    #[test]
    fn draws_stay_in_bounds() {
        let mut random = Random::new(1, Stream::Options);
        for _ in 0..1000 {
            assert!(random.below(3) < 3);
            let value = random.between(10, 20);
            assert!((10..=20).contains(&value));
            assert_eq!(random.between(5, 5), 5);
            let duration = random.duration_ms(1, 10);
            assert!(duration >= Duration::from_millis(1) && duration <= Duration::from_millis(10));
        }
        random.between(0, u64::MAX);
        assert!(!random.chance(0.0) && random.chance(1.0));
        assert_eq!(random.weighted(&[0, 0]), None);
        assert_eq!(random.weighted(&[0, 5, 0]), Some(1));
    }
}
