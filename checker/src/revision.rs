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
//! - The walk is iterative and undoes its choices in place: it keeps one store, and rewinds it
//!   to below a gap to try the next candidate ([`Store::rewind`]). Nothing grows with the
//!   history per choice, so a history with thousands of gaps is walked in near-linear time.
//! - A gap does not look at every filler: when the evidence says what the gap's write did to a
//!   key, only the fillers that can do that are tried (`candidates`); otherwise they are
//!   produced one at a time, and a revoke whose lease holds no keys is skipped.
//! - Evidence no gap can meet is not gathered (`facts`).
//!
//! The pass is split in four: this file walks and searches; `plan` groups the operations by
//! revision and checks a write against the evidence; `facts` gathers the evidence;
//! `candidates` finds the fillers that may stand in a gap.
//!
//! [`Constraints`] add evidence that is not about linearizability: watch events (which write
//! took a revision, and that a watched range was left alone) and the lease rule that a key does
//! not vanish before its lease could have expired. [`crate::check_etcd`] first looks for an
//! order that satisfies them too, and only falls back to the plain search (whose order the
//! watch and lease checks then find fault with) when there is none.

use std::collections::BTreeMap;
use std::hash::Hash;

use crate::budget::Meter;
use crate::etcd::{EtcdOperation, WatchStream};
use crate::fast_hash::{Digest128, FastSet};
use crate::history::{Request, Response};
use crate::model::etcd::{Store, responses_match, with_granted_id};
use crate::options::ClockUncertainty;
use crate::watch;

mod candidates;
mod facts;
mod plan;

use candidates::Candidates;
use plan::{Plan, certainly_writes, clamp};

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
        store: Store::default(),
        deepest: None,
        out_of_budget: false,
        settled: false,
        used: vec![false; plan.fillers.len()],
        used_bits: vec![0; plan.fillers.len().div_ceil(64)],
        writers: vec![None; usize::try_from(plan.revision_max).unwrap_or(0) + 2],
        placed_through: 1,
        chosen: Vec::new(),
        memo: FastSet::default(),
    };
    let outcome = match plan.impossible {
        Some(operation) => pass.fail(
            1,
            FailureKind::WrongResponse {
                operation,
                expected: None,
            },
        ),
        None => pass.run(),
    };
    match outcome {
        Some(()) => RevisionOutcome::Linearizable {
            writers: pass.writers_through(pass.store.revision),
            store: pass.store,
        },
        None if pass.out_of_budget && !pass.settled => RevisionOutcome::Unknown,
        None => {
            let deepest = pass.deepest.take().expect("a failed pass records why");
            RevisionOutcome::NotLinearizable(pass.rebuild(deepest))
        }
    }
}

/// The greedy real-time floor of the walk: the earliest time the next operation in the order
/// can be linearized, and the operation that set it.
#[derive(Clone, Copy, Debug, Default)]
struct Floor {
    floor_ns: u64,
    floor_owner: Option<usize>,
}

/// An open gap: the floor before it, and which candidates were tried. The store before it is
/// the walk's store rewound to the revision below the gap.
struct Frame {
    revision: i64,
    floor: Floor,
    /// Revokes whose response names the gap's revision and whose lease holds keys below it:
    /// each may be the gap's writer, and is tried before the fillers. (Once a filler stands in
    /// the gap instead, a revoke must find its lease empty, or its response is wrong.)
    revokes: Vec<usize>,
    /// The fillers that may stand in the gap, most urgent first (computed on first use).
    candidates: Option<Candidates>,
    /// The filler now standing in the gap.
    chosen: Option<usize>,
    tried: FastSet<u32>,
    accepted: bool,
    refused_by: Option<Witness>,
    memo_key: Option<MemoKey>,
}

/// A dead end's digest: 128 bits of (revision, fillers used, the store's live state). Keeping
/// the digest rather than the state keeps a memo entry at 16 bytes whatever the store holds;
/// two dead ends share a digest with a chance of about 2^-128 per pair, far below any other
/// source of error.
type MemoKey = u128;

/// The digest of the search's position at a gap (fixed: the same history gets the same memo,
/// hence the same verdict, on every run).
fn memo_key(revision: i64, used_bits: &[u64], store: &Store) -> MemoKey {
    let mut digest = Digest128::new();
    (revision, used_bits, store.live_digest()).hash(&mut digest);
    digest.digest()
}

enum Step {
    Done,
    Gap,
    Failed,
}

