//! Crashes, pauses and disk stalls show on the crashed, paused or stalled member's lane, for
//! exactly the time the trace says they lasted.

use detcd_core::Duration;
use detcd_reports::timeline::{NodeState, Timeline};
use detcd_sim::SimOptions;
use detcd_sim::run::{RunOptions, Script};
use detcd_sim::trace::TraceSettings;
use detcd_sim::workload::WorkloadOptions;

// Rule: member 2 crashed from 3 s to 5 s is drawn crashed then; member 3 paused from 6 s to 7 s
// is drawn paused then; member 4's disk stall from 8 s lasts its 500 ms.
#[test]
fn crash_pause_and_stall_spans_match_the_trace() {
    let at = |seconds: u64, action: Script| (Duration::from_secs(seconds), action);
    let script: Vec<(Duration, Script)> = vec![
        at(3, Box::new(|world| assert!(world.crash(2)))),
        at(5, Box::new(|world| assert!(world.restart(2)))),
        at(
            6,
            Box::new(|world| assert!(world.pause(3, Duration::from_secs(1)))),
        ),
        at(
            8,
            Box::new(|world| world.stall_disk(4, Duration::from_millis(500))),
        ),
    ];
    let record = detcd_reports::record(RunOptions {
        seed: 7,
        sim: SimOptions::default(),
        workload: WorkloadOptions::default(),
        fault_phase: Duration::from_secs(10),
        recovery_bound: Duration::from_secs(30),
        script,
        trace: TraceSettings::hash_only(),
    });
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
