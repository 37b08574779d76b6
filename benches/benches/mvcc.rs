//! MVCC puts per second, in-process: the core's key-value store applying puts directly, with no
//! Raft, no encoding and no I/O. Target (issue 14): at least 1,000,000 puts per second.
//!
//! The workload is etcd `tools/benchmark put`'s shape: 8-byte keys drawn at random (a fixed
//! xorshift sequence, so every run applies the same puts) from a space of `KEY_SPACE` keys,
//! 256-byte values, no lease. Every key has been put once before measuring, so the measured
//! puts overwrite live keys, as a long-running store does. Two levels:
//!
//! - `mvcc_put/store`: `MvccStore` alone, one write transaction per put
//!   (`write()`, `put`, `end`): the key index and the revision-ordered history.
//! - `mvcc_put/apply`: `KvStore::apply` of a `Request::Put`, what a member runs per committed
//!   entry: validation, the quota check, the lease checks, the put, the mvcc counters and the
//!   watch delivery step (no watchers here). One request is reused with its key rewritten per
//!   put, so it is in cache as a freshly decoded entry would be.
//!
//! Each measured iteration applies `PUTS_PER_ITERATION` puts to a store that lives across
//! iterations; the history grows by one record per put (no compaction), and after
//! `PUTS_PER_STORE` puts the store is replaced by a freshly preloaded one, untimed, so memory
//! stays bounded and every figure is taken with 10,000 to 210,000 records of history.
//! `Throughput::Elements` makes criterion report puts per second.
//!
//! After criterion, the same two figures are printed plainly over `PLAIN_PUTS` puts, per wall
//! second and per CPU second of the bench's thread: on a machine shared with other work, the
//! wall figure also counts the time others held the core.
//!
//! The bench binary uses the `detcd` binary's allocator, mimalloc.
//!
//! Run: `cargo bench -p detcd-benches --bench mvcc`.

use std::hint::black_box;
use std::time::{Duration, Instant as WallInstant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use detcd_benches::{cpu_seconds, profiling};
use detcd_core::kv::mvcc::{MvccStore, Put};
use detcd_core::kv::{KvConfig, KvStore, PutRequest, Request, Response};
use detcd_core::state_machine::{Notifications, StateMachine};

/// The allocator of the `detcd` binary, so that the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const KEY_SPACE: u64 = 10_000;
const VALUE_BYTES: usize = 256;
/// Puts per measured iteration: large enough that the timer's own cost is noise.
const PUTS_PER_ITERATION: u64 = 10_000;
/// Puts a store takes before it is replaced (untimed): bounds the history, and so the memory.
const PUTS_PER_STORE: u64 = 200_000;
/// Puts of the plain figures printed after criterion's.
const PLAIN_PUTS: u64 = 1_000_000;
/// Length of the precomputed key sequence; the measured puts cycle through it.
const SEQUENCE_LEN: usize = 1 << 16;

type Key = [u8; 8];

/// The 8-byte key of slot `slot`: its big-endian number, so key order is slot order.
fn key(slot: u64) -> Key {
    assert!(slot < KEY_SPACE);
    slot.to_be_bytes()
}

/// A fixed pseudo-random sequence of keys (xorshift64), the same on every run.
fn key_sequence() -> Vec<Key> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..SEQUENCE_LEN)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            key(state % KEY_SPACE)
        })
        .collect()
}

fn value() -> Vec<u8> {
    vec![b'v'; VALUE_BYTES]
}

/// A plain put of `value`: no lease, no previous key-value asked for.
fn put(value: Vec<u8>) -> Put {
    Put {
        value: Some(value),
        lease: Some(0),
        prev_kv: false,
    }
}

fn put_request(key: Key) -> Request {
    Request::Put(PutRequest {
        key: key.to_vec(),
        value: value(),
        ..PutRequest::default()
    })
}

/// A store with every key put once.
fn preloaded_store() -> MvccStore {
    let mut store = MvccStore::new();
    for slot in 0..KEY_SPACE {
        let mut txn = store.write();
        txn.put(&key(slot), put(value()));
        txn.end();
    }
    store
}

/// A state machine with every key put once, and the next log index to apply.
struct Member {
    kv: KvStore,
    index: u64,
    notify: Notifications<Response>,
}

