//! One node's simulated disk: write latency, in-order fsync completion, stalls, and crash
//! semantics (unsynced writes lost, the write in progress possibly torn).
//!
//! The disk holds two things: the durable [`PersistedState`], which survives crashes, and the
//! batches written but not yet reported durable, in order. A batch becomes durable only when its
//! completion is processed; a crash discards every batch still queued. Storage errors (a failed
//! fsync, a full disk, corruption detected on read) are not retried: they stop the node.

use std::collections::VecDeque;

use detcd_core::raft::{PersistBatch, PersistedState};
use detcd_core::{Duration, Instant, PersistToken};
use serde::{Deserialize, Serialize};

/// A storage error that stops the node: it must not limp on with storage it cannot trust.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StorageFailure {
    /// fsync reported an error; what was written may or may not be on disk.
    FsyncError,
    /// A write failed because the disk is full.
    NoSpace,
    /// Reading the durable state back at boot found it corrupted (a checksum mismatch).
    Corruption,
}

/// What a crash did to the write in progress: the first `entries_kept` entries of batch `token`
/// reached the platter, the rest did not, and the node was never told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TornWrite {
    pub token: PersistToken,
    pub entries_kept: u64,
}

/// One node's disk.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    durable: PersistedState,
    /// Written but not yet durable, oldest first; tokens rise along the queue.
    unsynced: VecDeque<PersistBatch>,
    /// When the disk finishes the last write it has accepted; writes are serialized.
    busy_until: Instant,
    stalled_until: Instant,
    /// Every write fails with `NoSpace` while set.
    full: bool,
    /// The durable state is corrupted; the next boot detects it.
    corrupted: bool,
    /// The next fsync fails (a scripted fault).
    fsync_error_armed: bool,
}

impl Disk {
    /// Replace the durable content of an unused disk.
    pub fn format(&mut self, state: PersistedState) {
        assert!(self.unsynced.is_empty(), "format an idle disk");
        self.durable = state;
    }

    /// What survives a crash.
    pub fn durable(&self) -> &PersistedState {
        &self.durable
    }

    /// How many entries the write in progress (the oldest unsynced batch) carries.
    pub fn write_in_progress_entries(&self) -> usize {
        self.unsynced.front().map_or(0, |batch| batch.entries.len())
    }

    pub fn unsynced_count(&self) -> usize {
        self.unsynced.len()
    }

    /// Accept `batch` at `now`; returns when it will be durable. Writes queue behind earlier
    /// writes and behind a stall, so completions come in token order.
    pub fn write(&mut self, batch: PersistBatch, now: Instant, latency: Duration) -> Instant {
        if let Some(last) = self.unsynced.back() {
            assert!(
                batch.token > last.token,
                "persist tokens must rise: {:?} after {:?}",
                batch.token,
                last.token
            );
        }
        let start = now.max(self.busy_until).max(self.stalled_until);
        self.busy_until = start + latency;
        self.unsynced.push_back(batch);
        self.busy_until
    }

    /// If the disk is stalled at `now`, when it resumes.
    pub fn stalled_until(&self, now: Instant) -> Option<Instant> {
        (self.stalled_until > now).then_some(self.stalled_until)
    }

    /// Block all I/O until `until` (a later stall extends it).
    pub fn stall(&mut self, until: Instant) {
        self.stalled_until = self.stalled_until.max(until);
    }

    /// End a stall in progress at `now`: what it held back (every unsynced write) completes
    /// together `latency` from now, and later writes queue behind that. Returns the newest
    /// unsynced token and when it completes, for the caller to schedule; None if nothing waits.
    pub fn end_stall(
        &mut self,
        now: Instant,
        latency: Duration,
    ) -> Option<(PersistToken, Instant)> {
        self.stalled_until = Instant::ZERO;
        let newest = self.unsynced.back()?.token;
        self.busy_until = now + latency;
        Some((newest, self.busy_until))
    }

    /// True while some write through `token` is not durable yet: a completion of `token` is
    /// still due. False once an earlier-processed completion covered it.
    pub fn is_unsynced(&self, token: PersistToken) -> bool {
        self.unsynced
            .front()
            .is_some_and(|batch| batch.token <= token)
    }

    pub fn set_full(&mut self, full: bool) {
        self.full = full;
    }

    pub fn corrupt(&mut self) {
        self.corrupted = true;
    }

    pub fn is_corrupted(&self) -> bool {
        self.corrupted
    }

    pub fn arm_fsync_error(&mut self) {
        self.fsync_error_armed = true;
    }

    pub fn disarm_fsync_error(&mut self) {
        self.fsync_error_armed = false;
    }

