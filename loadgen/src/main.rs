//! `detcd-bench`: a closed-loop load generator for any etcd-compatible endpoints, etcd itself
//! included, in the manner of etcd's `tools/benchmark`. K clients over C connections each run
//! one operation after another for a duration (or a total); operations that start during the
//! warm-up are not measured. Every answer is checked: a wrong answer is an error, and any error
//! makes the exit status 1. The summary gives throughput, latency percentiles (HDR histogram),
//! and the CPU seconds per operation and peak RSS of the `--server-pids` beside the tool's own.
//!
//! `detcd-bench compare` starts etcd and detcd itself, one after the other, and runs the same
//! sequence of loads on each (see `compare`).

mod clients;
mod compare;
mod procstat;
mod report;
mod run;
mod workload;

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

// The tool shares the machine with the servers it loads: the less CPU it spends per request,
// the less it stands in their way.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Load etcd-compatible endpoints and report throughput, latency and the servers' cost.
#[derive(Debug, Parser)]
#[command(name = "detcd-bench", version)]
pub struct Cli {
    #[command(flatten)]
    pub options: Options,
    #[command(subcommand)]
    pub command: Command,
}

/// How one load runs (`compare` sets these itself, per row).
#[derive(Clone, Debug, Args)]
pub struct Options {
    /// The members' client addresses (host:port or http://host:port), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:2379")]
    pub endpoints: Vec<String>,
    /// gRPC connections, spread over the endpoints in turn.
    #[arg(long, default_value_t = 1)]
    pub conns: usize,
    /// Concurrent clients, each running one operation at a time; client i uses connection
    /// i mod conns.
    #[arg(long, default_value_t = 1)]
    pub clients: usize,
    /// How long to measure, after the warm-up (e.g. 10s, 500ms, 1m).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    pub duration: Duration,
    /// Stop after this many measured operations instead (the duration still bounds the run).
    #[arg(long)]
    pub total: Option<u64>,
    /// Operations started before this much time has passed are not measured.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    pub warmup: Duration,
    /// Server processes whose CPU time and peak RSS to report (read from /proc).
    #[arg(long, value_delimiter = ',')]
    pub server_pids: Vec<i32>,
    /// Print the report as one JSON object instead of the summary line.
    #[arg(long)]
    pub json: bool,
    /// Seed of the keys the clients draw (each client draws from its own stream).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(flatten)]
    Load(workload::Workload),
    /// Start etcd and detcd on loopback with the same flags and fresh data dirs, 1 and 3
    /// members, run the same sequence of loads on each, alternating etcd and detcd, and print
    /// one table per cluster size with each figure and the ratio detcd/etcd.
    Compare(compare::CompareArgs),
}

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the async runtime starts");
    let code = match &cli.command {
        Command::Load(workload) => runtime.block_on(load(&cli.options, workload)),
        Command::Compare(args) => runtime.block_on(compare::compare(args)),
    };
    std::process::exit(code);
}

/// One load; the exit status is 1 on any error or wrong answer, 2 when it could not run.
async fn load(options: &Options, workload: &workload::Workload) -> i32 {
    let report = match run::run(options, workload).await {
        Ok(report) => report,
        Err(error) => {
            eprintln!("detcd-bench: {error}");
            return 2;
        }
    };
    if options.json {
        let json = serde_json::to_string(&report).expect("the report serializes");
        println!("{json}");
    } else {
        println!("{}", report.summary());
        for error in &report.first_errors {
            println!("  error: {error}");
        }
    }
    i32::from(report.errors > 0)
}
