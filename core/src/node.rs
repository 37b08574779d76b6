//! A detcd member: Raft plus the state machine it replicates, behind the [`Machine`] contract.
//!
//! The node routes each client request (see [`Route`]): writes become log entries carrying the
//! proposing member's id, so that the member that received a request answers it once it has
//! applied it; linearizable reads wait for a quorum-confirmed read index; local and leader-only
//! requests are served at once. Requests not answered within `request_timeout` fail with etcd's
//! "request timed out" — their outcome is unknown, as in etcd.
//!
//! A driver starts a node with [`Node::boot`] and drives it with [`crate::io::step`]; see
//! [`Boot`] for what it passes and [`crate::io`] for the rules.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::io::{ClientId, Halt, Input, Machine, NodeId, Output, PersistToken, RequestId};
use crate::raft::{
    Apply, ConfChange, EntryKind, Index, Message, PersistBatch, PersistedState, Raft, RaftConfig,
};
use crate::state_machine::{DecodeError, Notifications, Route, ServiceError, StateMachine};
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

/// What a driver passes to start a member.
#[derive(Clone, Debug)]
pub struct Boot {
    pub config: NodeConfig,
    /// What the member persisted: for a member of a new cluster, [`PersistedState::bootstrap`];
    /// for one joining a running cluster, nothing (the default).
    pub persisted: PersistedState,
    /// This start of the member, greater than that of every earlier start (the simulator counts
    /// boots; the server keeps a counter on disk). It tags the member's proposals and read
    /// contexts, so that nothing meant for an earlier start serves a request of this one, and
    /// the replicated sessions forget earlier starts once they see this one.
    pub incarnation: u64,
    /// The driver's time at the start; timers (the election timeout) run from here.
    pub now: Instant,
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

/// Sessions (Raft thesis §6.3): which proposals were applied, so that a proposal the network
/// forwarded twice takes effect once. Replicated, so every member skips the same ones.
///
/// Each start of a member numbers its proposals 1, 2, 3, ... and stamps each with the lowest
/// number it still waits on (its *floor*): below the floor, every proposal was applied already or
/// was given up (answered "timed out", its outcome unknown), so none may take effect any more.
/// The table keeps, per member, only its latest start and the numbers applied at or above the
/// floor: a few entries, however many clients and requests the member has served.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Sessions {
    members: BTreeMap<NodeId, MemberSession>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct MemberSession {
    incarnation: u64,
    floor: u64,
    /// Numbers applied at or above `floor`.
    applied: BTreeSet<u64>,
}

impl Sessions {
    /// Record `origin` as applied; false if it must not take effect: it was applied already, it
    /// lies below its member's floor, or it comes from an earlier start than one already seen.
    fn first_time(&mut self, origin: Origin) -> bool {
        let session = self.members.entry(origin.node).or_default();
        if origin.incarnation < session.incarnation {
            return false;
        }
        if origin.incarnation > session.incarnation {
            *session = MemberSession {
                incarnation: origin.incarnation,
                ..MemberSession::default()
            };
        }
        if origin.floor > session.floor {
            session.floor = origin.floor;
            session.applied = session.applied.split_off(&origin.floor);
        }
        origin.sequence >= session.floor && session.applied.insert(origin.sequence)
    }
}

/// A request waiting for an answer, as the deadline index names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Pending {
    Write(ClientId, RequestId),
    Read(u64),
    Transfer(ClientId, RequestId),
}

/// Who answers a proposal once applied: the member and its start (incarnation), and the client's
/// ids. The incarnation keeps an entry proposed before a restart from answering a request of the
/// new start that reuses the same ids. `sequence` and `floor` are for [`Sessions`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Origin {
    node: NodeId,
    incarnation: u64,
    sequence: u64,
    floor: u64,
    client: ClientId,
    request: RequestId,
}

/// A write waiting to be applied.
#[derive(Clone, Copy, Debug)]
struct PendingWrite {
    deadline: Instant,
    sequence: u64,
}

/// A snapshot asked for, waiting to be durable: the persist batch that carries it, once known.
#[derive(Debug)]
struct PendingSnapshot<R> {
    client: ClientId,
    request: RequestId,
    body: R,
    token: Option<PersistToken>,
}

