//! The revision-guided pass for etcd histories.
//!
//! A successful response names the store revision after the request, so revisions give most of
//! the order directly: the writer of revision `r` comes after the writer of `r - 1`, and every
//! non-writing operation whose header says `r` sits between the writers of `r` and `r + 1`. The
//! pass walks revisions upward, applying each writer to the model and checking every response
//! against it, and checks real time with one greedy sweep: each operation is given the earliest
//! linearization point the order allows, which must not come after its return.
//!
//! Only a revision that no successful response claims is left open (a gap): some request with
//! an unknown outcome (or a lease expiry) must have written it. There the pass searches, trying
//! each such request in turn and backtracking if a later revision contradicts the choice. The
//! search is exhaustive over those choices, so the verdict is exact for the model. It stays fast
//! with hundreds of gaps and unknown outcomes because:
//!
//! - Only requests that might write are candidates (unknown-outcome reads, grants, keep-alives
//!   and compactions constrain nothing), and a gap at `r` only takes requests invoked by the
//!   first return of a response naming `r` or later. That bound is also why a candidate never
//!   pushes the real-time floor past a later response: which candidates were chosen does not
//!   matter for real time, only for the store.
//! - Responses are evidence about the writes of earlier revisions: a key read with
//!   `mod_revision` `m` at revision `R` says what the writer of `m` wrote to it and that nothing
//!   wrote it in `(m, R]` (likewise `prev_kv`s). A candidate that contradicts such a fact is
//!   refused at once instead of many revisions later; a value only one request writes, seen at
//!   `mod_revision` `m`, is written at `m` or not at all. Every such fact is a consequence of a
//!   response the walk checks anyway, so refusing early never changes the verdict.
//! - Candidates that differ only in values nothing ever observes (written once, never read,
//!   never compared) are interchangeable: the earliest invoked is tried, and the others only
//!   once it is used (a later gap accepts everything an earlier one does).
//! - A dead end is remembered by (revision, candidates used, the store's live state) where no
//!   later request reads a past revision, and never explored twice.
//! - The walk is iterative and undoes its choices in place; only the store is copied per
//!   candidate, and that copy shares every key's versions.
//!
//! [`Constraints`] add evidence that is not about linearizability: watch events (which write
//! took a revision, and that a watched range was left alone) and the lease rule that a key does
//! not vanish before its lease could have expired. [`crate::check_etcd`] first looks for an
//! order that satisfies them too, and only falls back to the plain search (whose order the
//! watch and lease checks then find fault with) when there is none.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::budget::Meter;
use crate::etcd::{EtcdOperation, WatchStream, is_lease_expiry};
use crate::history::{KeyValue, Request, Response};
use crate::lease::Refreshes;
use crate::model::etcd::{LiveFingerprint, Store, responses_match, with_granted_id};
use crate::options::ClockUncertainty;
use crate::watch::{self, Change};

/// What the pass concluded. On success it hands back the linearized store (every version of
/// every key) and which operation wrote each revision, for the watch and lease checks.
#[derive(Clone, Debug)]
pub enum RevisionOutcome {
    Linearizable {
        store: Store,
        writers: BTreeMap<i64, usize>,
    },
    NotLinearizable(Failure),
    Unknown,
}

/// Why the furthest attempt failed, at which revision. Operation indices are into the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub revision: i64,
    pub kind: FailureKind,
    /// The store as far as the walk got (it keeps every revision's versions).
    pub store: Store,
    /// The revision of the store the failing operation was tried against.
    pub state_revision: i64,
    /// The operation that wrote each revision up to the failure.
    pub writers: BTreeMap<i64, usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// Two successful writes returned the same revision.
    TwoWriters { first: usize, second: usize },
    /// The response is not what the store at that point answers.
    WrongResponse {
        operation: usize,
        expected: Option<Response>,
    },
    /// The order forces the operation after `floor_ns` (set by `forced_by`), but it returned
    /// before then.
    TooLate {
        operation: usize,
        floor_ns: u64,
        forced_by: usize,
    },
    /// Responses show the revision exists, yet no request could have written it.
    NoWriter,
    /// What was written at the revision (by `writer`, or, with `None`, by any request that
    /// could have written it) is not what `witness` saw written there.
    Contradicted {
        writer: Option<usize>,
        witness: Witness,
    },
}

/// Who saw what a revision wrote: a response (by operation index) or a watch (by its op id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Witness {
    Operation(usize),
    Watch(u64),
}

impl FailureKind {
    /// The operation the failure is about, if there is one.
    pub fn operation(&self) -> Option<usize> {
        match self {
            FailureKind::TwoWriters { second, .. } => Some(*second),
            FailureKind::WrongResponse { operation, .. }
            | FailureKind::TooLate { operation, .. } => Some(*operation),
            FailureKind::NoWriter => None,
            FailureKind::Contradicted { writer, witness } => match (writer, witness) {
                (_, Witness::Operation(operation)) => Some(*operation),
                (Some(writer), Witness::Watch(_)) => Some(*writer),
                (None, Witness::Watch(_)) => None,
            },
        }
    }
}

/// Evidence beyond linearizability that the order must also respect. The default has none.
#[derive(Clone, Copy, Debug, Default)]
pub struct Constraints<'a> {
    /// Watches whose events must match the writes of the revisions they vouch for (see
    /// [`crate::watch`]).
    pub watches: &'a [WatchStream],
    /// When set, a lease expiry may fill a gap only if the lease could have expired by the
    /// time the gap's revision was first seen, with this clock uncertainty (see
    /// [`crate::lease`]).
    pub lease_clock: Option<ClockUncertainty>,
}

/// The pass without constraints: is the history linearizable?
pub fn check(operations: &[EtcdOperation], meter: &mut Meter) -> RevisionOutcome {
    check_with(operations, meter, Constraints::default())
}

