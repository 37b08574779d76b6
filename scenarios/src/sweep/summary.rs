//! The table a sweep ends with, and each failure with its replay command: made from run
//! lines, so that a sweep and a merge of shards' files print the same thing.

use super::RETRY_BUDGET_FACTOR;
use super::record::RunLine;

/// Runs and failing seeds for each of `scenarios` (in that order), then a total line that ends
/// with `total_note`, then what the retries of undecided checks came to.
pub fn table(scenarios: &[String], lines: &[RunLine], total_note: &str) -> String {
    let mut rows = vec![format!(
        "{:<30} {:>6} {:>7}  {}",
        "scenario", "runs", "failed", "failing seeds"
    )];
    for scenario in scenarios {
        let runs: Vec<&RunLine> = lines
            .iter()
            .filter(|line| &line.scenario == scenario)
            .collect();
        let failing: Vec<String> = runs
            .iter()
            .filter(|line| !line.passed())
            .map(|line| line.seed.to_string())
            .collect();
        rows.push(format!(
            "{:<30} {:>6} {:>7}  {}",
            scenario,
            runs.len(),
            failing.len(),
            failing.join(" ")
        ));
    }
    let failed = lines.iter().filter(|line| !line.passed()).count();
    rows.push(format!(
        "{:<30} {:>6} {failed:>7}  {total_note}",
        "total",
        lines.len()
    ));
    rows.extend(retries(lines));
    rows.extend(undecided(lines));
    rows.join("\n")
}

/// The line on checks that stayed undecided, if any: counted as failed above, but nothing was
/// found wrong in them (the sweep exits 3, not 1, if nothing else failed).
fn undecided(lines: &[RunLine]) -> Option<String> {
    let seeds: Vec<String> = lines
        .iter()
        .filter(|line| line.undecided())
        .map(|line| format!("{} {}", line.scenario, line.seed))
        .collect();
    (!seeds.is_empty()).then(|| {
        format!(
            "{} history checks stayed undecided (nothing found wrong, nothing proven): {}",
            seeds.len(),
            seeds.join(", ")
        )
    })
}

/// The line on retried checks, if any check was retried.
fn retries(lines: &[RunLine]) -> Option<String> {
    let retried: Vec<&RunLine> = lines.iter().filter(|line| line.retried).collect();
    if retried.is_empty() {
        return None;
    }
    let decided = retried.iter().filter(|line| line.passed()).count();
    Some(format!(
        "{} undecided history checks retried with {RETRY_BUDGET_FACTOR} times the budget: \
         {decided} passed, {} failed or stayed undecided",
        retried.len(),
        retried.len() - decided
    ))
}

/// Each failure in words, with the one command that replays it.
pub fn failures(lines: &[RunLine]) -> String {
    lines
        .iter()
        .filter(|line| !line.passed())
        .map(|line| {
            format!(
                "\n\n{} seed {}: {}\nreplay: {}",
                line.scenario,
                line.seed,
                line.failure.as_deref().unwrap_or_default(),
                line.replay.as_deref().unwrap_or_default()
            )
        })
        .collect()
}
