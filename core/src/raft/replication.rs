//! Log replication (Raft §5.3), commitment (§5.4.2), snapshots (§7), linearizable reads (§6.4),
//! leader transfer (thesis §3.10) and membership changes (thesis §4.1).

use super::progress::{Progress, ProgressState};
use super::types::{AppendResult, Entry, EntryKind, Index, MessageBody, Snapshot, Term};
use super::{Raft, ReadState, Role, Transfer};
use crate::io::NodeId;
use crate::state_machine::ServiceError;

impl Raft {
    pub(super) fn step_leader(&mut self, from: NodeId, body: MessageBody) {
        if let Some(progress) = self.progress.get_mut(&from) {
            progress.recent_active = true;
        }
        match body {
            MessageBody::AppendResponse(result) => self.handle_append_response(from, result),
            MessageBody::HeartbeatResponse { read_context } => {
                self.handle_heartbeat_response(from, read_context)
            }
            MessageBody::Propose { entries } => {
                // A forwarded proposal that cannot be appended is dropped; its client times out.
                let _ = self.append_proposals(entries);
            }
            MessageBody::ReadIndex { context } => self.leader_read(from, context),
            MessageBody::Append { .. }
            | MessageBody::Heartbeat { .. }
            | MessageBody::InstallSnapshot { .. } => {
                panic!(
                    "election safety violated: two leaders in term {} ({} and {from})",
                    self.term,
                    self.id()
                );
            }
            _ => {}
        }
    }

