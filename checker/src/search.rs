//! The general linearizability search: Wing & Gong's algorithm with Lowe's improvements.
//!
//! Operations are laid out as a list of call and return entries in time order. The search walks
//! the list, linearizing any operation whose call it meets if the model accepts it, and
//! backtracks when it meets a return entry: that operation had to be linearized before its own
//! return and could not be. Lowe's memo of (linearized set, state) pairs means no configuration
//! is explored twice, which turns the exponential worst case into something that is rarely seen.
//! Operations with unknown outcomes return "never": they may be linearized or left out.

use std::collections::HashSet;

use crate::budget::Meter;
use crate::model::Model;
use crate::operation::Operation;

/// What one search concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchOutcome<S> {
    Linearizable,
    NotLinearizable(Stuck<S>),
    /// The budget ran out first.
    Unknown,
}

/// The furthest the search got in a failed history: the longest partial linearization found,
/// the state after it, and the operation that then had to be placed but could not be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stuck<S> {
    /// Indices of the linearized operations, in linearization order.
    pub linearized: Vec<usize>,
    pub state: S,
    pub unplaceable: usize,
}

/// Checks every partition of `operations` on its own; indices in the answers are into
/// `operations`. Partitions come back in the model's (deterministic) order.
pub fn check_partitions<M: Model>(
    model: &M,
    operations: &[Operation<M::Input, M::Output>],
    meter: &mut Meter,
) -> Vec<(Vec<usize>, SearchOutcome<M::State>)> {
    model
        .partition(operations)
        .into_iter()
        .map(|members| {
            let part: Vec<_> = members
                .iter()
                .map(|&index| operations[index].clone())
                .collect();
            let outcome = match check(model, &part, meter) {
                SearchOutcome::NotLinearizable(stuck) => SearchOutcome::NotLinearizable(Stuck {
                    linearized: stuck
                        .linearized
                        .iter()
                        .map(|&index| members[index])
                        .collect(),
                    state: stuck.state,
                    unplaceable: members[stuck.unplaceable],
                }),
                other => other,
            };
            (members, outcome)
        })
        .collect()
}

/// Searches for a linearization of the whole of `operations` (no partitioning).
pub fn check<M: Model>(
    model: &M,
    operations: &[Operation<M::Input, M::Output>],
    meter: &mut Meter,
) -> SearchOutcome<M::State> {
    let relevant: Vec<usize> = (0..operations.len())
        .filter(|&index| {
            !operations[index].is_open() || model.may_change_state(&operations[index].input)
        })
        .collect();
    let subset: Vec<_> = relevant
        .iter()
        .map(|&index| operations[index].clone())
        .collect();
    match Search::new(model, &subset).run(meter) {
        SearchOutcome::NotLinearizable(stuck) => SearchOutcome::NotLinearizable(Stuck {
            linearized: stuck
                .linearized
                .iter()
                .map(|&index| relevant[index])
                .collect(),
            state: stuck.state,
            unplaceable: relevant[stuck.unplaceable],
        }),
        other => other,
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    operation: usize,
    is_call: bool,
}

/// A doubly linked list of entries over index arrays, so that lifting an operation out and
/// putting it back (in reverse order, as backtracking does) is O(1).
#[derive(Debug)]
struct EntryList {
    entries: Vec<Entry>,
    next: Vec<usize>,
    prev: Vec<usize>,
    call_node: Vec<usize>,
    return_node: Vec<usize>,
}

/// Node 0 is the head sentinel and node `entries.len() + 1` the tail; entry `i` is node `i + 1`.
const HEAD: usize = 0;

impl EntryList {
    fn new<I, O>(operations: &[Operation<I, O>]) -> Self {
        let mut keyed: Vec<(u64, bool, usize)> = Vec::with_capacity(operations.len() * 2);
        for (index, operation) in operations.iter().enumerate() {
            // At equal times a call sorts before a return, so touching operations overlap.
            keyed.push((operation.invoke_ns, false, index));
            keyed.push((operation.return_ns(), true, index));
        }
        keyed.sort_unstable();
        let entries: Vec<Entry> = keyed
            .iter()
            .map(|&(_, is_return, operation)| Entry {
                operation,
                is_call: !is_return,
            })
            .collect();
        let nodes = entries.len() + 2;
        let mut call_node = vec![0; operations.len()];
        let mut return_node = vec![0; operations.len()];
        for (position, entry) in entries.iter().enumerate() {
            let slot = if entry.is_call {
                &mut call_node
            } else {
                &mut return_node
            };
            slot[entry.operation] = position + 1;
        }
        EntryList {
            entries,
            next: (1..=nodes).collect(),
            prev: (0..nodes).map(|node| node.saturating_sub(1)).collect(),
            call_node,
            return_node,
        }
    }

    fn first(&self) -> usize {
        self.next[HEAD]
    }

    fn entry(&self, node: usize) -> Entry {
        self.entries[node - 1]
    }

    fn lift(&mut self, operation: usize) {
        self.unlink(self.call_node[operation]);
        self.unlink(self.return_node[operation]);
    }

    fn unlift(&mut self, operation: usize) {
        self.relink(self.return_node[operation]);
        self.relink(self.call_node[operation]);
    }

    fn unlink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = next;
        self.prev[next] = prev;
    }

    fn relink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = node;
        self.prev[next] = node;
    }
}

