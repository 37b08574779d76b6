//! Named scenarios: what a user runs.

use detcd_core::Duration;
use detcd_sim::options::SimOptions;
use detcd_sim::run::RunOptions;
use detcd_sim::trace::TraceSettings;
use detcd_sim::workload::WorkloadOptions;

/// A named scenario: its one-line purpose and the run options it builds for a seed.
#[derive(Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub purpose: &'static str,
    pub options: fn(u64) -> RunOptions,
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
