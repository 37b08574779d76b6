//! Raft, as etcd does it: randomized election timeouts, pre-vote, check-quorum, batched and
//! flow-controlled replication with fast backtracking, snapshots, ReadIndex, proposal forwarding,
//! leader transfer and one-at-a-time membership changes.
//!
//! # Calling contract
//!
//! [`Raft`] is sans-IO. Its owner (the node) calls one `handle_*` method per input, passing `now`,
//! then drains [`Raft::poll_persist`], [`Raft::poll_message`], [`Raft::poll_read`] and the apply
//! queue ([`Raft::next_to_apply`]) until each is empty. Persist batches must be made durable in
//! order and reported with [`Raft::handle_persisted`]. Raft itself holds back every message that
//! depends on an unpersisted write — a vote grant, an append acknowledgement, the leader's count
//! of its own log — until that write is reported durable (etcd raft's write-before-send rule), so
//! a driver cannot get it wrong.
//!
//! Roles have their own step functions (`step_leader`, `step_candidate`, `step_follower`), after
//! the term rules common to all of them in [`Raft::step`].

mod election;
mod log;
mod progress;
mod read_only;
mod replication;
mod types;

use std::collections::{BTreeMap, VecDeque};

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use self::log::RaftLog;
use self::progress::Progress;
pub use self::progress::ProgressState;
use self::read_only::ReadOnly;
pub use self::types::*;
use crate::io::{NodeId, PersistToken};
use crate::state_machine::ServiceError;
use crate::time::{Duration, Instant};

/// Tunables, named with their units and bounds last. Defaults are etcd's where etcd has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftConfig {
    pub id: NodeId,
    /// Seeds the member's RNG (election timeouts); give each member, and each restart of it, its
    /// own, so that incarnations differ.
    pub seed: u64,
    /// Base election timeout; each election waits a random time in `[timeout, 2 * timeout)`.
    pub election_timeout: Duration,
    pub heartbeat_interval: Duration,
    /// Ask for pre-votes before starting an election, so a node that was partitioned away does
    /// not disrupt a stable leader when it returns (Raft thesis §9.6).
    pub pre_vote: bool,
    /// A leader that has not heard from a quorum within an election timeout steps down, and a
    /// follower that hears from its leader refuses votes for other candidates (a leader lease).
    pub check_quorum: bool,
    /// Unacknowledged appends in flight to one follower, at most.
    pub inflight_max: usize,
    /// Bytes of entries in one append, at most (a single larger entry is still sent alone).
    pub batch_bytes_max: u64,
    /// Bytes of proposals appended but not yet committed, at most; beyond it proposals are refused.
    pub uncommitted_bytes_max: u64,
}

impl RaftConfig {
    pub fn new(id: NodeId, seed: u64) -> RaftConfig {
        RaftConfig {
            id,
            seed,
            election_timeout: Duration::from_millis(1000),
            heartbeat_interval: Duration::from_millis(100),
            pre_vote: true,
            check_quorum: true,
            inflight_max: 256,
            batch_bytes_max: 1024 * 1024,
            uncommitted_bytes_max: 64 * 1024 * 1024,
        }
    }
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Role {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

/// A confirmed read index, or why a read cannot be confirmed. `context` is the caller's id for the
/// read, as given to [`Raft::read_index`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadState {
    pub context: u64,
    pub result: Result<Index, ServiceError>,
}

/// What the state machine must apply next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Apply {
    Snapshot(Snapshot),
    Entry(Entry),
}

/// A summary of a member's Raft state, for drivers, invariant checks and reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub id: NodeId,
    pub role: Role,
    pub term: Term,
    pub voted_for: Option<NodeId>,
    pub leader: Option<NodeId>,
    pub commit: Index,
    pub applied: Index,
    pub last_index: Index,
    pub last_term: Term,
    pub first_index: Index,
    pub snapshot_index: Index,
    pub membership: Membership,
}

/// A leader transfer under way.
#[derive(Clone, Copy, Debug)]
struct Transfer {
    target: NodeId,
    deadline: Instant,
}

