//! The revision-guided pass for etcd histories.
//!
//! A successful response names the store revision after the request, so revisions give most of
//! the order directly: the writer of revision `r` comes after the writer of `r - 1`, and every
//! non-writing operation whose header says `r` sits between the writers of `r` and `r + 1`. The
//! pass walks revisions upward, applying each writer to the model and checking every response
//! against it, and checks real time with one greedy sweep: each operation is given the earliest
//! linearization point the order allows, which must not come after its return.
//!
//! Only a revision that no successful response claims is left open: some request with an
//! unknown outcome (or a lease expiry) must have written it. There the pass searches, trying
//! each such request in turn and backtracking if a later revision contradicts the choice. The
//! search is exhaustive over those choices, so the verdict is exact for the model; it is fast
//! because the gaps are few and a wrong choice is usually refuted within a revision or two.

use std::collections::BTreeMap;

use crate::budget::Meter;
use crate::etcd::EtcdOperation;
use crate::history::{Request, Response};
use crate::model::etcd::{Store, responses_match, with_granted_id};

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
}

impl FailureKind {
    /// The operation the failure is about, if there is one.
    pub fn operation(&self) -> Option<usize> {
        match self {
            FailureKind::TwoWriters { second, .. } => Some(*second),
            FailureKind::WrongResponse { operation, .. }
            | FailureKind::TooLate { operation, .. } => Some(*operation),
            FailureKind::NoWriter => None,
        }
    }
}

pub fn check(operations: &[EtcdOperation], meter: &mut Meter) -> RevisionOutcome {
    let plan = Plan::new(operations);
    let mut pass = Pass {
        operations,
        plan: &plan,
        meter,
        deepest: None,
        out_of_budget: false,
    };
    let cursor = Cursor {
        store: Store::default(),
        floor_ns: 0,
        floor_owner: None,
        used: vec![false; operations.len()],
        writers: BTreeMap::new(),
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
        None => pass
            .place_slot(cursor)
            .and_then(|cursor| pass.advance(cursor)),
    };
    match outcome {
        Some(cursor) => RevisionOutcome::Linearizable {
            store: cursor.store,
            writers: cursor.writers,
        },
        None if pass.out_of_budget => RevisionOutcome::Unknown,
        None => RevisionOutcome::NotLinearizable(pass.deepest.expect("a failed pass records why")),
    }
}

/// The operations grouped by the revision their response names.
#[derive(Debug)]
struct Plan {
    /// Per revision: completed operations that certainly wrote it.
    writers: BTreeMap<i64, Vec<usize>>,
    /// Per revision: the other completed operations that name it (reads, and revokes, which
    /// write only if the lease holds keys). Compactions come last, so reads in the same slot
    /// are not refused by them.
    others: BTreeMap<i64, Vec<usize>>,
    /// Operations with unknown outcomes that might write: the candidates for open revisions.
    fillers: Vec<usize>,
    revision_max: i64,
    /// Per revision `r`, the earliest return of a response naming `r` or later: a write of
    /// `r` must have been invoked by then.
    observed_by_ns: BTreeMap<i64, u64>,
}

impl Plan {
    fn new(operations: &[EtcdOperation]) -> Self {
        let mut plan = Plan {
            writers: BTreeMap::new(),
            others: BTreeMap::new(),
            fillers: Vec::new(),
            revision_max: 1,
            observed_by_ns: BTreeMap::new(),
        };
        for (index, operation) in operations.iter().enumerate() {
            let Some(response) = operation.output() else {
                if !matches!(
                    operation.input,
                    Request::Range { .. }
                        | Request::LeaseGrant { .. }
                        | Request::LeaseKeepAlive { .. }
                ) {
                    plan.fillers.push(index);
                }
                continue;
            };
            let revision = response.header().revision;
            plan.revision_max = plan.revision_max.max(revision);
            let group = if certainly_writes(response) {
                &mut plan.writers
            } else {
                &mut plan.others
            };
            group.entry(revision).or_default().push(index);
        }
        for slot in plan.others.values_mut() {
            slot.sort_by_key(|&index| matches!(operations[index].input, Request::Compact { .. }));
        }
        plan.fillers
            .sort_by_key(|&index| (operations[index].invoke_ns, index));
        let mut earliest = u64::MAX;
        for revision in (1..=plan.revision_max).rev() {
            let named = plan
                .writers
                .get(&revision)
                .into_iter()
                .chain(plan.others.get(&revision))
                .flatten();
            earliest = named
                .map(|&index| operations[index].return_ns())
                .fold(earliest, u64::min);
            plan.observed_by_ns.insert(revision, earliest);
        }
        plan
    }
}

impl Plan {
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

/// One point of the walk: the store through some revision, and the greedy real-time floor.
#[derive(Clone, Debug)]
struct Cursor {
    store: Store,
    /// The earliest time the next operation in the order can be linearized.
    floor_ns: u64,
    floor_owner: Option<usize>,
    used: Vec<bool>,
    writers: BTreeMap<i64, usize>,
}

struct Pass<'a> {
    operations: &'a [EtcdOperation],
    plan: &'a Plan,
    meter: &'a mut Meter,
    deepest: Option<Failure>,
    out_of_budget: bool,
}

