//! Terms, votes and roles: Raft §5.2 with pre-vote, check-quorum and leader transfer.

use std::cmp::Ordering;

use super::progress::Progress;
use super::types::{Message, MessageBody, Term};
use super::{Raft, ReadState, Role};
use crate::io::NodeId;
use crate::state_machine::ServiceError;

impl Raft {
    /// The term rules every role shares (Raft §5.1), then the role's own step function.
    pub(super) fn step(&mut self, from: NodeId, message: Message) {
        match message.term.cmp(&self.term) {
            Ordering::Greater => {
                if self.ignores_disruption(&message.body) {
                    return;
                }
                match message.body {
                    // A pre-vote is for a term nobody has started: it changes nothing here.
                    MessageBody::PreVote { .. }
                    | MessageBody::PreVoteResponse { granted: true } => {}
                    MessageBody::Append { .. }
                    | MessageBody::Heartbeat { .. }
                    | MessageBody::InstallSnapshot { .. } => {
                        self.become_follower(message.term, Some(from));
                    }
                    _ => self.become_follower(message.term, None),
                }
            }
            Ordering::Less => {
                self.answer_stale(from, &message.body);
                return;
            }
            Ordering::Equal => {}
        }
        match message.body {
            MessageBody::PreVote {
                last_index,
                last_term,
            } => self.handle_vote_request(from, message.term, true, last_index, last_term),
            MessageBody::Vote {
                last_index,
                last_term,
                ..
            } => self.handle_vote_request(from, message.term, false, last_index, last_term),
            body => match self.role {
                Role::Leader => self.step_leader(from, body),
                Role::Candidate | Role::PreCandidate => {
                    self.step_candidate(from, message.term, body)
                }
                Role::Follower => self.step_follower(from, body),
            },
        }
    }

    /// With check-quorum, a member that heard from a live leader within the election timeout
    /// ignores (pre-)vote requests for a higher term: the leader is fine, and a partitioned node
    /// that returns must not force an election (etcd's leader lease). A transfer is exempt.
    fn ignores_disruption(&self, body: &MessageBody) -> bool {
        let request = match body {
            MessageBody::PreVote { .. } => true,
            MessageBody::Vote { transfer, .. } => !transfer,
            _ => false,
        };
        request && self.in_leader_lease()
    }

    fn in_leader_lease(&self) -> bool {
        if !self.config.check_quorum || self.leader.is_none() {
            return false;
        }
        self.role == Role::Leader
            || self
                .leader_contact
                .is_some_and(|contact| self.now < contact + self.config.election_timeout)
    }

    /// A message from an older term. A stale leader is told the current term so that it steps
    /// down (with check-quorum or pre-vote it could otherwise stay stuck); a stale pre-candidate
    /// gets a refusal so it does not wait forever.
    fn answer_stale(&mut self, from: NodeId, body: &MessageBody) {
        match body {
            MessageBody::Append { .. } | MessageBody::Heartbeat { .. }
                if self.config.check_quorum || self.config.pre_vote =>
            {
                self.send(from, MessageBody::HeartbeatResponse { read_context: 0 });
            }
            MessageBody::PreVote { .. } => {
                self.send(from, MessageBody::PreVoteResponse { granted: false })
            }
            _ => {}
        }
    }

    /// Raft §5.2 and §5.4.1: grant at most one vote per term, only to a candidate whose log is at
    /// least as up to date. A real vote is durable before the grant is sent.
    fn handle_vote_request(
        &mut self,
        from: NodeId,
        term: Term,
        pre_vote: bool,
        last_index: u64,
        last_term: Term,
    ) {
        let can_vote = self.voted_for == Some(from)
            || (self.voted_for.is_none() && self.leader.is_none())
            || (pre_vote && term > self.term);
        let granted = can_vote && self.log.is_up_to_date(last_index, last_term);
        match (pre_vote, granted) {
            (true, true) => {
                // Answer in the candidate's future term, so its tally accepts it.
                self.messages_out.push_back((
                    from,
                    Message {
                        term,
                        body: MessageBody::PreVoteResponse { granted },
                    },
                ));
            }
            (true, false) => self.send(from, MessageBody::PreVoteResponse { granted }),
            (false, true) => {
                self.voted_for = Some(from);
                self.reset_election_deadline();
                self.send_after_persist(from, MessageBody::VoteResponse { granted });
            }
            (false, false) => self.send(from, MessageBody::VoteResponse { granted }),
        }
    }

