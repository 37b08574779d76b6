//! Watch guarantees, checked against the linearized write order.
//!
//! A watch must deliver, from its start revision on, exactly the events of the writes in its
//! key range (minus filtered ones): ordered by revision, each once, all events of a revision in
//! one response, with no revision skipped, and with the key's previous version as `prev_kv` when
//! asked. A watch started below the compaction point must be canceled with the compact
//! revision instead. Revisions beyond what responses reveal cannot be told apart, so events
//! there are checked only for order, uniqueness and atomicity.

use crate::counterexample::Violation;
use crate::etcd::{EtcdOperation, WatchStream};
use crate::history::{EventType, KeyValue, Request, WatchEvent, WatchFilter};
use crate::model::etcd::{Change, Store, in_range};

/// Checks every watch of the history against the linearized `store`.
pub fn check(
    watches: &[WatchStream],
    operations: &[EtcdOperation],
    store: &Store,
) -> Vec<Violation> {
    let compactions = Compactions::new(operations);
    watches
        .iter()
        .flat_map(|watch| check_one(watch, &compactions, store))
        .collect()
}

fn check_one(watch: &WatchStream, compactions: &Compactions, store: &Store) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut report = |property: &'static str, description: String| {
        violations.push(Violation {
            property,
            description: format!("watch #{}: {description}", watch.op),
            operations: vec![watch.op],
        });
    };
    if let Some(description) = compaction_problem(watch, compactions) {
        report("watch compaction cancel", description);
        return violations;
    }
    let deliveries: Vec<(usize, &WatchEvent)> = watch
        .responses
        .iter()
        .enumerate()
        .flat_map(|(delivery, response)| response.events.iter().map(move |event| (delivery, event)))
        .collect();
    if let Some(description) = order_problem(&deliveries) {
        report("watch ordered, unique and atomic", description);
        return violations;
    }
    let Some(start) = start_revision(watch, &deliveries) else {
        return violations;
    };
    let last_delivered = deliveries
        .last()
        .map_or(start - 1, |(_, event)| event.revision());
    let by_revision = ByRevision::new(&deliveries);
    let last = last_delivered.min(store.revision);
    if start > last {
        return violations;
    }
    // Only revisions that wrote in the watch's range, or that it has events for, can differ.
    let mut revisions: Vec<i64> = store
        .keys_written(start, last)
        .filter(|(_, key)| in_range(key, &watch.key, &watch.range_end))
        .map(|(revision, _)| revision)
        .chain(by_revision.revisions(start, last))
        .collect();
    revisions.sort_unstable();
    revisions.dedup();
    for revision in revisions {
        let changes = store.changes_at(revision);
        let delivered = by_revision.at(revision);
        if !events_match(watch, &changes, revision, delivered) {
            let expected = expected_events(watch, &changes, revision);
            let delivered: Vec<&WatchEvent> = delivered.to_vec();
            let property = if delivered.is_empty() {
                "watch reliable"
            } else {
                "watch events match writes"
            };
            report(
                property,
                format!(
                    "at revision {revision} delivered {delivered:?} but the writes make {expected:?}"
                ),
            );
            break;
        }
    }
    violations
}

/// The first revision the watch must report: its start, or the one after its creation.
fn start_revision(watch: &WatchStream, deliveries: &[(usize, &WatchEvent)]) -> Option<i64> {
    if watch.start_revision > 0 {
        return Some(watch.start_revision);
    }
    match (watch.created_revision, deliveries.first()) {
        (Some(created), _) => Some(created + 1),
        // Without the creation header the start is unknown: check from the first delivery on.
        (None, Some((_, first))) => Some(first.revision()),
        (None, None) => None,
    }
}

/// The compactions that completed, by the store revision their responses name, with the
/// highest compaction point reached by each.
///
/// A watch is created on the member the client talks to, which may not have applied a
/// compaction that the leader already answered: compaction, like every write, reaches each
/// member when that member applies it. Only the watch's creation response says how far its
/// member was: a compaction answered at store revision `h` comes before the write of `h + 1` in
/// the log, so a member whose store had passed `h` had applied it.
#[derive(Debug)]
struct Compactions {
    by_revision: Vec<(i64, i64)>,
}

impl Compactions {
    fn new(operations: &[EtcdOperation]) -> Self {
        let mut by_revision: Vec<(i64, i64)> = operations
            .iter()
            .filter_map(|operation| match (&operation.input, operation.output()) {
                (Request::Compact { revision }, Some(response)) => {
                    Some((response.header().revision, *revision))
                }
                _ => None,
            })
            .collect();
        by_revision.sort_unstable();
        let mut highest = 0;
        for (_, revision) in &mut by_revision {
            highest = highest.max(*revision);
            *revision = highest;
        }
        Compactions { by_revision }
    }

    /// The highest compaction point a member whose store was at `revision` had certainly
    /// applied: that of the compactions answered below it.
    fn applied_at(&self, revision: i64) -> i64 {
        let applied = self.by_revision.partition_point(|(at, _)| *at < revision);
        applied
            .checked_sub(1)
            .map_or(0, |last| self.by_revision[last].1)
    }
}

