//! The clients of a run: concurrent etcd clients issuing a seeded mix of operations, and the
//! history of what they saw.
//!
//! A [`Workload`] is sans-IO like the node it tests: it reads no clock and sends nothing itself.
//! The driver's contract:
//!
//! 1. run the world until [`Workload::next_wakeup`] or until a response arrives, whichever is
//!    first, and feed every response to [`Workload::receive`]. A response frees its client, so
//!    the wake-up computed before it can be far too late (often a request deadline seconds
//!    away): a driver that only looks at responses at the wake-up runs one request per client
//!    per timeout;
//! 2. call [`Workload::act`] with the world's time and send each [`Send`] it returns;
//! 3. call [`Workload::stop`] when no new requests should start, and [`Workload::finish`] at the
//!    end, which closes the history.
//!
//! Each client has one connection (its [`ClientId`]) and at most one request outstanding. Every
//! operation gets a fresh request id, unique across the run, which is also its op id in the
//! history; so a watch keeps its stream (its own request id) while the client goes on with other
//! operations. Written values are unique across the run (`c{client}-{n}`), so the checker can tell
//! every write apart.

use std::collections::BTreeMap;
use std::fmt;

use detcd_checker::history::{HistoryRecord, Outcome, is_definitive_error};
use detcd_core::kv::{self, KvError, LeaseId};
use detcd_core::state_machine::ServiceError;
use detcd_core::{ClientId, Duration, Instant, NodeId, RequestId};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::history;
use crate::world::ClientResponse;

/// Streams of the seed's ChaCha8 generator, far above the world's (`random::Stream`), so the
/// workload never replays numbers a world subsystem draws from the same seed.
const OPTIONS_STREAM: u64 = 0x100;
const CLIENTS_STREAM: u64 = 0x101;

/// Every workload key starts with this; [`KEY_SPACE_END`] sorts after all of them.
const KEY_PREFIX: &str = "k";
const KEY_SPACE_END: &str = "l";
/// A client holds at most this many leases; past it, it revokes or keeps alive instead.
const LEASES_PER_CLIENT_MAX: usize = 3;
const LEASE_TTL_SECS_MIN: u64 = 5;
const LEASE_TTL_SECS_MAX: u64 = 30;
/// A range limit, when one is set, is drawn from 1 to this.
const RANGE_LIMIT_MAX: u64 = 3;
/// A ranged delete covers at most this many consecutive keys.
const DELETE_SPAN_MAX: u64 = 3;
/// A watch that replays history starts at most this many revisions before the latest seen.
const WATCH_REPLAY_REVISIONS_MAX: u64 = 5;
/// A compaction is at most this many revisions behind the latest seen.
const COMPACT_LAG_MAX: u64 = 10;

/// How often each operation is chosen, relative to the others. Zero disables a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperationMix {
    pub put: u32,
    pub get: u32,
    pub range: u32,
    pub delete: u32,
    pub txn: u32,
    pub lease: u32,
    pub watch: u32,
    /// Compaction of the key-value history at a revision a little behind the latest seen.
    pub compact: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OperationKind {
    Put,
    Get,
    Range,
    Delete,
    Txn,
    Lease,
    Watch,
    Compact,
}

impl OperationMix {
    fn weights(&self) -> [(OperationKind, u32); 8] {
        [
            (OperationKind::Put, self.put),
            (OperationKind::Get, self.get),
            (OperationKind::Range, self.range),
            (OperationKind::Delete, self.delete),
            (OperationKind::Txn, self.txn),
            (OperationKind::Lease, self.lease),
            (OperationKind::Watch, self.watch),
            (OperationKind::Compact, self.compact),
        ]
    }

    pub fn total(&self) -> u64 {
        self.weights()
            .iter()
            .map(|(_, weight)| u64::from(*weight))
            .sum()
    }
}

impl fmt::Display for OperationMix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "put {} get {} range {} delete {} txn {} lease {} watch {} compact {}",
            self.put,
            self.get,
            self.range,
            self.delete,
            self.txn,
            self.lease,
            self.watch,
            self.compact
        )
    }
}

