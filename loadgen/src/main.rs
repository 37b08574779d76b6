//! `detcd-bench`: a closed-loop load generator for any etcd-compatible endpoints, etcd itself
//! included, in the manner of etcd's `tools/benchmark`. K clients over C connections each run
//! one operation after another for a duration (or a total); operations that start during the
//! warm-up are not measured. Every answer is checked: a wrong answer is an error, and any error
//! makes the exit status 1. The summary gives throughput, latency percentiles (HDR histogram),
//! and the CPU seconds per operation and peak RSS of the `--server-pids` beside the tool's own.

mod clients;
mod procstat;
mod report;
mod run;
mod workload;

use std::time::Duration;

use clap::Parser;

/// Load etcd-compatible endpoints and report throughput, latency and the servers' cost.
#[derive(Debug, Parser)]
#[command(name = "detcd-bench", version)]
pub struct Cli {
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
    #[command(subcommand)]
    pub workload: workload::Workload,
}

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the async runtime starts");
    let report = match runtime.block_on(run::run(&cli)) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("detcd-bench: {error}");
            std::process::exit(2);
        }
    };
    if cli.json {
        println!(
            "{}",
            serde_json::to_string(&report).expect("the report serializes")
        );
    } else {
        println!("{}", report.summary());
        for error in &report.first_errors {
            println!("  error: {error}");
        }
    }
    if report.errors > 0 {
        std::process::exit(1);
    }
}
