//! The contract between the replicated log and what it replicates.
//!
//! The node hands every committed request to a [`StateMachine`] in log order; every member applies
//! the same requests at the same indexes and so reaches the same state. The etcd key-value store
//! (MVCC, lease, watch) implements it; tests implement small ones.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::io::{ClientId, NodeId, RequestId};
use crate::raft::{ConfChange, Index, Membership};
use crate::time::Instant;

/// How the node serves a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// A write: replicated through Raft, applied on every member, answered by the member that
    /// received it once it has applied it.
    Propose,
    /// A read. Linearizable reads wait until this member has applied through a quorum-confirmed
    /// read index (etcd's ReadIndex, ReadOnlySafe); serializable reads are served at once from local
    /// state, which may be stale.
    Read { linearizable: bool },
    /// Served by this member at once, without Raft (watch create, cancel and progress).
    Local,
    /// Served only by the leader, without Raft (lease keep-alive); other members refuse it.
    Leader,
    /// A membership change (etcd's Cluster service), replicated as a configuration entry.
    ConfChange(ConfChange),
    /// Hand leadership to this member (etcd's MoveLeader), on the leader only. Answered through
    /// `serve` once the member leads, or with an error if it does not within the request timeout.
    TransferLeader(NodeId),
    /// Snapshot the state now and compact the log (etcd's Defragment). Answered through `serve`
    /// once the snapshot is durable, or at once when the latest snapshot is current.
    Snapshot,
}

/// Responses for clients other than the one whose request is being handled (watch events).
pub type Notifications<Resp> = Vec<(ClientId, RequestId, Resp)>;

/// Failures the node itself reports to clients, with etcd's messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum ServiceError {
    /// No leader is known, so a write or linearizable read cannot be served.
    NoLeader,
    /// A request that only the leader serves reached another member.
    NotLeader,
    /// The request was not answered in time; it may or may not have taken effect.
    Timeout,
    /// Leadership moved while the request waited, so its outcome here is unknown.
    LeaderChanged,
    /// Too many proposals are waiting to commit (`uncommitted_bytes_max`), or a leader transfer is
    /// under way.
    TooManyRequests,
    /// Raft dropped the proposal (a leader transfer is under way, or another membership change is
    /// still pending); it certainly did not take effect.
    ProposalDropped,
    /// A membership change was refused; the text is etcd's.
    Membership(String),
    /// The request is larger than the node accepts.
    RequestTooLarge,
    /// A leader transfer did not complete within the request timeout.
    LeaderTransferTimeout,
}

impl ServiceError {
    /// etcd's error text for this failure.
    pub fn message(&self) -> &str {
        match self {
            ServiceError::NoLeader => "etcdserver: no leader",
            ServiceError::NotLeader => "etcdserver: not leader",
            ServiceError::Timeout => "etcdserver: request timed out",
            ServiceError::LeaderChanged => "etcdserver: leader changed",
            ServiceError::TooManyRequests => "etcdserver: too many requests",
            ServiceError::ProposalDropped => "raft proposal dropped",
            ServiceError::Membership(message) => message,
            ServiceError::RequestTooLarge => "etcdserver: request is too large",
            ServiceError::LeaderTransferTimeout => {
                "etcdserver: request timed out, leader transfer took too long"
            }
        }
    }

    /// True when the request may have taken effect although it failed (the client must treat the
    /// outcome as unknown).
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            ServiceError::Timeout
                | ServiceError::LeaderChanged
                | ServiceError::LeaderTransferTimeout
        )
    }
}

/// Persisted or replicated data that does not decode: input from a disk or a peer, reported as a
/// value, never a panic. The node halts on it (see [`crate::io::Halt`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// What was being decoded: "a snapshot", "the entry at index 7".
    pub what: String,
    pub error: String,
}

impl DecodeError {
    pub fn new(what: impl Into<String>, error: impl std::fmt::Display) -> DecodeError {
        DecodeError {
            what: what.into(),
            error: error.to_string(),
        }
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} does not decode: {}", self.what, self.error)
    }
}

impl std::error::Error for DecodeError {}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// What the Raft log replicates. `apply`, `apply_conf_change`, `snapshot` and `restore` must be
/// pure functions of the applied requests, so that members agree; `serve` and `tick` answer from
/// this member's own state and time.
pub trait StateMachine {
    type Request: Clone + Debug + Serialize + DeserializeOwned;
    type Response: Clone + Debug + From<ServiceError>;

    /// How the node should serve `request`.
    fn route(&self, request: &Self::Request) -> Route;

    /// Apply a committed request at log index `index`. Returns the answer for the client that
    /// proposed it; answers for other clients (watch events) go into `notify`.
    fn apply(
        &mut self,
        index: Index,
        request: &Self::Request,
        notify: &mut Notifications<Self::Response>,
    ) -> Self::Response;

    /// Whether a committed membership change may take effect given what the machine knows of the
    /// members (etcd refuses peer URLs another member has); checked before Raft's own rules.
    /// An error is the answer, and the change is skipped on every member alike.
    fn check_conf_change(
        &self,
        _request: &Self::Request,
        _membership: &Membership,
    ) -> Result<(), String> {
        Ok(())
    }

    /// Apply a committed membership change (already made to `membership`); returns the answer for
    /// the client that proposed it.
    fn apply_conf_change(
        &mut self,
        index: Index,
        request: &Self::Request,
        membership: &Membership,
    ) -> Self::Response;

    /// Serve a read, a local or a leader-only request. `None` means the answer comes later through
    /// notifications (a watch that streams). `leading` is true when this member is the leader.
    fn serve(
        &mut self,
        now: Instant,
        client: ClientId,
        request_id: RequestId,
        request: &Self::Request,
        leading: bool,
        notify: &mut Notifications<Self::Response>,
    ) -> Option<Self::Response>;

    /// Check a request against the state machine's rules and limits before it is routed, and so
    /// before it takes a log entry; an error is the answer to send.
    fn validate(&self, request: &Self::Request) -> Result<(), Self::Response>;

    /// Time-driven duties at `now`, called after every input on every member: watch progress
    /// notifications and catching up slow watchers (into `notify`), and, when `leading`, lease
    /// expiry, returned as requests for the leader to propose.
    fn tick(
        &mut self,
        now: Instant,
        leading: bool,
        notify: &mut Notifications<Self::Response>,
    ) -> Vec<Self::Request>;

    /// The next time `tick` has work to do; `Instant::NEVER` if none.
    fn next_deadline(&self, leading: bool) -> Instant;

    /// Leadership changed at `now`. A new leader gives every lease a fresh deadline, as etcd does,
    /// so that no lease expires early because leadership moved; a deposed one expires nothing.
    fn leadership_changed(&mut self, now: Instant, leading: bool);

    /// A client's connection closed: forget its streams (watches).
    fn client_closed(&mut self, client: ClientId);

    /// The whole state, for a Raft snapshot.
    fn snapshot(&self) -> Vec<u8>;

    /// Replace the whole state with a snapshot's. An empty snapshot is the initial state (the
    /// bootstrap snapshot every cluster starts from, which a joining member receives). The bytes
    /// come from a disk or a peer: data that does not decode is an error, and leaves the state
    /// as it was.
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), DecodeError>;
}
