//! The liveness phase is fair: once every fault heals, the cluster is asked to serve again only
//! after nothing stands in its way any more. No fault of any kind is injected after the heal
//! (random fsync errors and corruption included, and a scripted fsync error still armed is
//! disarmed; no message is lost, duplicated or reordered), a disk stall in progress ends, and a
//! member stopped by a storage failure is restarted, as an operator would; only then does the
//! recovery bound start.

use detcd_core::{Duration, Instant, NodeId};
use detcd_sim::cluster::ClusterEvent;
use detcd_sim::run::{RunOptions, RunReport, Simulation};
use detcd_sim::{NodeStatus, SimOptions, StorageFailure};

const RECOVERY_BOUND: Duration = Duration::from_secs(5);

/// A scripted run of `node_count` members with `sim`'s disk knobs, no random fault schedule, a
/// five-second fault phase and a five-second recovery bound.
fn options(seed: u64, sim: SimOptions) -> RunOptions {
    let mut options = RunOptions::scripted(seed);
    options.sim = sim;
    options.fault_phase = Duration::from_secs(5);
    options.recovery_bound = RECOVERY_BOUND;
    options
}

fn lone_member(sim: SimOptions) -> SimOptions {
    SimOptions {
        node_count: 1,
        ..sim
    }
}

/// Run the rest of the fault phase, then heal and finish.
fn finish(mut simulation: Simulation) -> RunReport {
    simulation.run_until(simulation.fault_phase_end());
    simulation.finish()
}

/// Whether `node` ran again after the heal (the observer saw it take a role).
fn ran_after_heal(report: &RunReport, node: NodeId) -> bool {
    report.events.iter().any(|(at, event)| {
        *at >= report.fault_phase_end
            && matches!(event, ClusterEvent::RoleChanged { node: seen, .. } if *seen == node)
    })
}

/// The healed cluster served a write and a read, within the bound counted from the heal.
fn assert_recovered(report: &RunReport) {
    let took = report
        .recovery
        .unwrap_or_else(|| panic!("no recovery within the bound: {report}"));
    assert!(took <= RECOVERY_BOUND);
    assert!(report.safety.is_none(), "{report}");
}

// Rule: no random fsync error is injected after the heal. Every fsync fails here, so the lone
// member is stopped during the fault phase; the heal restarts it, and its fsyncs from then on
// succeed (before the rule, the first one failed and stopped it for good).
#[test]
fn no_random_fsync_error_after_the_heal() {
    let sim = lone_member(SimOptions {
        fsync_error_probability: 1.0,
        ..SimOptions::default()
    });
    let mut simulation = Simulation::new(options(1, sim));
    simulation.run_until(Instant::from_millis(4_000));
    assert_eq!(
        simulation.world().status(1),
        NodeStatus::Stopped(StorageFailure::FsyncError)
    );
    let report = finish(simulation);
    assert_recovered(&report);
    assert!(ran_after_heal(&report, 1));
}

// Rule: a scripted fsync error still armed at the heal is disarmed with every other fault: it
// would stop the lone member at its first fsync of the liveness phase.
#[test]
fn an_armed_fsync_error_is_disarmed_at_the_heal() {
    let mut simulation = Simulation::new(options(2, lone_member(SimOptions::default())));
    // Stall the disk so that no fsync completes (and uses the error up) before the heal.
    simulation.run_until(Instant::from_millis(1_000));
    simulation
        .world_mut()
        .stall_disk(1, Duration::from_secs(60));
    simulation.world_mut().inject_fsync_error(1);
    let report = finish(simulation);
    assert_recovered(&report);
}

// Rule: no random corruption is injected after the heal. The restart the heal gives a crashed
// member reads its disk intact, though corruption is certain at any restart before it.
#[test]
fn no_random_corruption_after_the_heal() {
    let sim = lone_member(SimOptions {
        corruption_probability: 1.0,
        crashed_max: 1,
        ..SimOptions::default()
    });
    let mut simulation = Simulation::new(options(3, sim));
    simulation.run_until(Instant::from_millis(1_000));
    assert!(simulation.world_mut().crash(1));
    let report = finish(simulation);
    assert_recovered(&report);
    assert!(ran_after_heal(&report, 1));
}

// Rule: a disk stall in progress ends at the heal. The lone member's disk stalls for an hour
// just before the heal, holding back the clients' writes; the heal ends the stall, what it held
// back completes, and the member serves well within the bound (before the rule, the writes
// queued behind the stall kept every later one waiting for the hour).
#[test]
fn a_stall_in_progress_ends_at_the_heal() {
    let mut simulation = Simulation::new(options(4, lone_member(SimOptions::default())));
    simulation.run_until(Instant::from_millis(3_000));
    simulation
        .world_mut()
        .stall_disk(1, Duration::from_secs(3_600));
    let report = finish(simulation);
    assert_recovered(&report);
    assert!(report.workload.ok > 0, "{report}");
}

// Rule: a member stopped by a storage failure (a failed fsync, a full disk) is restarted at
// the heal, as an operator would. Two of three members stop here, which leaves no quorum until
// both come back.
#[test]
fn members_stopped_by_storage_failures_restart_at_the_heal() {
    let sim = SimOptions {
        node_count: 3,
        ..SimOptions::default()
    };
    let mut simulation = Simulation::new(options(5, sim));
    simulation.run_until(Instant::from_millis(1_000));
    simulation.world_mut().inject_fsync_error(1);
    simulation.world_mut().fill_disk(2, true);
    simulation.run_until(Instant::from_millis(2_000));
    assert_eq!(
        simulation.world().status(1),
        NodeStatus::Stopped(StorageFailure::FsyncError)
    );
    assert_eq!(
        simulation.world().status(2),
        NodeStatus::Stopped(StorageFailure::NoSpace)
    );
    let report = finish(simulation);
    assert_recovered(&report);
    assert!(ran_after_heal(&report, 1) && ran_after_heal(&report, 2));
}

// Rule: no message is lost after the heal. Every message is lost during the fault phase, so
// three members never elect a leader; once the network heals they must (before the rule, the
// loss went on and no leader was ever elected).
#[test]
fn no_message_loss_after_the_heal() {
    let sim = SimOptions {
        node_count: 3,
        loss_probability: 1.0,
        ..SimOptions::default()
    };
    let report = finish(Simulation::new(options(1, sim)));
    assert!(
        report.events.iter().all(|(at, event)| {
            *at >= report.fault_phase_end || !matches!(event, ClusterEvent::Elected { .. })
        }),
        "no leader while every message is lost: {report}"
    );
    assert_recovered(&report);
}
