//! The plan of the revision pass: the operations grouped by the revision their response
//! names, the candidates for the gaps, and the evidence about each revision's write.

use super::Witness;
use super::candidates::FillerIndex;
use super::facts::{Count, Facts, Seen, put_values, puts_two_keys};
use crate::etcd::{EtcdOperation, is_lease_expiry};
use crate::fast_hash::{FastMap, FastSet};
use crate::history::{Request, Response};
use crate::lease::Refreshes;
use crate::model::etcd::{Change, Store};
use crate::options::ClockUncertainty;
use crate::watch;

/// Operations grouped by revision: the group of revision `r` is
/// `operations[starts[r]..starts[r + 1]]`, for revisions 0 through the highest named.
#[derive(Debug, Default)]
pub(super) struct ByRevision {
    starts: Vec<usize>,
    operations: Vec<usize>,
}

impl ByRevision {
    /// Groups (revision, operation) pairs, which must be sorted; revisions below 0 or above
    /// `revision_max` are left out.
    fn new(sorted: &[(i64, usize)], revision_max: i64) -> Self {
        let size = usize::try_from(revision_max).unwrap_or(0) + 2;
        let mut starts = vec![0; size];
        let mut operations = Vec::with_capacity(sorted.len());
        let mut revision = 0;
        for &(at, index) in sorted {
            if at < 0 || at > revision_max {
                continue;
            }
            while revision < at as usize {
                revision += 1;
                starts[revision] = operations.len();
            }
            operations.push(index);
        }
        while revision + 1 < size {
            revision += 1;
            starts[revision] = operations.len();
        }
        ByRevision { starts, operations }
    }

    pub(super) fn get(&self, revision: i64) -> &[usize] {
        let Ok(at) = usize::try_from(revision) else {
            return &[];
        };
        match (self.starts.get(at), self.starts.get(at + 1)) {
            (Some(&first), Some(&last)) => &self.operations[first..last],
            _ => &[],
        }
    }
}

/// The revisions no successful write claims (gaps), counted so that any range asks in O(1).
#[derive(Debug)]
pub(super) struct Gaps {
    /// Per revision, how many gaps there are up to it.
    pub(super) through: Vec<u32>,
}

impl Gaps {
    fn new(writers: &ByRevision, size: usize) -> Self {
        let mut through = vec![0u32; size];
        for revision in 1..size {
            let gap = revision >= 2 && writers.get(revision as i64).is_empty();
            through[revision] = through[revision - 1] + u32::from(gap);
        }
        Gaps { through }
    }

    /// Whether a revision strictly between `after` and `before` is a gap.
    pub(super) fn between(&self, after: i64, before: i64) -> bool {
        let last = clamp(before - 1, self.through.len() - 1);
        let first = clamp(after, self.through.len() - 1);
        last > first && self.through[last] > self.through[first]
    }

    /// Whether a revision from `first` through `last` is a gap.
    pub(super) fn any_in(&self, first: i64, last: i64) -> bool {
        self.between(first - 1, last.saturating_add(1))
    }

    /// How many gaps there are up to `revision`. Every revision above the highest that
    /// responses name is a gap (none claims it): watches deliver events of writes no response
    /// saw, and the version counts they give need those revisions counted too.
    pub(super) fn up_to(&self, revision: i64) -> i64 {
        let counted = self.through.len() - 1;
        let beyond = revision.saturating_sub(counted as i64).max(0);
        i64::from(self.through[clamp(revision, counted)]).saturating_add(beyond)
    }
}

/// Per revision, how many gaps up to it are seen to put a key; per key, the gaps seen to put it.
type PutsSeen<'a> = (Vec<u32>, FastMap<&'a str, Vec<i64>>);

