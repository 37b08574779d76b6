//! `detcd-bench compare`: etcd and detcd side by side on this machine, in one run.
//!
//! For each cluster size, passes alternate etcd, detcd, etcd, detcd, ...; each pass starts a
//! fresh cluster with the same flags on loopback, runs the same sequence of loads (`sequence`)
//! and reads the members' peak RSS and data dir size at its end. The tables give each figure's
//! mean over the passes, and the ratio detcd / etcd beside the target.

mod servers;
mod table;

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::Options;
use crate::procstat;
use crate::report::Report;
use crate::run;
use crate::workload::{
    Consistency, LeaseArgs, PutArgs, RangeArgs, TxnPutArgs, WatchLatencyArgs, Workload,
};
use servers::{Cluster, Server};
use table::{Metric, Target};

#[derive(Clone, Debug, Args)]
pub struct CompareArgs {
    /// etcd's binary (Debian's etcd-server installs /usr/bin/etcd).
    #[arg(long, default_value = "/usr/bin/etcd")]
    pub etcd: PathBuf,
    /// detcd's binary [default: `detcd` beside this tool].
    #[arg(long)]
    pub detcd: Option<PathBuf>,
    /// Cluster sizes, one table each.
    #[arg(long, value_delimiter = ',', default_value = "1,3")]
    pub members: Vec<usize>,
    /// Passes of each server per cluster size (alternating etcd and detcd).
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
    /// How long each row measures, after its warm-up.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    pub duration: Duration,
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    pub warmup: Duration,
    /// Puts between the fresh range rows and the loaded ones.
    #[arg(long, default_value_t = 600_000)]
    pub writes: u64,
    /// Where the passes' data dirs and logs go (each removed after its pass)
    /// [default: the system's temporary directory].
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// The first port on loopback; each pass takes the next ten.
    #[arg(long, default_value_t = 21000)]
    pub first_port: u16,
}

/// One load of the sequence.
#[derive(Clone, Debug)]
pub struct Step {
    pub label: String,
    pub clients: usize,
    pub workload: Workload,
    /// Measure this many operations instead of a duration (the loading step).
    pub total: Option<u64>,
    /// The figures the tables compare, each with its target ratio if it has one.
    pub compared: Vec<(Metric, Option<Target>)>,
}

/// What one pass measured.
#[derive(Clone, Debug)]
pub struct Pass {
    pub reports: Vec<Report>,
    pub peak_rss_bytes: u64,
    pub disk_bytes: u64,
}

const PUT: PutArgs = PutArgs {
    key_size: 8,
    val_size: 256,
    key_space: 100_000,
    sequential_keys: false,
};

fn range(consistency: Consistency) -> Workload {
    Workload::Range(RangeArgs {
        key: "bench-range/".into(),
        prefix: false,
        consistency,
        preload: 1,
        val_size: 256,
    })
}

/// The loads every pass runs, in order. The range rows come twice: on a fresh store and after
/// `writes` more puts.
pub fn sequence(writes: u64) -> Vec<Step> {
    use Metric::{CpuPerOp, EventP99, P99, Throughput};
    let step = |label: &str, clients, workload, compared: &[(Metric, Option<Target>)]| Step {
        label: label.to_string(),
        clients,
        workload,
        total: None,
        compared: compared.to_vec(),
    };
    // The targets for puts under load: faster, at half the CPU, no worse a tail.
    let loaded_put = [
        (Throughput, Some(Target::AtLeast(1.5))),
        (CpuPerOp, Some(Target::AtMost(0.5))),
        (P99, Some(Target::AtMost(1.0))),
    ];
    let plain = [(Throughput, None), (P99, None), (CpuPerOp, None)];
    let txn_put = Workload::TxnPut(TxnPutArgs {
        key_space: 10_000,
        val_size: 256,
    });
    let after = format!("after {writes} writes");
    vec![
        step("put, 1 client", 1, Workload::Put(PUT), &plain),
        step("put, 64 clients", 64, Workload::Put(PUT), &loaded_put),
        step("put, 256 clients", 256, Workload::Put(PUT), &loaded_put),
        step(
            "range l, 64 clients, fresh",
            64,
            range(Consistency::L),
            &plain,
        ),
        step(
            "range s, 64 clients, fresh",
            64,
            range(Consistency::S),
            &plain,
        ),
        step("txn-put, 64 clients", 64, txn_put, &plain),
        step(
            "watch put->event, 16 clients",
            16,
            Workload::WatchLatency(WatchLatencyArgs { val_size: 256 }),
            &[(EventP99, Some(Target::AtMost(1.0)))],
        ),
        step(
            "lease keep-alive, 64 clients",
            64,
            Workload::LeaseKeepalive(LeaseArgs { ttl: 60 }),
            &[(Throughput, None), (CpuPerOp, None)],
        ),
        Step {
            total: Some(writes),
            ..step(
                &format!("{writes} puts, 256 clients"),
                256,
                Workload::Put(PUT),
                &[(Throughput, None)],
            )
        },
        // etcd slows to about a third of its fresh figure here.
        step(
            &format!("range l, 64 clients, {after}"),
            64,
            range(Consistency::L),
            &[(Throughput, Some(Target::AtLeast(3.0))), (P99, None)],
        ),
        step(
            &format!("range s, 64 clients, {after}"),
            64,
            range(Consistency::S),
            &plain,
        ),
    ]
}

