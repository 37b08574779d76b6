//! Per-node clocks: drift and steps.
//!
//! A node sees local time `local = anchor_local + (true - anchor_true) * (1 + rate_ppm / 10^6)`.
//! Changing the rate re-anchors at the current instant, so local time stays continuous and
//! monotonic; a step moves the anchor forward. All arithmetic is integer, so a seed gives the same
//! times on every platform.

use detcd_core::{Duration, Instant};

const PPM: i128 = 1_000_000;
/// Drift beyond ±50% is not a clock but a broken oscillator; the simulator refuses it.
pub const DRIFT_PPM_LIMIT: i64 = 500_000;

/// One node's clock, as a map between true (simulated) time and the node's local time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    anchor_true: Instant,
    anchor_local: Instant,
    rate_ppm: i64,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::with_drift(0)
    }
}

impl Clock {
    /// A clock that agrees with true time at zero and runs `rate_ppm` parts per million fast.
    pub fn with_drift(rate_ppm: i64) -> Clock {
        assert!(
            rate_ppm.abs() <= DRIFT_PPM_LIMIT,
            "clock drift {rate_ppm} ppm out of range"
        );
        Clock {
            anchor_true: Instant::ZERO,
            anchor_local: Instant::ZERO,
            rate_ppm,
        }
    }

    pub fn rate_ppm(&self) -> i64 {
        self.rate_ppm
    }

    /// The node's local time at true time `now`.
    pub fn local_at(&self, now: Instant) -> Instant {
        let elapsed = now.saturating_duration_since(self.anchor_true).as_nanos() as i128;
        if self.rate_ppm == 0 {
            return self.anchor_local + Duration::from_nanos(elapsed as u64);
        }
        let scaled = elapsed * (PPM + i128::from(self.rate_ppm)) / PPM;
        self.anchor_local + Duration::from_nanos(u64::try_from(scaled).unwrap_or(u64::MAX))
    }

    /// The earliest true time at which local time reaches `local` (never before the anchor).
    pub fn true_at(&self, local: Instant) -> Instant {
        if local == Instant::NEVER {
            return Instant::NEVER;
        }
        let ahead = local
            .saturating_duration_since(self.anchor_local)
            .as_nanos() as i128;
        if self.rate_ppm == 0 {
            return self.anchor_true + Duration::from_nanos(ahead as u64);
        }
        let rate = PPM + i128::from(self.rate_ppm);
        // Round up: local_at(true_at(t)) >= t, so a timer never fires before its local deadline.
        let elapsed = (ahead * PPM + rate - 1) / rate;
        self.anchor_true + Duration::from_nanos(u64::try_from(elapsed).unwrap_or(u64::MAX))
    }

    /// Run at `rate_ppm` from true time `now` on, without a jump in local time.
    pub fn set_drift(&mut self, now: Instant, rate_ppm: i64) {
        assert!(
            rate_ppm.abs() <= DRIFT_PPM_LIMIT,
            "clock drift {rate_ppm} ppm out of range"
        );
        self.anchor_local = self.local_at(now);
        self.anchor_true = now;
        self.rate_ppm = rate_ppm;
    }

    /// Jump local time forward by `by` at true time `now`.
    pub fn step(&mut self, now: Instant, by: Duration) {
        self.anchor_local = self.local_at(now) + by;
        self.anchor_true = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A clock 1% fast reads 1.01 s after one true second, and its inverse rounds up so a deadline
    // is never reached early.
    #[test]
    fn drift_scales_elapsed_time_and_inverts() {
        let clock = Clock::with_drift(10_000);
        assert_eq!(
            clock.local_at(Instant::from_millis(1000)),
            Instant::from_millis(1010)
        );
        assert_eq!(
            clock.true_at(Instant::from_millis(1010)),
            Instant::from_millis(1000)
        );
        for nanos in [1u64, 999, 123_456_789, 7_000_000_001] {
            let local = Instant::from_nanos(nanos);
            let due = clock.true_at(local);
            assert!(clock.local_at(due) >= local);
            assert!(clock.local_at(due - Duration::from_nanos(1)) < local);
        }
    }

    // Changing the drift or stepping keeps local time continuous or moves it forward, never back.
    #[test]
    fn drift_changes_and_steps_are_monotonic() {
        let mut clock = Clock::with_drift(-20_000);
        let before = clock.local_at(Instant::from_millis(500));
        clock.set_drift(Instant::from_millis(500), 30_000);
        assert_eq!(clock.local_at(Instant::from_millis(500)), before);
        clock.step(Instant::from_millis(600), Duration::from_millis(250));
        let after_step = clock.local_at(Instant::from_millis(600));
        assert_eq!(
            after_step,
            before + Duration::from_millis(103) + Duration::from_millis(250)
        );
    }
}
