//! Raft core throughput: committed-and-applied entries per wall-clock second for 3- and 5-member
//! clusters on the core's in-memory test network, `detcd_core::testing::Cluster`.
//!
//! How: every measured iteration gets a fresh cluster (network latency fixed at 1 ms, disk
//! latency 100 µs, no loss or duplication) whose leader has already been elected; building it
//! and electing the leader happen in criterion's untimed setup, and the cluster is dropped
//! untimed too. The timed part proposes `ENTRIES` `JournalRequest::Append(i)` requests to the
//! leader and runs the virtual clock until every one of them is answered
//! `JournalResponse::Appended`, i.e. committed by a quorum and applied by the leader's state
//! machine. So the figure is wall time for `ENTRIES` entries through the whole core — proposal
//! encoding, replication, persistence round trips, commit, apply, reply — plus the test
//! network's own bookkeeping (event queue, per-step safety checks), with no real I/O or sleeps.
//! `Throughput::Elements(ENTRIES)` makes criterion report entries per second.
//!
//! Two proposal patterns:
//! - `raft_commit/{3,5}_members`: all `ENTRIES` proposed at once at one virtual instant.
//! - `raft_commit_16_in_flight/{3,5}_members`: a client keeps 16 proposals outstanding and
//!   proposes the next as soon as one is answered.
//!
//! Snapshots: the snapshot interval is left at its default (`NodeConfig::snapshot_entries` =
//! 10,000). A fresh cluster per iteration applies at most `ENTRIES` + 1 (the leader's empty
//! entry) entries, below it, so no snapshot is ever taken in the measured part; the routine
//! asserts this.
//!
//! Run: `cargo bench -p detcd-benches --bench raft`.

use std::hint::black_box;
use std::time::Duration as WallDuration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use detcd_core::testing::{Cluster, JournalRequest, JournalResponse, NetworkFaults};
use detcd_core::{Duration, NodeId, RequestId};

/// Entries committed per measured iteration.
const ENTRIES: u64 = 1_000;
/// Proposals outstanding at once in the windowed variant.
const WINDOW: u64 = 16;
/// Virtual time an iteration may take at most; far above what it needs (tens of ms).
const VIRTUAL_LIMIT: Duration = Duration::from_secs(60);
const SEED: u64 = 42;

/// `PersistedState::bootstrap` starts every member from a snapshot at index 1.
const BOOTSTRAP_SNAPSHOT_INDEX: u64 = 1;

/// A proposal pattern: commit `ENTRIES` entries on an elected cluster, return it to be dropped
/// outside the timed part.
type Commit = fn(Cluster, NodeId) -> Cluster;

/// A fresh cluster of `size` members with a settled leader; returns it and the leader.
fn elected_cluster(size: u64) -> (Cluster, NodeId) {
    let mut cluster = Cluster::new(size, SEED);
    cluster.faults = NetworkFaults {
        latency_min: Duration::from_millis(1),
        latency_max: Duration::from_millis(1),
        loss: 0.0,
        duplicate: 0.0,
    };
    cluster.disk_latency = Duration::from_micros(100);
    let leader = cluster.elect();
    (cluster, leader)
}

fn propose(cluster: &mut Cluster, leader: NodeId, value: u64) -> RequestId {
    cluster.request(leader, JournalRequest::Append(value))
}

/// Check that exactly the requests `first..first + ENTRIES` were answered, all `Appended`, and
/// that no member took a snapshot beyond the bootstrap one. O(ENTRIES): `Cluster::reply` is a
/// linear scan, so calling it per request would add an O(ENTRIES²) term to the measurement.
fn check_all_appended(cluster: &Cluster, first: RequestId) {
    let replies = cluster.replies();
    assert_eq!(replies.len() as u64, ENTRIES, "one reply per proposal");
    let mut seen = vec![false; ENTRIES as usize];
    for reply in replies {
        assert!(
            matches!(reply.body, JournalResponse::Appended { .. }),
            "request {} failed: {:?}",
            reply.request,
            reply.body
        );
        let slot = &mut seen[(reply.request - first) as usize];
        assert!(!*slot, "request {} answered twice", reply.request);
        *slot = true;
    }
    assert!(matches!(
        cluster.reply(first + ENTRIES - 1),
        Some(JournalResponse::Appended { .. })
    ));
    for id in cluster.ids() {
        assert_eq!(
            cluster.node(id).raft().snapshot_index(),
            BOOTSTRAP_SNAPSHOT_INDEX,
            "member {id} took a snapshot"
        );
    }
}

/// Propose `ENTRIES` appends at once, then run until all are answered.
fn commit_all_at_once(mut cluster: Cluster, leader: NodeId) -> Cluster {
    assert!(cluster.replies().is_empty());
    let first = propose(&mut cluster, leader, 0);
    for value in 1..ENTRIES {
        propose(&mut cluster, leader, value);
    }
    assert!(
        cluster.run_until(VIRTUAL_LIMIT, |c| c.replies().len() as u64 >= ENTRIES),
        "{ENTRIES} entries not committed within {VIRTUAL_LIMIT:?} of virtual time"
    );
    check_all_appended(&cluster, first);
    cluster
}

/// Keep `WINDOW` appends outstanding until `ENTRIES` are answered.
fn commit_windowed(mut cluster: Cluster, leader: NodeId) -> Cluster {
    assert!(cluster.replies().is_empty());
    let first = propose(&mut cluster, leader, 0);
    let mut proposed = 1;
    loop {
        let answered = cluster.replies().len() as u64;
        while proposed < ENTRIES && proposed - answered < WINDOW {
            propose(&mut cluster, leader, proposed);
            proposed += 1;
        }
        if answered == ENTRIES {
            break;
        }
        assert!(
            cluster.run_until(VIRTUAL_LIMIT, |c| c.replies().len() as u64 > answered),
            "no proposal answered within {VIRTUAL_LIMIT:?} of virtual time"
        );
    }
    check_all_appended(&cluster, first);
    cluster
}

fn bench_pattern(c: &mut Criterion, group_name: &str, commit: Commit) {
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(ENTRIES));
    group.sample_size(20);
    group.warm_up_time(WallDuration::from_secs(2));
    group.measurement_time(WallDuration::from_secs(5));
    for size in [3, 5] {
        group.bench_function(format!("{size}_members"), |b| {
            b.iter_batched(
                || elected_cluster(size),
                |(cluster, leader)| black_box(commit(cluster, leader)),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

fn raft_commit(c: &mut Criterion) {
    bench_pattern(c, "raft_commit", commit_all_at_once);
    bench_pattern(c, "raft_commit_16_in_flight", commit_windowed);

    // Context for the figures: the virtual time and messages one iteration takes.
    for size in [3, 5] {
        for (name, commit) in [
            ("all at once", commit_all_at_once as Commit),
            ("16 in flight", commit_windowed),
        ] {
            let (cluster, leader) = elected_cluster(size);
            let (start, delivered) = (cluster.now(), cluster.delivered);
            let cluster = commit(cluster, leader);
            println!(
                "raft_commit {size} members, {name}: {ENTRIES} entries in {:?} virtual, \
                 {} messages delivered",
                cluster.now().saturating_duration_since(start),
                cluster.delivered - delivered
            );
        }
    }
}

criterion_group!(benches, raft_commit);
criterion_main!(benches);
