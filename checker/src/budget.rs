//! Work and memory budgets: every check answers within them, or answers "unknown".
//!
//! A budget counts work, never time: the same history gets the same verdict on every machine,
//! so a seed that reproduces a run also reproduces its check. How long a check took is still
//! reported ([`crate::CheckReport::elapsed`]), but it decides nothing.

use std::time::Duration;

/// How much a check may spend before it gives up and answers "unknown".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The most search steps a check may take: one step is one placement the general search
    /// tries, or one revision (or one candidate for a revision) the revision pass walks.
    pub steps_max: u64,
    /// The most entries a search may remember: (linearized set, state) pairs for the general
    /// search (per partition), dead ends for the revision pass.
    pub memo_entries_max: usize,
    /// For callers that still give the budget as a time: when not zero, it replaces
    /// `steps_max` by [`STEPS_PER_NOMINAL_SECOND`] steps per second, a fixed rate. It is a
    /// nominal time, so it is as deterministic as `steps_max`: no clock is ever read.
    pub time_max: Duration,
}

/// What one second of [`Budget::time_max`] buys: about what the revision pass does in a second
/// when it backtracks (each step applies a write and checks it against the evidence), so that
/// a time budget keeps roughly its old meaning for etcd histories. The general search's steps
/// are cheaper (a register history takes some five million a second).
pub const STEPS_PER_NOMINAL_SECOND: u64 = 1_000_000;

impl Default for Budget {
    /// Ten million steps (ten nominal seconds; the etcd check of a history of a million
    /// operations takes under one million) and four million memo entries.
    fn default() -> Self {
        Budget {
            steps_max: 10 * STEPS_PER_NOMINAL_SECOND,
            memo_entries_max: 4_000_000,
            time_max: Duration::ZERO,
        }
    }
}

impl Budget {
    /// The default budget with another step allowance.
    pub fn with_steps_max(steps_max: u64) -> Self {
        Budget {
            steps_max,
            ..Budget::default()
        }
    }

    /// The step allowance in force: `time_max` converted, when it is set.
    pub fn steps_allowed(&self) -> u64 {
        if self.time_max.is_zero() {
            return self.steps_max;
        }
        let steps = self.time_max.as_nanos() * u128::from(STEPS_PER_NOMINAL_SECOND)
            / u128::from(1_000_000_000u64);
        u64::try_from(steps).unwrap_or(u64::MAX)
    }

    /// The budget cut to a share of its steps, for a check made of two attempts.
    pub fn with_steps(&self, steps_max: u64) -> Self {
        Budget {
            steps_max,
            time_max: Duration::ZERO,
            ..*self
        }
    }
}

/// Counts spending against a [`Budget`].
#[derive(Debug)]
pub struct Meter {
    steps_max: u64,
    memo_entries_max: usize,
    steps: u64,
}

impl Meter {
    pub fn start(budget: Budget) -> Self {
        Meter {
            steps_max: budget.steps_allowed(),
            memo_entries_max: budget.memo_entries_max,
            steps: 0,
        }
    }

    /// Counts one step; true once the step budget is spent.
    pub fn step_expired(&mut self) -> bool {
        if self.steps >= self.steps_max {
            return true;
        }
        self.steps += 1;
        false
    }

    /// Whether a memo holding `memo_entries` entries may grow no further.
    pub fn memo_full(&self, memo_entries: usize) -> bool {
        memo_entries >= self.memo_entries_max
    }

    /// The steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A nominal time buys a fixed number of steps, whatever the machine; unset, steps_max rules.
    #[test]
    fn nominal_time_converts_to_steps() {
        let timed = Budget {
            time_max: Duration::from_millis(1500),
            ..Budget::default()
        };
        assert_eq!(timed.steps_allowed(), 3 * STEPS_PER_NOMINAL_SECOND / 2);
        assert_eq!(Budget::with_steps_max(7).steps_allowed(), 7);
        assert_eq!(timed.with_steps(9).steps_allowed(), 9);
    }

    // The meter allows exactly the budgeted steps, then stays expired.
    #[test]
    fn meter_counts_steps() {
        let mut meter = Meter::start(Budget::with_steps_max(2));
        assert!(!meter.step_expired());
        assert!(!meter.step_expired());
        assert!(meter.step_expired());
        assert!(meter.step_expired());
        assert_eq!(meter.steps(), 2);
    }
}
