//! The in-memory Raft log: the latest snapshot, the entries after a known (index, term), and the
//! commit, apply and durability marks.
//!
//! Everything here mirrors what the driver has been asked to persist; which of it is durable is
//! tracked by `stable` (see [`RaftLog::stable`]).

use super::types::{Entry, Index, Snapshot, Term};

#[derive(Debug)]
pub struct RaftLog {
    /// The latest snapshot, taken locally or installed from the leader.
    snapshot: Snapshot,
    /// The index and term just before `entries[0]`. At or after the snapshot's index, except that
    /// a compaction keeps a tail of entries before it for slow followers.
    prev_index: Index,
    prev_term: Term,
    entries: Vec<Entry>,
    /// Highest index known committed.
    commit: Index,
    /// Highest index handed to the state machine.
    applied: Index,
    /// Highest index such that the durable log through it equals this log.
    stable: Index,
    /// A snapshot installed from the leader but not yet handed to the state machine.
    snapshot_to_apply: bool,
}

impl RaftLog {
    /// A log that starts from `snapshot` (the bootstrap snapshot, or the persisted one) followed by
    /// `entries`, all durable.
    pub fn restore(snapshot: Snapshot, entries: Vec<Entry>, commit: Index) -> RaftLog {
        let entries: Vec<Entry> = entries
            .into_iter()
            .filter(|e| e.index > snapshot.index)
            .collect();
        for (offset, entry) in entries.iter().enumerate() {
            assert_eq!(
                entry.index,
                snapshot.index + 1 + offset as u64,
                "persisted entries are not contiguous"
            );
        }
        let last = snapshot.index + entries.len() as u64;
        RaftLog {
            prev_index: snapshot.index,
            prev_term: snapshot.term,
            commit: commit.clamp(snapshot.index, last),
            applied: snapshot.index,
            stable: last,
            snapshot,
            entries,
            snapshot_to_apply: false,
        }
    }

    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The first index whose entry is still held (the one after `prev_index`).
    pub fn first_index(&self) -> Index {
        self.prev_index + 1
    }

    pub fn last_index(&self) -> Index {
        self.prev_index + self.entries.len() as u64
    }

    pub fn last_term(&self) -> Term {
        self.entries.last().map_or(self.prev_term, |e| e.term)
    }

    pub fn commit(&self) -> Index {
        self.commit
    }

    pub fn applied(&self) -> Index {
        self.applied
    }

    /// Highest index such that the durable log through it equals this log.
    pub fn stable(&self) -> Index {
        self.stable
    }

    /// The term of the entry at `index`, if this log still knows it.
    pub fn term(&self, index: Index) -> Option<Term> {
        if index == self.prev_index {
            return Some(self.prev_term);
        }
        if index == self.snapshot.index {
            return Some(self.snapshot.term);
        }
        self.entry(index).map(|e| e.term)
    }

    pub fn entry(&self, index: Index) -> Option<&Entry> {
        if index <= self.prev_index {
            return None;
        }
        self.entries.get((index - self.prev_index - 1) as usize)
    }

    pub fn matches(&self, index: Index, term: Term) -> bool {
        self.term(index) == Some(term)
    }

    /// Raft §5.4.1: a candidate's log is at least as up to date as ours.
    pub fn is_up_to_date(&self, last_index: Index, last_term: Term) -> bool {
        (last_term, last_index) >= (self.last_term(), self.last_index())
    }

    /// Entries from `from` on, stopping before `bytes_max` is exceeded (at least one entry).
    pub fn entries_from(&self, from: Index, bytes_max: u64) -> Vec<Entry> {
        assert!(
            from > self.prev_index,
            "entries before {} are compacted",
            self.first_index()
        );
        let start = (from - self.prev_index - 1) as usize;
        let mut bytes = 0;
        let mut batch = Vec::new();
        for entry in self.entries.iter().skip(start) {
            bytes += entry.size();
            if !batch.is_empty() && bytes > bytes_max {
                break;
            }
            batch.push(entry.clone());
        }
        batch
    }

    /// The largest index at or below `index` whose term is at most `term` (etcd's
    /// findConflictByTerm), with that term: a follower's hint that lets the leader skip a whole
    /// conflicting term at once.
    pub fn find_conflict_by_term(&self, index: Index, term: Term) -> (Index, Term) {
        let mut index = index.min(self.last_index());
        while index > 0 {
            match self.term(index) {
                // Compacted: nothing is known below; the leader takes the index as it is.
                None => return (index, 0),
                Some(entry_term) if entry_term <= term => return (index, entry_term),
                Some(_) => index -= 1,
            }
        }
        (0, 0)
    }

    /// Append entries that follow the last one (the leader's own proposals).
    pub fn append(&mut self, entries: &[Entry]) {
        for entry in entries {
            assert_eq!(
                entry.index,
                self.last_index() + 1,
                "appended entries must follow the log"
            );
            assert!(entry.term >= self.last_term(), "log terms never decrease");
            self.entries.push(entry.clone());
        }
    }