/// A leader transfer waiting for the target to lead.
#[derive(Debug)]
struct PendingTransfer<R> {
    target: NodeId,
    body: R,
    deadline: Instant,
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
    /// Writes this member proposed, by (client, request).
    pending_writes: BTreeMap<(ClientId, RequestId), PendingWrite>,
    /// The sequence numbers of `pending_writes`: the lowest is the floor proposals carry.
    pending_sequences: BTreeSet<u64>,
    pending_reads: BTreeMap<u64, PendingRead<S::Request>>,
    pending_transfers: BTreeMap<(ClientId, RequestId), PendingTransfer<S::Request>>,
    pending_snapshots: Vec<PendingSnapshot<S::Request>>,
    /// Every pending request by deadline, so expiry and the next wake-up cost no scan.
    deadlines: BTreeSet<(Instant, Pending)>,
    /// Replicated: which proposals were applied, so each applies once.
    sessions: Sessions,
    /// This start of the member (see [`Boot::incarnation`]).
    incarnation: u64,
    /// The number of this start's next proposal.
    next_sequence: u64,
    next_read_context: u64,
    /// Set when the node met input it cannot accept; it then does nothing more.
    halted: Option<Halt>,
    outputs: VecDeque<Output<Message, S::Response>>,
}

/// The disk of a member of a new cluster of `voters` that starts from `state` (a state machine
/// snapshot, such as one a backup was made of) instead of an empty state: etcd's snapshot
/// restore. Like [`PersistedState::bootstrap`], every initial member starts from the same one.
pub fn bootstrap_with_state(
    voters: impl IntoIterator<Item = NodeId>,
    state: Vec<u8>,
) -> PersistedState {
    let mut persisted = PersistedState::bootstrap(voters);
    let snapshot = persisted
        .snapshot
        .as_mut()
        .expect("a bootstrap has a snapshot");
    snapshot.data = encode(&NodeSnapshot {
        sessions: Sessions::default(),
        state,
    });
    persisted
}

impl<S: StateMachine> Node<S> {
    /// Start a member from what it persisted, with a fresh state machine `state`. Then drain it
    /// ([`crate::io::drain`]): that gives its first deadline. Fails when the persisted snapshot
    /// does not decode.
    pub fn boot(boot: Boot, state: S) -> Result<Node<S>, Halt> {
        let Boot {
            config,
            persisted,
            incarnation,
            now,
        } = boot;
        let snapshot = persisted
            .snapshot
            .as_ref()
            .map(|s| s.data.clone())
            .unwrap_or_default();
        let raft = Raft::restart(config.raft.clone(), persisted);
        let mut node = Node::with_raft(config, raft, state, incarnation);
        node.restore(&snapshot).map_err(|error| Halt {
            reason: format!("cannot start: {error}"),
        })?;
        node.handle(Input::Timeout { now });
        Ok(node)
    }