/// One Raft member. See the module documentation for the calling contract.
#[derive(Debug)]
pub struct Raft {
    config: RaftConfig,
    rng: ChaCha8Rng,
    now: Instant,

    term: Term,
    voted_for: Option<NodeId>,
    role: Role,
    leader: Option<NodeId>,
    log: RaftLog,
    /// The membership as of the last applied configuration entry (or snapshot).
    membership: Membership,

    /// Followers and candidates start an election at this time.
    election_deadline: Instant,
    /// Set at the first input; until then `now` and the election deadline are unknown.
    started: bool,
    /// When this member last heard from a current leader; with check-quorum it refuses votes for
    /// an election timeout after that.
    leader_contact: Option<Instant>,
    /// Votes received in the current (pre-)election, by voter.
    votes: BTreeMap<NodeId, bool>,

    /// Leader only: each member's progress, the leader's own included.
    progress: BTreeMap<NodeId, Progress>,
    heartbeat_deadline: Instant,
    check_quorum_deadline: Instant,
    read_only: ReadOnly,
    /// Reads that arrived before this leader committed an entry of its term; registered then.
    reads_awaiting_commit: Vec<(NodeId, u64)>,
    /// No membership change may be proposed until the state machine applies this index.
    pending_conf_index: Index,
    uncommitted_bytes: u64,
    transfer: Option<Transfer>,

    /// The persist batch being built during the current input.
    batch: PersistBatch,
    /// The hard state last written (or queued), to write it only when it changes.
    persisted_hard_state: HardState,
    next_token: u64,
    /// Batches handed out but not reported durable, with the last log index each makes durable.
    unpersisted: VecDeque<(PersistToken, Index)>,
    /// Messages that must wait for the current input's writes to become durable.
    held: Vec<(NodeId, Message)>,
    /// Messages waiting for a batch to become durable, tagged with its token.
    after_persist: VecDeque<(PersistToken, NodeId, Message)>,

    persist_out: VecDeque<PersistBatch>,
    /// The commit index at the end of the last input: it must never decrease.
    commit_seen: Index,
    messages_out: VecDeque<(NodeId, Message)>,
    reads_out: VecDeque<ReadState>,
}

impl Raft {
    /// A member starting from what it persisted: for a member of a new cluster,
    /// [`PersistedState::bootstrap`]; for one joining a running cluster, nothing (the default),
    /// in which case it waits for the leader's snapshot and never campaigns before it learns it
    /// is a voter.
    /// The state machine must be restored from `persisted.snapshot` by the caller; committed
    /// entries after it are applied again.
    pub fn restart(config: RaftConfig, persisted: PersistedState) -> Raft {
        let snapshot = persisted.snapshot.unwrap_or_default();
        let membership = snapshot.membership.clone();
        let log = RaftLog::restore(snapshot, persisted.entries, persisted.hard_state.commit);
        // The election timer starts at the first input, which brings the first real `now`: a
        // restarted member waits a full election timeout before it campaigns, as in etcd.
        Raft {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            now: Instant::ZERO,
            term: persisted.hard_state.term,
            voted_for: persisted.hard_state.voted_for,
            role: Role::Follower,
            leader: None,
            log,
            membership,
            election_deadline: Instant::NEVER,
            started: false,
            leader_contact: None,
            votes: BTreeMap::new(),
            progress: BTreeMap::new(),
            heartbeat_deadline: Instant::NEVER,
            check_quorum_deadline: Instant::NEVER,
            read_only: ReadOnly::default(),
            reads_awaiting_commit: Vec::new(),
            pending_conf_index: 0,
            uncommitted_bytes: 0,
            transfer: None,
            batch: PersistBatch::default(),
            persisted_hard_state: persisted.hard_state,
            next_token: 1,
            unpersisted: VecDeque::new(),
            held: Vec::new(),
            after_persist: VecDeque::new(),
            persist_out: VecDeque::new(),
            commit_seen: 0,
            messages_out: VecDeque::new(),
            reads_out: VecDeque::new(),
        }
    }

