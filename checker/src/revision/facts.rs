//! The evidence: what responses and watches say about each revision's write.
//!
//! Every fact borrows its keys and values from the history (and the watches' events), so that
//! gathering the evidence of a long history copies nothing but numbers.

use std::collections::{BTreeMap, BinaryHeap};

use super::Witness;
use super::plan::Gaps;
use crate::etcd::EtcdOperation;
use crate::fast_hash::{FastMap, FastSet};
use crate::history::{
    CompareResult, CompareTarget, EventType, KeyValue, Request, Response, WatchEvent,
};
use crate::watch;

/// Revisions `first` through `last` in which something held, with the witness that says so
/// and the revision at which that witness is placed: (first, last, witness, placed at).
pub(super) type Span = (i64, i64, Witness, i64);

/// A version seen: (mod revision, version, witness, where the witness is placed).
type Sighted = (i64, i64, Witness, i64);

/// What the write of one revision did to one key, as someone saw it.
#[derive(Debug)]
pub(super) struct Fact<'a> {
    pub(super) revision: i64,
    pub(super) key: &'a str,
    pub(super) seen: Seen<'a>,
    pub(super) witness: Witness,
    /// The revision at which the witness is placed (`i64::MAX` for a watch).
    pub(super) witness_revision: i64,
}

/// Two sightings of one incarnation of a key: it had `from_version` at `after` and
/// `to_version` at `through`, so exactly the difference in puts happened in between.
#[derive(Debug)]
pub(super) struct Count {
    pub(super) after: i64,
    pub(super) through: i64,
    pub(super) from_version: i64,
    pub(super) to_version: i64,
    pub(super) created: i64,
    pub(super) witness: Witness,
    pub(super) witness_revision: i64,
}

/// How much of a write was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Seen<'a> {
    /// The key as written; the value only when `value_known` (keys-only reads clear it).
    Put {
        kv: &'a KeyValue,
        value_known: bool,
    },
    /// The key was put (a compare found this `mod_revision`).
    Written,
    /// The key was created (something saw this `create_revision`).
    Created,
    Deleted,
}

impl Seen<'_> {
    /// Whether the key as the write left it (`after`: `None` if the write did not touch it,
    /// `Some(None)` if it deleted it) is what was seen.
    pub(super) fn matches(&self, after: Option<Option<&KeyValue>>, revision: i64) -> bool {
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

/// Everything but the value.
fn same_version(written: &KeyValue, seen: &KeyValue) -> bool {
    written.key == seen.key
        && written.create_revision == seen.create_revision
        && written.mod_revision == seen.mod_revision
        && written.version == seen.version
        && written.lease == seen.lease
}

/// The evidence, revision by revision.
#[derive(Debug, Default)]
pub(super) struct Facts<'a> {
    /// Every fact, by revision; within one revision in the order they were found.
    by_revision: Vec<Fact<'a>>,
    /// Per revision, where its facts start in `by_revision` (one more entry marks the end).
    starts: Vec<usize>,
    /// Per key, disjoint spans of revisions in which nothing wrote it, with the witness that
    /// says so (the one placed latest, for the gap test).
    unchanged: FastMap<&'a str, Vec<Span>>,
    /// Per key, by revision: how many times it must be put between two sightings.
    pub(super) counted: BTreeMap<&'a str, Vec<Count>>,
    /// Per key, the revisions at which successful requests put it (once per put).
    pub(super) known_puts: FastMap<&'a str, Vec<i64>>,
    /// Per key, likewise, spans of revisions in which nothing deleted it.
    undeleted: FastMap<&'a str, Vec<Span>>,
    /// (key, value) pairs that only one request writes, seen written at a revision: the only
    /// revision that request can have written them at.
    pub(super) pinned: FastMap<(&'a str, &'a str), (i64, Witness)>,
    /// (key, value) pairs that appear anywhere but as a put's value: seen in a response or a
    /// watch event, or compared against.
    pub(super) mentioned: FastSet<(&'a str, &'a str)>,
    /// How many requests may put each (key, value) that a filler may put or a transaction
    /// compares against.
    pub(super) writes: FastMap<(&'a str, &'a str), usize>,
}

