//! A failed fsync or write stops the storage for good, and what the disk holds afterwards
//! recovers to a prefix of the writes: every write that returned, and perhaps the failed one.

use super::faulty::FaultyDisk;
use super::{batch, model, open, open_with, small_segments};
use crate::storage::{StorageError, StorageOptions};

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
