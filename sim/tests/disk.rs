//! The disk: what was reported durable survives a crash, nothing else does (except a torn
//! prefix), and storage errors stop the node.

mod common;

use common::{Command, Seen, command, durable_indexes, fixed_options, probe, probe_world};
use detcd_core::{Duration, Instant, NodeId};
use detcd_sim::{NodeStatus, SimOptions, StorageFailure};

const NODES: [NodeId; 1] = [1];

// Rule: batches reported durable survive a crash and are what the restarted machine boots from;
// batches written but not yet durable are lost.
#[test]
fn crash_keeps_durable_writes_and_loses_the_rest() {
    let mut world = probe_world(fixed_options(), &NODES);
    command(&mut world, 1, Command::Persist { entries: 2 }); // written at 1 ms, durable at 6 ms
    world.run_until(Instant::from_millis(6));
    assert_eq!(
        probe(&world, 1).seen.last(),
        Some(&Seen::Persisted {
            now: Instant::from_millis(6),
            through: 2
        })
    );
    command(&mut world, 1, Command::Persist { entries: 3 }); // written at 7 ms, durable at 12 ms
    world.run_until(Instant::from_millis(11));
    world.crash(1);
    assert_eq!(durable_indexes(world.durable_state(1)), [1, 2]);
    world.restart(1);
    let booted = &probe(&world, 1).boot.persisted;
    assert_eq!(
        durable_indexes(booted),
        [1, 2],
        "a restart boots from the disk"
    );
    world.run_for(Duration::from_millis(50));
    assert!(
        !probe(&world, 1)
            .seen
            .iter()
            .any(|seen| matches!(seen, Seen::Persisted { .. })),
        "a lost write was reported"
    );
}

// Rule: with torn writes on, a crash leaves a strict prefix of the write in progress durable,
// never reported to the machine.
#[test]
fn torn_write_keeps_a_strict_prefix() {
    let mut world = probe_world(
        SimOptions {
            torn_write_probability: 1.0,
            ..fixed_options()
        },
        &NODES,
    );
    command(&mut world, 1, Command::Persist { entries: 8 });
    world.run_until(Instant::from_millis(3));
    world.crash(1);
    let kept = durable_indexes(world.durable_state(1));
    assert!(kept.len() < 8, "a torn write kept everything");
    assert_eq!(
        kept,
        (1..=kept.len() as u64).collect::<Vec<_>>(),
        "a torn write keeps a prefix"
    );
}

// Rule: a stalled disk completes nothing until the stall ends, then completes in order.
#[test]
fn stalled_disk_completes_after_the_stall() {
    let mut world = probe_world(fixed_options(), &NODES);
    world.stall_disk(1, Duration::from_millis(100));
    command(&mut world, 1, Command::Persist { entries: 1 });
    command(&mut world, 1, Command::Persist { entries: 1 });
    world.run_for(Duration::from_millis(200));
    let completions: Vec<&Seen> = probe(&world, 1)
        .seen
        .iter()
        .filter(|seen| matches!(seen, Seen::Persisted { .. }))
        .collect();
    assert_eq!(
        completions,
        [
            &Seen::Persisted {
                now: Instant::from_millis(105),
                through: 1
            },
            &Seen::Persisted {
                now: Instant::from_millis(110),
                through: 2
            },
        ]
    );
}

// Rule: a failed fsync and a full disk stop the node (the failing write is not durable), and a
// corrupted disk stops the node when it boots.
#[test]
fn storage_errors_stop_the_node() {
    let mut world = probe_world(fixed_options(), &NODES);
    world.inject_fsync_error(1);
    command(&mut world, 1, Command::Persist { entries: 1 });
    world.run_for(Duration::from_millis(20));
    assert_eq!(
        world.status(1),
        NodeStatus::Stopped(StorageFailure::FsyncError)
    );
    assert!(world.node(1).is_none());
    assert!(world.durable_state(1).entries.is_empty());

    assert!(world.restart(1));
    world.fill_disk(1, true);
    command(&mut world, 1, Command::Persist { entries: 1 });
    world.run_for(Duration::from_millis(20));
    assert_eq!(
        world.status(1),
        NodeStatus::Stopped(StorageFailure::NoSpace)
    );

    world.fill_disk(1, false);
    world.corrupt_disk(1);
    world.restart(1);
    assert_eq!(
        world.status(1),
        NodeStatus::Stopped(StorageFailure::Corruption)
    );
    assert!(world.node(1).is_none());
}

// Rule: random corruption at restart never keeps more disks down for good than `crashed_max`
// allows, so the cluster can always serve again once faults stop (here a lone node, which
// must not be lost to a corruption after its fsync failed).
#[test]
fn random_corruption_stays_within_crashed_max() {
    let mut world = probe_world(
        SimOptions {
            corruption_probability: 1.0,
            crashed_max: 0,
            ..fixed_options()
        },
        &NODES,
    );
    world.crash(1);
    world.restart(1);
    assert_eq!(world.status(1), NodeStatus::Running);

    let mut world = probe_world(
        SimOptions {
            corruption_probability: 1.0,
            crashed_max: 1,
            ..fixed_options()
        },
        &NODES,
    );
    world.crash(1);
    world.restart(1);
    assert_eq!(
        world.status(1),
        NodeStatus::Stopped(StorageFailure::Corruption)
    );
}