impl<'a> Facts<'a> {
    /// Gathers the evidence that can make a difference: facts, spans and counts that a gap
    /// can meet (see [`Builder::useful`]), and sightings of values fillers may put.
    pub(super) fn new(
        operations: &'a [EtcdOperation],
        watches: &'a watch::Evidence<'a>,
        revision_max: i64,
        gaps: &Gaps,
        filler_puts: &FastSet<(&'a str, &'a str)>,
    ) -> Self {
        // Which requests put a pair, and where, matters only for values a filler may put (is
        // it pinned, is it anonymous) and values compared against.
        let compared_pairs: FastSet<(&str, &str)> = operations
            .iter()
            .flat_map(|operation| compared_values(&operation.input))
            .collect();
        let counted_pairs = filler_puts.union(&compared_pairs).copied().collect();
        let mut builder = Builder {
            revision_max,
            gaps,
            filler_puts,
            counted_pairs,
            compared_pairs,
            facts: Facts::default(),
            known: FastSet::default(),
            intervals: FastMap::default(),
            pins: Vec::new(),
            written_at: FastMap::default(),
            compared: Vec::new(),
            lives: FastMap::default(),
            multi_put: FastSet::default(),
        };
        for (index, operation) in operations.iter().enumerate() {
            builder.operation(index, operation);
        }
        for (op, event) in watches.events() {
            builder.watch_event(op, event);
        }
        builder.finish()
    }

    pub(super) fn at(&self, revision: i64) -> &[Fact<'a>] {
        let Ok(at) = usize::try_from(revision) else {
            return &[];
        };
        match (self.starts.get(at), self.starts.get(at + 1)) {
            (Some(&first), Some(&last)) => &self.by_revision[first..last],
            _ => &[],
        }
    }

    /// If some witness saw `key` unchanged across `revision`: it, and where it is placed.
    pub(super) fn unchanged(&self, key: &str, revision: i64) -> Option<(Witness, i64)> {
        covering(self.unchanged.get(key)?, revision)
    }

    /// If some witness saw `key` live across `revision`: it, and where it is placed.
    pub(super) fn undeleted(&self, key: &str, revision: i64) -> Option<(Witness, i64)> {
        covering(self.undeleted.get(key)?, revision)
    }
}

/// A key seen, and the revision through which it was seen unchanged since its `mod_revision`.
struct Sighting<'a> {
    kv: &'a KeyValue,
    value_known: bool,
    through: i64,
}

/// The facts as they are gathered, with what is needed to draw more from them at the end.
struct Builder<'a, 'p> {
    revision_max: i64,
    gaps: &'p Gaps,
    /// The (key, value) pairs some filler may put: only sightings of those say anything about
    /// a gap's candidates.
    filler_puts: &'p FastSet<(&'a str, &'a str)>,
    /// The pairs whose writers are counted ([`Facts::writes`]).
    counted_pairs: FastSet<(&'a str, &'a str)>,
    /// The pairs some transaction compares against.
    compared_pairs: FastSet<(&'a str, &'a str)>,
    facts: Facts<'a>,
    /// Facts already found, so each is kept once.
    known: FastSet<(i64, &'a str, Seen<'a>)>,
    /// Per key, spans in which nothing wrote it (overlapping; made disjoint at the end).
    intervals: FastMap<&'a str, Vec<Span>>,
    /// (key, value) seen written at a revision, and by whom.
    pins: Vec<(&'a str, &'a str, i64, Witness)>,
    /// Where completed writes put each value, and what succeeded compares found.
    written_at: FastMap<(&'a str, &'a str), i64>,
    compared: Vec<(&'a str, &'a str, i64, Witness)>,
    /// Per incarnation of a key (key, create revision): the versions seen, where.
    lives: FastMap<(&'a str, i64), Vec<Sighted>>,
    /// Keys some request puts twice at once: their versions do not count revisions.
    multi_put: FastSet<&'a str>,
}

impl<'a> Builder<'a, '_> {
    /// Whether evidence about revisions `first` through `last`, from a witness placed at
    /// `witness_revision`, can make a difference. The pass asks at a gap, and at a known
    /// writer only when a gap lies before the witness (the walk checks the witness itself
    /// otherwise): so some gap must lie from `first` through `last`, or before the witness.
    /// A watch (never placed) is compared with every revision it vouches for anyway
    /// ([`watch::Evidence::contradiction`]), so what it saw matters only at gaps.
    fn useful(&self, first: i64, last: i64, witness_revision: i64) -> bool {
        let last = match witness_revision {
            i64::MAX => last,
            placed_at => last.max(placed_at - 1),
        };
        self.gaps.any_in(first, last)
    }

