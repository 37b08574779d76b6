//! A small deterministic network for the core's tests and benchmarks: members, links, disks and a
//! virtual clock that jumps to the next event. No threads, no sleeps.
//!
//! [`Cluster`] runs [`Node`]s over [`Journal`], a state machine that records which value it
//! applied at which index, so tests can check Raft's safety properties across members: election
//! safety and leader completeness after every step, log matching and state machine safety on
//! demand. The full simulator (detcd-sim) adds realistic faults; this is the quinn-proto `Pair`.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::io::{self, ClientId, Driver, Input, NodeId, RequestId};
use crate::node::{Boot, Node, NodeConfig};
use crate::raft::{
    ConfChange, Index, Membership, Message, PersistBatch, PersistedState, Role, Term,
};
use crate::state_machine::{DecodeError, Notifications, Route, ServiceError, StateMachine};
use crate::time::{Duration, Instant};

/// Requests to a [`Journal`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JournalRequest {
    /// Append a value (replicated).
    Append(u64),
    /// Read every applied value, linearizably or from local state.
    Read { linearizable: bool },
    /// Change the membership.
    Member(ConfChange),
    /// Hand leadership to this member (at the leader).
    TransferLeader(NodeId),
    /// Snapshot now and compact the log; answered once durable.
    Snapshot,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JournalResponse {
    Appended {
        index: Index,
    },
    Values(Vec<u64>),
    Members(Membership),
    /// The member a transfer named leads now.
    Transferred,
    /// The snapshot asked for is durable.
    Snapshotted,
    Error(ServiceError),
}

impl From<ServiceError> for JournalResponse {
    fn from(error: ServiceError) -> Self {
        JournalResponse::Error(error)
    }
}

/// A state machine that keeps every applied value with its log index.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub applied: Vec<(Index, u64)>,
}

impl StateMachine for Journal {
    type Request = JournalRequest;
    type Response = JournalResponse;

    fn route(&self, request: &JournalRequest) -> Route {
        match request {
            JournalRequest::Append(_) => Route::Propose,
            JournalRequest::Read { linearizable } => Route::Read {
                linearizable: *linearizable,
            },
            JournalRequest::Member(change) => Route::ConfChange(*change),
            JournalRequest::TransferLeader(target) => Route::TransferLeader(*target),
            JournalRequest::Snapshot => Route::Snapshot,
        }
    }

    fn apply(
        &mut self,
        index: Index,
        request: &JournalRequest,
        _: &mut Notifications<JournalResponse>,
    ) -> JournalResponse {
        let JournalRequest::Append(value) = request else {
            panic!("only appends are replicated: {request:?}")
        };
        assert!(
            self.applied.last().is_none_or(|&(last, _)| last < index),
            "entries are applied in order"
        );
        self.applied.push((index, *value));
        JournalResponse::Appended { index }
    }

    fn apply_conf_change(
        &mut self,
        _: Index,
        _: &JournalRequest,
        membership: &Membership,
    ) -> JournalResponse {
        JournalResponse::Members(membership.clone())
    }

    fn serve(
        &mut self,
        _: Instant,
        _: ClientId,
        _: RequestId,
        request: &JournalRequest,
        _: bool,
        _: &mut Notifications<JournalResponse>,
    ) -> Option<JournalResponse> {
        Some(match request {
            JournalRequest::TransferLeader(_) => JournalResponse::Transferred,
            JournalRequest::Snapshot => JournalResponse::Snapshotted,
            _ => JournalResponse::Values(self.applied.iter().map(|&(_, value)| value).collect()),
        })
    }

    fn validate(&self, _: &JournalRequest) -> Result<(), JournalResponse> {
        Ok(())
    }

    fn tick(
        &mut self,
        _: Instant,
        _: bool,
        _: &mut Notifications<JournalResponse>,
    ) -> Vec<JournalRequest> {
        Vec::new()
    }

    fn next_deadline(&self, _: bool) -> Instant {
        Instant::NEVER
    }

    fn leadership_changed(&mut self, _: Instant, _: bool) {}

    fn client_closed(&mut self, _: ClientId) {}

    fn snapshot(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("a journal encodes")
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), DecodeError> {
        *self = if snapshot.is_empty() {
            Journal::default()
        } else {
            postcard::from_bytes(snapshot)
                .map_err(|error| DecodeError::new("a journal snapshot", error))?
        };
        Ok(())
    }
}

/// An answer a client received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub at: Instant,
    pub node: NodeId,
    pub request: RequestId,
    pub body: JournalResponse,
}

