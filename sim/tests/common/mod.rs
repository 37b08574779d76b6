//! A scriptable probe machine for the engine's tests: it records every input it sees and does
//! what client requests tell it (send a tagged message, persist entries, set its timer).
#![allow(dead_code)] // each test file uses part of this

use std::collections::VecDeque;

use detcd_core::raft::{Entry, EntryKind, PersistBatch, PersistedState};
use detcd_core::{ClientId, Input, Instant, Machine, NodeId, Output, PersistToken};
use detcd_sim::{Boot, SimOptions, World};
use serde::Serialize;

/// What a client asks a probe to do.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Command {
    Send {
        to: NodeId,
        tag: u64,
    },
    /// Persist one batch of this many new log entries.
    Persist {
        entries: u64,
    },
    /// Ask for a wake-up at this local time.
    WakeAt(Instant),
}

/// An input as the probe saw it; `now` is the node's local time.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    Timeout {
        now: Instant,
    },
    Message {
        now: Instant,
        from: NodeId,
        tag: u64,
    },
    Persisted {
        now: Instant,
        through: u64,
    },
    ClientClosed {
        client: ClientId,
    },
}

#[derive(Debug)]
pub struct Probe {
    pub boot: Boot,
    pub seen: Vec<Seen>,
    /// The client (connection) id of every request, in arrival order.
    pub requests_from: Vec<ClientId>,
    outbox: VecDeque<Output<u64, u64>>,
    deadline: Instant,
    log_index_last: u64,
}

impl Probe {
    pub fn new(boot: Boot, deadline: Instant) -> Probe {
        let log_index_last = boot.persisted.entries.last().map_or(0, |entry| entry.index);
        Probe {
            boot,
            seen: Vec::new(),
            requests_from: Vec::new(),
            outbox: VecDeque::new(),
            deadline,
            log_index_last,
        }
    }

    pub fn messages(&self) -> Vec<(Instant, NodeId, u64)> {
        let messages = self.seen.iter().filter_map(|seen| match *seen {
            Seen::Message { now, from, tag } => Some((now, from, tag)),
            _ => None,
        });
        messages.collect()
    }

    /// Timeouts after the boot kick, as local times.
    pub fn timer_fires(&self) -> Vec<Instant> {
        let fires = self.seen.iter().filter_map(|seen| match *seen {
            Seen::Timeout { now } if now >= self.deadline_first() => Some(now),
            _ => None,
        });
        fires.collect()
    }

    fn deadline_first(&self) -> Instant {
        // The boot kick comes at boot time, which is before any deadline a test sets.
        self.boot.now + detcd_core::Duration::from_nanos(1)
    }

    fn execute(&mut self, command: Command) {
        match command {
            Command::Send { to, tag } => self.outbox.push_back(Output::Send { to, message: tag }),
            Command::Persist { entries } => {
                let first = self.log_index_last + 1;
                self.log_index_last += entries;
                let entries = (first..=self.log_index_last)
                    .map(|index| Entry {
                        term: 1,
                        index,
                        kind: EntryKind::Normal,
                        data: vec![],
                    })
                    .collect();
                let token = PersistToken(self.log_index_last);
                self.outbox.push_back(Output::Persist(PersistBatch {
                    token,
                    entries,
                    ..PersistBatch::default()
                }));
            }
            Command::WakeAt(deadline) => self.deadline = deadline,
        }
    }
}

impl Machine for Probe {
    type Message = u64;
    type Request = Command;
    type Response = u64;

    fn handle(&mut self, input: Input<u64, Command>) {
        match input {
            Input::Timeout { now } => {
                self.seen.push(Seen::Timeout { now });
                if now >= self.deadline {
                    self.deadline = Instant::NEVER;
                }
            }
            Input::Message { now, from, message } => self.seen.push(Seen::Message {
                now,
                from,
                tag: message,
            }),
            Input::Persisted { now, through } => self.seen.push(Seen::Persisted {
                now,
                through: through.0,
            }),
            Input::ClientClosed { client, .. } => self.seen.push(Seen::ClientClosed { client }),
            Input::Campaign { .. } => {}
            Input::Request {
                client,
                request,
                body,
                ..
            } => {
                self.requests_from.push(client);
                self.execute(body);
                self.outbox.push_back(Output::Respond {
                    client,
                    request,
                    body: request,
                });
            }
        }
    }

    fn poll_output(&mut self) -> Output<u64, u64> {
        self.outbox
            .pop_front()
            .unwrap_or(Output::Timeout(self.deadline))
    }
}

pub type ProbeWorld = World<Box<dyn FnMut(Boot) -> Probe>>;

/// Fixed latencies, so tests can name exact times: peers 5 ms, clients 1 ms, disk 5 ms.
pub fn fixed_options() -> SimOptions {
    SimOptions {
        latency_ms_min: 5,
        latency_ms_max: 5,
        client_latency_ms_min: 1,
        client_latency_ms_max: 1,
        disk_latency_ms_min: 5,
        disk_latency_ms_max: 5,
        ..SimOptions::default()
    }
}

/// Probes `nodes`, booted (the first step boots them all at time zero) with no timer set.
pub fn probe_world(options: SimOptions, nodes: &[NodeId]) -> ProbeWorld {
    let host: Box<dyn FnMut(Boot) -> Probe> = Box::new(|boot| Probe::new(boot, Instant::NEVER));
    let mut world = World::new(1, options, host, nodes);
    world.run_until(Instant::ZERO);
    world
}

/// Have `node` carry out `command`; it arrives 1 ms later (client latency).
pub fn command(world: &mut ProbeWorld, node: NodeId, command: Command) {
    world.send_request(node, 0, 0, command);
}

pub fn probe(world: &ProbeWorld, node: NodeId) -> &Probe {
    world.node(node).expect("the probe is running")
}

pub fn durable_indexes(state: &PersistedState) -> Vec<u64> {
    state.entries.iter().map(|entry| entry.index).collect()
}
