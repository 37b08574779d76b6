//! A trivial machine for testing and benchmarking the engine.
//!
//! Each node keeps `window` pings in flight, sent round robin to its peers; a node answers every
//! ping with a pong, and a pong frees its slot for the next ping at once, so in a healthy network
//! almost every event is a delivery. A periodic tick re-sends pings whose pong is overdue (lost,
//! partitioned). With `persist_pongs` each received pong is also appended to the node's log as a
//! one-entry persist batch, which gives the disk model something to keep and lose.

use std::collections::VecDeque;

use detcd_core::raft::{Entry, EntryKind, PersistBatch};
use detcd_core::{Duration, Input, Instant, Machine, NodeId, Output, PersistToken};
use serde::{Deserialize, Serialize};

use crate::world::Boot;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PingMessage {
    Ping { seq: u64 },
    Pong { seq: u64 },
}

/// The only request: report the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PingRequest {
    Stats,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingStats {
    pub pings_sent: u64,
    pub pongs_received: u64,
    pub pings_answered: u64,
    /// Pongs recorded in the log and reported durable (counting earlier incarnations).
    pub pongs_durable: u64,
    pub timeouts: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PingConfig {
    /// Every member, this node included.
    pub members: Vec<NodeId>,
    /// Pings in flight at once.
    pub window: usize,
    /// How often the node wakes to re-send overdue pings.
    pub tick: Duration,
    /// A ping without a pong after this long is re-sent.
    pub ping_timeout: Duration,
    pub persist_pongs: bool,
}

impl PingConfig {
    pub fn new(members: &[NodeId]) -> PingConfig {
        PingConfig {
            members: members.to_vec(),
            window: 4,
            tick: Duration::from_millis(100),
            ping_timeout: Duration::from_millis(200),
            persist_pongs: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct InFlight {
    seq: u64,
    sent_at: Instant,
}

/// The ping machine. See the module documentation.
#[derive(Debug)]
pub struct PingMachine {
    id: NodeId,
    peers: Vec<NodeId>,
    config: PingConfig,
    peer_next: usize,
    /// Slot `s` carries pings whose `seq % window == s`.
    slots: Vec<Option<InFlight>>,
    rounds: Vec<u64>,
    outbox: VecDeque<Output<PingMessage, PingStats>>,
    deadline: Instant,
    log_index_last: u64,
    stats: PingStats,
}

impl PingMachine {
    /// A ping node as `boot` describes it; a restarted node recovers its durable pong count.
    pub fn new(boot: &Boot, config: PingConfig) -> PingMachine {
        assert!(config.window > 0, "a ping window of zero sends nothing");
        let peers = config
            .members
            .iter()
            .copied()
            .filter(|&member| member != boot.id)
            .collect();
        let log_index_last = boot.persisted.entries.last().map_or(0, |entry| entry.index);
        PingMachine {
            id: boot.id,
            peers,
            slots: vec![None; config.window],
            rounds: vec![0; config.window],
            config,
            peer_next: 0,
            outbox: VecDeque::new(),
            deadline: boot.now,
            log_index_last,
            stats: PingStats {
                pongs_durable: log_index_last,
                ..PingStats::default()
            },
        }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn stats(&self) -> PingStats {
        self.stats
    }

    fn send_ping(&mut self, slot: usize, now: Instant) {
        if self.peers.is_empty() {
            return;
        }
        let seq = self.rounds[slot] * self.config.window as u64 + slot as u64;
        self.rounds[slot] += 1;
        self.slots[slot] = Some(InFlight { seq, sent_at: now });
        let to = self.peers[self.peer_next % self.peers.len()];
        self.peer_next = self.peer_next.wrapping_add(1);
        self.stats.pings_sent += 1;
        self.outbox.push_back(Output::Send {
            to,
            message: PingMessage::Ping { seq },
        });
    }

    fn tick(&mut self, now: Instant) {
        self.stats.timeouts += 1;
        for slot in 0..self.slots.len() {
            let overdue =
                self.slots[slot].is_none_or(|ping| ping.sent_at + self.config.ping_timeout <= now);
            if overdue {
                self.send_ping(slot, now);
            }
        }
        self.deadline = now + self.config.tick;
    }

    fn receive_pong(&mut self, seq: u64, now: Instant) {
        let slot = (seq % self.config.window as u64) as usize;
        if self.slots[slot].is_none_or(|ping| ping.seq != seq) {
            return; // a duplicate, or the pong of a ping already given up on
        }
        self.slots[slot] = None;
        self.stats.pongs_received += 1;
        if self.config.persist_pongs {
            self.log_index_last += 1;
            let entry = Entry {
                term: 1,
                index: self.log_index_last,
                kind: EntryKind::Normal,
                data: seq.to_le_bytes().to_vec(),
            };
            let token = PersistToken(self.log_index_last);
            self.outbox.push_back(Output::Persist(PersistBatch {
                token,
                entries: vec![entry],
                ..PersistBatch::default()
            }));
        }
        self.send_ping(slot, now);
    }
}

impl Machine for PingMachine {
    type Message = PingMessage;
    type Request = PingRequest;
    type Response = PingStats;

    fn handle(&mut self, input: Input<PingMessage, PingRequest>) {
        match input {
            Input::Timeout { now } => {
                if now >= self.deadline {
                    self.tick(now);
                }
            }
            Input::Message {
                from,
                message: PingMessage::Ping { seq },
                ..
            } => {
                self.stats.pings_answered += 1;
                self.outbox.push_back(Output::Send {
                    to: from,
                    message: PingMessage::Pong { seq },
                });
            }
            Input::Message {
                now,
                message: PingMessage::Pong { seq },
                ..
            } => self.receive_pong(seq, now),
            Input::Request {
                client,
                request,
                body: PingRequest::Stats,
                ..
            } => {
                self.outbox.push_back(Output::Respond {
                    client,
                    request,
                    body: self.stats,
                });
            }
            Input::Persisted { through, .. } => {
                // One entry per batch and token = index, so the token is the durable log length.
                self.stats.pongs_durable = self.stats.pongs_durable.max(through.0);
            }
            Input::ClientClosed { .. } | Input::Campaign { .. } => {}
        }
    }

    fn poll_output(&mut self) -> Output<PingMessage, PingStats> {
        self.outbox
            .pop_front()
            .unwrap_or(Output::Timeout(self.deadline))
    }
}
