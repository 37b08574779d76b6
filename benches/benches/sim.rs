//! The simulator's speed, in two units.
//!
//! - `sim/ping_5_nodes_delivered_messages`: the bare engine. Five ping machines on a healthy
//!   1–10 ms network, no faults, no trace; delivered peer messages per wall second (the engine
//!   target is at least 3,000,000 on one core).
//! - `swarm_5_members_16_clients/*`: a detcd cluster as the issue states the target, "a 5-node
//!   cluster with 16 clients under swarm faults: at least 1,000 simulated seconds per wall
//!   second". Each seed's options come from `RunOptions::swarm(seed)` with `node_count = 5`
//!   (through `SimOptions::with_node_count`, which scales the crash bounds with it) and
//!   `clients = 16` fixed; the rest is drawn: the swarm profile, faults, rates, workload mix.
//!   Criterion's throughput is simulated seconds, so its "elem/s" reads as simulated seconds per
//!   wall second.
//!   - `simulation`: the fault phase only (30 simulated seconds): the world, the detcd nodes, the
//!     clients and the per-step safety observer, exactly as `run` drives them, with the trace
//!     hash on as in every swarm run. No history check.
//!   - `run`: `detcd_sim::run::run` whole: the fault phase, the liveness phase and the history
//!     check. The difference between the two is (nearly all) the checker.
//!
//! After criterion, the same two figures are printed plainly over a wider set of seeds, since
//! swarm seeds differ a lot in cost (a seed with many clients, short think times and no faults
//! does the most work per simulated second), per wall second and, on Linux, per CPU second of
//! the benchmark's thread (the machine may be shared).
//!
//! Run: `cargo bench -p detcd-benches --bench sim`.

use std::hint::black_box;
use std::time::Instant as WallInstant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use detcd_benches::{cpu_seconds, profiling};
use detcd_core::kv::{KvConfig, KvStore};
use detcd_core::{Instant, NodeConfig, NodeId};
use detcd_sim::cluster::{NodeHost, Observer, bootstrap_cluster};
use detcd_sim::ping::{PingConfig, PingMachine};
use detcd_sim::run::{RunOptions, run};
use detcd_sim::workload::Workload;
use detcd_sim::{Boot, SimOptions, TraceSettings, World};

/// The allocator of the `detcd-sim` binary, so that the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NODES: [u64; 5] = [1, 2, 3, 4, 5];
/// Deliveries per measured iteration: large enough that building the world is noise.
const DELIVERIES_PER_ITERATION: u64 = 200_000;
/// Pings each node keeps in flight; 5 × 16 messages on the wire keeps the queue realistic.
const PINGS_IN_FLIGHT: usize = 16;

/// The cluster of the target.
const MEMBERS: usize = 5;
const CLIENTS: usize = 16;
/// Seeds of one measured iteration (criterion), and of the plain figure printed after it.
const SEEDS_MEASURED: std::ops::RangeInclusive<u64> = 1..=8;
const SEEDS_PRINTED: std::ops::RangeInclusive<u64> = 1..=40;

fn ping_world(seed: u64) -> World<impl FnMut(Boot) -> PingMachine> {
    let options = SimOptions {
        node_count: NODES.len(),
        latency_ms_min: 1,
        latency_ms_max: 10,
        ..SimOptions::default()
    };
    let config = PingConfig {
        window: PINGS_IN_FLIGHT,
        ..PingConfig::new(&NODES)
    };
    let host = move |boot: Boot| PingMachine::new(&boot, config.clone());
    let mut world = World::new(seed, options, host, &NODES);
    world.set_trace(TraceSettings::off());
    world
}

/// Run a fresh world until it has delivered `deliveries` messages; returns how many it did.
fn run_pings(seed: u64, deliveries: u64) -> u64 {
    let mut world = ping_world(seed);
    while world.stats().messages_delivered < deliveries {
        assert!(world.step(), "the ping world never runs out of events");
    }
    world.stats().messages_delivered
}

fn engine_throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("sim");
    group.throughput(Throughput::Elements(DELIVERIES_PER_ITERATION));
    group.sample_size(20);
    group.bench_function("ping_5_nodes_delivered_messages", |b| {
        b.iter(|| black_box(run_pings(black_box(7), DELIVERIES_PER_ITERATION)))
    });
    group.finish();
    if profiling() {
        return;
    }

    // The headline figure in the unit the engine is judged by, measured once more plainly.
    let deliveries = 5_000_000;
    let started = WallInstant::now();
    let delivered = run_pings(11, deliveries);
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "sim engine: {:.0} delivered messages per wall second ({delivered} in {seconds:.3} s)",
        delivered as f64 / seconds
    );
}

