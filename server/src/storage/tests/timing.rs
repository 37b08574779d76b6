//! How long `write` takes on this machine's disk, for the figures the server is held to:
//! `cargo test --release -p detcd storage::tests::timing -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use super::faulty::FaultyDisk;
use super::{batch, open_with};
use crate::storage::{Disk, RealDisk, StorageOptions};

/// The median and the 99th percentile of `samples`.
fn summary(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    )
}

/// Writes of `per_write` batches (one 100-byte entry and a hard state each), timed one by one.
fn measure<D: Disk>(disk: D, label: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (mut storage, _) = open_with(disk, dir.path(), StorageOptions::default());
    let mut index = 0;
    for per_write in [1u64, 100] {
        let mut samples = Vec::new();
        for _ in 0..500 {
            let batches: Vec<_> = (0..per_write)
                .map(|_| {
                    index += 1;
                    batch(index, index..=index, 1)
                })
                .collect();
            let start = Instant::now();
            storage.write(&batches).unwrap();
            samples.push(start.elapsed());
        }
        let (median, p99) = summary(samples);
        println!("{label}: {per_write} batch(es) per write: median {median:?}, p99 {p99:?}");
    }
}

// Measures one batch per write and 100 per write, with fsync and without (the cost of the
// storage itself: encoding, checksums, the write call).
#[test]
#[ignore = "a measurement, not a check"]
fn storage_write_timing() {
    measure(RealDisk, "fsync");
    measure(FaultyDisk::no_sync(), "no fsync");
}
