//! `detcd-sim sweep`: many seeds of one or more scenarios across every core.
//!
//! Each run stays single-threaded and deterministic; only whole runs are spread over threads,
//! which take the next run of the [`SeedPlan`] from a shared counter. Results are sorted by
//! scenario and seed, so the table and the replay commands come out in the same order whatever
//! the threads did. [`seeds`] says which runs a sweep makes, [`record`] turns each into a line
//! of JSON, and [`summary`] and [`junit`] report those lines.
//!
//! A sweep survives what it finds: a run that panics (in the core or in the harness) is a failed
//! run with its seed and replay command like any other, and a run whose history check ran out of
//! budget is run again with [`RETRY_BUDGET_FACTOR`] times the budget before it is reported.
//!
//! A time budget is wall-clock time by design (a nightly job has a slot of so many minutes):
//! which seeds ran depends on the machine, what each of them found does not.

pub mod junit;
pub mod record;
pub mod seeds;
pub mod summary;

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant as WallInstant};

use detcd_sim::trace::TraceSettings;
use indicatif::{ProgressBar, ProgressStyle};

use crate::catalogue::Scenario;
use crate::script::Execution;
use record::RunLine;
pub use seeds::{SeedPlan, SeedRange, Shard};

/// A run whose history check is undecided is retried with this many times its step budget.
/// Deciding costs time roughly in proportion to the steps (some 2 µs each), so the retry of
/// one undecided swarm seed takes about a minute.
pub const RETRY_BUDGET_FACTOR: u64 = 4;

/// How the text of a failure caught by [`catch_panic`] begins.
const PANIC_PREFIX: &str = "panicked at ";

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
    /// What the run measured; `None` when it panicked or could not start.
    pub measures: Option<Measures>,
    /// Wall-clock seconds the run took, retry included.
    pub wall_secs: f64,
}

/// What a sweep found, per scenario in the order given.
#[derive(Debug)]
pub struct Sweep {
    pub outcomes: Vec<Outcome>,
    /// Wall-clock seconds the whole sweep took.
    pub elapsed_secs: f64,
    pub threads: usize,
    /// The time budget the sweep had, and whether it ran out before the seeds did.
    pub time_budget: Option<Duration>,
    pub budget_spent: bool,
}

/// Run every seed of `plan` for every scenario on `threads` threads, with a progress bar.
pub fn sweep(
    scenarios: &[Scenario],
    plan: &SeedPlan,
    overrides: &[(String, String)],
    threads: usize,
) -> Sweep {
    sweep_with(
        scenarios.len(),
        plan,
        overrides,
        threads,
        |scenario, seed| run_one(&scenarios[scenario], seed, overrides),
    )
}

/// A run's result, as a sweep records it: whether it failed, with which overrides, and what it
/// measured.
#[derive(Clone, Debug)]
pub struct RunResult {
    pub failure: Option<String>,
    pub overrides: Vec<(String, String)>,
    pub retried: bool,
    pub measures: Option<Measures>,
}

/// What a finished run measured, for the JSON report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Measures {
    /// Simulated milliseconds the healed cluster took to serve again, if it did in time.
    pub recovery_ms: Option<u64>,
    /// Events the simulated world processed.
    pub events: u64,
    /// Search steps the history check took.
    pub check_steps: u64,
    pub trace_hash: u64,
}

impl Measures {
    pub fn of(execution: &Execution) -> Measures {
        let report = &execution.report;
        Measures {
            recovery_ms: report.recovery.map(|took| took.as_millis() as u64),
            events: report.world.events_processed,
            check_steps: report.check.steps,
            trace_hash: report.trace_hash,
        }
    }
}

