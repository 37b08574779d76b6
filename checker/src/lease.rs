//! Lease guarantees.
//!
//! - Once a revoke has returned, no later operation sees a key attached to that lease, and no
//!   later put attaches a key to it. A read at a past revision sees the store as it was then:
//!   it breaks this only if it reads at or after the revision the revoke returned (the store
//!   after the revoke), not before it.
//! - No key attached to a live lease disappears: when the linearization needs a lease to expire
//!   (a server-side revoke the checker adds), the revision it deleted in must not have been
//!   observed before the lease's TTL ran out since its last grant or keep-alive was sent, less
//!   the clock uncertainty of [`ClockUncertainty`]: leases rely on bounded clock error, and a
//!   server clock that jumps or runs fast ends a lease early by that much. An expiry that a
//!   revoke with an unknown outcome could stand in for (the same request, invoked by the time
//!   the deletion was seen, and not writing elsewhere in the order) is no early expiry: the
//!   order with that revoke in its place is just as valid.

use std::collections::{BTreeMap, BTreeSet};

use crate::counterexample::Violation;
use crate::etcd::{EtcdOperation, is_lease_expiry};
use crate::history::{Request, Response};
use crate::options::ClockUncertainty;

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// `writers` maps each revision to the operation that wrote it, as the revision pass found.
pub fn check(
    operations: &[EtcdOperation],
    writers: &BTreeMap<i64, usize>,
    clock: ClockUncertainty,
) -> Vec<Violation> {
    let mut violations = after_revoke(operations);
    violations.extend(early_expiry(operations, writers, clock));
    violations
}

fn after_revoke(operations: &[EtcdOperation]) -> Vec<Violation> {
    // Per lease, its first revoke to return: (return time, label, the revision it returned).
    let mut revoked_at: BTreeMap<i64, (u64, u64, i64)> = BTreeMap::new();
    for operation in operations {
        if let (Request::LeaseRevoke { id }, Some(response)) =
            (&operation.input, operation.output())
        {
            let revoke = (
                operation.return_ns(),
                operation.label,
                response.header().revision,
            );
            let earliest = revoked_at.entry(*id).or_insert(revoke);
            *earliest = (*earliest).min(revoke);
        }
    }
    let mut violations = Vec::new();
    for operation in operations.iter().filter(|operation| !operation.is_open()) {
        for (lease, read_at) in leases_used(&operation.input, operation.output()) {
            if let Some(&(revoked_ns, revoke_label, revoke_revision)) = revoked_at.get(&lease)
                && revoked_ns < operation.invoke_ns
                && read_at.is_none_or(|read_at| read_at >= revoke_revision)
            {
                violations.push(Violation {
                    property: "lease revoke",
                    description: format!(
                        "operation #{} used or saw lease {lease} after revoke #{revoke_label} returned at {revoked_ns}",
                        operation.label
                    ),
                    operations: vec![revoke_label, operation.label],
                });
            }
        }
    }
    violations
}

/// Leases a successful operation attached keys to, or saw attached to keys it read, each with
/// the past revision it was seen at (`None`: the store as it is).
fn leases_used(request: &Request, response: Option<&Response>) -> Vec<(i64, Option<i64>)> {
    let mut leases = Vec::new();
    add_leases_used(request, response, &mut leases);
    leases
}

/// Adds the leases of [`leases_used`] to `leases`; most operations use none, and then nothing
/// is allocated.
fn add_leases_used(
    request: &Request,
    response: Option<&Response>,
    leases: &mut Vec<(i64, Option<i64>)>,
) {
    match (request, response) {
        (Request::Put { lease, .. }, _) if *lease != 0 => leases.push((*lease, None)),
        (Request::Range { revision, .. }, Some(Response::Range { kvs, .. })) => {
            let read_at = (*revision > 0).then_some(*revision);
            let seen = kvs.iter().map(|kv| kv.lease).filter(|lease| *lease != 0);
            leases.extend(seen.map(|lease| (lease, read_at)));
        }
        (
            Request::Txn {
                success, failure, ..
            },
            Some(Response::Txn {
                succeeded,
                responses,
                ..
            }),
        ) => {
            let branch = if *succeeded { success } else { failure };
            for (nested, nested_response) in branch.iter().zip(responses) {
                add_leases_used(nested, Some(nested_response), leases);
            }
        }
        _ => {}
    }
}

fn early_expiry(
    operations: &[EtcdOperation],
    writers: &BTreeMap<i64, usize>,
    clock: ClockUncertainty,
) -> Vec<Violation> {
    let refreshes = Refreshes::new(operations);
    let observers = Observers::new(operations);
    let unused_revokes = UnusedRevokes::new(operations, writers);
    let mut violations = Vec::new();
    for (&revision, &writer) in writers {
        let expiry = &operations[writer];
        let Request::LeaseRevoke { id } = expiry.input else {
            continue;
        };
        if !is_lease_expiry(expiry) {
            continue;
        }
        // The earliest moment anyone saw the deletion: a response at this revision or later.
        let Some(observer) = observers.first_at_or_after(revision) else {
            continue;
        };
        let observer = &operations[observer];
        if unused_revokes.invoked_by(id, observer.return_ns()) {
            continue;
        }
        if let Some((refresh, alive_until_ns)) =
            refreshes.too_early(id, observer.return_ns(), clock)
        {
            let refresh = &operations[refresh];
            let tolerance = if clock == ClockUncertainty::default() {
                String::new()
            } else {
                format!(" (less the clock uncertainty {clock:?})")
            };
            violations.push(Violation {
                property: "lease keeps keys while alive",
                description: format!(
                    "lease {id} expired at revision {revision}, seen by #{} at {}, but #{} kept it alive until {alive_until_ns}{tolerance}",
                    observer.label,
                    observer.return_ns(),
                    refresh.label
                ),
                operations: vec![refresh.label, observer.label],
            });
        }
    }
    violations
}

