//! Bad bytes: a torn tail is cut off with a warning; anything else refuses to start, naming the
//! file and offset; and no bytes whatever make recovery panic.

use std::path::Path;

use proptest::prelude::*;

use super::faulty::FaultyDisk;
use super::{
    batch, files, model, open, record_offsets, small_segments, snap_dir, snapshot, wal_dir,
};
use crate::storage::record::{Record, encode};
use crate::storage::{StorageError, StorageOptions};
use detcd_core::raft::PersistBatch;

/// Five writes of two entries each in one segment; returns them.
fn five_writes(dir: &Path) -> Vec<PersistBatch> {
    let (mut storage, _) = open(dir, StorageOptions::default());
    let batches: Vec<_> = (0..5)
        .map(|i| batch(i + 1, 2 * i + 1..=2 * i + 2, 1))
        .collect();
    for batch in &batches {
        storage.write(std::slice::from_ref(batch)).unwrap();
    }
    batches
}

fn flip(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

fn open_error(dir: &Path, options: StorageOptions) -> StorageError {
    match crate::storage::Storage::open(crate::storage::RealDisk, dir, super::METADATA, options) {
        Ok(_) => panic!("the data dir opened"),
        Err(error) => error,
    }
}

// A bad byte in a record with records after it refuses to start, naming the file and the
// record's offset.
#[test]
fn storage_corrupt_middle_record_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    five_writes(dir.path());
    let segment = files(&wal_dir(dir.path())).pop().unwrap();
    let offsets = record_offsets(&std::fs::read(&segment).unwrap());
    // Records: start, metadata, boot, commit, then the first write's entries.
    let target = offsets[4];
    flip(&segment, target + 14);
    let error = open_error(dir.path(), StorageOptions::default());
    let StorageError::CorruptWal { path, offset, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!((path, *offset), (&segment, target as u64));
    assert_eq!(
        error.to_string(),
        format!(
            "corrupt WAL record in {} at offset {target}: checksum mismatch",
            segment.display()
        )
    );
}

// A bad byte in the last record, with nothing after it, is a torn write: it is cut off with
// the write it closes, and a warning names the file, the offset and the bytes dropped.
#[test]
fn storage_corrupt_last_record_is_truncated_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let batches = five_writes(dir.path());
    let segment = files(&wal_dir(dir.path())).pop().unwrap();
    let bytes = std::fs::read(&segment).unwrap();
    let offsets = record_offsets(&bytes);
    let commit = offsets[offsets.len() - 2];
    flip(&segment, commit + 13);
    // The last write is two entries, a hard state and its commit.
    let write_start = offsets[offsets.len() - 5];
    let (_, recovered) = open(dir.path(), StorageOptions::default());
    assert_eq!(recovered.persisted, model(&batches[..4]));
    assert_eq!(
        recovered.warnings,
        [format!(
            "torn write at the tail of {}: checksum mismatch in the final record at offset \
             {commit}; truncated at offset {write_start}, dropping {} bytes",
            segment.display(),
            bytes.len() - write_start
        )]
    );
}

// A bad byte in the first write of a segment compaction wrote refuses to start, even with
// nothing after it: that write was whole before the segment was named, so a crash cannot have
// torn it, and cutting it off would drop the whole state.
#[test]
fn storage_corrupt_first_write_of_a_base_segment_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    five_writes(dir.path());
    let (mut storage, _) = open(dir.path(), StorageOptions::default());
    storage.compact().unwrap();
    drop(storage);
    let segment = files(&wal_dir(dir.path())).pop().unwrap();
    let bytes = std::fs::read(&segment).unwrap();
    let offsets = record_offsets(&bytes);
    let commit = offsets[offsets.len() - 2];
    flip(&segment, bytes.len() - 1);
    let error = open_error(dir.path(), StorageOptions::default());
    assert!(
        matches!(&error, StorageError::CorruptWal { path, offset, .. }
            if *path == segment && *offset == commit as u64),
        "{error}"
    );
}

// A bad byte in a segment that is not the last refuses to start, even at its tail.
#[test]
fn storage_corrupt_earlier_segment_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let (mut storage, _) = open(dir.path(), small_segments());
    for i in 0..20 {
        storage.write(&[batch(i + 1, i + 1..=i + 1, 1)]).unwrap();
    }
    drop(storage);
    let segments = files(&wal_dir(dir.path()));
    assert!(segments.len() >= 3, "{segments:?}");
    let bytes = std::fs::read(&segments[1]).unwrap();
    let offsets = record_offsets(&bytes);
    let last_record = offsets[offsets.len() - 2];
    flip(&segments[1], bytes.len() - 1);
    let error = open_error(dir.path(), small_segments());
    assert!(
        matches!(&error, StorageError::CorruptWal { path, offset, .. }
            if *path == segments[1] && *offset == last_record as u64),
        "{error}"
    );
}