/// The operations grouped by the revision their response names, and the evidence responses
/// (and, with constraints, watches) give about each revision's write.
pub(super) struct Plan<'a> {
    /// Per revision: completed operations that certainly wrote it.
    pub(super) writers: ByRevision,
    /// Per revision: the other completed operations that name it (reads, and revokes, which
    /// write only if the lease holds keys). Compactions come last, so reads in the same slot
    /// are not refused by them, and in the order of their targets.
    pub(super) others: ByRevision,
    /// A response no placement can explain: a revision below 1, or a write claiming revision
    /// 1, which belongs to the empty store.
    pub(super) impossible: Option<usize>,
    /// Operations with unknown outcomes that might write, by invoke time: the candidates for
    /// gaps.
    pub(super) fillers: Vec<usize>,
    /// Per filler: its class; fillers of one class are interchangeable.
    pub(super) classes: Vec<u32>,
    /// Where each filler may write.
    pub(super) index: FillerIndex<'a>,
    pub(super) revision_max: i64,
    /// Per revision `r`, the earliest return of a response naming `r` or later: a write of
    /// `r` must have been invoked by then.
    observed_by_ns: Vec<u64>,
    pub(super) gaps: Gaps,
    /// When no request puts two keys at once: per revision, how many gaps up to it are seen to
    /// put some key, and per key, the gaps seen to put it.
    put_elsewhere: Option<PutsSeen<'a>>,
    /// Per revision `r`: some operation placed at `r` or later reads a revision below `r`, so
    /// the store's past matters and dead ends there are not remembered.
    pub(super) past_read: Vec<bool>,
    pub(super) facts: Facts<'a>,
    watches: &'a watch::Evidence<'a>,
    lease_clock: Option<ClockUncertainty>,
    refreshes: Refreshes,
}

impl<'a> Plan<'a> {
    pub(super) fn new(
        operations: &'a [EtcdOperation],
        watches: &'a watch::Evidence<'a>,
        lease_clock: Option<ClockUncertainty>,
    ) -> Self {
        let (writers, others, fillers, revision_max) = group(operations);
        let impossible = impossible_revision(&writers, &others);
        let writers = ByRevision::new(&writers, revision_max);
        let others = ByRevision::new(&others, revision_max);
        let size = usize::try_from(revision_max).unwrap_or(0) + 2;
        let mut observed_by_ns = vec![u64::MAX; size];
        let mut earliest = u64::MAX;
        for revision in (1..=revision_max).rev() {
            let named = writers.get(revision).iter().chain(others.get(revision));
            earliest = named
                .map(|&index| operations[index].return_ns())
                .fold(earliest, u64::min);
            observed_by_ns[revision as usize] = earliest;
        }
        let gaps = Gaps::new(&writers, size);
        let filler_puts: FastSet<(&str, &str)> = fillers
            .iter()
            .flat_map(|&filler| put_values(&operations[filler].input))
            .collect();
        let facts = Facts::new(operations, watches, revision_max, &gaps, &filler_puts);
        let single_put = operations
            .iter()
            .all(|operation| !puts_two_keys(&operation.input));
        let put_elsewhere = single_put.then(|| puts_seen(&writers, &facts, size));
        let classes = classify(operations, &fillers, &facts);
        let index = FillerIndex::new(operations, &fillers);
        Plan {
            writers,
            others,
            impossible,
            fillers,
            classes,
            index,
            revision_max,
            observed_by_ns,
            gaps,
            put_elsewhere,
            past_read: past_read(operations, size),
            facts,
            watches,
            lease_clock,
            refreshes: Refreshes::new(operations),
        }
    }

    pub(super) fn observed_by_ns(&self, revision: i64) -> u64 {
        self.observed_by_ns
            .get(revision as usize)
            .copied()
            .unwrap_or(u64::MAX)
    }