    /// Start an election: a pre-vote round first unless `transfer` (the leader asked for it).
    pub(super) fn campaign(&mut self, transfer: bool) {
        if !self.promotable() {
            return;
        }
        if !self.config.pre_vote || transfer {
            self.start_election(transfer);
            return;
        }
        self.become_pre_candidate();
        let body = MessageBody::PreVote {
            last_index: self.log.last_index(),
            last_term: self.log.last_term(),
        };
        // Pre-votes are asked for the next term without moving to it.
        for peer in self.other_voters() {
            self.messages_out.push_back((
                peer,
                Message {
                    term: self.term + 1,
                    body: body.clone(),
                },
            ));
        }
        self.record_vote(self.id(), true);
    }

    /// Move to the next term and ask for votes. `transfer` marks an election the leader asked for.
    fn start_election(&mut self, transfer: bool) {
        self.become_candidate();
        let body = MessageBody::Vote {
            last_index: self.log.last_index(),
            last_term: self.log.last_term(),
            transfer,
        };
        // The requests, and the candidate's own vote, go out once its new term and vote are
        // durable (as etcd sends a Ready's messages after saving its HardState). Sent earlier, a
        // candidate could win with votes of others, lead, crash before the fsync and come back in
        // the term before: running for the same term again, it wins it again from the same
        // voters and leads it a second time, with a different log.
        for peer in self.other_voters() {
            if cfg!(feature = "mutation-vote-request-before-persist") {
                // The planted bug of `mutation-vote-request-before-persist`: the term and vote
                // this request stands on can still be lost to a crash.
                self.send(peer, body.clone());
            } else {
                self.send_after_persist(peer, body.clone());
            }
        }
        self.send_after_persist(self.id(), MessageBody::VoteResponse { granted: true });
    }

    fn other_voters(&self) -> Vec<NodeId> {
        self.membership
            .voters
            .iter()
            .copied()
            .filter(|&id| id != self.id())
            .collect()
    }

    fn become_pre_candidate(&mut self) {
        self.step_down_from_leading();
        self.role = Role::PreCandidate;
        self.leader = None;
        self.votes.clear();
        self.reset_election_deadline();
    }

    fn become_candidate(&mut self) {
        self.step_down_from_leading();
        self.term += 1;
        self.voted_for = Some(self.id());
        self.role = Role::Candidate;
        self.leader = None;
        self.votes.clear();
        self.reset_election_deadline();
    }

