//! A single read/write/compare-and-set register, as in Jepsen's etcd register test.

use super::Model;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterInput {
    Read,
    Write(i64),
    /// Compare-and-set: if the value is `expected`, set it to `new`.
    Cas {
        expected: i64,
        new: i64,
    },
}

/// What a completed operation answered. Writes and successful compare-and-sets answer nothing;
/// a compare-and-set that failed did not happen and is not in the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterOutput {
    Read(Option<i64>),
    Done,
}

/// The register starts empty (`nil`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegisterModel;

impl Model for RegisterModel {
    type Input = RegisterInput;
    type Output = RegisterOutput;
    type State = Option<i64>;

    fn init(&self) -> Option<i64> {
        None
    }

    fn step(
        &self,
        state: &Option<i64>,
        input: &RegisterInput,
        output: Option<&RegisterOutput>,
    ) -> Option<Option<i64>> {
        match (input, output) {
            (RegisterInput::Read, None) => Some(*state),
            (RegisterInput::Read, Some(RegisterOutput::Read(seen))) => {
                (seen == state).then_some(*state)
            }
            (RegisterInput::Write(value), _) => Some(Some(*value)),
            (RegisterInput::Cas { expected, new }, _) => {
                (*state == Some(*expected)).then_some(Some(*new))
            }
            (RegisterInput::Read, Some(RegisterOutput::Done)) => None,
        }
    }

    fn may_change_state(&self, input: &RegisterInput) -> bool {
        *input != RegisterInput::Read
    }

    fn describe_operation(&self, input: &RegisterInput, output: Option<&RegisterOutput>) -> String {
        match (input, output) {
            (RegisterInput::Read, Some(RegisterOutput::Read(seen))) => {
                format!("read -> {}", show(*seen))
            }
            (RegisterInput::Read, _) => "read".to_string(),
            (RegisterInput::Write(value), _) => format!("write {value}"),
            (RegisterInput::Cas { expected, new }, _) => format!("cas {expected} -> {new}"),
        }
    }

    fn describe_state(&self, state: &Option<i64>) -> String {
        format!("register = {}", show(*state))
    }
}

fn show(value: Option<i64>) -> String {
    value.map_or_else(|| "nil".to_string(), |value| value.to_string())
}