pub async fn compare(args: &CompareArgs) -> i32 {
    match compare_all(args).await {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(error) => {
            eprintln!("detcd-bench compare: {error}");
            2
        }
    }
}

/// Every pass and every table; `Ok(false)` when some answer was wrong.
async fn compare_all(args: &CompareArgs) -> Result<bool, String> {
    let detcd = match &args.detcd {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .map_err(|error| error.to_string())?
            .with_file_name("detcd"),
    };
    for binary in [&args.etcd, &detcd] {
        if !binary.is_file() {
            return Err(format!(
                "{} is not there (see the README's \"Load\" section)",
                binary.display()
            ));
        }
    }
    let versions = format!("{} against {}", version(&args.etcd), version(&detcd));
    let work_dir = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    let steps = sequence(args.writes);
    let mut all_correct = true;
    let mut tables = Vec::new();
    let mut pass_number = 0;
    for &size in &args.members {
        let (mut etcd_passes, mut detcd_passes) = (Vec::new(), Vec::new());
        for round in 1..=args.rounds {
            for (server, binary) in [(Server::Etcd, &args.etcd), (Server::Detcd, &detcd)] {
                eprintln!(
                    "== {size} member(s), {}, pass {round} of {}",
                    server.name(),
                    args.rounds
                );
                let first_port = args.first_port + 10 * pass_number;
                let dir = work_dir.join(format!(
                    "detcd-bench-compare-{}-{pass_number}",
                    std::process::id()
                ));
                pass_number += 1;
                let cluster = Cluster::start(binary, size, first_port, dir)?;
                let pass = run_pass(cluster, &steps, args).await?;
                all_correct &= pass.reports.iter().all(|report| report.errors == 0);
                match server {
                    Server::Etcd => etcd_passes.push(pass),
                    Server::Detcd => detcd_passes.push(pass),
                }
                // Let the killed servers' writeback settle before the next pass.
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
        tables.push(table::render(
            size,
            &steps,
            &etcd_passes,
            &detcd_passes,
            args,
        ));
    }
    println!("# detcd-bench compare: {versions}\n");
    for table in tables {
        println!("{table}");
    }
    if !all_correct {
        println!("Some answers were wrong or failed: see the pass lines above.");
    }
    Ok(all_correct)
}

async fn run_pass(
    mut cluster: Cluster,
    steps: &[Step],
    args: &CompareArgs,
) -> Result<Pass, String> {
    cluster.wait_ready().await?;
    let server_pids = cluster.pids();
    let mut reports = Vec::with_capacity(steps.len());
    for step in steps {
        let options = Options {
            endpoints: cluster.endpoints.clone(),
            conns: step.clients.div_ceil(8),
            clients: step.clients,
            duration: if step.total.is_some() {
                Duration::from_secs(3600)
            } else {
                args.duration
            },
            total: step.total,
            warmup: if step.total.is_some() {
                Duration::ZERO
            } else {
                args.warmup
            },
            server_pids: server_pids.clone(),
            json: false,
            seed: 1,
        };
        let report = run::run(&options, &step.workload)
            .await
            .unwrap_or_else(|error| {
                Report::failed(step.workload.name(), options.clients, options.conns, error)
            });
        eprintln!("  {}: {}", step.label, report.summary());
        for error in &report.first_errors {
            eprintln!("    error: {error}");
        }
        reports.push(report);
    }
    let sample = procstat::sample(&server_pids)?;
    Ok(Pass {
        reports,
        peak_rss_bytes: sample.server_peak_rss_bytes,
        disk_bytes: cluster.disk_bytes(),
    })
}

/// The first line of `binary --version`.
fn version(binary: &std::path::Path) -> String {
    let output = std::process::Command::new(binary).arg("--version").output();
    let text = output.map(|output| String::from_utf8_lossy(&output.stdout).into_owned());
    let line = text
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    format!("{} ({line})", binary.display())
}