#[derive(Debug)]
struct Search<'a, M: Model> {
    model: &'a M,
    operations: &'a [Operation<M::Input, M::Output>],
    list: EntryList,
    linearized: Bitset,
    /// Linearized operations with the state before each, so backtracking can restore it.
    stack: Vec<(usize, M::State)>,
    state: M::State,
    completed_left: usize,
    deepest: Option<Stuck<M::State>>,
}

impl<'a, M: Model> Search<'a, M> {
    fn new(model: &'a M, operations: &'a [Operation<M::Input, M::Output>]) -> Self {
        Search {
            model,
            operations,
            list: EntryList::new(operations),
            linearized: Bitset::new(operations.len()),
            stack: Vec::new(),
            state: model.init(),
            completed_left: operations
                .iter()
                .filter(|operation| !operation.is_open())
                .count(),
            deepest: None,
        }
    }

    fn run(mut self, meter: &mut Meter) -> SearchOutcome<M::State> {
        let mut memo: HashSet<(Bitset, M::State)> = HashSet::new();
        let mut node = self.list.first();
        while self.completed_left > 0 {
            if meter.step_expired() || meter.memo_full(memo.len()) {
                return SearchOutcome::Unknown;
            }
            let entry = self.list.entry(node);
            if !entry.is_call {
                // Every open operation returns after every completed one, so while completed
                // operations are left, the first return entry belongs to one of them.
                debug_assert!(!self.operations[entry.operation].is_open());
                self.note_stuck(entry.operation);
                match self.backtrack() {
                    Some(resume) => node = resume,
                    None => {
                        return SearchOutcome::NotLinearizable(
                            self.deepest.expect("noted before backtracking"),
                        );
                    }
                }
                continue;
            }
            let operation = &self.operations[entry.operation];
            let next_state = self
                .model
                .step(&self.state, &operation.input, operation.output());
            node = match next_state {
                Some(next_state) if self.remember(&mut memo, entry.operation, &next_state) => {
                    self.linearize(entry.operation, next_state);
                    self.list.first()
                }
                _ => self.list.next[node],
            };
        }
        SearchOutcome::Linearizable
    }

    /// Records the configuration reached by linearizing `operation`; false if seen before.
    fn remember(
        &mut self,
        memo: &mut HashSet<(Bitset, M::State)>,
        operation: usize,
        next_state: &M::State,
    ) -> bool {
        let mut linearized = self.linearized.clone();
        linearized.set(operation, true);
        memo.insert((linearized, next_state.clone()))
    }

    fn linearize(&mut self, operation: usize, next_state: M::State) {
        self.linearized.set(operation, true);
        let previous = std::mem::replace(&mut self.state, next_state);
        self.stack.push((operation, previous));
        self.list.lift(operation);
        if !self.operations[operation].is_open() {
            self.completed_left -= 1;
        }
    }

    /// Undoes the last linearization; returns the node to continue from, just after its call.
    fn backtrack(&mut self) -> Option<usize> {
        let (operation, previous) = self.stack.pop()?;
        self.state = previous;
        self.linearized.set(operation, false);
        self.list.unlift(operation);
        if !self.operations[operation].is_open() {
            self.completed_left += 1;
        }
        Some(self.list.next[self.list.call_node[operation]])
    }

    /// Keeps the first dead end at the greatest depth: the most convincing counterexample.
    fn note_stuck(&mut self, unplaceable: usize) {
        let depth = self.stack.len();
        if self
            .deepest
            .as_ref()
            .is_some_and(|stuck| stuck.linearized.len() >= depth)
        {
            return;
        }
        self.deepest = Some(Stuck {
            linearized: self.stack.iter().map(|&(operation, _)| operation).collect(),
            state: self.state.clone(),
            unplaceable,
        });
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Bitset(Box<[u64]>);

impl Bitset {
    fn new(bits: usize) -> Self {
        Bitset(vec![0; bits.div_ceil(64)].into_boxed_slice())
    }

    fn set(&mut self, bit: usize, value: bool) {
        let mask = 1u64 << (bit % 64);
        if value {
            self.0[bit / 64] |= mask;
        } else {
            self.0[bit / 64] &= !mask;
        }
    }
}
