//! A string map with get/put/append, as in Porcupine's kv tests. A missing key reads as "".

use std::collections::BTreeMap;

use super::{Model, partition_by_key};
use crate::operation::Operation;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvInput {
    Get { key: String },
    Put { key: String, value: String },
    Append { key: String, value: String },
}

impl KvInput {
    pub fn key(&self) -> &str {
        match self {
            KvInput::Get { key } | KvInput::Put { key, .. } | KvInput::Append { key, .. } => key,
        }
    }
}

/// A get answers the value it read; puts and appends answer nothing.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOutput {
    Value(String),
    Done,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvModel;

impl Model for KvModel {
    type Input = KvInput;
    type Output = KvOutput;
    /// Keys never written are absent; partitions hold one key, so the map stays tiny.
    type State = BTreeMap<String, String>;

    fn init(&self) -> Self::State {
        BTreeMap::new()
    }

    fn step(
        &self,
        state: &Self::State,
        input: &KvInput,
        output: Option<&KvOutput>,
    ) -> Option<Self::State> {
        match input {
            KvInput::Get { key } => {
                let current = state.get(key).map_or("", String::as_str);
                match output {
                    None => Some(state.clone()),
                    Some(KvOutput::Value(seen)) => (seen == current).then(|| state.clone()),
                    Some(KvOutput::Done) => None,
                }
            }
            KvInput::Put { key, value } => {
                let mut next = state.clone();
                next.insert(key.clone(), value.clone());
                Some(next)
            }
            KvInput::Append { key, value } => {
                let mut next = state.clone();
                next.entry(key.clone()).or_default().push_str(value);
                Some(next)
            }
        }
    }

    fn may_change_state(&self, input: &KvInput) -> bool {
        !matches!(input, KvInput::Get { .. })
    }

    fn partition(&self, operations: &[Operation<KvInput, KvOutput>]) -> Vec<Vec<usize>> {
        partition_by_key(operations, |operation| operation.input.key().to_string())
    }

    fn describe_operation(&self, input: &KvInput, output: Option<&KvOutput>) -> String {
        match (input, output) {
            (KvInput::Get { key }, Some(KvOutput::Value(value))) => {
                format!("get {key:?} -> {value:?}")
            }
            (KvInput::Get { key }, _) => format!("get {key:?}"),
            (KvInput::Put { key, value }, _) => format!("put {key:?} = {value:?}"),
            (KvInput::Append { key, value }, _) => format!("append {key:?} += {value:?}"),
        }
    }

    fn describe_state(&self, state: &Self::State) -> String {
        if state.is_empty() {
            return "every key empty".to_string();
        }
        let entries: Vec<String> = state
            .iter()
            .map(|(key, value)| format!("{key:?} = {value:?}"))
            .collect();
        entries.join(", ")
    }
}