/// Every knob of the workload, fixed by a scenario or drawn from the seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadOptions {
    /// Concurrent clients, each with at most one request outstanding.
    pub clients: usize,
    /// The key space: `k0` to `k{keys-1}`.
    pub keys: usize,
    pub mix: OperationMix,
    /// A client gives up on a request after this; its outcome is then unknown.
    pub request_timeout_ms: u64,
    /// The pause between a response and the client's next request.
    pub think_ms_min: u64,
    pub think_ms_max: u64,
    /// The share of gets and ranges that are linearizable; the rest are serializable.
    pub linearizable_read_percent: u32,
    /// The share of lease operations on a held lease that revoke it; the rest keep it alive. At
    /// 0 a lease lives as long as its keep-alives come in time, through leader changes.
    pub lease_revoke_percent: u32,
    /// The share of linearizable ranges that read at a revision a little behind the latest seen
    /// (as a paged list does), which compaction may have removed.
    pub past_read_percent: u32,
}

impl Default for WorkloadOptions {
    /// Five clients on eight keys, mostly puts and gets, with a little of everything else.
    fn default() -> Self {
        WorkloadOptions {
            clients: 5,
            keys: 8,
            mix: OperationMix {
                put: 40,
                get: 30,
                range: 5,
                delete: 5,
                txn: 10,
                lease: 5,
                watch: 5,
                compact: 0,
            },
            request_timeout_ms: 2_000,
            think_ms_min: 0,
            think_ms_max: 20,
            linearizable_read_percent: 80,
            lease_revoke_percent: 30,
            past_read_percent: 0,
        }
    }
}

impl WorkloadOptions {
    /// Draw every knob from `seed` (swarm testing): some seeds run one client on one key, others
    /// many clients with leases and watches. Puts and gets are always on, so every history has
    /// writes to read.
    pub fn draw(seed: u64) -> WorkloadOptions {
        let mut dice = Dice::new(seed, OPTIONS_STREAM);
        let weight = |dice: &mut Dice| match dice.percent(50) {
            true => dice.between(1, 10) as u32,
            false => 0,
        };
        let mix = OperationMix {
            put: dice.between(1, 10) as u32,
            get: dice.between(1, 10) as u32,
            range: weight(&mut dice),
            delete: weight(&mut dice),
            txn: weight(&mut dice),
            lease: weight(&mut dice),
            watch: weight(&mut dice),
            compact: 0,
        };
        let think_ms_min = dice.between(0, 20);
        let mut options = WorkloadOptions {
            clients: dice.between(1, 16) as usize,
            keys: dice.pick(&[1, 2, 4, 8, 32]),
            mix,
            request_timeout_ms: dice.pick(&[200, 1_000, 2_000, 5_000]),
            think_ms_min,
            think_ms_max: think_ms_min + dice.between(0, 200),
            linearizable_read_percent: dice.pick(&[0, 50, 90, 100]),
            lease_revoke_percent: 30,
            past_read_percent: 0,
        };
        // Drawn last, so that adding them moved no earlier draw: leases never revoked in a
        // third of the seeds, kept alive until the run ends; compaction, rarely, in a third; and
        // reads at past revisions in a third.
        options.lease_revoke_percent = dice.pick(&[0, 30, 30]);
        options.mix.compact = match dice.percent(33) {
            true => dice.between(1, 3) as u32,
            false => 0,
        };
        options.past_read_percent = dice.pick(&[0, 0, 25]);
        options
    }

    /// Panic with the offending knob if the set is inconsistent. Programmer error, not input.
    pub fn validate(&self) {
        assert!(self.clients > 0, "a workload needs at least one client");
        assert!(self.keys > 0, "a workload needs at least one key");
        assert!(self.mix.total() > 0, "every operation weight is 0");
        assert!(self.request_timeout_ms > 0, "request_timeout_ms is 0");
        assert!(
            self.think_ms_min <= self.think_ms_max,
            "think_ms_min {} is above think_ms_max {}",
            self.think_ms_min,
            self.think_ms_max
        );
        assert!(
            self.linearizable_read_percent <= 100,
            "linearizable_read_percent {} is above 100",
            self.linearizable_read_percent
        );
        assert!(
            self.lease_revoke_percent <= 100,
            "lease_revoke_percent {} is above 100",
            self.lease_revoke_percent
        );
        assert!(
            self.past_read_percent <= 100,
            "past_read_percent {} is above 100",
            self.past_read_percent
        );
    }
}