/// The pass, looking only for orders that also satisfy `constraints`.
pub fn check_with(
    operations: &[EtcdOperation],
    meter: &mut Meter,
    constraints: Constraints<'_>,
) -> RevisionOutcome {
    let watches = watch::Evidence::new(constraints.watches, operations);
    let plan = Plan::new(operations, &watches, constraints.lease_clock);
    let mut pass = Pass {
        operations,
        plan: &plan,
        meter,
        deepest: None,
        out_of_budget: false,
        used: vec![false; plan.fillers.len()],
        used_bits: vec![0; plan.fillers.len().div_ceil(64)],
        writers: vec![None; usize::try_from(plan.revision_max).unwrap_or(0) + 2],
        memo: HashSet::new(),
    };
    let cursor = Cursor {
        store: Store::default(),
        floor_ns: 0,
        floor_owner: None,
    };
    let outcome = match plan.impossible_revision(operations) {
        Some(operation) => pass.fail(
            &cursor,
            1,
            FailureKind::WrongResponse {
                operation,
                expected: None,
            },
        ),
        None => pass.run(cursor),
    };
    match outcome {
        Some(cursor) => RevisionOutcome::Linearizable {
            writers: pass.writers_through(cursor.store.revision),
            store: cursor.store,
        },
        None if pass.out_of_budget => RevisionOutcome::Unknown,
        None => RevisionOutcome::NotLinearizable(pass.deepest.expect("a failed pass records why")),
    }
}

/// The operations grouped by the revision their response names, and the evidence responses
/// (and, with constraints, watches) give about each revision's write.
struct Plan<'a> {
    /// Per revision: completed operations that certainly wrote it.
    writers: BTreeMap<i64, Vec<usize>>,
    /// Per revision: the other completed operations that name it (reads, and revokes, which
    /// write only if the lease holds keys). Compactions come last, so reads in the same slot
    /// are not refused by them.
    others: BTreeMap<i64, Vec<usize>>,
    /// Operations with unknown outcomes that might write, by invoke time: the candidates for
    /// gaps.
    fillers: Vec<usize>,
    /// Per filler: its class; fillers of one class are interchangeable.
    classes: Vec<u32>,
    revision_max: i64,
    /// Per revision `r`, the earliest return of a response naming `r` or later: a write of
    /// `r` must have been invoked by then.
    observed_by_ns: Vec<u64>,
    /// Per revision, how many revisions up to it no successful write claims.
    gaps_through: Vec<u32>,
    /// When no request puts two keys at once: per revision, how many gaps up to it are seen to
    /// put some key, and per key, the gaps seen to put it.
    put_elsewhere: Option<PutsSeen>,
    /// Per revision `r`: some operation placed at `r` or later reads a revision below `r`, so
    /// the store's past matters and dead ends there are not remembered.
    past_read: Vec<bool>,
    facts: Facts,
    watches: &'a watch::Evidence<'a>,
    lease_clock: Option<ClockUncertainty>,
    refreshes: Refreshes,
}

impl<'a> Plan<'a> {
    fn new(
        operations: &[EtcdOperation],
        watches: &'a watch::Evidence<'a>,
        lease_clock: Option<ClockUncertainty>,
    ) -> Self {
        let mut writers: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        let mut others: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
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
            let group = if certainly_writes(response) {
                &mut writers
            } else {
                &mut others
            };
            group.entry(revision).or_default().push(index);
        }
        for slot in others.values_mut() {
            slot.sort_by_key(|&index| matches!(operations[index].input, Request::Compact { .. }));
        }
        fillers.sort_by_key(|&index| (operations[index].invoke_ns, index));
        let size = usize::try_from(revision_max).unwrap_or(0) + 2;

        let mut observed_by_ns = vec![u64::MAX; size];
        let mut earliest = u64::MAX;
        for revision in (1..=revision_max).rev() {
            let named = writers
                .get(&revision)
                .into_iter()
                .chain(others.get(&revision))
                .flatten();
            earliest = named
                .map(|&index| operations[index].return_ns())
                .fold(earliest, u64::min);
            observed_by_ns[revision as usize] = earliest;
        }

        let mut gaps_through = vec![0u32; size];
        for revision in 1..size {
            let gap = revision >= 2 && !writers.contains_key(&(revision as i64));
            gaps_through[revision] = gaps_through[revision - 1] + u32::from(gap);
        }

        let mut past_read = vec![false; size + 1];
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
        for revision in 0..size {
            open += marks[revision];
            past_read[revision] = open > 0;
        }