// A segment that does not continue the CRC chain of the one before refuses to start, though
// each of its records checks.
#[test]
fn storage_broken_chain_between_segments_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let (mut storage, _) = open(dir.path(), small_segments());
    for i in 0..20 {
        storage.write(&[batch(i + 1, i + 1..=i + 1, 1)]).unwrap();
    }
    drop(storage);
    let segments = files(&wal_dir(dir.path()));
    let last = segments.last().unwrap();
    let bytes = std::fs::read(last).unwrap();
    // Re-encode the last segment, valid in itself, from another chain value.
    let mut forged = Vec::new();
    let mut crc = 0x1234_5678;
    let mut reader = crate::storage::record::RecordReader::new(&bytes);
    while let Some(read) = reader.next_record().unwrap() {
        let record = match read.record {
            Record::SegmentStart { base, .. } => Record::SegmentStart {
                previous_crc: 0x1234_5678,
                base,
            },
            record => record,
        };
        encode(&mut forged, &mut crc, &record);
    }
    std::fs::write(last, forged).unwrap();
    let error = open_error(dir.path(), small_segments());
    assert!(
        matches!(&error, StorageError::CorruptWal { path, offset: 0, reason }
            if path == last && reason.starts_with("broken CRC chain")),
        "{error}"
    );
}

// A missing segment in the middle of the WAL refuses to start.
#[test]
fn storage_missing_segment_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let (mut storage, _) = open(dir.path(), small_segments());
    for i in 0..20 {
        storage.write(&[batch(i + 1, i + 1..=i + 1, 1)]).unwrap();
    }
    drop(storage);
    let segments = files(&wal_dir(dir.path()));
    std::fs::remove_file(&segments[1]).unwrap();
    let error = open_error(dir.path(), small_segments());
    assert!(
        matches!(&error, StorageError::BadLayout { path, .. } if *path == segments[2]),
        "{error}"
    );
}

/// A data dir whose log ends on a snapshot; returns the snap file's path.
fn ends_on_a_snapshot(dir: &Path) -> std::path::PathBuf {
    let (mut storage, _) = open(dir, StorageOptions::default());
    storage.write(&[batch(1, 1..=3, 1)]).unwrap();
    let with_snapshot = PersistBatch {
        snapshot: Some(snapshot(2, 1, 1000)),
        ..batch(2, 4..=4, 1)
    };
    storage.write(&[with_snapshot]).unwrap();
    files(&snap_dir(dir)).pop().unwrap()
}

// The snap file the recovered log starts from, missing, refuses to start.
#[test]
fn storage_missing_snap_file_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let snap = ends_on_a_snapshot(dir.path());
    std::fs::remove_file(&snap).unwrap();
    let error = open_error(dir.path(), StorageOptions::default());
    assert!(
        matches!(&error, StorageError::BadSnapshot { path, reason, .. }
            if *path == snap && reason == "the file is missing"),
        "{error}"
    );
}

// The snap file the recovered log starts from, with a bad byte, refuses to start.
#[test]
fn storage_corrupt_snap_file_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let snap = ends_on_a_snapshot(dir.path());
    flip(&snap, 500);
    let error = open_error(dir.path(), StorageOptions::default());
    assert!(
        matches!(&error, StorageError::BadSnapshot { path, reason, .. }
            if *path == snap && reason == "checksum mismatch"),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("member/wal/0000000000000000-0000000000000000.wal")
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    // Whatever bytes a segment holds, recovery returns (a state or an error); it never panics.
    #[test]
    fn storage_recovery_never_panics_on_bad_bytes(
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (mut storage, _) = crate::storage::Storage::open(
            FaultyDisk::no_sync(), dir.path(), super::METADATA, small_segments()).unwrap();
        for i in 0..12 {
            let mut write = batch(i + 1, i + 1..=i + 1, 1);
            if i % 5 == 4 {
                write.snapshot = Some(snapshot(i, 1, 50));
            }
            storage.write(&[write]).unwrap();
        }
        drop(storage);
        let segments = files(&wal_dir(dir.path()));
        let victim = damage[0].0.get(&segments);
        let mut bytes = std::fs::read(victim).unwrap();
        for (at, value) in &damage {
            let at = at.index(bytes.len());
            bytes[at] = *value;
        }
        if let Some(cut) = cut {
            let len = cut.index(bytes.len());
            bytes.truncate(len);
        }
        std::fs::write(victim, bytes).unwrap();
        let _ = crate::storage::Storage::open(
            FaultyDisk::no_sync(), dir.path(), super::METADATA, small_segments());
    }
}
