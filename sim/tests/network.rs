//! The network: partitions cut exactly the named directed links, and loss, duplication and
//! clogging do what their knobs say.

mod common;

use common::{Command, ProbeWorld, command, fixed_options, probe, probe_world};
use detcd_core::{Duration, Instant, NodeId};
use detcd_sim::{DropReason, Partition, SimOptions, TraceKind, TraceSettings};

const NODES: [NodeId; 3] = [1, 2, 3];

/// Every node sends one message to every other node, tagged `from * 10 + to`.
fn all_to_all(world: &mut ProbeWorld) {
    for from in NODES {
        for to in NODES.into_iter().filter(|&to| to != from) {
            command(
                world,
                from,
                Command::Send {
                    to,
                    tag: from * 10 + to,
                },
            );
        }
    }
}

fn received_tags(world: &ProbeWorld, node: NodeId) -> Vec<u64> {
    probe(world, node)
        .messages()
        .into_iter()
        .map(|(_, _, tag)| tag)
        .collect()
}

// Rule: a one-way partition drops exactly the cut directed link; every other link, including
// the reverse direction, still delivers.
#[test]
fn partition_drops_exactly_the_cut_links() {
    let mut world = probe_world(fixed_options(), &NODES);
    world.set_partition(Partition::one_way(1, 2));
    all_to_all(&mut world);
    world.run_for(Duration::from_millis(50));
    assert_eq!(received_tags(&world, 1), [21, 31]);
    assert_eq!(
        received_tags(&world, 2),
        [32],
        "1 -> 2 is cut, 3 -> 2 is not"
    );
    assert_eq!(received_tags(&world, 3), [13, 23]);

    world.heal();
    all_to_all(&mut world);
    world.run_for(Duration::from_millis(50));
    assert_eq!(
        received_tags(&world, 2),
        [32, 12, 32],
        "healed: 1 -> 2 delivers again"
    );
}

// Rule: a message already on the wire when its link is cut is dropped when it arrives.
#[test]
fn partition_swallows_messages_in_flight() {
    let mut world = probe_world(fixed_options(), &NODES);
    world.set_trace(TraceSettings::in_memory());
    command(&mut world, 1, Command::Send { to: 2, tag: 12 });
    world.run_for(Duration::from_millis(3)); // sent at 1 ms, due at 6 ms
    world.set_partition(Partition::isolate(2, &NODES));
    world.run_for(Duration::from_millis(20));
    assert!(received_tags(&world, 2).is_empty());
    let dropped = world.trace_events().iter().any(|event| {
        matches!(
            event.kind,
            TraceKind::Drop {
                from: 1,
                to: 2,
                reason: DropReason::Partitioned,
                ..
            }
        ) && event.time == Instant::from_millis(6)
    });
    assert!(
        dropped,
        "the in-flight message is dropped at arrival, as a partition drop"
    );
}

// Rule: loss 1 drops everything, duplication 1 delivers every message twice.
#[test]
fn loss_and_duplication_follow_their_probabilities() {
    let mut lossy = probe_world(
        SimOptions {
            loss_probability: 1.0,
            ..fixed_options()
        },
        &NODES,
    );
    all_to_all(&mut lossy);
    lossy.run_for(Duration::from_millis(50));
    assert!(
        NODES
            .iter()
            .all(|&node| received_tags(&lossy, node).is_empty())
    );
    assert_eq!(lossy.stats().messages_dropped, 6);

    let doubling = SimOptions {
        duplicate_probability: 1.0,
        latency_ms_max: 9,
        ..fixed_options()
    };
    let mut doubled = probe_world(doubling, &NODES);
    all_to_all(&mut doubled);
    doubled.run_for(Duration::from_millis(50));
    assert_eq!(doubled.stats().messages_delivered, 12);
    let mut tags = received_tags(&doubled, 3);
    tags.sort_unstable();
    assert_eq!(tags, [13, 13, 23, 23]);
}

// Rule: a clogged link holds its messages until the clog ends and then delivers them; other
// links are unaffected.
#[test]
fn clogged_link_delivers_when_the_clog_ends() {
    let mut world = probe_world(fixed_options(), &NODES);
    world.clog_link(1, 2, Duration::from_millis(100));
    command(&mut world, 1, Command::Send { to: 2, tag: 12 });
    command(&mut world, 1, Command::Send { to: 3, tag: 13 });
    world.run_for(Duration::from_millis(200));
    assert_eq!(
        probe(&world, 2).messages(),
        [(Instant::from_millis(100), 1, 12)]
    );
    assert_eq!(
        probe(&world, 3).messages(),
        [(Instant::from_millis(6), 1, 13)]
    );
}

// Rule: with reordering off, messages on one link arrive in the order they were sent, even with
// a wide latency range; with it on, the same seed reorders some.
#[test]
fn reordering_is_tunable() {
    let arrival_order = |reorder_probability: f64| {
        let options = SimOptions {
            latency_ms_min: 1,
            latency_ms_max: 50,
            reorder_probability,
            ..fixed_options()
        };
        let mut world = probe_world(options, &NODES);
        for tag in 0..50 {
            command(&mut world, 1, Command::Send { to: 2, tag });
        }
        world.run_for(Duration::from_millis(100));
        received_tags(&world, 2)
    };
    assert_eq!(arrival_order(0.0), (0..50).collect::<Vec<_>>());
    let jittered = arrival_order(1.0);
    assert_eq!(jittered.len(), 50);
    assert!(
        jittered.windows(2).any(|pair| pair[0] > pair[1]),
        "independent jitter reorders"
    );
}