/// Client revokes with unknown outcomes that wrote no revision of the order: per lease, when
/// the first of them was invoked. Such a revoke may have taken effect at any point after its
/// invoke, so it may stand where the order put its lease's expiry.
#[derive(Debug, Default)]
struct UnusedRevokes {
    first_invoke_ns_by_lease: BTreeMap<i64, u64>,
}

impl UnusedRevokes {
    fn new(operations: &[EtcdOperation], writers: &BTreeMap<i64, usize>) -> Self {
        let writing: BTreeSet<usize> = writers.values().copied().collect();
        let mut first_invoke_ns_by_lease: BTreeMap<i64, u64> = BTreeMap::new();
        for (index, operation) in operations.iter().enumerate() {
            if let Request::LeaseRevoke { id } = operation.input
                && operation.is_open()
                && !is_lease_expiry(operation)
                && !writing.contains(&index)
            {
                let first_ns = first_invoke_ns_by_lease.entry(id).or_insert(u64::MAX);
                *first_ns = (*first_ns).min(operation.invoke_ns);
            }
        }
        UnusedRevokes {
            first_invoke_ns_by_lease,
        }
    }

    /// Whether one of `lease`'s unused revokes was invoked by `time_ns` (the revision pass
    /// lets a request write a revision only if it was invoked by the time the revision was
    /// first seen, so the same bound keeps real time).
    fn invoked_by(&self, lease: i64, time_ns: u64) -> bool {
        self.first_invoke_ns_by_lease
            .get(&lease)
            .is_some_and(|first_ns| *first_ns <= time_ns)
    }
}

/// Completed operations by the revision their response names, with, from each on, the one
/// that returned first (by return time, then label): who first saw a revision or a later one.
#[derive(Debug)]
struct Observers {
    /// (revision, operation index), by revision.
    by_revision: Vec<(i64, usize)>,
    /// Per entry of `by_revision`, the first to return among it and every entry after it.
    first_from: Vec<usize>,
}

impl Observers {
    fn new(operations: &[EtcdOperation]) -> Self {
        let mut by_revision: Vec<(i64, usize)> = operations
            .iter()
            .enumerate()
            .filter_map(|(index, operation)| Some((operation.output()?.header().revision, index)))
            .collect();
        by_revision.sort_unstable();
        let returned = |index: usize| (operations[index].return_ns(), operations[index].label);
        let mut first_from = vec![0; by_revision.len()];
        let mut first: Option<usize> = None;
        for (position, &(_, index)) in by_revision.iter().enumerate().rev() {
            let earlier = first.filter(|&seen| returned(seen) <= returned(index));
            first = Some(earlier.unwrap_or(index));
            first_from[position] = first.expect("just set");
        }
        Observers {
            by_revision,
            first_from,
        }
    }

    /// The operation that first returned a response naming `revision` or a later one.
    fn first_at_or_after(&self, revision: i64) -> Option<usize> {
        let from = self.by_revision.partition_point(|(at, _)| *at < revision);
        self.first_from.get(from).copied()
    }
}

/// Every successful grant and keep-alive, per lease: when it was sent, and until when it
/// guarantees the lease (its invoke plus the TTL the server granted).
#[derive(Debug, Default)]
pub(crate) struct Refreshes {
    /// Per lease, (invoke, alive until, operation index) by invoke time, with the running
    /// maximum of alive-until (and its operation) alongside.
    by_lease: BTreeMap<i64, Vec<(u64, u64, usize)>>,
}

impl Refreshes {
    pub(crate) fn new(operations: &[EtcdOperation]) -> Self {
        let mut by_lease: BTreeMap<i64, Vec<(u64, u64, usize)>> = BTreeMap::new();
        for (index, operation) in operations.iter().enumerate() {
            if let Some(
                Response::LeaseGrant { id, ttl, .. } | Response::LeaseKeepAlive { id, ttl, .. },
            ) = operation.output()
            {
                let ttl_ns = u64::try_from(*ttl)
                    .unwrap_or(0)
                    .saturating_mul(NANOS_PER_SECOND);
                by_lease.entry(*id).or_default().push((
                    operation.invoke_ns,
                    operation.invoke_ns.saturating_add(ttl_ns),
                    index,
                ));
            }
        }
        for refreshes in by_lease.values_mut() {
            refreshes.sort_unstable();
        }
        Refreshes { by_lease }
    }

    /// If an expiry of `lease` seen at `observed_ns` is too early: the refresh sent before then
    /// that guarantees the lease longest, and until when, which is later than `observed_ns`
    /// even allowing for the clock uncertainty.
    pub(crate) fn too_early(
        &self,
        lease: i64,
        observed_ns: u64,
        clock: ClockUncertainty,
    ) -> Option<(usize, u64)> {
        let refreshes = self.by_lease.get(&lease)?;
        let sent = refreshes.partition_point(|(invoke_ns, _, _)| *invoke_ns < observed_ns);
        refreshes[..sent]
            .iter()
            .filter(|(invoke_ns, alive_until_ns, _)| {
                let ttl_ns = alive_until_ns - invoke_ns;
                let allowed = clock.early_expiry_allowed_ns(ttl_ns);
                observed_ns.saturating_add(allowed) < *alive_until_ns
            })
            .max_by_key(|(_, alive_until_ns, index)| (*alive_until_ns, *index))
            .map(|(_, alive_until_ns, index)| (*index, *alive_until_ns))
    }
}
