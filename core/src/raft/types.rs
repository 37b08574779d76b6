//! Raft's data: log entries, hard state, snapshots, membership, messages and persist batches.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::io::{NodeId, PersistToken};

/// A Raft term.
pub type Term = u64;
/// A position in the Raft log; the first real entry is at index 1 (or after the snapshot).
pub type Index = u64;

/// What an entry carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryKind {
    /// An opaque request for the state machine (empty: a new leader's no-op).
    Normal,
    /// A membership change: the data is the node's encoding of a [`ConfChange`] and its request.
    ConfChange,
}

/// One log entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub term: Term,
    pub index: Index,
    pub kind: EntryKind,
    pub data: Vec<u8>,
}

impl Entry {
    /// Bytes this entry counts for against `batch_bytes_max` and `uncommitted_bytes_max`.
    pub fn size(&self) -> u64 {
        self.data.len() as u64 + 24
    }
}

/// What must survive a crash besides the log: etcd raft's HardState.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HardState {
    pub term: Term,
    pub voted_for: Option<NodeId>,
    pub commit: Index,
}

/// The cluster's members as of some log index. Learners receive the log but never vote and are
/// never counted toward a quorum.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Membership {
    pub voters: BTreeSet<NodeId>,
    pub learners: BTreeSet<NodeId>,
}

impl Membership {
    pub fn with_voters(voters: impl IntoIterator<Item = NodeId>) -> Membership {
        Membership {
            voters: voters.into_iter().collect(),
            learners: BTreeSet::new(),
        }
    }

    /// How many votes or acknowledgements make a majority of the voters.
    pub fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    pub fn contains(&self, id: NodeId) -> bool {
        self.voters.contains(&id) || self.learners.contains(&id)
    }

    /// Every member, voters and learners, in id order.
    pub fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.voters.union(&self.learners).copied()
    }

    /// The membership after `change`, or why the change is refused (etcd's messages).
    pub fn apply(&self, change: &ConfChange) -> Result<Membership, String> {
        let mut next = self.clone();
        match *change {
            ConfChange::AddVoter(id) | ConfChange::AddLearner(id) if self.contains(id) => {
                return Err("etcdserver: member ID already exist".into());
            }
            ConfChange::AddVoter(id) => {
                next.voters.insert(id);
            }
            ConfChange::AddLearner(id) => {
                next.learners.insert(id);
            }
            ConfChange::Remove(id) => {
                if !self.contains(id) {
                    return Err("etcdserver: member not found".into());
                }
                if self.voters.len() == 1 && self.voters.contains(&id) {
                    return Err(
                        "etcdserver: re-configuration failed due to not enough started members"
                            .into(),
                    );
                }
                next.voters.remove(&id);
                next.learners.remove(&id);
            }
            ConfChange::Promote(id) => {
                if !self.contains(id) {
                    return Err("etcdserver: member not found".into());
                }
                if !self.learners.contains(&id) {
                    return Err("etcdserver: can only promote a learner member".into());
                }
                next.learners.remove(&id);
                next.voters.insert(id);
            }
        }
        Ok(next)
    }
}

/// One membership change; changes are made one at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfChange {
    AddVoter(NodeId),
    AddLearner(NodeId),
    Remove(NodeId),
    Promote(NodeId),
}

/// A state-machine snapshot and the log position and membership it reflects.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub index: Index,
    pub term: Term,
    pub membership: Membership,
    pub data: Vec<u8>,
}

/// Writes the driver must make durable before reporting `Persisted { through: token }`. Applied in
/// this order: the snapshot (which replaces every stored entry at or before its index, and every
/// later one too unless the stored log holds the snapshot's last entry: this is how the log is
/// compacted and how a follower installs a leader's snapshot), then the entries (an entry at index `i` replaces the stored entry at `i`
/// and every later one), then the hard state.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PersistBatch {
    pub token: PersistToken,
    pub snapshot: Option<Snapshot>,
    pub entries: Vec<Entry>,
    pub hard_state: Option<HardState>,
}

impl PersistBatch {
    pub fn is_empty(&self) -> bool {
        self.snapshot.is_none() && self.entries.is_empty() && self.hard_state.is_none()
    }

    /// Bytes this batch writes, for disk models.
    pub fn size(&self) -> u64 {
        let snapshot = self
            .snapshot
            .as_ref()
            .map_or(0, |s| s.data.len() as u64 + 32);
        let entries: u64 = self.entries.iter().map(Entry::size).sum();
        snapshot + entries + if self.hard_state.is_some() { 24 } else { 0 }
    }
}

/// Everything a node persisted, as the driver reads it back on restart.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PersistedState {
    pub hard_state: HardState,
    pub snapshot: Option<Snapshot>,
    /// The entries after the snapshot, contiguous.
    pub entries: Vec<Entry>,
}

impl PersistedState {
    /// The disk of a member of a new cluster of `voters`: a bootstrap snapshot at index 1, term 1,
    /// holding that membership and an empty state machine. Every initial member starts from the
    /// same one, so their logs match from the start; a member that joins later starts from
    /// nothing and receives a snapshot from the leader.
    pub fn bootstrap(voters: impl IntoIterator<Item = NodeId>) -> PersistedState {
        let membership = Membership::with_voters(voters);
        let snapshot = Snapshot {
            index: 1,
            term: 1,
            membership,
            data: Vec::new(),
        };
        PersistedState {
            hard_state: HardState {
                term: 1,
                voted_for: None,
                commit: 1,
            },
            snapshot: Some(snapshot),
            entries: Vec::new(),
        }
    }

