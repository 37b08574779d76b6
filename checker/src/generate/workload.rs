//! A realistic etcd workload, as the simulator's clients run it, written as a detcd history.
//!
//! Clients issue the simulator's mix of requests (puts with unique values, some on leases and
//! asking for the previous key; gets; ranges over a prefix or every key, sometimes limited;
//! deletes of one key or a few; compare-and-swap transactions on what the client last saw;
//! lease grants, keep-alives and revokes; watches), one at a time each, and decide each request
//! from what their own earlier responses told them. A correct store applies every request at
//! a random point of its interval. Some requests time out (their outcome is unknown, and
//! whether they took effect is drawn), some are refused with a definitive error (they did not
//! happen), and some reads are serializable. Watches deliver every event of their range, one
//! response per revision, for a while after they are created. The history is linearizable and
//! keeps every watch and lease guarantee by construction.

use std::collections::BTreeMap;

use super::{Shape, SplitMix64};
use crate::etcd::WatchStream;
use crate::history::{
    Compare, CompareResult, CompareTarget, HistoryRecord, KeyValue, Outcome, Request, Response,
};
use crate::model::etcd::Store;
use crate::watch;

/// The shape of a workload: how many clients and operations, on how many keys.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// Clients, operations, and the percentage of requests whose outcome is unknown.
    pub shape: Shape,
    /// The key space: `k0` to `k{keys - 1}`.
    pub keys: u64,
    /// Percentage of requests refused with a definitive error: they did not take effect.
    pub refused_percent: u64,
    /// Percentage of gets and ranges that are serializable (the checker leaves those out).
    pub serializable_percent: u64,
}

/// Relative weights of the request kinds, as the simulator's default mix has them, with
/// watches made rarer: each lives for up to [`WATCH_REVISIONS_MAX`] revisions, and a few open
/// at a time are what a long run has.
const MIX: [(Kind, u64); 7] = [
    (Kind::Put, 400),
    (Kind::Get, 300),
    (Kind::Range, 50),
    (Kind::Delete, 50),
    (Kind::Txn, 100),
    (Kind::Lease, 50),
    (Kind::Watch, 1),
];

/// A watch delivers the events of this many revisions at most after it is created.
const WATCH_REVISIONS_MAX: u64 = 2_000;
/// A watch that replays history starts at most this many revisions before the latest seen.
const WATCH_REPLAY_REVISIONS_MAX: u64 = 5;
/// A client holds at most this many leases; past it, it revokes or keeps alive instead.
const LEASES_PER_CLIENT_MAX: usize = 3;
const LEASE_TTL_SECS_MIN: u64 = 5;
const LEASE_TTL_SECS_MAX: u64 = 30;
const RANGE_LIMIT_MAX: u64 = 3;
const DELETE_SPAN_MAX: u64 = 3;
/// Every key starts with `k`; `l` sorts after all of them.
const KEY_SPACE_END: &str = "l";
const REFUSED: &str = "etcdserver: no leader";
const TIMED_OUT: &str = "etcdserver: request timed out";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Put,
    Get,
    Range,
    Delete,
    Txn,
    Lease,
    Watch,
}

/// What becomes of a request: when it takes effect, whether it does, and what its client sees.
#[derive(Debug)]
struct Plan {
    client: usize,
    op: u64,
    invoke_ns: u64,
    effect_ns: u64,
    return_ns: u64,
    kind: Kind,
    fate: Fate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Answered,
    /// Refused before it could take effect.
    Refused,
    /// The client gave up; the request took effect or not.
    Unknown {
        took_effect: bool,
    },
}

/// What one client learned from its own responses, which is all it decides its requests by.
#[derive(Debug, Default)]
struct Client {
    /// The last value and mod revision seen of each key (`None`: seen absent).
    known: BTreeMap<String, Option<(String, i64)>>,
    /// Leases granted to it and not yet revoked, with their TTLs.
    leases: Vec<(i64, i64)>,
    values_written: u64,
    revision_seen_max: i64,
}

impl Client {
    /// What a read showed: the keys it found, and a single key's absence.
    fn learn_read(&mut self, key: &str, range_end: &str, kvs: &[KeyValue]) {
        if range_end.is_empty() && kvs.is_empty() {
            self.known.insert(key.to_string(), None);
        }
        for kv in kvs {
            self.known
                .insert(kv.key.clone(), Some((kv.value.clone(), kv.mod_revision)));
        }
    }
}

/// A watch still delivering: its stream (for the events it owes) and its last revision.
#[derive(Debug)]
struct Open {
    stream: WatchStream,
    until_revision: i64,
}

