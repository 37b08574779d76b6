//! How long `write` takes on this machine's disk, for the figures the server is held to:
//! `cargo test --release -p detcd storage::tests::timing -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use super::{batch, open};
use crate::storage::StorageOptions;

/// The median and the 99th percentile of `samples`.
fn summary(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    )
}

// Measures one batch (one 100-byte entry and a hard state) per write, and 100 such per write.
#[test]
#[ignore = "a measurement, not a check"]
fn storage_write_timing() {
    let dir = tempfile::tempdir_in(std::env::current_dir().unwrap()).unwrap();
    let (mut storage, _) = open(dir.path(), StorageOptions::default());
    let mut index = 0;
    for per_write in [1u64, 100] {
        let mut samples = Vec::new();
        for _ in 0..300 {
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
        println!("{per_write} batch(es) per write: median {median:?}, p99 {p99:?}");
    }
}
