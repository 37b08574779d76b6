//! Time and memory budgets: every check answers within them, or answers "unknown".

use std::time::{Duration, Instant};

/// How much a check may spend before it gives up and answers "unknown".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub time_max: Duration,
    /// The most (linearized set, state) pairs the search may remember for one partition.
    pub memo_states_max: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            time_max: Duration::from_secs(10),
            memo_states_max: 4_000_000,
        }
    }
}

/// Tracks spending against a [`Budget`] from the moment the check starts.
#[derive(Debug)]
pub struct Meter {
    deadline: Instant,
    memo_states_max: usize,
    steps: u64,
    expired: bool,
}

/// Reading the clock costs more than a search step, so look at it only this often.
const STEPS_PER_CLOCK_READ: u64 = 1024;

impl Meter {
    pub fn start(budget: Budget) -> Self {
        Meter {
            deadline: Instant::now() + budget.time_max,
            memo_states_max: budget.memo_states_max,
            steps: 0,
            expired: false,
        }
    }

    /// Counts one step; true once the time budget is spent.
    pub fn step_expired(&mut self) -> bool {
        self.steps += 1;
        if !self.expired && self.steps.is_multiple_of(STEPS_PER_CLOCK_READ) {
            self.expired = Instant::now() >= self.deadline;
        }
        self.expired
    }

    pub fn memo_full(&self, memo_states: usize) -> bool {
        memo_states >= self.memo_states_max
    }
}