    pub fn id(&self) -> NodeId {
        self.config.id
    }

    pub fn config(&self) -> &RaftConfig {
        &self.config
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn term(&self) -> Term {
        self.term
    }

    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    pub fn commit_index(&self) -> Index {
        self.log.commit()
    }

    pub fn applied_index(&self) -> Index {
        self.log.applied()
    }

    pub fn last_index(&self) -> Index {
        self.log.last_index()
    }

    pub fn snapshot_index(&self) -> Index {
        self.log.snapshot().index
    }

    /// The entry at `index`, if the log still holds it.
    pub fn entry(&self, index: Index) -> Option<&Entry> {
        self.log.entry(index)
    }

    /// The term of the entry at `index`, if known.
    pub fn entry_term(&self, index: Index) -> Option<Term> {
        self.log.term(index)
    }

    pub fn status(&self) -> Status {
        Status {
            id: self.id(),
            role: self.role,
            term: self.term,
            voted_for: self.voted_for,
            leader: self.leader,
            commit: self.log.commit(),
            applied: self.log.applied(),
            last_index: self.log.last_index(),
            last_term: self.log.last_term(),
            first_index: self.log.first_index(),
            snapshot_index: self.log.snapshot().index,
            membership: self.membership.clone(),
        }
    }

    /// The voters that granted this member its vote in its latest election, in id order.
    pub fn votes_granted(&self) -> Vec<NodeId> {
        self.votes
            .iter()
            .filter(|&(_, &granted)| granted)
            .map(|(&id, _)| id)
            .collect()
    }

    /// A follower's progress as the leader sees it (None on other members).
    pub fn progress_state(&self, id: NodeId) -> Option<(ProgressState, Index)> {
        self.progress.get(&id).map(|p| (p.state, p.match_index))
    }

    // ----- inputs -----

    /// Deadlines that passed: elections, heartbeats, check-quorum, leader-transfer expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance_time(now);
        if self.role == Role::Leader {
            self.leader_timers();
        } else if now >= self.election_deadline {
            if self.promotable() {
                self.campaign(false);
            } else {
                self.reset_election_deadline();
            }
        }
        self.end_of_input();
    }

    /// A message from a peer.
    pub fn handle_message(&mut self, now: Instant, from: NodeId, message: Message) {
        self.advance_time(now);
        self.step(from, message);
        self.end_of_input();
    }

    /// Every persist batch through `through` is durable.
    pub fn handle_persisted(&mut self, now: Instant, through: PersistToken) {
        self.advance_time(now);
        while self
            .unpersisted
            .front()
            .is_some_and(|(token, _)| *token <= through)
        {
            let (_, last) = self.unpersisted.pop_front().expect("front exists");
            self.log.stable_to(last);
        }
        while self
            .after_persist
            .front()
            .is_some_and(|(token, _, _)| *token <= through)
        {
            let (_, to, message) = self.after_persist.pop_front().expect("front exists");
            self.deliver(to, message);
        }
        self.end_of_input();
    }

    /// Start an election now, as if the election timeout had passed (etcd raft's `Campaign`).
    pub fn campaign_now(&mut self, now: Instant) {
        self.advance_time(now);
        if self.role != Role::Leader {
            self.campaign(false);
        }
        self.end_of_input();
    }

    /// Propose an entry. The leader appends it; a follower forwards it to the leader it knows.
    /// An error means it was certainly not appended.
    pub fn propose(
        &mut self,
        now: Instant,
        kind: EntryKind,
        data: Vec<u8>,
    ) -> Result<(), ServiceError> {
        self.advance_time(now);
        let result = match (self.role, self.leader) {
            (Role::Leader, _) => self.append_proposals(vec![(kind, data)]),
            (Role::Follower, Some(leader)) => {
                self.send(
                    leader,
                    MessageBody::Propose {
                        entries: vec![(kind, data)],
                    },
                );
                Ok(())
            }
            _ => Err(ServiceError::NoLeader),
        };
        self.end_of_input();
        result
    }

