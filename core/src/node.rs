//! A detcd member: Raft plus the state machine it replicates, behind the [`Machine`] contract.
//!
//! The node routes each client request (see [`Route`]): writes become log entries carrying the
//! proposing member's id, so that the member that received a request answers it once it has
//! applied it; linearizable reads wait for a quorum-confirmed read index; local and leader-only
//! requests are served at once. Requests not answered within `request_timeout` fail with etcd's
//! "request timed out" — their outcome is unknown, as in etcd.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::io::{ClientId, Input, Machine, NodeId, Output, RequestId};
use crate::raft::{Apply, ConfChange, EntryKind, Index, Message, PersistedState, Raft, RaftConfig};
use crate::state_machine::{Notifications, Route, ServiceError, StateMachine};
use crate::time::{Duration, Instant};

/// Tunables of a member beyond Raft's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    pub raft: RaftConfig,
    /// A request not answered within this time fails with "etcdserver: request timed out".
    pub request_timeout: Duration,
    /// Take a snapshot and compact the log every this many applied entries (etcd's
    /// `--snapshot-count`).
    pub snapshot_entries: u64,
    /// Entries kept before a snapshot for followers that are slightly behind (etcd keeps 5000).
    pub snapshot_catch_up_entries: u64,
    /// Requests waiting for an answer, at most; beyond it requests fail with "too many requests".
    pub pending_requests_max: usize,
}

impl NodeConfig {
    pub fn new(id: NodeId, seed: u64) -> NodeConfig {
        NodeConfig {
            raft: RaftConfig::new(id, seed),
            request_timeout: Duration::from_secs(5),
            snapshot_entries: 10_000,
            snapshot_catch_up_entries: 5_000,
            pending_requests_max: 10_000,
        }
    }
}

/// What a log entry carries: the request and who must answer it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Proposal<R> {
    /// The member that received the request and answers it; `None` for the leader's own
    /// proposals (lease expiry).
    origin: Option<Origin>,
    change: Option<ConfChange>,
    body: R,
}

/// The node's part of a snapshot: the sessions beside the state machine's own snapshot.
#[derive(Debug, Default, Serialize, Deserialize)]
struct NodeSnapshot {
    sessions: Sessions,
    state: Vec<u8>,
}

/// Client sessions (Raft thesis §6.3): for each proposing member incarnation and client, the
/// highest request id applied. Request ids of one client rise, so a proposal at or below it was
/// applied already (a duplicate) and is skipped. Replicated, so every member skips the same ones.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Sessions {
    applied: BTreeMap<(NodeId, u64, ClientId), RequestId>,
}

impl Sessions {
    /// Record `origin` as applied; false if it (or a later request of its client) already was.
    fn first_time(&mut self, origin: Origin) -> bool {
        let key = (origin.node, origin.session, origin.client);
        if self
            .applied
            .get(&key)
            .is_some_and(|&last| origin.request <= last)
        {
            return false;
        }
        self.applied.insert(key, origin.request);
        true
    }
}

/// A request waiting for an answer, as the deadline index names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Pending {
    Write(ClientId, RequestId),
    Read(u64),
}

/// Who answers a proposal once applied: the member and its session (one incarnation of the
/// process), and the client's ids. The session keeps an entry proposed before a restart from
/// answering a request of the new incarnation that reuses the same ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Origin {
    node: NodeId,
    session: u64,
    client: ClientId,
    request: RequestId,
}

/// A linearizable read waiting for its read index, then for the state machine to reach it.
#[derive(Debug)]
struct PendingRead<R> {
    client: ClientId,
    request: RequestId,
    body: R,
    deadline: Instant,
    index: Option<Index>,
}

