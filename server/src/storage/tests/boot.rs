//! Starts: the data dir is made as etcd's, each open records a start one higher than the last,
//! and the metadata written into a new WAL is the one every later open returns.

use detcd_core::raft::PersistedState;

use super::{METADATA, batch, files, model, open, snap_dir, wal_dir};
use crate::storage::{Metadata, RealDisk, Storage, StorageOptions};

// A data dir that does not exist is created, as etcd lays it out, owner-only, with a first
// segment named as etcd names it; it recovers nothing, in its first start.
#[test]
fn storage_creates_a_missing_data_dir_as_etcd() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("not").join("yet").join("there.etcd");
    let (storage, recovered) = open(&data_dir, StorageOptions::default());
    assert_eq!(recovered.persisted, PersistedState::default());
    assert_eq!((recovered.incarnation, recovered.metadata), (1, None));
    assert!(recovered.warnings.is_empty());
    assert_eq!(
        files(&wal_dir(&data_dir)),
        [wal_dir(&data_dir).join("0000000000000000-0000000000000000.wal")]
    );
    assert!(files(&snap_dir(&data_dir)).is_empty());
    #[cfg(unix)]
    for dir in [
        data_dir.join("member"),
        wal_dir(&data_dir),
        snap_dir(&data_dir),
    ] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{}", dir.display());
    }
    assert_eq!(
        storage.size_bytes(),
        std::fs::metadata(&files(&wal_dir(&data_dir))[0])
            .unwrap()
            .len()
    );
}

// Each open records a start one higher than the last one recorded, whatever was written between.
#[test]
fn storage_incarnation_rises_by_one_per_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut written = Vec::new();
    for expected in 1..=5u64 {
        let (mut storage, recovered) = open(dir.path(), StorageOptions::default());
        assert_eq!(recovered.incarnation, expected);
        assert_eq!(storage.incarnation(), expected);
        assert_eq!(recovered.persisted, model(&written));
        let write = batch(expected, expected..=expected, 1);
        storage.write(std::slice::from_ref(&write)).unwrap();
        written.push(write);
    }
}

// The metadata given to a new data dir is stored; later opens return it, not the one given.
#[test]
fn storage_metadata_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, recovered) = open(dir.path(), StorageOptions::default());
    assert_eq!((recovered.metadata, storage.metadata()), (None, METADATA));
    drop(storage);
    let other = Metadata {
        member_id: 1,
        cluster_id: 2,
    };
    let (storage, recovered) =
        Storage::open(RealDisk, dir.path(), other, StorageOptions::default()).unwrap();
    assert_eq!(recovered.metadata, Some(METADATA));
    assert_eq!(storage.metadata(), METADATA);
}

// One member per data dir: while a storage holds it, a second open fails at once, saying what
// is locked; once the first is gone, the data dir opens again.
#[test]
fn storage_locks_its_data_dir() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    let (first, _) = open(&data_dir, StorageOptions::default());
    let error = Storage::open(RealDisk, &data_dir, METADATA, StorageOptions::default())
        .expect_err("the data dir is in use");
    let message = error.to_string();
    assert!(
        message.contains("lock") && message.contains("member/lock"),
        "{message}"
    );
    drop(first);
    open(&data_dir, StorageOptions::default());
}
