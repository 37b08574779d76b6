//! `detcd-sim`: run detcd clusters in the deterministic simulator, and check histories.
//!
//! Exit codes: 0 when every run passes (or a history is linearizable, or an audit finds every
//! seed deterministic), 1 on any violation (after printing the command that replays it) or
//! divergence, 2 on usage or parse errors, 3 when a check is inconclusive (for `sweep`: when no
//! run failed but some checks stayed undecided). `shrink` exits 0 when
//! the run passes (nothing to shrink) and 1 with the smallest failing command.

use std::fs::File;
use std::io::BufWriter;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use detcd_checker::{Budget, Format};
use detcd_scenarios::audit::{self, TRACE_COMMAND, TRACE_HASH_PREFIX};
use detcd_scenarios::catalogue::{self, Scenario};
use detcd_scenarios::script::{Execution, GOLDEN_SEED};
use detcd_scenarios::sweep::{self, SeedPlan, SeedRange, Shard, junit, record, seeds, summary};
use detcd_sim::overrides;
use detcd_sim::run::RunOptions;
use detcd_sim::shrink::{self, Shrunk};
use detcd_sim::trace::TraceSettings;
use indicatif::{ProgressBar, ProgressStyle};

/// A run allocates and frees millions of small messages, entries and history records; mimalloc
/// takes over a quarter off a swarm run's time compared with the system allocator. Which allocator
/// serves a run changes no result.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "detcd-sim",
    version,
    about = "Deterministic simulation of detcd clusters"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the catalogue's scenarios with their purpose.
    List,
    /// Run a scenario for one seed (the scenario's commands with what each printed, then a
    /// summary) or for a range of seeds (one line per run). Also replays a failure.
    #[command(visible_alias = "replay")]
    Run {
        /// The scenario's name (see `list`) or the path of a scenario file.
        scenario: String,
        /// The seed of a single run.
        #[arg(long, conflicts_with = "seeds")]
        seed: Option<u64>,
        /// A range of seeds, `A..B` (B excluded): one line per run.
        #[arg(long, value_parser = parse_seeds)]
        seeds: Option<Range<u64>>,
        #[command(flatten)]
        overrides: Overrides,
        /// Write the clients' history (JSON lines, for `check`) of a single run to this file.
        #[arg(long, conflicts_with = "seeds")]
        history: Option<PathBuf>,
        /// Write the world's full trace (JSON lines) of a single run to this file.
        #[arg(long, conflicts_with = "seeds")]
        trace: Option<PathBuf>,
    },
    /// Run many seeds of some scenarios (or all) on every core, with a progress bar and a final
    /// table of runs, failures and seeds per second.
    Sweep(SweepArgs),
    /// Merge the `--json` files of several sweeps (the shards of one, say) and print the table
    /// a sweep prints, with every failure's replay command; exit 1 if any run failed.
    SweepMerge {
        /// JSON Lines files written by `sweep --json`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run every seed twice in separate processes and compare the trace hashes.
    Audit {
        scenario: String,
        /// A range of seeds, `A..B` (B excluded).
        #[arg(long, value_parser = parse_seeds)]
        seeds: Range<u64>,
        #[command(flatten)]
        overrides: Overrides,
        /// Where the traces go while they are compared (kept for diverging seeds).
        #[arg(long)]
        trace_dir: Option<PathBuf>,
    },
    /// Find a smaller run that fails the same way as this seed, and print its command.
    Shrink {
        scenario: String,
        #[arg(long)]
        seed: u64,
        #[command(flatten)]
        overrides: Overrides,
        /// Give up after this many runs (the first, unshrunk run included).
        #[arg(long, default_value_t = shrink::ATTEMPTS_MAX)]
        attempts_max: usize,
    },
    /// Run one seed, write its trace as JSON lines and print its hash (what `audit` spawns).
    #[command(hide = true, name = TRACE_COMMAND)]
    Trace {
        scenario: String,
        #[arg(long)]
        seed: u64,
        #[command(flatten)]
        overrides: Overrides,
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a self-contained HTML report of one run: a timeline of roles, terms, partitions,
    /// faults and client operations, the verdict, and the run told in words.
    Report {
        scenario: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[command(flatten)]
        overrides: Overrides,
        /// The HTML file to write.
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
    },
    /// Tell one run in words: elections, votes, step-downs, failed requests, catching up.
    Explain {
        scenario: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Check a history file for linearizability (and watch and lease guarantees).
    Check {
        file: PathBuf,
        /// detcd (JSON lines), jepsen (etcd register logs) or edn-kv.
        #[arg(long, default_value = "detcd")]
        format: Format,
        /// Give up (verdict unknown) after this many search steps: a budget of work, not time,
        /// so a history gets the same verdict on every machine (about half a million steps a
        /// second on a hard etcd history).
        #[arg(long, default_value_t = detcd_checker::budget::STEPS_MAX_DEFAULT)]
        steps_max: u64,
    },
}

/// What `sweep` runs and where it reports.
#[derive(Args, Debug)]
struct SweepArgs {
    /// Scenario names or files; none means the whole catalogue.
    scenarios: Vec<String>,
    /// A range of seeds, `A..B` (B excluded), or `A..` (every seed from A, with --time-budget).
    #[arg(long, value_parser = parse_open_seeds)]
    seeds: SeedRange,
    #[command(flatten)]
    overrides: Overrides,
    /// Threads to run on; by default one per core.
    #[arg(long)]
    jobs: Option<usize>,
    /// Run only the K-th of N disjoint slices of the seeds (1/N to N/N): those whose position
    /// in the range, from 0, is K-1 modulo N.
    #[arg(long, value_name = "K/N")]
    shard: Option<Shard>,
    /// Start no new run after this much wall-clock time ("90s", "10m", "1h 30m"), taking seeds
    /// in order from the start of the range; runs under way finish.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    time_budget: Option<Duration>,
    /// Write a JUnit XML report to FILE: one testcase per scenario and seed.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write one JSON object per run to FILE (JSON Lines), for `sweep-merge` or a script.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// `--set key=value`, repeatable, applied in order after the scenario built its options.
#[derive(Args, Debug)]
struct Overrides {
    /// Override one option after the scenario drew its options from the seed (repeatable).
    #[arg(
        long = "set",
        value_name = "KEY=VALUE",
        value_parser = overrides::parse_override,
        long_help = set_help()
    )]
    set: Vec<(String, String)>,
}

fn set_help() -> String {
    let keys: Vec<&str> = overrides::known_keys().collect();
    format!(
        "Override one option after the scenario drew its options from the seed (repeatable, \
         applied in order). Keys: {}",
        keys.join(", ")
    )
}

fn parse_seeds(text: &str) -> Result<Range<u64>, String> {
    let range = seeds::parse_seed_range(text, false)?;
    Ok(range.start..range.end.expect("a closed range was asked for"))
}

fn parse_open_seeds(text: &str) -> Result<SeedRange, String> {
    seeds::parse_seed_range(text, true)
}

/// A usage error: say what is wrong and exit 2.
fn usage_error(message: &str) -> ExitCode {
    eprintln!("detcd-sim: {message}");
    ExitCode::from(2)
}

fn find_scenario(name: &str) -> Result<Scenario, ExitCode> {
    catalogue::find(name).map_err(|why| usage_error(&why))
}

/// The scenario's options for `seed` with the overrides applied, or a usage error naming the
/// override that does not fit.
fn build(
    scenario: &Scenario,
    seed: u64,
    overrides: &[(String, String)],
) -> Result<RunOptions, ExitCode> {
    scenario
        .build(seed, overrides)
        .map_err(|why| usage_error(&format!("{}: {why}", scenario.name)))
}

/// Run the scenario for `seed`; a script error (a member the cluster lacks) is a usage error.
fn execute_scenario(
    scenario: &Scenario,
    seed: u64,
    overrides: &[(String, String)],
    trace: TraceSettings,
) -> Result<Execution, ExitCode> {
    scenario
        .execute(seed, overrides, trace)
        .map_err(|why| usage_error(&why))
}

fn main() -> ExitCode {
    match execute(Cli::parse().command) {
        Ok(exit) | Err(exit) => exit,
    }
}

/// Run one command. `Err` is an early exit, such as a usage error already reported.
fn execute(command: Command) -> Result<ExitCode, ExitCode> {
    let exit = match command {
        Command::List => {
            for scenario in catalogue::all() {
                println!("{:<30} {}", scenario.name, scenario.summary());
            }
            ExitCode::SUCCESS
        }
        Command::Run {
            scenario,
            seed,
            seeds,
            overrides,
            history,
            trace,
        } => {
            let scenario = find_scenario(&scenario)?;
            match seeds {
                Some(seeds) => run_many(&scenario, seeds, &overrides.set)?,
                None => {
                    let outputs = Outputs { history, trace };
                    run_one(
                        &scenario,
                        seed.unwrap_or(GOLDEN_SEED),
                        &overrides.set,
                        outputs,
                    )?
                }
            }
        }
        Command::Sweep(args) => sweep_seeds(args)?,
        Command::SweepMerge { files } => merge_sweeps(&files)?,
        Command::Audit {
            scenario,
            seeds,
            overrides,
            trace_dir,
        } => audit_seeds(&find_scenario(&scenario)?, seeds, &overrides.set, trace_dir)?,
        Command::Shrink {
            scenario,
            seed,
            overrides,
            attempts_max,
        } => shrink_seed(
            &find_scenario(&scenario)?,
            seed,
            &overrides.set,
            attempts_max,
        )?,
        Command::Trace {
            scenario,
            seed,
            overrides,
            out,
        } => trace_seed(&find_scenario(&scenario)?, seed, &overrides.set, &out)?,
        Command::Report {
            scenario,
            seed,
            overrides,
            out,
        } => {
            let scenario = find_scenario(&scenario)?;
            let record = record(&scenario, seed, &overrides.set)?;
            let title = format!("{} (seed {seed})", scenario.name);
            if let Err(error) = std::fs::write(&out, detcd_reports::html(&record, &title)) {
                return Err(usage_error(&format!(
                    "cannot write {}: {error}",
                    out.display()
                )));
            }
            println!("wrote {}", out.display());
            ExitCode::SUCCESS
        }
        Command::Explain {
            scenario,
            seed,
            overrides,
        } => {
            let record = record(&find_scenario(&scenario)?, seed, &overrides.set)?;
            for line in detcd_reports::explain(&record) {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Command::Check {
            file,
            format,
            steps_max,
        } => check(file, format, steps_max),
    };
    Ok(exit)
}

/// One run with its trace kept in memory, as reports need it.
fn record(
    scenario: &Scenario,
    seed: u64,
    overrides: &[(String, String)],
) -> Result<detcd_reports::RunRecord, ExitCode> {
    let execution = execute_scenario(scenario, seed, overrides, TraceSettings::in_memory())?;
    Ok(detcd_reports::RunRecord::from_report(execution.report))
}

/// Where a single run writes what it recorded, besides its report.
struct Outputs {
    history: Option<PathBuf>,
    trace: Option<PathBuf>,
}

fn run_one(
    scenario: &Scenario,
    seed: u64,
    overrides: &[(String, String)],
    outputs: Outputs,
) -> Result<ExitCode, ExitCode> {
    let options = build(scenario, seed, overrides)?;
    let trace = match &outputs.trace {
        Some(path) => trace_to_file(path)?,
        None => TraceSettings::hash_only(),
    };
    println!(
        "detcd-sim run {} --seed {seed}{}\n",
        scenario.name,
        catalogue::set_arguments(overrides)
    );
    // Options drawn from the seed, or changed by hand, are part of what the run was.
    if scenario.script.draws_options() || !overrides.is_empty() {
        let drawn = match overrides.len() {
            0 => "options drawn for this seed:".to_string(),
            count => format!("options for this seed, with {count} overrides:"),
        };
        println!("{drawn}\n{}", describe_options(&options));
    }
    let execution = execute_scenario(scenario, seed, overrides, trace)?;
    println!("{}", scenario.script.rewrite(&execution.outputs));
    println!("{}", execution.report);
    if let Some(path) = outputs.history
        && let Err(error) = write_history(&path, &execution.report.history)
    {
        return Err(usage_error(&format!(
            "cannot write {}: {error}",
            path.display()
        )));
    }
    if execution.passed() {
        println!("\nPASSED");
        return Ok(ExitCode::SUCCESS);
    }
    println!("\nFAILED: {}", execution.failure().unwrap_or_default());
    println!("replay: {}", scenario.replay_command(seed, overrides));
    Ok(ExitCode::from(1))
}

/// Every option of the run, one `name = value` line each, overrides included.
fn describe_options(options: &RunOptions) -> String {
    format!(
        "{}{}{}{:<24} = {}\n{:<24} = {}\n{:<24} = {}\n{:<24} = {}\n",
        options.sim,
        options.workload,
        options.node,
        "fault_phase_ms",
        options.fault_phase.as_millis(),
        "recovery_bound_ms",
        options.recovery_bound.as_millis(),
        "events_max",
        options.events_max,
        "check_steps_max",
        options.check_steps_max
    )
}

fn trace_to_file(path: &Path) -> Result<TraceSettings, ExitCode> {
    let file = File::create(path)
        .map_err(|error| usage_error(&format!("cannot create {}: {error}", path.display())))?;
    Ok(TraceSettings::to_writer(Box::new(BufWriter::new(file))))
}

fn run_many(
    scenario: &Scenario,
    seeds: Range<u64>,
    overrides: &[(String, String)],
) -> Result<ExitCode, ExitCode> {
    let mut failed = Vec::new();
    for seed in seeds.clone() {
        // A run that panics is a failure of its seed, not the end of the others.
        let run = || execute_scenario(scenario, seed, overrides, TraceSettings::hash_only());
        match sweep::catch_panic(run) {
            Ok(execution) => {
                let execution = execution?;
                println!("seed {seed:>6}  {}", summarize(&execution));
                if !execution.passed() {
                    failed.push(seed);
                }
            }
            Err(panic) => {
                println!("seed {seed:>6}  {panic}");
                failed.push(seed);
            }
        }
    }
    println!(
        "\n{} runs, {} failed",
        seeds.end - seeds.start,
        failed.len()
    );
    for seed in &failed {
        println!("replay: {}", scenario.replay_command(*seed, overrides));
    }
    Ok(exit_for(failed.is_empty()))
}

/// One line: how the clients fared, how long recovery took, and the verdict.
fn summarize(execution: &Execution) -> String {
    let report = &execution.report;
    let verdict = execution.failure().unwrap_or_else(|| "passed".into());
    let recovery = report
        .recovery
        .map_or("-".into(), |took| format!("{} ms", took.as_millis()));
    format!(
        "{:>5} ops ok  {:>4} unknown  recovery {recovery:>8}  {verdict}",
        report.workload.ok, report.workload.unknown
    )
}

fn sweep_seeds(args: SweepArgs) -> Result<ExitCode, ExitCode> {
    let scenarios = match args.scenarios.as_slice() {
        [] => catalogue::all(),
        names => names
            .iter()
            .map(|name| find_scenario(name))
            .collect::<Result<_, _>>()?,
    };
    if args.seeds.end.is_none() && args.time_budget.is_none() {
        return Err(usage_error(&format!(
            "--seeds {} has no end: give one (A..B), or a --time-budget to stop at",
            args.seeds
        )));
    }
    let overrides = &args.overrides.set;
    // Reject bad overrides and script errors once, before any thread starts.
    for scenario in &scenarios {
        build(scenario, args.seeds.start, overrides)?;
    }
    let threads = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let plan = SeedPlan {
        range: args.seeds,
        shard: args.shard.unwrap_or(Shard::WHOLE),
        time_budget: args.time_budget,
    };
    let result = sweep::sweep(&scenarios, &plan, overrides, threads);
    let lines = result.lines(&scenarios);
    if let Some(path) = &args.json {
        write_file(path, &record::to_json_lines(&lines))?;
    }
    if let Some(path) = &args.junit {
        write_file(path, &junit::xml(&lines, result.elapsed_secs))?;
    }
    println!("{}", result.report(&scenarios));
    Ok(ExitCode::from(record::exit_code(&lines)))
}

/// `sweep-merge`: the runs of every file, as one sweep's table and failures.
fn merge_sweeps(files: &[PathBuf]) -> Result<ExitCode, ExitCode> {
    let mut lines = Vec::new();
    for file in files {
        lines.extend(record::read(file).map_err(|why| usage_error(&why))?);
    }
    let lines = record::merge(lines).map_err(|why| usage_error(&why))?;
    let note = format!("merged from {} files", files.len());
    let table = summary::table(&record::scenario_names(&lines), &lines, &note);
    println!("{table}{}", summary::failures(&lines));
    Ok(ExitCode::from(record::exit_code(&lines)))
}

/// 0 when every run passed, 1 otherwise.
fn exit_for(passed: bool) -> ExitCode {
    match passed {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(1),
    }
}

fn write_file(path: &Path, contents: &str) -> Result<(), ExitCode> {
    std::fs::write(path, contents)
        .map_err(|error| usage_error(&format!("cannot write {}: {error}", path.display())))
}

/// The hidden child of `audit`: one run, its trace to `out`, its hash on stdout.
fn trace_seed(
    scenario: &Scenario,
    seed: u64,
    overrides: &[(String, String)],
    out: &Path,
) -> Result<ExitCode, ExitCode> {
    let execution = execute_scenario(scenario, seed, overrides, trace_to_file(out)?)?;
    println!("{TRACE_HASH_PREFIX}{:016x}", execution.report.trace_hash);
    Ok(ExitCode::SUCCESS)
}

fn audit_seeds(
    scenario: &Scenario,
    seeds: Range<u64>,
    overrides: &[(String, String)],
    trace_dir: Option<PathBuf>,
) -> Result<ExitCode, ExitCode> {
    // Reject bad overrides here, once, rather than in every child.
    build(scenario, seeds.start, overrides)?;
    let trace_dir = trace_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("detcd-audit-{}", std::process::id()))
    });
    match audit::audit(scenario, seeds, overrides, &trace_dir) {
        Ok(true) => Ok(ExitCode::SUCCESS),
        Ok(false) => Ok(ExitCode::from(1)),
        Err(error) => Err(usage_error(&format!("audit: {error}"))),
    }
}

