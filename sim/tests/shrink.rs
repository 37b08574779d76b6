//! The shrinker: greedy search for a smaller run that fails the same way, tested against fake
//! runs whose failure depends on known knobs.

use std::collections::BTreeMap;

use detcd_sim::run::RunOptions;
use detcd_sim::shrink::{self, Knob, Shrunk, failure_kind};

const SAFETY_FAILURE: &str = "election safety violated at 3.000s: two leaders in term 4";

/// The value a fake run sees for `key`: the last override, or the starting value.
fn value(overrides: &[(String, String)], key: &str, start: u64) -> u64 {
    overrides
        .iter()
        .rev()
        .find(|(known, _)| known == key)
        .map_or(start, |(_, value)| value.parse().expect("numeric override"))
}

/// Knobs like a swarm seed's: a 30 s fault phase, a fault schedule with two kinds, two rates,
/// eight clients and a watch-heavy mix.
fn swarm_like_knobs() -> Vec<Knob> {
    vec![
        Knob::halve("fault_phase_ms", 30_000, 100),
        Knob::off("fault_interval_ms_mean"),
        Knob::off("fault_weights.crash").needing(&["fault_interval_ms_mean"]),
        Knob::off("fault_weights.partition").needing(&["fault_interval_ms_mean"]),
        Knob::off("loss_probability"),
        Knob::off("duplicate_probability"),
        Knob::halve("clients", 8, 1),
        Knob::off("mix.watch"),
    ]
}

/// A fake bug: it shows when crashes are on, at least 3 clients run, and the fault phase lasts
/// at least 2 s. Without loss the same seed "fails differently" (a liveness failure), which the
/// shrinker must not accept.
fn fake_run(overrides: &[(String, String)]) -> Option<String> {
    let crashes = value(overrides, "fault_interval_ms_mean", 1) > 0
        && value(overrides, "fault_weights.crash", 1) > 0;
    let clients = value(overrides, "clients", 8);
    let fault_phase_ms = value(overrides, "fault_phase_ms", 30_000);
    if value(overrides, "loss_probability", 1) == 0 {
        return Some(
            "liveness: the healed cluster did not serve a write and a read in time".into(),
        );
    }
    (crashes && clients >= 3 && fault_phase_ms >= 2_000).then(|| SAFETY_FAILURE.to_string())
}

// Rule: the shrinker ends at the smallest variant that fails the same way: every irrelevant
// knob off, halvings as far as the failure allows, and a change that fails differently refused.
#[test]
fn shrink_finds_the_smallest_failing_variant() {
    let shrunk = shrink::shrink(&[], swarm_like_knobs(), shrink::ATTEMPTS_MAX, fake_run);
    let Shrunk::Failed {
        overrides,
        failure,
        attempts,
    } = shrunk
    else {
        panic!("the fake run fails from the start");
    };
    let found: BTreeMap<&str, &str> = overrides
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    let expected = BTreeMap::from([
        ("fault_phase_ms", "3750"),
        ("fault_weights.partition", "0"),
        ("duplicate_probability", "0"),
        ("clients", "4"),
        ("mix.watch", "0"),
    ]);
    assert_eq!(found, expected);
    assert_eq!(failure, SAFETY_FAILURE);
    assert!(attempts < shrink::ATTEMPTS_MAX, "{attempts} attempts");
}

// Rule: the user's own overrides are kept (and shrunk in place, never named twice).
#[test]
fn shrink_starts_from_the_given_overrides() {
    let start = vec![
        ("clients".to_string(), "6".to_string()),
        ("reorder_probability".to_string(), "0".to_string()),
    ];
    let knobs = vec![Knob::halve("clients", 6, 1)];
    let Shrunk::Failed { overrides, .. } = shrink::shrink(&start, knobs, 50, fake_run) else {
        panic!("the fake run fails from the start");
    };
    assert_eq!(
        overrides,
        vec![
            ("clients".to_string(), "3".to_string()),
            ("reorder_probability".to_string(), "0".to_string()),
        ]
    );
}

// Rule: a shrink makes at most `attempts_max` runs, the starting run included, and reports the
// smallest failure found within them.
#[test]
fn shrink_respects_attempts_max() {
    for attempts_max in [1, 2, 5] {
        let mut runs = 0;
        let shrunk = shrink::shrink(&[], swarm_like_knobs(), attempts_max, |overrides| {
            runs += 1;
            fake_run(overrides)
        });
        let Shrunk::Failed {
            attempts, failure, ..
        } = shrunk
        else {
            panic!("the fake run fails from the start");
        };
        assert_eq!(runs, attempts_max);
        assert_eq!(attempts, attempts_max);
        assert_eq!(failure, SAFETY_FAILURE);
    }
}