/// Generates the workload's history, records in time order.
pub fn etcd_workload(seed: u64, workload: Workload) -> Vec<HistoryRecord> {
    let mut rng = SplitMix64::new(seed);
    let keys: Vec<String> = {
        let mut keys: Vec<String> = (0..workload.keys)
            .map(|index| format!("k{index}"))
            .collect();
        keys.sort();
        keys
    };
    let plans = plan(&mut rng, workload);
    let mut world = World {
        rng,
        keys,
        workload,
        store: Store::default(),
        clients: (0..workload.shape.clients)
            .map(|_| Client::default())
            .collect(),
        open: Vec::new(),
        records: Vec::with_capacity(plans.len() * 2),
        next_lease: 1,
    };
    for plan in &plans {
        world.run(plan);
    }
    let mut records = world.records;
    records.sort_by_key(|record| match record {
        HistoryRecord::Invoke { time_ns, op, .. } => (*time_ns, 0, *op),
        HistoryRecord::Return { time_ns, op, .. } => (*time_ns, 1, *op),
        HistoryRecord::Watch { time_ns, op, .. } => (*time_ns, 2, *op),
    });
    records
}

/// Every request's timing and fate, in the order they take effect.
fn plan(rng: &mut SplitMix64, workload: Workload) -> Vec<Plan> {
    let shape = workload.shape;
    let mut plans = Vec::with_capacity(shape.operations);
    let mut client_free_ns = vec![0u64; shape.clients as usize];
    let total: u64 = MIX.iter().map(|(_, weight)| weight).sum();
    for op in 0..shape.operations as u64 {
        let client = rng.below(shape.clients) as usize;
        let invoke_ns = client_free_ns[client] + rng.below(50);
        let duration_ns = 1 + rng.below(100);
        let mut drawn = rng.below(total);
        let (kind, _) = *MIX
            .iter()
            .find(|(_, weight)| {
                let found = drawn < *weight;
                drawn = drawn.saturating_sub(*weight);
                found
            })
            .expect("the draw is below the total weight");
        let fate = if kind == Kind::Watch {
            Fate::Answered
        } else if rng.chance(shape.unknown_percent) {
            Fate::Unknown {
                took_effect: rng.chance(50),
            }
        } else if rng.chance(workload.refused_percent) {
            Fate::Refused
        } else {
            Fate::Answered
        };
        client_free_ns[client] = invoke_ns + duration_ns + 1;
        plans.push(Plan {
            client,
            op,
            invoke_ns,
            effect_ns: invoke_ns + rng.below(duration_ns),
            return_ns: invoke_ns + duration_ns,
            kind,
            fate,
        });
    }
    plans.sort_by_key(|plan| (plan.effect_ns, plan.op));
    plans
}

/// The correct store, the clients and what has been recorded so far.
struct World {
    rng: SplitMix64,
    keys: Vec<String>,
    workload: Workload,
    store: Store,
    clients: Vec<Client>,
    open: Vec<Open>,
    records: Vec<HistoryRecord>,
    next_lease: i64,
}

impl World {
    /// Decides the request, applies it if it takes effect, and records what its client saw.
    fn run(&mut self, plan: &Plan) {
        let request = self.request(plan);
        let client = plan.client as u64;
        self.records.push(HistoryRecord::Invoke {
            client,
            op: plan.op,
            time_ns: plan.invoke_ns,
            request: request.clone(),
        });
        let outcome = match plan.fate {
            Fate::Refused => Outcome::Error {
                message: REFUSED.to_string(),
            },
            Fate::Unknown { took_effect } => {
                if took_effect {
                    let _ = self.apply(plan, &request);
                }
                match plan.op % 2 {
                    0 => Outcome::Unknown {
                        reason: "timeout".to_string(),
                    },
                    _ => Outcome::Error {
                        message: TIMED_OUT.to_string(),
                    },
                }
            }
            Fate::Answered => match self.apply(plan, &request) {
                Ok(response) => {
                    self.learn(plan, &request, &response);
                    Outcome::Ok(response)
                }
                Err(message) => Outcome::Error { message },
            },
        };
        self.records.push(HistoryRecord::Return {
            client,
            op: plan.op,
            time_ns: plan.return_ns,
            outcome,
        });
    }

    /// Applies a request to the store; a write sends its events to the open watches.
    fn apply(&mut self, plan: &Plan, request: &Request) -> Result<Response, String> {
        let before = self.store.revision;
        let mut response = match request {
            // The server picks the id of a lease granted with id 0.
            Request::LeaseGrant { id: 0, ttl } => {
                let id = self.next_lease;
                self.next_lease += 1;
                self.store.apply(&Request::LeaseGrant { id, ttl: *ttl })?
            }
            Request::Watch { .. } => {
                let response = self.store.apply(request)?;
                self.open_watch(plan, request);
                response
            }
            _ => self.store.apply(request)?,
        };
        if let (Request::LeaseKeepAlive { id }, Response::LeaseKeepAlive { ttl, .. }) =
            (request, &mut response)
        {
            *ttl = self.clients[plan.client]
                .leases
                .iter()
                .find(|(lease, _)| lease == id)
                .map_or(0, |(_, granted)| *granted);
        }
        if self.store.revision > before {
            self.deliver(self.store.revision, plan.effect_ns + 1);
        }
        Ok(response)
    }

