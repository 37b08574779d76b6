//! Linearizable reads on the leader: etcd raft's ReadIndex with ReadOnlySafe.
//!
//! A read is given the leader's commit index when it arrives, then held until a quorum of voters
//! acknowledges a heartbeat sent after it: that proves no newer leader had committed anything at
//! that moment, so serving the read once the state machine reaches the index is linearizable.
//! Heartbeats carry a rising `round`; an acknowledgement of round `r` confirms every read
//! registered at a round of at most `r`.

use std::collections::{BTreeSet, VecDeque};

use super::types::{Index, Membership};
use crate::io::NodeId;

/// A read waiting for its quorum. `origin` is the member that will serve it (the leader itself or
/// a follower that forwarded it); `context` is that member's id for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingRead {
    pub origin: NodeId,
    pub context: u64,
    pub index: Index,
    round: u64,
    acks: BTreeSet<NodeId>,
}

#[derive(Debug, Default)]
pub struct ReadOnly {
    queue: VecDeque<PendingRead>,
    round: u64,
}

impl ReadOnly {
    /// The round the next heartbeat carries.
    pub fn round(&self) -> u64 {
        self.round
    }

    /// Register a read at `index`, acknowledged by the leader itself; starts a new round, which
    /// the caller broadcasts in a heartbeat.
    pub fn add(&mut self, leader: NodeId, origin: NodeId, context: u64, index: Index) {
        self.round += 1;
        let acks = BTreeSet::from([leader]);
        self.queue.push_back(PendingRead {
            origin,
            context,
            index,
            round: self.round,
            acks,
        });
    }

    /// `from` acknowledged a heartbeat of `round`.
    pub fn acknowledge(&mut self, from: NodeId, round: u64) {
        for read in self.queue.iter_mut().take_while(|read| read.round <= round) {
            read.acks.insert(from);
        }
    }

    /// Remove and return the reads a quorum of voters has confirmed, oldest first.
    pub fn take_confirmed(&mut self, membership: &Membership) -> Vec<PendingRead> {
        let confirmed = |read: &PendingRead| {
            read.acks
                .iter()
                .filter(|id| membership.voters.contains(id))
                .count()
                >= membership.quorum()
        };
        // Reads are confirmed in order: acknowledgements of a round confirm all earlier rounds.
        let count = self.queue.iter().take_while(|read| confirmed(read)).count();
        self.queue.drain(..count).collect()
    }

    /// Every pending read, dropped because this member stopped leading.
    pub fn abandon(&mut self) -> Vec<PendingRead> {
        self.queue.drain(..).collect()
    }
}
