//! Properties: random message loss, delay (and so reordering), duplication, crashes, restarts
//! and partitions over 3- and 5-member clusters never break election safety, leader
//! completeness, log matching, state machine safety, or lose an acknowledged write.
//!
//! Election safety and leader completeness are asserted by the test network after every step;
//! the rest are checked at the end of each case, after the faults are healed.

use detcd_core::testing::{Cluster, JournalRequest, NetworkFaults};
use detcd_core::{Duration, NodeConfig};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Action {
    Propose { member: usize, value: u64 },
    Read { member: usize },
    Crash { member: usize },
    Restart { member: usize },
    Isolate { member: usize },
    Heal,
    Run { millis: u64 },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (0..5usize, any::<u64>()).prop_map(|(member, value)| Action::Propose { member, value }),
        2 => (0..5usize).prop_map(|member| Action::Read { member }),
        3 => (0..5usize).prop_map(|member| Action::Crash { member }),
        3 => (0..5usize).prop_map(|member| Action::Restart { member }),
        1 => (0..5usize).prop_map(|member| Action::Isolate { member }),
        1 => Just(Action::Heal),
        4 => (1..3000u64).prop_map(|millis| Action::Run { millis }),
        2 => (1..30u64).prop_map(|millis| Action::Run { millis }),
    ]
}

fn cluster(size: u64, seed: u64, snapshot_entries: u64) -> Cluster {
    let configs = (1..=size).map(|id| {
        let mut config = NodeConfig::new(id, seed ^ (id << 32));
        config.snapshot_entries = snapshot_entries;
        config.snapshot_catch_up_entries = snapshot_entries / 2;
        config
    });
    Cluster::with_configs(configs.collect(), seed)
}

fn run_case(
    size: u64,
    seed: u64,
    snapshot_entries: u64,
    faults: NetworkFaults,
    disk_millis: u64,
    actions: Vec<Action>,
) {
    let mut cluster = cluster(size, seed, snapshot_entries);
    cluster.faults = faults;
    cluster.disk_latency = Duration::from_millis(disk_millis);
    let ids = cluster.ids();
    for action in actions {
        let id = |member: usize| ids[member % ids.len()];
        match action {
            Action::Propose { member, value } => {
                cluster.request(id(member), JournalRequest::Append(value));
            }
            Action::Read { member } => {
                cluster.request(id(member), JournalRequest::Read { linearizable: true });
            }
            Action::Crash { member } if cluster.is_up(id(member)) => cluster.crash(id(member)),
            Action::Restart { member } if !cluster.is_up(id(member)) => cluster.restart(id(member)),
            Action::Isolate { member } => cluster.isolate(id(member)),
            Action::Heal => cluster.heal(),
            Action::Run { millis } => cluster.run_for(Duration::from_millis(millis)),
            _ => {}
        }
    }
    cluster.heal();
    for &id in &ids {
        if !cluster.is_up(id) {
            cluster.restart(id);
        }
    }
    cluster.faults = NetworkFaults::default();
    cluster.run_for(Duration::from_secs(10));
    cluster.check_log_matching();
    cluster.check_state_machine_safety();
    cluster.check_acknowledged_writes();
    // Liveness after healing: a leader exists and every member caught up with it.
    let leader = cluster.elect();
    let commit = cluster.node(leader).raft().commit_index();
    for &id in &ids {
        assert!(
            cluster.node(id).raft().applied_index()
                >= commit.min(cluster.node(id).raft().commit_index())
        );
    }
}

fn faults() -> impl Strategy<Value = (NetworkFaults, u64)> {
    (0.0..0.3f64, 0.0..0.2f64, 1..50u64, 0..60u64).prop_map(
        |(loss, duplicate, jitter_millis, disk_millis)| {
            let faults = NetworkFaults {
                latency_min: Duration::from_millis(1),
                latency_max: Duration::from_millis(1 + jitter_millis),
                loss,
                duplicate,
            };
            (faults, disk_millis)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn three_members_stay_safe_under_random_faults(
        seed in any::<u64>(),
        snapshot_entries in prop_oneof![Just(8u64), Just(10_000u64)],
        (faults, disk_millis) in faults(),
        actions in prop::collection::vec(action(), 1..120),
    ) {
        run_case(3, seed, snapshot_entries, faults, disk_millis, actions);
    }

    #[test]
    fn five_members_stay_safe_under_random_faults(
        seed in any::<u64>(),
        snapshot_entries in prop_oneof![Just(8u64), Just(10_000u64)],
        (faults, disk_millis) in faults(),
        actions in prop::collection::vec(action(), 1..120),
    ) {
        run_case(5, seed, snapshot_entries, faults, disk_millis, actions);
    }
}
