//! A brute-force linearizability checker: it tries every order. Exponential, so only for small
//! histories; the property tests hold every fast algorithm to its answers.

use crate::model::Model;
use crate::operation::Operation;

/// Whether some order of the operations respects real time and the model. Completed operations
/// must all be placed; open ones (unknown outcome) may be placed anywhere after their invoke, or
/// left out.
pub fn is_linearizable<M: Model>(model: &M, operations: &[Operation<M::Input, M::Output>]) -> bool {
    let mut placed = vec![false; operations.len()];
    extend(model, operations, &mut placed, &model.init())
}

fn extend<M: Model>(
    model: &M,
    operations: &[Operation<M::Input, M::Output>],
    placed: &mut [bool],
    state: &M::State,
) -> bool {
    let all_completed_placed = operations
        .iter()
        .zip(placed.iter())
        .all(|(operation, &is_placed)| is_placed || operation.is_open());
    if all_completed_placed {
        return true;
    }
    for candidate in 0..operations.len() {
        if placed[candidate] || !may_go_next(operations, placed, candidate) {
            continue;
        }
        let operation = &operations[candidate];
        let Some(next) = model.step(state, &operation.input, operation.output()) else {
            continue;
        };
        placed[candidate] = true;
        let found = extend(model, operations, placed, &next);
        placed[candidate] = false;
        if found {
            return true;
        }
    }
    false
}

/// An operation may go next if no unplaced operation finished before it started.
fn may_go_next<I, O>(operations: &[Operation<I, O>], placed: &[bool], candidate: usize) -> bool {
    operations
        .iter()
        .zip(placed)
        .all(|(other, &is_placed)| is_placed || !other.precedes(&operations[candidate]))
}
