//! Runs with something to report, shared by the tests.

use detcd_core::{Duration, Instant, NodeId};
use detcd_reports::RunRecord;
use detcd_sim::Partition;
use detcd_sim::run::{RunOptions, Simulation};
use detcd_sim::trace::TraceSettings;

/// A 5-node brain split: at 5 s the leader and one follower are cut off from the other three;
/// at 12 s the network heals; at 20 s the fault phase ends.
pub fn brain_split(seed: u64) -> RunRecord {
    let mut options = RunOptions::scripted(seed);
    options.trace = TraceSettings::in_memory();
    let mut simulation = Simulation::new(options);
    let at = |secs| Instant::ZERO + Duration::from_secs(secs);
    simulation.run_until(at(5));
    let world = simulation.world_mut();
    let ids = world.node_ids().to_vec();
    let leader = ids
        .iter()
        .copied()
        .find(|&id| world.node(id).is_some_and(|node| node.raft().is_leader()))
        .expect("a leader by 5 s");
    let others: Vec<NodeId> = ids.iter().copied().filter(|&id| id != leader).collect();
    let minority = [leader, others[0]];
    world.set_partition(Partition::split(&[&minority, &others[1..]]));
    simulation.run_until(at(12));
    simulation.world_mut().heal();
    simulation.run_until(at(20));
    RunRecord::from_report(simulation.finish())
}