/// A watch started below a compaction its member had applied when it created the watch must be
/// canceled with the compact revision; a watch canceled for compaction must have started below
/// it. A watch without a creation response may never have reached a member (or reached one
/// that had not applied the compaction), so nothing is asked of it.
fn compaction_problem(watch: &WatchStream, compactions: &Compactions) -> Option<String> {
    let compacted_before = watch
        .created_revision
        .map_or(0, |created| compactions.applied_at(created));
    let canceled = watch
        .responses
        .iter()
        .find(|response| response.canceled && response.compact_revision > 0);
    match canceled {
        None if watch.start_revision > 0 && watch.start_revision < compacted_before => {
            Some(format!(
                "started at revision {} though its member, at revision {}, had compacted to {compacted_before}, but was not canceled",
                watch.start_revision,
                watch.created_revision.unwrap_or_default()
            ))
        }
        Some(cancel)
            if watch.start_revision >= cancel.compact_revision || watch.start_revision == 0 =>
        {
            Some(format!(
                "canceled for compaction at {} though it started at revision {}",
                cancel.compact_revision, watch.start_revision
            ))
        }
        Some(cancel) if cancel.compact_revision < compacted_before => Some(format!(
            "canceled with compact revision {} though its member had compacted to {compacted_before}",
            cancel.compact_revision
        )),
        Some(_)
            if watch
                .responses
                .iter()
                .any(|response| !response.events.is_empty()) =>
        {
            Some("delivered events although it was canceled for compaction".to_string())
        }
        _ => None,
    }
}

/// Revisions must not go down, no (key, revision) may repeat, and a revision's events must all
/// come in one response.
fn order_problem(deliveries: &[(usize, &WatchEvent)]) -> Option<String> {
    for pair in deliveries.windows(2) {
        let ((first_delivery, first), (second_delivery, second)) = (pair[0], pair[1]);
        if second.revision() < first.revision() {
            return Some(format!(
                "revision {} came after revision {}",
                second.revision(),
                first.revision()
            ));
        }
        if second.revision() == first.revision() && second.kv.key == first.kv.key {
            return Some(format!(
                "key {:?} at revision {} was delivered twice",
                first.kv.key,
                first.revision()
            ));
        }
        if second.revision() == first.revision() && second_delivery != first_delivery {
            return Some(format!(
                "the events of revision {} were split across responses",
                first.revision()
            ));
        }
    }
    None
}

/// The delivered events in (revision, key) order, found by revision.
#[derive(Debug)]
struct ByRevision<'a> {
    events: Vec<&'a WatchEvent>,
}