/// One detcd member. Drive it through [`Machine`]: `handle` one input, then drain `poll_output`
/// until it returns `Output::Timeout`.
#[derive(Debug)]
pub struct Node<S: StateMachine> {
    config: NodeConfig,
    raft: Raft,
    state: S,
    now: Instant,
    leading: bool,
    /// Writes this member proposed, by (client, request), with their deadlines.
    pending_writes: BTreeMap<(ClientId, RequestId), Instant>,
    pending_reads: BTreeMap<u64, PendingRead<S::Request>>,
    /// Every pending request by deadline, so expiry and the next wake-up cost no scan.
    deadlines: BTreeSet<(Instant, Pending)>,
    /// Replicated: which proposals were applied, so each applies once.
    sessions: Sessions,
    /// Random per incarnation (from the seed): tags this incarnation's proposals and read
    /// contexts, so that an answer meant for an earlier incarnation never serves a new request.
    session: u64,
    next_read_context: u64,
    outputs: VecDeque<Output<Message, S::Response>>,
}

impl<S: StateMachine> Node<S> {
    /// A member starting from what it persisted — for a member of a new cluster,
    /// [`PersistedState::bootstrap`] — with a fresh state machine `state`.
    pub fn restart(config: NodeConfig, state: S, persisted: PersistedState) -> Node<S> {
        let snapshot = persisted
            .snapshot
            .as_ref()
            .map(|s| s.data.clone())
            .unwrap_or_default();
        let raft = Raft::restart(config.raft.clone(), persisted);
        let mut node = Node::with_raft(config, raft, state);
        node.restore(&snapshot);
        node
    }

    fn with_raft(config: NodeConfig, raft: Raft, state: S) -> Node<S> {
        let session = splitmix64(config.raft.seed);
        Node {
            config,
            raft,
            state,
            now: Instant::ZERO,
            leading: false,
            pending_writes: BTreeMap::new(),
            pending_reads: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            sessions: Sessions::default(),
            session,
            next_read_context: splitmix64(session),
            outputs: VecDeque::new(),
        }
    }

    pub fn id(&self) -> NodeId {
        self.raft.id()
    }

    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    pub fn state(&self) -> &S {
        &self.state
    }

    /// Start an election now (etcd raft's `Campaign`), e.g. to script a scenario.
    pub fn campaign(&mut self, now: Instant) {
        self.now = now;
        self.raft.campaign_now(now);
        self.after_input();
    }

    /// Hand leadership to `target` (etcd's MoveLeader).
    pub fn transfer_leadership(
        &mut self,
        now: Instant,
        target: NodeId,
    ) -> Result<(), ServiceError> {
        self.now = now;
        let result = self.raft.transfer_leadership(now, target);
        self.after_input();
        result
    }

    fn handle_request(&mut self, client: ClientId, request: RequestId, body: S::Request) {
        if self.pending_writes.len() + self.pending_reads.len() >= self.config.pending_requests_max
        {
            self.respond(client, request, ServiceError::TooManyRequests.into());
            return;
        }
        if let Err(response) = self.state.validate(&body) {
            self.respond(client, request, response);
            return;
        }
        let result = match self.state.route(&body) {
            Route::Propose => self.propose(EntryKind::Normal, client, request, None, body),
            Route::ConfChange(change) => {
                self.propose(EntryKind::ConfChange, client, request, Some(change), body)
            }
            Route::Read { linearizable: true } => self.read(client, request, body),
            Route::Read {
                linearizable: false,
            }
            | Route::Local => {
                self.serve(client, request, &body);
                Ok(())
            }
            // etcd's ensureLeadership and waitAppliedIndex: a quorum confirms this member still
            // leads (a deposed leader must not renew a lease the real leader is expiring), and
            // the answer waits until everything committed before it is applied.
            Route::Leader if self.raft.is_leader() => self.read(client, request, body),
            Route::Leader => Err(if self.raft.leader().is_some() {
                ServiceError::NotLeader
            } else {
                ServiceError::NoLeader
            }),
        };
        if let Err(error) = result {
            self.respond(client, request, error.into());
        }
    }

    fn propose(
        &mut self,
        kind: EntryKind,
        client: ClientId,
        request: RequestId,
        change: Option<ConfChange>,
        body: S::Request,
    ) -> Result<(), ServiceError> {
        let origin = Some(Origin {
            node: self.id(),
            session: self.session,
            client,
            request,
        });
        let data = encode(&Proposal {
            origin,
            change,
            body,
        });
        self.raft.propose(self.now, kind, data)?;
        let deadline = self.now + self.config.request_timeout;
        self.pending_writes.insert((client, request), deadline);
        self.deadlines
            .insert((deadline, Pending::Write(client, request)));
        Ok(())
    }

