//! Checker speed: checking must never be what limits how many seeds we run.
//!
//! Histories are generated deterministically from a correct simulated system (see
//! `detcd_checker::generate`), so every run measures the same work.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use detcd_checker::budget::{Budget, Meter};
use detcd_checker::etcd::EtcdHistory;
use detcd_checker::generate::{self, Shape, Workload};
use detcd_checker::model::kv::KvModel;
use detcd_checker::model::register::RegisterModel;
use detcd_checker::revision::{self, RevisionOutcome};
use detcd_checker::{Verdict, check_etcd, check_operations, etcd};

/// A Jepsen-style register history: 5 processes, ~90 operations, many with unknown outcomes.
fn register_jepsen(c: &mut Criterion) {
    let shape = Shape {
        clients: 5,
        operations: 110,
        unknown_percent: 20,
    };
    let operations = generate::register_history(1, shape);
    let open = operations
        .iter()
        .filter(|operation| operation.is_open())
        .count();
    let report = check_operations(&RegisterModel, &operations, Budget::default());
    assert_eq!(report.verdict, Verdict::Linearizable);
    println!(
        "register history: {} operations, {open} with unknown outcome",
        operations.len()
    );
    c.bench_function("checker/register_5proc_jepsen", |b| {
        b.iter(|| check_operations(&RegisterModel, black_box(&operations), Budget::default()))
    });
}

/// A kv history: 50 clients, 2,000 operations over 10 keys; every key must be decided.
fn kv_50_clients(c: &mut Criterion) {
    let shape = Shape {
        clients: 50,
        operations: 2_000,
        unknown_percent: 5,
    };
    let operations = generate::kv_history(2, shape, 10);
    let report = check_operations(&KvModel, &operations, Budget::default());
    assert_eq!(
        (report.verdict, report.partitions_decided),
        (Verdict::Linearizable, 10)
    );
    println!(
        "kv history: {} operations, checked once in {:?}",
        operations.len(),
        report.elapsed
    );
    let mut group = c.benchmark_group("checker");
    group.sample_size(10);
    group.bench_function("kv_50clients_2000ops_10keys", |b| {
        b.iter(|| check_operations(&KvModel, black_box(&operations), Budget::default()))
    });
    group.finish();
}

/// An etcd history through the revision-guided pass: 20 clients, 5,000 operations.
fn etcd_revision_pass(c: &mut Criterion) {
    let shape = Shape {
        clients: 20,
        operations: 5_000,
        unknown_percent: 2,
    };
    let operations = generate::etcd_history(3, shape);
    let mut meter = Meter::start(Budget::default());
    assert!(matches!(
        revision::check(&operations, &mut meter),
        RevisionOutcome::Linearizable { .. }
    ));
    let mut group = c.benchmark_group("checker");
    group.sample_size(10);
    group.bench_function("etcd_revision_pass_20clients_5000ops", |b| {
        b.iter(|| revision::check(black_box(&operations), &mut Meter::start(Budget::default())))
    });
    group.finish();
}

/// A mid-size etcd history through the revision-guided pass alone: 100,000 operations from 64
/// clients on two keys, where every write contends.
fn etcd_revision_pass_large(c: &mut Criterion) {
    let shape = Shape {
        clients: 64,
        operations: 100_000,
        unknown_percent: 2,
    };
    let operations = generate::etcd_history(4, shape);
    let mut group = c.benchmark_group("checker");
    group.sample_size(10);
    group.bench_function("etcd_revision_pass_64clients_100000ops", |b| {
        b.iter(|| {
            let outcome =
                revision::check(black_box(&operations), &mut Meter::start(Budget::default()));
            assert!(matches!(outcome, RevisionOutcome::Linearizable { .. }));
        })
    });
    group.finish();
}

/// The target scale: a history of 1,000,000 operations from 64 clients, checked whole
/// (revision pass, watches and leases) in under 10 seconds. The workload is the simulator's
/// mix on 32 keys: puts (some on leases, some asking for the previous key), gets, ranges over
/// a prefix or every key, deletes of one key or a few, compare-and-swap transactions (some
/// fail), lease grants, keep-alives and revokes, and watches; 2% of requests time out (their
/// outcome is unknown), 1% are refused, and a fifth of reads are serializable (the checker
/// leaves those and the refused out).
fn etcd_million(c: &mut Criterion) {
    // Ten checks, one per sample (criterion may say it wants longer; it still takes ten): about
    // a minute and a half with the setup, which is made only when this benchmark is selected.
    let mut group = c.benchmark_group("checker");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(40));
    let mut history = None;
    group.bench_function("etcd_check_64clients_1000000ops", |b| {
        let history = history.get_or_insert_with(million_operations);
        b.iter(|| check_etcd(black_box(history), Budget::default()))
    });
    group.finish();
}

/// The million-operation history, checked once (it must be linearizable, with every watch and
/// lease guarantee kept), with what it holds.
fn million_operations() -> EtcdHistory {
    let workload = Workload {
        shape: Shape {
            clients: 64,
            operations: 1_000_000,
            unknown_percent: 2,
        },
        keys: 32,
        refused_percent: 1,
        serializable_percent: 20,
    };
    let records = generate::etcd_workload(6, workload);
    let history = etcd::from_records(&records).expect("generated histories are well formed");
    let started = Instant::now();
    let report = check_etcd(&history, Budget::default());
    assert_eq!(
        (report.verdict, report.violations.len()),
        (Verdict::Linearizable, 0),
        "{report}"
    );
    let unknown = history
        .operations
        .iter()
        .filter(|operation| operation.is_open())
        .count();
    let events: usize = history
        .watches
        .iter()
        .flat_map(|watch| &watch.responses)
        .map(|response| response.events.len())
        .sum();
    println!(
        "etcd workload: 1,000,000 operations, {} checked ({unknown} with unknown outcome or \
         server-side lease expiry), {} watches with {events} events; checked once in {:?}",
        history.operations.len(),
        history.watches.len(),
        started.elapsed()
    );
    history
}

criterion_group!(
    benches,
    register_jepsen,
    kv_50_clients,
    etcd_revision_pass,
    etcd_revision_pass_large,
    etcd_million
);
criterion_main!(benches);