    /// Whether some key, between two sightings, has been put more often than it can be, or
    /// can no longer be put as often as it was with the known writes and gaps left. When no
    /// request puts two keys, the gaps are shared: gaps seen to put a key serve only it, and
    /// the others must cover every key's remaining puts by its deadline (earliest first).
    ///
    /// With `changed`, only the keys it names are looked at: a revision with a known writer
    /// changes no other key's count, and the next gap looks at them all again.
    fn miscounted(
        &self,
        store: &Store,
        revision: i64,
        counts: &dyn Fn(i64) -> bool,
        changed: Option<&[Change]>,
    ) -> Option<Witness> {
        let size = self.gaps.through.len() - 1;
        let first = clamp(revision, size);
        let gaps_up_to_revision = self.gaps.up_to(revision);
        let gaps = |through: i64| self.gaps.up_to(through) - gaps_up_to_revision;
        let counted: Vec<(&&str, &Vec<Count>)> = match changed {
            Some(changes) => changes
                .iter()
                .filter_map(|(key, _, _)| self.facts.counted.get_key_value(key))
                .collect(),
            None => self.facts.counted.iter().collect(),
        };
        // (deadline, puts that must come from gaps not seen to put anything, witness)
        let mut owed: Vec<(i64, i64, Witness)> = Vec::new();
        for (key, ranges) in counted {
            let after = ranges.partition_point(|count| count.after < revision);
            let Some(count) = ranges[..after].last() else {
                continue;
            };
            if revision > count.through || !counts(count.witness_revision) {
                continue;
            }
            let Some(now) = store
                .get_at(key, revision)
                .filter(|kv| kv.create_revision == count.created)
            else {
                return Some(count.witness);
            };
            let between = |puts: &Vec<i64>| {
                (puts.partition_point(|at| *at <= count.through)
                    - puts.partition_point(|at| *at <= revision)) as i64
            };
            let known = self.facts.known_puts.get(key).map_or(0, between);
            let needed = count.to_version - now.version - known;
            if needed < 0 || now.version < count.from_version {
                return Some(count.witness);
            }
            match &self.put_elsewhere {
                Some((_, by_key)) => {
                    let reserved = by_key.get(key).map_or(0, between);
                    if needed < reserved {
                        return Some(count.witness);
                    }
                    owed.push((count.through, needed - reserved, count.witness));
                }
                None if needed > gaps(count.through) => return Some(count.witness),
                None => {}
            }
        }
        let (through_seen, _) = self.put_elsewhere.as_ref()?;
        owed.sort_by_key(|(deadline, _, _)| *deadline);
        let mut total = 0;
        for (deadline, needed, witness) in owed {
            total += needed;
            let last = clamp(deadline, size);
            let free = gaps(deadline) - i64::from(through_seen[last] - through_seen[first]);
            if total > free {
                return Some(witness);
            }
        }
        None
    }

    /// Per key that still owes puts to gaps, the deadline by which it must have them.
    pub(super) fn deadlines(&self, store: &Store, revision: i64) -> FastMap<&str, i64> {
        let mut deadlines = FastMap::default();
        for (key, ranges) in &self.facts.counted {
            let after = ranges.partition_point(|count| count.after < revision);
            let Some(count) = ranges[..after]
                .last()
                .filter(|count| revision <= count.through)
            else {
                continue;
            };
            let Some(now) = store.get_at(key, revision - 1) else {
                continue;
            };
            let known = self.facts.known_puts.get(key).map_or(0, |puts| {
                (puts.partition_point(|at| *at <= count.through)
                    - puts.partition_point(|at| *at < revision)) as i64
            });
            if count.to_version - now.version - known > 0 {
                deadlines.insert(*key, count.through);
            }
        }
        deadlines
    }