impl Member {
    fn preloaded() -> Member {
        let mut member = Member {
            kv: KvStore::new(KvConfig::default()),
            index: 1,
            notify: Notifications::new(),
        };
        for slot in 0..KEY_SPACE {
            let response = member.apply(&put_request(key(slot)));
            assert!(matches!(response, Response::Put(_)), "{response:?}");
        }
        member
    }

    fn apply(&mut self, request: &Request) -> Response {
        self.index += 1;
        let response = self.kv.apply(self.index, request, &mut self.notify);
        assert!(self.notify.is_empty(), "no watchers, no notifications");
        response
    }
}

/// What `time_puts` measured: the wall time of the puts, and the CPU time this thread spent on
/// them where Linux tells it.
#[derive(Clone, Copy, Debug, Default)]
struct Timed {
    wall: Duration,
    cpu_seconds: Option<f64>,
}

/// Time `iters` iterations of `PUTS_PER_ITERATION` puts each with `put(state, key)`, replacing
/// the state with `fresh()` (untimed) every `PUTS_PER_STORE` puts.
fn time_puts<S>(
    iters: u64,
    sequence: &[Key],
    mut fresh: impl FnMut() -> S,
    mut put: impl FnMut(&mut S, &Key),
) -> Timed {
    let mut state = fresh();
    let mut puts_on_state = 0;
    let mut keys = sequence.iter().cycle();
    let mut timed = Timed {
        cpu_seconds: Some(0.0),
        ..Timed::default()
    };
    for _ in 0..iters {
        if puts_on_state >= PUTS_PER_STORE {
            drop(std::mem::replace(&mut state, fresh()));
            puts_on_state = 0;
        }
        let cpu_started = cpu_seconds();
        let started = WallInstant::now();
        for key in keys.by_ref().take(PUTS_PER_ITERATION as usize) {
            put(&mut state, key);
        }
        timed.wall += started.elapsed();
        timed.cpu_seconds = match (timed.cpu_seconds, cpu_started, cpu_seconds()) {
            (Some(total), Some(from), Some(to)) => Some(total + to - from),
            _ => None,
        };
        puts_on_state += PUTS_PER_ITERATION;
    }
    timed
}

fn time_store(iters: u64, sequence: &[Key]) -> Timed {
    let value = value();
    time_puts(iters, sequence, preloaded_store, |store, key| {
        let mut txn = store.write();
        // The value is cloned, as the applier clones it out of the request.
        black_box(txn.put(key, put(value.clone())));
        txn.end();
    })
}

fn time_apply(iters: u64, sequence: &[Key]) -> Timed {
    let mut request = put_request(key(0));
    time_puts(iters, sequence, Member::preloaded, |member, key| {
        let Request::Put(put) = &mut request else {
            unreachable!("a put request")
        };
        put.key.copy_from_slice(key);
        black_box(member.apply(&request));
    })
}

fn mvcc_put(c: &mut Criterion) {
    let sequence = key_sequence();
    let mut group = c.benchmark_group("mvcc_put");
    group.throughput(Throughput::Elements(PUTS_PER_ITERATION));
    group.sample_size(20);
    group.bench_function("store", |b| {
        b.iter_custom(|iters| time_store(iters, &sequence).wall)
    });
    group.bench_function("apply", |b| {
        b.iter_custom(|iters| time_apply(iters, &sequence).wall)
    });
    group.finish();

    if profiling() {
        return;
    }
    let iters = PLAIN_PUTS / PUTS_PER_ITERATION;
    for (name, time) in [
        ("store", time_store as fn(u64, &[Key]) -> Timed),
        ("apply", time_apply),
    ] {
        let timed = time(iters, &sequence);
        let per_cpu_second = timed.cpu_seconds.map_or_else(String::new, |cpu| {
            format!(", {:.0} per CPU second", PLAIN_PUTS as f64 / cpu)
        });
        println!(
            "mvcc_put/{name}: {:.0} puts per wall second{per_cpu_second} ({PLAIN_PUTS} puts)",
            PLAIN_PUTS as f64 / timed.wall.as_secs_f64()
        );
    }
}

criterion_group!(benches, mvcc_put);
criterion_main!(benches);
