//! Deterministic history generators, for benchmarks and property tests.
//!
//! Each generator simulates a correct system: clients invoke operations at random times, each
//! operation takes effect at a random point inside its interval, and outputs are computed by
//! applying the operations to the model in that order. Some operations time out: their outcome
//! is unknown, and whether they took effect is drawn too. The result is linearizable by
//! construction; the property tests mutate outputs to make illegal ones.

use crate::history::{Request, Response};
use crate::model::Model;
use crate::model::etcd::EtcdModel;
use crate::model::kv::{KvInput, KvModel, KvOutput};
use crate::model::register::{RegisterInput, RegisterModel, RegisterOutput};
use crate::operation::{Completion, Operation};

mod workload;
pub use workload::{Workload, etcd_workload};

/// A small, seeded generator (SplitMix64): the same seed gives the same history everywhere.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound`; `bound` must be positive.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The shape of a generated history.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub clients: u64,
    pub operations: usize,
    /// Percentage of operations whose outcome is unknown.
    pub unknown_percent: u64,
}

/// A correct history of a model: `next_input` draws each operation's input.
pub fn correct_history<M: Answering>(
    model: &M,
    shape: Shape,
    rng: &mut SplitMix64,
    mut next_input: impl FnMut(&mut SplitMix64, usize) -> M::Input,
) -> Vec<Operation<M::Input, M::Output>> {
    // Each client runs its operations back to back, with random gaps and durations.
    let mut planned = Vec::with_capacity(shape.operations);
    let mut client_free_ns = vec![0u64; shape.clients as usize];
    for index in 0..shape.operations {
        let client = rng.below(shape.clients) as usize;
        let invoke_ns = client_free_ns[client] + rng.below(50);
        let duration_ns = 1 + rng.below(100);
        let unknown = rng.chance(shape.unknown_percent);
        // A client whose request timed out moves on; the request stays open forever.
        client_free_ns[client] = invoke_ns + duration_ns + 1;
        planned.push(Planned {
            effect_ns: invoke_ns + rng.below(duration_ns),
            took_effect: !unknown || rng.chance(50),
            unknown,
            return_ns: invoke_ns + duration_ns,
            operation: Operation::open(
                client as u64,
                index as u64,
                invoke_ns,
                next_input(rng, index),
            ),
        });
    }
    planned.sort_by_key(|planned| (planned.effect_ns, planned.operation.label));
    let mut state = model.init();
    let mut operations = Vec::with_capacity(planned.len());
    for Planned {
        took_effect,
        unknown,
        return_ns,
        mut operation,
        ..
    } in planned
    {
        if took_effect {
            let Some(output) = model.answer(&mut state, &operation.input) else {
                continue; // e.g. a failed compare-and-set: it did not happen and is not recorded
            };
            if !unknown {
                operation.completion = Some(Completion { return_ns, output });
            }
        }
        operations.push(operation);
    }
    operations.sort_by_key(|operation| (operation.invoke_ns, operation.label));
    operations
}

/// An operation before outputs are known: when it takes effect, and whether it does at all.
struct Planned<I, O> {
    effect_ns: u64,
    took_effect: bool,
    unknown: bool,
    return_ns: u64,
    operation: Operation<I, O>,
}

/// Models that can say what they answer, which the generators need.
pub trait Answering: Model {
    /// Applies `input` to `state` as a correct system does and returns the output; `None`, with
    /// the state left alone, if the operation fails (and so is not recorded). The state is
    /// changed in place: a copy per operation would make long histories quadratic to generate.
    fn answer(&self, state: &mut Self::State, input: &Self::Input) -> Option<Self::Output>;
}

impl Answering for RegisterModel {
    fn answer(&self, state: &mut Option<i64>, input: &RegisterInput) -> Option<RegisterOutput> {
        let output = match input {
            RegisterInput::Read => RegisterOutput::Read(*state),
            RegisterInput::Write(_) => RegisterOutput::Done,
            RegisterInput::Cas { expected, .. } if *state == Some(*expected) => {
                RegisterOutput::Done
            }
            RegisterInput::Cas { .. } => return None,
        };
        *state = self.step(state, input, Some(&output))?;
        Some(output)
    }
}

impl Answering for KvModel {
    fn answer(&self, state: &mut Self::State, input: &KvInput) -> Option<KvOutput> {
        let output = match input {
            KvInput::Get { key } => KvOutput::Value(state.get(key).cloned().unwrap_or_default()),
            _ => KvOutput::Done,
        };
        *state = self.step(state, input, Some(&output))?;
        Some(output)
    }
}

impl Answering for EtcdModel {
    fn answer(&self, state: &mut Self::State, input: &Request) -> Option<Response> {
        state.apply(input).ok()
    }
}

/// A Jepsen-style register history: reads, writes of small values and compare-and-sets.
pub fn register_history(seed: u64, shape: Shape) -> Vec<Operation<RegisterInput, RegisterOutput>> {
    let mut rng = SplitMix64::new(seed);
    correct_history(&RegisterModel, shape, &mut rng, |rng, _| {
        match rng.below(5) {
            0 | 1 => RegisterInput::Read,
            2 | 3 => RegisterInput::Write(rng.below(5) as i64),
            _ => RegisterInput::Cas {
                expected: rng.below(5) as i64,
                new: rng.below(5) as i64,
            },
        }
    })
}

/// A kv history over `keys` keys with unique appended and put values.
pub fn kv_history(seed: u64, shape: Shape, keys: u64) -> Vec<Operation<KvInput, KvOutput>> {
    let mut rng = SplitMix64::new(seed);
    correct_history(&KvModel, shape, &mut rng, |rng, index| {
        let key = rng.below(keys).to_string();
        match rng.below(4) {
            0 | 1 => KvInput::Get { key },
            2 => KvInput::Append {
                key,
                value: format!("x {index} y"),
            },
            _ => KvInput::Put {
                key,
                value: format!("p{index}"),
            },
        }
    })
}

/// An etcd history over two keys: gets, puts, deletes and a compare-and-put transaction.
pub fn etcd_history(seed: u64, shape: Shape) -> Vec<Operation<Request, Response>> {
    let mut rng = SplitMix64::new(seed);
    correct_history(&EtcdModel, shape, &mut rng, |rng, index| {
        etcd_request(rng, index)
    })
}

fn etcd_request(rng: &mut SplitMix64, index: usize) -> Request {
    let key = ["a", "b"][rng.below(2) as usize].to_string();
    match rng.below(5) {
        0 | 1 => Request::Range {
            key,
            range_end: String::new(),
            revision: 0,
            limit: 0,
            keys_only: false,
            count_only: false,
            serializable: false,
        },
        2 => Request::Put {
            key,
            value: format!("v{index}"),
            lease: 0,
            prev_kv: rng.chance(50),
        },
        3 => Request::DeleteRange {
            key,
            range_end: String::new(),
            prev_kv: false,
        },
        _ => Request::Txn {
            compares: vec![crate::history::Compare {
                key: key.clone(),
                range_end: String::new(),
                target: crate::history::CompareTarget::Version(0),
                result: crate::history::CompareResult::Equal,
            }],
            success: vec![Request::Put {
                key,
                value: format!("t{index}"),
                lease: 0,
                prev_kv: false,
            }],
            failure: vec![],
        },
    }
}