// Rule: a run that passes is not shrunk: one run, and the answer says it passed.
#[test]
fn a_passing_run_is_not_shrunk() {
    let mut runs = 0;
    let shrunk = shrink::shrink(&[], swarm_like_knobs(), 10, |_| {
        runs += 1;
        None
    });
    assert_eq!(shrunk, Shrunk::Passed);
    assert_eq!(runs, 1);
}

// Rule: once the fault schedule is off, the shrinker spends no run on the fault weights it
// makes irrelevant.
#[test]
fn knobs_made_moot_are_not_tried() {
    let mut tried = Vec::new();
    shrink::shrink(&[], swarm_like_knobs(), 100, |overrides| {
        tried.push(overrides.to_vec());
        // Fails whatever the knobs say, so the schedule goes off at once.
        Some(SAFETY_FAILURE.to_string())
    });
    let weights_tried = tried
        .iter()
        .flatten()
        .any(|(key, _)| key.starts_with("fault_weights."));
    assert!(
        !weights_tried,
        "fault weights were tried with the schedule off"
    );
}

// Rule: the failure kind is the property that broke, not when or with what detail, so an
// inconclusive history check is not the same failure as a history that is not linearizable.
#[test]
fn failure_kind_names_the_broken_property() {
    let cases = [
        (SAFETY_FAILURE, "election safety"),
        (
            "liveness: the healed cluster did not serve a write and a read in time",
            "liveness",
        ),
        (
            "linearizability: the history is not linearizable",
            "linearizability",
        ),
        (
            "history check: inconclusive within its budget",
            "history check",
        ),
        (
            "watch events match writes: watch #1: at revision 21 delivered [...]",
            "watch events match writes",
        ),
    ];
    for (failure, kind) in cases {
        assert_eq!(failure_kind(failure), kind, "{failure}");
    }
}

// Rule: a run's knobs leave out what is already off, and never offer to turn puts off (the mix
// would empty).
#[test]
fn knobs_skip_what_is_already_off() {
    let mut options = RunOptions::swarm(11);
    options.sim.fault_interval_ms_mean = 0;
    options.sim.loss_probability = 0.0;
    options.workload.mix.watch = 0;
    options.workload.clients = 1;
    let keys: Vec<&str> = shrink::knobs(&options).iter().map(Knob::key).collect();
    for off in [
        "fault_interval_ms_mean",
        "loss_probability",
        "mix.watch",
        "clients",
        "mix.put",
    ] {
        assert!(!keys.contains(&off), "{off} offered in {keys:?}");
    }
    assert_eq!(keys.first(), Some(&"fault_phase_ms"));
}

// Rule: a failure that says when it happened lets the fault phase be cut just after it (the run
// is the same up to there) before any halving.
#[test]
fn the_fault_phase_is_cut_just_after_the_failure() {
    let failure = "state machine safety violated at 12.345s: member 2 committed a different entry";
    assert_eq!(shrink::failure_time_ms(failure), Some(12_345));
    assert_eq!(shrink::failure_time_ms("liveness: no leader"), None);
    let knobs = vec![Knob::shorten("fault_phase_ms", 30_000, 100)];
    let shrunk = shrink::shrink(&[], knobs, 50, |overrides| {
        (value(overrides, "fault_phase_ms", 30_000) > 12_345).then(|| failure.to_string())
    });
    let expected = vec![("fault_phase_ms".to_string(), "12346".to_string())];
    // The given run, the cut, and one halving that passes.
    assert_eq!(
        shrunk,
        Shrunk::Failed {
            overrides: expected,
            failure: failure.to_string(),
            attempts: 3,
        }
    );
}

// Rule: the shrinker goes over the knobs again only when an accepted change altered the failing
// run (its failure reads differently); a change that left the run as it was cannot make another
// pass turn out differently.
#[test]
fn another_pass_only_when_the_failing_run_changed() {
    let knobs = || vec![Knob::off("a"), Knob::off("b")];
    // Turning `a` off alone passes; turning `b` off fails with `b_off_failure`, and from there
    // `a` can go too.
    let fake = |b_off_failure: &'static str| {
        move |overrides: &[(String, String)]| match (
            value(overrides, "a", 1),
            value(overrides, "b", 1),
        ) {
            (1, 1) => Some(SAFETY_FAILURE.to_string()),
            (0, 1) => None,
            _ => Some(b_off_failure.to_string()),
        }
    };
    let changed_run = "election safety violated at 9.000s: two leaders in term 7";
    let Shrunk::Failed { overrides, .. } = shrink::shrink(&[], knobs(), 50, fake(changed_run))
    else {
        panic!("fails from the start");
    };
    assert_eq!(overrides.len(), 2, "{overrides:?}");
    let Shrunk::Failed {
        overrides,
        attempts,
        ..
    } = shrink::shrink(&[], knobs(), 50, fake(SAFETY_FAILURE))
    else {
        panic!("fails from the start");
    };
    assert_eq!(overrides, vec![("b".to_string(), "0".to_string())]);
    assert_eq!(attempts, 3);
}
