//! Tests of the storage, one rule per file: `model` (recovery equals `PersistedState::apply`,
//! also after a torn tail), `corruption` (what refuses to start and what is cut off), `boot`
//! (incarnation, metadata, the data dir), `compaction` (releases files, survives a crash at each
//! step), `fsync` (a failed fsync stops the storage and leaves a prefix). `faulty` is the
//! [`Disk`] wrapper that injects failures; `timing` measures `write` (ignored by default).

mod boot;
mod compaction;
mod corruption;
mod faulty;
mod fsync;
mod model;
mod timing;

use std::path::{Path, PathBuf};

use detcd_core::io::PersistToken;
use detcd_core::raft::{
    Entry, EntryKind, HardState, Index, Membership, PersistBatch, PersistedState, Snapshot, Term,
};

use super::{Disk, Metadata, RealDisk, Recovered, Storage, StorageOptions};

pub(super) const METADATA: Metadata = Metadata {
    member_id: 0x8e9e_05c5_2164_694d,
    cluster_id: 0xcdf8_18f9_2e9a_5b24,
};

pub(super) fn entry(index: Index, term: Term, data_bytes: usize) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Normal,
        data: (0..data_bytes)
            .map(|i| (index as usize + i) as u8)
            .collect(),
    }
}

pub(super) fn hard_state(term: Term, commit: Index) -> HardState {
    HardState {
        term,
        voted_for: Some(1),
        commit,
    }
}

pub(super) fn snapshot(index: Index, term: Term, data_bytes: usize) -> Snapshot {
    Snapshot {
        index,
        term,
        membership: Membership::with_voters([1, 2, 3]),
        data: vec![index as u8; data_bytes],
    }
}

/// A batch of entries `indexes` in `term`, with a hard state committing the first of them.
pub(super) fn batch(
    token: u64,
    indexes: std::ops::RangeInclusive<Index>,
    term: Term,
) -> PersistBatch {
    let commit = *indexes.start();
    PersistBatch {
        token: PersistToken(token),
        snapshot: None,
        entries: indexes.map(|index| entry(index, term, 100)).collect(),
        hard_state: Some(hard_state(term, commit)),
    }
}

/// `PersistedState::apply` over `batches`: what the storage must recover.
pub(super) fn model<'a>(batches: impl IntoIterator<Item = &'a PersistBatch>) -> PersistedState {
    let mut state = PersistedState::default();
    for batch in batches {
        state.apply(batch);
    }
    state
}

/// Segments small enough that a few writes cut a new one; no automatic compaction.
pub(super) fn small_segments() -> StorageOptions {
    StorageOptions {
        segment_bytes_max: 600,
        compact_wal_bytes_min: u64::MAX,
        snap_files_kept: 5,
    }
}

pub(super) fn open(dir: &Path, options: StorageOptions) -> (Storage<RealDisk>, Recovered) {
    Storage::open(RealDisk, dir, METADATA, options).expect("the data dir opens")
}

pub(super) fn open_with<D: Disk>(
    disk: D,
    dir: &Path,
    options: StorageOptions,
) -> (Storage<D>, Recovered) {
    Storage::open(disk, dir, METADATA, options).expect("the data dir opens")
}

/// The files of `dir` (a `member/wal` or `member/snap`), sorted by name.
pub(super) fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the directory lists")
        .map(|entry| entry.expect("an entry lists").path())
        .collect();
    files.sort();
    files
}

pub(super) fn wal_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("member").join("wal")
}

pub(super) fn snap_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("member").join("snap")
}

/// The offsets at which the records of the segment `bytes` start, and its end.
pub(super) fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut reader = super::record::RecordReader::new(bytes);
    let mut offsets = Vec::new();
    while let Some(read) = reader.next_record().expect("the segment reads") {
        offsets.push(read.offset);
    }
    offsets.push(bytes.len());
    offsets
}

/// Where the first write of a segment starts: after its start and metadata records.
pub(super) fn head_bytes(bytes: &[u8]) -> usize {
    record_offsets(bytes)[2]
}
