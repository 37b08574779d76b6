//! A failed fsync or write stops the storage for good, and what the disk holds afterwards
//! recovers to a prefix of the writes: every write that returned, and perhaps the failed one;
//! so does a crash at any step of a write.

use detcd_core::raft::PersistBatch;

use super::faulty::FaultyDisk;
use super::{batch, files, model, open, open_with, small_segments, snapshot, wal_dir};
use crate::storage::{RealDisk, StorageError, StorageOptions};

// An fsync that fails returns an error naming the file; every later call is refused; reopening
// recovers every write that returned, and the failed one at most.
#[test]
fn storage_fsync_failure_stops_and_recovers_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let disk = FaultyDisk::default();
    let (mut storage, _) = open_with(disk.clone(), dir.path(), small_segments());
    let batches: Vec<_> = (1..=6).map(|i| batch(i, i..=i, 1)).collect();
    for write in &batches[..3] {
        storage.write(std::slice::from_ref(write)).unwrap();
    }
    disk.faults.borrow_mut().fsyncs_before_failure = Some(0);
    let error = storage.write(&batches[3..5]).unwrap_err();
    assert!(
        matches!(
            &error,
            StorageError::Io {
                operation: "fsync",
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().starts_with("cannot fsync "), "{error}");
    assert!(matches!(
        storage.write(&batches[5..]),
        Err(StorageError::Stopped)
    ));
    assert!(matches!(storage.compact(), Err(StorageError::Stopped)));
    drop(storage);
    let (_, recovered) = open(dir.path(), small_segments());
    assert!(
        recovered.persisted == model(&batches[..3]) || recovered.persisted == model(&batches[..5]),
        "{:?}",
        recovered.persisted
    );
}

// A write that fails half done (a crash, or a full disk) stops the storage; reopening cuts the
// torn bytes off and recovers every write that returned.
#[test]
fn storage_failed_write_stops_and_recovers_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let disk = FaultyDisk::default();
    let (mut storage, _) = open_with(disk.clone(), dir.path(), StorageOptions::default());
    let batches: Vec<_> = (1..=12).map(|i| batch(i, i..=i, 1)).collect();
    for write in &batches[..10] {
        storage.write(std::slice::from_ref(write)).unwrap();
    }
    disk.faults.borrow_mut().operations_left = Some(0);
    let error = storage.write(&batches[10..]).unwrap_err();
    assert!(
        matches!(
            &error,
            StorageError::Io {
                operation: "write",
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains(" at offset "), "{error}");
    drop(storage);
    let (_, recovered) = open(dir.path(), StorageOptions::default());
    assert_eq!(recovered.persisted, model(&batches[..10]));
    assert_eq!(recovered.warnings.len(), 1);
}

// A write crashed after any number of its file operations (its snap file, a segment cut, the
// WAL append, releasing the older snap file; the last operation half done) recovers every
// write before it, or this one too once its fsync is done; never a snapshot without its file.
#[test]
fn storage_write_crash_at_every_step_recovers_a_prefix() {
    let options = StorageOptions {
        snap_files_kept: 1,
        ..small_segments()
    };
    let template = tempfile::tempdir().unwrap();
    let (mut storage, _) = open_with(RealDisk, template.path(), options.clone());
    let mut batches: Vec<PersistBatch> = Vec::new();
    // Write until the segment is full, so that the crashing write cuts a new one.
    while files(&wal_dir(template.path()))
        .last()
        .is_none_or(|last| std::fs::metadata(last).unwrap().len() < options.segment_bytes_max)
    {
        let index = batches.len() as u64 + 1;
        let mut write = batch(index, index..=index, 1);
        if index == 3 {
            write.snapshot = Some(snapshot(2, 1, 200));
        }
        storage.write(std::slice::from_ref(&write)).unwrap();
        batches.push(write);
    }
    drop(storage);
    let next = batches.len() as u64 + 1;
    let crashing = PersistBatch {
        snapshot: Some(snapshot(next - 1, 1, 300)),
        ..batch(next, next..=next + 1, 1)
    };
    let before = model(&batches);
    batches.push(crashing.clone());
    let after = model(&batches);
    for operations in 0..30 {
        let dir = tempfile::tempdir().unwrap();
        super::compaction::copy_dir(template.path(), dir.path());
        let disk = FaultyDisk::default();
        let (mut storage, _) = open_with(disk.clone(), dir.path(), options.clone());
        disk.faults.borrow_mut().operations_left = Some(operations);
        let result = storage.write(std::slice::from_ref(&crashing));
        drop(storage);
        let (_, recovered) = open(dir.path(), options.clone());
        if result.is_ok() {
            assert_eq!(recovered.persisted, after, "after {operations} operations");
            return;
        }
        assert!(
            recovered.persisted == before || recovered.persisted == after,
            "after {operations} operations: {:?}",
            recovered.persisted
        );
    }
    panic!("the write never finished");
}
