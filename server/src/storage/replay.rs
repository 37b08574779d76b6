//! What a WAL's writes add up to: [`LogState`], built record by record exactly as
//! `PersistedState::apply` builds it batch by batch (the model of durable storage).

use std::path::PathBuf;

use detcd_core::raft::{
    Entry, HardState, Index, Membership, PersistedState, Snapshot, Term, keep_after_snapshot,
};

use super::record::Record;

/// The durable state the WAL describes, with the snapshot's data left in its snap file.
#[derive(Clone, Debug, Default)]
pub(crate) struct LogState {
    pub hard_state: HardState,
    pub snapshot: Option<SnapshotRecord>,
    /// The entries after the snapshot, as `PersistedState::entries`.
    pub entries: Vec<Entry>,
    /// The last start recorded (0 when none).
    pub incarnation: u64,
    /// The snapshots the WAL named, oldest first, each once: the snap files worth keeping.
    pub snapshots_named: Vec<(Term, Index)>,
}

/// A snapshot as the WAL records it, and where, for errors about its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SnapshotRecord {
    pub index: Index,
    pub term: Term,
    pub membership: Membership,
    pub named_in: PathBuf,
    pub named_at: u64,
}

impl LogState {
    /// Apply one record of a committed write, read from `path` at `offset`. Records that are not
    /// state (segment headers, metadata, commits) are the reader's business.
    pub(crate) fn apply(&mut self, record: Record<'static>, path: &std::path::Path, offset: u64) {
        match record {
            Record::Snapshot {
                index,
                term,
                membership,
            } => self.apply_snapshot(SnapshotRecord {
                index,
                term,
                membership,
                named_in: path.to_path_buf(),
                named_at: offset,
            }),
            Record::Entry {
                index,
                term,
                kind,
                data,
            } => self.apply_entry(Entry {
                term,
                index,
                kind,
                data: data.into_owned(),
            }),
            Record::HardState(hard_state) => self.hard_state = hard_state,
            Record::Boot { incarnation } => self.incarnation = incarnation,
            Record::SegmentStart { .. } | Record::Metadata(_) | Record::Commit { .. } => {}
        }
    }

    fn apply_snapshot(&mut self, snapshot: SnapshotRecord) {
        // As PersistedState::apply.
        let stored = self.snapshot.as_ref().map(|s| (s.index, s.term));
        keep_after_snapshot(&mut self.entries, stored, (snapshot.index, snapshot.term));
        let name = (snapshot.term, snapshot.index);
        self.snapshots_named.retain(|named| *named != name);
        self.snapshots_named.push(name);
        self.snapshot = Some(snapshot);
    }

    /// One entry of a batch. For a batch's entries, which are contiguous, applying them one at a
    /// time gives what PersistedState::apply gives applying them together: the first cuts the log
    /// where the batch's would, and each later one lands just past the end.
    fn apply_entry(&mut self, entry: Entry) {
        let keep = self
            .entries
            .first()
            .map_or(0, |first| entry.index.saturating_sub(first.index) as usize);
        self.entries.truncate(keep);
        self.entries.push(entry);
    }

    /// The index the next entry would normally take, for naming a new segment.
    pub(crate) fn next_index(&self) -> Index {
        let after_snapshot = self.snapshot.as_ref().map_or(1, |s| s.index + 1);
        self.entries.last().map_or(after_snapshot, |e| e.index + 1)
    }

    /// The state as `PersistedState`, given the snapshot's data read from its file.
    pub(crate) fn into_persisted(self, snapshot: Option<Snapshot>) -> PersistedState {
        PersistedState {
            hard_state: self.hard_state,
            snapshot,
            entries: self.entries,
        }
    }
}