/// The deepest failure, recorded cheaply: the store and writers it shows are rebuilt from the
/// path once the pass has failed ([`Pass::rebuild`]).
struct Deepest {
    revision: i64,
    kind: FailureKind,
    state_revision: i64,
    /// The writers were placed through this revision (the failing operation's may not be).
    writers_through: i64,
    /// The writers of the path that are not the one certain writer of their revision.
    chosen: Vec<(i64, usize)>,
}

struct Pass<'a> {
    operations: &'a [EtcdOperation],
    plan: &'a Plan<'a>,
    meter: &'a mut Meter,
    /// The store of the current path: the walk applies each writer to it and rewinds it when
    /// it backtracks, so nothing is copied per choice.
    store: Store,
    deepest: Option<Deepest>,
    out_of_budget: bool,
    /// A failure no choice at a gap can undo was found: searching further is pointless.
    settled: bool,
    /// Per filler position: whether it stands in a gap on the current path.
    used: Vec<bool>,
    used_bits: Vec<u64>,
    /// Per revision: its writer on the current path (entries above `placed_through` are stale).
    writers: Vec<Option<usize>>,
    placed_through: i64,
    /// The path's writers that are not certain writers (gap fillers and revokes), by revision.
    chosen: Vec<(i64, usize)>,
    /// Dead ends: no order completes from these.
    memo: FastSet<MemoKey>,
}

