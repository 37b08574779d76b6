//! `detcd-sim`: run detcd clusters in the deterministic simulator, and check histories.
//!
//! Exit codes: 0 when every run passes (or a history is linearizable), 1 on any violation (after
//! printing the command that replays it), 2 on usage or parse errors, 3 when a check is
//! inconclusive.

use std::ops::Range;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use detcd_checker::{Budget, Format};
use detcd_scenarios::catalogue::{self, Scenario};

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
    /// List the scenarios with their purpose.
    List,
    /// Run a scenario for one seed (with a readable account of the run) or a range of seeds.
    Run {
        /// The scenario's name (see `list`).
        scenario: String,
        /// The seed of a single run.
        #[arg(long, conflicts_with = "seeds")]
        seed: Option<u64>,
        /// A range of seeds, `A..B` (B excluded): one line per run.
        #[arg(long, value_parser = parse_seeds)]
        seeds: Option<Range<u64>>,
        /// Write the clients' history (JSON lines, for `check`) of a single run to this file.
        #[arg(long, conflicts_with = "seeds")]
        history: Option<PathBuf>,
    },
    /// Check a history file for linearizability (and watch and lease guarantees).
    Check {
        file: PathBuf,
        /// detcd (JSON lines), jepsen (etcd register logs) or edn-kv.
        #[arg(long, default_value = "detcd")]
        format: Format,
        /// Give up (verdict unknown) after this many seconds.
        #[arg(long, default_value_t = 10)]
        time_max_secs: u64,
    },
}

fn parse_seeds(text: &str) -> Result<Range<u64>, String> {
    let (start, end) = text.split_once("..").ok_or("expected A..B")?;
    let start: u64 = start.parse().map_err(|e| format!("{start}: {e}"))?;
    let end: u64 = end.parse().map_err(|e| format!("{end}: {e}"))?;
    if start >= end {
        return Err(format!("the range {start}..{end} is empty"));
    }
    Ok(start..end)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::List => {
            for scenario in catalogue::all() {
                println!("{:<24} {}", scenario.name, scenario.purpose);
            }
            ExitCode::SUCCESS
        }
        Command::Run {
            scenario,
            seed,
            seeds,
            history,
        } => {
            let Some(scenario) = catalogue::find(&scenario) else {
                eprintln!("detcd-sim: no scenario named {scenario:?}; `detcd-sim list` shows them");
                return ExitCode::from(2);
            };
            match seeds {
                Some(seeds) => run_many(scenario, seeds),
                None => run_one(scenario, seed.unwrap_or(1), history),
            }
        }
        Command::Check {
            file,
            format,
            time_max_secs,
        } => check(file, format, time_max_secs),
    }
}

fn run_one(scenario: &Scenario, seed: u64, history: Option<PathBuf>) -> ExitCode {
    println!("detcd-sim run {} --seed {seed}", scenario.name);
    println!("{}\n", scenario.purpose);
    let options = (scenario.options)(seed);
    println!(
        "options drawn for this seed:\n{}\n{}",
        options.sim, options.workload
    );
    let report = detcd_sim::run::run(options);
    println!("{report}");
    if let Some(path) = history
        && let Err(error) = write_history(&path, &report.history)
    {
        eprintln!("detcd-sim: cannot write {}: {error}", path.display());
        return ExitCode::from(2);
    }
    if report.passed() {
        println!("\nPASSED");
        ExitCode::SUCCESS
    } else {
        println!("\nFAILED: {}", report.failure().unwrap_or_default());
        println!(
            "replay: cargo run --release -p detcd-scenarios -- run {} --seed {seed}",
            scenario.name
        );
        ExitCode::from(1)
    }
}

fn run_many(scenario: &Scenario, seeds: Range<u64>) -> ExitCode {
    let mut failed = Vec::new();
    for seed in seeds.clone() {
        let report = detcd_sim::run::run((scenario.options)(seed));
        let verdict = report.failure().unwrap_or_else(|| "passed".into());
        let recovery = report
            .recovery
            .map_or("-".into(), |took| format!("{} ms", took.as_millis()));
        println!(
            "seed {seed:>6}  {:>5} ops ok  {:>4} unknown  recovery {recovery:>8}  {verdict}",
            report.workload.ok, report.workload.unknown
        );
        if !report.passed() {
            failed.push(seed);
        }
    }
    println!(
        "\n{} runs, {} failed",
        seeds.end - seeds.start,
        failed.len()
    );
    for seed in &failed {
        println!(
            "replay: cargo run --release -p detcd-scenarios -- run {} --seed {seed}",
            scenario.name
        );
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn write_history(
    path: &std::path::Path,
    records: &[detcd_checker::HistoryRecord],
) -> std::io::Result<()> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut writer = detcd_checker::HistoryWriter::new(file);
    for record in records {
        writer.write(record)?;
    }
    std::io::Write::flush(&mut writer.into_inner())
}

fn check(file: PathBuf, format: Format, time_max_secs: u64) -> ExitCode {
    let budget = Budget {
        time_max: std::time::Duration::from_secs(time_max_secs),
        ..Budget::default()
    };
    match detcd_checker::check_file(&file, format, budget) {
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
