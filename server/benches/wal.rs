//! WAL append with group commit: how many 256-byte entries the server's storage makes durable per
//! second, and how many share each fsync, with 1, 16 and 64 concurrent producers. Issue 14 asks
//! for the figures (entries per fsync, bytes per second); it sets no target for them.
//!
//! The storage is the server's own, on a real directory: `Storage::open(RealDisk, ...)` on a
//! fresh temp dir (under `$TMPDIR`, so point it at the disk to measure), written by the storage
//! writer thread (`storage_writer::spawn`) exactly as the member task uses it. Each producer
//! writes one batch of one entry and waits until the writer reports it durable, then writes the
//! next (a closed loop, as a client waiting for its put); the writer gathers whatever batches
//! queued while it was busy into one write and one fsync. So with one producer every entry
//! costs an fsync, and with more the fsync is shared.
//!
//! One measured iteration is `ENTRIES_PER_PRODUCER` entries per producer; criterion's
//! throughput is the entries' data in bytes. Opening the storage and starting and stopping the
//! writer are untimed. After criterion, a plain line per producer count gives entries per
//! second, entry bytes per second and entries per fsync over `PLAIN_SECONDS`.
//!
//! Run: `cargo bench -p detcd --bench wal`.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use detcd::metrics::fsync_histogram;
use detcd::storage::{Metadata, RealDisk, Storage, StorageOptions};
use detcd::storage_writer::{self, WriterEvent, WriterHandle};
use detcd_core::PersistToken;
use detcd_core::raft::{Entry, EntryKind, PersistBatch};

/// The allocator of the `detcd` binary, so that the figures are the server's.
#[cfg(not(madsim))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ENTRY_BYTES: usize = 256;
const PRODUCERS: [u64; 3] = [1, 16, 64];
const ENTRIES_PER_PRODUCER: u64 = 16;
/// Wall time of each plain figure printed after criterion's.
const PLAIN_SECONDS: u64 = 3;
const METADATA: Metadata = Metadata {
    member_id: 1,
    cluster_id: 1,
};

/// What a run of the closed loop did.
#[derive(Clone, Copy, Debug, Default)]
struct Run {
    elapsed: Duration,
    entries: u64,
    /// Groups the writer made durable, each with one write and one fsync.
    fsyncs: u64,
}

/// A fresh storage on a temp dir and its writer; the dir goes when the value is dropped.
struct Wal {
    writer: WriterHandle,
    _dir: tempfile::TempDir,
    next_token: u64,
}

impl Wal {
    fn open() -> Wal {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (storage, recovered) =
            Storage::open(RealDisk, dir.path(), METADATA, StorageOptions::default())
                .expect("the storage opens on a fresh dir");
        assert_eq!(recovered.incarnation, 1, "a fresh data dir");
        Wal {
            writer: storage_writer::spawn(storage, fsync_histogram()),
            _dir: dir,
            next_token: 1,
        }
    }

    /// Queue one batch of one entry (entries take indexes 1, 2, ... with their tokens).
    fn write_one(&mut self, data: &[u8]) -> PersistToken {
        let token = PersistToken(self.next_token);
        self.next_token += 1;
        let entry = Entry {
            term: 1,
            index: token.0,
            kind: EntryKind::Normal,
            data: data.to_vec(),
        };
        let batch = PersistBatch {
            token,
            snapshot: None,
            entries: vec![entry],
            hard_state: None,
        };
        self.writer.write(vec![batch]).expect("the writer runs");
        token
    }

    /// The token through which every batch is durable, from the writer's next report.
    fn next_durable(&mut self) -> PersistToken {
        match self.writer.events.blocking_recv() {
            Some(WriterEvent::Durable(through)) => through,
            other => panic!("the writer failed: {other:?}"),
        }
    }

    /// Keep `producers` entries outstanding, each replaced by the next as soon as it is durable,
    /// until `entries` are durable or `deadline` passes (then the outstanding ones finish).
    fn closed_loop(&mut self, producers: u64, entries: u64, deadline: Option<Instant>) -> Run {
        let data = vec![b'e'; ENTRY_BYTES];
        let started = Instant::now();
        let mut run = Run::default();
        let mut written = 0;
        let mut durable = 0;
        let first = self.next_token;
        while written < producers.min(entries) {
            self.write_one(&data);
            written += 1;
        }
        while durable < written {
            let through = self.next_durable().0 - first + 1;
            assert!(through > durable && through <= written, "durable in order");
            let finished = through - durable;
            durable = through;
            run.fsyncs += 1;
            let more = deadline.is_none_or(|deadline| Instant::now() < deadline);
            for _ in 0..finished {
                if written < entries && more {
                    self.write_one(&data);
                    written += 1;
                }
            }
        }
        run.elapsed = started.elapsed();
        run.entries = durable;
        run
    }

    fn stop(mut self) {
        self.writer.stop();
        loop {
            match self.writer.events.blocking_recv() {
                Some(WriterEvent::Stopped) | None => return,
                Some(WriterEvent::Durable(_)) => {}
                Some(WriterEvent::Failed(error)) => panic!("the writer failed: {error}"),
            }
        }
    }
}

fn wal_append(c: &mut Criterion) {
    let mut group = c.benchmark_group("wal_append");
    group.sample_size(10);
    for producers in PRODUCERS {
        let entries = producers * ENTRIES_PER_PRODUCER;
        group.throughput(Throughput::Bytes(entries * ENTRY_BYTES as u64));
        group.bench_with_input(
            BenchmarkId::new("producers", producers),
            &producers,
            |b, &producers| {
                b.iter_custom(|iters| {
                    let mut wal = Wal::open();
                    let run = wal.closed_loop(producers, iters * entries, None);
                    wal.stop();
                    run.elapsed
                })
            },
        );
    }
    group.finish();

    if std::env::args().any(|arg| arg == "--profile-time") {
        return;
    }
    for producers in PRODUCERS {
        let mut wal = Wal::open();
        let deadline = Instant::now() + Duration::from_secs(PLAIN_SECONDS);
        let run = wal.closed_loop(producers, u64::MAX, Some(deadline));
        wal.stop();
        let seconds = run.elapsed.as_secs_f64();
        println!(
            "wal_append/producers/{producers}: {:.0} entries/s, {:.2} MiB/s of entries, \
             {:.1} entries per fsync, {:.0} fsyncs/s ({} entries in {seconds:.2} s)",
            run.entries as f64 / seconds,
            (run.entries * ENTRY_BYTES as u64) as f64 / seconds / (1024.0 * 1024.0),
            run.entries as f64 / run.fsyncs as f64,
            run.fsyncs as f64 / seconds,
            run.entries,
        );
    }
}

criterion_group!(benches, wal_append);
criterion_main!(benches);