    /// Sends the events of `revision` to every open watch that covers it, and closes the
    /// watches whose time is up.
    fn deliver(&mut self, revision: i64, time_ns: u64) {
        self.open.retain(|open| open.until_revision >= revision);
        if self.open.is_empty() {
            return;
        }
        let changes = self.store.changes_at(revision);
        for open in &self.open {
            let events = watch::expected_events(&open.stream, &changes, revision);
            if !events.is_empty() {
                self.records.push(HistoryRecord::Watch {
                    client: open.stream.client,
                    op: open.stream.op,
                    time_ns,
                    events,
                    canceled: false,
                    compact_revision: 0,
                });
            }
        }
    }

    /// Opens a watch at the store's revision; one that replays history gets the events of
    /// the revisions it asked for at once, before any later write's.
    fn open_watch(&mut self, plan: &Plan, request: &Request) {
        let Request::Watch {
            key,
            range_end,
            start_revision,
            prev_kv,
            filters,
        } = request
        else {
            unreachable!("open_watch is called for watch requests");
        };
        let created = self.store.revision;
        let stream = WatchStream {
            client: plan.client as u64,
            op: plan.op,
            invoke_ns: plan.invoke_ns,
            key: key.clone(),
            range_end: range_end.clone(),
            start_revision: *start_revision,
            prev_kv: *prev_kv,
            filters: filters.clone(),
            created_revision: Some(created),
            responses: Vec::new(),
        };
        let lifetime = 1 + self.rng.below(WATCH_REVISIONS_MAX) as i64;
        let replayed = if *start_revision > 0 {
            *start_revision
        } else {
            created + 1
        };
        for revision in replayed..=created {
            let changes = self.store.changes_at(revision);
            let events = watch::expected_events(&stream, &changes, revision);
            if !events.is_empty() {
                self.records.push(HistoryRecord::Watch {
                    client: stream.client,
                    op: stream.op,
                    time_ns: plan.effect_ns,
                    events,
                    canceled: false,
                    compact_revision: 0,
                });
            }
        }
        self.open.push(Open {
            stream,
            until_revision: created + lifetime,
        });
    }

    /// Remembers what a response says about keys, revisions and the client's leases.
    fn learn(&mut self, plan: &Plan, request: &Request, response: &Response) {
        let client = &mut self.clients[plan.client];
        client.revision_seen_max = client.revision_seen_max.max(response.header().revision);
        let revision = response.header().revision;
        match (request, response) {
            (Request::Range { key, range_end, .. }, Response::Range { kvs, .. }) => {
                client.learn_read(key, range_end, kvs);
            }
            (Request::Put { key, value, .. }, Response::Put { .. }) => {
                client
                    .known
                    .insert(key.clone(), Some((value.clone(), revision)));
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
                // A swap that took put the new value; one that failed read the key.
                let branch = if *succeeded { success } else { failure };
                for (nested, nested_response) in branch.iter().zip(responses) {
                    match (nested, nested_response) {
                        (Request::Put { key, value, .. }, Response::Put { .. }) => {
                            client
                                .known
                                .insert(key.clone(), Some((value.clone(), revision)));
                        }
                        (Request::Range { key, range_end, .. }, Response::Range { kvs, .. }) => {
                            client.learn_read(key, range_end, kvs);
                        }
                        _ => {}
                    }
                }
            }
            (Request::LeaseGrant { .. }, Response::LeaseGrant { id, ttl, .. }) => {
                client.leases.push((*id, *ttl));
            }
            (Request::LeaseRevoke { id }, _) => client.leases.retain(|(lease, _)| lease != id),
            _ => {}
        }
    }

    /// The client's next request of the planned kind.
    fn request(&mut self, plan: &Plan) -> Request {
        match plan.kind {
            Kind::Put => self.put(plan.client),
            Kind::Get => {
                let key = self.random_key();
                self.range(key, String::new(), 0)
            }
            Kind::Range => {
                let (key, range_end) = match self.rng.chance(50) {
                    true => ("k".to_string(), KEY_SPACE_END.to_string()),
                    false => {
                        let key = self.random_key();
                        let range_end = prefix_end(&key);
                        (key, range_end)
                    }
                };
                let limit = match self.rng.chance(30) {
                    true => 1 + self.rng.below(RANGE_LIMIT_MAX) as i64,
                    false => 0,
                };
                self.range(key, range_end, limit)
            }
            Kind::Delete => self.delete(),
            Kind::Txn => self.compare_and_swap(plan.client),
            Kind::Lease => self.lease(plan.client),
            Kind::Watch => self.watch(plan.client),
        }
    }

