//! One seed reproduces one run, and the engine processes events in time order.

use detcd_core::{Duration, Instant};
use detcd_sim::ping::{PingConfig, PingMachine};
use detcd_sim::{Boot, FaultWeights, SimOptions, TraceKind, TraceSettings, World};

const NODES: [u64; 5] = [1, 2, 3, 4, 5];

/// A faulty swarm-style world: every fault kind on, a lossy, duplicating network, drifting clocks,
/// persisted pongs, torn writes and fsync errors.
fn faulty_world(seed: u64, trace: TraceSettings) -> World<impl FnMut(Boot) -> PingMachine> {
    let options = SimOptions {
        loss_probability: 0.05,
        duplicate_probability: 0.05,
        reorder_probability: 0.5,
        torn_write_probability: 0.5,
        fsync_error_probability: 0.001,
        clock_drift_ppm_max: 5_000,
        fault_interval_ms_mean: 200,
        fault_weights: FaultWeights {
            crash: 2,
            pause: 2,
            partition: 2,
            clog: 1,
            disk_stall: 1,
            clock_step: 1,
            crash_group: 1,
            close_clients: 1,
        },
        clock_step_ms_max: 300,
        ..SimOptions::default()
    };
    let config = PingConfig {
        persist_pongs: true,
        window: 16,
        ..PingConfig::new(&NODES)
    };
    let mut world = World::new(
        seed,
        options,
        move |boot: Boot| PingMachine::new(&boot, config.clone()),
        &NODES,
    );
    world.set_trace(trace);
    world
}

fn run_hash(seed: u64) -> (u64, u64) {
    let mut world = faulty_world(seed, TraceSettings::hash_only());
    world.run_until(Instant::from_millis(5_000));
    (world.trace_hash(), world.trace_len())
}

// Rule: the same seed gives the identical trace (hash and length), faults and all.
#[test]
fn same_seed_same_trace_hash() {
    for seed in [1, 2, 99] {
        let (first, length) = run_hash(seed);
        assert!(
            length > 5_000,
            "the run did too little to prove anything: {length} events"
        );
        assert_eq!(run_hash(seed), (first, length), "seed {seed} diverged");
    }
}

// Rule: different seeds give different runs (the seed reaches the network, disks and faults).
#[test]
fn different_seeds_different_hashes() {
    let hashes: std::collections::BTreeSet<u64> = (10..20).map(|seed| run_hash(seed).0).collect();
    assert_eq!(hashes.len(), 10);
}

// Rule: events are processed in time order: `now` never goes backwards across steps, and the
// recorded trace is sorted by time.
#[test]
fn clock_never_goes_backwards() {
    let mut world = faulty_world(5, TraceSettings::in_memory());
    let mut previous = world.now();
    let mut steps = 0;
    while world.now() < Instant::from_millis(6_000) && world.step() {
        assert!(
            world.now() >= previous,
            "time went back from {previous} to {}",
            world.now()
        );
        previous = world.now();
        steps += 1;
    }
    assert!(steps > 1_000);
    let times: Vec<Instant> = world
        .trace_events()
        .iter()
        .map(|event| event.time)
        .collect();
    assert!(
        times.windows(2).all(|pair| pair[0] <= pair[1]),
        "trace out of time order"
    );
    assert_eq!(world.trace_events().len() as u64, world.trace_len());
    let kinds: std::collections::BTreeSet<&str> = world
        .trace_events()
        .iter()
        .map(|event| match event.kind {
            TraceKind::Crash { .. } => "crash",
            TraceKind::Pause { .. } => "pause",
            TraceKind::Partition { .. } => "partition",
            TraceKind::Boot {
                incarnation: 2.., ..
            } => "restart",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds.len(),
        5,
        "the random schedule should have crashed, restarted, paused and partitioned: {kinds:?}"
    );
}

// Rule: the trace written as JSON lines is the trace kept in memory, and tracing off records
// nothing while leaving the run itself unchanged.
#[test]
fn trace_sinks_agree_and_off_changes_nothing() {
    let mut kept = faulty_world(8, TraceSettings::in_memory());
    kept.run_for(Duration::from_millis(500));
    let buffer = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut written = faulty_world(
        8,
        TraceSettings::to_writer(Box::new(SharedBuffer(buffer.clone()))),
    );
    written.run_for(Duration::from_millis(500));
    written.flush_trace().expect("writes to memory succeed");
    let text = String::from_utf8(buffer.borrow().clone()).expect("JSON is UTF-8");
    let expected: Vec<String> = kept
        .trace_events()
        .iter()
        .map(|event| serde_json::to_string(event).expect("encodes"))
        .collect();
    assert_eq!(text.lines().collect::<Vec<_>>(), expected);
    assert_eq!(kept.trace_hash(), written.trace_hash());

    let mut off = faulty_world(8, TraceSettings::off());
    off.run_for(Duration::from_millis(500));
    assert_eq!(off.trace_len(), 0);
    assert_eq!(off.stats(), kept.stats());
}

struct SharedBuffer(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl std::io::Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