/// One `name = value` line per knob, in declaration order, like `SimOptions`.
impl fmt::Display for WorkloadOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines = [
            ("clients", self.clients.to_string()),
            ("keys", self.keys.to_string()),
            ("mix", self.mix.to_string()),
            ("request_timeout_ms", self.request_timeout_ms.to_string()),
            ("think_ms_min", self.think_ms_min.to_string()),
            ("think_ms_max", self.think_ms_max.to_string()),
            (
                "linearizable_read_percent",
                self.linearizable_read_percent.to_string(),
            ),
            (
                "lease_revoke_percent",
                self.lease_revoke_percent.to_string(),
            ),
            ("past_read_percent", self.past_read_percent.to_string()),
        ];
        for (name, value) in lines {
            writeln!(f, "{name:<24} = {value}")?;
        }
        Ok(())
    }
}

/// A request for the driver to send through the world.
#[derive(Clone, Debug, PartialEq)]
pub struct Send {
    pub node: NodeId,
    pub client: ClientId,
    pub request: RequestId,
    pub body: kv::Request,
}

/// How the requests ended. `failed` errors certainly did not take effect; `unknown` ones (client
/// timeouts and errors such as "request timed out") may have.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkloadStats {
    pub invoked: u64,
    pub ok: u64,
    pub failed: u64,
    pub unknown: u64,
}

/// The seeded generator and the few draws the workload makes.
#[derive(Clone, Debug)]
struct Dice {
    rng: ChaCha8Rng,
}

impl Dice {
    fn new(seed: u64, stream: u64) -> Dice {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Dice { rng }
    }