    /// Serve `body` once a quorum has confirmed a read index and this member has applied through
    /// it.
    fn read(
        &mut self,
        client: ClientId,
        request: RequestId,
        body: S::Request,
    ) -> Result<(), ServiceError> {
        // Contexts start at a random point per incarnation, so two incarnations' never meet.
        let context = self.next_read_context;
        self.next_read_context = self.next_read_context.wrapping_add(1);
        self.raft.read_index(self.now, context)?;
        let deadline = self.now + self.config.request_timeout;
        self.deadlines.insert((deadline, Pending::Read(context)));
        let read = PendingRead {
            client,
            request,
            body,
            deadline,
            index: None,
        };
        self.pending_reads.insert(context, read);
        Ok(())
    }

    fn serve(&mut self, client: ClientId, request: RequestId, body: &S::Request) {
        let mut notify = Notifications::new();
        let leading = self.raft.is_leader();
        let response = self
            .state
            .serve(self.now, client, request, body, leading, &mut notify);
        if let Some(response) = response {
            self.respond(client, request, response);
        }
        self.notify(notify);
    }

    fn respond(&mut self, client: ClientId, request: RequestId, body: S::Response) {
        self.outputs.push_back(Output::Respond {
            client,
            request,
            body,
        });
    }

    fn notify(&mut self, notify: Notifications<S::Response>) {
        for (client, request, body) in notify {
            self.respond(client, request, body);
        }
    }

    /// Everything that follows an input: leadership duties, applying, reads, snapshots, outputs.
    fn after_input(&mut self) {
        let leading = self.raft.is_leader();
        if leading != self.leading {
            self.leading = leading;
            self.state.leadership_changed(self.now, leading);
        }
        let mut notify = Notifications::new();
        for body in self.state.tick(self.now, leading, &mut notify) {
            // A refused proposal (a lease expiry) is made again at a later tick.
            let proposal = Proposal {
                origin: None,
                change: None,
                body,
            };
            let _ = self
                .raft
                .propose(self.now, EntryKind::Normal, encode(&proposal));
        }
        self.notify(notify);
        self.apply_committed();
        self.collect_read_states();
        self.serve_ready_reads();
        self.expire_requests();
        self.maybe_snapshot();
        while let Some(batch) = self.raft.poll_persist() {
            self.outputs.push_back(Output::Persist(batch));
        }
        while let Some((to, message)) = self.raft.poll_message() {
            self.outputs.push_back(Output::Send { to, message });
        }
    }

    fn apply_committed(&mut self) {
        while let Some(apply) = self.raft.next_to_apply() {
            match apply {
                Apply::Snapshot(snapshot) => self.restore(&snapshot.data),
                Apply::Entry(entry) if entry.data.is_empty() => {}
                Apply::Entry(entry) => self.apply_entry(entry.index, decode(&entry.data)),
            }
        }
    }

    fn apply_entry(&mut self, index: Index, proposal: Proposal<S::Request>) {
        if let Some(origin) = proposal.origin
            && !self.sessions.first_time(origin)
        {
            // A proposal forwarded twice (the network duplicated it) takes effect once.
            return;
        }
        let mut notify = Notifications::new();
        let response = match proposal.change {
            Some(change) => match self.raft.apply_conf_change(self.now, &change) {
                Ok(()) => {
                    self.state
                        .apply_conf_change(index, &proposal.body, self.raft.membership())
                }
                Err(message) => ServiceError::Membership(message).into(),
            },
            None => self.state.apply(index, &proposal.body, &mut notify),
        };
        self.notify(notify);
        if let Some(Origin {
            node,
            session,
            client,
            request,
        }) = proposal.origin
            && (node, session) == (self.id(), self.session)
            && self.take_write(client, request)
        {
            self.respond(client, request, response);
        }
    }

    /// Replace the replicated state with a snapshot's (empty: the bootstrap state).
    fn restore(&mut self, data: &[u8]) {
        let snapshot: NodeSnapshot = if data.is_empty() {
            NodeSnapshot::default()
        } else {
            decode(data)
        };
        self.sessions = snapshot.sessions;
        self.state.restore(&snapshot.state);
    }