    pub(super) fn step_follower(&mut self, from: NodeId, body: MessageBody) {
        match body {
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit,
                stream,
            } => {
                self.heard_from_leader(from);
                self.handle_append(from, prev_index, prev_term, entries, commit, stream);
            }
            MessageBody::Heartbeat {
                commit,
                read_context,
            } => {
                self.heard_from_leader(from);
                self.log.commit_to(commit.min(self.log.last_index()));
                self.send(from, MessageBody::HeartbeatResponse { read_context });
            }
            MessageBody::InstallSnapshot { snapshot } => {
                self.heard_from_leader(from);
                self.handle_snapshot(from, snapshot);
            }
            MessageBody::Propose { entries } => {
                if let Some(leader) = self.leader.filter(|&leader| leader != from) {
                    self.send(leader, MessageBody::Propose { entries });
                }
            }
            MessageBody::ReadIndexResponse { context, index } => {
                self.reads_out.push_back(ReadState {
                    context,
                    result: Ok(index),
                });
            }
            MessageBody::TimeoutNow => self.campaign(true),
            _ => {}
        }
    }

    fn heard_from_leader(&mut self, leader: NodeId) {
        self.leader = Some(leader);
        self.leader_contact = Some(self.now);
        self.reset_election_deadline();
    }

    // ----- the leader's side -----

    pub(super) fn append_noop(&mut self) {
        self.append_entries(vec![(EntryKind::Normal, Vec::new())]);
    }

    /// Append client proposals, unless a bound or a pending transfer or membership change refuses
    /// them. An error means nothing was appended.
    pub(super) fn append_proposals(
        &mut self,
        proposals: Vec<(EntryKind, Vec<u8>)>,
    ) -> Result<(), ServiceError> {
        if self.transfer.is_some() {
            return Err(ServiceError::ProposalDropped);
        }
        let bytes: u64 = proposals
            .iter()
            .map(|(_, data)| data.len() as u64 + 24)
            .sum();
        // A single proposal larger than the bound is let through when nothing else is pending, or
        // it could never commit.
        if self.uncommitted_bytes > 0
            && self.uncommitted_bytes + bytes > self.config.uncommitted_bytes_max
        {
            return Err(ServiceError::TooManyRequests);
        }
        let conf_changes = proposals
            .iter()
            .filter(|(kind, _)| *kind == EntryKind::ConfChange)
            .count();
        if conf_changes > 0 {
            if conf_changes > 1 || self.pending_conf_index > self.log.applied() {
                return Err(ServiceError::ProposalDropped);
            }
            let position = proposals
                .iter()
                .position(|(kind, _)| *kind == EntryKind::ConfChange)
                .expect("counted");
            self.pending_conf_index = self.log.last_index() + 1 + position as u64;
        }
        self.uncommitted_bytes += bytes;
        self.append_entries(proposals);
        Ok(())
    }

    fn append_entries(&mut self, proposals: Vec<(EntryKind, Vec<u8>)>) {
        let first = self.log.last_index() + 1;
        let entries: Vec<Entry> = proposals
            .into_iter()
            .enumerate()
            .map(|(offset, (kind, data))| Entry {
                term: self.term,
                index: first + offset as u64,
                kind,
                data,
            })
            .collect();
        self.log.append(&entries);
        self.persist_entries(entries);
        // The leader counts its own log toward a quorum only once it is durable (Raft §10.2.1).
        let match_index = self.log.last_index();
        self.send_after_persist(
            self.id(),
            MessageBody::AppendResponse(AppendResult::Accepted { match_index }),
        );
        self.broadcast_append();
    }

    fn followers(&self) -> Vec<NodeId> {
        self.progress
            .keys()
            .copied()
            .filter(|&id| id != self.id())
            .collect()
    }

    fn broadcast_append(&mut self) {
        for id in self.followers() {
            self.send_append(id, true);
        }
    }

    pub(super) fn broadcast_heartbeat(&mut self) {
        let read_context = self.read_only.round();
        for id in self.followers() {
            let commit = self.progress[&id].match_index.min(self.log.commit());
            self.send(
                id,
                MessageBody::Heartbeat {
                    commit,
                    read_context,
                },
            );
        }
    }

    /// Send `to` the entries it lacks (or a snapshot if they are compacted), unless its flow
    /// control is paused. `allow_empty` sends an empty append to carry the commit index.
    fn send_append(&mut self, to: NodeId, allow_empty: bool) {
        let progress = &self.progress[&to];
        if progress.is_paused() {
            return;
        }
        let prev_index = progress.next_index - 1;
        let Some(prev_term) = self
            .log
            .term(prev_index)
            .filter(|_| prev_index + 1 >= self.log.first_index())
        else {
            self.send_snapshot(to);
            return;
        };
        let entries = if prev_index < self.log.last_index() {
            self.log
                .entries_from(prev_index + 1, self.config.batch_bytes_max)
        } else {
            Vec::new()
        };
        if entries.is_empty() && !allow_empty {
            return;
        }
        let last = prev_index + entries.len() as u64;
        let count = entries.len();
        let commit = self.log.commit();
        let stream = progress.stream();
        self.send(
            to,
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit,
                stream,
            },
        );
        self.progress
            .get_mut(&to)
            .expect("progress exists")
            .sent(last, count);
    }

    /// Stream entries to a follower in Replicate state until caught up or its window is full.
    fn send_pending(&mut self, to: NodeId) {
        loop {
            let progress = &self.progress[&to];
            if progress.is_paused() || progress.next_index > self.log.last_index() {
                return;
            }
            let before = progress.next_index;
            self.send_append(to, false);
            if self.progress[&to].next_index == before {
                return;
            }
        }
    }

    fn send_snapshot(&mut self, to: NodeId) {
        let progress = &self.progress[&to];
        // A follower not heard from lately may be gone: don't ship it a whole snapshot.
        if !progress.recent_active {
            return;
        }
        let snapshot = self.log.snapshot().clone();
        let index = snapshot.index;
        self.send(to, MessageBody::InstallSnapshot { snapshot });
        let now = self.now;
        self.progress
            .get_mut(&to)
            .expect("progress exists")
            .become_snapshot(index, now);
    }

    fn handle_append_response(&mut self, from: NodeId, result: AppendResult) {
        let Some(progress) = self.progress.get_mut(&from) else {
            return;
        };
        match result {
            AppendResult::Accepted { match_index } => {
                if !progress.acknowledged(match_index) && progress.state == ProgressState::Replicate
                {
                    self.send_pending(from);
                    return;
                }
                match progress.state {
                    ProgressState::Probe => progress.become_replicate(),
                    ProgressState::Snapshot { index, .. } if progress.match_index >= index => {
                        progress.become_probe();
                        progress.become_replicate();
                    }
                    _ => {}
                }
                if self.maybe_commit() {
                    self.broadcast_append();
                } else if from != self.id() {
                    self.send_pending(from);
                }
                self.maybe_finish_transfer(from);
            }
            AppendResult::Rejected {
                rejected_index,
                hint_index,
                hint_term,
                stream,
            } => {
                let probe_from = if hint_term > 0 {
                    self.log.find_conflict_by_term(hint_index, hint_term).0
                } else {
                    hint_index
                };
                let progress = self.progress.get_mut(&from).expect("checked above");
                if progress.rejected(stream, rejected_index, probe_from) {
                    self.send_append(from, true);
                }
            }
        }
    }

    fn handle_heartbeat_response(&mut self, from: NodeId, read_context: u64) {
        let now = self.now;
        let election_timeout = self.config.election_timeout;
        let Some(progress) = self.progress.get_mut(&from) else {
            return;
        };
        progress.probe_sent = false;
        progress.free_first_inflight_if_full();
        if let ProgressState::Snapshot { sent_at, .. } = progress.state
            && now >= sent_at + election_timeout
        {
            // The snapshot was probably lost: find out where the follower stands again.
            progress.become_probe();
        }
        if progress.match_index < self.log.last_index() {
            self.send_append(from, true);
        }
        self.read_only.acknowledge(from, read_context);
        self.release_confirmed_reads();
    }

    /// Raft §5.4.2: commit the highest index a quorum of voters holds, but only if its entry is
    /// of the current term; earlier entries are committed indirectly with it (Figure 8).
    fn maybe_commit(&mut self) -> bool {
        let mut matched: Vec<Index> = self
            .membership
            .voters
            .iter()
            .map(|id| self.progress.get(id).map_or(0, |p| p.match_index))
            .collect();
        if matched.is_empty() {
            return false;
        }
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let candidate = matched[self.membership.quorum() - 1];
        // The planted bug of `mutation-commit-previous-term`: counting replicas commits an entry of
        // an earlier term, which a newer leader without it may still overwrite (Figure 8).
        let of_this_term = cfg!(feature = "mutation-commit-previous-term")
            || self.log.term(candidate) == Some(self.term);
        if candidate <= self.log.commit() || !of_this_term {
            return false;
        }
        let committed_bytes: u64 = (self.log.commit() + 1..=candidate)
            .filter_map(|index| self.log.entry(index))
            .map(Entry::size)
            .sum();
        self.uncommitted_bytes = self.uncommitted_bytes.saturating_sub(committed_bytes);
        self.log.commit_to(candidate);
        for (origin, context) in std::mem::take(&mut self.reads_awaiting_commit) {
            self.leader_read(origin, context);
        }
        true
    }

    /// Register a read at the commit index; confirmed by the next quorum of heartbeat answers. A
    /// leader that has not yet committed an entry of its term does not know the commit index, so
    /// the read waits for that first.
    pub(super) fn leader_read(&mut self, origin: NodeId, context: u64) {
        if self.log.term(self.log.commit()) != Some(self.term) {
            self.reads_awaiting_commit.push((origin, context));
            return;
        }
        self.read_only
            .add(self.id(), origin, context, self.log.commit());
        self.broadcast_heartbeat();
        self.release_confirmed_reads();
    }

    fn release_confirmed_reads(&mut self) {
        for read in self.read_only.take_confirmed(&self.membership) {
            if read.origin == self.id() {
                self.reads_out.push_back(ReadState {
                    context: read.context,
                    result: Ok(read.index),
                });
            } else {
                self.send(
                    read.origin,
                    MessageBody::ReadIndexResponse {
                        context: read.context,
                        index: read.index,
                    },
                );
            }
        }
    }

    pub(super) fn start_transfer(&mut self, target: NodeId) {
        if self.transfer.is_some_and(|t| t.target == target) {
            return;
        }
        self.transfer = Some(Transfer {
            target,
            deadline: self.now + self.config.election_timeout,
        });
        if self
            .progress
            .get(&target)
            .is_some_and(|p| p.match_index == self.log.last_index())
        {
            self.send(target, MessageBody::TimeoutNow);
        } else {
            self.send_append(target, true);
        }
    }

    fn maybe_finish_transfer(&mut self, from: NodeId) {
        let caught_up = self
            .progress
            .get(&from)
            .is_some_and(|p| p.match_index == self.log.last_index());
        if self.transfer.is_some_and(|t| t.target == from) && caught_up {
            self.send(from, MessageBody::TimeoutNow);
        }
    }

    /// The leader's membership changed: track new members, forget removed ones, and step down if
    /// it is no longer a voter.
    pub(super) fn leader_membership_changed(&mut self) {
        let next = self.log.last_index() + 1;
        let inflight_max = self.config.inflight_max;
        let members: Vec<NodeId> = self.membership.members().collect();
        self.progress.retain(|id, _| members.contains(id));
        for id in members {
            self.progress
                .entry(id)
                .or_insert_with(|| Progress::new(next, inflight_max));
        }
        if self
            .transfer
            .is_some_and(|t| !self.membership.voters.contains(&t.target))
        {
            self.transfer = None;
        }
        if !self.membership.voters.contains(&self.id()) {
            self.become_follower(self.term, None);
            return;
        }
        if self.maybe_commit() {
            self.broadcast_append();
        }
        self.broadcast_append();
    }

    // ----- the follower's side -----

    /// Raft §5.3: accept entries that follow a position this log matches, replacing a conflicting
    /// suffix; otherwise reject with a hint. The acknowledgement waits until they are durable.
    fn handle_append(
        &mut self,
        from: NodeId,
        prev_index: Index,
        prev_term: Term,
        entries: Vec<Entry>,
        commit: Index,
        stream: u64,
    ) {
        if prev_index < self.log.commit() {
            let match_index = self.log.commit();
            self.send_after_persist(
                from,
                MessageBody::AppendResponse(AppendResult::Accepted { match_index }),
            );
            return;
        }
        if !self.log.matches(prev_index, prev_term) {
            let (hint_index, hint_term) = self.log.find_conflict_by_term(prev_index, prev_term);
            let result = AppendResult::Rejected {
                rejected_index: prev_index,
                hint_index,
                hint_term,
                stream,
            };
            self.send(from, MessageBody::AppendResponse(result));
            return;
        }
        let last_new = prev_index + entries.len() as u64;
        let new = self.log.accept(&entries);
        self.persist_entries(new);
        if cfg!(feature = "mutation-commit-past-append") {
            // The planted bug of `mutation-commit-past-append`: entries past this append's last
            // one are not known to match the leader's, yet they are committed with the rest.
            self.log.commit_to(commit.min(self.log.last_index()));
        } else {
            self.log.commit_to(commit.min(last_new));
        }
        let accepted = MessageBody::AppendResponse(AppendResult::Accepted {
            match_index: last_new,
        });
        if cfg!(feature = "mutation-ack-before-persist") {
            // The planted bug of `mutation-ack-before-persist`: the leader may count entries that
            // a crash can still take away from this member.
            self.send(from, accepted);
        } else {
            self.send_after_persist(from, accepted);
        }
    }

    /// Raft §7: install a snapshot unless the log already has what it holds.
    fn handle_snapshot(&mut self, from: NodeId, snapshot: Snapshot) {
        let index = snapshot.index;
        if index <= self.log.commit() {
            let match_index = self.log.commit();
            self.send_after_persist(
                from,
                MessageBody::AppendResponse(AppendResult::Accepted { match_index }),
            );
            return;
        }
        if self.log.matches(index, snapshot.term) {
            self.log.commit_to(index);
        } else {
            self.membership = snapshot.membership.clone();
            self.log.install(snapshot.clone());
            for (_, last) in self.unpersisted.iter_mut() {
                *last = (*last).min(index - 1);
            }
            self.batch.entries.clear();
            self.batch.snapshot = Some(snapshot);
        }
        self.send_after_persist(
            from,
            MessageBody::AppendResponse(AppendResult::Accepted { match_index: index }),
        );
    }

    /// Whether this member is a leader whose log a quorum has acknowledged in its term.
    pub fn committed_in_term(&self) -> bool {
        self.role == Role::Leader && self.log.term(self.log.commit()) == Some(self.term)
    }
}