    /// Whether the write of `revision` (the store is at it, `changes` are its changes) goes
    /// against the evidence. At a gap (`writer` is a filler) every fact counts; for a known
    /// writer only facts whose witness comes after a gap, since the walk checks the others
    /// itself, with a better account of the failure.
    pub(super) fn contradiction(
        &self,
        operations: &[EtcdOperation],
        store: &Store,
        changes: &[Change],
        gap_filler: Option<usize>,
    ) -> Option<Witness> {
        let revision = store.revision;
        let at_gap = gap_filler.is_some();
        let counts =
            |witness_revision: i64| at_gap || self.gaps.between(revision, witness_revision);
        for fact in self.facts.at(revision) {
            if !counts(fact.witness_revision) {
                continue;
            }
            let change = changes.iter().find(|(key, _, _)| *key == fact.key);
            if !fact
                .seen
                .matches(change.map(|(_, _, after)| *after), revision)
            {
                return Some(fact.witness);
            }
        }
        for (key, _, after) in changes {
            if let Some((witness, witness_revision)) = self.facts.unchanged(key, revision)
                && counts(witness_revision)
            {
                return Some(witness);
            }
            if after.is_none()
                && let Some((witness, witness_revision)) = self.facts.undeleted(key, revision)
                && counts(witness_revision)
            {
                return Some(witness);
            }
            if at_gap
                && let Some(kv) = after
                && let Some(&(pinned, witness)) = self.facts.pinned.get(&(*key, kv.value.as_str()))
                && pinned != revision
            {
                return Some(witness);
            }
        }
        let changed = (!at_gap).then_some(changes);
        if let Some(witness) = self.miscounted(store, revision, &counts, changed) {
            return Some(witness);
        }
        if let Some(watch) = self.watches.contradiction(changes, revision) {
            return Some(Witness::Watch(watch));
        }
        if let (Some(clock), Some(filler)) = (self.lease_clock, gap_filler)
            && is_lease_expiry(&operations[filler])
            && let Request::LeaseRevoke { id } = operations[filler].input
            && let Some((refresh, _)) =
                self.refreshes
                    .too_early(id, self.observed_by_ns(revision), clock)
        {
            return Some(Witness::Operation(refresh));
        }
        None
    }
}

/// The completed operations as sorted (revision, operation) pairs: those that certainly wrote,
/// and the others (compactions last in a revision); the fillers by invoke time; and the
/// highest revision named.
type Grouped = (Vec<(i64, usize)>, Vec<(i64, usize)>, Vec<usize>, i64);

fn group(operations: &[EtcdOperation]) -> Grouped {
    let mut writers = Vec::new();
    let mut others = Vec::new();
    let mut fillers = Vec::new();
    let mut revision_max = 1;
    for (index, operation) in operations.iter().enumerate() {
        let Some(response) = operation.output() else {
            if may_write(&operation.input) {
                fillers.push(index);
            }
            continue;
        };
        let revision = response.header().revision;
        revision_max = revision_max.max(revision);
        if certainly_writes(response) {
            writers.push((revision, index));
        } else {
            others.push((revision, index));
        }
    }
    writers.sort_unstable();
    // Successful compactions of one slot can only have happened in the order of their targets
    // (each must pass the compaction point the one before left), so that is the order they are
    // placed in, whatever order they were invoked in.
    let compaction = |index: usize| match operations[index].input {
        Request::Compact { revision } => Some(revision),
        _ => None,
    };
    others.sort_unstable_by_key(|&(revision, index)| (revision, compaction(index), index));
    fillers.sort_by_key(|&index| (operations[index].invoke_ns, index));
    (writers, others, fillers, revision_max)
}

/// The first response no placement can explain: one naming a revision below 1 (the lowest
/// first), else a write claiming revision 1 or below.
fn impossible_revision(writers: &[(i64, usize)], others: &[(i64, usize)]) -> Option<usize> {
    let too_low = others
        .first()
        .filter(|(revision, _)| *revision < 1)
        .map(|(_, index)| *index);
    let writer = writers
        .first()
        .filter(|(revision, _)| *revision <= 1)
        .map(|(_, index)| *index);
    too_low.or(writer)
}

/// Per revision, whether some operation placed at it or later reads a revision below it.
fn past_read(operations: &[EtcdOperation], size: usize) -> Vec<bool> {
    let mut marks = vec![0i32; size + 1];
    for operation in operations {
        let Some(response) = operation.output() else {
            continue;
        };
        let placed_at = response.header().revision;
        for read in past_reads(&operation.input) {
            if read < placed_at {
                marks[clamp(read + 1, size)] += 1;
                marks[clamp(placed_at + 1, size)] -= 1;
            }
        }
    }
    let mut open = 0;
    marks
        .iter()
        .map(|mark| {
            open += mark;
            open > 0
        })
        .collect()
}