/// The sweep's engine: `run(scenario, seed)` for every scenario index below `scenario_count`
/// and every seed of `plan`, until its seeds or its time budget run out. A run that panics is
/// recorded as a failure saying where and why, with the sweep's `overrides`.
pub fn sweep_with(
    scenario_count: usize,
    plan: &SeedPlan,
    overrides: &[(String, String)],
    threads: usize,
    run: impl Fn(usize, u64) -> RunResult + Sync,
) -> Sweep {
    let progress = progress_bar(plan.runs(scenario_count));
    let started = WallInstant::now();
    let jobs = Jobs {
        plan,
        scenario_count,
        deadline: plan.time_budget.map(|budget| started + budget),
        next: AtomicU64::new(0),
    };
    let outcomes = Mutex::new(Vec::new());
    let failures = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                while let Some((scenario, seed)) = jobs.take() {
                    let outcome = run_caught(scenario, seed, overrides, &run);
                    if outcome.failure.is_some() {
                        let failed = failures.fetch_add(1, Ordering::Relaxed) + 1;
                        progress.set_message(format!("{failed} failed"));
                    }
                    outcomes
                        .lock()
                        .expect("no thread panics holding it")
                        .push(outcome);
                    progress.inc(1);
                }
            });
        }
    });
    progress.finish_and_clear();
    let mut outcomes = outcomes
        .into_inner()
        .expect("no thread panicked holding it");
    outcomes.sort_by_key(|outcome| (outcome.scenario, outcome.seed));
    Sweep {
        outcomes,
        elapsed_secs: started.elapsed().as_secs_f64(),
        threads,
        time_budget: plan.time_budget,
        budget_spent: jobs.budget_spent(),
    }
}

/// A bar over the runs planned, or a counter when the range is open-ended.
fn progress_bar(runs: Option<u64>) -> ProgressBar {
    let (progress, template) = match runs {
        Some(runs) => (
            ProgressBar::new(runs),
            "{spinner} [{bar:40}] {pos}/{len} runs, {per_sec}, {elapsed} (eta {eta}) {wide_msg}",
        ),
        None => (
            ProgressBar::no_length(),
            "{spinner} {pos} runs, {per_sec}, {elapsed} {wide_msg}",
        ),
    };
    progress.with_style(
        ProgressStyle::with_template(template)
            .expect("the template is valid")
            .progress_chars("=> "),
    )
}

/// Hands out the plan's runs in order until its seeds end or its deadline passes.
struct Jobs<'a> {
    plan: &'a SeedPlan,
    scenario_count: usize,
    deadline: Option<WallInstant>,
    /// The index of the next run to hand out.
    next: AtomicU64,
}

impl Jobs<'_> {
    /// The next run, as (scenario, seed). The deadline is read in the same atomic step that
    /// takes the index, so the runs handed out are always the plan's first ones, with no gap: a
    /// sweep cut short by its budget ran seeds from the start of its range.
    fn take(&self) -> Option<(usize, u64)> {
        let index = self
            .next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |index| {
                (!self.past_deadline()).then_some(index + 1)
            })
            .ok()?;
        self.plan.job(self.scenario_count, index)
    }

    fn past_deadline(&self) -> bool {
        self.deadline
            .is_some_and(|deadline| WallInstant::now() >= deadline)
    }

    /// True when the deadline stopped the sweep while runs were left.
    fn budget_spent(&self) -> bool {
        let next = self.next.load(Ordering::Relaxed);
        self.plan.job(self.scenario_count, next).is_some()
    }
}

/// `run(scenario, seed)`, timed, with a panic turned into a failure.
fn run_caught(
    scenario: usize,
    seed: u64,
    overrides: &[(String, String)],
    run: impl Fn(usize, u64) -> RunResult,
) -> Outcome {
    let started = WallInstant::now();
    let result = catch_panic(|| run(scenario, seed))
        .unwrap_or_else(|panic| RunResult::not_run(panic, overrides));
    Outcome {
        scenario,
        seed,
        failure: result.failure,
        overrides: result.overrides,
        retried: result.retried,
        measures: result.measures,
        wall_secs: started.elapsed().as_secs_f64(),
    }
}

/// One run of `scenario`; if only its history check was undecided, once more with
/// [`RETRY_BUDGET_FACTOR`] times the budget, and that second run is the result.
fn run_one(scenario: &Scenario, seed: u64, overrides: &[(String, String)]) -> RunResult {
    let execution = match scenario.execute(seed, overrides, TraceSettings::hash_only()) {
        Ok(execution) => execution,
        Err(error) => return RunResult::not_run(error, overrides),
    };
    if !execution.undecided() {
        return RunResult::finished(&execution, overrides, false);
    }
    let budget = match scenario.build(seed, overrides) {
        Ok(options) => options.check_steps_max.saturating_mul(RETRY_BUDGET_FACTOR),
        Err(error) => return RunResult::not_run(error, overrides),
    };
    let mut retry = overrides.to_vec();
    retry.push(("check_steps_max".into(), budget.to_string()));
    match scenario.execute(seed, &retry, TraceSettings::hash_only()) {
        Ok(execution) => RunResult::finished(&execution, &retry, true),
        Err(error) => RunResult {
            retried: true,
            ..RunResult::not_run(error, &retry)
        },
    }
}

