//! Sequential specifications: what a correct, one-at-a-time system answers.
//!
//! A model says, for a state and an operation, whether the operation's output is possible and
//! which state follows. The searches in [`crate::search`] and [`crate::reference`] only ever ask
//! a model that question, so one model serves every algorithm.

use std::fmt::Debug;
use std::hash::Hash;

use crate::operation::Operation;

pub mod etcd;
pub mod kv;
pub mod register;

pub trait Model {
    type Input: Clone + Debug;
    type Output: Clone + Debug;
    type State: Clone + Eq + Hash + Debug;

    fn init(&self) -> Self::State;

    /// The state after `input`, if `output` is what a correct system could answer in `state`.
    /// `output` is `None` for an operation with an unknown outcome: any answer is possible, and
    /// the returned state is the one where the operation took effect.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// False for operations that never change the state (reads). An effect-free operation with
    /// an unknown outcome constrains nothing, so the searches drop it.
    fn may_change_state(&self, _input: &Self::Input) -> bool {
        true
    }

    /// Groups of operations that can be checked independently, each sorted by index. A history
    /// is linearizable if and only if every group is (e.g. one group per key of a kv map).
    fn partition(&self, operations: &[Operation<Self::Input, Self::Output>]) -> Vec<Vec<usize>> {
        vec![(0..operations.len()).collect()]
    }

    fn describe_operation(&self, input: &Self::Input, output: Option<&Self::Output>) -> String;

    fn describe_state(&self, state: &Self::State) -> String;
}

/// Groups operation indices by a key, in key order, so partitions come out deterministically.
pub(crate) fn partition_by_key<T, K: Ord>(
    items: &[T],
    key_of: impl Fn(&T) -> K,
) -> Vec<Vec<usize>> {
    let mut groups = std::collections::BTreeMap::<K, Vec<usize>>::new();
    for (index, item) in items.iter().enumerate() {
        groups.entry(key_of(item)).or_default().push(index);
    }
    groups.into_values().collect()
}