    /// The storage error the completing fsync hits, if any (a scripted error is used up).
    pub fn take_completion_failure(&mut self) -> Option<StorageFailure> {
        if self.full {
            return Some(StorageFailure::NoSpace);
        }
        if std::mem::take(&mut self.fsync_error_armed) {
            return Some(StorageFailure::FsyncError);
        }
        None
    }

    /// Make every batch through `token` durable, in order. Returns how many batches that was.
    pub fn complete_through(&mut self, token: PersistToken) -> usize {
        let mut completed = 0;
        while self
            .unsynced
            .front()
            .is_some_and(|batch| batch.token <= token)
        {
            let batch = self.unsynced.pop_front().expect("front exists");
            self.durable.apply(&batch);
            completed += 1;
        }
        completed
    }

    /// The process died: every unsynced batch is lost. If `torn_entries` is given, the write in
    /// progress (the oldest unsynced batch) tears: that many of its leading entries (capped below
    /// its length, so the tear is real) become durable, without its hard state or snapshot.
    /// Returns how many batches were lost, and the tear if one happened.
    pub fn crash(&mut self, now: Instant, torn_entries: Option<u64>) -> (usize, Option<TornWrite>) {
        let torn = torn_entries.and_then(|kept| self.tear_front(kept));
        let lost = self.unsynced.len();
        self.unsynced.clear();
        self.busy_until = now;
        self.fsync_error_armed = false;
        (lost, torn)
    }

    fn tear_front(&mut self, kept: u64) -> Option<TornWrite> {
        let front = self.unsynced.front()?;
        if front.snapshot.is_some() || front.entries.len() < 2 {
            // A snapshot install or a single record is written atomically (or not at all) by
            // a real WAL's checksummed records; only a multi-entry append can tear.
            return None;
        }
        let entries_kept = kept.min(front.entries.len() as u64 - 1);
        let prefix = PersistBatch {
            token: front.token,
            entries: front.entries[..entries_kept as usize].to_vec(),
            ..PersistBatch::default()
        };
        self.durable.apply(&prefix);
        Some(TornWrite {
            token: front.token,
            entries_kept,
        })
    }
}

#[cfg(test)]
mod tests {
    use detcd_core::raft::{Entry, EntryKind, HardState};

    use super::*;

    fn batch(token: u64, indexes: std::ops::RangeInclusive<u64>) -> PersistBatch {
        let entries = indexes
            .map(|index| Entry {
                term: 1,
                index,
                kind: EntryKind::Normal,
                data: vec![],
            })
            .collect();
        let hard_state = Some(HardState {
            term: 1,
            voted_for: None,
            commit: 0,
        });
        PersistBatch {
            token: PersistToken(token),
            entries,
            hard_state,
            ..PersistBatch::default()
        }
    }

    // Writes are serialized: each completes one latency after the previous one, and a stall
    // pushes later writes past its end.
    #[test]
    fn writes_queue_behind_each_other_and_stalls() {
        let mut disk = Disk::default();
        let latency = Duration::from_millis(2);
        assert_eq!(
            disk.write(batch(1, 1..=1), Instant::ZERO, latency),
            Instant::from_millis(2)
        );
        assert_eq!(
            disk.write(batch(2, 2..=2), Instant::ZERO, latency),
            Instant::from_millis(4)
        );
        disk.stall(Instant::from_millis(100));
        assert_eq!(
            disk.write(batch(3, 3..=3), Instant::ZERO, latency),
            Instant::from_millis(102)
        );
    }

    // A torn write keeps a strict prefix of the oldest unsynced batch and nothing after it.
    #[test]
    fn crash_tears_only_a_prefix_of_the_write_in_progress() {
        let mut disk = Disk::default();
        disk.write(batch(1, 1..=2), Instant::ZERO, Duration::ZERO);
        disk.complete_through(PersistToken(1));
        disk.write(batch(2, 3..=6), Instant::ZERO, Duration::ZERO);
        disk.write(batch(3, 7..=7), Instant::ZERO, Duration::ZERO);
        let (lost, torn) = disk.crash(Instant::ZERO, Some(99));
        assert_eq!(lost, 2);
        assert_eq!(
            torn,
            Some(TornWrite {
                token: PersistToken(2),
                entries_kept: 3
            })
        );
        let indexes: Vec<u64> = disk
            .durable()
            .entries
            .iter()
            .map(|entry| entry.index)
            .collect();
        assert_eq!(indexes, [1, 2, 3, 4, 5]);
        assert_eq!(disk.unsynced_count(), 0);
    }
}
