//! `sweep --time-budget` stops starting runs once the budget of wall-clock time is spent, having
//! taken seeds in order from the start of the range (past any end, with `--seeds A..`), and
//! reports how many seeds ran.

mod common;

use std::time::{Duration, Instant};

use common::{Scratch, detcd_sim, read, stdout};
use detcd_scenarios::catalogue;
use detcd_scenarios::sweep::{self, RunResult, SeedPlan, SeedRange, Shard};

fn slow_pass() -> RunResult {
    std::thread::sleep(Duration::from_millis(5));
    RunResult {
        failure: None,
        overrides: Vec::new(),
        retried: false,
        measures: None,
    }
}

// Rule: with an open range, a sweep runs seeds from the range's start, without a gap, until the
// budget is spent, then stops within a run of the budget and says how many seeds ran.
#[test]
fn an_open_range_runs_from_its_start_until_the_budget_is_spent() {
    let plan = SeedPlan {
        range: SeedRange {
            start: 40,
            end: None,
        },
        shard: Shard::WHOLE,
        time_budget: Some(Duration::from_millis(200)),
    };
    let started = Instant::now();
    let result = sweep::sweep_with(2, &plan, &[], 2, |_, _| slow_pass());
    assert!(started.elapsed() < Duration::from_secs(2), "it stopped");
    assert!(result.budget_spent);

    let seeds = result.seeds_ran();
    assert!(seeds >= 5, "200 ms hold more than 5 runs of 5 ms: {seeds}");
    let mut first_scenario: Vec<u64> = result
        .outcomes
        .iter()
        .filter(|outcome| outcome.scenario == 0)
        .map(|outcome| outcome.seed)
        .collect();
    first_scenario.sort_unstable();
    let expected: Vec<u64> = (40..40 + first_scenario.len() as u64).collect();
    assert_eq!(
        first_scenario, expected,
        "seeds from the start, without a gap"
    );

    let healthy = catalogue::find("healthy-5").expect("healthy-5 is in the catalogue");
    let report = result.report(&[healthy.clone(), healthy]);
    let last = 40 + seeds as u64 - 1;
    assert!(
        report.contains(&format!(
            "time budget 200ms spent: {seeds} seeds ran, 40 to {last}"
        )),
        "{report}"
    );
}

// Rule: a budget larger than the range needs leaves every seed run and says it was not spent.
#[test]
fn a_range_that_ends_first_runs_whole() {
    let mut plan = SeedPlan::from(1..9);
    plan.time_budget = Some(Duration::from_secs(600));
    let result = sweep::sweep_with(1, &plan, &[], 2, |_, _| slow_pass());
    assert!(!result.budget_spent);
    assert_eq!(result.seeds_ran(), 8);
}

// Rule: through the command, `--seeds 1.. --time-budget 1s` ends on its own, writes one JSON
// line per run it reports, and an open range without a budget is a usage error.
#[test]
fn the_command_stops_at_its_budget_and_reports_the_count() {
    let scratch = Scratch::new("sweep-time-budget");
    let (passes, _) = scratch.scenarios();
    let json = scratch.path("runs.jsonl");
    let output = detcd_sim(&[
        "sweep",
        &passes,
        "--seeds",
        "1..",
        "--time-budget",
        "1s",
        "--json",
        &json,
    ]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    let runs = read(&json).lines().count();
    assert!(runs > 0, "{text}");
    assert!(
        text.contains(&format!(
            "time budget 1s spent: {runs} seeds ran, 1 to {runs}"
        )),
        "{runs} runs:\n{text}"
    );

    let unbounded = detcd_sim(&["sweep", &passes, "--seeds", "1.."]);
    assert_eq!(unbounded.status.code(), Some(2));
    assert!(common::stderr(&unbounded).contains("--time-budget"));
}
