//! Restart: a restarted member starts its election timer at its first input, so it waits a
//! full election timeout before campaigning (as etcd does) instead of deposing a healthy leader.
use detcd_core::raft::Role;
use detcd_core::testing::Cluster;
use detcd_core::{Duration, NodeConfig};

#[test]
fn a_restarted_follower_waits_an_election_timeout_before_campaigning() {
    let (mut cluster, leader, follower, term) = restart_a_follower();
    let restarted = cluster.node(follower).raft();
    assert_eq!(
        (restarted.role(), restarted.term()),
        (Role::Follower, term),
        "the member campaigned the moment it restarted"
    );
    cluster.run_for(Duration::from_secs(1));
    assert_eq!(
        cluster.leader(),
        Some(leader),
        "a restart deposed the leader"
    );
}

#[test]
fn restarting_a_follower_does_not_depose_the_leader() {
    let (mut cluster, leader, _, term) = restart_a_follower();
    cluster.run_for(Duration::from_millis(500));
    assert_eq!(
        (cluster.leader(), cluster.node(leader).raft().term()),
        (Some(leader), term),
        "restarting a follower forced a new election"
    );
}

/// Three members without pre-vote (so a premature election would depose the leader); after
/// 10 s of a stable leader, a follower crashes and restarts. Returns the cluster, the leader,
/// the restarted follower and the leader's term.
fn restart_a_follower() -> (Cluster, u64, u64, u64) {
    let configs = (1..=3).map(|id| {
        let mut config = NodeConfig::new(id, 6100 + id);
        config.raft.pre_vote = false;
        config
    });
    let mut cluster = Cluster::with_configs(configs.collect(), 61);
    let leader = cluster.elect();
    cluster.run_for(Duration::from_secs(10));
    let term = cluster.node(leader).raft().term();
    let follower = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    cluster.crash(follower);
    cluster.restart(follower);
    (cluster, leader, follower, term)
}
