//! `detcd-sim sweep`: many seeds of one or more scenarios across every core.
//!
//! Each run stays single-threaded and deterministic; only whole runs are spread over threads,
//! which take the next (scenario, seed) from a shared counter. Results are gathered by index, so
//! the table and the replay commands come out in the same order whatever the threads did.
//!
//! A sweep survives what it finds: a run that panics (in the core or in the harness) is a failed
//! run with its seed and replay command like any other, and a run whose history check ran out of
//! budget is run again with [`RETRY_BUDGET_FACTOR`] times the budget before it is reported.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ops::Range;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant as WallInstant;

use detcd_sim::trace::TraceSettings;
use indicatif::{ProgressBar, ProgressStyle};

use crate::catalogue::Scenario;

/// A run whose history check is undecided is retried with this many times its step budget.
/// Deciding costs time roughly in proportion to the steps (some 2 µs each), so the retry of
/// one undecided swarm seed takes about a minute.
pub const RETRY_BUDGET_FACTOR: u64 = 4;

/// One run's result.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub scenario: usize,
    pub seed: u64,
    /// `None` when the run passed.
    pub failure: Option<String>,
    /// The overrides this outcome was reached with, the sweep's own and a retry's larger check
    /// budget: what replays it.
    pub overrides: Vec<(String, String)>,
    /// The first check was undecided and the run was retried with a larger budget.
    pub retried: bool,
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
    sweep_with(
        scenarios.len(),
        seeds,
        overrides,
        threads,
        |scenario, seed| run_one(&scenarios[scenario], seed, overrides),
    )
}

/// A run's result, as a sweep records it: whether it failed, and with which overrides.
#[derive(Clone, Debug)]
pub struct RunResult {
    pub failure: Option<String>,
    pub overrides: Vec<(String, String)>,
    pub retried: bool,
}

/// The sweep's engine: `run(scenario, seed)` for every scenario index below `scenario_count`
/// and every seed. A run that panics is recorded as a failure saying where and why, with the
/// sweep's `overrides`.
pub fn sweep_with(
    scenario_count: usize,
    seeds: Range<u64>,
    overrides: &[(String, String)],
    threads: usize,
    run: impl Fn(usize, u64) -> RunResult + Sync,
) -> Sweep {
    let jobs: Vec<(usize, u64)> = (0..scenario_count)
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
                    let result =
                        catch_panic(|| run(scenario, seed)).unwrap_or_else(|panic| RunResult {
                            failure: Some(panic),
                            overrides: overrides.to_vec(),
                            retried: false,
                        });
                    if result.failure.is_some() {
                        let failed = failures.fetch_add(1, Ordering::Relaxed) + 1;
                        progress.set_message(format!("{failed} failed"));
                    }
                    let index = scenario * (seeds.end - seeds.start) as usize
                        + (seed - seeds.start) as usize;
                    let outcome = Outcome {
                        scenario,
                        seed,
                        failure: result.failure,
                        overrides: result.overrides,
                        retried: result.retried,
                    };
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

/// One run of `scenario`; if only its history check was undecided, once more with
/// [`RETRY_BUDGET_FACTOR`] times the budget, and that second run is the result.
fn run_one(scenario: &Scenario, seed: u64, overrides: &[(String, String)]) -> RunResult {
    let result = |failure, overrides: &[(String, String)], retried| RunResult {
        failure,
        overrides: overrides.to_vec(),
        retried,
    };
    let execution = match scenario.execute(seed, overrides, TraceSettings::hash_only()) {
        Ok(execution) => execution,
        Err(error) => return result(Some(error), overrides, false),
    };
    if !execution.undecided() {
        return result(execution.failure(), overrides, false);
    }
    let budget = match scenario.build(seed, overrides) {
        Ok(options) => options.check_steps_max.saturating_mul(RETRY_BUDGET_FACTOR),
        Err(error) => return result(Some(error), overrides, false),
    };
    let mut retry = overrides.to_vec();
    retry.push(("check_steps_max".into(), budget.to_string()));
    let failure = match scenario.execute(seed, &retry, TraceSettings::hash_only()) {
        Ok(execution) => execution.failure(),
        Err(error) => Some(error),
    };
    result(failure, &retry, true)
}

thread_local! {
    /// Set while this thread runs `catch_panic`: the panic hook records instead of printing.
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    /// Where the latest caught panic happened, as the hook saw it.
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Run `f`; if it panics, say so in words ("panicked at FILE:LINE: MESSAGE") instead of
/// unwinding further. The panic's usual report on stderr is left out for such panics (it would
/// tear through the progress bar); panics outside `catch_panic` are reported as ever.
pub fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CATCHING.with(Cell::get) {
                let location = info
                    .location()
                    .map(|location| format!("{}:{}", location.file(), location.line()));
                PANIC_LOCATION.with(|slot| *slot.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
    let was_catching = CATCHING.with(|catching| catching.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|catching| catching.set(was_catching));
    result.map_err(|payload| {
        let location = PANIC_LOCATION
            .with(|slot| slot.borrow_mut().take())
            .unwrap_or_else(|| "an unknown place".into());
        format!("panicked at {location}: {}", panic_message(&*payload))
    })
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        return (*message).to_string();
    }
    if let Some(message) = payload.downcast_ref::<String>() {
        return message.clone();
    }
    "(a panic without a message)".into()
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
        let retried: Vec<&Outcome> = self
            .outcomes
            .iter()
            .filter(|outcome| outcome.retried)
            .collect();
        if !retried.is_empty() {
            let decided = retried
                .iter()
                .filter(|outcome| outcome.failure.is_none())
                .count();
            lines.push(format!(
                "{} undecided history checks retried with {RETRY_BUDGET_FACTOR} times the \
                 budget: {decided} passed, {} failed or stayed undecided",
                retried.len(),
                retried.len() - decided
            ));
        }
        lines.join("\n")
    }

    /// The table, then each failure with the one command that replays it.
    pub fn report(&self, scenarios: &[Scenario]) -> String {
        let mut text = self.table(scenarios);
        for failure in self.failures() {
            let scenario = &scenarios[failure.scenario];
            text.push_str(&format!(
                "\n\n{} seed {}: {}\nreplay: {}",
                scenario.name,
                failure.seed,
                failure.failure.as_deref().unwrap_or_default(),
                scenario.replay_command(failure.seed, &failure.overrides)
            ));
        }
        text
    }

    pub fn failures(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes
            .iter()
            .filter(|outcome| outcome.failure.is_some())
    }
}