    /// A follower takes the leader's `entries`, which follow a position this log matches. Returns
    /// the entries that are new (the first one possibly replacing a conflicting suffix), which the
    /// caller must persist.
    pub fn accept(&mut self, entries: &[Entry]) -> Vec<Entry> {
        let Some(conflict) = entries.iter().position(|e| !self.matches(e.index, e.term)) else {
            return Vec::new();
        };
        let new = &entries[conflict..];
        let from = new[0].index;
        assert!(
            from > self.commit,
            "a committed entry at {from} conflicts with the leader's log"
        );
        self.truncate_from(from);
        self.append(new);
        new.to_vec()
    }

    fn truncate_from(&mut self, from: Index) {
        assert!(
            from > self.prev_index,
            "cannot truncate into the compacted prefix"
        );
        self.entries.truncate((from - self.prev_index - 1) as usize);
        self.stable = self.stable.min(from - 1);
    }

    pub fn commit_to(&mut self, index: Index) -> bool {
        if index <= self.commit {
            return false;
        }
        assert!(
            index <= self.last_index(),
            "commit {index} beyond the last index {}",
            self.last_index()
        );
        self.commit = index;
        true
    }

    /// Mark entries through `index` durable (as far as they still match this log).
    pub fn stable_to(&mut self, index: Index) {
        self.stable = self.stable.max(index.min(self.last_index()));
    }

    /// Lower the durable mark: an unpersisted write will replace entries after `index`.
    pub fn unstable_from(&mut self, index: Index) {
        self.stable = self.stable.min(index.saturating_sub(1));
    }

    /// Take a local snapshot at `index` (applied) and drop entries before it, keeping the last
    /// `keep_entries` of them for followers that are slightly behind.
    pub fn compact(&mut self, snapshot: Snapshot, keep_entries: u64) {
        assert!(
            snapshot.index <= self.applied,
            "snapshot beyond the applied index"
        );
        assert!(
            snapshot.index > self.snapshot.index,
            "snapshot does not advance"
        );
        assert_eq!(
            self.term(snapshot.index),
            Some(snapshot.term),
            "snapshot term differs from the log"
        );
        let new_prev = snapshot
            .index
            .saturating_sub(keep_entries)
            .max(self.prev_index);
        let prev_term = self
            .term(new_prev)
            .expect("compaction point within the log");
        self.entries.drain(..(new_prev - self.prev_index) as usize);
        self.prev_index = new_prev;
        self.prev_term = prev_term;
        self.snapshot = snapshot;
    }

    /// Install a leader's snapshot: Raft §7. Entries after it are kept if this log holds the
    /// snapshot's last entry; otherwise the whole log is replaced. The snapshot is applied to the
    /// state machine once durable.
    pub fn install(&mut self, snapshot: Snapshot) {
        assert!(
            snapshot.index > self.commit,
            "installing a snapshot at or below the commit index"
        );
        if self.matches(snapshot.index, snapshot.term) {
            self.entries
                .drain(..(snapshot.index - self.prev_index) as usize);
        } else {
            self.entries.clear();
        }
        self.prev_index = snapshot.index;
        self.prev_term = snapshot.term;
        self.commit = snapshot.index;
        self.stable = self.stable.min(snapshot.index.saturating_sub(1));
        self.snapshot = snapshot;
        self.snapshot_to_apply = true;
    }

    /// The installed snapshot, if it is durable and not yet applied.
    pub fn take_snapshot_to_apply(&mut self) -> Option<Snapshot> {
        if !self.snapshot_to_apply || self.stable < self.snapshot.index {
            return None;
        }
        self.snapshot_to_apply = false;
        self.applied = self.snapshot.index;
        Some(self.snapshot.clone())
    }

    /// The next committed, durable entry to apply, if any. Nothing is applied while an installed
    /// snapshot waits to be applied.
    pub fn take_entry_to_apply(&mut self) -> Option<Entry> {
        if self.snapshot_to_apply || self.applied >= self.commit.min(self.stable) {
            return None;
        }
        let entry = self
            .entry(self.applied + 1)
            .expect("applied entries are in the log")
            .clone();
        self.applied += 1;
        Some(entry)
    }

    /// Debug-build checks of the log's own invariants.
    pub fn check_invariants(&self) {
        debug_assert!(
            self.applied <= self.commit,
            "applied {} > commit {}",
            self.applied,
            self.commit
        );
        debug_assert!(self.commit <= self.last_index(), "commit beyond the log");
        debug_assert!(
            self.snapshot_to_apply || self.applied <= self.stable.max(self.snapshot.index)
        );
        let mut term = self.prev_term;
        for (offset, entry) in self.entries.iter().enumerate() {
            debug_assert_eq!(
                entry.index,
                self.prev_index + 1 + offset as u64,
                "log indexes are contiguous"
            );
            debug_assert!(entry.term >= term, "log terms never decrease");
            term = entry.term;
        }
    }
}