impl Pass<'_> {
    /// Places every revision after the cursor's; `None` if no placement works.
    fn advance(&mut self, mut cursor: Cursor) -> Option<Cursor> {
        while cursor.store.revision < self.plan.revision_max {
            let revision = cursor.store.revision + 1;
            if self.meter.step_expired() {
                self.out_of_budget = true;
                return None;
            }
            match self.known_writer(&cursor, revision)? {
                Some(writer) => {
                    cursor = self.place(cursor, writer)?;
                    cursor = self.place_slot(cursor)?;
                }
                None => return self.fill_gap(cursor, revision),
            }
        }
        Some(cursor)
    }

    /// The completed operation that wrote `revision`: the one certain writer, or a revoke
    /// that deletes keys. `Some(None)` means no response claims the revision.
    fn known_writer(&mut self, cursor: &Cursor, revision: i64) -> Option<Option<usize>> {
        match self.plan.writers.get(&revision).map(Vec::as_slice) {
            Some([writer]) => return Some(Some(*writer)),
            Some([first, second, ..]) => {
                let kind = FailureKind::TwoWriters {
                    first: *first,
                    second: *second,
                };
                return self.fail(cursor, revision, kind);
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
        Some(revoke)
    }

    /// Tries each request with an unknown outcome as the writer of an unclaimed revision.
    fn fill_gap(&mut self, cursor: Cursor, revision: i64) -> Option<Cursor> {
        if std::env::var("RPROF").is_ok() { eprintln!("gap {revision}"); }
        let observed_by_ns = self
            .plan
            .observed_by_ns
            .get(&revision)
            .copied()
            .unwrap_or(u64::MAX);
        for &filler in &self.plan.fillers {
            // Fillers are in invoke order; one invoked after the revision was seen is too late.
            if self.operations[filler].invoke_ns > observed_by_ns {
                break;
            }
            if cursor.used[filler] {
                continue;
            }
            let mut store = cursor.store.clone();
            let input = &self.operations[filler].input;
            if !store
                .apply(input)
                .is_ok_and(|response| response.header().revision == revision)
            {
                continue;
            }
            if std::env::var("RPROF").is_ok() { eprintln!("try {revision} {filler}"); }
            let mut next = cursor.clone();
            next.store = store;
            self.advance_floor(&mut next, filler);
            next.used[filler] = true;
            next.writers.insert(revision, filler);
            if let Some(done) = self.place_slot(next).and_then(|next| self.advance(next)) {
                return Some(done);
            }
            if self.out_of_budget {
                return None;
            }
        }
        if std::env::var("RPROF").is_ok() { eprintln!("exhausted {revision}"); }
        self.fail(&cursor, revision, FailureKind::NoWriter)
    }

    /// Applies a completed operation, checking its response and its place in real time.
    fn place(&mut self, mut cursor: Cursor, index: usize) -> Option<Cursor> {
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
            return self.fail_at(&cursor, revision, revision_before, kind);
        }
        let floor_ns = cursor.floor_ns;
        if floor_ns > operation.return_ns() {
            let forced_by = cursor.floor_owner.unwrap_or(index);
            return self.fail(
                &cursor,
                revision,
                FailureKind::TooLate {
                    operation: index,
                    floor_ns,
                    forced_by,
                },
            );
        }
        if certainly_writes(observed) || revision > revision_before {
            cursor.writers.insert(revision, index);
        }
        self.advance_floor(&mut cursor, index);
        Some(cursor)
    }

    /// Places the non-writing operations of the cursor's revision. They are unordered among
    /// themselves, so each is checked against the writer's floor, and the next writer must
    /// come after all of them.
    fn place_slot(&mut self, cursor: Cursor) -> Option<Cursor> {
        let revision = cursor.store.revision;
        let writer = cursor.writers.get(&revision).copied();
        let (slot_floor, slot_owner) = (cursor.floor_ns, cursor.floor_owner);
        let mut next = cursor;
        let mut latest = (slot_floor, slot_owner);
        for &index in self.plan.others.get(&revision).into_iter().flatten() {
            if Some(index) == writer {
                continue;
            }
            next.floor_ns = slot_floor;
            next.floor_owner = slot_owner;
            next = self.place(next, index)?;
            latest = latest.max((next.floor_ns, next.floor_owner));
        }
        (next.floor_ns, next.floor_owner) = latest;
        Some(next)
    }

    /// The operation's greedy linearization point becomes the floor for what follows.
    fn advance_floor(&self, cursor: &mut Cursor, index: usize) {
        let invoke_ns = self.operations[index].invoke_ns;
        if invoke_ns > cursor.floor_ns {
            cursor.floor_ns = invoke_ns;
            cursor.floor_owner = Some(index);
        }
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
                writers: cursor.writers.clone(),
            });
        }
        None
    }
}
