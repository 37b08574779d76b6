//! A snapshot on request (etcd's Defragment): the member snapshots what it applied and compacts
//! its log, and answers only once the snapshot is durable, so the answer promises a disk that a
//! restart recovers from.

use detcd_core::Duration;
use detcd_core::testing::{Cluster, JournalRequest, JournalResponse};

#[test]
fn a_requested_snapshot_is_answered_once_durable() {
    let mut cluster = Cluster::new(1, 61);
    let leader = cluster.elect();
    for value in 0..10 {
        cluster.request(leader, JournalRequest::Append(value));
    }
    cluster.run_for(Duration::from_millis(100));
    let applied = cluster.node(leader).raft().applied_index();
    // A slow disk: the answer must wait for it.
    cluster.disk_latency = Duration::from_millis(50);
    let request = cluster.request(leader, JournalRequest::Snapshot);
    cluster.run_for(Duration::from_millis(20));
    assert_eq!(
        cluster.reply(request),
        None,
        "answered before the snapshot was durable"
    );
    cluster.run_for(Duration::from_millis(100));
    assert_eq!(cluster.reply(request), Some(&JournalResponse::Snapshotted));
    let durable = cluster
        .durable(leader)
        .snapshot
        .as_ref()
        .expect("a snapshot on disk");
    assert_eq!(durable.index, applied);

    // Nothing applied since: the latest snapshot is current, and the answer comes at once.
    let again = cluster.request(leader, JournalRequest::Snapshot);
    assert_eq!(cluster.reply(again), Some(&JournalResponse::Snapshotted));
}
