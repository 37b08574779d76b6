//! What a check may spend, and what it may assume about the system that produced the history.

use std::time::Duration;

use crate::budget::Budget;

/// Options of an etcd check ([`crate::check_etcd_with`]). The default is the strict check with
/// the default budget: perfect clocks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckOptions {
    pub budget: Budget,
    /// How wrong the servers' clocks may be; leases may expire early by as much.
    pub clock: ClockUncertainty,
}

/// How far a server's clock may run ahead of real time over one lease's lifetime, which is how
/// much earlier than its TTL a lease may legitimately expire (etcd leases assume bounded clock
/// error).
///
/// A lease granted (or kept alive) with TTL `t` may expire up to
/// `step + t * drift_ppm / 1_000_000` before `t` has passed since the grant was sent:
///
/// - `step`: the total forward jump a server clock may make while one lease is alive. A
///   simulator that steps clocks by at most `s` should pass `s` times the number of steps one
///   node can take within the longest TTL (or, simplest and always safe, the sum of every step
///   of the run); with at most one step per lease lifetime, `s` itself.
/// - `drift_ppm`: how fast a server clock may run, in parts per million (a clock running fast
///   by `d` ppm ends a TTL of `t` early by at most `t * d / 1e6`).
///
/// The default, zero, is a perfect clock: the check [`crate::check_file`] runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockUncertainty {
    pub step: Duration,
    pub drift_ppm: u64,
}

impl ClockUncertainty {
    /// How many nanoseconds early a lease with this TTL may expire.
    pub fn early_expiry_allowed_ns(&self, ttl_ns: u64) -> u64 {
        let step_ns = u64::try_from(self.step.as_nanos()).unwrap_or(u64::MAX);
        let drift_ns = u128::from(ttl_ns) * u128::from(self.drift_ppm) / 1_000_000;
        step_ns.saturating_add(u64::try_from(drift_ns).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The allowance is the step plus the drift's share of the TTL, saturating.
    #[test]
    fn early_expiry_allowance() {
        let clock = ClockUncertainty {
            step: Duration::from_millis(100),
            drift_ppm: 50_000,
        };
        assert_eq!(
            clock.early_expiry_allowed_ns(10_000_000_000),
            100_000_000 + 500_000_000
        );
        assert_eq!(ClockUncertainty::default().early_expiry_allowed_ns(5), 0);
        let huge = ClockUncertainty {
            step: Duration::MAX,
            drift_ppm: u64::MAX,
        };
        assert_eq!(huge.early_expiry_allowed_ns(u64::MAX), u64::MAX);
    }
}