    /// Notes that nothing wrote `key` in the span's revisions, if that can matter.
    fn unchanged(&mut self, key: &'a str, span: Span) {
        if self.useful(span.0, span.1, span.3) {
            self.intervals.entry(key).or_default().push(span);
        }
    }

    /// Counts one more request that may put `pair`, when that count is asked about.
    fn count_writer(&mut self, pair: (&'a str, &'a str)) {
        if self.counted_pairs.contains(&pair) {
            *self.facts.writes.entry(pair).or_default() += 1;
        }
    }

    /// Notes a (key, value) seen or compared against, when a filler may put it.
    fn mention(&mut self, key: &'a str, value: &'a str) {
        if self.filler_puts.contains(&(key, value)) {
            self.facts.mentioned.insert((key, value));
        }
    }

    /// Notes a (key, value) seen written at `revision` (so also mentioned), when a filler may
    /// put it.
    fn pin(&mut self, key: &'a str, value: &'a str, revision: i64, witness: Witness) {
        if self.filler_puts.contains(&(key, value)) {
            self.facts.mentioned.insert((key, value));
            self.pins.push((key, value, revision, witness));
        }
    }

    fn add(
        &mut self,
        key: &'a str,
        revision: i64,
        seen: Seen<'a>,
        witness: Witness,
        witness_revision: i64,
    ) {
        if revision < 2
            || revision > self.revision_max
            || !self.useful(revision, revision, witness_revision)
        {
            return;
        }
        if self.known.insert((revision, key, seen)) {
            self.facts.by_revision.push(Fact {
                revision,
                key,
                seen,
                witness,
                witness_revision,
            });
        }
    }

    /// What an operation's request and response say.
    fn operation(&mut self, index: usize, operation: &'a EtcdOperation) {
        match &operation.input {
            // The common case, without gathering the pairs first.
            Request::Put { key, value, .. } => self.count_writer((key, value)),
            request => {
                for pair in put_values(request) {
                    self.count_writer(pair);
                }
            }
        }
        self.multi_put.extend(keys_put_twice(&operation.input));
        for (key, value) in compared_values(&operation.input) {
            self.mention(key, value);
        }
        let Some(response) = operation.output() else {
            return;
        };
        let placed_at = response.header().revision;
        let witness = Witness::Operation(index);
        values_written(&operation.input, response, &mut |key, value| {
            self.facts
                .known_puts
                .entry(key)
                .or_default()
                .push(placed_at);
            if self.compared_pairs.contains(&(key, value)) {
                self.written_at.insert((key, value), placed_at);
            }
        });
        for found in held_compares(&operation.input, response) {
            self.held(found, witness, placed_at);
        }
        sightings(
            &operation.input,
            response,
            placed_at,
            false,
            &mut |sighting| {
                self.sighting(sighting, witness, placed_at);
            },
        );
    }

    /// What a compare that held says about the key before the transaction.
    fn held(&mut self, found: Held<'a>, witness: Witness, placed_at: i64) {
        match found {
            Held::ModRevision(key, revision) if revision > 0 => {
                self.add(key, revision, Seen::Written, witness, placed_at);
                if placed_at - 1 > revision {
                    self.unchanged(key, (revision + 1, placed_at - 1, witness, placed_at));
                }
            }
            Held::CreateRevision(key, revision) if revision > 0 => {
                self.add(key, revision, Seen::Created, witness, placed_at);
            }
            Held::Value(key, value) => self.compared.push((key, value, placed_at, witness)),
            Held::ModRevision(..) | Held::CreateRevision(..) => {}
        }
    }

