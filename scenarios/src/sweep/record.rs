//! One run of a sweep as one line of JSON (JSON Lines): what `sweep --json` writes, what
//! `sweep-merge` reads back, and what the table and the JUnit report are made from.

use std::collections::HashMap;
use std::path::Path;

use detcd_sim::shrink;
use serde::{Deserialize, Serialize};

use super::PANIC_PREFIX;

/// The verdict of a run that passed.
pub const PASS: &str = "pass";

/// The verdict of a run whose history check stayed undecided, even with the retry's budget.
pub const UNDECIDED: &str = "history check";

/// One run: its scenario and seed, its verdict, what it measured, and how to replay it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunLine {
    pub scenario: String,
    pub seed: u64,
    /// [`PASS`], or the kind of the first failure: the broken property (`liveness`,
    /// `linearizability`, `election safety`, ...), `history check` when the check stayed
    /// undecided, `panic` when the run panicked.
    pub verdict: String,
    /// The first failure in words; `None` when the run passed.
    pub failure: Option<String>,
    /// Simulated milliseconds the healed cluster took to serve again; `None` when it did not in
    /// time, or the run never got that far.
    pub recovery_ms: Option<u64>,
    /// Events the simulated world processed.
    pub events: Option<u64>,
    /// Search steps the history check took.
    pub check_steps: Option<u64>,
    /// The trace's hash, 16 hex digits as `audit` prints it. A string, because JSON readers
    /// that hold numbers as doubles would round a 64-bit hash.
    pub trace_hash: Option<String>,
    /// The first history check was undecided, and this is the retry with a larger budget.
    pub retried: bool,
    /// The one command that replays a failed run; `None` when it passed.
    pub replay: Option<String>,
    /// Wall-clock seconds the run took, for the JUnit report only. Never written, so that a
    /// seed's line is the same on every machine and merged shards equal the unsharded sweep.
    #[serde(skip)]
    pub wall_secs: f64,
}

impl RunLine {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }

    /// The run found nothing wrong, but its history check could not decide within its budget.
    pub fn undecided(&self) -> bool {
        self.verdict == UNDECIDED
    }

    /// The run found something wrong: a broken property, a panic.
    pub fn failed(&self) -> bool {
        !self.passed() && !self.undecided()
    }
}

/// What a sweep's runs come to: 0 when all passed, 1 when one failed, 3 when none failed but
/// some checks stayed undecided (as `run` exits 3 on an inconclusive check).
pub fn exit_code(lines: &[RunLine]) -> u8 {
    if lines.iter().any(RunLine::failed) {
        1
    } else if lines.iter().any(RunLine::undecided) {
        3
    } else {
        0
    }
}

/// The verdict a failure gives: [`PASS`] for none, else the failure's kind.
pub fn verdict(failure: Option<&str>) -> String {
    match failure {
        None => PASS.into(),
        // A panic's text starts with its place, which is no kind of failure.
        Some(failure) if failure.starts_with(PANIC_PREFIX) => "panic".into(),
        Some(failure) => shrink::failure_kind(failure).into(),
    }
}

/// One JSON object per run, each on its own line.
pub fn to_json_lines(lines: &[RunLine]) -> String {
    lines
        .iter()
        .map(|line| serde_json::to_string(line).expect("a RunLine always serializes") + "\n")
        .collect()
}

/// The runs of a JSON Lines file; an error names the file and line that cannot be read.
pub fn read(path: &Path) -> Result<Vec<RunLine>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(number, line)| {
            serde_json::from_str(line)
                .map_err(|error| format!("{}:{}: {error}", path.display(), number + 1))
        })
        .collect()
}

/// The scenarios of `lines` in the order they first appear: the order the sweep was given them.
pub fn scenario_names(lines: &[RunLine]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for line in lines {
        if !names.contains(&line.scenario) {
            names.push(line.scenario.clone());
        }
    }
    names
}

/// The runs of several sweeps as one sweep: scenarios in the order they first appear, seeds in
/// order within each. A run that appears twice is an error: disjoint shards never repeat one,
/// and counting it twice would misstate the totals.
pub fn merge(mut lines: Vec<RunLine>) -> Result<Vec<RunLine>, String> {
    let order: HashMap<String, usize> = scenario_names(&lines)
        .into_iter()
        .enumerate()
        .map(|(position, name)| (name, position))
        .collect();
    lines.sort_by_key(|line| (order[&line.scenario], line.seed));
    if let Some(pair) = lines
        .windows(2)
        .find(|pair| (&pair[0].scenario, pair[0].seed) == (&pair[1].scenario, pair[1].seed))
    {
        return Err(format!(
            "{} seed {} appears more than once: are two of the files the same shard?",
            pair[0].scenario, pair[0].seed
        ));
    }
    Ok(lines)
}
