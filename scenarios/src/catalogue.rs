//! Named scenarios: what a user runs.

use detcd_core::{Duration, NodeId};
use detcd_sim::Partition;
use detcd_sim::options::SimOptions;
use detcd_sim::overrides;
use detcd_sim::run::{RunOptions, Script};
use detcd_sim::trace::TraceSettings;
use detcd_sim::workload::WorkloadOptions;

/// A named scenario: its one-line purpose and the run options it builds for a seed.
#[derive(Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub purpose: &'static str,
    pub options: fn(u64) -> RunOptions,
}

impl Scenario {
    /// The options for `seed`, with `overrides` (`key=value`) applied on top, in order.
    pub fn build(&self, seed: u64, overrides: &[(String, String)]) -> Result<RunOptions, String> {
        let mut options = (self.options)(seed);
        overrides::apply_all(&mut options, overrides)?;
        Ok(options)
    }

    /// The one command that replays this scenario's run for `seed` with `overrides`.
    pub fn replay_command(&self, seed: u64, overrides: &[(String, String)]) -> String {
        format!(
            "cargo run --release -p detcd-scenarios -- run {} --seed {seed}{}",
            self.name,
            set_arguments(overrides)
        )
    }
}

/// The `--set key=value` arguments that give `overrides`, each with a leading space.
pub fn set_arguments(overrides: &[(String, String)]) -> String {
    overrides
        .iter()
        .map(|(key, value)| format!(" --set {key}={value}"))
        .collect()
}

/// Every scenario, in the order `list` shows them.
pub fn all() -> &'static [Scenario] {
    &[
        Scenario {
            name: "healthy-5",
            purpose: "Five members on a healthy network elect a leader and commit the clients' writes.",
            options: healthy_five,
        },
        Scenario {
            name: "brain-split-5",
            purpose: "Five members; at 5 s the leader and one follower are cut off from the other \
                      three (the leader in the minority) until 12 s. The old leader steps down, \
                      the majority elects a new one in a new term, minority writes fail, and \
                      nothing acknowledged is lost.",
            options: brain_split_five,
        },
        Scenario {
            name: "swarm",
            purpose: "Everything drawn from the seed: cluster size, faults and their rates, timings, workload.",
            options: RunOptions::swarm,
        },
    ]
}

pub fn find(name: &str) -> Option<&'static Scenario> {
    all().iter().find(|scenario| scenario.name == name)
}

fn healthy_five(seed: u64) -> RunOptions {
    RunOptions {
        seed,
        sim: SimOptions::default(),
        workload: WorkloadOptions::default(),
        fault_phase: Duration::from_secs(20),
        recovery_bound: Duration::from_secs(10),
        script: Vec::new(),
        trace: TraceSettings::hash_only(),
    }
}

/// `healthy-5` with a scripted split: at 5 s the leader and the lowest other member are cut off
/// from the other three; at 12 s the network heals.
fn brain_split_five(seed: u64) -> RunOptions {
    let split: Script = Box::new(|world| {
        let ids = world.node_ids().to_vec();
        let leader = ids
            .iter()
            .copied()
            .find(|&id| world.node(id).is_some_and(|node| node.raft().is_leader()));
        // Without a leader yet there is nothing to isolate: split the first two from the rest.
        let leader = leader.unwrap_or(ids[0]);
        let others: Vec<NodeId> = ids.iter().copied().filter(|&id| id != leader).collect();
        world.set_partition(Partition::split(&[&[leader, others[0]], &others[1..]]));
    });
    let heal: Script = Box::new(|world| world.heal());
    RunOptions {
        script: vec![
            (Duration::from_secs(5), split),
            (Duration::from_secs(12), heal),
        ],
        ..healthy_five(seed)
    }
}
