//! The entry points: check a history file or parsed operations, and report.

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::budget::{Budget, Meter};
use crate::counterexample::{self, Counterexample, Violation};
use crate::etcd::{self, EtcdHistory};
use crate::formats::{Format, ParseError, edn, jepsen};
use crate::history::read_history;
use crate::model::Model;
use crate::model::kv::KvModel;
use crate::model::register::RegisterModel;
use crate::operation::Operation;
use crate::options::CheckOptions;
use crate::revision::{self, RevisionOutcome};
use crate::search::{self, SearchOutcome};
use crate::{lease, watch};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Linearizable,
    NotLinearizable,
    /// The budget (of search steps or memo entries) ran out before an answer.
    Unknown,
}

/// What a check found. `Display` prints the verdict, the time and steps taken and the
/// counterexample.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    pub verdict: Verdict,
    /// Wall-clock time the check took: reported only, it never decides the verdict.
    pub elapsed: Duration,
    /// The search steps the verdict took, which the budget counts: unlike `elapsed`, the same
    /// for the same history on every machine.
    pub steps: u64,
    pub operations: usize,
    /// Independent parts checked (keys, for the kv model) and how many got an answer.
    pub partitions: usize,
    pub partitions_decided: usize,
    pub counterexample: Option<Counterexample>,
    /// Broken watch and lease guarantees (etcd histories only).
    pub violations: Vec<Violation>,
}

impl CheckReport {
    /// The exit code of `detcd-sim check`: 0 when linearizable with no watch or lease
    /// violation, 1 for any violation, 3 when the budget ran out first. (2 is for usage and
    /// parse errors, which never produce a report.)
    pub fn exit_code(&self) -> i32 {
        match (self.verdict, self.violations.is_empty()) {
            (Verdict::NotLinearizable, _) | (_, false) => 1,
            (Verdict::Unknown, true) => 3,
            (Verdict::Linearizable, true) => 0,
        }
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match self.verdict {
            Verdict::Linearizable => "linearizable",
            Verdict::NotLinearizable => "NOT linearizable",
            Verdict::Unknown => "unknown (budget exhausted)",
        };
        writeln!(
            f,
            "{verdict}: {} operations in {} partitions ({} decided), checked in {:.3?} ({} steps)",
            self.operations, self.partitions, self.partitions_decided, self.elapsed, self.steps
        )?;
        if let Some(counterexample) = &self.counterexample {
            write!(f, "{counterexample}")?;
        }
        for violation in &self.violations {
            writeln!(f, "violation of {violation}")?;
        }
        Ok(())
    }
}

/// Reads and checks a history file. Parse errors carry the line number. Clocks are taken to
/// be perfect (see [`check_file_with`]).
pub fn check_file(path: &Path, format: Format, budget: Budget) -> Result<CheckReport, ParseError> {
    check_file_with(
        path,
        format,
        CheckOptions {
            budget,
            ..CheckOptions::default()
        },
    )
}

/// [`check_file`] with every option.
pub fn check_file_with(
    path: &Path,
    format: Format,
    options: CheckOptions,
) -> Result<CheckReport, ParseError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| ParseError::new(0, format!("cannot read {}: {error}", path.display())))?;
    check_text_with(&text, format, options)
}

pub fn check_text(text: &str, format: Format, budget: Budget) -> Result<CheckReport, ParseError> {
    check_text_with(
        text,
        format,
        CheckOptions {
            budget,
            ..CheckOptions::default()
        },
    )
}

