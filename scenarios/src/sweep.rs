//! `detcd-sim sweep`: many seeds of one or more scenarios across every core.
//!
//! Each run stays single-threaded and deterministic; only whole runs are spread over threads,
//! which take the next (scenario, seed) from a shared counter. Results are gathered by index, so
//! the table and the replay commands come out in the same order whatever the threads did.

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant as WallInstant;

use detcd_sim::trace::TraceSettings;
use indicatif::{ProgressBar, ProgressStyle};

use crate::catalogue::Scenario;

/// One run's result.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub scenario: usize,
    pub seed: u64,
    /// `None` when the run passed.
    pub failure: Option<String>,
}

/// What a sweep found, per scenario in the order given.
#[derive(Debug)]
pub struct Sweep {
    pub outcomes: Vec<Outcome>,
    /// Wall-clock seconds the whole sweep took.
    pub elapsed_secs: f64,
    pub threads: usize,
}

/// Run every seed of `seeds` for every scenario on `threads` threads, with a progress bar.
pub fn sweep(
    scenarios: &[Scenario],
    seeds: Range<u64>,
    overrides: &[(String, String)],
    threads: usize,
) -> Sweep {
    let jobs: Vec<(usize, u64)> = (0..scenarios.len())
        .flat_map(|scenario| seeds.clone().map(move |seed| (scenario, seed)))
        .collect();
    let progress = ProgressBar::new(jobs.len() as u64).with_style(
        ProgressStyle::with_template(
            "{spinner} [{bar:40}] {pos}/{len} runs, {per_sec}, {elapsed} (eta {eta}) {wide_msg}",
        )
        .expect("the template is valid")
        .progress_chars("=> "),
    );
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; jobs.len()]);
    let failures = AtomicUsize::new(0);
    let started = WallInstant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                while let Some(&(scenario, seed)) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let outcome = run_one(&scenarios[scenario], scenario, seed, overrides);
                    if outcome.failure.is_some() {
                        let failed = failures.fetch_add(1, Ordering::Relaxed) + 1;
                        progress.set_message(format!("{failed} failed"));
                    }
                    let index = scenario * (seeds.end - seeds.start) as usize
                        + (seed - seeds.start) as usize;
                    results.lock().expect("no thread panics holding it")[index] = Some(outcome);
                    progress.inc(1);
                }
            });
        }
    });
    progress.finish_and_clear();
    let outcomes = results
        .into_inner()
        .expect("no thread panicked holding it")
        .into_iter()
        .map(|outcome| outcome.expect("every job ran"))
        .collect();
    Sweep {
        outcomes,
        elapsed_secs: started.elapsed().as_secs_f64(),
        threads,
    }
}

fn run_one(
    scenario: &Scenario,
    index: usize,
    seed: u64,
    overrides: &[(String, String)],
) -> Outcome {
    let failure = match scenario.execute(seed, overrides, TraceSettings::hash_only()) {
        Ok(execution) => execution.failure(),
        Err(error) => Some(error),
    };
    Outcome {
        scenario: index,
        seed,
        failure,
    }
}

impl Sweep {
    /// The final table: runs, failures and seeds per second for each scenario, then a total.
    pub fn table(&self, scenarios: &[Scenario]) -> String {
        let mut lines = vec![format!(
            "{:<30} {:>6} {:>7}  {}",
            "scenario", "runs", "failed", "failing seeds"
        )];
        for (index, scenario) in scenarios.iter().enumerate() {
            let runs: Vec<&Outcome> = self
                .outcomes
                .iter()
                .filter(|outcome| outcome.scenario == index)
                .collect();
            let failing: Vec<String> = runs
                .iter()
                .filter(|outcome| outcome.failure.is_some())
                .map(|outcome| outcome.seed.to_string())
                .collect();
            lines.push(format!(
                "{:<30} {:>6} {:>7}  {}",
                scenario.name,
                runs.len(),
                failing.len(),
                failing.join(" ")
            ));
        }
        let failed = self.failures().count();
        let runs = self.outcomes.len();
        lines.push(format!(
            "{:<30} {runs:>6} {failed:>7}  {:.1} seeds/s on {} threads ({:.1} s)",
            "total",
            runs as f64 / self.elapsed_secs.max(f64::EPSILON),
            self.threads,
            self.elapsed_secs
        ));
        lines.join("\n")
    }

    pub fn failures(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes
            .iter()
            .filter(|outcome| outcome.failure.is_some())
    }
}
