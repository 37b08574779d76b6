//! Option overrides: `key=value` edits of the options a scenario built for a seed.

use detcd_core::Duration;
use detcd_sim::overrides::{self, apply, apply_all, parse_override};
use detcd_sim::run::RunOptions;

fn pairs(overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    overrides
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

// Rule: an override sets exactly the field it names (top-level, nested, workload and the run's
// own durations) and leaves every other drawn option as the seed drew it.
#[test]
fn overrides_set_the_named_fields_and_nothing_else() {
    let drawn = RunOptions::swarm(7);
    let mut options = RunOptions::swarm(7);
    let edits = pairs(&[
        ("loss_probability", "0.1"),
        ("fault_weights.crash", "0"),
        ("clients", "2"),
        ("mix.watch", "0"),
        ("fault_phase_ms", "1500"),
        ("recovery_bound_ms", "700"),
    ]);
    apply_all(&mut options, &edits).expect("every key is known");

    let mut expected_sim = drawn.sim.clone();
    expected_sim.loss_probability = 0.1;
    expected_sim.fault_weights.crash = 0;
    assert_eq!(options.sim, expected_sim);
    let mut expected_workload = drawn.workload.clone();
    expected_workload.clients = 2;
    expected_workload.mix.watch = 0;
    assert_eq!(options.workload, expected_workload);
    assert_eq!(options.fault_phase, Duration::from_millis(1500));
    assert_eq!(options.recovery_bound, Duration::from_millis(700));
}

// Rule: overrides apply in order, so a later value of a key wins.
#[test]
fn a_later_override_of_a_key_wins() {
    let mut options = RunOptions::swarm(1);
    apply_all(&mut options, &pairs(&[("keys", "4"), ("keys", "1")])).expect("known key");
    assert_eq!(options.workload.keys, 1);
}

// Rule: an unknown key, an unparsable value or a value out of the knob's range is an error that
// names the key, and leaves the options as they were.
#[test]
fn bad_overrides_are_rejected_naming_the_key() {
    let cases = [
        ("no_such_knob", "1", "unknown option \"no_such_knob\""),
        (
            "fault_weights.meteor",
            "1",
            "unknown option \"fault_weights.meteor\"",
        ),
        ("clients", "many", "clients=many"),
        ("clients", "0", "clients=0: must be at least 1"),
        (
            "loss_probability",
            "1.5",
            "loss_probability=1.5: a probability",
        ),
        (
            "linearizable_read_percent",
            "101",
            "linearizable_read_percent=101",
        ),
        ("fault_phase_ms", "-3", "fault_phase_ms=-3"),
    ];
    for (key, value, message) in cases {
        let mut options = RunOptions::swarm(3);
        let error = apply(&mut options, key, value).expect_err(key);
        assert!(error.contains(message), "{key}={value}: {error:?}");
        assert_eq!(options.sim, RunOptions::swarm(3).sim);
        assert_eq!(options.workload, RunOptions::swarm(3).workload);
    }
}

// Rule: `--set` arguments are `key=value` with both halves present.
#[test]
fn override_arguments_need_a_key_and_a_value() {
    assert_eq!(
        parse_override("mix.watch=0"),
        Ok(("mix.watch".to_string(), "0".to_string()))
    );
    for bad in ["clients", "=2", "clients=", ""] {
        assert!(parse_override(bad).is_err(), "{bad:?} was accepted");
    }
}

// Rule: every option the run prints can be overridden, so a knob added later without an
// override key fails here; and every known key takes a plain value.
#[test]
fn every_printed_option_has_an_override_key() {
    let options = RunOptions::swarm(5);
    let keys: Vec<&str> = overrides::known_keys().collect();
    let printed = format!("{}{}{}", options.sim, options.workload, options.node);
    for line in printed.lines() {
        let (name, _) = line.split_once(" = ").expect("name = value");
        let name = name.trim();
        assert!(
            keys.iter()
                .any(|key| *key == name || key.starts_with(&format!("{name}."))),
            "no override key for the printed option {name}"
        );
    }
    for key in keys {
        let mut options = RunOptions::swarm(5);
        let value = match key {
            "pre_vote" | "check_quorum" => "false",
            _ => "1",
        };
        apply(&mut options, key, value).unwrap_or_else(|error| panic!("{key}={value}: {error}"));
    }
}

// Rule: changing the cluster size keeps what the drawn crash bound meant: a minority of the new
// cluster, or the whole of it when the seed allowed every node down at once.
#[test]
fn node_count_scales_the_crash_bound() {
    let mut minority = RunOptions::swarm(1);
    minority.sim.node_count = 5;
    minority.sim.crashed_max = 2;
    apply(&mut minority, "node_count", "7").expect("known key");
    assert_eq!((minority.sim.node_count, minority.sim.crashed_max), (7, 3));

    let mut whole = RunOptions::swarm(1);
    whole.sim.node_count = 7;
    whole.sim.crashed_max = 7;
    apply(&mut whole, "node_count", "3").expect("known key");
    assert_eq!((whole.sim.node_count, whole.sim.crashed_max), (3, 3));
}
