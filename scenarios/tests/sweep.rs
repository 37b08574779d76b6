//! A sweep survives what it finds: a run that panics is a failed run with its seed and replay
//! command in the report, and a run whose history check is undecided is retried with a larger
//! budget before the sweep reports it.

use detcd_scenarios::catalogue::{self, Scenario};
use detcd_scenarios::sweep::{self, RETRY_BUDGET_FACTOR, RunResult};
use detcd_sim::trace::TraceSettings;

fn healthy() -> Scenario {
    catalogue::find("healthy-5").expect("healthy-5 is in the catalogue")
}

fn passed() -> RunResult {
    RunResult {
        failure: None,
        overrides: Vec::new(),
        retried: false,
        measures: None,
    }
}

// Rule: a run that panics (in the core or the harness) is a failed run: the sweep goes on with
// every other seed and reports the panicking one, where and why it panicked, and the command
// that replays it (before the rule, the whole sweep ended with "a scoped thread panicked" and
// printed nothing).
#[test]
fn a_panicking_run_is_a_failed_run_in_the_report() {
    let overrides = vec![("clients".to_string(), "2".to_string())];
    let result = sweep::sweep_with(1, &(1..7).into(), &overrides, 2, |_, seed| {
        assert!(seed != 3, "a planted panic in seed {seed}");
        passed()
    });
    assert_eq!(result.outcomes.len(), 6, "every seed ran");
    let failing: Vec<u64> = result.failures().map(|outcome| outcome.seed).collect();
    assert_eq!(failing, [3]);

    let report = result.report(&[healthy()]);
    assert!(
        report.contains("healthy-5                           6       1  3"),
        "the table lists the seed:\n{report}"
    );
    assert!(
        report.contains("healthy-5 seed 3: panicked at scenarios/tests/sweep.rs:"),
        "the report says where:\n{report}"
    );
    assert!(report.contains("a planted panic in seed 3"), "{report}");
    assert!(
        report.contains("replay: cargo run --release -p detcd-scenarios -- run healthy-5 --seed 3 --set clients=2"),
        "the report replays it:\n{report}"
    );
}

// Rule: a seed whose history check is undecided is retried with `RETRY_BUDGET_FACTOR` times the
// budget before the sweep reports it. With two thirds of the steps its check took (all in the
// first of its two attempts, which gets half the budget), the check is undecided, and the retry
// decides it: the seed passes. With a budget no retry makes enough, the seed fails as
// undecided, and its replay command carries the retry's budget.
#[test]
fn an_undecided_check_is_retried_with_a_larger_budget() {
    let scenario = healthy();
    let steps = scenario
        .execute(1, &[], TraceSettings::hash_only())
        .expect("healthy-5 runs")
        .report
        .check
        .steps;
    assert!(steps >= 10, "the check takes a few steps ({steps})");

    let two_thirds = steps * 2 / 3;
    let small = vec![("check_steps_max".to_string(), two_thirds.to_string())];
    let undecided = scenario
        .execute(1, &small, TraceSettings::hash_only())
        .expect("healthy-5 runs");
    assert!(undecided.undecided(), "{:?}", undecided.failure());
    let result = sweep::sweep(std::slice::from_ref(&scenario), &(1..2).into(), &small, 1);
    let outcome = &result.outcomes[0];
    assert!(outcome.retried);
    assert_eq!(outcome.failure, None, "the larger budget decided it");
    let retried_budget = (two_thirds * RETRY_BUDGET_FACTOR).to_string();
    assert_eq!(
        outcome.overrides.last(),
        Some(&("check_steps_max".to_string(), retried_budget))
    );

    let tiny = vec![("check_steps_max".to_string(), "1".to_string())];
    let result = sweep::sweep(std::slice::from_ref(&scenario), &(1..2).into(), &tiny, 1);
    let report = result.report(std::slice::from_ref(&scenario));
    assert!(
        report.contains("history check: inconclusive within its budget"),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "--set check_steps_max=1 --set check_steps_max={RETRY_BUDGET_FACTOR}"
        )),
        "the replay carries the retry's budget:\n{report}"
    );
}
