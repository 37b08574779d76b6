//! The `detcd-sim` reproduction tools from the outside: option overrides, replay commands,
//! trace files and shrinking, through the binary itself.

use std::process::{Command, Output};

fn detcd_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_detcd-sim"))
        .args(args)
        .output()
        .expect("detcd-sim starts")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

// Rule: overrides show in the printed options, so the options printed are the ones that ran.
#[test]
fn printed_options_reflect_overrides() {
    let output = detcd_sim(&[
        "run",
        "healthy-5",
        "--seed",
        "1",
        "--set",
        "clients=2",
        "--set",
        "mix.watch=0",
        "--set",
        "fault_phase_ms=2000",
    ]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("--seed 1 --set clients=2 --set mix.watch=0 --set fault_phase_ms=2000"));
    assert!(text.contains("with 3 overrides"), "{text}");
    for line in [
        "clients                  = 2",
        "fault_phase_ms           = 2000",
    ] {
        assert!(text.contains(line), "{line:?} not in\n{text}");
    }
    assert!(text.contains("watch 0"), "{text}");
}

// Rule: an unknown key or an unparsable value is a usage error (exit 2) naming the key.
#[test]
fn bad_overrides_are_usage_errors() {
    for (set, named) in [
        ("no_such_knob=1", "no_such_knob"),
        ("clients=lots", "clients=lots"),
        ("clients", "key=value"),
    ] {
        let output = detcd_sim(&["run", "healthy-5", "--seed", "1", "--set", set]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{set}: {stderr}");
        assert!(stderr.contains(named), "{set}: {stderr}");
    }
}

// Rule: a failing run, single or in a sweep, prints the one command that replays it, with its
// overrides. (A zero recovery bound makes healthy-5 fail its liveness check.)
#[test]
fn failures_print_a_replay_command_with_the_overrides() {
    let replay = "replay: cargo run --release -p detcd-scenarios -- run healthy-5 --seed 4 \
                  --set fault_phase_ms=1000 --set recovery_bound_ms=0";
    let single = detcd_sim(&[
        "run",
        "healthy-5",
        "--seed",
        "4",
        "--set",
        "fault_phase_ms=1000",
        "--set",
        "recovery_bound_ms=0",
    ]);
    assert_eq!(single.status.code(), Some(1));
    assert!(
        stdout(&single).contains("FAILED: liveness"),
        "{}",
        stdout(&single)
    );
    assert!(stdout(&single).contains(replay), "{}", stdout(&single));

    let sweep = detcd_sim(&[
        "run",
        "healthy-5",
        "--seeds",
        "4..6",
        "--set",
        "fault_phase_ms=1000",
        "--set",
        "recovery_bound_ms=0",
    ]);
    assert_eq!(sweep.status.code(), Some(1));
    assert!(stdout(&sweep).contains(replay), "{}", stdout(&sweep));
    assert!(stdout(&sweep).contains(&replay.replace("--seed 4", "--seed 5")));
}

// Rule: `run --trace FILE` writes the whole trace as JSON lines, one event per line.
#[test]
fn run_writes_the_trace_as_json_lines() {
    let path = std::env::temp_dir().join(format!("detcd-trace-test-{}.jsonl", std::process::id()));
    let output = detcd_sim(&[
        "run",
        "healthy-5",
        "--seed",
        "2",
        "--set",
        "fault_phase_ms=1000",
        "--trace",
        path.to_str().expect("a UTF-8 temporary path"),
    ]);
    assert!(output.status.success(), "{}", stdout(&output));
    let trace = std::fs::read_to_string(&path).expect("the trace was written");
    std::fs::remove_file(&path).expect("removable");
    let events: Vec<serde_json::Value> = trace
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is one JSON event"))
        .collect();
    assert!(events.len() > 100, "only {} events", events.len());
    assert!(
        events
            .iter()
            .all(|event| event.get("time").is_some() && event.get("kind").is_some())
    );
}

// Rule: shrinking a passing run says there is nothing to shrink and exits 0; shrinking a
// failing one ends with one replay command that still fails the same way.
#[test]
fn shrink_prints_the_smallest_replay_command() {
    let passing = detcd_sim(&[
        "shrink",
        "healthy-5",
        "--seed",
        "1",
        "--set",
        "fault_phase_ms=1000",
    ]);
    assert_eq!(passing.status.code(), Some(0));
    assert!(
        stdout(&passing).contains("nothing to shrink"),
        "{}",
        stdout(&passing)
    );

    let failing = detcd_sim(&[
        "shrink",
        "healthy-5",
        "--seed",
        "3",
        "--set",
        "fault_phase_ms=1000",
        "--set",
        "recovery_bound_ms=0",
        "--attempts-max",
        "4",
    ]);
    let text = stdout(&failing);
    assert_eq!(failing.status.code(), Some(1), "{text}");
    let command = text
        .lines()
        .find(|line| {
            line.starts_with("cargo run --release -p detcd-scenarios -- run healthy-5 --seed 3")
        })
        .unwrap_or_else(|| panic!("no replay command in\n{text}"));
    // Four runs: the given one, then the fault phase halved three times (1000 to 125 ms).
    assert!(
        command.ends_with("--set fault_phase_ms=125 --set recovery_bound_ms=0"),
        "{command}"
    );
    assert!(text.contains("found in 4 runs"), "{text}");
    assert!(text.contains("FAILED: liveness"), "{text}");
}
