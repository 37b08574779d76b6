//! Counterexamples: the smallest window of a history that shows a violation.
//!
//! For the general search the window is found by cutting the history short. Cut at time `t`,
//! keep the operations invoked by then, and treat those still running at `t` as having unknown
//! outcomes. If the whole history is linearizable, so is every such prefix (the operations that
//! took effect by `t` form a legal prefix of its linearization), so a non-linearizable prefix
//! is a true counterexample, and the shortest one is found by binary search on `t`. Within it,
//! the search's deepest dead end names the operation that could not be placed and the state it
//! was tried against; the window is that operation with everything overlapping it.

use std::fmt;

use serde::Serialize;

use crate::budget::Meter;
use crate::etcd::{EtcdOperation, is_lease_expiry};
use crate::model::Model;
use crate::model::etcd::{describe_request, describe_store};
use crate::operation::Operation;
use crate::revision::{Failure, FailureKind, Witness};
use crate::search::{self, SearchOutcome, Stuck};

/// An operation as reports show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OperationView {
    /// The operation id (detcd) or invoke line (Jepsen, EDN).
    pub label: u64,
    pub client: u64,
    pub invoke_ns: u64,
    /// `None` when the outcome is unknown.
    pub return_ns: Option<u64>,
    pub description: String,
}

/// A violation explained: data for the HTML report, and words through `Display`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Counterexample {
    pub summary: String,
    /// The operation that could not be placed.
    pub unplaceable: Option<OperationView>,
    /// The state it was tried against.
    pub state: String,
    /// The last operations of the longest partial linearization, in order.
    pub linearized: Vec<OperationView>,
    /// The operations of the window, by invoke time.
    pub window: Vec<OperationView>,
}

/// How many of the partial linearization's last operations a counterexample shows.
const LINEARIZED_SHOWN_MAX: usize = 8;

impl fmt::Display for Counterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.summary)?;
        writeln!(f, "  state it was tried against: {}", self.state)?;
        if !self.linearized.is_empty() {
            writeln!(f, "  last operations linearized before it:")?;
            for operation in &self.linearized {
                writeln!(f, "    {operation}")?;
            }
        }
        writeln!(f, "  window ({} operations):", self.window.len())?;
        for operation in &self.window {
            writeln!(f, "    {operation}")?;
        }
        Ok(())
    }
}

impl fmt::Display for OperationView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let returned = self
            .return_ns
            .map_or_else(|| "never".to_string(), |at| at.to_string());
        write!(
            f,
            "#{} client {} [{} .. {}]: {}",
            self.label, self.client, self.invoke_ns, returned, self.description
        )
    }
}

/// The smallest failing prefix of a non-linearizable partition, explained. `stuck` is what the
/// search found on the whole partition; it is the answer if the budget runs out while cutting.
pub fn from_search<M: Model>(
    model: &M,
    operations: &[Operation<M::Input, M::Output>],
    stuck: Stuck<M::State>,
    meter: &mut Meter,
) -> Counterexample {
    let mut cut_times: Vec<u64> = operations
        .iter()
        .filter_map(|operation| operation.completion.as_ref().map(|c| c.return_ns))
        .collect();
    cut_times.sort_unstable();
    cut_times.dedup();
    let (mut low, mut high) = (0, cut_times.len());
    let mut best = (operations.to_vec(), stuck);
    // Invariant: cutting at cut_times[high] (or not at all) fails; below low, nothing fails.
    while low < high {
        let middle = (low + high) / 2;
        let prefix = cut(operations, cut_times[middle]);
        match search::check(model, &prefix, meter) {
            SearchOutcome::NotLinearizable(stuck) => {
                best = (prefix, stuck);
                high = middle;
            }
            SearchOutcome::Linearizable => low = middle + 1,
            SearchOutcome::Unknown => break,
        }
    }
    explain(model, &best.0, &best.1)
}

/// The history as seen at time `at`: operations still running then have unknown outcomes.
fn cut<I: Clone, O: Clone>(operations: &[Operation<I, O>], at: u64) -> Vec<Operation<I, O>> {
    operations
        .iter()
        .filter(|operation| operation.invoke_ns <= at)
        .map(|operation| {
            let mut kept = operation.clone();
            if kept.return_ns() > at {
                kept.completion = None;
            }
            kept
        })
        .collect()
}

