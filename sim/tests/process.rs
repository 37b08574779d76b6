//! Process faults: a crashed node loses what was in flight to it for good, and a paused node gets
//! its inputs, and its timer, late.

mod common;

use common::{Command, Seen, command, fixed_options, probe, probe_world};
use detcd_core::{Duration, Instant, NodeId};
use detcd_sim::{DropReason, NodeStatus, TraceKind, TraceSettings};

const NODES: [NodeId; 2] = [1, 2];

// Rule: a message in flight to a node that crashes is never delivered, not even after the node
// restarts before the message would have arrived (each boot is a new incarnation).
#[test]
fn message_in_flight_to_crashed_node_is_never_delivered() {
    let mut world = probe_world(fixed_options(), &NODES);
    world.set_trace(TraceSettings::in_memory());
    command(&mut world, 1, Command::Send { to: 2, tag: 7 }); // sent at 1 ms, due at 6 ms
    world.run_until(Instant::from_millis(2));
    assert!(world.crash(2));
    assert!(world.node(2).is_none());
    world.run_until(Instant::from_millis(3));
    assert!(world.restart(2));
    assert_eq!(world.incarnation(2), 2);
    world.run_for(Duration::from_millis(50));
    assert!(
        probe(&world, 2).messages().is_empty(),
        "the new incarnation saw an old message"
    );
    let stale_drop = world.trace_events().iter().any(|event| {
        matches!(
            event.kind,
            TraceKind::Drop {
                reason: DropReason::StaleIncarnation,
                ..
            }
        )
    });
    assert!(stale_drop);

    // Messages sent after the restart are delivered as usual.
    command(&mut world, 1, Command::Send { to: 2, tag: 8 });
    world.run_for(Duration::from_millis(50));
    assert_eq!(probe(&world, 2).messages().len(), 1);
}

// Rule: a node that stays down drops what arrives for it; crash and restart report whether they
// changed anything.
#[test]
fn down_node_drops_arrivals() {
    let mut world = probe_world(fixed_options(), &NODES);
    world.crash(2);
    assert!(!world.crash(2), "crashing a crashed node does nothing");
    assert_eq!(world.status(2), NodeStatus::Crashed);
    command(&mut world, 1, Command::Send { to: 2, tag: 7 });
    world.run_for(Duration::from_millis(50));
    assert_eq!(world.stats().messages_dropped, 1);
    assert!(world.restart(2) && !world.restart(2));
    world.run_for(Duration::from_millis(50));
    assert!(probe(&world, 2).messages().is_empty());
}

// Rule: a paused node processes nothing during the pause; the message that arrived meanwhile and
// the timer that came due are handed over, in arrival order, when it resumes.
#[test]
fn paused_node_gets_its_queued_inputs_after_the_pause() {
    let mut world = probe_world(fixed_options(), &NODES);
    command(&mut world, 2, Command::WakeAt(Instant::from_millis(20)));
    world.run_until(Instant::from_millis(2));
    assert!(world.pause(2, Duration::from_millis(100))); // paused until 102 ms
    command(&mut world, 1, Command::Send { to: 2, tag: 9 }); // arrives at 8 ms
    world.run_until(Instant::from_millis(101));
    assert!(
        probe(&world, 2).messages().is_empty(),
        "a paused node handled a message"
    );
    assert!(
        probe(&world, 2).timer_fires().is_empty(),
        "a paused node's timer fired"
    );
    world.run_until(Instant::from_millis(102));
    assert_eq!(world.status(2), NodeStatus::Running);
    let resumed_at = Instant::from_millis(102);
    let boot_kick = Seen::Timeout { now: Instant::ZERO };
    let expected = [
        boot_kick,
        Seen::Message {
            now: resumed_at,
            from: 1,
            tag: 9,
        },
        Seen::Timeout { now: resumed_at },
    ];
    assert_eq!(probe(&world, 2).seen, expected);
}

// Rule: a response reaches its client one client latency after the node answered, carrying the
// node, client and request id; a request that arrives at a down node gets no response.
#[test]
fn responses_reach_clients_and_down_nodes_answer_nothing() {
    let mut world = probe_world(fixed_options(), &NODES);
    world.send_request(1, 40, 7, Command::WakeAt(Instant::NEVER)); // answered at 1 ms
    world.crash(2);
    world.send_request(2, 41, 8, Command::WakeAt(Instant::NEVER));
    world.run_for(Duration::from_millis(20));
    let responses = world.drain_responses();
    assert_eq!(responses.len(), 1);
    let response = &responses[0];
    assert_eq!(
        (
            response.time,
            response.node,
            response.client,
            response.request
        ),
        (Instant::from_millis(2), 1, 40, 7)
    );
    assert!(
        world.drain_responses().is_empty(),
        "drained responses are not returned twice"
    );
}

// Rule: closing a node's client connections tells the node of every client it heard from, loses
// what still travels on them (a request on its way, an answer on its way back), and the next
// request of such a client comes on a fresh connection id, never the closed one.
#[test]
fn closed_connections_lose_what_travels_and_reconnect_afresh() {
    let mut world = probe_world(fixed_options(), &NODES);
    world.set_trace(TraceSettings::in_memory());
    world.send_request(1, 7, 1, Command::WakeAt(Instant::NEVER)); // arrives at 1 ms
    world.run_until(Instant::from_millis(1)); // answered at 1 ms, the answer due at 2 ms
    world.send_request(1, 7, 2, Command::WakeAt(Instant::NEVER)); // would arrive at 2 ms
    world.close_connections(1);
    world.run_for(Duration::from_millis(10));
    let probe_1 = probe(&world, 1);
    assert_eq!(
        probe_1.requests_from,
        [7],
        "a request on a closed connection arrived"
    );
    assert!(probe_1.seen.contains(&Seen::ClientClosed { client: 7 }));
    assert!(
        world.drain_responses().is_empty(),
        "an answer on a closed connection arrived"
    );
    let lost = world.trace_events().iter().any(|event| {
        matches!(
            event.kind,
            TraceKind::ClientRequestDropped {
                reason: DropReason::ConnectionClosed,
                ..
            }
        )
    });
    assert!(lost);

    // The client reconnects: its next request comes on a new id, and its answer reaches it.
    world.send_request(1, 7, 3, Command::WakeAt(Instant::NEVER));
    world.run_for(Duration::from_millis(10));
    let connection = probe(&world, 1).requests_from[1];
    assert_ne!(connection, 7, "a closed client id was used again");
    let answers = world.drain_responses();
    assert_eq!(answers.len(), 1);
    assert_eq!((answers[0].client, answers[0].request), (7, 3));
}