    fn put(&mut self, client: usize) -> Request {
        let key = self.random_key();
        let value = self.next_value(client);
        let leases = &self.clients[client].leases;
        let lease = match !leases.is_empty() && self.rng.chance(30) {
            true => leases[self.rng.below(leases.len() as u64) as usize].0,
            false => 0,
        };
        Request::Put {
            key,
            value,
            lease,
            prev_kv: self.rng.chance(25),
        }
    }

    fn range(&mut self, key: String, range_end: String, limit: i64) -> Request {
        Request::Range {
            key,
            range_end,
            revision: 0,
            limit,
            keys_only: false,
            count_only: false,
            serializable: self.rng.chance(self.workload.serializable_percent),
        }
    }

    /// One key, or a few consecutive keys in key order.
    fn delete(&mut self) -> Request {
        let start = self.rng.below(self.keys.len() as u64) as usize;
        let range_end = match self.rng.chance(50) {
            true => String::new(),
            false => {
                let span = 1 + self.rng.below(DELETE_SPAN_MAX) as usize;
                self.keys
                    .get(start + span)
                    .cloned()
                    .unwrap_or_else(|| KEY_SPACE_END.to_string())
            }
        };
        Request::DeleteRange {
            key: self.keys[start].clone(),
            range_end,
            prev_kv: self.rng.chance(30),
        }
    }

    /// Put a new value if the key is still the version last seen (by mod revision or by
    /// value); otherwise read it.
    fn compare_and_swap(&mut self, client: usize) -> Request {
        let key = self.random_key();
        let target = match self.clients[client].known.get(&key) {
            Some(Some((value, _))) if self.rng.chance(50) => CompareTarget::Value(value.clone()),
            Some(Some((_, mod_revision))) => CompareTarget::ModRevision(*mod_revision),
            // Never seen, or seen absent: expect it to be absent.
            _ => CompareTarget::ModRevision(0),
        };
        let value = self.next_value(client);
        Request::Txn {
            compares: vec![Compare {
                key: key.clone(),
                range_end: String::new(),
                target,
                result: CompareResult::Equal,
            }],
            success: vec![Request::Put {
                key: key.clone(),
                value,
                lease: 0,
                prev_kv: false,
            }],
            failure: vec![Request::Range {
                key,
                range_end: String::new(),
                revision: 0,
                limit: 0,
                keys_only: false,
                count_only: false,
                serializable: false,
            }],
        }
    }

    /// Grant a lease while the client holds few; otherwise keep one alive or revoke it.
    fn lease(&mut self, client: usize) -> Request {
        let held = self.clients[client].leases.len();
        if held == 0 || (held < LEASES_PER_CLIENT_MAX && self.rng.chance(30)) {
            let ttl =
                LEASE_TTL_SECS_MIN + self.rng.below(LEASE_TTL_SECS_MAX - LEASE_TTL_SECS_MIN + 1);
            return Request::LeaseGrant {
                id: 0,
                ttl: ttl as i64,
            };
        }
        let (id, _) = self.clients[client].leases[self.rng.below(held as u64) as usize];
        match self.rng.chance(30) {
            true => Request::LeaseRevoke { id },
            false => Request::LeaseKeepAlive { id },
        }
    }

    /// A watch on one key or on every key, from now on or replaying the last few revisions.
    fn watch(&mut self, client: usize) -> Request {
        let (key, range_end) = match self.rng.chance(50) {
            true => (self.random_key(), String::new()),
            false => ("k".to_string(), KEY_SPACE_END.to_string()),
        };
        let seen = self.clients[client].revision_seen_max;
        let start_revision = match seen > 0 && self.rng.chance(50) {
            true => (seen - self.rng.below(WATCH_REPLAY_REVISIONS_MAX) as i64).max(1),
            false => 0,
        };
        Request::Watch {
            key,
            range_end,
            start_revision,
            prev_kv: self.rng.chance(50),
            filters: Vec::new(),
        }
    }

    fn random_key(&mut self) -> String {
        self.keys[self.rng.below(self.keys.len() as u64) as usize].clone()
    }

    /// A value no other write of the history uses.
    fn next_value(&mut self, client: usize) -> String {
        let state = &mut self.clients[client];
        state.values_written += 1;
        format!("c{client}-{}", state.values_written)
    }
}

/// The end of the range of keys that start with `key`.
fn prefix_end(key: &str) -> String {
    let mut end = key.as_bytes().to_vec();
    let last = end.len() - 1;
    end[last] += 1;
    String::from_utf8(end).expect("keys are ASCII")
}