    /// What a key seen in a response says about the write of its version and after it.
    fn sighting(&mut self, sighting: Sighting<'a>, witness: Witness, placed_at: i64) {
        let kv = sighting.kv;
        self.lives
            .entry((&kv.key, kv.create_revision))
            .or_default()
            .push((kv.mod_revision, kv.version, witness, placed_at));
        let seen = Seen::Put {
            kv,
            value_known: sighting.value_known,
        };
        self.add(&kv.key, kv.mod_revision, seen, witness, placed_at);
        if kv.create_revision < kv.mod_revision {
            self.add(
                &kv.key,
                kv.create_revision,
                Seen::Created,
                witness,
                placed_at,
            );
        }
        if sighting.through > kv.mod_revision {
            let span = (kv.mod_revision + 1, sighting.through, witness, placed_at);
            self.unchanged(&kv.key, span);
        }
        if sighting.value_known {
            self.pin(&kv.key, &kv.value, kv.mod_revision, witness);
        }
    }

    /// What a watch event says about the write of its revision and the version before it.
    fn watch_event(&mut self, op: u64, event: &'a WatchEvent) {
        let witness = Witness::Watch(op);
        let revision = event.revision();
        let after = (event.event_type == EventType::Put).then_some(&event.kv);
        let seen = match after {
            Some(kv) => Seen::Put {
                kv,
                value_known: true,
            },
            None => Seen::Deleted,
        };
        self.add(&event.kv.key, revision, seen, witness, i64::MAX);
        if let Some(kv) = after {
            self.lives
                .entry((&kv.key, kv.create_revision))
                .or_default()
                .push((kv.mod_revision, kv.version, witness, i64::MAX));
            self.pin(&kv.key, &kv.value, revision, witness);
        }
        let Some(previous) = &event.prev_kv else {
            return;
        };
        let seen = Seen::Put {
            kv: previous,
            value_known: true,
        };
        self.add(
            &previous.key,
            previous.mod_revision,
            seen,
            witness,
            i64::MAX,
        );
        self.lives
            .entry((&previous.key, previous.create_revision))
            .or_default()
            .push((previous.mod_revision, previous.version, witness, i64::MAX));
        if revision - 1 > previous.mod_revision {
            let span = (previous.mod_revision + 1, revision - 1, witness, i64::MAX);
            self.unchanged(&previous.key, span);
        }
        self.pin(
            &previous.key,
            &previous.value,
            previous.mod_revision,
            witness,
        );
    }