/// Which messages the network delivers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetworkFaults {
    pub latency_min: Duration,
    pub latency_max: Duration,
    /// Probability that a message is lost.
    pub loss: f64,
    /// Probability that a message is delivered twice.
    pub duplicate: f64,
}

impl Default for NetworkFaults {
    fn default() -> Self {
        NetworkFaults {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(5),
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

/// Decides whether a message is delivered: `(from, to, message) -> deliver`.
pub type MessageFilter = Box<dyn FnMut(NodeId, NodeId, &Message) -> bool>;

#[derive(Debug)]
enum Event {
    Deliver {
        from: NodeId,
        to: NodeId,
        incarnation: u64,
        message: Message,
    },
    Persisted {
        node: NodeId,
        incarnation: u64,
    },
    Wake {
        node: NodeId,
    },
}

#[derive(Debug, Default)]
struct Disk {
    durable: PersistedState,
    in_flight: VecDeque<PersistBatch>,
}

/// A test cluster. See the module documentation.
pub struct Cluster {
    now: Instant,
    configs: BTreeMap<NodeId, NodeConfig>,
    nodes: BTreeMap<NodeId, Option<Node<Journal>>>,
    disks: BTreeMap<NodeId, Disk>,
    /// Bumped at every crash: messages and disk completions for an earlier incarnation are lost.
    incarnations: BTreeMap<NodeId, u64>,
    wake_at: BTreeMap<NodeId, Instant>,
    queue: BinaryHeap<Reverse<(Instant, u64)>>,
    events: BTreeMap<u64, Event>,
    sequence: u64,
    cut: BTreeSet<(NodeId, NodeId)>,
    rng: ChaCha8Rng,
    pub faults: NetworkFaults,
    pub disk_latency: Duration,
    filter: Option<MessageFilter>,
    next_request: RequestId,
    replies: Vec<Reply>,
    /// The leader of every term seen so far (election safety).
    leaders: BTreeMap<Term, NodeId>,
    /// The term of every entry seen committed anywhere (leader completeness).
    committed: BTreeMap<Index, Term>,
    /// Messages delivered, for benchmarks.
    pub delivered: u64,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("now", &self.now)
            .field("members", &self.configs.keys())
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// A new cluster of members 1..=size with default configurations.
    pub fn new(size: u64, seed: u64) -> Cluster {
        Cluster::with_configs(
            (1..=size)
                .map(|id| NodeConfig::new(id, seed.wrapping_mul(1000) + id))
                .collect(),
            seed,
        )
    }

    /// A new cluster whose initial voters are the given members.
    pub fn with_configs(configs: Vec<NodeConfig>, seed: u64) -> Cluster {
        let voters: Vec<NodeId> = configs.iter().map(|c| c.raft.id).collect();
        let mut cluster = Cluster {
            now: Instant::ZERO,
            configs: BTreeMap::new(),
            nodes: BTreeMap::new(),
            disks: BTreeMap::new(),
            incarnations: BTreeMap::new(),
            wake_at: BTreeMap::new(),
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            sequence: 0,
            cut: BTreeSet::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            faults: NetworkFaults::default(),
            disk_latency: Duration::from_micros(500),
            filter: None,
            next_request: 1,
            replies: Vec::new(),
            leaders: BTreeMap::new(),
            committed: BTreeMap::new(),
            delivered: 0,
        };
        for config in configs {
            cluster.add(config, PersistedState::bootstrap(voters.iter().copied()));
        }
        cluster
    }

    /// Start a member from `disk`.
    fn add(&mut self, config: NodeConfig, disk: PersistedState) {
        let id = config.raft.id;
        self.configs.insert(id, config);
        self.disks.insert(
            id,
            Disk {
                durable: disk,
                in_flight: VecDeque::new(),
            },
        );
        self.incarnations.insert(id, 0);
        self.nodes.insert(id, None);
        self.restart(id);
    }

    /// Start a new member that joins the cluster (it still has to be added by a conf change).
    pub fn start_joining(&mut self, config: NodeConfig) {
        self.add(config, PersistedState::default());
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn ids(&self) -> Vec<NodeId> {
        self.configs.keys().copied().collect()
    }

    /// A live member.
    pub fn node(&self, id: NodeId) -> &Node<Journal> {
        self.nodes[&id]
            .as_ref()
            .unwrap_or_else(|| panic!("member {id} is crashed"))
    }

    pub fn is_up(&self, id: NodeId) -> bool {
        self.nodes[&id].is_some()
    }

    /// The live member that leads in the highest term, if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.live()
            .filter(|node| node.raft().role() == Role::Leader)
            .max_by_key(|node| node.raft().term())
            .map(|node| node.id())
    }

    fn live(&self) -> impl Iterator<Item = &Node<Journal>> {
        self.nodes.values().flatten()
    }

    // ----- faults -----

    /// Cut the link from `from` to `to` (one way).
    pub fn cut(&mut self, from: NodeId, to: NodeId) {
        self.cut.insert((from, to));
    }

    /// Cut every link between the groups (members not named stay connected to everyone).
    pub fn partition(&mut self, groups: &[&[NodeId]]) {
        for (i, a) in groups.iter().enumerate() {
            for b in groups.iter().skip(i + 1) {
                for &x in a.iter() {
                    for &y in b.iter() {
                        self.cut(x, y);
                        self.cut(y, x);
                    }
                }
            }
        }
    }

    /// Cut `id` off from every other member, both ways.
    pub fn isolate(&mut self, id: NodeId) {
        let others: Vec<NodeId> = self
            .ids()
            .into_iter()
            .filter(|&other| other != id)
            .collect();
        self.partition(&[&[id], &others]);
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Deliver only the messages `filter` accepts, until [`Cluster::clear_filter`].
    pub fn set_filter(&mut self, filter: MessageFilter) {
        self.filter = Some(filter);
    }

    pub fn clear_filter(&mut self) {
        self.filter = None;
    }

    /// Crash a member: it loses every write not yet durable and every message in flight to it.
    pub fn crash(&mut self, id: NodeId) {
        self.nodes.insert(id, None);
        *self.incarnations.get_mut(&id).expect("member exists") += 1;
        self.disks
            .get_mut(&id)
            .expect("member exists")
            .in_flight
            .clear();
        self.wake_at.remove(&id);
    }

    /// Restart a crashed member from its durable state.
    pub fn restart(&mut self, id: NodeId) {
        assert!(self.nodes[&id].is_none(), "member {id} is running");
        let mut config = self.configs[&id].clone();
        let crashes = self.incarnations[&id];
        // Each incarnation gets its own seed, as a real process would draw one.
        config.raft.seed ^= crashes.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let boot = Boot {
            config,
            persisted: self.disks[&id].durable.clone(),
            incarnation: crashes + 1,
            now: self.now,
        };
        let node = Node::boot(boot, Journal::default()).expect("a test disk decodes");
        self.nodes.insert(id, Some(node));
        self.drain(id, None);
    }

    /// What member `id` has durably persisted.
    pub fn durable(&self, id: NodeId) -> &PersistedState {
        &self.disks[&id].durable
    }

    // ----- clients -----

    /// Send a request to member `node` (delivered at once); returns its request id.
    pub fn request(&mut self, node: NodeId, body: JournalRequest) -> RequestId {
        let request = self.next_request;
        self.next_request += 1;
        self.request_with_id(node, request, body);
        request
    }

    /// Send a request with a chosen id, as a client that reuses ids across a restart would.
    pub fn request_with_id(&mut self, node: NodeId, request: RequestId, body: JournalRequest) {
        self.send_request(node, 0, request, body);
    }

    /// Send a request from client connection `client` (the others use connection 0).
    pub fn request_from(
        &mut self,
        node: NodeId,
        client: ClientId,
        body: JournalRequest,
    ) -> RequestId {
        let request = self.next_request;
        self.next_request += 1;
        self.send_request(node, client, request, body);
        request
    }

    fn send_request(
        &mut self,
        node: NodeId,
        client: ClientId,
        request: RequestId,
        body: JournalRequest,
    ) {
        if self.is_up(node) {
            self.input(node, |now| Input::Request {
                now,
                client,
                request,
                body,
            });
        }
    }

    /// Client connection `client` to member `node` closed.
    pub fn close_client(&mut self, node: NodeId, client: ClientId) {
        self.input(node, |now| Input::ClientClosed { now, client });
    }

    /// Start an election on `id` now (etcd raft's Campaign).
    pub fn campaign(&mut self, id: NodeId) {
        self.input(id, |now| Input::Campaign { now });
    }

    /// Ask the leader `id` to hand leadership to `target`; an error if it refuses at once. The
    /// answer to the request comes once `target` leads.
    pub fn transfer_leadership(&mut self, id: NodeId, target: NodeId) -> Result<(), ServiceError> {
        assert!(self.is_up(id), "member {id} is up");
        let request = self.request(id, JournalRequest::TransferLeader(target));
        match self.reply(request) {
            Some(JournalResponse::Error(error)) => Err(error.clone()),
            _ => Ok(()),
        }
    }

    /// Every answer received so far.
    pub fn replies(&self) -> &[Reply] {
        &self.replies
    }

    /// The answer to `request`, if it came.
    pub fn reply(&self, request: RequestId) -> Option<&JournalResponse> {
        self.replies
            .iter()
            .find(|reply| reply.request == request)
            .map(|reply| &reply.body)
    }

    // ----- running -----

    /// Process the next event; false when nothing is scheduled.
    pub fn step(&mut self) -> bool {
        let Some(Reverse((at, sequence))) = self.queue.pop() else {
            return false;
        };
        let event = self
            .events
            .remove(&sequence)
            .expect("scheduled event exists");
        self.now = self.now.max(at);
        match event {
            Event::Deliver {
                from,
                to,
                incarnation,
                message,
            } => {
                if self.incarnations[&to] == incarnation && self.is_up(to) {
                    self.delivered += 1;
                    self.input(to, |now| Input::Message { now, from, message });
                }
            }
            Event::Persisted { node, incarnation } => {
                if self.incarnations[&node] == incarnation {
                    let disk = self.disks.get_mut(&node).expect("member exists");
                    let batch = disk.in_flight.pop_front().expect("a write in flight");
                    disk.durable.apply(&batch);
                    let through = batch.token;
                    self.input(node, |now| Input::Persisted { now, through });
                }
            }
            Event::Wake { node } => {
                if self.wake_at.get(&node) == Some(&at) {
                    self.wake_at.remove(&node);
                    self.input(node, |now| Input::Timeout { now });
                }
            }
        }
        true
    }

    /// Run until `duration` of virtual time has passed.
    pub fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.queue.peek().is_some_and(|Reverse((at, _))| *at <= end) {
            self.step();
        }
        self.now = end;
    }

    /// Run until `done` holds (checked after every event) or `limit` of virtual time passes.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Cluster) -> bool) -> bool {
        let end = self.now + limit;
        while !done(self) {
            if self.queue.peek().is_none_or(|Reverse((at, _))| *at > end) {
                self.now = end;
                return done(self);
            }
            self.step();
        }
        true
    }

    /// Run until some member leads and every live member it can reach follows it; returns it.
    pub fn elect(&mut self) -> NodeId {
        let settled = |c: &Cluster| {
            c.leader().is_some_and(|leader| {
                c.live().all(|node| {
                    node.raft().leader() == Some(leader) || c.cut.contains(&(leader, node.id()))
                })
            })
        };
        assert!(
            self.run_until(Duration::from_secs(30), settled),
            "no settled leader within 30s"
        );
        self.leader().expect("just checked")
    }

    fn schedule(&mut self, at: Instant, event: Event) {
        self.sequence += 1;
        self.events.insert(self.sequence, event);
        self.queue.push(Reverse((at, self.sequence)));
    }

    fn input(&mut self, id: NodeId, input: impl FnOnce(Instant) -> Input<Message, JournalRequest>) {
        let input = input(self.now);
        self.drain(id, Some(input));
    }

    /// The drain step on member `id` (if it is up): hand it `input`, carry out its outputs, set
    /// its wake-up, then check the cluster-wide invariants.
    fn drain(&mut self, id: NodeId, input: Option<Input<Message, JournalRequest>>) {
        let Some(mut node) = self.nodes.get_mut(&id).and_then(Option::take) else {
            return;
        };
        let mut outputs = MemberOutputs { cluster: self, id };
        let deadline = match input {
            Some(input) => io::step(&mut node, input, &mut outputs),
            None => io::drain(&mut node, &mut outputs),
        }
        .unwrap_or_else(|halt| panic!("member {id} halted: {halt}"));
        self.nodes.insert(id, Some(node));
        if deadline != Instant::NEVER
            && self
                .wake_at
                .get(&id)
                .is_none_or(|&current| deadline != current)
        {
            self.wake_at.insert(id, deadline);
            self.schedule(deadline.max(self.now), Event::Wake { node: id });
        }
        self.check_step_invariants(id);
    }

    fn persist(&mut self, id: NodeId, batch: PersistBatch) {
        self.disks
            .get_mut(&id)
            .expect("member exists")
            .in_flight
            .push_back(batch);
        let incarnation = self.incarnations[&id];
        self.schedule(
            self.now + self.disk_latency,
            Event::Persisted {
                node: id,
                incarnation,
            },
        );
    }

    fn send(&mut self, from: NodeId, to: NodeId, message: Message) {
        if self.cut.contains(&(from, to)) || !self.configs.contains_key(&to) {
            return;
        }
        if let Some(filter) = self.filter.as_mut()
            && !filter(from, to, &message)
        {
            return;
        }
        if self.chance(self.faults.loss) {
            return;
        }
        let copies = if self.chance(self.faults.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let latency = self.latency();
            let incarnation = self.incarnations[&to];
            self.schedule(
                self.now + latency,
                Event::Deliver {
                    from,
                    to,
                    incarnation,
                    message: message.clone(),
                },
            );
        }
    }

    fn chance(&mut self, probability: f64) -> bool {
        probability > 0.0 && (self.rng.next_u64() as f64 / u64::MAX as f64) < probability
    }

    fn latency(&mut self) -> Duration {
        let min = self.faults.latency_min.as_nanos() as u64;
        let spread = (self.faults.latency_max.as_nanos() as u64).saturating_sub(min);
        Duration::from_nanos(
            min + if spread > 0 {
                self.rng.next_u64() % (spread + 1)
            } else {
                0
            },
        )
    }

    // ----- safety -----

    /// Election safety and leader completeness, after every step of member `id`.
    fn check_step_invariants(&mut self, id: NodeId) {
        let Some(node) = self.nodes.get(&id).and_then(Option::as_ref) else {
            return;
        };
        let raft = node.raft();
        for index in
            self.committed.last_key_value().map_or(1, |(&i, _)| i + 1)..=raft.commit_index()
        {
            if let Some(term) = raft.entry_term(index) {
                self.committed.insert(index, term);
            }
        }
        if raft.role() != Role::Leader {
            return;
        }
        if let Some(&other) = self.leaders.get(&raft.term()) {
            assert_eq!(
                other,
                id,
                "election safety: two leaders in term {}",
                raft.term()
            );
            return;
        }
        self.leaders.insert(raft.term(), id);
        for (&index, &term) in self.committed.range(raft.snapshot_index() + 1..) {
            assert_eq!(
                raft.entry_term(index),
                Some(term),
                "leader completeness: leader {id} of term {} lacks committed entry {index}",
                raft.term()
            );
        }
    }

    /// Log matching (Raft §5.3): if two logs hold an entry with the same index and term, they are
    /// identical up to it.
    pub fn check_log_matching(&self) {
        let nodes: Vec<&Node<Journal>> = self.live().collect();
        for (i, a) in nodes.iter().enumerate() {
            for b in nodes.iter().skip(i + 1) {
                let (a, b) = (a.raft(), b.raft());
                let first = a.status().first_index.max(b.status().first_index);
                let last = a.last_index().min(b.last_index());
                let Some(matching) = (first..=last)
                    .rev()
                    .find(|&i| a.entry_term(i) == b.entry_term(i))
                else {
                    continue;
                };
                for index in first..=matching {
                    assert_eq!(
                        a.entry(index),
                        b.entry(index),
                        "log matching: members {} and {} differ at {index}",
                        a.id(),
                        b.id()
                    );
                }
            }
        }
    }

    /// State machine safety (Raft §5.4.3): no two members apply different values at one index.
    pub fn check_state_machine_safety(&self) {
        let mut applied: BTreeMap<Index, (NodeId, u64)> = BTreeMap::new();
        for node in self.live() {
            for &(index, value) in &node.state().applied {
                let (first, first_value) = *applied.entry(index).or_insert((node.id(), value));
                assert_eq!(
                    first_value,
                    value,
                    "state machine safety: {first} and {} applied different values at {index}",
                    node.id()
                );
            }
        }
    }

    /// Every value acknowledged to a client is applied on every member that has applied its index.
    pub fn check_acknowledged_writes(&self) {
        for reply in &self.replies {
            let JournalResponse::Appended { index } = reply.body else {
                continue;
            };
            for node in self.live() {
                if node.raft().applied_index() >= index && node.raft().snapshot_index() < index {
                    assert!(
                        node.state().applied.iter().any(|&(i, _)| i == index),
                        "acknowledged write at {index} missing on member {}",
                        node.id()
                    );
                }
            }
        }
    }
}

/// Where a member's outputs go while the cluster drains it.
struct MemberOutputs<'a> {
    cluster: &'a mut Cluster,
    id: NodeId,
}

impl Driver<Node<Journal>> for MemberOutputs<'_> {
    fn persist(&mut self, batch: PersistBatch) {
        self.cluster.persist(self.id, batch);
    }

    fn send(&mut self, to: NodeId, message: Message) {
        self.cluster.send(self.id, to, message);
    }

    fn respond(&mut self, _: ClientId, request: RequestId, body: JournalResponse) {
        self.cluster.replies.push(Reply {
            at: self.cluster.now,
            node: self.id,
            request,
            body,
        });
    }
}
