//! Compaction: it leaves one segment and the snap file the log starts from, recovers the same
//! state, runs by itself after a snapshot once the WAL is large, and a crash at any step of it
//! recovers the same state too.

use std::path::Path;

use detcd_core::raft::{PersistBatch, PersistedState};

use super::faulty::FaultyDisk;
use super::{batch, files, model, open, open_with, small_segments, snap_dir, snapshot, wal_dir};
use crate::storage::StorageOptions;

/// Forty writes over many segments, a snapshot every ten; returns the batches.
fn history(dir: &Path, options: StorageOptions) -> Vec<PersistBatch> {
    let (mut storage, _) = open(dir, options);
    let mut batches = Vec::new();
    for i in 1..=40 {
        let mut write = batch(i, i..=i, 1);
        if i % 10 == 0 {
            write.snapshot = Some(snapshot(i - 2, 1, 300));
        }
        storage.write(std::slice::from_ref(&write)).unwrap();
        batches.push(write);
    }
    batches
}

// Compaction releases every older segment and every snap file but the one the log starts
// from, and the data dir recovers the same state.
#[test]
fn storage_compact_releases_old_segments_and_snap_files() {
    let dir = tempfile::tempdir().unwrap();
    let batches = history(dir.path(), small_segments());
    assert!(files(&wal_dir(dir.path())).len() > 5);
    assert_eq!(files(&snap_dir(dir.path())).len(), 4);
    let (mut storage, _) = open(dir.path(), small_segments());
    let size_before = storage.size_bytes();
    storage.compact().unwrap();
    assert!(storage.size_bytes() < size_before / 3);
    drop(storage);
    let segments = files(&wal_dir(dir.path()));
    assert_eq!(segments.len(), 1, "{segments:?}");
    assert_eq!(
        files(&snap_dir(dir.path())),
        [snap_dir(dir.path()).join("0000000000000001-0000000000000026.snap")]
    );
    let (_, recovered) = open(dir.path(), small_segments());
    assert_eq!(recovered.persisted, model(&batches));
    assert_eq!(recovered.incarnation, 3);
}

// A write holding a snapshot compacts the WAL by itself once the WAL holds the configured size.
#[test]
fn storage_compacts_after_a_snapshot_once_the_wal_is_large() {
    let dir = tempfile::tempdir().unwrap();
    let options = StorageOptions {
        compact_wal_bytes_min: 1000,
        ..small_segments()
    };
    let batches = history(dir.path(), options.clone());
    // The last snapshot came with write 40; compaction left its segment and no other.
    assert_eq!(files(&wal_dir(dir.path())).len(), 1);
    assert_eq!(files(&snap_dir(dir.path())).len(), 1);
    let (_, recovered) = open(dir.path(), options);
    assert_eq!(recovered.persisted, model(&batches));
}

/// A copy of the data dir `from` at `to`.
pub(super) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

// A compaction stopped after any number of its file operations (the last one half done)
// recovers the state it started from and the start it recorded, and finishes releasing what the
// new base segment supersedes.
#[test]
fn storage_compaction_crash_at_every_step_recovers_the_same_state() {
    let template = tempfile::tempdir().unwrap();
    let batches = history(template.path(), small_segments());
    let expected: PersistedState = model(&batches);
    let last_before = files(&wal_dir(template.path())).pop().unwrap();
    let mut finished = false;
    for operations in 0..100 {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(template.path(), dir.path());
        let disk = FaultyDisk::default();
        let (mut storage, _) = open_with(disk.clone(), dir.path(), small_segments());
        disk.faults.borrow_mut().operations_left = Some(operations);
        let result = storage.compact();
        drop(storage);
        let (_, recovered) = open(dir.path(), small_segments());
        assert_eq!(
            recovered.persisted, expected,
            "after {operations} operations"
        );
        assert_eq!(recovered.incarnation, 3, "after {operations} operations");
        // Once the new base segment is named, recovery releases the segments it supersedes.
        let segments = files(&wal_dir(dir.path()));
        let name = |path: &Path| path.file_name().unwrap().to_owned();
        if segments.iter().any(|s| name(s) > name(&last_before)) {
            assert_eq!(segments.len(), 1, "after {operations} operations");
        }
        if result.is_ok() {
            assert_eq!(files(&wal_dir(dir.path())).len(), 1);
            finished = true;
            break;
        }
    }
    assert!(finished, "compaction never finished");
}

// A crash while the data dir is being opened, at any step, leaves it opening the next time with
// the same state.
#[test]
fn storage_open_crash_at_every_step_recovers_the_same_state() {
    let template = tempfile::tempdir().unwrap();
    let batches = history(template.path(), small_segments());
    let expected = model(&batches);
    for operations in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(template.path(), dir.path());
        let finished = crate::storage::Storage::open(
            FaultyDisk::crashing_after(operations),
            dir.path(),
            super::METADATA,
            small_segments(),
        )
        .is_ok();
        // The crashed process is gone, and its lock on the data dir with it.
        let (_, recovered) = open(dir.path(), small_segments());
        assert_eq!(
            recovered.persisted, expected,
            "after {operations} operations"
        );
        if finished {
            return;
        }
    }
    panic!("open never finished");
}
