//! The simulator's self-test: over a core with a planted durability bug (a follower acknowledges
//! appended entries before they are durable), swarm seeds must catch it, and the command printed
//! for the failure must replay it. Built only with the mutated core:
//! `cargo test --release -p detcd-scenarios --features mutation-ack-before-persist --test mutation`.
#![cfg(feature = "mutation-ack-before-persist")]

use std::process::Command;

use detcd_scenarios::catalogue;
use detcd_sim::trace::TraceSettings;

/// "A few hundred seeds": the planted bug must show within this many swarm seeds.
const SEEDS_MAX: u64 = 300;

// Rule: a follower acknowledging appends before they are durable breaks Raft's safety in some
// swarm seed within a few hundred, and the printed replay command (which names the mutated
// build) replays that very failure. Without the feature this file is empty, and the same seeds
// pass (CI's sweep).
#[test]
fn swarm_catches_acknowledgement_before_persist() {
    let swarm = catalogue::find("swarm").expect("swarm is in the catalogue");
    let (seed, violation) = (1..=SEEDS_MAX)
        .find_map(|seed| {
            let execution = swarm
                .execute(seed, &[], TraceSettings::hash_only())
                .expect("swarm runs");
            Some((seed, execution.report.safety?.to_string()))
        })
        .unwrap_or_else(|| panic!("no safety violation in swarm seeds 1..={SEEDS_MAX}"));

    let command = swarm.replay_command(seed, &[]);
    let arguments = command
        .strip_prefix(
            "cargo run --release -p detcd-scenarios --features mutation-ack-before-persist -- ",
        )
        .unwrap_or_else(|| panic!("the replay names the mutated build: {command}"));
    let replay = Command::new(env!("CARGO_BIN_EXE_detcd-sim"))
        .args(arguments.split_whitespace())
        .output()
        .expect("detcd-sim starts");
    let text = String::from_utf8_lossy(&replay.stdout);
    assert_eq!(
        replay.status.code(),
        Some(1),
        "seed {seed} replays as a failure:\n{text}"
    );
    assert!(
        text.contains(&violation),
        "the replay of seed {seed} shows {violation:?}:\n{text}"
    );
}