fn explain<M: Model>(
    model: &M,
    operations: &[Operation<M::Input, M::Output>],
    stuck: &Stuck<M::State>,
) -> Counterexample {
    let view = |index: usize| {
        let operation = &operations[index];
        view_of(
            operation,
            model.describe_operation(&operation.input, operation.output()),
        )
    };
    let unplaceable = view(stuck.unplaceable);
    let state = model.describe_state(&stuck.state);
    let summary = format!(
        "operation #{} (client {}: {}) could not be placed: after {} operations were linearized, \
         the state was {}, and no order of the operations still running lets it take effect \
         before it returned",
        unplaceable.label,
        unplaceable.client,
        unplaceable.description,
        stuck.linearized.len(),
        state
    );
    let mut members = overlapping(operations, stuck.unplaceable);
    members.extend(stuck.linearized.last());
    Counterexample {
        summary,
        unplaceable: Some(unplaceable),
        state,
        linearized: tail(&stuck.linearized)
            .iter()
            .map(|&index| view(index))
            .collect(),
        window: sorted_views(operations, members, view),
    }
}

/// Explains a failure of the revision-guided pass.
pub fn from_revision_failure(operations: &[EtcdOperation], failure: &Failure) -> Counterexample {
    let view = |index: usize| view_of(&operations[index], describe_etcd(&operations[index]));
    let revision = failure.revision;
    let summary = match &failure.kind {
        FailureKind::TwoWriters { first, second } => {
            format!(
                "two writes returned revision {revision}: {} and {}",
                view(*first),
                view(*second)
            )
        }
        FailureKind::WrongResponse {
            operation,
            expected,
        } => {
            let should = expected.as_ref().map_or_else(
                || "an error".to_string(),
                |expected| describe_request(&operations[*operation].input, Some(expected)),
            );
            format!(
                "{} could not be placed at revision {revision}: there the store answers {should}",
                view(*operation)
            )
        }
        FailureKind::TooLate {
            operation,
            floor_ns,
            forced_by,
        } => format!(
            "{} returned before {floor_ns}, but its revision {revision} puts it after {}, which was invoked at {floor_ns}",
            view(*operation),
            view(*forced_by)
        ),
        FailureKind::NoWriter => format!(
            "revision {revision} appears in responses, but no request with a known or unknown outcome could have written it"
        ),
        FailureKind::Contradicted { writer, witness } => {
            let witness = match witness {
                Witness::Operation(index) => view(*index).to_string(),
                Witness::Watch(op) => format!("watch #{op}"),
            };
            match writer {
                Some(writer) => format!(
                    "{} wrote revision {revision}, but {witness} saw a different write there",
                    view(*writer)
                ),
                None => format!(
                    "revision {revision} appears in responses, but no request with an unknown outcome could have written what {witness} saw written there"
                ),
            }
        }
    };
    let mut members: Vec<usize> = Vec::new();
    if let Some(operation) = failure.kind.operation() {
        members = overlapping(operations, operation);
    }
    if let FailureKind::TooLate { forced_by, .. }
    | FailureKind::TwoWriters {
        first: forced_by, ..
    }
    | FailureKind::Contradicted {
        writer: Some(forced_by),
        ..
    } = &failure.kind
    {
        members.push(*forced_by);
    }
    let writers: Vec<usize> = failure.writers.values().copied().collect();
    members.extend(writers.last());
    Counterexample {
        summary,
        unplaceable: failure.kind.operation().map(view),
        state: describe_store(&failure.store, failure.state_revision),
        linearized: tail(&writers).iter().map(|&index| view(index)).collect(),
        window: sorted_views(operations, members, view),
    }
}

fn describe_etcd(operation: &EtcdOperation) -> String {
    if is_lease_expiry(operation) {
        return format!("expiry: {}", describe_request(&operation.input, None));
    }
    describe_request(&operation.input, operation.output())
}

fn view_of<I, O>(operation: &Operation<I, O>, description: String) -> OperationView {
    OperationView {
        label: operation.label,
        client: operation.client,
        invoke_ns: operation.invoke_ns,
        return_ns: operation
            .completion
            .as_ref()
            .map(|completion| completion.return_ns),
        description,
    }
}

/// The operation and every operation whose interval overlaps its own.
fn overlapping<I, O>(operations: &[Operation<I, O>], focus: usize) -> Vec<usize> {
    let target = &operations[focus];
    (0..operations.len())
        .filter(|&index| {
            !operations[index].precedes(target) && !target.precedes(&operations[index])
        })
        .collect()
}

fn tail(order: &[usize]) -> &[usize] {
    &order[order.len().saturating_sub(LINEARIZED_SHOWN_MAX)..]
}

fn sorted_views<I, O>(
    operations: &[Operation<I, O>],
    mut members: Vec<usize>,
    view: impl Fn(usize) -> OperationView,
) -> Vec<OperationView> {
    members.sort_by_key(|&index| (operations[index].invoke_ns, operations[index].label, index));
    members.dedup();
    members.into_iter().map(view).collect()
}

/// A broken watch or lease guarantee, named after the property it breaks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The property, e.g. `"watch reliable"` or `"lease revoke"`.
    pub property: &'static str,
    pub description: String,
    /// Labels (op ids) of the operations involved.
    pub operations: Vec<u64>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.property, self.description)
    }
}
