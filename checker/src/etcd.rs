//! From a detcd history to what the checkers need: operations and watch streams.
//!
//! Definitive errors are dropped (the request did not happen); other errors, `unknown`
//! outcomes and invokes without a return become operations with unknown outcomes. Serializable
//! ranges may be served stale by design, so they are not held to linearizability. For every
//! lease the history mentions, an operation with an unknown outcome revokes it from the moment
//! it is first mentioned: the server may expire any lease, and an expiry is a revoke that no
//! client asked for.

use std::collections::BTreeMap;

use crate::formats::ParseError;
use crate::history::{
    HistoryRecord, Outcome, Request, Response, WatchEvent, WatchFilter, is_definitive_error,
};
use crate::operation::Operation;

pub type EtcdOperation = Operation<Request, Response>;

/// The client id given to the lease expiries the checker adds.
pub const LEASE_EXPIRY_CLIENT: u64 = u64::MAX;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EtcdHistory {
    /// Sorted by invoke time, then op id.
    pub operations: Vec<EtcdOperation>,
    pub watches: Vec<WatchStream>,
}

/// A watch: what it asked for and every response delivered on it, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchStream {
    pub client: u64,
    pub op: u64,
    pub invoke_ns: u64,
    pub key: String,
    pub range_end: String,
    pub start_revision: i64,
    pub prev_kv: bool,
    pub filters: Vec<WatchFilter>,
    /// The header revision of the creation response, if it came back.
    pub created_revision: Option<i64>,
    pub responses: Vec<WatchDelivery>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchDelivery {
    pub time_ns: u64,
    pub events: Vec<WatchEvent>,
    pub canceled: bool,
    pub compact_revision: i64,
}

struct Invoked {
    client: u64,
    time_ns: u64,
    request: Request,
}

/// Builds the history; the error names the line (1-based record index) that makes no sense.
pub fn from_records(records: &[HistoryRecord]) -> Result<EtcdHistory, ParseError> {
    let mut invoked: BTreeMap<u64, Invoked> = BTreeMap::new();
    let mut returned: BTreeMap<u64, (u64, Outcome)> = BTreeMap::new();
    let mut watches: BTreeMap<u64, WatchStream> = BTreeMap::new();
    for (index, record) in records.iter().enumerate() {
        let line = index + 1;
        match record {
            HistoryRecord::Invoke {
                client,
                op,
                time_ns,
                request,
            } => {
                if let Request::Watch { .. } = request {
                    watches.insert(*op, new_watch(*client, *op, *time_ns, request));
                }
                let invoke = Invoked {
                    client: *client,
                    time_ns: *time_ns,
                    request: request.clone(),
                };
                if invoked.insert(*op, invoke).is_some() {
                    return Err(ParseError::new(
                        line,
                        format!("operation {op} is invoked twice"),
                    ));
                }
            }
            HistoryRecord::Return {
                op,
                time_ns,
                outcome,
                ..
            } => {
                if !invoked.contains_key(op)
                    || returned.insert(*op, (*time_ns, outcome.clone())).is_some()
                {
                    return Err(ParseError::new(
                        line,
                        format!("operation {op} returns without an open invoke"),
                    ));
                }
            }
            HistoryRecord::Watch {
                op,
                time_ns,
                events,
                canceled,
                compact_revision,
                ..
            } => {
                let stream = watches.get_mut(op).ok_or_else(|| {
                    ParseError::new(
                        line,
                        format!("watch response for {op}, which is not a watch"),
                    )
                })?;
                stream.responses.push(WatchDelivery {
                    time_ns: *time_ns,
                    events: events.clone(),
                    canceled: *canceled,
                    compact_revision: *compact_revision,
                });
            }
        }
    }
    let mut operations = Vec::new();
    for (op, invoke) in invoked {
        let completion = returned.remove(&op);
        if let (Some(stream), Some((_, Outcome::Ok(response)))) =
            (watches.get_mut(&op), &completion)
        {
            stream.created_revision = Some(response.header().revision);
        }
        if let Some(operation) = to_operation(op, invoke, completion) {
            operations.push(operation);
        }
    }
    operations.extend(lease_expiries(&operations));
    operations.sort_by_key(|operation| (operation.invoke_ns, operation.label));
    Ok(EtcdHistory {
        operations,
        watches: watches.into_values().collect(),
    })
}

fn new_watch(client: u64, op: u64, invoke_ns: u64, request: &Request) -> WatchStream {
    let Request::Watch {
        key,
        range_end,
        start_revision,
        prev_kv,
        filters,
    } = request
    else {
        unreachable!("new_watch is called for watch requests");
    };
    WatchStream {
        client,
        op,
        invoke_ns,
        key: key.clone(),
        range_end: range_end.clone(),
        start_revision: *start_revision,
        prev_kv: *prev_kv,
        filters: filters.clone(),
        created_revision: None,
        responses: Vec::new(),
    }
}

/// The operation a request became, or `None` if it is not checked for linearizability.
fn to_operation(
    op: u64,
    invoke: Invoked,
    completion: Option<(u64, Outcome)>,
) -> Option<EtcdOperation> {
    if matches!(
        invoke.request,
        Request::Watch { .. }
            | Request::Range {
                serializable: true,
                ..
            }
    ) {
        return None;
    }
    let Invoked {
        client,
        time_ns,
        request,
    } = invoke;
    match completion {
        Some((return_ns, Outcome::Ok(response))) => Some(Operation::completed(
            client, op, time_ns, request, return_ns, response,
        )),
        Some((_, Outcome::Error { message })) if is_definitive_error(&message) => None,
        _ => Some(Operation::open(client, op, time_ns, request)),
    }
}

/// One open revoke per lease, from the first time the history mentions it.
fn lease_expiries(operations: &[EtcdOperation]) -> Vec<EtcdOperation> {
    let mut first_mention: BTreeMap<i64, u64> = BTreeMap::new();
    for operation in operations {
        for lease in leases_mentioned(&operation.input, operation.output()) {
            let earliest = first_mention.entry(lease).or_insert(operation.invoke_ns);
            *earliest = (*earliest).min(operation.invoke_ns);
        }
    }
    first_mention
        .into_iter()
        .map(|(id, invoke_ns)| {
            Operation::open(
                LEASE_EXPIRY_CLIENT,
                u64::MAX,
                invoke_ns,
                Request::LeaseRevoke { id },
            )
        })
        .collect()
}

fn leases_mentioned(request: &Request, response: Option<&Response>) -> Vec<i64> {
    let mut leases = match request {
        Request::Put { lease, .. } => vec![*lease],
        Request::LeaseGrant { id, .. } => vec![*id],
        Request::Txn {
            success, failure, ..
        } => success
            .iter()
            .chain(failure)
            .flat_map(|nested| leases_mentioned(nested, None))
            .collect(),
        _ => Vec::new(),
    };
    if let Some(Response::LeaseGrant { id, .. }) = response {
        leases.push(*id);
    }
    leases.retain(|lease| *lease != 0);
    leases
}

/// Whether the operation is a lease expiry added by the checker.
pub fn is_lease_expiry(operation: &EtcdOperation) -> bool {
    operation.client == LEASE_EXPIRY_CLIENT
}