    /// Apply a batch the way a driver's storage must.
    pub fn apply(&mut self, batch: &PersistBatch) {
        if let Some(snapshot) = &batch.snapshot {
            let stored = self.snapshot.as_ref().map(|s| (s.index, s.term));
            keep_after_snapshot(&mut self.entries, stored, (snapshot.index, snapshot.term));
            self.snapshot = Some(snapshot.clone());
        }
        if let Some(first) = batch.entries.first() {
            // Entries are contiguous, so the replaced suffix starts at a computed position.
            let keep = self
                .entries
                .first()
                .map_or(0, |e| first.index.saturating_sub(e.index) as usize);
            self.entries.truncate(keep);
            self.entries.extend(batch.entries.iter().cloned());
        }
        if let Some(hard_state) = batch.hard_state {
            self.hard_state = hard_state;
        }
    }
}

/// The stored entries that survive storing a snapshot at `(index, term)` over a log whose
/// snapshot was `stored`: Raft §7, entries after the snapshot survive only if the log holds the
/// snapshot's last entry (same index and term), or the stored snapshot is that very point; by log
/// matching, what follows is then consistent. Otherwise the whole log goes.
pub fn keep_after_snapshot(
    entries: &mut Vec<Entry>,
    stored: Option<(Index, Term)>,
    (index, term): (Index, Term),
) {
    let continues =
        stored == Some((index, term)) || entries.iter().any(|e| e.index == index && e.term == term);
    if continues {
        entries.retain(|e| e.index > index);
    } else {
        entries.clear();
    }
}

/// A Raft message between members. `term` is the sender's term.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub term: Term,
    pub body: MessageBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageBody {
    /// Would you vote for me in `term` (not yet started)? Sent at the sender's next term.
    PreVote {
        last_index: Index,
        last_term: Term,
    },
    PreVoteResponse {
        granted: bool,
    },
    /// Vote for me in `term`. `transfer` is set when the leader asked for this election, so a
    /// follower's leader lease does not refuse it.
    Vote {
        last_index: Index,
        last_term: Term,
        transfer: bool,
    },
    VoteResponse {
        granted: bool,
    },
    /// Append `entries` after (prev_index, prev_term); the leader has committed through `commit`.
    /// `stream` names the leader's stream of appends to this follower it belongs to (see
    /// `Progress::stream`); a rejection echoes it.
    Append {
        prev_index: Index,
        prev_term: Term,
        entries: Vec<Entry>,
        commit: Index,
        stream: u64,
    },
    AppendResponse(AppendResult),
    /// Leadership beacon; `read_context` confirms pending reads (ReadIndex) when acknowledged.
    Heartbeat {
        commit: Index,
        read_context: u64,
    },
    HeartbeatResponse {
        read_context: u64,
    },
    /// Replace your log with this snapshot.
    InstallSnapshot {
        snapshot: Snapshot,
    },
    /// Proposals forwarded from a follower to the leader.
    Propose {
        entries: Vec<(EntryKind, Vec<u8>)>,
    },
    /// A follower asks the leader for a read index; `context` is the follower's own id for it.
    ReadIndex {
        context: u64,
    },
    /// The leader's confirmed read index for a follower's request.
    ReadIndexResponse {
        context: u64,
        index: Index,
    },
    /// Leader transfer: start an election now, ignoring leases.
    TimeoutNow,
}

/// A follower's answer to an `Append` or `InstallSnapshot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppendResult {
    /// The log matches the leader's through `match_index`.
    Accepted { match_index: Index },
    /// The log does not contain (`rejected_index`, its term). The hint is the largest index at or
    /// below `rejected_index` whose term is at most the leader's term there, with that term, so the
    /// leader skips a whole conflicting term at once (etcd's fast backtracking).
    /// `stream` is the rejected append's.
    Rejected {
        rejected_index: Index,
        hint_index: Index,
        hint_term: Term,
        stream: u64,
    },
}

impl MessageBody {
    /// A short name, for traces.
    pub fn kind(&self) -> &'static str {
        match self {
            MessageBody::PreVote { .. } => "PreVote",
            MessageBody::PreVoteResponse { .. } => "PreVoteResponse",
            MessageBody::Vote { .. } => "Vote",
            MessageBody::VoteResponse { .. } => "VoteResponse",
            MessageBody::Append { .. } => "Append",
            MessageBody::AppendResponse(_) => "AppendResponse",
            MessageBody::Heartbeat { .. } => "Heartbeat",
            MessageBody::HeartbeatResponse { .. } => "HeartbeatResponse",
            MessageBody::InstallSnapshot { .. } => "InstallSnapshot",
            MessageBody::Propose { .. } => "Propose",
            MessageBody::ReadIndex { .. } => "ReadIndex",
            MessageBody::ReadIndexResponse { .. } => "ReadIndexResponse",
            MessageBody::TimeoutNow => "TimeoutNow",
        }
    }
}
