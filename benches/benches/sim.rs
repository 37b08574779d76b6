//! The simulator engine's throughput: five ping machines on a healthy 1–10 ms network, no
//! faults, no trace. Reports delivered peer messages per wall-clock second; the engine target is
//! at least 3,000,000 on one core.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use detcd_sim::ping::{PingConfig, PingMachine};
use detcd_sim::{Boot, SimOptions, TraceSettings, World};

const NODES: [u64; 5] = [1, 2, 3, 4, 5];
/// Deliveries per measured iteration: large enough that building the world is noise.
const DELIVERIES_PER_ITERATION: u64 = 200_000;
/// Pings each node keeps in flight; 5 × 16 messages on the wire keeps the queue realistic.
const PINGS_IN_FLIGHT: usize = 16;

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

    // The headline figure in the unit the engine is judged by, measured once more plainly.
    let deliveries = 5_000_000;
    let started = std::time::Instant::now();
    let delivered = run_pings(11, deliveries);
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "sim engine: {:.0} delivered messages per wall second ({delivered} in {seconds:.3} s)",
        delivered as f64 / seconds
    );
}

criterion_group!(benches, engine_throughput);
criterion_main!(benches);