    fn with_raft(config: NodeConfig, raft: Raft, state: S, incarnation: u64) -> Node<S> {
        Node {
            config,
            raft,
            state,
            now: Instant::ZERO,
            leading: false,
            pending_writes: BTreeMap::new(),
            pending_sequences: BTreeSet::new(),
            pending_reads: BTreeMap::new(),
            pending_transfers: BTreeMap::new(),
            pending_snapshots: Vec::new(),
            deadlines: BTreeSet::new(),
            sessions: Sessions::default(),
            incarnation,
            next_sequence: 1,
            // Contexts start at a point far apart per start, so two starts' never meet.
            next_read_context: splitmix64(incarnation),
            halted: None,
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

    /// This start of the member.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// Requests waiting for an answer: writes, linearizable reads and leader transfers.
    pub fn pending_requests(&self) -> usize {
        self.pending_writes.len()
            + self.pending_reads.len()
            + self.pending_transfers.len()
            + self.pending_snapshots.len()
    }

    /// How many proposal numbers the replicated sessions remember, over every member: a few per
    /// member, however many clients came and went (see `Sessions`).
    pub fn sessions_len(&self) -> usize {
        self.sessions
            .members
            .values()
            .map(|session| session.applied.len())
            .sum()
    }

    /// Why the node stopped, if it did.
    pub fn halted(&self) -> Option<&Halt> {
        self.halted.as_ref()
    }

    /// Stop for good: everything not yet handed out is dropped, and every poll says why.
    fn halt(&mut self, reason: String) {
        self.outputs.clear();
        self.halted = Some(Halt { reason });
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
            Route::TransferLeader(target) => self.transfer(client, request, target, body),
            Route::Snapshot => {
                self.snapshot_now(client, request, body);
                Ok(())
            }
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
        let sequence = self.next_sequence;
        let floor = self
            .pending_sequences
            .first()
            .map_or(sequence, |&pending| pending.min(sequence));
        let origin = Some(Origin {
            node: self.id(),
            incarnation: self.incarnation,
            sequence,
            floor,
            client,
            request,
        });
        let data = encode(&Proposal {
            origin,
            change,
            body,
        });
        self.raft.propose(self.now, kind, data)?;
        self.next_sequence += 1;
        let deadline = self.now + self.config.request_timeout;
        let write = PendingWrite { deadline, sequence };
        if let Some(replaced) = self.pending_writes.insert((client, request), write) {
            // The client reused a request id while the first was pending, against the contract:
            // forget the first, so that nothing refers to it.
            self.forget_write(client, request, replaced);
        }
        self.pending_sequences.insert(sequence);
        self.deadlines
            .insert((deadline, Pending::Write(client, request)));
        Ok(())
    }

    /// Hand leadership to `target`; answer once it leads (etcd's MoveLeader).
    fn transfer(
        &mut self,
        client: ClientId,
        request: RequestId,
        target: NodeId,
        body: S::Request,
    ) -> Result<(), ServiceError> {
        self.raft.transfer_leadership(self.now, target)?;
        let deadline = self.now + self.config.request_timeout;
        self.deadlines
            .insert((deadline, Pending::Transfer(client, request)));
        let transfer = PendingTransfer {
            target,
            body,
            deadline,
        };
        self.pending_transfers.insert((client, request), transfer);
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
        if self.halted.is_some() {
            return;
        }
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
        if let Err(error) = self.apply_committed() {
            return self.halt(error.to_string());
        }
        self.collect_read_states();
        self.serve_ready_reads();
        self.finish_transfers();
        self.expire_requests();
        self.maybe_snapshot();
        while let Some(batch) = self.raft.poll_persist() {
            self.note_snapshot_batch(&batch);
            self.outputs.push_back(Output::Persist(batch));
        }
        while let Some((to, message)) = self.raft.poll_message() {
            self.outputs.push_back(Output::Send { to, message });
        }
    }

    /// Apply what Raft committed, in log order. Entries and snapshots come from disk or from
    /// peers: one that does not decode stops the node.
    fn apply_committed(&mut self) -> Result<(), DecodeError> {
        while let Some(apply) = self.raft.next_to_apply() {
            match apply {
                Apply::Snapshot(snapshot) => self.restore(&snapshot.data)?,
                Apply::Entry(entry) if entry.data.is_empty() => {}
                Apply::Entry(entry) => {
                    let proposal = decode(&entry.data).map_err(|error| {
                        DecodeError::new(format!("the entry at index {}", entry.index), error)
                    })?;
                    self.apply_entry(entry.index, proposal);
                }
            }
        }
        Ok(())
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
            Some(change) => match self
                .state
                .check_conf_change(&proposal.body, self.raft.membership())
                .and_then(|()| self.raft.apply_conf_change(self.now, &change))
            {
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
            incarnation,
            client,
            request,
            ..
        }) = proposal.origin
            && (node, incarnation) == (self.id(), self.incarnation)
            && self.take_write(client, request)
        {
            self.respond(client, request, response);
        }
    }

    /// Replace the replicated state with a snapshot's (empty: the bootstrap state). On an error
    /// nothing changed.
    fn restore(&mut self, data: &[u8]) -> Result<(), DecodeError> {
        let snapshot: NodeSnapshot = if data.is_empty() {
            NodeSnapshot::default()
        } else {
            decode(data).map_err(|error| DecodeError::new("a snapshot", error))?
        };
        self.state.restore(&snapshot.state)?;
        self.sessions = snapshot.sessions;
        Ok(())
    }

    /// Answer the leader transfers whose target now leads.
    fn finish_transfers(&mut self) {
        if self.pending_transfers.is_empty() {
            return;
        }
        let leader = self.raft.leader();
        let done: Vec<(ClientId, RequestId)> = self
            .pending_transfers
            .iter()
            .filter(|(_, transfer)| leader == Some(transfer.target))
            .map(|(&key, _)| key)
            .collect();
        for (client, request) in done {
            let transfer = self.take_transfer(client, request).expect("present");
            self.serve(client, request, &transfer.body);
        }
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
                Pending::Transfer(client, request) => {
                    self.take_transfer(client, request);
                    let error = ServiceError::LeaderTransferTimeout;
                    self.respond(client, request, error.into());
                }
            }
        }
    }

    /// Forget a pending write; false if it was not pending (answered or expired already).
    fn take_write(&mut self, client: ClientId, request: RequestId) -> bool {
        let Some(write) = self.pending_writes.remove(&(client, request)) else {
            return false;
        };
        self.forget_write(client, request, write);
        true
    }

    fn forget_write(&mut self, client: ClientId, request: RequestId, write: PendingWrite) {
        self.pending_sequences.remove(&write.sequence);
        self.deadlines
            .remove(&(write.deadline, Pending::Write(client, request)));
    }

    fn take_transfer(
        &mut self,
        client: ClientId,
        request: RequestId,
    ) -> Option<PendingTransfer<S::Request>> {
        let transfer = self.pending_transfers.remove(&(client, request))?;
        self.deadlines
            .remove(&(transfer.deadline, Pending::Transfer(client, request)));
        Some(transfer)
    }

    /// A client's connection closed: its streams end, and its pending requests are forgotten,
    /// unanswered (their outcome is unknown to a client that is gone). A forgotten write no
    /// longer holds back the floor of this member's session, so if its proposal is still on its
    /// way it will not take effect.
    fn client_closed(&mut self, client: ClientId) {
        self.state.client_closed(client);
        let writes: Vec<RequestId> = self
            .pending_writes
            .range((client, RequestId::MIN)..=(client, RequestId::MAX))
            .map(|(&(_, request), _)| request)
            .collect();
        for request in writes {
            self.take_write(client, request);
        }
        let reads: Vec<u64> = self
            .pending_reads
            .iter()
            .filter(|(_, read)| read.client == client)
            .map(|(&context, _)| context)
            .collect();
        for context in reads {
            self.take_read(context);
        }
        let transfers: Vec<RequestId> = self
            .pending_transfers
            .range((client, RequestId::MIN)..=(client, RequestId::MAX))
            .map(|(&(_, request), _)| request)
            .collect();
        for request in transfers {
            self.take_transfer(client, request);
        }
        self.pending_snapshots
            .retain(|pending| pending.client != client);
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
            self.snapshot();
        }
    }

    fn snapshot(&mut self) {
        let data = encode(&NodeSnapshot {
            sessions: self.sessions.clone(),
            state: self.state.snapshot(),
        });
        self.raft
            .compact(self.now, data, self.config.snapshot_catch_up_entries);
    }

    /// Snapshot now, and answer once the snapshot is durable; at once if the latest snapshot
    /// already covers everything applied.
    fn snapshot_now(&mut self, client: ClientId, request: RequestId, body: S::Request) {
        if self.raft.applied_index() == self.raft.snapshot_index() {
            return self.serve(client, request, &body);
        }
        self.snapshot();
        self.pending_snapshots.push(PendingSnapshot {
            client,
            request,
            body,
            token: None,
        });
    }

    /// The batch that carries a snapshot is what pending snapshot requests wait for.
    fn note_snapshot_batch(&mut self, batch: &PersistBatch) {
        if batch.snapshot.is_none() {
            return;
        }
        for pending in &mut self.pending_snapshots {
            pending.token.get_or_insert(batch.token);
        }
    }

    /// Answer the snapshot requests whose snapshot is durable through `through`.
    fn finish_snapshots(&mut self, through: PersistToken) {
        let (done, waiting) = std::mem::take(&mut self.pending_snapshots)
            .into_iter()
            .partition(|pending| pending.token.is_some_and(|token| token <= through));
        self.pending_snapshots = waiting;
        for pending in done {
            let PendingSnapshot {
                client,
                request,
                body,
                ..
            } = pending;
            self.serve(client, request, &body);
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
        if self.halted.is_some() {
            return;
        }
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
            Input::Persisted { now, through } => {
                self.raft.handle_persisted(now, through);
                self.finish_snapshots(through);
            }
            Input::ClientClosed { client, .. } => self.client_closed(client),
            Input::Campaign { now } => self.raft.campaign_now(now),
        }
        self.after_input();
    }

    fn poll_output(&mut self) -> Output<Message, S::Response> {
        if let Some(halt) = &self.halted {
            return Output::Halt(halt.clone());
        }
        self.outputs
            .pop_front()
            .unwrap_or_else(|| Output::Timeout(self.next_deadline()))
    }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).expect("encoding a proposal cannot fail")
}

/// Entries and snapshots come back from disk or from peers: bytes that do not decode are input,
/// reported as an error.
fn decode<T: for<'de> Deserialize<'de>>(data: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(data)
}

/// A 64-bit mixing function (splitmix64's finalizer): spreads a seed over all bits.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