    /// Draws what follows from everything gathered, and orders the facts.
    fn finish(mut self) -> Facts<'a> {
        for (key, value, revision, witness) in std::mem::take(&mut self.pins) {
            if self.facts.writes.get(&(key, value)) == Some(&1) {
                self.facts
                    .pinned
                    .entry((key, value))
                    .or_insert((revision, witness));
            }
        }
        self.compared_unchanged();
        let mut lives: Vec<_> = std::mem::take(&mut self.lives).into_iter().collect();
        // In key order: the facts this adds come out in the same order on every run.
        lives.sort_unstable_by(|first, second| first.0.cmp(&second.0));
        let mut undeleted: FastMap<&'a str, Vec<Span>> = FastMap::default();
        for ((key, created), seen) in lives {
            self.count_puts(key, created, seen, &mut undeleted);
        }
        let mut facts = self.facts;
        facts.unchanged = self
            .intervals
            .into_iter()
            .map(|(key, ranges)| (key, disjoint(ranges)))
            .collect();
        facts.undeleted = undeleted
            .into_iter()
            .map(|(key, ranges)| (key, disjoint(ranges)))
            .collect();
        for counts in facts.counted.values_mut() {
            counts.sort_by_key(|count| count.after);
        }
        for puts in facts.known_puts.values_mut() {
            puts.sort_unstable();
        }
        facts.by_revision.sort_by_key(|fact| fact.revision);
        // Facts lie in revisions 2 through `revision_max`.
        let size = usize::try_from(self.revision_max).unwrap_or(0) + 2;
        let mut next = 0;
        facts.starts = (0..size)
            .map(|revision| {
                while facts
                    .by_revision
                    .get(next)
                    .is_some_and(|fact| (fact.revision as usize) < revision)
                {
                    next += 1;
                }
                next
            })
            .collect();
        facts
    }

    /// A compare that found a value only one request writes saw the key unchanged since that
    /// write, when its revision is known.
    fn compared_unchanged(&mut self) {
        for (key, value, placed_at, witness) in std::mem::take(&mut self.compared) {
            let pair = (key, value);
            if self.facts.writes.get(&pair) != Some(&1) {
                continue;
            }
            let written = self
                .written_at
                .get(&pair)
                .copied()
                .or_else(|| self.facts.pinned.get(&pair).map(|(revision, _)| *revision));
            if let Some(revision) = written
                && placed_at - 1 > revision
            {
                self.unchanged(key, (revision + 1, placed_at - 1, witness, placed_at));
            }
        }
    }

    /// Versions count the puts of one incarnation: between two sightings v2 - v1 puts
    /// happened, so one means nothing else touched the key, and as many as there are
    /// revisions means every one of them put it; and nothing deleted it in between.
    fn count_puts(
        &mut self,
        key: &'a str,
        created: i64,
        mut seen: Vec<Sighted>,
        undeleted: &mut FastMap<&'a str, Vec<Span>>,
    ) {
        if created < 1 {
            return;
        }
        seen.sort_by_key(|&(revision, _, _, placed_at)| (revision, placed_at));
        seen.dedup_by_key(|(revision, ..)| *revision);
        // The creation is a sighting too: version 1 at the create revision.
        let Some(&(earliest, _, witness, placed_at)) = seen.first() else {
            return;
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
            if span > 1 && self.useful(from + 1, to - 1, placed_at) {
                undeleted
                    .entry(key)
                    .or_default()
                    .push((from + 1, to - 1, witness, placed_at));
            }
            if !self.multi_put.contains(key) && self.useful(from + 1, to, placed_at) {
                self.facts.counted.entry(key).or_default().push(Count {
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
                self.unchanged(key, (from + 1, to - 1, witness, placed_at));
            } else if puts == span {
                for revision in from + 1..to {
                    self.add(key, revision, Seen::Written, witness, placed_at);
                }
            }
        }
    }
}

/// The disjoint span covering `revision`, if any: its witness and where that is placed.
fn covering(ranges: &[Span], revision: i64) -> Option<(Witness, i64)> {
    let after = ranges.partition_point(|(first, _, _, _)| *first <= revision);
    let (_, last, witness, witness_revision) = ranges[..after].last()?;
    (revision <= *last).then_some((*witness, *witness_revision))
}

/// Overlapping spans as disjoint ones, each labelled with the covering span placed latest.
fn disjoint(mut ranges: Vec<Span>) -> Vec<Span> {
    let mut bounds: Vec<i64> = ranges
        .iter()
        .flat_map(|(first, last, _, _)| [*first, last + 1])
        .collect();
    bounds.sort_unstable();
    bounds.dedup();
    ranges.sort_by_key(|(first, _, _, _)| *first);
    let mut out: Vec<Span> = Vec::new();
    let mut active: BinaryHeap<(i64, i64, usize)> = BinaryHeap::new();
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

/// The keys a successful response shows, with how long each was seen unchanged, handed to
/// `seen` one by one. A read sees its header revision (or the revision it asked for); what a
/// write reports (`prev_kv`) and what a transaction reads was there before the write's
/// revision.
fn sightings<'a>(
    request: &Request,
    response: &'a Response,
    revision: i64,
    nested: bool,
    seen: &mut dyn FnMut(Sighting<'a>),
) {
    let before = revision - 1;
    let mut all = |kvs: &'a [KeyValue], value_known: bool, through: i64| {
        for kv in kvs {
            seen(Sighting {
                kv,
                value_known,
                through,
            });
        }
    };
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
            all(kvs, !keys_only, through);
        }
        (Request::Put { .. }, Response::Put { prev_kv, .. }) => {
            all(prev_kv.as_slice(), true, before);
        }
        (Request::DeleteRange { .. }, Response::DeleteRange { prev_kvs, .. }) => {
            all(prev_kvs, true, before);
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
            for (nested_request, nested_response) in branch.iter().zip(responses) {
                sightings(nested_request, nested_response, revision, true, seen);
            }
        }
        _ => {}
    }
}

