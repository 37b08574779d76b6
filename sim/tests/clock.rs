//! Clocks: a node's timer deadline is in its own local time, so drift and steps move the true
//! time at which it fires.

mod common;

use common::{Command, command, fixed_options, probe, probe_world};
use detcd_core::{Duration, Instant};
use detcd_sim::{SimOptions, TraceKind, TraceSettings};

// Rule: a clock running 10% fast reaches local 1000 ms at true 909.09.. ms, and the timer fires
// then (the first nanosecond its local clock has reached the deadline), not at true 1000 ms.
#[test]
fn drift_makes_timers_fire_at_the_drifted_true_time() {
    let mut world = probe_world(fixed_options(), &[1]);
    world.set_trace(TraceSettings::in_memory());
    world.set_clock_drift(1, 100_000);
    command(&mut world, 1, Command::WakeAt(Instant::from_millis(1000)));
    world.run_for(Duration::from_millis(2000));
    let fired: Vec<(Instant, Instant)> = world
        .trace_events()
        .iter()
        .filter_map(|event| match event.kind {
            TraceKind::Timeout { local, .. } => Some((event.time, local)),
            _ => None,
        })
        .collect();
    let expected_true = Instant::from_nanos(909_090_910); // ceil(1e9 / 1.1)
    assert_eq!(fired, [(expected_true, Instant::from_nanos(1_000_000_001))]);
    assert_eq!(
        probe(&world, 1).timer_fires(),
        [Instant::from_nanos(1_000_000_001)]
    );
}

// Rule: stepping a clock forward past a pending deadline fires the timer at once; the drawn
// per-node drift (clock_drift_ppm_max) makes local time differ from true time.
#[test]
fn clock_step_fires_due_timers_now() {
    let mut world = probe_world(fixed_options(), &[1]);
    command(&mut world, 1, Command::WakeAt(Instant::from_millis(1000)));
    world.run_until(Instant::from_millis(100));
    world.step_clock(1, Duration::from_millis(950));
    assert_eq!(world.local_time(1), Instant::from_millis(1050));
    world.run_until(Instant::from_millis(100));
    assert_eq!(probe(&world, 1).timer_fires(), [Instant::from_millis(1050)]);

    let drifting = probe_world(
        SimOptions {
            clock_drift_ppm_max: 50_000,
            ..fixed_options()
        },
        &[1, 2, 3],
    );
    let mut drifting = drifting;
    drifting.run_until(Instant::from_millis(1000));
    let locals: Vec<Instant> = [1, 2, 3].map(|node| drifting.local_time(node)).to_vec();
    assert!(
        locals
            .iter()
            .any(|&local| local != Instant::from_millis(1000)),
        "no node drifted: {locals:?}"
    );
    assert!(
        locals
            .iter()
            .all(|&local| local.as_millis().abs_diff(1000) <= 50)
    );
}