    /// Ask for a linearizable read index; the answer comes from [`Raft::poll_read`] with the same
    /// `context` once a quorum has confirmed this member's (or its leader's) leadership.
    pub fn read_index(&mut self, now: Instant, context: u64) -> Result<(), ServiceError> {
        self.advance_time(now);
        let result = match (self.role, self.leader) {
            (Role::Leader, _) => {
                self.leader_read(self.id(), context);
                Ok(())
            }
            (Role::Follower, Some(leader)) => {
                self.send(leader, MessageBody::ReadIndex { context });
                Ok(())
            }
            _ => Err(ServiceError::NoLeader),
        };
        self.end_of_input();
        result
    }

    /// Hand leadership to `target` (etcd's MoveLeader): catch it up, then tell it to campaign.
    pub fn transfer_leadership(
        &mut self,
        now: Instant,
        target: NodeId,
    ) -> Result<(), ServiceError> {
        self.advance_time(now);
        let result = if self.role != Role::Leader {
            Err(ServiceError::NotLeader)
        } else if !self.membership.voters.contains(&target) {
            Err(ServiceError::Membership(
                "etcdserver: bad leader transferee".into(),
            ))
        } else {
            if target != self.id() {
                self.start_transfer(target);
            }
            Ok(())
        };
        self.end_of_input();
        result
    }

    /// The next entry or snapshot to apply, committed and durable, in log order.
    pub fn next_to_apply(&mut self) -> Option<Apply> {
        if let Some(snapshot) = self.log.take_snapshot_to_apply() {
            return Some(Apply::Snapshot(snapshot));
        }
        self.log.take_entry_to_apply().map(Apply::Entry)
    }

    /// A configuration entry was applied: make the change. A leader that removed itself steps
    /// down; a member that is no longer a voter stops campaigning.
    pub fn apply_conf_change(&mut self, now: Instant, change: &ConfChange) -> Result<(), String> {
        self.advance_time(now);
        let next = self.membership.apply(change);
        if let Ok(membership) = &next {
            self.membership = membership.clone();
            if self.role == Role::Leader {
                self.leader_membership_changed();
            }
        }
        self.end_of_input();
        next.map(|_| ())
    }

    /// The state machine is captured in `data` as of the applied index: snapshot it and compact
    /// the log, keeping `keep_entries` entries before it for slow followers.
    pub fn compact(&mut self, now: Instant, data: Vec<u8>, keep_entries: u64) {
        self.advance_time(now);
        let index = self.log.applied();
        let term = self
            .log
            .term(index)
            .expect("the applied entry is in the log");
        let snapshot = Snapshot {
            index,
            term,
            membership: self.membership.clone(),
            data,
        };
        self.log.compact(snapshot.clone(), keep_entries);
        self.batch.snapshot = Some(snapshot);
        self.end_of_input();
    }

    // ----- outputs -----

    pub fn poll_persist(&mut self) -> Option<PersistBatch> {
        self.persist_out.pop_front()
    }

    pub fn poll_message(&mut self) -> Option<(NodeId, Message)> {
        self.messages_out.pop_front()
    }

    pub fn poll_read(&mut self) -> Option<ReadState> {
        self.reads_out.pop_front()
    }

    /// The earliest time this member has something to do without any input.
    pub fn next_deadline(&self) -> Instant {
        match self.role {
            Role::Leader => {
                let transfer = self.transfer.map_or(Instant::NEVER, |t| t.deadline);
                self.heartbeat_deadline
                    .min(self.check_quorum_deadline)
                    .min(transfer)
            }
            _ => self.election_deadline,
        }
    }

    // ----- plumbing -----

    fn advance_time(&mut self, now: Instant) {
        // A driver may report a clock that steps back (drift, a step): Raft only ever waits for
        // deadlines, so an earlier `now` just makes them come later.
        self.now = now;
        if !self.started {
            self.started = true;
            self.reset_election_deadline();
        }
    }