/// What a compare of a successful transaction found to hold of a key before it.
enum Held<'a> {
    ModRevision(&'a str, i64),
    CreateRevision(&'a str, i64),
    Value(&'a str, &'a str),
}

/// The equalities a transaction's guard found true (only a guard that succeeded says which
/// compare held).
fn held_compares<'a>(request: &'a Request, response: &Response) -> Vec<Held<'a>> {
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
        .filter(|compare| compare.range_end.is_empty() && compare.result == CompareResult::Equal)
        .filter_map(|compare| match &compare.target {
            CompareTarget::ModRevision(revision) => {
                Some(Held::ModRevision(&compare.key, *revision))
            }
            CompareTarget::CreateRevision(revision) => {
                Some(Held::CreateRevision(&compare.key, *revision))
            }
            CompareTarget::Value(value) if !value.is_empty() => {
                Some(Held::Value(&compare.key, value))
            }
            _ => None,
        })
        .collect()
}

/// The (key, value) pairs a successful request wrote, handed to `written` one by one.
fn values_written<'a>(
    request: &'a Request,
    response: &Response,
    written: &mut dyn FnMut(&'a str, &'a str),
) {
    match (request, response) {
        (Request::Put { key, value, .. }, Response::Put { .. }) => written(key, value),
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
            for (nested, nested_response) in branch.iter().zip(responses) {
                values_written(nested, nested_response, written);
            }
        }
        _ => {}
    }
}

/// The (key, value) pairs a request may put, sorted.
pub(super) fn put_values(request: &Request) -> Vec<(&str, &str)> {
    let mut values = match request {
        Request::Put { key, value, .. } => vec![(key.as_str(), value.as_str())],
        Request::Txn {
            success, failure, ..
        } => success.iter().chain(failure).flat_map(put_values).collect(),
        _ => Vec::new(),
    };
    values.sort_unstable();
    values.dedup();
    values
}

/// The (key, value) pairs a request compares against.
fn compared_values(request: &Request) -> Vec<(&str, &str)> {
    match request {
        Request::Txn {
            compares,
            success,
            failure,
        } => compares
            .iter()
            .filter_map(|compare| match &compare.target {
                CompareTarget::Value(value) => Some((compare.key.as_str(), value.as_str())),
                _ => None,
            })
            .chain(success.iter().chain(failure).flat_map(compared_values))
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether a request puts two different keys in one branch.
pub(super) fn puts_two_keys(request: &Request) -> bool {
    let Request::Txn {
        success, failure, ..
    } = request
    else {
        return false;
    };
    [success, failure].into_iter().any(|branch| {
        let mut keys: Vec<&str> = branch
            .iter()
            .flat_map(put_values)
            .map(|(key, _)| key)
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys.len() > 1
    })
}

/// Keys a request puts more than once in one branch.
fn keys_put_twice(request: &Request) -> Vec<&str> {
    let Request::Txn {
        success, failure, ..
    } = request
    else {
        return Vec::new();
    };
    let mut twice = Vec::new();
    for branch in [success, failure] {
        let mut keys: Vec<&str> = branch
            .iter()
            .flat_map(put_values)
            .map(|(key, _)| key)
            .collect();
        keys.sort_unstable();
        twice.extend(
            keys.windows(2)
                .filter(|pair| pair[0] == pair[1])
                .map(|pair| pair[0]),
        );
        twice.extend(branch.iter().flat_map(keys_put_twice));
    }
    twice
}
