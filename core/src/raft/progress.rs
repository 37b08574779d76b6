//! The leader's view of each follower: how much of the log it holds and how to send it more.

use std::collections::VecDeque;

use super::types::Index;
use crate::time::Instant;

/// How the leader is sending to a follower (etcd raft's progress states).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressState {
    /// The leader does not know where the follower's log matches: one append per heartbeat
    /// interval until an answer shows it.
    Probe,
    /// The follower is known to match through `match_index`: stream appends optimistically, up to
    /// `inflight_max` unacknowledged messages.
    Replicate,
    /// The follower needs entries the leader has compacted: a snapshot through `index` is on its
    /// way; nothing else is sent until it is acknowledged or given up on.
    Snapshot { index: Index, sent_at: Instant },
}

#[derive(Clone, Debug)]
pub struct Progress {
    pub match_index: Index,
    pub next_index: Index,
    pub state: ProgressState,
    /// In Probe: an append is out and unanswered, so wait for a heartbeat response.
    pub probe_sent: bool,
    /// The last index of each append in flight, oldest first (Replicate only).
    inflights: VecDeque<Index>,
    inflight_max: usize,
    /// Heard from since the leader's last check-quorum.
    pub recent_active: bool,
    /// Counts the times the leader restarted sending from a new `next_index`. Appends carry it and
    /// rejections echo it, so a rejection of an append sent before the restart is known stale.
    /// The network may deliver such rejections late (reordering, a slow follower disk holding its
    /// acknowledgements back); taken as fresh, each one restarted the stream, every restart
    /// resent a window, and with one-entry batches the resends multiplied without bound.
    stream: u64,
}

impl Progress {
    pub fn new(next_index: Index, inflight_max: usize) -> Progress {
        assert!(inflight_max > 0, "inflight_max must be positive");
        Progress {
            match_index: 0,
            next_index,
            state: ProgressState::Probe,
            probe_sent: false,
            inflights: VecDeque::with_capacity(inflight_max),
            inflight_max,
            recent_active: true,
            stream: 0,
        }
    }

    /// The stream the next append belongs to.
    pub fn stream(&self) -> u64 {
        self.stream
    }

    pub fn become_probe(&mut self) {
        self.next_index = match self.state {
            // A snapshot that was never acknowledged may not have arrived: probe after it anyway,
            // and the follower's rejection hint brings the leader back if it did not.
            ProgressState::Snapshot { index, .. } => (self.match_index + 1).max(index + 1),
            _ => self.match_index + 1,
        };
        self.state = ProgressState::Probe;
        self.probe_sent = false;
        self.inflights.clear();
        self.stream += 1;
    }

    pub fn become_replicate(&mut self) {
        self.state = ProgressState::Replicate;
        self.next_index = self.match_index + 1;
        self.probe_sent = false;
        self.inflights.clear();
        self.stream += 1;
    }

    pub fn become_snapshot(&mut self, index: Index, now: Instant) {
        self.state = ProgressState::Snapshot {
            index,
            sent_at: now,
        };
        self.inflights.clear();
        self.stream += 1;
    }

    /// Whether the leader may send this follower an append now.
    pub fn is_paused(&self) -> bool {
        match self.state {
            ProgressState::Probe => self.probe_sent,
            ProgressState::Replicate => self.inflights.len() >= self.inflight_max,
            ProgressState::Snapshot { .. } => true,
        }
    }

    /// Record an append of entries through `last` (or an empty probe).
    pub fn sent(&mut self, last: Index, entry_count: usize) {
        match self.state {
            ProgressState::Replicate if entry_count > 0 => {
                self.next_index = last + 1;
                self.inflights.push_back(last);
                assert!(
                    self.inflights.len() <= self.inflight_max,
                    "inflight_max exceeded"
                );
            }
            ProgressState::Probe => self.probe_sent = true,
            _ => {}
        }
    }

    /// A heartbeat answer shows the follower is alive while the window is full: the appends in
    /// flight were probably lost, so free one slot to send again (etcd's FreeFirstOne). The
    /// follower then rejects the gap, and the leader probes back to where it matches.
    pub fn free_first_inflight_if_full(&mut self) {
        if self.state == ProgressState::Replicate && self.inflights.len() >= self.inflight_max {
            self.inflights.pop_front();
        }
    }

    /// The follower matches through `index`. Returns false for a stale acknowledgement.
    pub fn acknowledged(&mut self, index: Index) -> bool {
        let advanced = index > self.match_index;
        if advanced {
            self.match_index = index;
            self.probe_sent = false;
        }
        self.next_index = self.next_index.max(index + 1);
        while self.inflights.front().is_some_and(|&last| last <= index) {
            self.inflights.pop_front();
        }
        advanced
    }

    /// The follower rejected an append of `stream` after `rejected`, hinting that its log may
    /// match through `hint`. Returns false for a stale rejection (etcd's MaybeDecrTo, and one of an
    /// earlier stream).
    pub fn rejected(&mut self, stream: u64, rejected: Index, hint: Index) -> bool {
        if stream != self.stream {
            return false;
        }
        if self.state == ProgressState::Replicate {
            if rejected <= self.match_index {
                return false;
            }
            self.become_probe();
            return true;
        }
        if self.next_index.saturating_sub(1) != rejected {
            return false;
        }
        self.next_index = rejected.min(hint + 1).max(self.match_index + 1);
        self.probe_sent = false;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A follower in Replicate whose stream was restarted once: a rejection sent in the old
    /// stream, delivered late, leaves the new stream alone (before the rule, it restarted it).
    #[test]
    fn a_late_rejection_of_an_earlier_stream_is_stale() {
        let mut progress = Progress::new(1, 4);
        progress.acknowledged(10);
        progress.become_replicate();
        let old = progress.stream();
        for last in 11..=14 {
            progress.sent(last, 1);
        }
        // Appends 12.. reached the follower before 11: it rejects them (a gap after 10).
        assert!(
            progress.rejected(old, 11, 10),
            "a rejection of the current stream counts"
        );
        assert_eq!(progress.state, ProgressState::Probe);
        progress.sent(10, 0);
        progress.acknowledged(12);
        progress.become_replicate();
        assert_ne!(progress.stream(), old, "each restart starts a new stream");

        let stale = progress.rejected(old, 13, 12);
        assert!(!stale, "a rejection of an earlier stream is stale");
        assert_eq!(progress.state, ProgressState::Replicate);
        assert_eq!(progress.next_index, 13);
    }
}