    /// Whether this member may campaign: it is a voter of the membership it has applied.
    fn promotable(&self) -> bool {
        self.membership.voters.contains(&self.id())
    }

    fn reset_election_deadline(&mut self) {
        let base = self.config.election_timeout.as_nanos() as u64;
        let jitter = self.rng.next_u64() % base.max(1);
        self.election_deadline = self.now + Duration::from_nanos(base + jitter);
    }

    fn send(&mut self, to: NodeId, body: MessageBody) {
        self.messages_out.push_back((
            to,
            Message {
                term: self.term,
                body,
            },
        ));
    }

    /// Send `body` once everything written during this input is durable.
    fn send_after_persist(&mut self, to: NodeId, body: MessageBody) {
        self.held.push((
            to,
            Message {
                term: self.term,
                body,
            },
        ));
    }

    /// Send a released message, or step it here if it is addressed to this member.
    fn deliver(&mut self, to: NodeId, message: Message) {
        if to == self.id() {
            self.step(to, message);
        } else {
            self.messages_out.push_back((to, message));
        }
    }

    fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            voted_for: self.voted_for,
            commit: self.log.commit(),
        }
    }

    /// Queue entries for persistence. Entries at or after `entries[0].index` that were queued or
    /// written earlier are replaced, so earlier batches can no longer make them durable.
    fn persist_entries(&mut self, entries: Vec<Entry>) {
        let Some(first) = entries.first().map(|e| e.index) else {
            return;
        };
        for (_, last) in self.unpersisted.iter_mut() {
            *last = (*last).min(first - 1);
        }
        self.log.unstable_from(first);
        self.batch.entries.retain(|e| e.index < first);
        self.batch.entries.extend(entries);
    }

    /// Close the input: hand out the persist batch, then release or hold the messages that wait
    /// for it. Messages to this member itself (its own vote, its own append acknowledgement) are
    /// stepped here once their writes are durable, which may produce more work; loop until none.
    fn end_of_input(&mut self) {
        loop {
            let hard_state = self.hard_state();
            if hard_state.term != self.persisted_hard_state.term
                || hard_state.voted_for != self.persisted_hard_state.voted_for
                || (!self.batch.is_empty() && hard_state != self.persisted_hard_state)
            {
                // Term and vote must be durable before anything depending on them is sent; the
                // commit index rides along with other writes (it can be learned again).
                self.batch.hard_state = Some(hard_state);
                self.persisted_hard_state = hard_state;
            }
            if !self.batch.is_empty() {
                let token = PersistToken(self.next_token);
                self.next_token += 1;
                let mut batch = std::mem::take(&mut self.batch);
                batch.token = token;
                self.unpersisted.push_back((token, self.log.last_index()));
                self.persist_out.push_back(batch);
            }
            let held = std::mem::take(&mut self.held);
            if held.is_empty() {
                break;
            }
            match self.unpersisted.back() {
                Some(&(token, _)) => {
                    self.after_persist
                        .extend(held.into_iter().map(|(to, message)| (token, to, message)));
                    break;
                }
                None => held
                    .into_iter()
                    .for_each(|(to, message)| self.deliver(to, message)),
            }
        }
        self.check_invariants();
    }

    /// Debug-build checks after every input.
    fn check_invariants(&mut self) {
        if !cfg!(debug_assertions) {
            return;
        }
        debug_assert!(
            self.log.commit() >= self.commit_seen,
            "the commit index decreased"
        );
        self.commit_seen = self.log.commit();
        self.log.check_invariants();
        debug_assert!(
            self.log.last_term() <= self.term,
            "a log entry's term exceeds the current term"
        );
        debug_assert_eq!(
            self.role == Role::Leader,
            self.leader == Some(self.id()),
            "a leader knows it leads"
        );
        if self.role == Role::Leader {
            debug_assert_eq!(
                self.voted_for,
                Some(self.id()),
                "a leader voted for itself in its term"
            );
        }
        debug_assert!(
            self.persisted_hard_state.term == self.term
                && self.persisted_hard_state.voted_for == self.voted_for
        );
    }
}
