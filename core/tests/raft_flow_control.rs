//! Flow control: when every append of a follower's full inflight window is lost, a heartbeat
//! answer frees a slot (etcd's FreeFirstOne), so the follower is caught up once the network heals.
use detcd_core::testing::{Cluster, JournalRequest};
use detcd_core::{Duration, NodeConfig};

#[test]
fn a_follower_whose_inflight_window_was_lost_catches_up_after_heal() {
    let configs = (1..=3).map(|id| {
        let mut config = NodeConfig::new(id, 4200 + id);
        config.raft.inflight_max = 4;
        config
    });
    let mut cluster = Cluster::with_configs(configs.collect(), 42);
    let leader = cluster.elect();
    let lagging = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    cluster.request(leader, JournalRequest::Append(0));
    cluster.run_for(Duration::from_millis(200));
    // The follower is in Replicate; now every append to it is lost.
    cluster.isolate(lagging);
    for value in 1..=10 {
        cluster.request(leader, JournalRequest::Append(value));
        cluster.run_for(Duration::from_millis(20));
    }
    cluster.heal();
    cluster.run_for(Duration::from_secs(10));
    let leader_last = cluster.node(leader).raft().last_index();
    let lagging_last = cluster.node(lagging).raft().last_index();
    assert_eq!(
        cluster.node(leader).raft().leader(),
        Some(leader),
        "same leader throughout"
    );
    assert_eq!(
        lagging_last,
        leader_last,
        "follower {lagging} never caught up after the partition healed (progress {:?})",
        cluster.node(leader).raft().progress_state(lagging)
    );
}
