//! A run whose safety breaks in the middle of a scripted request ends there, with its safety
//! verdict: the script's remaining actions are skipped and its `check` reports the run.
//!
//! The break here is the "bounded run" property (a run may process at most `events_max`
//! events), which a script can trip at will without a bug in the core.

use detcd_scenarios::catalogue::Scenario;
use detcd_sim::trace::TraceSettings;

const PUTS: usize = 200;

/// Three members elect member 1, then `PUTS` scripted writes go through it one after another.
fn script() -> String {
    let mut text =
        String::from("# Scripted writes, one after another.\n\ncluster 3\nclients 2\n\n");
    text.push_str("elect 1\n");
    for index in 0..PUTS {
        text.push_str(&format!("put key{index} value via 1\n"));
    }
    text.push_str("check recover=5s\n");
    text
}

// Rule: a safety break during a scripted request ends the run with its safety verdict. The
// event budget is set to run out about halfway through the writes: the write in progress ends
// with an unknown outcome, the next ones are not sent (before the rule, the next one tripped
// the workload's "one request at a time" assertion), and the verdict is the broken property.
#[test]
fn a_safety_break_during_a_request_ends_the_run_with_its_verdict() {
    let scenario = Scenario::parse("writes", &script()).expect("the script parses");
    let unbounded = scenario
        .execute(1, &[], TraceSettings::hash_only())
        .expect("the script runs");
    assert!(unbounded.passed(), "{:?}", unbounded.failure());
    let events = unbounded.report.world.events_processed;

    let events_max = (events * 6 / 10).to_string();
    let overrides = vec![("events_max".to_string(), events_max)];
    let broken = scenario
        .execute(1, &overrides, TraceSettings::hash_only())
        .expect("the script runs");
    let output = broken.outputs.join("\n");
    let failure = broken.failure().unwrap_or_default();
    assert!(
        failure.starts_with("bounded run violated"),
        "the verdict is the broken property, not {failure:?}"
    );
    let lines: Vec<&str> = output.lines().collect();
    let skipped = lines
        .iter()
        .position(|line| line.contains("the rest of the script is skipped"))
        .unwrap_or_else(|| panic!("the output says the script stops:\n{output}"));
    assert!(
        lines[skipped - 1].contains("unknown outcome (a safety property broke before the answer)"),
        "the break came during a write:\n{output}"
    );
    let writes_told = lines.iter().filter(|line| line.contains("put key")).count();
    assert!(
        writes_told < PUTS,
        "no write is sent after the break:\n{output}"
    );
    assert!(output.contains("raft safety: bounded run violated"));
}