fn shrink_seed(
    scenario: &Scenario,
    seed: u64,
    overrides: &[(String, String)],
    attempts_max: usize,
) -> Result<ExitCode, ExitCode> {
    let knobs = shrink::knobs(&build(scenario, seed, overrides)?);
    let progress = ProgressBar::new(attempts_max as u64).with_style(
        ProgressStyle::with_template("{spinner} shrinking [{pos}/{len}] {elapsed} {wide_msg}")
            .expect("the template is valid"),
    );
    let mut log = AttemptLog::default();
    let shrunk = shrink::shrink(overrides, knobs, attempts_max, |candidate| {
        progress.set_message(log.change(candidate));
        let failure = scenario
            .execute(seed, candidate, TraceSettings::hash_only())
            .expect("the shrinker only sets known knobs to valid values")
            .failure();
        progress.suspend(|| log.record(candidate, failure.as_deref()));
        progress.inc(1);
        failure
    });
    progress.finish_and_clear();
    match shrunk {
        Shrunk::Passed => {
            println!("{} seed {seed} passes: nothing to shrink", scenario.name);
            Ok(ExitCode::SUCCESS)
        }
        Shrunk::Failed {
            overrides,
            failure,
            attempts,
        } => {
            println!("smallest reproduction found in {attempts} runs:");
            println!("{}", scenario.replay_command(seed, &overrides));
            println!("FAILED: {failure}");
            Ok(ExitCode::from(1))
        }
    }
}