/// The swarm options of `seed` on the cluster: 5 members, 16 clients.
fn swarm_options(seed: u64) -> RunOptions {
    let mut options = RunOptions::swarm(seed);
    options.sim = options.sim.with_node_count(MEMBERS);
    options.workload.clients = CLIENTS;
    options
}

/// The fault phase of `run` without the history check: the world, the nodes, the clients and the
/// observer after every step. Returns the simulated seconds covered.
fn simulate(options: RunOptions) -> f64 {
    let ids: Vec<NodeId> = (1..=options.sim.node_count as NodeId).collect();
    let host = NodeHost {
        config: Box::new(NodeConfig::new),
        state: Box::new(|| KvStore::new(KvConfig::default())),
    };
    let mut world = World::new(options.seed, options.sim, host, &ids);
    world.set_trace(options.trace);
    bootstrap_cluster(&mut world);
    let mut observer = Observer::default();
    let mut workload = Workload::new(options.seed, options.workload, &ids);
    let end = Instant::ZERO + options.fault_phase;
    while world.now() < end && observer.violation().is_none() {
        let until = workload.next_wakeup().min(end);
        world.run_until_observed(until, |world| {
            observer.observe(world);
            observer.violation().is_none() && !world.has_responses()
        });
        for response in world.drain_responses() {
            workload.receive(&response);
        }
        for send in workload.act(world.now()) {
            world.send_request(send.node, send.client, send.request, send.body);
        }
    }
    assert!(
        observer.violation().is_none(),
        "seed {}: {:?}",
        options.seed,
        observer.violation()
    );
    (world.now() - Instant::ZERO).as_secs_f64()
}

/// A whole run; returns the simulated seconds it covered (fault and liveness phases).
fn run_whole(options: RunOptions) -> f64 {
    let report = run(options);
    (report.fault_phase_end - Instant::ZERO).as_secs_f64()
        + report.recovery.map_or(0.0, |took| took.as_secs_f64())
}

fn swarm_throughput(c: &mut Criterion) {
    let fault_phase_secs = RunOptions::swarm(0).fault_phase.as_secs();
    let seeds = SEEDS_MEASURED.count() as u64;
    let mut group = c.benchmark_group("swarm_5_members_16_clients");
    group.throughput(Throughput::Elements(seeds * fault_phase_secs));
    group.sample_size(10);
    group.bench_function("simulation", |b| {
        b.iter(|| {
            SEEDS_MEASURED
                .map(|seed| simulate(swarm_options(black_box(seed))))
                .sum::<f64>()
        })
    });
    group.bench_function("run", |b| {
        b.iter(|| {
            SEEDS_MEASURED
                .map(|seed| run_whole(swarm_options(black_box(seed))))
                .sum::<f64>()
        })
    });
    group.finish();
    if profiling() {
        return;
    }

    for (name, one) in [
        ("simulation", simulate as fn(RunOptions) -> f64),
        ("run", run_whole),
    ] {
        let mut simulated = 0.0;
        let mut slowest = (0.0, 0);
        let started = WallInstant::now();
        let cpu_started = cpu_seconds();
        for seed in SEEDS_PRINTED {
            let seed_started = WallInstant::now();
            let seconds = one(swarm_options(seed));
            let ratio = seconds / seed_started.elapsed().as_secs_f64();
            simulated += seconds;
            if slowest.1 == 0 || ratio < slowest.0 {
                slowest = (ratio, seed);
            }
        }
        let wall = started.elapsed().as_secs_f64();
        let per_cpu_second = match (cpu_started, cpu_seconds()) {
            (Some(from), Some(to)) => format!(", {:.0} per CPU second", simulated / (to - from)),
            _ => String::new(),
        };
        println!(
            "swarm {name}: {:.0} simulated seconds per wall second{per_cpu_second} over seeds \
             {SEEDS_PRINTED:?} ({simulated:.0} s in {wall:.2} s; slowest seed {} at {:.0})",
            simulated / wall,
            slowest.1,
            slowest.0
        );
    }
}

criterion_group!(benches, engine_throughput, swarm_throughput);
criterion_main!(benches);
