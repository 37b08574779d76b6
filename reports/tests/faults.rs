//! Crashes, pauses and disk stalls show on the crashed, paused or stalled member's lane, for
//! exactly the time the trace says they lasted.

use detcd_core::{Duration, Instant};
use detcd_reports::RunRecord;
use detcd_reports::timeline::{NodeState, Timeline};
use detcd_sim::run::{RunOptions, Simulation};
use detcd_sim::trace::TraceSettings;

// Rule: member 2 crashed from 3 s to 5 s is drawn crashed then; member 3 paused from 6 s to 7 s
// is drawn paused then; member 4's disk stall from 8 s lasts its 500 ms.
#[test]
fn crash_pause_and_stall_spans_match_the_trace() {
    let mut options = RunOptions::scripted(7);
    options.trace = TraceSettings::in_memory();
    let mut simulation = Simulation::new(options);
    let at = |secs: u64| Instant::ZERO + Duration::from_secs(secs);
    simulation.run_until(at(3));
    assert!(simulation.world_mut().crash(2));
    simulation.run_until(at(5));
    assert!(simulation.world_mut().restart(2));
    simulation.run_until(at(6));
    assert!(simulation.world_mut().pause(3, Duration::from_secs(1)));
    simulation.run_until(at(8));
    simulation
        .world_mut()
        .stall_disk(4, Duration::from_millis(500));
    simulation.run_until(at(10));
    let record = RunRecord::from_report(simulation.finish());
    let timeline = Timeline::of(&record);
    let spans_of = |node: u64, state: NodeState| -> Vec<(u64, u64)> {
        timeline.nodes[node as usize - 1]
            .spans
            .iter()
            .filter(|span| span.state == state)
            .map(|span| (span.start.as_millis(), span.end.as_millis()))
            .collect()
    };
    assert_eq!(spans_of(2, NodeState::Crashed), [(3_000, 5_000)]);
    assert_eq!(spans_of(3, NodeState::Paused), [(6_000, 7_000)]);
    let stalls: Vec<(u64, u64)> = timeline.nodes[3]
        .disk_stalls
        .iter()
        .map(|(start, end)| (start.as_millis(), end.as_millis()))
        .collect();
    assert_eq!(stalls, [(8_000, 8_500)]);
    let lines = detcd_reports::explain(&record);
    assert!(lines.iter().any(|line| line.contains("member 2 CRASHES")));
    assert!(lines.iter().any(|line| line.contains("member 3 PAUSES")));
}