impl RunResult {
    fn finished(execution: &Execution, overrides: &[(String, String)], retried: bool) -> Self {
        RunResult {
            failure: execution.failure(),
            overrides: overrides.to_vec(),
            retried,
            measures: Some(Measures::of(execution)),
        }
    }

    /// A run that failed before it began, or panicked: `why` is its failure.
    fn not_run(why: String, overrides: &[(String, String)]) -> Self {
        RunResult {
            failure: Some(why),
            overrides: overrides.to_vec(),
            retried: false,
            measures: None,
        }
    }
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
        format!("{PANIC_PREFIX}{location}: {}", panic_message(&*payload))
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
    /// Each run as a line of the JSON report, in the order of the table.
    pub fn lines(&self, scenarios: &[Scenario]) -> Vec<RunLine> {
        self.outcomes
            .iter()
            .map(|outcome| outcome.line(&scenarios[outcome.scenario]))
            .collect()
    }

    /// The final table: runs, failures and seeds per second for each scenario, then a total.
    pub fn table(&self, scenarios: &[Scenario]) -> String {
        let names: Vec<String> = scenarios.iter().map(|s| s.name.clone()).collect();
        let rate = format!(
            "{:.1} seeds/s on {} threads ({:.1} s)",
            self.outcomes.len() as f64 / self.elapsed_secs.max(f64::EPSILON),
            self.threads,
            self.elapsed_secs
        );
        summary::table(&names, &self.lines(scenarios), &rate)
    }

    /// The table, what the time budget came to, then each failure with the one command that
    /// replays it.
    pub fn report(&self, scenarios: &[Scenario]) -> String {
        let mut text = self.table(scenarios);
        if let Some(budget) = self.budget_note() {
            text.push('\n');
            text.push_str(&budget);
        }
        text + &summary::failures(&self.lines(scenarios))
    }

    /// How many seeds ran (for some scenarios at least, when the budget ran out amid a seed).
    pub fn seeds_ran(&self) -> usize {
        let mut seeds: Vec<u64> = self.outcomes.iter().map(|outcome| outcome.seed).collect();
        seeds.sort_unstable();
        seeds.dedup();
        seeds.len()
    }

    /// What the time budget came to, if the sweep had one.
    fn budget_note(&self) -> Option<String> {
        let budget = humantime::format_duration(self.time_budget?);
        let seeds = self.seeds_ran();
        let seeds_run = || self.outcomes.iter().map(|outcome| outcome.seed);
        let (first, last) = (seeds_run().min(), seeds_run().max());
        Some(match self.budget_spent {
            true => format!(
                "time budget {budget} spent: {seeds} seeds ran, {} to {}",
                first.unwrap_or_default(),
                last.unwrap_or_default()
            ),
            false => format!("time budget {budget} not spent: all {seeds} seeds ran"),
        })
    }

    pub fn failures(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes
            .iter()
            .filter(|outcome| outcome.failure.is_some())
    }
}

impl Outcome {
    /// This run as a line of the JSON report; `scenario` is the one it ran.
    pub fn line(&self, scenario: &Scenario) -> RunLine {
        let failure = self.failure.as_deref();
        RunLine {
            scenario: scenario.name.clone(),
            seed: self.seed,
            verdict: record::verdict(failure),
            failure: self.failure.clone(),
            recovery_ms: self.measures.and_then(|measures| measures.recovery_ms),
            events: self.measures.map(|measures| measures.events),
            check_steps: self.measures.map(|measures| measures.check_steps),
            trace_hash: self
                .measures
                .map(|measures| format!("{:016x}", measures.trace_hash)),
            retried: self.retried,
            replay: failure.map(|_| scenario.replay_command(self.seed, &self.overrides)),
            wall_secs: self.wall_secs,
        }
    }
}