impl Pass<'_> {
    /// Walks to the end, searching the gaps depth first; `None` if no placement works.
    fn run(&mut self) -> Option<()> {
        let mut frames: Vec<Frame> = Vec::new();
        let mut floor = Floor::default();
        let mut current = self.place_slot(&mut floor).then_some(floor);
        loop {
            if let Some(mut floor) = current.take() {
                match self.advance(&mut floor) {
                    Step::Done => return Some(()),
                    Step::Gap => self.open_gap(&mut frames, floor),
                    Step::Failed => {}
                }
            }
            if self.out_of_budget || self.settled {
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
                if self.out_of_budget || self.settled {
                    return None;
                }
                let frame = frames.pop().expect("the frame just looked at");
                self.exhausted(frame);
            }
        }
    }

    /// Opens a frame for the gap after the store's revision, unless it is a known dead end.
    fn open_gap(&mut self, frames: &mut Vec<Frame>, floor: Floor) {
        let revision = self.store.revision + 1;
        let memo_key = (!self.plan.past_read[revision as usize])
            .then(|| memo_key(revision, &self.used_bits, &self.store));
        if memo_key.as_ref().is_some_and(|key| self.memo.contains(key)) {
            return;
        }
        let revokes = self.writing_revokes(revision);
        frames.push(Frame {
            revision,
            floor,
            revokes,
            candidates: None,
            chosen: None,
            tried: FastSet::default(),
            accepted: false,
            refused_by: None,
            memo_key,
        });
    }

    /// Places revisions after the store's while their writers are known.
    fn advance(&mut self, floor: &mut Floor) -> Step {
        while self.store.revision < self.plan.revision_max {
            let revision = self.store.revision + 1;
            if self.meter.step_expired() {
                self.out_of_budget = true;
                return Step::Failed;
            }
            let writer = match self.certain_writer(revision) {
                Err(()) => return Step::Failed,
                Ok(None) => return Step::Gap,
                Ok(Some(writer)) => writer,
            };
            if !self.place_writer(floor, revision, writer) {
                return Step::Failed;
            }
        }
        Step::Done
    }

    /// Places `writer` as the writer of `revision`, checks what it wrote against the evidence,
    /// then places the rest of the revision's operations.
    fn place_writer(&mut self, floor: &mut Floor, revision: i64, writer: usize) -> bool {
        if !self.place(floor, writer) {
            return false;
        }
        let changes = self.store.changes_at(revision);
        if let Some(witness) = self
            .plan
            .contradiction(self.operations, &self.store, &changes, None)
        {
            let kind = FailureKind::Contradicted {
                writer: Some(writer),
                witness,
            };
            let _: Option<()> = self.fail(revision, kind);
            return false;
        }
        self.place_slot(floor)
    }

    /// The completed operation that certainly wrote `revision`, if one did. `Ok(None)` means no
    /// such response claims the revision; `Err` that two do.
    fn certain_writer(&mut self, revision: i64) -> Result<Option<usize>, ()> {
        match self.plan.writers.get(revision) {
            [writer] => Ok(Some(*writer)),
            [first, second, ..] => {
                let kind = FailureKind::TwoWriters {
                    first: *first,
                    second: *second,
                };
                // Two responses claim the revision whatever stands in the gaps.
                self.settle(revision, self.store.revision, kind);
                Err(())
            }
            [] => Ok(None),
        }
    }

    /// The revokes naming `revision` that would write it on the store just below it: their
    /// lease holds keys.
    fn writing_revokes(&self, revision: i64) -> Vec<usize> {
        self.plan
            .others
            .get(revision)
            .iter()
            .copied()
            .filter(|&index| match self.operations[index].input {
                Request::LeaseRevoke { id } => self.store.lease_holds_keys(id),
                _ => false,
            })
            .collect()
    }

    /// The next filler that can stand in the frame's gap, with the walk placed through the
    /// gap's slot; `None` when there is none left.
    fn next_candidate(&mut self, frame: &mut Frame) -> Option<Floor> {
        let revision = frame.revision;
        self.rewind(revision - 1);
        while !frame.revokes.is_empty() {
            let revoke = frame.revokes.remove(0);
            if self.meter.step_expired() {
                self.out_of_budget = true;
                return None;
            }
            let mut next = frame.floor;
            if self.place_writer(&mut next, revision, revoke) {
                frame.accepted = true;
                return Some(next);
            }
            if self.out_of_budget || self.settled {
                return None;
            }
            self.rewind(revision - 1);
        }
        if frame.candidates.is_none() {
            frame.candidates = Some(self.candidates(revision, true));
        }
        let candidates = frame.candidates.as_mut().expect("just computed");
        // Each candidate is looked at on the store just below the gap.
        while let Some(position) = {
            self.rewind(revision - 1);
            candidates.next(&self.used, &self.plan.index, &self.store)
        } {
            let filler = self.plan.fillers[position];
            if !frame.tried.insert(self.plan.classes[position]) {
                continue;
            }
            if self.meter.step_expired() {
                self.out_of_budget = true;
                return None;
            }
            match self.stand_in(revision, filler) {
                Ok(()) => {}
                Err(Some(witness)) => {
                    frame.refused_by.get_or_insert(witness);
                    continue;
                }
                Err(None) => continue,
            }
            frame.accepted = true;
            self.take(position);
            frame.chosen = Some(position);
            self.record_writer(revision, filler, true);
            let mut next = frame.floor;
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

    /// Applies `filler` on top of the store rewound to just below `revision`: `Err(None)` if
    /// it does not write that revision, `Err(Some(witness))` if what it writes goes against the
    /// evidence.
    fn stand_in(&mut self, revision: i64, filler: usize) -> Result<(), Option<Witness>> {
        self.rewind(revision - 1);
        if !self
            .store
            .apply(&self.operations[filler].input)
            .is_ok_and(|response| response.header().revision == revision)
        {
            return Err(None);
        }
        let changes = self.store.changes_at(revision);
        match self
            .plan
            .contradiction(self.operations, &self.store, &changes, Some(filler))
        {
            Some(witness) => Err(Some(witness)),
            None => Ok(()),
        }
    }

    /// The fillers that may stand in the gap at `revision` (the store is just below it):
    /// unused, invoked by the time the revision was seen, those that put the key with the
    /// earliest deadline for puts first; by invoke time otherwise, so that of interchangeable
    /// ones the earliest comes first. With `narrow`, only those that can do what the
    /// revision's first fact saw.
    fn candidates(&self, revision: i64, narrow: bool) -> Candidates {
        let plan = self.plan;
        let observed_by_ns = plan.observed_by_ns(revision);
        // Fillers are in invoke order; one invoked after the revision was seen is too late.
        let end = plan
            .fillers
            .partition_point(|&filler| self.operations[filler].invoke_ns <= observed_by_ns);
        let deadlines = plan.deadlines(&self.store, revision);
        let deadline = |position: usize| {
            plan.index.put_keys[position]
                .iter()
                .filter_map(|key| deadlines.get(key).copied())
                .min()
        };
        let first_fact = plan.facts.at(revision).first().filter(|_| narrow);
        let mut listed: Vec<usize> = match first_fact {
            Some(fact) => plan.index.able(fact.key, &fact.seen, &self.store),
            None => {
                let mut listed: Vec<usize> = deadlines
                    .keys()
                    .filter_map(|&key| plan.index.by_put_key(key))
                    .flatten()
                    .copied()
                    .collect();
                listed.sort_unstable();
                listed.dedup();
                listed
            }
        };
        listed.retain(|&position| position < end && !self.used[position]);
        listed.sort_by_key(|&position| deadline(position).unwrap_or(i64::MAX));
        match first_fact {
            Some(_) => Candidates::narrowed(listed),
            None => {
                let keys = deadlines.keys().map(|key| key.to_string()).collect();
                Candidates::all(listed, end, keys)
            }
        }
    }

    /// Every candidate of the frame failed: remember the dead end, and say why if nothing could
    /// even stand in the gap.
    fn exhausted(&mut self, frame: Frame) {
        let recorded = self
            .deepest
            .as_ref()
            .is_none_or(|deepest| frame.revision > deepest.revision);
        if !frame.accepted && recorded {
            // A narrowed list left out fillers the evidence refuses; which refusal comes first
            // is told by going through every candidate.
            let refused_by = match &frame.candidates {
                Some(candidates) if candidates.narrowed => self.first_refusal(frame.revision),
                _ => frame.refused_by,
            };
            let kind = match refused_by {
                Some(witness) => FailureKind::Contradicted {
                    writer: None,
                    witness,
                },
                None => FailureKind::NoWriter,
            };
            let _: Option<()> = self.fail_at(frame.revision, frame.revision - 1, kind);
        }
        if let Some(key) = frame.memo_key
            && !self.meter.memo_full(self.memo.len())
        {
            self.memo.insert(key);
        }
    }

    /// What refuses the first candidate of the gap at `revision` that writes it, going
    /// through all of them in order (for the account of a failure, so no steps are counted).
    fn first_refusal(&mut self, revision: i64) -> Option<Witness> {
        self.rewind(revision - 1);
        let mut candidates = self.candidates(revision, false);
        let mut tried = FastSet::default();
        let mut refusal = None;
        while let Some(position) = {
            self.rewind(revision - 1);
            candidates.next(&self.used, &self.plan.index, &self.store)
        } {
            if !tried.insert(self.plan.classes[position]) {
                continue;
            }
            if let Err(Some(witness)) = self.stand_in(revision, self.plan.fillers[position]) {
                refusal = Some(witness);
                break;
            }
        }
        self.rewind(revision - 1);
        refusal
    }

    fn take(&mut self, position: usize) {
        self.used[position] = true;
        self.used_bits[position / 64] |= 1 << (position % 64);
    }

    fn release(&mut self, position: usize) {
        self.used[position] = false;
        self.used_bits[position / 64] &= !(1 << (position % 64));
    }

    /// Takes the path back to just after `revision`'s slot: the store, and the writers chosen
    /// after it.
    fn rewind(&mut self, revision: i64) {
        self.store.rewind(revision);
        while self.chosen.last().is_some_and(|(at, _)| *at > revision) {
            self.chosen.pop();
        }
        self.placed_through = self.placed_through.min(revision);
    }

    /// Notes the writer of `revision` on the current path; `chosen` when it is not the
    /// revision's certain writer.
    fn record_writer(&mut self, revision: i64, writer: usize, chosen: bool) {
        self.writers[revision as usize] = Some(writer);
        self.placed_through = revision;
        if chosen {
            self.chosen.push((revision, writer));
        }
    }

    /// Applies a completed operation, checking its response and its place in real time.
    fn place(&mut self, floor: &mut Floor, index: usize) -> bool {
        let operation = &self.operations[index];
        let observed = operation
            .output()
            .expect("only completed operations are placed");
        let revision = observed.header().revision;
        let revision_before = self.store.revision;
        if let Err(expected) = self.answer(index) {
            // The path is abandoned, and whoever resumes it rewinds the store first.
            let kind = FailureKind::WrongResponse {
                operation: index,
                expected,
            };
            let _: Option<()> = self.fail_at(revision, revision_before, kind);
            return false;
        }
        if floor.floor_ns > operation.return_ns() {
            let forced_by = floor.floor_owner.unwrap_or(index);
            let kind = FailureKind::TooLate {
                operation: index,
                floor_ns: floor.floor_ns,
                forced_by,
            };
            // The floor comes from completed operations placed by their revisions, the same on
            // every path (a filler is invoked before any response at or above its gap returns,
            // so it never raises the floor past one). Only a revoke's place depends on the
            // gaps: whether it writes, so whether it comes before the rest of its revision.
            let revoke =
                |index: usize| matches!(self.operations[index].input, Request::LeaseRevoke { .. });
            if revoke(index) || revoke(forced_by) {
                let _: Option<()> = self.fail(revision, kind);
            } else {
                self.settle(revision, self.store.revision, kind);
            }
            return false;
        }
        let certain = certainly_writes(observed);
        if certain || revision > revision_before {
            self.record_writer(revision, index, !certain);
        }
        self.advance_floor(floor, index);
        true
    }

    /// Applies a completed operation to the store; `Err` with what the store answers instead
    /// (`None` for an error) if that is not its response. A read is compared in place.
    fn answer(&mut self, index: usize) -> Result<(), Option<Response>> {
        let operation = &self.operations[index];
        let observed = operation
            .output()
            .expect("only completed operations are placed");
        if self.store.answers_range(&operation.input, observed) == Some(true) {
            return Ok(());
        }
        let expected = self
            .store
            .apply(&with_granted_id(&operation.input, Some(observed)));
        match expected {
            Ok(expected) if responses_match(&expected, observed) => Ok(()),
            expected => Err(expected.ok()),
        }
    }

    /// Places the non-writing operations of the store's revision. They are unordered among
    /// themselves, so each is checked against the writer's floor, and the next writer must
    /// come after all of them. Compactions are the exception: they follow one another in the
    /// order of their targets, so each is checked against the floor the one before left.
    fn place_slot(&mut self, floor: &mut Floor) -> bool {
        let revision = self.store.revision;
        let writer = self.writers[revision as usize].filter(|_| revision > 1);
        let slot_floor = *floor;
        let mut compaction_floor = slot_floor;
        let mut latest = (slot_floor.floor_ns, slot_floor.floor_owner);
        let plan = self.plan;
        for &index in plan.others.get(revision) {
            if Some(index) == writer {
                continue;
            }
            let compaction = matches!(self.operations[index].input, Request::Compact { .. });
            *floor = if compaction {
                compaction_floor
            } else {
                slot_floor
            };
            if !self.place(floor, index) {
                return false;
            }
            if compaction {
                compaction_floor = *floor;
            }
            latest = latest.max((floor.floor_ns, floor.floor_owner));
        }
        (floor.floor_ns, floor.floor_owner) = latest;
        true
    }

    /// The operation's greedy linearization point becomes the floor for what follows.
    fn advance_floor(&self, floor: &mut Floor, index: usize) {
        let invoke_ns = self.operations[index].invoke_ns;
        if invoke_ns > floor.floor_ns {
            floor.floor_ns = invoke_ns;
            floor.floor_owner = Some(index);
        }
    }

    /// The writers of revisions 2 through `revision` on the current path.
    fn writers_through(&self, revision: i64) -> BTreeMap<i64, usize> {
        let last = clamp(revision.min(self.placed_through), self.writers.len() - 1);
        (2..=last)
            .filter_map(|at| self.writers[at].map(|writer| (at as i64, writer)))
            .collect()
    }

    /// Records a failure against the store's current revision; always `None`, to propagate.
    fn fail<T>(&mut self, revision: i64, kind: FailureKind) -> Option<T> {
        self.fail_at(revision, self.store.revision, kind)
    }

    /// Records a failure if it got further than any before; always `None`, to propagate.
    fn fail_at<T>(&mut self, revision: i64, state_revision: i64, kind: FailureKind) -> Option<T> {
        if self
            .deepest
            .as_ref()
            .is_none_or(|deepest| revision > deepest.revision)
        {
            self.deepest = Some(Deepest {
                revision,
                kind,
                state_revision,
                writers_through: self.placed_through.min(state_revision),
                chosen: self.chosen.clone(),
            });
        }
        None
    }

    /// Records a failure that no choice at a gap can undo, and ends the search: it is the
    /// failure to report, however deep others went.
    fn settle(&mut self, revision: i64, state_revision: i64, kind: FailureKind) {
        self.deepest = None;
        let _: Option<()> = self.fail_at(revision, state_revision, kind);
        self.settled = true;
    }

    /// The failure in full: the path's store through the failure and its writers, rebuilt by
    /// applying the path's writers in revision order.
    fn rebuild(&self, deepest: Deepest) -> Failure {
        let chosen: BTreeMap<i64, usize> = deepest.chosen.into_iter().collect();
        let mut store = Store::default();
        let mut writers = BTreeMap::new();
        for revision in 2..=deepest.state_revision {
            let certain = match self.plan.writers.get(revision) {
                [writer] => Some(*writer),
                _ => None,
            };
            // Past the placed writers only the failing operation itself can have written.
            let Some(writer) = chosen
                .get(&revision)
                .copied()
                .or(certain)
                .or_else(|| deepest.kind.operation())
            else {
                break;
            };
            let operation = &self.operations[writer];
            let _ = store.apply(&with_granted_id(&operation.input, operation.output()));
            if revision <= deepest.writers_through {
                writers.insert(revision, writer);
            }
        }
        Failure {
            revision: deepest.revision,
            kind: deepest.kind,
            store,
            state_revision: deepest.state_revision,
            writers,
        }
    }
}