    /// Uniform in `0..bound` (multiply-shift; the bias is negligible for our small bounds).
    fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "below(0) has no values to draw");
        ((u128::from(self.rng.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// Uniform in `min..=max`.
    fn between(&mut self, min: u64, max: u64) -> u64 {
        assert!(min <= max, "empty range {min}..={max}");
        min + self.below(max - min + 1)
    }

    fn percent(&mut self, percent: u32) -> bool {
        self.below(100) < u64::from(percent)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// A duration drawn at nanosecond resolution from `[min_ms, max_ms]` milliseconds.
    fn duration_ms(&mut self, min_ms: u64, max_ms: u64) -> Duration {
        Duration::from_nanos(self.between(min_ms * 1_000_000, max_ms * 1_000_000))
    }
}

#[derive(Clone, Debug)]
struct Client {
    id: ClientId,
    /// The request it waits for.
    waiting: Option<RequestId>,
    /// When it may send its next request, once it waits for nothing.
    ready_at: Instant,
    /// The member to stay away from next time: it timed out or had no leader.
    avoid: Option<NodeId>,
    values_written: u64,
    leases: Vec<LeaseId>,
    /// The watch it is creating or holds open, by the request id of its stream.
    watch: Option<RequestId>,
}

#[derive(Clone, Debug)]
struct Outstanding {
    client: usize,
    node: NodeId,
    deadline: Instant,
    body: kv::Request,
}

/// The latest version of a key that some response showed: what a compare-and-swap expects.
#[derive(Clone, Debug)]
struct KnownVersion {
    mod_revision: i64,
    value: Vec<u8>,
}

/// The clients of a run. See the module documentation for the calling contract.
#[derive(Debug)]
pub struct Workload {
    options: WorkloadOptions,
    members: Vec<NodeId>,
    /// The key names in byte order, so that "the next keys" of a ranged delete are a range.
    keys: Vec<Vec<u8>>,
    dice: Dice,
    clients: Vec<Client>,
    /// Requests waiting for their first response, by request id (unique across the run).
    outstanding: BTreeMap<RequestId, Outstanding>,
    /// Created watches, by the request id of their stream, with the client index.
    watches: BTreeMap<RequestId, usize>,
    known: BTreeMap<Vec<u8>, KnownVersion>,
    revision_seen_max: i64,
    request_next: RequestId,
    stopped: bool,
    finished: bool,
    history: Vec<HistoryRecord>,
    stats: WorkloadStats,
    /// The latest probe request that completed, and whether it succeeded.
    probe_result: Option<(RequestId, bool)>,
}

impl Workload {
    pub fn new(seed: u64, options: WorkloadOptions, members: &[NodeId]) -> Workload {
        options.validate();
        assert!(!members.is_empty(), "a workload needs members to talk to");
        let mut dice = Dice::new(seed, CLIENTS_STREAM);
        let clients = (0..options.clients)
            .map(|index| Client {
                id: index as ClientId + 1,
                waiting: None,
                // Staggered starts, so the clients do not all speak at time zero.
                ready_at: Instant::ZERO
                    + dice.duration_ms(options.think_ms_min, options.think_ms_max),
                avoid: None,
                values_written: 0,
                leases: Vec::new(),
                watch: None,
            })
            .collect::<Vec<Client>>();
        let mut clients = clients;
        // The liveness probe: a client of its own, driven by `send_probe`, never by `act`.
        clients.push(Client {
            id: options.clients as ClientId + 1,
            waiting: None,
            ready_at: Instant::NEVER,
            avoid: None,
            values_written: 0,
            leases: Vec::new(),
            watch: None,
        });
        let mut keys: Vec<Vec<u8>> = (0..options.keys)
            .map(|index| format!("{KEY_PREFIX}{index}").into_bytes())
            .collect();
        keys.sort();
        Workload {
            options,
            members: members.to_vec(),
            keys,
            dice,
            clients,
            outstanding: BTreeMap::new(),
            watches: BTreeMap::new(),
            known: BTreeMap::new(),
            revision_seen_max: 0,
            request_next: 1,
            stopped: false,
            finished: false,
            history: Vec::new(),
            stats: WorkloadStats::default(),
            probe_result: None,
        }
    }

    pub fn options(&self) -> &WorkloadOptions {
        &self.options
    }

    /// The earliest time the workload has something to do (a client ready to send, a deadline
    /// to expire); `Instant::NEVER` when nothing is left.
    pub fn next_wakeup(&self) -> Instant {
        let deadlines = self.outstanding.values().map(|pending| pending.deadline);
        // The probe (the last client) is driven by `send_probe`, never by readiness.
        let ready = self.clients[..self.options.clients]
            .iter()
            .filter(|client| !self.stopped && client.waiting.is_none())
            .map(|client| client.ready_at);
        deadlines.chain(ready).min().unwrap_or(Instant::NEVER)
    }

    /// At `now`: expire requests past their deadline (recorded as unknown outcome; the client
    /// then retries a new operation against another member), and issue new requests from idle
    /// clients whose think time is over. Returns what to send.
    pub fn act(&mut self, now: Instant) -> Vec<Send> {
        self.expire(now);
        if self.stopped {
            return Vec::new();
        }
        let mut sends = Vec::new();
        for index in 0..self.options.clients {
            let client = &self.clients[index];
            if client.waiting.is_none() && client.ready_at <= now {
                sends.extend(self.issue(index, now));
            }
        }
        sends
    }

    fn expire(&mut self, now: Instant) {
        let expired: Vec<RequestId> = self
            .outstanding
            .iter()
            .filter(|(_, pending)| pending.deadline <= now)
            .map(|(&request, _)| request)
            .collect();
        for request in expired {
            let pending = self.outstanding.remove(&request).expect("listed above");
            let reason = "client timeout".to_string();
            self.complete(request, &pending, now, Outcome::Unknown { reason });
            let client = &mut self.clients[pending.client];
            client.avoid = Some(pending.node);
            client.ready_at = now;
        }
    }

    /// A response arrived (watch events arrive as further responses with the same request id).
    /// A response to a request the client gave up on is ignored: its return is already recorded.
    pub fn receive(&mut self, response: &ClientResponse<kv::Response>) {
        if self.finished {
            return;
        }
        if let Some(&index) = self.watches.get(&response.request) {
            return self.deliver_watch(index, response);
        }
        let Some(pending) = self.outstanding.get(&response.request) else {
            return;
        };
        if let kv::Response::Watch(watch) = &response.body
            && !watch.created
        {
            // Responses on a stream may overtake the one that says the watch was created.
            let client = self.clients[pending.client].id;
            let time_ns = response.time.as_nanos();
            let record = history::watch_record(client, response.request, time_ns, watch);
            self.history.push(record);
            return;
        }
        let pending = self
            .outstanding
            .remove(&response.request)
            .expect("found above");
        self.learn(pending.client, &pending.body, &response.body);
        let outcome = history::outcome(&response.body);
        self.complete(response.request, &pending, response.time, outcome);
        let think = self
            .dice
            .duration_ms(self.options.think_ms_min, self.options.think_ms_max);
        let client = &mut self.clients[pending.client];
        client.ready_at = response.time + think;
        if let kv::Response::Error(KvError::Service(
            ServiceError::NoLeader | ServiceError::NotLeader,
        )) = response.body
        {
            client.avoid = Some(response.node);
        }
    }

    fn deliver_watch(&mut self, index: usize, response: &ClientResponse<kv::Response>) {
        let kv::Response::Watch(watch) = &response.body else {
            panic!(
                "a watch stream got a non-watch response: {:?}",
                response.body
            );
        };
        let client = &mut self.clients[index];
        let time_ns = response.time.as_nanos();
        let record = history::watch_record(client.id, response.request, time_ns, watch);
        self.history.push(record);
        if watch.canceled {
            self.watches.remove(&response.request);
            client.watch = None;
            // A client that had nothing to do but hold its watch can act again.
            client.ready_at = client.ready_at.min(response.time);
        }
    }

    /// Send `body` to `node` for the liveness probe, a client of its own whose operations are
    /// recorded like every other's (its writes change the store the others read). It works after
    /// `stop`, since the liveness phase comes after it.
    pub fn send_probe(&mut self, now: Instant, node: NodeId, body: kv::Request) -> Send {
        let index = self.options.clients;
        assert!(
            self.clients[index].waiting.is_none(),
            "the probe has one request at a time"
        );
        self.start(index, now, node, body)
    }

    /// The probe's latest completed request and whether it succeeded.
    pub fn probe_result(&self) -> Option<(RequestId, bool)> {
        self.probe_result
    }

    /// Stop issuing new requests; those outstanding still complete or expire.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Close the history: every request still outstanding is recorded as unknown outcome at
    /// `now`, and nothing received later is recorded.
    pub fn finish(&mut self, now: Instant) {
        self.stop();
        for (request, pending) in std::mem::take(&mut self.outstanding) {
            let reason = "run ended".to_string();
            self.complete(request, &pending, now, Outcome::Unknown { reason });
        }
        self.finished = true;
    }

    pub fn history(&self) -> &[HistoryRecord] {
        &self.history
    }

    pub fn stats(&self) -> WorkloadStats {
        self.stats
    }

    /// Record the return of `request` and free its client.
    fn complete(
        &mut self,
        request: RequestId,
        pending: &Outstanding,
        time: Instant,
        outcome: Outcome,
    ) {
        match &outcome {
            Outcome::Ok(_) => self.stats.ok += 1,
            Outcome::Error { message } if is_definitive_error(message) => self.stats.failed += 1,
            Outcome::Error { .. } | Outcome::Unknown { .. } => self.stats.unknown += 1,
        }
        if pending.client == self.options.clients {
            self.probe_result = Some((request, matches!(outcome, Outcome::Ok(_))));
        }
        let client = &mut self.clients[pending.client];
        client.waiting = None;
        if client.watch == Some(request) {
            match outcome {
                Outcome::Ok(_) => {
                    self.watches.insert(request, pending.client);
                }
                Outcome::Error { .. } | Outcome::Unknown { .. } => client.watch = None,
            }
        }
        self.history.push(HistoryRecord::Return {
            client: client.id,
            op: request,
            time_ns: time.as_nanos(),
            outcome,
        });
    }

    // ----- issuing -----

    fn issue(&mut self, index: usize, now: Instant) -> Option<Send> {
        let Some(kind) = self.choose_kind(index) else {
            // Only watches are enabled and it holds one: it waits for the watch to end.
            self.clients[index].ready_at = Instant::NEVER;
            return None;
        };
        let body = self.build(kind, index);
        let node = self.choose_member(index);
        let send = self.start(index, now, node, body);
        if kind == OperationKind::Watch {
            self.clients[index].watch = Some(send.request);
        }
        Some(send)
    }

    /// Client `index` sends `body` to `node` at `now`: record the invoke, and wait for the answer
    /// until the request timeout.
    fn start(&mut self, index: usize, now: Instant, node: NodeId, body: kv::Request) -> Send {
        let request = self.request_next;
        self.request_next += 1;
        let client = &mut self.clients[index];
        client.waiting = Some(request);
        let client = client.id;
        let time_ns = now.as_nanos();
        self.history.push(HistoryRecord::Invoke {
            client,
            op: request,
            time_ns,
            request: history::request(&body),
        });
        self.stats.invoked += 1;
        let deadline = now + Duration::from_millis(self.options.request_timeout_ms);
        let pending = Outstanding {
            client: index,
            node,
            deadline,
            body: body.clone(),
        };
        self.outstanding.insert(request, pending);
        Send {
            node,
            client,
            request,
            body,
        }
    }

    /// A kind by the mix's weights; a client holding a watch opens no second one.
    fn choose_kind(&mut self, index: usize) -> Option<OperationKind> {
        let holds_watch = self.clients[index].watch.is_some();
        let weights = self.options.mix.weights().map(|(kind, weight)| match kind {
            OperationKind::Watch if holds_watch => (kind, 0),
            _ => (kind, u64::from(weight)),
        });
        let total: u64 = weights.iter().map(|(_, weight)| weight).sum();
        if total == 0 {
            return None;
        }
        let mut drawn = self.dice.below(total);
        for (kind, weight) in weights {
            if drawn < weight {
                return Some(kind);
            }
            drawn -= weight;
        }
        unreachable!("the draw is below the total weight")
    }

    /// A random member, other than the one the client was told to avoid (etcd's balancer moves
    /// away from an endpoint that timed out or has no leader).
    fn choose_member(&mut self, index: usize) -> NodeId {
        let avoid = self.clients[index].avoid.take();
        let others: Vec<NodeId> = self
            .members
            .iter()
            .copied()
            .filter(|&member| Some(member) != avoid)
            .collect();
        match others.is_empty() {
            true => self.dice.pick(&self.members),
            false => self.dice.pick(&others),
        }
    }

    fn build(&mut self, kind: OperationKind, index: usize) -> kv::Request {
        match kind {
            OperationKind::Put => self.put(index),
            OperationKind::Get => kv::Request::Range(kv::RangeRequest {
                key: self.random_key(),
                serializable: self.serializable_read(),
                ..kv::RangeRequest::default()
            }),
            OperationKind::Range => self.range(),
            OperationKind::Delete => self.delete(),
            OperationKind::Txn => self.compare_and_swap(index),
            OperationKind::Lease => self.lease(index),
            OperationKind::Watch => self.watch(),
            OperationKind::Compact => self.compact(),
        }
    }

    /// Compact at a revision up to `COMPACT_LAG_MAX` behind the latest seen: a watch replaying
    /// from before it is cancelled as compacted, a read at it fails, and a second compaction
    /// at or below it is refused.
    fn compact(&mut self) -> kv::Request {
        let lag = self.dice.between(0, COMPACT_LAG_MAX) as i64;
        kv::Request::Compact(kv::CompactRequest {
            revision: (self.revision_seen_max - lag).max(1),
            physical: false,
        })
    }

    fn put(&mut self, index: usize) -> kv::Request {
        let key = self.random_key();
        let value = self.next_value(index);
        let leases = &self.clients[index].leases;
        let lease = match !leases.is_empty() && self.dice.percent(30) {
            true => self.dice.pick(leases),
            false => 0,
        };
        kv::Request::Put(kv::PutRequest {
            key,
            value,
            lease,
            prev_kv: self.dice.percent(25),
            ..kv::PutRequest::default()
        })
    }

    /// Every key, or the keys under one key's prefix; sometimes limited.
    fn range(&mut self) -> kv::Request {
        let (key, range_end) = match self.dice.percent(50) {
            true => (KEY_PREFIX.into(), KEY_SPACE_END.into()),
            false => {
                let key = self.random_key();
                let range_end = prefix_end(&key);
                (key, range_end)
            }
        };
        let limit = match self.dice.percent(30) {
            true => self.dice.between(1, RANGE_LIMIT_MAX) as i64,
            false => 0,
        };
        let serializable = self.serializable_read();
        kv::Request::Range(kv::RangeRequest {
            key,
            range_end,
            limit,
            serializable,
            revision: self.past_revision(serializable),
            ..kv::RangeRequest::default()
        })
    }

    /// A revision a little behind the latest seen for `past_read_percent` of linearizable
    /// ranges, else 0 (the latest). Serializable ones always read the latest: a lagging member
    /// may not have the revision yet. Nothing is drawn when the share is 0.
    fn past_revision(&mut self, serializable: bool) -> i64 {
        let percent = self.options.past_read_percent;
        if percent == 0
            || serializable
            || self.revision_seen_max == 0
            || !self.dice.percent(percent)
        {
            return 0;
        }
        let lag = self.dice.between(0, COMPACT_LAG_MAX) as i64;
        (self.revision_seen_max - lag).max(1)
    }

    /// One key, or a few consecutive keys in key order.
    fn delete(&mut self) -> kv::Request {
        let start = self.dice.below(self.keys.len() as u64) as usize;
        let range_end = match self.dice.percent(50) {
            true => Vec::new(),
            false => {
                let span = self.dice.between(1, DELETE_SPAN_MAX) as usize;
                self.keys
                    .get(start + span)
                    .cloned()
                    .unwrap_or_else(|| KEY_SPACE_END.into())
            }
        };
        kv::Request::DeleteRange(kv::DeleteRangeRequest {
            key: self.keys[start].clone(),
            range_end,
            prev_kv: self.dice.percent(30),
        })
    }

    /// Put a new value if the key is still the version last seen (by mod revision or by value);
    /// otherwise read it.
    fn compare_and_swap(&mut self, index: usize) -> kv::Request {
        let key = self.random_key();
        let target = match self.known.get(&key) {
            Some(known) if self.dice.percent(50) => kv::CompareTarget::Value(known.value.clone()),
            Some(known) => kv::CompareTarget::Mod(known.mod_revision),
            // Never seen (or seen absent): expect it to be absent.
            None => kv::CompareTarget::Mod(0),
        };
        let value = self.next_value(index);
        kv::Request::Txn(kv::TxnRequest {
            compare: vec![kv::Compare {
                result: kv::CompareResult::Equal,
                target,
                key: key.clone(),
                range_end: Vec::new(),
            }],
            success: vec![kv::RequestOp::Put(kv::PutRequest {
                key: key.clone(),
                value,
                ..kv::PutRequest::default()
            })],
            failure: vec![kv::RequestOp::Range(kv::RangeRequest {
                key,
                ..kv::RangeRequest::default()
            })],
        })
    }

    /// Grant a lease while the client holds few; otherwise keep one alive or revoke it.
    fn lease(&mut self, index: usize) -> kv::Request {
        let held = self.clients[index].leases.len();
        if held == 0 || (held < LEASES_PER_CLIENT_MAX && self.dice.percent(30)) {
            let ttl_secs = self.dice.between(LEASE_TTL_SECS_MIN, LEASE_TTL_SECS_MAX) as i64;
            return kv::Request::LeaseGrant(kv::LeaseGrantRequest { ttl_secs, id: 0 });
        }
        let id = self.dice.pick(&self.clients[index].leases);
        match self.dice.percent(self.options.lease_revoke_percent) {
            true => kv::Request::LeaseRevoke(kv::LeaseRevokeRequest { id }),
            false => kv::Request::LeaseKeepAlive(kv::LeaseKeepAliveRequest { id }),
        }
    }

    /// A watch on one key or on every key, from now on or replaying the last few revisions.
    fn watch(&mut self) -> kv::Request {
        let (key, range_end) = match self.dice.percent(50) {
            true => (self.random_key(), Vec::new()),
            false => (KEY_PREFIX.into(), KEY_SPACE_END.into()),
        };
        let start_revision = match self.revision_seen_max > 0 && self.dice.percent(50) {
            true => {
                let back = self.dice.below(WATCH_REPLAY_REVISIONS_MAX) as i64;
                (self.revision_seen_max - back).max(1)
            }
            false => 0,
        };
        kv::Request::Watch(kv::WatchRequest::Create(kv::WatchCreateRequest {
            key,
            range_end,
            start_revision,
            prev_kv: self.dice.percent(50),
            ..kv::WatchCreateRequest::default()
        }))
    }

    fn random_key(&mut self) -> Vec<u8> {
        let index = self.dice.below(self.keys.len() as u64) as usize;
        self.keys[index].clone()
    }

    /// A value no other write of the run uses.
    fn next_value(&mut self, index: usize) -> Vec<u8> {
        let client = &mut self.clients[index];
        client.values_written += 1;
        format!("c{}-{}", client.id, client.values_written).into_bytes()
    }

    fn serializable_read(&mut self) -> bool {
        !self.dice.percent(self.options.linearizable_read_percent)
    }

    // ----- learning from responses -----

    /// Remember what a response says about keys, revisions and the client's leases.
    fn learn(&mut self, index: usize, request: &kv::Request, response: &kv::Response) {
        match (request, response) {
            (kv::Request::Range(range), kv::Response::Range(read)) => self.learn_read(range, read),
            (kv::Request::Put(put), kv::Response::Put(written)) => {
                self.learn_write(put, written.header.revision)
            }
            (kv::Request::Txn(txn), kv::Response::Txn(result)) => self.learn_txn(txn, result),
            (kv::Request::LeaseGrant(_), kv::Response::LeaseGrant(granted)) => {
                self.clients[index].leases.push(granted.id)
            }
            // Revoked, or already gone: either way the client no longer holds it.
            (kv::Request::LeaseRevoke(revoke), _) => self.forget_lease(index, revoke.id),
            (kv::Request::LeaseKeepAlive(keep_alive), kv::Response::LeaseKeepAlive(kept))
                if kept.ttl_secs == 0 =>
            {
                self.forget_lease(index, keep_alive.id)
            }
            (kv::Request::Put(put), kv::Response::Error(KvError::LeaseNotFound)) => {
                self.forget_lease(index, put.lease)
            }
            _ => {}
        }
        if let Some(revision) = header_revision(response) {
            self.revision_seen_max = self.revision_seen_max.max(revision);
        }
    }

    fn learn_read(&mut self, range: &kv::RangeRequest, read: &kv::RangeResponse) {
        if range.range_end.is_empty() && read.kvs.is_empty() {
            self.known.remove(&range.key);
        }
        for kv in &read.kvs {
            let known = KnownVersion {
                mod_revision: kv.mod_revision,
                value: kv.value.clone(),
            };
            self.known.insert(kv.key.clone(), known);
        }
    }

    fn learn_write(&mut self, put: &kv::PutRequest, revision: i64) {
        let known = KnownVersion {
            mod_revision: revision,
            value: put.value.clone(),
        };
        self.known.insert(put.key.clone(), known);
    }

    fn learn_txn(&mut self, txn: &kv::TxnRequest, result: &kv::TxnResponse) {
        let branch = match result.succeeded {
            true => &txn.success,
            false => &txn.failure,
        };
        for (op, response) in branch.iter().zip(&result.responses) {
            match (op, response) {
                (kv::RequestOp::Put(put), kv::ResponseOp::Put(_)) => {
                    self.learn_write(put, result.header.revision)
                }
                (kv::RequestOp::Range(range), kv::ResponseOp::Range(read)) => {
                    self.learn_read(range, read)
                }
                _ => {}
            }
        }
    }

    fn forget_lease(&mut self, index: usize, lease: LeaseId) {
        self.clients[index].leases.retain(|&held| held != lease);
    }
}

fn header_revision(response: &kv::Response) -> Option<i64> {
    match response {
        kv::Response::Range(read) => Some(read.header.revision),
        kv::Response::Put(written) => Some(written.header.revision),
        kv::Response::DeleteRange(deleted) => Some(deleted.header.revision),
        kv::Response::Txn(result) => Some(result.header.revision),
        _ => None,
    }
}

/// The end of the range of every key starting with `prefix` (etcd's `GetPrefixRangeEnd`).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte is 0xff: no key sorts after the prefix's keys, so the range runs to the end.
    vec![0]
}