    pub(super) fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        self.step_down_from_leading();
        if term > self.term {
            self.term = term;
            self.voted_for = None;
        }
        self.role = Role::Follower;
        self.leader = leader;
        if leader.is_some() {
            self.leader_contact = Some(self.now);
        }
        self.votes.clear();
        self.reset_election_deadline();
    }

    /// Leaving the leader role: pending reads can no longer be confirmed here.
    fn step_down_from_leading(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let abandoned = self.read_only.abandon();
        let waiting = std::mem::take(&mut self.reads_awaiting_commit);
        let pending = abandoned
            .iter()
            .map(|read| (read.origin, read.context))
            .chain(waiting);
        let own: Vec<u64> = pending
            .filter(|(origin, _)| *origin == self.config.id)
            .map(|(_, context)| context)
            .collect();
        // Reads forwarded by followers are simply dropped: their members time them out.
        for context in own {
            self.reads_out.push_back(ReadState {
                context,
                result: Err(ServiceError::LeaderChanged),
            });
        }
        self.progress.clear();
        self.transfer = None;
        self.heartbeat_deadline = crate::time::Instant::NEVER;
        self.check_quorum_deadline = crate::time::Instant::NEVER;
    }

    pub(super) fn step_candidate(&mut self, from: NodeId, term: Term, body: MessageBody) {
        match body {
            MessageBody::Append { .. }
            | MessageBody::Heartbeat { .. }
            | MessageBody::InstallSnapshot { .. } => {
                // Someone won this term: follow it.
                self.become_follower(self.term, Some(from));
                self.step_follower(from, body);
            }
            MessageBody::PreVoteResponse { granted }
                if self.role == Role::PreCandidate && term == self.term + 1 =>
            {
                self.record_vote(from, granted);
            }
            MessageBody::PreVoteResponse { granted: false } if self.role == Role::PreCandidate => {
                self.record_vote(from, false)
            }
            MessageBody::VoteResponse { granted } if self.role == Role::Candidate => {
                self.record_vote(from, granted)
            }
            _ => {}
        }
    }

    /// Count a vote; win with a quorum of voters, give up when a quorum refused.
    fn record_vote(&mut self, from: NodeId, granted: bool) {
        if !self.membership.voters.contains(&from) {
            return;
        }
        self.votes.entry(from).or_insert(granted);
        let quorum = self.membership.quorum();
        let yes = self.votes.values().filter(|&&granted| granted).count();
        let no = self.votes.len() - yes;
        if yes >= quorum {
            match self.role {
                Role::PreCandidate => self.start_election(false),
                Role::Candidate => self.become_leader(),
                _ => {}
            }
        } else if no > self.membership.voters.len() - quorum {
            self.become_follower(self.term, None);
        }
    }

    fn become_leader(&mut self) {
        assert_eq!(
            self.role,
            Role::Candidate,
            "only a candidate becomes leader"
        );
        self.role = Role::Leader;
        self.leader = Some(self.id());
        let next = self.log.last_index() + 1;
        let inflight_max = self.config.inflight_max;
        self.progress = self
            .membership
            .members()
            .map(|id| (id, Progress::new(next, inflight_max)))
            .collect();
        for (&id, progress) in self.progress.iter_mut() {
            progress.recent_active = id == self.config.id;
        }
        let own = self
            .progress
            .get_mut(&self.config.id)
            .expect("a leader is a voter");
        own.acknowledged(self.log.stable());
        own.become_replicate();
        self.uncommitted_bytes = 0;
        self.heartbeat_deadline = self.now + self.config.heartbeat_interval;
        self.check_quorum_deadline = self.now + self.config.election_timeout;
        self.election_deadline = crate::time::Instant::NEVER;
        // Raft §8: a new leader commits an entry of its own term before it knows what is committed.
        // No membership change may be proposed until it is applied (the single-server change fix).
        self.append_noop();
        self.pending_conf_index = self.log.last_index();
    }

    /// Check-quorum: a leader that has not heard from a quorum of voters within an election
    /// timeout steps down, since a newer leader may exist on the other side of a partition.
    pub(super) fn leader_timers(&mut self) {
        if self.now >= self.heartbeat_deadline {
            self.heartbeat_deadline = self.now + self.config.heartbeat_interval;
            self.broadcast_heartbeat();
        }
        if self.transfer.is_some_and(|t| self.now >= t.deadline) {
            self.transfer = None;
        }
        if self.now >= self.check_quorum_deadline {
            self.check_quorum_deadline = self.now + self.config.election_timeout;
            let active = self
                .membership
                .voters
                .iter()
                .filter(|id| self.progress.get(id).is_some_and(|p| p.recent_active))
                .count();
            for (&id, progress) in self.progress.iter_mut() {
                progress.recent_active = id == self.config.id;
            }
            if self.config.check_quorum && active < self.membership.quorum() {
                self.become_follower(self.term, None);
            } else {
                self.leader_contact = Some(self.now);
            }
        }
    }
}
