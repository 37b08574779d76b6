//! The simulator's self-test: over a core with one planted Raft bug (a `mutation-*` feature of
//! detcd-core), swarm seeds must catch it within a bound, and the command printed for the failure
//! must replay it. Each test is built only with its mutated core, one feature at a time:
//! `cargo test --release -p detcd-scenarios --features mutation-ack-before-persist --test mutation`.
//! Without a mutation this file is empty, and the same seeds pass (CI's sweep).
//!
//! Each bound sits well above the first seed that catches the bug today, so that a change to what
//! swarm draws does not fail the test by chance, yet a simulator that stopped catching the class
//! does.
#![cfg(any(
    feature = "mutation-ack-before-persist",
    feature = "mutation-vote-request-before-persist"
))]

use std::process::Command;

use detcd_scenarios::catalogue;
use detcd_sim::trace::TraceSettings;

// Rule: a follower acknowledging appends before they are durable lets a crash take away entries
// a leader counted toward a quorum; swarm breaks safety with it within a few hundred seeds.
#[cfg(feature = "mutation-ack-before-persist")]
#[test]
fn swarm_catches_acknowledgement_before_persist() {
    swarm_catches("mutation-ack-before-persist", 300);
}

// Rule: a candidate asking for votes before its new term and vote are durable can win, crash,
// come back in the term before and win the same term again with another log (one member leads
// one term twice). Swarm seed 328 found the real bug, the only seed of 1..1000 that did; once
// swarm drew compaction and past reads too, seed 328 drew another run and no seed up to 500
// caught it. Swarm needs faults aimed at elections to catch it reliably (issue 15).
#[cfg(feature = "mutation-vote-request-before-persist")]
#[test]
#[ignore = "swarm does not catch this planted bug within 500 seeds since it draws compaction"]
fn swarm_catches_vote_request_before_persist() {
    swarm_catches("mutation-vote-request-before-persist", 500);
}

/// Run swarm seeds `1..=seeds_max` until one breaks a safety property, then replay it with the
/// printed command, which must name the mutated build (`feature`), and see the same violation.
fn swarm_catches(feature: &str, seeds_max: u64) {
    assert_eq!(
        catalogue::MUTATIONS,
        [feature],
        "the self-test runs over one planted bug at a time"
    );
    let swarm = catalogue::find("swarm").expect("swarm is in the catalogue");
    let (seed, violation) = (1..=seeds_max)
        .find_map(|seed| {
            let execution = swarm
                .execute(seed, &[], TraceSettings::hash_only())
                .expect("swarm runs");
            Some((seed, execution.report.safety?.to_string()))
        })
        .unwrap_or_else(|| panic!("{feature}: no safety violation in swarm seeds 1..={seeds_max}"));

    let command = swarm.replay_command(seed, &[]);
    let prefix = format!("cargo run --release -p detcd-scenarios --features {feature} -- ");
    let arguments = command
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("the replay names the mutated build: {command}"));
    let replay = Command::new(env!("CARGO_BIN_EXE_detcd-sim"))
        .args(arguments.split_whitespace())
        .output()
        .expect("detcd-sim starts");
    let text = String::from_utf8_lossy(&replay.stdout);
    assert_eq!(
        replay.status.code(),
        Some(1),
        "{feature}: seed {seed} replays as a failure:\n{text}"
    );
    assert!(
        text.contains(&violation),
        "{feature}: the replay of seed {seed} shows {violation:?}:\n{text}"
    );
}