    fn collect_read_states(&mut self) {
        while let Some(read) = self.raft.poll_read() {
            let Some(pending) = self.pending_reads.get_mut(&read.context) else {
                continue;
            };
            match read.result {
                Ok(index) => pending.index = Some(index),
                Err(error) => {
                    let pending = self.take_read(read.context).expect("present");
                    self.respond(pending.client, pending.request, error.into());
                }
            }
        }
    }

    fn serve_ready_reads(&mut self) {
        let applied = self.raft.applied_index();
        let ready: Vec<u64> = self
            .pending_reads
            .iter()
            .filter(|(_, read)| read.index.is_some_and(|index| index <= applied))
            .map(|(&context, _)| context)
            .collect();
        for context in ready {
            let read = self.take_read(context).expect("present");
            self.serve(read.client, read.request, &read.body);
        }
    }

    /// Requests past their deadline fail with "request timed out": they may still take effect.
    fn expire_requests(&mut self) {
        while let Some(&(deadline, pending)) = self.deadlines.first() {
            if deadline > self.now {
                break;
            }
            match pending {
                Pending::Write(client, request) => {
                    self.take_write(client, request);
                    self.respond(client, request, ServiceError::Timeout.into());
                }
                Pending::Read(context) => {
                    let read = self
                        .take_read(context)
                        .expect("every indexed read is pending");
                    self.respond(read.client, read.request, ServiceError::Timeout.into());
                }
            }
        }
    }

    /// Forget a pending write; false if it was not pending (answered or expired already).
    fn take_write(&mut self, client: ClientId, request: RequestId) -> bool {
        let Some(deadline) = self.pending_writes.remove(&(client, request)) else {
            return false;
        };
        self.deadlines
            .remove(&(deadline, Pending::Write(client, request)));
        true
    }

    fn take_read(&mut self, context: u64) -> Option<PendingRead<S::Request>> {
        let read = self.pending_reads.remove(&context)?;
        self.deadlines
            .remove(&(read.deadline, Pending::Read(context)));
        Some(read)
    }

    fn maybe_snapshot(&mut self) {
        let since = self
            .raft
            .applied_index()
            .saturating_sub(self.raft.snapshot_index());
        if since >= self.config.snapshot_entries.max(1) {
            let data = encode(&NodeSnapshot {
                sessions: self.sessions.clone(),
                state: self.state.snapshot(),
            });
            self.raft
                .compact(self.now, data, self.config.snapshot_catch_up_entries);
        }
    }

    fn next_deadline(&self) -> Instant {
        let requests = self
            .deadlines
            .first()
            .map_or(Instant::NEVER, |&(deadline, _)| deadline);
        let state = self.state.next_deadline(self.leading);
        self.raft.next_deadline().min(requests).min(state)
    }
}

impl<S: StateMachine> Machine for Node<S> {
    type Message = Message;
    type Request = S::Request;
    type Response = S::Response;

    fn handle(&mut self, input: Input<Message, S::Request>) {
        self.now = input.now();
        match input {
            Input::Timeout { now } => self.raft.handle_timeout(now),
            Input::Message { now, from, message } => self.raft.handle_message(now, from, message),
            Input::Request {
                client,
                request,
                body,
                ..
            } => self.handle_request(client, request, body),
            Input::Persisted { now, through } => self.raft.handle_persisted(now, through),
            Input::ClientClosed { client, .. } => self.state.client_closed(client),
        }
        self.after_input();
    }

    fn poll_output(&mut self) -> Output<Message, S::Response> {
        self.outputs
            .pop_front()
            .unwrap_or_else(|| Output::Timeout(self.next_deadline()))
    }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).expect("encoding a proposal cannot fail")
}

/// Entries are written only by this code, so one that does not decode is a programmer error.
fn decode<T: for<'de> Deserialize<'de>>(data: &[u8]) -> T {
    postcard::from_bytes(data).expect("a log entry that this node wrote decodes")
}

/// A 64-bit mixing function (splitmix64's finalizer): spreads a seed over all bits.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
