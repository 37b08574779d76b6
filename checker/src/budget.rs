//! Work and memory budgets: every check answers within them, or answers "unknown".
//!
//! A budget counts work, never time: the same history gets the same verdict on every machine,
//! so a seed that reproduces a run also reproduces its check. How long a check took is still
//! reported ([`crate::CheckReport::elapsed`]), but it decides nothing.

/// How much a check may spend before it gives up and answers "unknown".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The most search steps a check may take: one step is one placement the general search
    /// tries, or one revision (or one candidate for a revision) the revision pass walks.
    pub steps_max: u64,
    /// The most entries a search may remember: (linearized set, state) pairs for the general
    /// search (per partition), dead ends for the revision pass.
    pub memo_entries_max: usize,
}

/// The default step allowance. The revision pass takes about half a million steps a second
/// when it backtracks over a swarm history (each step applies a write and checks it against
/// the evidence), and the general search some five million on a register history; a history
/// of a million etcd operations that revisions fully order takes under a million.
pub const STEPS_MAX_DEFAULT: u64 = 10_000_000;

impl Default for Budget {
    /// [`STEPS_MAX_DEFAULT`] steps and four million memo entries (some 100 MB at most: the
    /// revision pass remembers 16-byte digests; the general search, states of small models).
    fn default() -> Self {
        Budget {
            steps_max: STEPS_MAX_DEFAULT,
            memo_entries_max: 4_000_000,
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

    /// The budget cut to a share of its steps, for a check made of two attempts.
    pub fn with_steps(&self, steps_max: u64) -> Self {
        Budget { steps_max, ..*self }
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
            steps_max: budget.steps_max,
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
