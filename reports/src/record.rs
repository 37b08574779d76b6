//! What a report is made from: a run's Raft events, its trace and its clients' operations.

use std::collections::BTreeMap;

use detcd_checker::Verdict;
use detcd_checker::counterexample::{Counterexample, Violation as CheckViolation};
use detcd_checker::history::{self, HistoryRecord, Outcome};
use detcd_core::kv::{Request, Response};
use detcd_core::raft::Message;
use detcd_core::{Duration, Instant, NodeId};
use detcd_sim::cluster::{ClusterEvent, Violation as SafetyViolation};
use detcd_sim::run::{RunOptions, RunReport, run};
use detcd_sim::trace::{TraceEvent, TraceKind, TraceSettings};

/// One trace event of a detcd cluster.
pub type Trace = TraceEvent<Message, Request, Response>;

/// Everything a report needs of one run. It holds only simulated time, so the report of a run is
/// the same every time the run is recorded (the checker's wall-clock time is left out).
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub seed: u64,
    pub members: Vec<NodeId>,
    pub fault_phase_end: Instant,
    /// The last moment the record covers.
    pub end: Instant,
    /// Raft-level events seen by the observer, in time order.
    pub events: Vec<(Instant, ClusterEvent)>,
    pub trace: Vec<Trace>,
    /// The clients' history as the checker read it, and its operations joined up, by invoke time.
    pub history: Vec<HistoryRecord>,
    pub operations: Vec<ClientOperation>,
    pub verdict: Verdict,
    pub counterexample: Option<Counterexample>,
    /// Broken watch and lease guarantees.
    pub check_violations: Vec<CheckViolation>,
    /// A broken Raft safety property.
    pub safety: Option<SafetyViolation>,
    /// How long the healed cluster took to serve again; `None` if it did not.
    pub recovery: Option<Duration>,
}

/// One client request and what came of it.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientOperation {
    /// The operation id of the history (the request id).
    pub op: u64,
    pub client: u64,
    /// The member the request was sent to, from the trace.
    pub node: Option<NodeId>,
    pub invoked: Instant,
    /// `None` when the run ended before an answer or a timeout.
    pub returned: Option<Instant>,
    pub request: history::Request,
    pub outcome: Option<Outcome>,
}

/// The three outcomes a report distinguishes, as the checker reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OutcomeClass {
    Ok,
    /// An error that means the request never took effect ("etcdserver: no leader").
    Failed,
    /// A timeout, or an error after which the request may or may not have taken effect.
    Unknown,
}

impl OutcomeClass {
    pub fn name(self) -> &'static str {
        match self {
            OutcomeClass::Ok => "ok",
            OutcomeClass::Failed => "failed",
            OutcomeClass::Unknown => "unknown",
        }
    }
}

impl ClientOperation {
    pub fn class(&self) -> OutcomeClass {
        match &self.outcome {
            Some(Outcome::Ok(_)) => OutcomeClass::Ok,
            Some(Outcome::Error { message }) if history::is_definitive_error(message) => {
                OutcomeClass::Failed
            }
            Some(Outcome::Error { .. } | Outcome::Unknown { .. }) | None => OutcomeClass::Unknown,
        }
    }

    /// Whether the request changes the store (what a reader calls a write).
    pub fn is_write(&self) -> bool {
        !matches!(
            self.request,
            history::Request::Range { .. } | history::Request::Watch { .. }
        )
    }

    /// The error message or the reason the client gave up, if it did not succeed.
    pub fn error(&self) -> Option<&str> {
        match &self.outcome {
            Some(Outcome::Ok(_)) => None,
            Some(Outcome::Error { message }) => Some(message),
            Some(Outcome::Unknown { reason }) => Some(reason),
            None => Some("no answer before the run ended"),
        }
    }

    /// The request in one line, as etcd's JSON.
    pub fn request_text(&self) -> String {
        serde_json::to_string(&self.request).expect("requests always encode")
    }

    /// The outcome in one line, as etcd's JSON.
    pub fn outcome_text(&self) -> String {
        match &self.outcome {
            Some(outcome) => serde_json::to_string(outcome).expect("outcomes always encode"),
            None => "no answer".into(),
        }
    }
}

/// Run the given options (clients and faults for the fault phase, no script) with the trace
/// kept in memory and collect the record.
pub fn record(mut options: RunOptions) -> RunRecord {
    options.trace = TraceSettings::in_memory();
    RunRecord::from_report(run(options))
}

impl RunRecord {
    /// The record of a finished run; its trace is empty unless the run kept it in memory.
    pub fn from_report(report: RunReport) -> RunRecord {
        let operations = operations(&report.history, &report.trace);
        let end = [
            report.trace.last().map(|event| event.time),
            report.events.last().map(|(at, _)| *at),
            operations.iter().filter_map(|op| op.returned).max(),
            Some(report.fault_phase_end),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(Instant::ZERO);
        RunRecord {
            seed: report.seed,
            members: report.members,
            fault_phase_end: report.fault_phase_end,
            end,
            events: report.events,
            trace: report.trace,
            history: report.history,
            operations,
            verdict: report.check.verdict,
            counterexample: report.check.counterexample,
            check_violations: report.check.violations,
            safety: report.safety,
            recovery: report.recovery,
        }
    }

    /// The operation ids the checker blames: a counterexample's window and its unplaceable
    /// operation, and the operations of every broken watch or lease guarantee.
    pub fn blamed_operations(&self) -> Vec<u64> {
        let mut blamed: Vec<u64> = self
            .counterexample
            .iter()
            .flat_map(|c| c.window.iter().chain(&c.unplaceable))
            .map(|view| view.label)
            .chain(
                self.check_violations
                    .iter()
                    .flat_map(|v| v.operations.iter().copied()),
            )
            .collect();
        blamed.sort_unstable();
        blamed.dedup();
        blamed
    }
}

/// Join each invoke with its return, and with the member the trace says it was sent to.
fn operations(records: &[HistoryRecord], trace: &[Trace]) -> Vec<ClientOperation> {
    let sent_to: BTreeMap<u64, NodeId> = trace
        .iter()
        .filter_map(|event| match event.kind {
            TraceKind::ClientRequest { node, request, .. } => Some((request, node)),
            _ => None,
        })
        .collect();
    let mut operations: BTreeMap<u64, ClientOperation> = BTreeMap::new();
    for record in records {
        match record {
            HistoryRecord::Invoke {
                client,
                op,
                time_ns,
                request,
            } => {
                let operation = ClientOperation {
                    op: *op,
                    client: *client,
                    node: sent_to.get(op).copied(),
                    invoked: Instant::from_nanos(*time_ns),
                    returned: None,
                    request: request.clone(),
                    outcome: None,
                };
                operations.insert(*op, operation);
            }
            HistoryRecord::Return {
                op,
                time_ns,
                outcome,
                ..
            } => {
                if let Some(operation) = operations.get_mut(op) {
                    operation.returned = Some(Instant::from_nanos(*time_ns));
                    operation.outcome = Some(outcome.clone());
                }
            }
            HistoryRecord::Watch { .. } => {}
        }
    }
    let mut operations: Vec<ClientOperation> = operations.into_values().collect();
    operations.sort_by_key(|op| (op.invoked, op.op));
    operations
}