/// [`check_text`] with every option.
pub fn check_text_with(
    text: &str,
    format: Format,
    options: CheckOptions,
) -> Result<CheckReport, ParseError> {
    let started = Instant::now();
    let budget = options.budget;
    let mut report = match format {
        Format::Detcd => {
            let records = read_history(text.as_bytes())?;
            check_etcd_with(&etcd::from_records(&records)?, options)
        }
        Format::Jepsen => check_operations(&RegisterModel, &jepsen::parse(text)?, budget),
        Format::EdnKv => check_operations(&KvModel, &edn::parse(text)?, budget),
    };
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Checks operations against a model with the partitioned search.
pub fn check_operations<M: Model>(
    model: &M,
    operations: &[Operation<M::Input, M::Output>],
    budget: Budget,
) -> CheckReport {
    let started = Instant::now();
    let mut meter = Meter::start(budget);
    let results = search::check_partitions(model, operations, &mut meter);
    let partitions = results.len();
    let partitions_decided = results
        .iter()
        .filter(|(_, outcome)| *outcome != SearchOutcome::Unknown)
        .count();
    let failed = results
        .into_iter()
        .find_map(|(members, outcome)| match outcome {
            SearchOutcome::NotLinearizable(stuck) => Some((members, stuck)),
            _ => None,
        });
    let (verdict, counterexample) = match failed {
        Some((members, stuck)) => {
            let part: Vec<_> = members
                .iter()
                .map(|&index| operations[index].clone())
                .collect();
            let local = search::Stuck {
                linearized: stuck
                    .linearized
                    .iter()
                    .map(|index| position(&members, *index))
                    .collect(),
                state: stuck.state,
                unplaceable: position(&members, stuck.unplaceable),
            };
            // Cutting the counterexample down gets a fresh budget: the verdict is already known.
            let mut cutting = Meter::start(budget);
            (
                Verdict::NotLinearizable,
                Some(counterexample::from_search(
                    model,
                    &part,
                    local,
                    &mut cutting,
                )),
            )
        }
        None if partitions_decided < partitions => (Verdict::Unknown, None),
        None => (Verdict::Linearizable, None),
    };
    CheckReport {
        verdict,
        elapsed: started.elapsed(),
        steps: meter.steps(),
        operations: operations.len(),
        partitions,
        partitions_decided,
        counterexample,
        violations: Vec::new(),
    }
}

fn position(members: &[usize], index: usize) -> usize {
    members
        .binary_search(&index)
        .expect("partition members are sorted")
}

/// Checks an etcd history: the revision-guided pass, then watches and leases against the
/// order it found. Clocks are taken to be perfect (see [`check_etcd_with`]).
pub fn check_etcd(history: &EtcdHistory, budget: Budget) -> CheckReport {
    check_etcd_with(
        history,
        CheckOptions {
            budget,
            ..CheckOptions::default()
        },
    )
}

/// Checks an etcd history with every option.
///
/// Which request with an unknown outcome wrote a revision is often decided only by watch
/// events, or by when a lease could have expired. So the pass first looks for an order that
/// also agrees with every watch and lets leases expire only when they may; only if there is
/// none (or that search runs out of its half of the steps) does it look for any order, with
/// the steps left, and the watch and lease checks report where that order breaks their rules.
pub fn check_etcd_with(history: &EtcdHistory, options: CheckOptions) -> CheckReport {
    let started = Instant::now();
    let operations = &history.operations;
    let constraints = revision::Constraints {
        watches: &history.watches,
        lease_clock: Some(options.clock),
    };
    let constrained = !history.watches.is_empty() || operations.iter().any(etcd::is_lease_expiry);
    let steps_allowed = options.budget.steps_max;
    let mut steps_spent = 0;
    let mut outcome = None;
    if constrained {
        let mut meter = Meter::start(options.budget.with_steps(steps_allowed / 2));
        if let found @ RevisionOutcome::Linearizable { .. } =
            revision::check_with(operations, &mut meter, constraints)
        {
            outcome = Some(found);
        }
        steps_spent = meter.steps();
    }
    let outcome = outcome.unwrap_or_else(|| {
        let mut meter = Meter::start(options.budget.with_steps(steps_allowed - steps_spent));
        let outcome = revision::check(operations, &mut meter);
        steps_spent += meter.steps();
        outcome
    });
    let (verdict, counterexample, violations) = match outcome {
        RevisionOutcome::Linearizable { store, writers } => {
            let mut violations = watch::check(&history.watches, operations, &store);
            violations.extend(lease::check(operations, &writers, options.clock));
            (Verdict::Linearizable, None, violations)
        }
        RevisionOutcome::NotLinearizable(failure) => (
            Verdict::NotLinearizable,
            Some(counterexample::from_revision_failure(operations, &failure)),
            Vec::new(),
        ),
        RevisionOutcome::Unknown => (Verdict::Unknown, None, Vec::new()),
    };
    CheckReport {
        verdict,
        elapsed: started.elapsed(),
        steps: steps_spent,
        operations: operations.len(),
        partitions: 1,
        partitions_decided: usize::from(verdict != Verdict::Unknown),
        counterexample,
        violations,
    }
}