/// The shrinker's attempts as they happen, on stderr: what each changed and how it ended.
#[derive(Debug, Default)]
struct AttemptLog {
    /// The kind of failure being shrunk, once the first run showed it.
    kind: Option<String>,
    /// The overrides of the smallest failing run so far.
    smallest: Vec<(String, String)>,
    attempt: usize,
}

impl AttemptLog {
    /// What `candidate` changes from the smallest failing run so far.
    fn change(&self, candidate: &[(String, String)]) -> String {
        if self.kind.is_none() {
            return "the run as given".into();
        }
        let changed: Vec<String> = candidate
            .iter()
            .filter(|entry| !self.smallest.contains(entry))
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        changed.join(" ")
    }

    fn record(&mut self, candidate: &[(String, String)], failure: Option<&str>) {
        self.attempt += 1;
        let kind = failure.map(shrink::failure_kind);
        let outcome = match (self.kind.as_deref(), kind) {
            (_, None) => "passes".to_string(),
            (Some(wanted), Some(kind)) if wanted != kind => format!("fails differently: {kind}"),
            (_, Some(kind)) => format!("fails: {kind}"),
        };
        let change = self.change(candidate);
        eprintln!("attempt {:>3}  {change:<40} {outcome}", self.attempt);
        if let Some(kind) = kind
            && self.kind.as_deref().is_none_or(|wanted| wanted == kind)
        {
            self.kind = Some(kind.to_string());
            self.smallest = candidate.to_vec();
        }
    }
}

fn write_history(path: &Path, records: &[detcd_checker::HistoryRecord]) -> std::io::Result<()> {
    let file = BufWriter::new(File::create(path)?);
    let mut writer = detcd_checker::HistoryWriter::new(file);
    for record in records {
        writer.write(record)?;
    }
    std::io::Write::flush(&mut writer.into_inner())
}

fn check(file: PathBuf, format: Format, steps_max: u64) -> ExitCode {
    match detcd_checker::check_file(&file, format, Budget::with_steps_max(steps_max)) {
        Ok(report) => {
            println!("{report}");
            ExitCode::from(report.exit_code() as u8)
        }
        Err(error) => {
            eprintln!("detcd-sim check: {}: {error}", file.display());
            ExitCode::from(2)
        }
    }
}