impl<'a> ByRevision<'a> {
    fn new(deliveries: &[(usize, &'a WatchEvent)]) -> Self {
        let mut events: Vec<&WatchEvent> = deliveries.iter().map(|(_, event)| *event).collect();
        // Deliveries come in revision order already; only each revision's keys get sorted.
        events.sort_by(|first, second| {
            (first.revision(), &first.kv.key).cmp(&(second.revision(), &second.kv.key))
        });
        ByRevision { events }
    }

    /// The events of `revision`, in key order.
    fn at(&self, revision: i64) -> &[&'a WatchEvent] {
        let first = self
            .events
            .partition_point(|event| event.revision() < revision);
        let last = self
            .events
            .partition_point(|event| event.revision() <= revision);
        &self.events[first..last]
    }

    /// The revisions from `first` through `last` that have events, ascending, with repeats.
    fn revisions(&self, first: i64, last: i64) -> impl Iterator<Item = i64> + '_ {
        let from = self
            .events
            .partition_point(|event| event.revision() < first);
        self.events[from..]
            .iter()
            .map(|event| event.revision())
            .take_while(move |revision| *revision <= last)
    }
}

/// Whether `delivered` are exactly the events the watch owes for one revision
/// ([`expected_events`]), compared without building those.
fn events_match(
    watch: &WatchStream,
    changes: &[Change<'_>],
    revision: i64,
    delivered: &[&WatchEvent],
) -> bool {
    let mut delivered = delivered.iter();
    for (key, before, after) in changes {
        if !in_range(key, &watch.key, &watch.range_end) {
            continue;
        }
        let event_type = match after {
            Some(_) => EventType::Put,
            None => EventType::Delete,
        };
        if watch.filters.contains(&filter_of(event_type)) {
            continue;
        }
        let Some(event) = delivered.next() else {
            return false;
        };
        let kv_matches = match after {
            Some(kv) => event.kv == **kv,
            None => {
                event.kv.key == *key
                    && event.kv.mod_revision == revision
                    && event.kv.value.is_empty()
                    && (event.kv.create_revision, event.kv.version, event.kv.lease) == (0, 0, 0)
            }
        };
        let prev_kv = before.filter(|_| watch.prev_kv);
        if event.event_type != event_type || !kv_matches || event.prev_kv.as_ref() != prev_kv {
            return false;
        }
    }
    delivered.next().is_none()
}

/// The filter that drops events of a type.
fn filter_of(event_type: EventType) -> WatchFilter {
    match event_type {
        EventType::Put => WatchFilter::NoPut,
        EventType::Delete => WatchFilter::NoDelete,
    }
}

/// The events the watch owes for one revision, in key order, given the store's changes at that
/// revision ([`Store::changes_at`]).
pub(crate) fn expected_events(
    watch: &WatchStream,
    changes: &[Change<'_>],
    revision: i64,
) -> Vec<WatchEvent> {
    changes
        .iter()
        .filter(|(key, _, _)| in_range(key, &watch.key, &watch.range_end))
        .filter_map(|(key, before, after)| {
            let (event_type, kv) = match after {
                Some(kv) => (EventType::Put, (*kv).clone()),
                None => (
                    EventType::Delete,
                    KeyValue {
                        key: key.to_string(),
                        mod_revision: revision,
                        ..KeyValue::default()
                    },
                ),
            };
            let filtered = watch.filters.contains(&filter_of(event_type));
            let prev_kv = before.filter(|_| watch.prev_kv).cloned();
            (!filtered).then_some(WatchEvent {
                event_type,
                kv,
                prev_kv,
            })
        })
        .collect()
}

/// The watches as evidence for the revision pass: what each watch delivered per revision, over
/// the revisions it vouches for. A watch vouches for every revision from its start to its last
/// delivered event: there it reported exactly the writes in its range. Watches that break the
/// delivery rules themselves (order, duplicates, compaction) vouch for nothing; the watch check
/// reports them.
#[derive(Debug, Default)]
pub(crate) struct Evidence<'a> {
    watches: Vec<Vouching<'a>>,
    /// Per block of [`REVISIONS_PER_BLOCK`] revisions, the watches (positions, in op id order)
    /// that vouch for some revision of it: a revision looks only at the watches around it.
    blocks: Vec<Vec<usize>>,
}

const REVISIONS_PER_BLOCK: i64 = 1024;

#[derive(Debug)]
struct Vouching<'a> {
    watch: &'a WatchStream,
    first: i64,
    last: i64,
    by_revision: ByRevision<'a>,
}

impl<'a> Evidence<'a> {
    pub(crate) fn new(watches: &'a [WatchStream], operations: &[EtcdOperation]) -> Self {
        let compactions = Compactions::new(operations);
        let mut vouching = Vec::new();
        for watch in watches {
            if compaction_problem(watch, &compactions).is_some()
                || watch
                    .responses
                    .iter()
                    .any(|response| response.canceled && response.compact_revision > 0)
            {
                continue;
            }
            let deliveries: Vec<(usize, &WatchEvent)> = watch
                .responses
                .iter()
                .enumerate()
                .flat_map(|(delivery, response)| {
                    response.events.iter().map(move |event| (delivery, event))
                })
                .collect();
            if order_problem(&deliveries).is_some() {
                continue;
            }
            let (Some(first), Some((_, last))) =
                (start_revision(watch, &deliveries), deliveries.last())
            else {
                continue;
            };
            if last.revision() < first {
                continue;
            }
            vouching.push(Vouching {
                watch,
                first,
                last: last.revision(),
                by_revision: ByRevision::new(&deliveries),
            });
        }
        // Only revisions some response names are ever asked about, which bounds the blocks
        // whatever revisions the events claim.
        let revision_max = operations
            .iter()
            .filter_map(|operation| operation.output())
            .map(|response| response.header().revision)
            .max()
            .unwrap_or(1);
        let mut blocks: Vec<Vec<usize>> = Vec::new();
        for (position, vouching) in vouching.iter().enumerate() {
            if vouching.first > revision_max {
                continue;
            }
            let first = block_of(vouching.first);
            let last = block_of(vouching.last.min(revision_max));
            if blocks.len() <= last {
                blocks.resize(last + 1, Vec::new());
            }
            for block in &mut blocks[first..=last] {
                block.push(position);
            }
        }
        Evidence {
            watches: vouching,
            blocks,
        }
    }

    /// Every event delivered, with the revision it is about: the facts watches establish.
    pub(crate) fn events(&self) -> impl Iterator<Item = (u64, &'a WatchEvent)> + '_ {
        self.watches.iter().flat_map(|vouching| {
            vouching
                .by_revision
                .events
                .iter()
                .map(|event| (vouching.watch.op, *event))
        })
    }

    /// The first watch (by op id) whose deliveries at `revision` differ from what `changes`
    /// (the store's changes at that revision) make.
    pub(crate) fn contradiction(&self, changes: &[Change<'_>], revision: i64) -> Option<u64> {
        let block = self.blocks.get(block_of(revision))?;
        block
            .iter()
            .map(|&position| &self.watches[position])
            .filter(|vouching| vouching.first <= revision && revision <= vouching.last)
            .find(|vouching| {
                let delivered = vouching.by_revision.at(revision);
                !events_match(vouching.watch, changes, revision, delivered)
            })
            .map(|vouching| vouching.watch.op)
    }
}

/// The block of [`Evidence::blocks`] a revision falls in (revisions below 1 share the first).
fn block_of(revision: i64) -> usize {
    usize::try_from(revision.max(0) / REVISIONS_PER_BLOCK).unwrap_or(0)
}
