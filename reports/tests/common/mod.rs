//! Runs with something to report, shared by the tests.

use detcd_core::Duration;
use detcd_core::NodeId;
use detcd_reports::RunRecord;
use detcd_sim::Partition;
use detcd_sim::SimOptions;
use detcd_sim::run::{RunOptions, Script};
use detcd_sim::trace::TraceSettings;
use detcd_sim::workload::WorkloadOptions;

/// A 5-node brain split: at 5 s the leader and one follower are cut off from the other three;
/// at 12 s the network heals.
pub fn brain_split(seed: u64) -> RunRecord {
    let split: Script = Box::new(|world| {
        let ids = world.node_ids().to_vec();
        let leader = ids
            .iter()
            .copied()
            .find(|&id| world.node(id).is_some_and(|node| node.raft().is_leader()))
            .expect("a leader by 5 s");
        let others: Vec<NodeId> = ids.iter().copied().filter(|&id| id != leader).collect();
        let minority = [leader, others[0]];
        world.set_partition(Partition::split(&[&minority, &others[1..]]));
    });
    let heal: Script = Box::new(|world| world.heal());
    detcd_reports::record(RunOptions {
        seed,
        sim: SimOptions::default(),
        workload: WorkloadOptions::default(),
        fault_phase: Duration::from_secs(20),
        recovery_bound: Duration::from_secs(30),
        script: vec![
            (Duration::from_secs(5), split),
            (Duration::from_secs(12), heal),
        ],
        trace: TraceSettings::hash_only(),
    })
}