        let facts = Facts::new(operations, watches, revision_max);
        let single_put = operations
            .iter()
            .all(|operation| !puts_two_keys(&operation.input));
        let put_elsewhere = single_put.then(|| {
            let mut through = vec![0u32; size];
            let mut by_key: HashMap<String, Vec<i64>> = HashMap::new();
            for revision in 1..size {
                let at = revision as i64;
                let put = (revision >= 2 && !writers.contains_key(&at))
                    .then(|| {
                        facts
                            .at(at)
                            .iter()
                            .find(|fact| !matches!(fact.seen, Seen::Deleted))
                    })
                    .flatten();
                through[revision] = through[revision - 1] + u32::from(put.is_some());
                if let Some(fact) = put {
                    by_key.entry(fact.key.clone()).or_default().push(at);
                }
            }
            (through, by_key)
        });
        let classes = classify(operations, &fillers, &facts.mentioned);
        Plan {
            writers,
            others,
            fillers,
            classes,
            revision_max,
            observed_by_ns,
            gaps_through,
            put_elsewhere,
            past_read,
            facts,
            watches,
            lease_clock,
            refreshes: Refreshes::new(operations),
        }
    }

    fn observed_by_ns(&self, revision: i64) -> u64 {
        self.observed_by_ns
            .get(revision as usize)
            .copied()
            .unwrap_or(u64::MAX)
    }

    /// Whether a revision strictly between `after` and `before` is a gap.
    fn gap_between(&self, after: i64, before: i64) -> bool {
        let last = clamp(before - 1, self.gaps_through.len() - 1);
        let first = clamp(after, self.gaps_through.len() - 1);
        last > first && self.gaps_through[last] > self.gaps_through[first]
    }

    /// Whether some key, between two sightings, has been put more often than it can be, or
    /// can no longer be put as often as it was with the known writes and gaps left. When no
    /// request puts two keys, the gaps are shared: gaps seen to put a key serve only it, and
    /// the others must cover every key's remaining puts by its deadline (earliest first).
    fn miscounted(
        &self,
        store: &Store,
        revision: i64,
        counts: &dyn Fn(i64) -> bool,
    ) -> Option<Witness> {
        let size = self.gaps_through.len() - 1;
        let first = clamp(revision, size);
        let gaps =
            |through: i64| self.gaps_through[clamp(through, size)] - self.gaps_through[first];
        // (deadline, puts that must come from gaps not seen to put anything, witness)
        let mut owed: Vec<(i64, i64, Witness)> = Vec::new();
        for (key, ranges) in &self.facts.counted {
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
                None if needed > i64::from(gaps(count.through)) => return Some(count.witness),
                None => {}
            }
        }
        let (through_seen, _) = self.put_elsewhere.as_ref()?;
        owed.sort_by_key(|(deadline, _, _)| *deadline);
        let mut total = 0;
        for (deadline, needed, witness) in owed {
            total += needed;
            let last = clamp(deadline, size);
            let free =
                i64::from(gaps(deadline)) - i64::from(through_seen[last] - through_seen[first]);
            if total > free {
                return Some(witness);
            }
        }
        None
    }

    /// Per key that still owes puts to gaps, the deadline by which it must have them.
    fn deadlines(&self, store: &Store, revision: i64) -> HashMap<&str, i64> {
        let mut deadlines = HashMap::new();
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
                deadlines.insert(key.as_str(), count.through);
            }
        }
        deadlines
    }

    /// A response no placement can explain: a revision below 1, or a write claiming revision 1,
    /// which belongs to the empty store.
    fn impossible_revision(&self, operations: &[EtcdOperation]) -> Option<usize> {
        let too_low = |index: &usize| {
            operations[*index]
                .output()
                .is_some_and(|response| response.header().revision < 1)
        };
        let others = self.others.values().flatten().find(|index| too_low(index));
        let writers = self
            .writers
            .range(..=1)
            .flat_map(|(_, writers)| writers)
            .next();
        others.or(writers).copied()
    }

    /// Whether the write of `revision` (the store is at it, `changes` are its changes) goes
    /// against the evidence. At a gap (`writer` is a filler) every fact counts; for a known
    /// writer only facts whose witness comes after a gap, since the walk checks the others
    /// itself, with a better account of the failure.
    fn contradiction(
        &self,
        operations: &[EtcdOperation],
        store: &Store,
        changes: &[Change],
        gap_filler: Option<usize>,
    ) -> Option<Witness> {
        let revision = store.revision;
        let at_gap = gap_filler.is_some();
        let counts = |witness_revision: i64| at_gap || self.gap_between(revision, witness_revision);
        for fact in self.facts.at(revision) {
            if !counts(fact.witness_revision) {
                continue;
            }
            let change = changes.iter().find(|(key, _, _)| *key == fact.key);
            if !fact
                .seen
                .matches(change.map(|(_, _, after)| after), revision)
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
                && let Some(&(pinned, witness)) =
                    self.facts.pinned.get(&(key.clone(), kv.value.clone()))
                && pinned != revision
            {
                return Some(witness);
            }
        }
        if let Some(witness) = self.miscounted(store, revision, &counts) {
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

fn clamp(revision: i64, size: usize) -> usize {
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
fn may_write(request: &Request) -> bool {
    match request {
        Request::Put { .. } | Request::DeleteRange { .. } | Request::LeaseRevoke { .. } => true,
        Request::Txn {
            success, failure, ..
        } => success.iter().chain(failure).any(may_write),
        _ => false,
    }
}

/// Whether a successful response shows that the request wrote.
fn certainly_writes(response: &Response) -> bool {
    match response {
        Response::Put { .. } => true,
        Response::DeleteRange { deleted, .. } => *deleted > 0,
        Response::Txn { responses, .. } => responses.iter().any(certainly_writes),
        _ => false,
    }
}

/// Everything but the value.
fn same_version(written: &KeyValue, seen: &KeyValue) -> bool {
    written.key == seen.key
        && written.create_revision == seen.create_revision
        && written.mod_revision == seen.mod_revision
        && written.version == seen.version
        && written.lease == seen.lease
}

/// Per revision, how many gaps up to it are seen to put a key; per key, the gaps seen to put it.
type PutsSeen = (Vec<u32>, HashMap<String, Vec<i64>>);

/// A version seen: (mod revision, version, witness, where the witness is placed).
type Sighted = (i64, i64, Witness, i64);

/// What the write of one revision did to one key, as someone saw it.
#[derive(Debug)]
struct Fact {
    key: String,
    seen: Seen,
    witness: Witness,
    /// The revision at which the witness is placed (`i64::MAX` for a watch).
    witness_revision: i64,
}

/// Two sightings of one incarnation of a key: it had `from_version` at `after` and
/// `to_version` at `through`, so exactly the difference in puts happened in between.
#[derive(Debug)]
struct Count {
    after: i64,
    through: i64,
    from_version: i64,
    to_version: i64,
    created: i64,
    witness: Witness,
    witness_revision: i64,
}

/// Whether a request puts two different keys in one branch.
fn puts_two_keys(request: &Request) -> bool {
    let Request::Txn {
        success, failure, ..
    } = request
    else {
        return false;
    };
    [success, failure].into_iter().any(|branch| {
        let mut keys: Vec<String> = branch
            .iter()
            .flat_map(put_values)
            .map(|(key, _)| key)
            .collect();
        keys.sort();
        keys.dedup();
        keys.len() > 1
    })
}

/// Keys a request puts more than once in one branch.
fn keys_put_twice(request: &Request) -> Vec<String> {
    let Request::Txn {
        success, failure, ..
    } = request
    else {
        return Vec::new();
    };
    let mut twice = Vec::new();
    for branch in [success, failure] {
        let mut keys: Vec<String> = branch
            .iter()
            .flat_map(put_values)
            .map(|(key, _)| key)
            .collect();
        keys.sort();
        twice.extend(
            keys.windows(2)
                .filter(|pair| pair[0] == pair[1])
                .map(|pair| pair[0].clone()),
        );
        twice.extend(branch.iter().flat_map(keys_put_twice));
    }
    twice
}

/// How much of a write was seen.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Seen {
    /// The key as written; the value only when `value_known` (keys-only reads clear it).
    Put {
        kv: KeyValue,
        value_known: bool,
    },
    /// The key was put (a compare found this `mod_revision`).
    Written,
    /// The key was created (something saw this `create_revision`).
    Created,
    Deleted,
}

impl Seen {
    fn matches(&self, after: Option<&Option<KeyValue>>, revision: i64) -> bool {
        match (self, after) {
            (Seen::Put { kv, value_known }, Some(Some(written))) => {
                same_version(written, kv) && (!value_known || written.value == kv.value)
            }
            (Seen::Written, Some(Some(_))) => true,
            (Seen::Created, Some(Some(written))) => {
                written.create_revision == revision && written.version == 1
            }
            (Seen::Deleted, Some(None)) => true,
            _ => false,
        }
    }
}

/// The evidence, revision by revision.
#[derive(Debug, Default)]
struct Facts {
    by_revision: HashMap<i64, Vec<Fact>>,
    /// Per key, disjoint inclusive ranges of revisions in which nothing wrote it, with the
    /// witness that says so (the one placed latest, for the gap test) and where it is placed.
    unchanged: HashMap<String, Vec<(i64, i64, Witness, i64)>>,
    /// Per key, by revision: how many times it must be put between two sightings.
    counted: HashMap<String, Vec<Count>>,
    /// Per key, the revisions at which successful requests put it (once per put).
    known_puts: HashMap<String, Vec<i64>>,
    /// Per key, likewise, revisions in which nothing deleted it.
    undeleted: HashMap<String, Vec<(i64, i64, Witness, i64)>>,
    /// (key, value) pairs that only one request writes, seen written at a revision: the only
    /// revision that request can have written them at.
    pinned: HashMap<(String, String), (i64, Witness)>,
    /// (key, value) pairs that appear anywhere but as a put's value: seen in a response or a
    /// watch event, or compared against.
    mentioned: HashSet<(String, String)>,
}

/// A key seen, and the revision through which it was seen unchanged since its `mod_revision`.
struct Sighting<'a> {
    kv: &'a KeyValue,
    value_known: bool,
    through: i64,
}

impl Facts {
    fn new(operations: &[EtcdOperation], watches: &watch::Evidence<'_>, revision_max: i64) -> Self {
        let mut facts = Facts::default();
        let mut known: HashSet<(i64, String, Seen)> = HashSet::new();
        let mut intervals: HashMap<String, Vec<(i64, i64, Witness, i64)>> = HashMap::new();
        let mut writes: HashMap<(String, String), usize> = HashMap::new();
        let mut add = |facts: &mut Facts,
                       key: &str,
                       revision: i64,
                       seen: Seen,
                       witness: Witness,
                       witness_revision: i64| {
            if revision < 2 || revision > revision_max {
                return;
            }
            if known.insert((revision, key.to_string(), seen.clone())) {
                facts.by_revision.entry(revision).or_default().push(Fact {
                    key: key.to_string(),
                    seen,
                    witness,
                    witness_revision,
                });
            }
        };
        let mut pins: Vec<(String, String, i64, Witness)> = Vec::new();
        // Where completed writes put each value, and what succeeded compares found.
        let mut written_at: HashMap<(String, String), i64> = HashMap::new();
        let mut compared: Vec<(String, String, i64, Witness)> = Vec::new();
        // Per incarnation of a key (key, create revision): the versions seen, where.
        let mut lives: HashMap<(String, i64), Vec<Sighted>> = HashMap::new();
        // Keys some request puts twice at once: their versions do not count revisions.
        let mut multi_put: HashSet<String> = HashSet::new();
        for (index, operation) in operations.iter().enumerate() {
            for (key, value) in put_values(&operation.input) {
                *writes.entry((key, value)).or_default() += 1;
            }
            multi_put.extend(keys_put_twice(&operation.input));
            for (key, value) in compared_values(&operation.input) {
                facts.mentioned.insert((key, value));
            }
            let Some(response) = operation.output() else {
                continue;
            };
            let placed_at = response.header().revision;
            let witness = Witness::Operation(index);
            for (key, value) in values_written(&operation.input, response) {
                facts
                    .known_puts
                    .entry(key.clone())
                    .or_default()
                    .push(placed_at);
                written_at.insert((key, value), placed_at);
            }
            for found in held_compares(&operation.input, response) {
                match found {
                    Held::ModRevision(key, revision) if revision > 0 => {
                        add(
                            &mut facts,
                            &key,
                            revision,
                            Seen::Written,
                            witness,
                            placed_at,
                        );
                        if placed_at - 1 > revision {
                            intervals.entry(key).or_default().push((
                                revision + 1,
                                placed_at - 1,
                                witness,
                                placed_at,
                            ));
                        }
                    }
                    Held::CreateRevision(key, revision) if revision > 0 => {
                        add(
                            &mut facts,
                            &key,
                            revision,
                            Seen::Created,
                            witness,
                            placed_at,
                        );
                    }
                    Held::Value(key, value) => compared.push((key, value, placed_at, witness)),
                    Held::ModRevision(..) | Held::CreateRevision(..) => {}
                }
            }
            for sighting in sightings(&operation.input, response, placed_at, false) {
                let kv = sighting.kv;
                lives
                    .entry((kv.key.clone(), kv.create_revision))
                    .or_default()
                    .push((kv.mod_revision, kv.version, witness, placed_at));
                let seen = Seen::Put {
                    kv: kv.clone(),
                    value_known: sighting.value_known,
                };
                add(
                    &mut facts,
                    &kv.key,
                    kv.mod_revision,
                    seen,
                    witness,
                    placed_at,
                );
                if kv.create_revision < kv.mod_revision {
                    add(
                        &mut facts,
                        &kv.key,
                        kv.create_revision,
                        Seen::Created,
                        witness,
                        placed_at,
                    );
                }
                if sighting.through > kv.mod_revision {
                    intervals.entry(kv.key.clone()).or_default().push((
                        kv.mod_revision + 1,
                        sighting.through,
                        witness,
                        placed_at,
                    ));
                }
                if sighting.value_known {
                    facts.mentioned.insert((kv.key.clone(), kv.value.clone()));
                    pins.push((kv.key.clone(), kv.value.clone(), kv.mod_revision, witness));
                }
            }
        }
        for (op, event) in watches.events() {
            let witness = Witness::Watch(op);
            let revision = event.revision();
            let after = (event.event_type == crate::history::EventType::Put).then_some(&event.kv);
            let seen = match after {
                Some(kv) => Seen::Put {
                    kv: kv.clone(),
                    value_known: true,
                },
                None => Seen::Deleted,
            };
            add(&mut facts, &event.kv.key, revision, seen, witness, i64::MAX);
            if let Some(kv) = after {
                lives
                    .entry((kv.key.clone(), kv.create_revision))
                    .or_default()
                    .push((kv.mod_revision, kv.version, witness, i64::MAX));
                facts.mentioned.insert((kv.key.clone(), kv.value.clone()));
                pins.push((kv.key.clone(), kv.value.clone(), revision, witness));
            }
            if let Some(previous) = &event.prev_kv {
                let seen = Seen::Put {
                    kv: previous.clone(),
                    value_known: true,
                };
                add(
                    &mut facts,
                    &previous.key,
                    previous.mod_revision,
                    seen,
                    witness,
                    i64::MAX,
                );
                lives
                    .entry((previous.key.clone(), previous.create_revision))
                    .or_default()
                    .push((previous.mod_revision, previous.version, witness, i64::MAX));
                if revision - 1 > previous.mod_revision {
                    intervals.entry(previous.key.clone()).or_default().push((
                        previous.mod_revision + 1,
                        revision - 1,
                        witness,
                        i64::MAX,
                    ));
                }
                facts
                    .mentioned
                    .insert((previous.key.clone(), previous.value.clone()));
                pins.push((
                    previous.key.clone(),
                    previous.value.clone(),
                    previous.mod_revision,
                    witness,
                ));
            }
        }
        for (key, value, revision, witness) in pins {
            if writes.get(&(key.clone(), value.clone())) == Some(&1) {
                facts
                    .pinned
                    .entry((key, value))
                    .or_insert((revision, witness));
            }
        }
        // A compare that found a value only one request writes saw the key unchanged since
        // that write, when its revision is known.
        for (key, value, placed_at, witness) in compared {
            let pair = (key, value);
            if writes.get(&pair) != Some(&1) {
                continue;
            }
            let written = written_at
                .get(&pair)
                .copied()
                .or_else(|| facts.pinned.get(&pair).map(|(revision, _)| *revision));
            if let Some(revision) = written
                && placed_at - 1 > revision
            {
                intervals.entry(pair.0).or_default().push((
                    revision + 1,
                    placed_at - 1,
                    witness,
                    placed_at,
                ));
            }
        }
        // Versions count the puts of one incarnation: between two sightings v2 - v1 puts
        // happened, so one means nothing else touched the key, and as many as there are
        // revisions means every one of them put it; and nothing deleted it in between.
        let mut undeleted: HashMap<String, Vec<(i64, i64, Witness, i64)>> = HashMap::new();
        let mut counted: HashMap<String, Vec<Count>> = HashMap::new();
        for ((key, created), mut seen) in lives {
            if created < 1 {
                continue;
            }
            seen.sort_by_key(|&(revision, _, _, placed_at)| (revision, placed_at));
            seen.dedup_by_key(|(revision, ..)| *revision);
            // The creation is a sighting too: version 1 at the create revision.
            let Some(&(earliest, _, witness, placed_at)) = seen.first() else {
                continue;
            };
            if earliest != created {
                seen.insert(0, (created, 1, witness, placed_at));
            }
            for pair in seen.windows(2) {
                let ((from, from_version, ..), (to, to_version, witness, placed_at)) =
                    (pair[0], pair[1]);
                let (puts, span) = (to_version - from_version, to - from);
                if puts < 1 || puts > span {
                    continue; // Impossible: the walk will say so.
                }
                if span > 1 {
                    undeleted.entry(key.clone()).or_default().push((
                        from + 1,
                        to - 1,
                        witness,
                        placed_at,
                    ));
                }
                if !multi_put.contains(&key) {
                    counted.entry(key.clone()).or_default().push(Count {
                        after: from,
                        through: to,
                        from_version,
                        to_version,
                        created,
                        witness,
                        witness_revision: placed_at,
                    });
                }
                if puts == 1 && span > 1 {
                    intervals.entry(key.clone()).or_default().push((
                        from + 1,
                        to - 1,
                        witness,
                        placed_at,
                    ));
                } else if puts == span {
                    for revision in from + 1..to {
                        add(
                            &mut facts,
                            &key,
                            revision,
                            Seen::Written,
                            witness,
                            placed_at,
                        );
                    }
                }
            }
        }
        facts.unchanged = intervals
            .into_iter()
            .map(|(key, ranges)| (key, disjoint(ranges)))
            .collect();
        facts.undeleted = undeleted
            .into_iter()
            .map(|(key, ranges)| (key, disjoint(ranges)))
            .collect();
        for counts in counted.values_mut() {
            counts.sort_by_key(|count| count.after);
        }
        facts.counted = counted;
        for puts in facts.known_puts.values_mut() {
            puts.sort_unstable();
        }
        facts
    }

    fn at(&self, revision: i64) -> &[Fact] {
        self.by_revision.get(&revision).map_or(&[], Vec::as_slice)
    }

    /// If some witness saw `key` unchanged across `revision`: it, and where it is placed.
    fn unchanged(&self, key: &str, revision: i64) -> Option<(Witness, i64)> {
        covering(self.unchanged.get(key)?, revision)
    }

    /// If some witness saw `key` live across `revision`: it, and where it is placed.
    fn undeleted(&self, key: &str, revision: i64) -> Option<(Witness, i64)> {
        covering(self.undeleted.get(key)?, revision)
    }
}

/// The disjoint range covering `revision`, if any: its witness and where that is placed.
fn covering(ranges: &[(i64, i64, Witness, i64)], revision: i64) -> Option<(Witness, i64)> {
    let after = ranges.partition_point(|(first, _, _, _)| *first <= revision);
    let (_, last, witness, witness_revision) = ranges[..after].last()?;
    (revision <= *last).then_some((*witness, *witness_revision))
}

/// Overlapping inclusive ranges as disjoint ones, each labelled with the covering range placed
/// latest.
fn disjoint(mut ranges: Vec<(i64, i64, Witness, i64)>) -> Vec<(i64, i64, Witness, i64)> {
    let mut bounds: Vec<i64> = ranges
        .iter()
        .flat_map(|(first, last, _, _)| [*first, last + 1])
        .collect();
    bounds.sort_unstable();
    bounds.dedup();
    ranges.sort_by_key(|(first, _, _, _)| *first);
    let mut out: Vec<(i64, i64, Witness, i64)> = Vec::new();
    let mut active: std::collections::BinaryHeap<(i64, i64, usize)> =
        std::collections::BinaryHeap::new();
    let mut next = 0;
    for window in bounds.windows(2) {
        let (from, to) = (window[0], window[1] - 1);
        while next < ranges.len() && ranges[next].0 <= from {
            active.push((ranges[next].3, ranges[next].1, next));
            next += 1;
        }
        // Ranges that ended before this piece may still sit below the top; only the top matters.
        while active.peek().is_some_and(|(_, last, _)| *last < from) {
            active.pop();
        }
        let Some(&(witness_revision, _, index)) = active.peek() else {
            continue;
        };
        let witness = ranges[index].2;
        match out.last_mut() {
            Some(previous) if previous.1 + 1 == from && previous.2 == witness => previous.1 = to,
            _ => out.push((from, to, witness, witness_revision)),
        }
    }
    out
}

/// The keys a successful response shows, with how long each was seen unchanged. A read sees
/// its header revision (or the revision it asked for); what a write reports (`prev_kv`) and
/// what a transaction reads was there before the write's revision.
fn sightings<'a>(
    request: &Request,
    response: &'a Response,
    revision: i64,
    nested: bool,
) -> Vec<Sighting<'a>> {
    let before = revision - 1;
    match (request, response) {
        (
            Request::Range {
                revision: asked,
                keys_only,
                ..
            },
            Response::Range { kvs, .. },
        ) => {
            let through = match (*asked > 0, nested) {
                (true, _) => *asked,
                (false, true) => before,
                (false, false) => revision,
            };
            kvs.iter()
                .map(|kv| Sighting {
                    kv,
                    value_known: !keys_only,
                    through,
                })
                .collect()
        }
        (Request::Put { .. }, Response::Put { prev_kv, .. }) => prev_kv
            .iter()
            .map(|kv| Sighting {
                kv,
                value_known: true,
                through: before,
            })
            .collect(),
        (Request::DeleteRange { .. }, Response::DeleteRange { prev_kvs, .. }) => prev_kvs
            .iter()
            .map(|kv| Sighting {
                kv,
                value_known: true,
                through: before,
            })
            .collect(),
        (
            Request::Txn {
                success, failure, ..
            },
            Response::Txn {
                succeeded,
                responses,
                ..
            },
        ) => {
            let branch = if *succeeded { success } else { failure };
            branch
                .iter()
                .zip(responses)
                .flat_map(|(nested_request, nested_response)| {
                    sightings(nested_request, nested_response, revision, true)
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

/// What a compare of a successful transaction found to hold of a key before it.
enum Held {
    ModRevision(String, i64),
    CreateRevision(String, i64),
    Value(String, String),
}

/// The equalities a transaction's guard found true (only a guard that succeeded says which
/// compare held).
fn held_compares(request: &Request, response: &Response) -> Vec<Held> {
    let (
        Request::Txn { compares, .. },
        Response::Txn {
            succeeded: true, ..
        },
    ) = (request, response)
    else {
        return Vec::new();
    };
    compares
        .iter()
        .filter(|compare| {
            compare.range_end.is_empty() && compare.result == crate::history::CompareResult::Equal
        })
        .filter_map(|compare| match &compare.target {
            crate::history::CompareTarget::ModRevision(revision) => {
                Some(Held::ModRevision(compare.key.clone(), *revision))
            }
            crate::history::CompareTarget::CreateRevision(revision) => {
                Some(Held::CreateRevision(compare.key.clone(), *revision))
            }
            crate::history::CompareTarget::Value(value) if !value.is_empty() => {
                Some(Held::Value(compare.key.clone(), value.clone()))
            }
            _ => None,
        })
        .collect()
}

/// The (key, value) pairs a successful request wrote.
fn values_written(request: &Request, response: &Response) -> Vec<(String, String)> {
    match (request, response) {
        (Request::Put { key, value, .. }, Response::Put { .. }) => {
            vec![(key.clone(), value.clone())]
        }
        (
            Request::Txn {
                success, failure, ..
            },
            Response::Txn {
                succeeded,
                responses,
                ..
            },
        ) => {
            let branch = if *succeeded { success } else { failure };
            branch
                .iter()
                .zip(responses)
                .flat_map(|(nested, nested_response)| values_written(nested, nested_response))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// The (key, value) pairs a request may put.
fn put_values(request: &Request) -> Vec<(String, String)> {
    let mut values = match request {
        Request::Put { key, value, .. } => vec![(key.clone(), value.clone())],
        Request::Txn {
            success, failure, ..
        } => success.iter().chain(failure).flat_map(put_values).collect(),
        _ => Vec::new(),
    };
    values.sort();
    values.dedup();
    values
}

/// The (key, value) pairs a request compares against.
fn compared_values(request: &Request) -> Vec<(String, String)> {
    match request {
        Request::Txn {
            compares,
            success,
            failure,
        } => compares
            .iter()
            .filter_map(|compare| match &compare.target {
                crate::history::CompareTarget::Value(value) => {
                    Some((compare.key.clone(), value.clone()))
                }
                _ => None,
            })
            .chain(success.iter().chain(failure).flat_map(compared_values))
            .collect(),
        _ => Vec::new(),
    }
}

/// Classes of interchangeable fillers: the same request once values that nothing observes
/// (written by this request alone, never seen or compared) are blanked, and response options
/// (which an unknown outcome never shows) dropped. Expiries are their own class.
fn classify(
    operations: &[EtcdOperation],
    fillers: &[usize],
    mentioned: &HashSet<(String, String)>,
) -> Vec<u32> {
    let mut writes: HashMap<(String, String), usize> = HashMap::new();
    for operation in operations {
        for pair in put_values(&operation.input) {
            *writes.entry(pair).or_default() += 1;
        }
    }
    let anonymous = |key: &str, value: &str| {
        let pair = (key.to_string(), value.to_string());
        writes.get(&pair) == Some(&1) && !mentioned.contains(&pair)
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
    let mut ids: HashMap<String, u32> = HashMap::new();
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

/// One point of the walk: the store through some revision, and the greedy real-time floor.
#[derive(Clone, Debug)]
struct Cursor {
    store: Store,
    /// The earliest time the next operation in the order can be linearized.
    floor_ns: u64,
    floor_owner: Option<usize>,
}

/// An open gap: the store before it, and which candidates were tried.
struct Frame {
    revision: i64,
    cursor: Cursor,
    /// The fillers that may stand in the gap, most urgent first (computed on first use), and
    /// the next one to look at.
    order: Option<Vec<usize>>,
    next: usize,
    /// The filler now standing in the gap.
    chosen: Option<usize>,
    tried: HashSet<u32>,
    accepted: bool,
    refused_by: Option<Witness>,
    memo_key: Option<MemoKey>,
}

type MemoKey = (i64, Vec<u64>, LiveFingerprint);

enum Step {
    Done,
    Gap,
    Failed,
}

struct Pass<'a> {
    operations: &'a [EtcdOperation],
    plan: &'a Plan<'a>,
    meter: &'a mut Meter,
    deepest: Option<Failure>,
    out_of_budget: bool,
    /// Per filler position: whether it stands in a gap on the current path.
    used: Vec<bool>,
    used_bits: Vec<u64>,
    /// Per revision: its writer on the current path (entries above the store's revision are
    /// stale).
    writers: Vec<Option<usize>>,
    /// Dead ends: no order completes from these.
    memo: HashSet<MemoKey>,
}

impl Pass<'_> {
    /// Walks to the end, searching the gaps depth first; `None` if no placement works.
    fn run(&mut self, mut cursor: Cursor) -> Option<Cursor> {
        let mut frames: Vec<Frame> = Vec::new();
        let mut current = self.place_slot(&mut cursor).then_some(cursor);
        loop {
            if let Some(mut cursor) = current.take() {
                match self.advance(&mut cursor) {
                    Step::Done => return Some(cursor),
                    Step::Gap => {
                        let revision = cursor.store.revision + 1;
                        let memo_key = (!self.plan.past_read[revision as usize]).then(|| {
                            (
                                revision,
                                self.used_bits.clone(),
                                cursor.store.live_fingerprint(),
                            )
                        });
                        if !memo_key.as_ref().is_some_and(|key| self.memo.contains(key)) {
                            frames.push(Frame {
                                revision,
                                cursor,
                                order: None,
                                next: 0,
                                chosen: None,
                                tried: HashSet::new(),
                                accepted: false,
                                refused_by: None,
                                memo_key,
                            });
                        }
                    }
                    Step::Failed => {}
                }
            }
            if self.out_of_budget {
                return None;
            }
            // The next candidate of the innermost open gap, closing exhausted ones.
            loop {
                let frame = frames.last_mut()?;
                if let Some(position) = frame.chosen.take() {
                    self.release(position);
                }
                if let Some(next) = self.next_candidate(frame) {
                    current = Some(next);
                    break;
                }
                if self.out_of_budget {
                    return None;
                }
                let frame = frames.pop().expect("the frame just looked at");
                self.exhausted(frame);
            }
        }
    }

    /// Places revisions after the cursor's while their writers are known.
    fn advance(&mut self, cursor: &mut Cursor) -> Step {
        while cursor.store.revision < self.plan.revision_max {
            let revision = cursor.store.revision + 1;
            if self.meter.step_expired() {
                self.out_of_budget = true;
                return Step::Failed;
            }
            let writer = match self.known_writer(cursor, revision) {
                Err(()) => return Step::Failed,
                Ok(None) => return Step::Gap,
                Ok(Some(writer)) => writer,
            };
            if !self.place(cursor, writer) {
                return Step::Failed;
            }
            let changes = cursor.store.changes_at(revision);
            if let Some(witness) =
                self.plan
                    .contradiction(self.operations, &cursor.store, &changes, None)
            {
                let kind = FailureKind::Contradicted {
                    writer: Some(writer),
                    witness,
                };
                let _: Option<()> = self.fail(cursor, revision, kind);
                return Step::Failed;
            }
            if !self.place_slot(cursor) {
                return Step::Failed;
            }
        }
        Step::Done
    }

    /// The completed operation that wrote `revision`: the one certain writer, or a revoke
    /// that deletes keys. `Ok(None)` means no response claims the revision; `Err` that two do.
    fn known_writer(&mut self, cursor: &Cursor, revision: i64) -> Result<Option<usize>, ()> {
        match self.plan.writers.get(&revision).map(Vec::as_slice) {
            Some([writer]) => return Ok(Some(*writer)),
            Some([first, second, ..]) => {
                let kind = FailureKind::TwoWriters {
                    first: *first,
                    second: *second,
                };
                return self.fail(cursor, revision, kind).ok_or(());
            }
            _ => {}
        }
        let revoke = self
            .plan
            .others
            .get(&revision)
            .into_iter()
            .flatten()
            .copied()
            .find(|&index| {
                matches!(self.operations[index].input, Request::LeaseRevoke { .. })
                    && cursor
                        .store
                        .clone()
                        .apply(&self.operations[index].input)
                        .is_ok_and(|r| r.header().revision == revision)
            });
        Ok(revoke)
    }

    /// The next filler that can stand in the frame's gap, with the walk placed through the
    /// gap's slot; `None` when there is none left.
    fn next_candidate(&mut self, frame: &mut Frame) -> Option<Cursor> {
        let revision = frame.revision;
        if frame.order.is_none() {
            frame.order = Some(self.candidates(frame));
        }
        let order = frame.order.as_ref().expect("just computed");
        while frame.next < order.len() {
            let position = order[frame.next];
            frame.next += 1;
            let filler = self.plan.fillers[position];
            if self.used[position] || !frame.tried.insert(self.plan.classes[position]) {
                continue;
            }
            if self.meter.step_expired() {
                self.out_of_budget = true;
                return None;
            }
            let mut store = frame.cursor.store.clone();
            if !store
                .apply(&self.operations[filler].input)
                .is_ok_and(|response| response.header().revision == revision)
            {
                continue;
            }
            let changes = store.changes_at(revision);
            if let Some(witness) =
                self.plan
                    .contradiction(self.operations, &store, &changes, Some(filler))
            {
                frame.refused_by.get_or_insert(witness);
                continue;
            }
            frame.accepted = true;
            self.take(position);
            frame.chosen = Some(position);
            self.writers[revision as usize] = Some(filler);
            let mut next = Cursor {
                store,
                floor_ns: frame.cursor.floor_ns,
                floor_owner: frame.cursor.floor_owner,
            };
            self.advance_floor(&mut next, filler);
            if self.place_slot(&mut next) {
                return Some(next);
            }
            frame.chosen = None;
            self.release(position);
            if self.out_of_budget {
                return None;
            }
        }
        None
    }

    /// The fillers that may stand in the frame's gap: unused, invoked by the time the
    /// revision was seen, those that put the key with the earliest deadline for puts first;
    /// by invoke time otherwise, so that of interchangeable ones the earliest comes first.
    fn candidates(&self, frame: &Frame) -> Vec<usize> {
        let observed_by_ns = self.plan.observed_by_ns(frame.revision);
        // Fillers are in invoke order; one invoked after the revision was seen is too late.
        let mut order: Vec<usize> = (0..self.plan.fillers.len())
            .take_while(|&position| {
                self.operations[self.plan.fillers[position]].invoke_ns <= observed_by_ns
            })
            .filter(|&position| !self.used[position])
            .collect();
        let deadlines = self.plan.deadlines(&frame.cursor.store, frame.revision);
        if !deadlines.is_empty() {
            order.sort_by_cached_key(|&position| {
                put_values(&self.operations[self.plan.fillers[position]].input)
                    .iter()
                    .filter_map(|(key, _)| deadlines.get(key.as_str()).copied())
                    .min()
                    .unwrap_or(i64::MAX)
            });
        }
        order
    }

    /// Every candidate of the frame failed: remember the dead end, and say why if nothing could
    /// even stand in the gap.
    fn exhausted(&mut self, frame: Frame) {
        if !frame.accepted {
            let kind = match frame.refused_by {
                Some(witness) => FailureKind::Contradicted {
                    writer: None,
                    witness,
                },
                None => FailureKind::NoWriter,
            };
            let _: Option<()> = self.fail(&frame.cursor, frame.revision, kind);
        }
        if let Some(key) = frame.memo_key
            && !self.meter.memo_full(self.memo.len())
        {
            self.memo.insert(key);
        }
    }

    fn take(&mut self, position: usize) {
        self.used[position] = true;
        self.used_bits[position / 64] |= 1 << (position % 64);
    }

    fn release(&mut self, position: usize) {
        self.used[position] = false;
        self.used_bits[position / 64] &= !(1 << (position % 64));
    }

    /// Applies a completed operation, checking its response and its place in real time.
    fn place(&mut self, cursor: &mut Cursor, index: usize) -> bool {
        let operation = &self.operations[index];
        let observed = operation
            .output()
            .expect("only completed operations are placed");
        let revision = observed.header().revision;
        let revision_before = cursor.store.revision;
        let expected = cursor
            .store
            .apply(&with_granted_id(&operation.input, Some(observed)));
        if !expected
            .as_ref()
            .is_ok_and(|expected| responses_match(expected, observed))
        {
            // The cursor is abandoned, so the store it holds need not be rolled back.
            let kind = FailureKind::WrongResponse {
                operation: index,
                expected: expected.ok(),
            };
            let _: Option<()> = self.fail_at(cursor, revision, revision_before, kind);
            return false;
        }
        let floor_ns = cursor.floor_ns;
        if floor_ns > operation.return_ns() {
            let forced_by = cursor.floor_owner.unwrap_or(index);
            let kind = FailureKind::TooLate {
                operation: index,
                floor_ns,
                forced_by,
            };
            let _: Option<()> = self.fail(cursor, revision, kind);
            return false;
        }
        if certainly_writes(observed) || revision > revision_before {
            self.writers[revision as usize] = Some(index);
        }
        self.advance_floor(cursor, index);
        true
    }

    /// Places the non-writing operations of the cursor's revision. They are unordered among
    /// themselves, so each is checked against the writer's floor, and the next writer must
    /// come after all of them.
    fn place_slot(&mut self, cursor: &mut Cursor) -> bool {
        let revision = cursor.store.revision;
        let writer = self.writers[revision as usize].filter(|_| revision > 1);
        let (slot_floor, slot_owner) = (cursor.floor_ns, cursor.floor_owner);
        let mut latest = (slot_floor, slot_owner);
        let plan = self.plan;
        for &index in plan.others.get(&revision).into_iter().flatten() {
            if Some(index) == writer {
                continue;
            }
            cursor.floor_ns = slot_floor;
            cursor.floor_owner = slot_owner;
            if !self.place(cursor, index) {
                return false;
            }
            latest = latest.max((cursor.floor_ns, cursor.floor_owner));
        }
        (cursor.floor_ns, cursor.floor_owner) = latest;
        true
    }

    /// The operation's greedy linearization point becomes the floor for what follows.
    fn advance_floor(&self, cursor: &mut Cursor, index: usize) {
        let invoke_ns = self.operations[index].invoke_ns;
        if invoke_ns > cursor.floor_ns {
            cursor.floor_ns = invoke_ns;
            cursor.floor_owner = Some(index);
        }
    }

    /// The writers of revisions 2 through `revision` on the current path.
    fn writers_through(&self, revision: i64) -> BTreeMap<i64, usize> {
        let last = clamp(revision, self.writers.len() - 1);
        (2..=last)
            .filter_map(|at| self.writers[at].map(|writer| (at as i64, writer)))
            .collect()
    }

    /// Records a failure against the cursor's current store; always `None`, to propagate.
    fn fail<T>(&mut self, cursor: &Cursor, revision: i64, kind: FailureKind) -> Option<T> {
        self.fail_at(cursor, revision, cursor.store.revision, kind)
    }

    /// Records a failure if it got further than any before; always `None`, to propagate.
    fn fail_at<T>(
        &mut self,
        cursor: &Cursor,
        revision: i64,
        state_revision: i64,
        kind: FailureKind,
    ) -> Option<T> {
        if self
            .deepest
            .as_ref()
            .is_none_or(|deepest| revision > deepest.revision)
        {
            let store = cursor.store.clone();
            self.deepest = Some(Failure {
                revision,
                kind,
                store,
                state_revision,
                writers: self.writers_through(state_revision),
            });
        }
        None
    }
}