/// Per revision, how many gaps up to it are seen to put some key, and per key, the gaps seen
/// to put it.
fn puts_seen<'a>(writers: &ByRevision, facts: &Facts<'a>, size: usize) -> PutsSeen<'a> {
    let mut through = vec![0u32; size];
    let mut by_key: FastMap<&'a str, Vec<i64>> = FastMap::default();
    for revision in 1..size {
        let at = revision as i64;
        let put = (revision >= 2 && writers.get(at).is_empty())
            .then(|| {
                facts
                    .at(at)
                    .iter()
                    .find(|fact| !matches!(fact.seen, Seen::Deleted))
            })
            .flatten();
        through[revision] = through[revision - 1] + u32::from(put.is_some());
        if let Some(fact) = put {
            by_key.entry(fact.key).or_default().push(at);
        }
    }
    (through, by_key)
}

pub(super) fn clamp(revision: i64, size: usize) -> usize {
    usize::try_from(revision.max(0)).unwrap_or(0).min(size)
}

/// Revisions a request reads in the past (ranges with an explicit revision).
fn past_reads(request: &Request) -> Vec<i64> {
    match request {
        Request::Range { revision, .. } if *revision > 0 => vec![*revision],
        Request::Txn {
            success, failure, ..
        } => success.iter().chain(failure).flat_map(past_reads).collect(),
        _ => Vec::new(),
    }
}

/// Whether a request might raise the revision.
pub(super) fn may_write(request: &Request) -> bool {
    match request {
        Request::Put { .. } | Request::DeleteRange { .. } | Request::LeaseRevoke { .. } => true,
        Request::Txn {
            success, failure, ..
        } => success.iter().chain(failure).any(may_write),
        _ => false,
    }
}

/// Whether a successful response shows that the request wrote.
pub(super) fn certainly_writes(response: &Response) -> bool {
    match response {
        Response::Put { .. } => true,
        Response::DeleteRange { deleted, .. } => *deleted > 0,
        Response::Txn { responses, .. } => responses.iter().any(certainly_writes),
        _ => false,
    }
}

/// Classes of interchangeable fillers: the same request once values that nothing observes
/// (written by this request alone, never seen or compared) are blanked, and response options
/// (which an unknown outcome never shows) dropped. Expiries are their own class.
fn classify(operations: &[EtcdOperation], fillers: &[usize], facts: &Facts<'_>) -> Vec<u32> {
    let anonymous = |key: &str, value: &str| {
        facts.writes.get(&(key, value)) == Some(&1) && !facts.mentioned.contains(&(key, value))
    };
    fn blank(request: &Request, anonymous: &dyn Fn(&str, &str) -> bool) -> Request {
        match request {
            Request::Put {
                key, value, lease, ..
            } => Request::Put {
                key: key.clone(),
                // Marked so that no real value equals a blanked one.
                value: if anonymous(key, value) {
                    "\u{0}".to_string()
                } else {
                    format!("\u{1}{value}")
                },
                lease: *lease,
                prev_kv: false,
            },
            Request::DeleteRange { key, range_end, .. } => Request::DeleteRange {
                key: key.clone(),
                range_end: range_end.clone(),
                prev_kv: false,
            },
            Request::Txn {
                compares,
                success,
                failure,
            } => Request::Txn {
                compares: compares.clone(),
                success: success
                    .iter()
                    .map(|nested| blank(nested, anonymous))
                    .collect(),
                failure: failure
                    .iter()
                    .map(|nested| blank(nested, anonymous))
                    .collect(),
            },
            Request::Range {
                key,
                range_end,
                revision,
                limit,
                ..
            } => Request::Range {
                key: key.clone(),
                range_end: range_end.clone(),
                revision: *revision,
                limit: *limit,
                keys_only: false,
                count_only: false,
                serializable: false,
            },
            other => other.clone(),
        }
    }
    let mut ids: FastMap<String, u32> = FastMap::default();
    fillers
        .iter()
        .map(|&index| {
            let operation = &operations[index];
            let signature = format!(
                "{}{}",
                u8::from(is_lease_expiry(operation)),
                serde_json::to_string(&blank(&operation.input, &anonymous))
                    .expect("requests serialize")
            );
            let next = ids.len() as u32;
            *ids.entry(signature).or_insert(next)
        })
        .collect()
}
