//! The world: nodes, their disks and clocks, the network, and the one event queue that orders
//! everything that happens between them.
//!
//! A step pops the earliest event, jumps the clock to its time and carries it out. When the event
//! is an input for a machine, the world runs the core's drain step ([`detcd_core::io::step`]) with
//! the node's local time, turning each output into future events: a `Send` into a delivery, a
//! `Persist` into a disk completion, a `Respond` into a response reaching its client, and the
//! deadline it ends with into the node's single wake-up. A machine that halts is stopped.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::io;

use detcd_core::io::{Driver, Halt, step};
use detcd_core::raft::{PersistBatch, PersistedState};
use detcd_core::{ClientId, Duration, Input, Instant, Machine, NodeId, PersistToken, RequestId};
use serde::Serialize;

use crate::clock::Clock;
use crate::disk::{Disk, StorageFailure};
use crate::faults::{FaultAction, FaultSchedule};
use crate::network::{DropReason, Network, Partition, Verdict};
use crate::options::SimOptions;
use crate::queue::EventQueue;
use crate::random::{Random, Stream};
use crate::trace::{TraceEvent, TraceKind, TraceSettings, Tracer};

/// What a node is given when it (re)starts.
#[derive(Clone, Debug)]
pub struct Boot {
    pub id: NodeId,
    /// 1 at the first start, one more at each restart.
    pub incarnation: u32,
    /// The node's local time.
    pub now: Instant,
    /// A seed for the machine's own RNG, drawn from the run seed; differs per incarnation.
    pub seed: u64,
    /// Exactly what the disk holds durably: at the first start, what it was formatted with
    /// ([`World::format_disk`]; empty by default).
    pub persisted: PersistedState,
}

/// Builds the machines of a run. A closure `FnMut(Boot) -> M` is a host.
pub trait Host {
    type Machine: Machine;
    fn boot(&mut self, boot: Boot) -> Self::Machine;
}

impl<M: Machine, F: FnMut(Boot) -> M> Host for F {
    type Machine = M;
    fn boot(&mut self, boot: Boot) -> M {
        self(boot)
    }
}

pub type MessageOf<H> = <<H as Host>::Machine as Machine>::Message;
pub type RequestOf<H> = <<H as Host>::Machine as Machine>::Request;
pub type ResponseOf<H> = <<H as Host>::Machine as Machine>::Response;
/// The trace event type of a world over host `H`.
pub type TraceEventOf<H> = TraceEvent<MessageOf<H>, RequestOf<H>, ResponseOf<H>>;

/// A response as its client received it.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientResponse<Response> {
    /// When the client received it (after the client network latency).
    pub time: Instant,
    pub node: NodeId,
    pub client: ClientId,
    pub request: RequestId,
    pub body: Response,
}

/// Whether a node is running, and if not, why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeStatus {
    Running,
    /// Alive but processing nothing; inputs queue until `until`.
    Paused {
        until: Instant,
    },
    /// Down (also before its first boot); its disk keeps what was durable.
    Crashed,
    /// Stopped by a storage error.
    Stopped(StorageFailure),
}

impl NodeStatus {
    /// Running or paused: the process exists.
    pub fn is_alive(self) -> bool {
        matches!(self, NodeStatus::Running | NodeStatus::Paused { .. })
    }
}

/// Counters of a run, for benchmarks and reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorldStats {
    pub events_processed: u64,
    pub messages_sent: u64,
    pub messages_delivered: u64,
    pub messages_dropped: u64,
    pub persists_completed: u64,
    pub timeouts_fired: u64,
}

/// Everything on the queue. Nodes are dense indexes into `World::nodes`.
enum Event<M: Machine> {
    /// Start the node if it is down and nobody restarted it since `incarnation`.
    Boot {
        node: u32,
        incarnation: u32,
    },
    Deliver {
        from: u32,
        to: u32,
        incarnation: u32,
        id: u64,
        message: M::Message,
    },
    Request {
        node: u32,
        incarnation: u32,
        client: ClientId,
        request: RequestId,
        body: M::Request,
    },
    Response {
        node: u32,
        client: ClientId,
        request: RequestId,
        body: M::Response,
    },
    DiskComplete {
        node: u32,
        incarnation: u32,
        token: PersistToken,
    },
    Wake {
        node: u32,
        generation: u64,
    },
    Resume {
        node: u32,
        generation: u64,
    },
    Heal {
        generation: u64,
    },
    FaultTick,
}

/// An input that reached a node, held while the node is paused.
enum Arrived<M: Machine> {
    Message {
        from: u32,
        message: M::Message,
    },
    Request {
        client: ClientId,
        request: RequestId,
        body: M::Request,
    },
    Persisted {
        token: PersistToken,
    },
    Wake {
        generation: u64,
    },
    ClientClosed {
        client: ClientId,
    },
}

/// The node's single pending wake-up. Only the latest deadline matters: a later deadline is
/// honoured when the pending wake fires and re-arms, an earlier one supersedes it (the stale
/// event is recognised by its generation and ignored).
#[derive(Clone, Copy, Debug)]
struct Timer {
    /// The machine's requested deadline, in its local time.
    deadline: Instant,
    /// The true time of the wake event that is currently valid, if any.
    scheduled_at: Option<Instant>,
    generation: u64,
}

impl Timer {
    fn invalidate(&mut self) {
        self.scheduled_at = None;
        self.generation += 1;
    }
}

struct Node<M: Machine> {
    id: NodeId,
    machine: Option<M>,
    status: NodeStatus,
    incarnation: u32,
    clock: Clock,
    disk: Disk,
    timer: Timer,
    pause_generation: u64,
    /// Inputs that arrived while paused, in arrival order.
    held: VecDeque<Arrived<M>>,
    /// Left out of the starting cluster: the first boot waits for `restart`.
    spare: bool,
    /// The client connections this incarnation has heard from and that are still open.
    connections: BTreeSet<ClientId>,
}

impl<M: Machine> Node<M> {
    /// Left out of the starting cluster and never started since.
    fn is_unstarted_spare(&self) -> bool {
        self.spare && self.incarnation == 0
    }
}

/// One simulated run. See the module documentation for how a step works.
pub struct World<H: Host> {
    seed: u64,
    options: SimOptions,
    host: H,
    now: Instant,
    /// Sorted; a node's dense index is its position here.
    ids: Vec<NodeId>,
    nodes: Vec<Node<H::Machine>>,
    queue: EventQueue<Event<H::Machine>>,
    network: Network,
    partition: Partition,
    partition_generation: u64,
    client_random: Random,
    disk_random: Random,
    boot_random: Random,
    faults: FaultSchedule,
    /// Set by [`World::heal_all`]: the liveness phase has begun and no fault of any kind is
    /// injected any more, random fsync errors and corruption included.
    faults_over: bool,
    tracer: Tracer<MessageOf<H>, RequestOf<H>, ResponseOf<H>>,
    responses: Vec<ClientResponse<ResponseOf<H>>>,
    /// The nodes that handled an input during the latest step.
    touched: Vec<u32>,
    /// When the latest response on each (node, client) connection arrives.
    connection_last_arrival: BTreeMap<(u32, ClientId), Instant>,
    /// Connections the world numbered afresh after a client's earlier one to the node closed:
    /// (node, client) -> connection id. A client's first connection to a node is its own id.
    reconnected: BTreeMap<(u32, ClientId), ClientId>,
    /// The client behind each connection id that is not its own.
    connection_clients: BTreeMap<ClientId, ClientId>,
    /// Closed connections: what still travels on them is lost.
    closed_connections: BTreeSet<(u32, ClientId)>,
    connection_id_next: ClientId,
    message_id_next: u64,
    stats: WorldStats,
}

impl<H: Host> fmt::Debug for World<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World")
            .field("seed", &self.seed)
            .field("now", &self.now)
            .field("nodes", &self.ids)
            .field("events_pending", &self.queue.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl<H: Host> World<H>
where
    MessageOf<H>: Serialize,
    RequestOf<H>: Serialize,
    ResponseOf<H>: Serialize,
{
    /// A world of `node_ids` (`options.node_count` is ignored; the ids decide) whose machines
    /// `host` builds. Every node boots at time zero, on the first step, so trace settings chosen
    /// before that see everything.
    pub fn new(seed: u64, options: SimOptions, host: H, node_ids: &[NodeId]) -> World<H> {
        options.validate();
        let mut ids = node_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), node_ids.len(), "node ids must be unique");
        assert!(
            !ids.is_empty() && ids.len() <= u32::MAX as usize,
            "a world needs 1..=u32::MAX nodes"
        );
        let mut clock_random = Random::new(seed, Stream::Clock);
        let drift_max = options.clock_drift_ppm_max;
        let nodes = ids
            .iter()
            .map(|&id| Node {
                id,
                machine: None,
                status: NodeStatus::Crashed,
                incarnation: 0,
                clock: Clock::with_drift(
                    clock_random.between(0, 2 * drift_max) as i64 - drift_max as i64,
                ),
                disk: Disk::default(),
                timer: Timer {
                    deadline: Instant::NEVER,
                    scheduled_at: None,
                    generation: 0,
                },
                pause_generation: 0,
                held: VecDeque::new(),
                spare: false,
                connections: BTreeSet::new(),
            })
            .collect();
        let mut faults = FaultSchedule::new(&options, Random::new(seed, Stream::Faults));
        let mut queue = EventQueue::default();
        for node in 0..ids.len() as u32 {
            queue.push(
                Instant::ZERO,
                Event::Boot {
                    node,
                    incarnation: 0,
                },
            );
        }
        if faults.is_enabled() {
            queue.push(faults.next_at(Instant::ZERO), Event::FaultTick);
        }
        World {
            seed,
            network: Network::new(
                ids.len(),
                options.link_profile(),
                Random::new(seed, Stream::Network),
            ),
            options,
            host,
            now: Instant::ZERO,
            ids,
            nodes,
            queue,
            partition: Partition::none(),
            partition_generation: 0,
            client_random: Random::new(seed, Stream::Client),
            disk_random: Random::new(seed, Stream::Disk),
            boot_random: Random::new(seed, Stream::Boot),
            faults,
            faults_over: false,
            tracer: Tracer::new(TraceSettings::default()),
            responses: Vec::new(),
            connection_last_arrival: BTreeMap::new(),
            reconnected: BTreeMap::new(),
            connection_clients: BTreeMap::new(),
            closed_connections: BTreeSet::new(),
            // Far above any workload client's own id.
            connection_id_next: 1 << 40,
            touched: Vec::new(),
            message_id_next: 0,
            stats: WorldStats::default(),
        }
    }

    /// Where the trace goes from now on (the default hashes only). Set it before the first step
    /// to capture the whole run; the hash restarts.
    pub fn set_trace(&mut self, settings: TraceSettings) {
        self.tracer = Tracer::new(settings);
    }

    // ----- running -----

    /// Process the earliest event. False when nothing is left to happen.
    pub fn step(&mut self) -> bool {
        let Some((time, event)) = self.queue.pop() else {
            return false;
        };
        self.touched.clear();
        assert!(
            time >= self.now,
            "event at {time} is before now {}",
            self.now
        );
        self.now = time;
        self.stats.events_processed += 1;
        self.dispatch(event);
        true
    }

    /// Process every event up to and including `deadline`, then move the clock to `deadline`, so
    /// that faults injected next happen exactly then.
    pub fn run_until(&mut self, deadline: Instant) {
        self.run_until_observed(deadline, |_| true);
    }

    /// Like [`World::run_until`], but call `after_step` after every event, as invariant checks
    /// do; when it returns false, stop at once (the clock stays at the failing event) and return
    /// false.
    pub fn run_until_observed(
        &mut self,
        deadline: Instant,
        mut after_step: impl FnMut(&Self) -> bool,
    ) -> bool {
        while self.queue.peek_time().is_some_and(|time| time <= deadline) {
            self.step();
            if !after_step(self) {
                return false;
            }
        }
        self.now = self.now.max(deadline);
        true
    }

    /// Run for `duration` of simulated time from now.
    pub fn run_for(&mut self, duration: Duration) {
        self.run_until(self.now + duration);
    }

    fn dispatch(&mut self, event: Event<H::Machine>) {
        match event {
            Event::Boot { node, incarnation } => {
                let target = &self.nodes[node as usize];
                if !target.status.is_alive()
                    && target.incarnation == incarnation
                    && !target.is_unstarted_spare()
                {
                    self.boot(node);
                }
            }
            Event::Deliver {
                from,
                to,
                incarnation,
                id,
                message,
            } => self.arrive(from, to, incarnation, id, message),
            Event::Request {
                node,
                incarnation,
                client,
                request,
                body,
            } => self.arrive_request(node, incarnation, client, request, body),
            Event::Response {
                node,
                client,
                request,
                body,
            } => self.arrive_response(node, client, request, body),
            Event::DiskComplete {
                node,
                incarnation,
                token,
            } => self.complete_write(node, incarnation, token),
            Event::Wake { node, generation } => self.offer(node, Arrived::Wake { generation }),
            Event::Resume { node, generation } => {
                if self.nodes[node as usize].pause_generation == generation {
                    self.resume_index(node);
                }
            }
            Event::Heal { generation } => {
                if self.partition_generation == generation {
                    self.heal();
                }
            }
            Event::FaultTick => self.fault_tick(),
        }
    }

    // ----- machines -----

    fn boot(&mut self, node: u32) {
        let first = self.nodes[node as usize].incarnation == 0;
        // A corrupted disk keeps its node down for good, so random corruption never takes more
        // disks than `crashed_max` allows down: the rest can always serve once faults stop.
        let corrupted_count = self
            .nodes
            .iter()
            .filter(|other| other.disk.is_corrupted())
            .count();
        if !first
            && !self.faults_over
            && self.disk_random.chance(self.options.corruption_probability)
            && corrupted_count < self.options.crashed_max
        {
            self.nodes[node as usize].disk.corrupt();
            self.trace(|world| TraceKind::DiskCorrupted {
                node: world.ids[node as usize],
            });
        }
        let now = self.now;
        let seed = self.boot_random.next_u64();
        let target = &mut self.nodes[node as usize];
        if target.disk.is_corrupted() {
            // Reading the durable state back fails its checksum: the node refuses to start.
            target.status = NodeStatus::Stopped(StorageFailure::Corruption);
            let failure = StorageFailure::Corruption;
            self.trace(|world| TraceKind::StorageFailure {
                node: world.ids[node as usize],
                failure,
            });
            return;
        }
        target.incarnation += 1;
        target.status = NodeStatus::Running;
        let local = target.clock.local_at(now);
        let boot = Boot {
            id: target.id,
            incarnation: target.incarnation,
            now: local,
            seed,
            persisted: target.disk.durable().clone(),
        };
        let incarnation = boot.incarnation;
        target.machine = Some(self.host.boot(boot));
        self.trace(|world| TraceKind::Boot {
            node: world.ids[node as usize],
            incarnation,
        });
        // A fresh machine has asked for nothing yet; an immediate timeout lets it set its timer.
        self.handle(node, Input::Timeout { now: local });
    }

    /// The core's drain step on a running node: hand it `input`, carry out everything it
    /// outputs, and set its wake-up. A machine that halts met input it cannot accept, which the
    /// simulator never gives (its disks keep values, and corruption is detected): a bug.
    fn handle(&mut self, node: u32, input: Input<MessageOf<H>, RequestOf<H>>) {
        if !self.touched.contains(&node) {
            self.touched.push(node);
        }
        let mut machine = self.nodes[node as usize]
            .machine
            .take()
            .expect("only running nodes get inputs");
        let result = step(&mut machine, input, &mut NodeOutputs { world: self, node });
        self.nodes[node as usize].machine = Some(machine);
        match result {
            Ok(deadline) => self.set_timer(node, deadline),
            Err(halt) => self.halted(node, &halt),
        }
    }

    fn halted(&self, node: u32, halt: &Halt) -> ! {
        panic!("node {} halted: {halt}", self.ids[node as usize])
    }

    /// Hand a running node an input directly, as a script does (start an election, a request
    /// from outside the network), with the node's local time. False when the node is not running.
    pub fn input(
        &mut self,
        node: NodeId,
        input: impl FnOnce(Instant) -> Input<MessageOf<H>, RequestOf<H>>,
    ) -> bool {
        let index = self
            .index_of(node)
            .unwrap_or_else(|| panic!("unknown node {node}"));
        let target = &self.nodes[index as usize];
        if target.status != NodeStatus::Running {
            return false;
        }
        let now = target.clock.local_at(self.now);
        self.handle(index, input(now));
        true
    }

    /// An input reached the node: hand it over now, hold it while paused, drop it if down.
    fn offer(&mut self, node: u32, arrived: Arrived<H::Machine>) {
        match self.nodes[node as usize].status {
            NodeStatus::Running => self.feed(node, arrived),
            NodeStatus::Paused { .. } => self.nodes[node as usize].held.push_back(arrived),
            NodeStatus::Crashed | NodeStatus::Stopped(_) => {}
        }
    }

    fn feed(&mut self, node: u32, arrived: Arrived<H::Machine>) {
        let target = &mut self.nodes[node as usize];
        let now = target.clock.local_at(self.now);
        let input = match arrived {
            Arrived::Message { from, message } => Input::Message {
                now,
                from: self.ids[from as usize],
                message,
            },
            Arrived::Request {
                client,
                request,
                body,
            } => Input::Request {
                now,
                client,
                request,
                body,
            },
            Arrived::Persisted { token } => Input::Persisted {
                now,
                through: token,
            },
            Arrived::ClientClosed { client } => Input::ClientClosed { now, client },
            Arrived::Wake { generation } => {
                if generation != target.timer.generation {
                    return;
                }
                target.timer.scheduled_at = None;
                if target.timer.deadline > now {
                    // The clock changed, or the deadline moved later since this wake was set.
                    let deadline = target.timer.deadline;
                    return self.set_timer(node, deadline);
                }
                target.timer.deadline = Instant::NEVER;
                self.stats.timeouts_fired += 1;
                self.trace(|world| TraceKind::Timeout {
                    node: world.ids[node as usize],
                    local: now,
                });
                Input::Timeout { now }
            }
        };
        self.handle(node, input);
    }

    /// The machine wants a wake-up at local time `deadline`; keep one valid wake event for it.
    fn set_timer(&mut self, node: u32, deadline: Instant) {
        let target = &mut self.nodes[node as usize];
        target.timer.deadline = deadline;
        if deadline == Instant::NEVER {
            return;
        }
        let at = target.clock.true_at(deadline).max(self.now);
        if target
            .timer
            .scheduled_at
            .is_some_and(|scheduled| scheduled <= at)
        {
            return;
        }
        target.timer.generation += 1;
        target.timer.scheduled_at = Some(at);
        let generation = target.timer.generation;
        self.queue.push(at, Event::Wake { node, generation });
    }

    /// The node's clock changed: its pending wake may now be too early or too late.
    fn rearm_timer(&mut self, node: u32) {
        let timer = &mut self.nodes[node as usize].timer;
        timer.invalidate();
        let deadline = timer.deadline;
        self.set_timer(node, deadline);
    }

    // ----- network -----

    fn send(&mut self, from: u32, to_id: NodeId, message: MessageOf<H>) {
        let id = self.message_id_next;
        self.message_id_next += 1;
        self.stats.messages_sent += 1;
        let from_id = self.ids[from as usize];
        let Some(to) = self.index_of(to_id) else {
            return self.trace_dropped_send(from_id, to_id, id, message, DropReason::UnknownNode);
        };
        match self.network.send(from as usize, to as usize, self.now) {
            Verdict::Drop(reason) => self.trace_dropped_send(from_id, to_id, id, message, reason),
            Verdict::Deliver { at, duplicate_at } => {
                let incarnation = self.nodes[to as usize].incarnation;
                self.trace(|_| TraceKind::Send {
                    from: from_id,
                    to: to_id,
                    id,
                    deliver_at: at,
                    message: &message,
                });
                if let Some(duplicate_at) = duplicate_at {
                    let copy = self.message_id_next;
                    self.message_id_next += 1;
                    self.trace(|_| TraceKind::Duplicate {
                        from: from_id,
                        to: to_id,
                        id: copy,
                        of: id,
                        deliver_at: duplicate_at,
                    });
                    let message = message.clone();
                    self.queue.push(
                        duplicate_at,
                        Event::Deliver {
                            from,
                            to,
                            incarnation,
                            id: copy,
                            message,
                        },
                    );
                }
                self.queue.push(
                    at,
                    Event::Deliver {
                        from,
                        to,
                        incarnation,
                        id,
                        message,
                    },
                );
            }
        }
    }

    fn trace_dropped_send(
        &mut self,
        from: NodeId,
        to: NodeId,
        id: u64,
        message: MessageOf<H>,
        reason: DropReason,
    ) {
        self.stats.messages_dropped += 1;
        self.trace(|_| TraceKind::Send {
            from,
            to,
            id,
            deliver_at: Instant::NEVER,
            message: &message,
        });
        self.trace(|_| TraceKind::Drop {
            from,
            to,
            id,
            reason,
        });
    }

    fn arrive(&mut self, from: u32, to: u32, incarnation: u32, id: u64, message: MessageOf<H>) {
        let target = &self.nodes[to as usize];
        let dropped = if target.incarnation != incarnation {
            Some(DropReason::StaleIncarnation)
        } else if !target.status.is_alive() {
            Some(DropReason::NodeDown)
        } else if self.network.is_cut(from as usize, to as usize) {
            Some(DropReason::Partitioned)
        } else {
            None
        };
        let (from_id, to_id) = (self.ids[from as usize], self.ids[to as usize]);
        if let Some(reason) = dropped {
            self.stats.messages_dropped += 1;
            return self.trace(|_| TraceKind::Drop {
                from: from_id,
                to: to_id,
                id,
                reason,
            });
        }
        if let Some(until) = self
            .network
            .clogged_until(from as usize, to as usize, self.now)
        {
            self.queue.push(
                until,
                Event::Deliver {
                    from,
                    to,
                    incarnation,
                    id,
                    message,
                },
            );
            return;
        }
        self.stats.messages_delivered += 1;
        self.trace(|_| TraceKind::Deliver {
            from: from_id,
            to: to_id,
            id,
        });
        self.offer(to, Arrived::Message { from, message });
    }

    // ----- clients -----

    /// A client sends a request to `node`; it arrives after the client network latency, unless
    /// the node is down or restarts meanwhile. Panics on an unknown node (a scenario bug).
    pub fn send_request(
        &mut self,
        node: NodeId,
        client: ClientId,
        request: RequestId,
        body: RequestOf<H>,
    ) {
        let index = self
            .index_of(node)
            .unwrap_or_else(|| panic!("request to unknown node {node}"));
        let latency = self.client_latency();
        let incarnation = self.nodes[index as usize].incarnation;
        let client = self.connection(index, client);
        self.trace(|_| TraceKind::ClientRequest {
            node,
            client,
            request,
            body: &body,
        });
        self.queue.push(
            self.now + latency,
            Event::Request {
                node: index,
                incarnation,
                client,
                request,
                body,
            },
        );
    }

    /// The connection `client` talks to `node` on: its own id, unless an earlier connection was
    /// closed, since a machine never hears from a closed client id again.
    fn connection(&self, node: u32, client: ClientId) -> ClientId {
        self.reconnected
            .get(&(node, client))
            .copied()
            .unwrap_or(client)
    }

    /// The client behind a connection id.
    fn client_of(&self, connection: ClientId) -> ClientId {
        self.connection_clients
            .get(&connection)
            .copied()
            .unwrap_or(connection)
    }

    /// Close every client connection to `node`, as a load balancer or a network reset would: the
    /// node hears `ClientClosed` for each it has heard from (it forgets their watches and pending
    /// requests), what still travels on them is lost, and each client reconnects afresh.
    pub fn close_connections(&mut self, node: NodeId) {
        let index = self.expect_index(node);
        let target = &mut self.nodes[index as usize];
        let heard: Vec<ClientId> = std::mem::take(&mut target.connections)
            .into_iter()
            .collect();
        let alive = target.status.is_alive();
        for &connection in &heard {
            self.closed_connections.insert((index, connection));
            let client = self.client_of(connection);
            let fresh = self.connection_id_next;
            self.connection_id_next += 1;
            self.reconnected.insert((index, client), fresh);
            self.connection_clients.insert(fresh, client);
            if alive {
                self.offer(index, Arrived::ClientClosed { client: connection });
            }
        }
        self.trace(|_| TraceKind::ConnectionsClosed {
            node,
            clients: heard,
        });
    }

    fn client_latency(&mut self) -> Duration {
        let options = &self.options;
        self.client_random
            .duration_ms(options.client_latency_ms_min, options.client_latency_ms_max)
    }

    fn arrive_request(
        &mut self,
        node: u32,
        incarnation: u32,
        client: ClientId,
        request: RequestId,
        body: RequestOf<H>,
    ) {
        let target = &self.nodes[node as usize];
        let node_id = target.id;
        let dropped = if target.incarnation != incarnation {
            Some(DropReason::StaleIncarnation)
        } else if !target.status.is_alive() {
            Some(DropReason::NodeDown)
        } else if self.closed_connections.contains(&(node, client)) {
            Some(DropReason::ConnectionClosed)
        } else {
            None
        };
        if let Some(reason) = dropped {
            return self.trace(|_| TraceKind::ClientRequestDropped {
                node: node_id,
                client,
                request,
                reason,
            });
        }
        self.trace(|_| TraceKind::ClientRequestDelivered {
            node: node_id,
            client,
            request,
        });
        self.nodes[node as usize].connections.insert(client);
        self.offer(
            node,
            Arrived::Request {
                client,
                request,
                body,
            },
        );
    }

    fn respond(&mut self, node: u32, client: ClientId, request: RequestId, body: ResponseOf<H>) {
        if self.closed_connections.contains(&(node, client)) {
            return; // the client is gone
        }
        // A client connection is a stream (gRPC over TCP): its responses arrive in the order they
        // were sent, so a later one never overtakes an earlier one, whatever latency it drew.
        let drawn = self.now + self.client_latency();
        let last = self
            .connection_last_arrival
            .entry((node, client))
            .or_insert(Instant::ZERO);
        let at = drawn.max(*last);
        *last = at;
        self.queue.push(
            at,
            Event::Response {
                node,
                client,
                request,
                body,
            },
        );
    }

    fn arrive_response(
        &mut self,
        node: u32,
        client: ClientId,
        request: RequestId,
        body: ResponseOf<H>,
    ) {
        if self.closed_connections.contains(&(node, client)) {
            return; // the connection closed while the answer travelled
        }
        let node = self.ids[node as usize];
        self.trace(|_| TraceKind::ClientResponse {
            node,
            client,
            request,
            body: &body,
        });
        let client = self.client_of(client);
        self.responses.push(ClientResponse {
            time: self.now,
            node,
            client,
            request,
            body,
        });
    }

    /// The nodes that handled an input during the latest step: the only ones whose state can
    /// have changed, so per-step invariant checks need look at no other.
    pub fn touched_nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.touched.iter().map(|&index| self.ids[index as usize])
    }

    /// Whether responses have arrived since the last [`World::drain_responses`]: a driver that
    /// steps with [`World::run_until_observed`] stops here to let its clients react at once.
    pub fn has_responses(&self) -> bool {
        !self.responses.is_empty()
    }

    /// Every response received since the last call, in arrival order.
    pub fn drain_responses(&mut self) -> Vec<ClientResponse<ResponseOf<H>>> {
        std::mem::take(&mut self.responses)
    }

    // ----- disk -----

    fn write(&mut self, node: u32, batch: PersistBatch) {
        let latency = self.disk_random.duration_ms(
            self.options.disk_latency_ms_min,
            self.options.disk_latency_ms_max,
        );
        let (token, bytes) = (batch.token, batch.size());
        let target = &mut self.nodes[node as usize];
        let complete_at = target.disk.write(batch, self.now, latency);
        let incarnation = target.incarnation;
        self.trace(|world| TraceKind::PersistStart {
            node: world.ids[node as usize],
            token,
            bytes,
            complete_at,
        });
        self.queue.push(
            complete_at,
            Event::DiskComplete {
                node,
                incarnation,
                token,
            },
        );
    }

    fn complete_write(&mut self, node: u32, incarnation: u32, token: PersistToken) {
        let target = &mut self.nodes[node as usize];
        if target.incarnation != incarnation || !target.status.is_alive() {
            return; // the crash already discarded this write
        }
        if !target.disk.is_unsynced(token) {
            // An earlier completion covered it: the write was rescheduled when its stall ended
            // at the heal, or a later write's completion overtook this one behind a stall.
            return;
        }
        if let Some(until) = target.disk.stalled_until(self.now) {
            self.queue.push(
                until,
                Event::DiskComplete {
                    node,
                    incarnation,
                    token,
                },
            );
            return;
        }
        let failure = match target.disk.take_completion_failure() {
            Some(failure) => Some(failure),
            // The liveness phase injects no fault, and draws nothing for one.
            None if self.faults_over => None,
            None => self
                .disk_random
                .chance(self.options.fsync_error_probability)
                .then_some(StorageFailure::FsyncError),
        };
        if let Some(failure) = failure {
            return self.stop(node, failure);
        }
        self.nodes[node as usize].disk.complete_through(token);
        self.stats.persists_completed += 1;
        self.trace(|world| TraceKind::PersistComplete {
            node: world.ids[node as usize],
            token,
        });
        self.offer(node, Arrived::Persisted { token });
    }

    // ----- process faults -----

    fn index_of(&self, id: NodeId) -> Option<u32> {
        self.ids.binary_search(&id).ok().map(|index| index as u32)
    }

    fn expect_index(&self, id: NodeId) -> u32 {
        self.index_of(id)
            .unwrap_or_else(|| panic!("node {id} is not in this world"))
    }

    /// Give `node`'s disk its initial durable content before the node first boots (the detcd
    /// node's bootstrap state, as an operator's `--initial-cluster` would).
    pub fn format_disk(&mut self, node: NodeId, state: PersistedState) {
        let index = self.expect_index(node);
        let target = &mut self.nodes[index as usize];
        assert_eq!(
            target.incarnation, 0,
            "format a disk before its node first boots"
        );
        target.disk.format(state);
    }

    /// Kill the node: its machine, held inputs, timer and unsynced writes are gone (the write in
    /// progress may tear), and messages in flight to it will be dropped. False if it was down.
    pub fn crash(&mut self, node: NodeId) -> bool {
        let index = self.expect_index(node);
        if !self.nodes[index as usize].status.is_alive() {
            return false;
        }
        self.take_down(index, NodeStatus::Crashed);
        true
    }

    /// Start a crashed or stopped node from what its disk holds durably. False if it was alive.
    /// Leave `node` out of the starting cluster, down with whatever its disk holds (nothing, for
    /// a member to be added later), until a `restart` starts it. Call before the first step.
    pub fn keep_spare(&mut self, node: NodeId) {
        let index = self.expect_index(node);
        self.nodes[index as usize].spare = true;
    }

    /// True for a spare that was never started.
    pub fn is_unstarted_spare(&self, node: NodeId) -> bool {
        self.nodes[self.expect_index(node) as usize].is_unstarted_spare()
    }

    pub fn restart(&mut self, node: NodeId) -> bool {
        let index = self.expect_index(node);
        if self.nodes[index as usize].status.is_alive() {
            return false;
        }
        self.boot(index);
        true
    }

    /// A storage error: the node stops instead of running on storage it cannot trust.
    fn stop(&mut self, node: u32, failure: StorageFailure) {
        self.trace(|world| TraceKind::StorageFailure {
            node: world.ids[node as usize],
            failure,
        });
        self.take_down(node, NodeStatus::Stopped(failure));
        if self.faults.is_enabled() {
            // The random schedule plays the operator who restarts a node after a disk error.
            let down = self
                .disk_random
                .duration_ms(self.options.down_ms_min, self.options.down_ms_max);
            let incarnation = self.nodes[node as usize].incarnation;
            self.queue
                .push(self.now + down, Event::Boot { node, incarnation });
        }
    }

    fn take_down(&mut self, node: u32, status: NodeStatus) {
        let in_progress = self.nodes[node as usize].disk.write_in_progress_entries();
        let torn_entries = (status == NodeStatus::Crashed
            && in_progress >= 2
            && self.disk_random.chance(self.options.torn_write_probability))
        .then(|| self.disk_random.below(in_progress as u64));
        let target = &mut self.nodes[node as usize];
        target.machine = None;
        target.status = status;
        target.held.clear();
        // The process is gone, and with it what it knew of its clients.
        target.connections.clear();
        target.timer.invalidate();
        target.timer.deadline = Instant::NEVER;
        target.pause_generation += 1;
        let (lost, torn) = target.disk.crash(self.now, torn_entries);
        self.trace(|world| TraceKind::Crash {
            node: world.ids[node as usize],
            batches_lost: lost as u64,
            torn,
        });
    }

    /// Freeze the node for `duration`: it processes nothing, inputs wait for it, timers fire late.
    /// Pausing a paused node extends the pause. False if the node is down.
    pub fn pause(&mut self, node: NodeId, duration: Duration) -> bool {
        let index = self.expect_index(node);
        let target = &mut self.nodes[index as usize];
        let until = match target.status {
            NodeStatus::Running => self.now + duration,
            NodeStatus::Paused { until } => until.max(self.now + duration),
            NodeStatus::Crashed | NodeStatus::Stopped(_) => return false,
        };
        target.status = NodeStatus::Paused { until };
        target.pause_generation += 1;
        let generation = target.pause_generation;
        self.queue.push(
            until,
            Event::Resume {
                node: index,
                generation,
            },
        );
        self.trace(|_| TraceKind::Pause { node, until });
        true
    }

    /// End a pause now. False if the node was not paused.
    pub fn resume(&mut self, node: NodeId) -> bool {
        let index = self.expect_index(node);
        if !matches!(self.nodes[index as usize].status, NodeStatus::Paused { .. }) {
            return false;
        }
        self.nodes[index as usize].pause_generation += 1;
        self.resume_index(index);
        true
    }

    fn resume_index(&mut self, node: u32) {
        let target = &mut self.nodes[node as usize];
        target.status = NodeStatus::Running;
        let held = std::mem::take(&mut target.held);
        let inputs_queued = held.len() as u64;
        self.trace(|world| TraceKind::Resume {
            node: world.ids[node as usize],
            inputs_queued,
        });
        for arrived in held {
            self.feed(node, arrived);
        }
    }

    // ----- clock faults -----

    /// Make the node's clock run `rate_ppm` parts per million fast (negative: slow) from now on.
    pub fn set_clock_drift(&mut self, node: NodeId, rate_ppm: i64) {
        let index = self.expect_index(node);
        self.nodes[index as usize]
            .clock
            .set_drift(self.now, rate_ppm);
        self.rearm_timer(index);
        self.trace(|_| TraceKind::ClockDrift { node, rate_ppm });
    }

    /// Jump the node's local clock forward by `by`; timers due by the new reading fire now.
    pub fn step_clock(&mut self, node: NodeId, by: Duration) {
        let index = self.expect_index(node);
        self.nodes[index as usize].clock.step(self.now, by);
        self.rearm_timer(index);
        let local = self.local_time(node);
        let by_nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.trace(|_| TraceKind::ClockStep {
            node,
            by_nanos,
            local,
        });
    }

    // ----- network faults -----

    /// Replace the current partition. Messages on a cut link are dropped at send and at arrival.
    pub fn set_partition(&mut self, partition: Partition) {
        let ids = &self.ids;
        self.network
            .set_cuts(|from, to| partition.is_cut(ids[from], ids[to]));
        self.partition_generation += 1;
        self.trace(|_| match partition.is_healed() {
            true => TraceKind::Heal,
            false => TraceKind::Partition {
                cut: partition.cut_links().collect(),
            },
        });
        self.partition = partition;
    }

    pub fn heal(&mut self) {
        self.set_partition(Partition::none());
    }

    pub fn partition(&self) -> &Partition {
        &self.partition
    }

    /// Hold every message arriving on `from -> to` for the next `duration`.
    pub fn clog_link(&mut self, from: NodeId, to: NodeId, duration: Duration) {
        let (from_index, to_index) = (self.expect_index(from), self.expect_index(to));
        let until = self.now + duration;
        self.network
            .clog(from_index as usize, to_index as usize, until);
        self.trace(|_| TraceKind::Clog { from, to, until });
    }

    /// Clog every link out of `node` for the next `duration`.
    pub fn clog_node(&mut self, node: NodeId, duration: Duration) {
        for to in self.ids.clone() {
            if to != node {
                self.clog_link(node, to, duration);
            }
        }
    }

    // ----- disk faults -----

    /// Block all of the node's disk I/O for `duration`: completions wait, new writes queue.
    pub fn stall_disk(&mut self, node: NodeId, duration: Duration) {
        let index = self.expect_index(node);
        let until = self.now + duration;
        self.nodes[index as usize].disk.stall(until);
        self.trace(|_| TraceKind::DiskStall { node, until });
    }

    /// While full, every write completion fails with `NoSpace` and stops the node.
    pub fn fill_disk(&mut self, node: NodeId, full: bool) {
        let index = self.expect_index(node);
        self.nodes[index as usize].disk.set_full(full);
        self.trace(|_| TraceKind::DiskFull { node, full });
    }

    /// Corrupt the durable state; the node's next boot detects it and stops.
    pub fn corrupt_disk(&mut self, node: NodeId) {
        let index = self.expect_index(node);
        self.nodes[index as usize].disk.corrupt();
        self.trace(|_| TraceKind::DiskCorrupted { node });
    }

    /// The node's next fsync fails, which stops it.
    pub fn inject_fsync_error(&mut self, node: NodeId) {
        let index = self.expect_index(node);
        self.nodes[index as usize].disk.arm_fsync_error();
        self.trace(|_| TraceKind::FsyncErrorArmed { node });
    }

    // ----- the random schedule and the end of faults -----

    fn fault_tick(&mut self) {
        if !self.faults.is_enabled() {
            return;
        }
        let up: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|node| node.status.is_alive())
            .map(|node| node.id)
            .collect();
        let down_count = self.ids.len() - up.len();
        if let Some(action) = self.faults.draw(&self.ids, &up, down_count) {
            self.apply_fault(action);
        }
        let next = self.faults.next_at(self.now);
        self.queue.push(next, Event::FaultTick);
    }

    fn apply_fault(&mut self, action: FaultAction) {
        match action {
            FaultAction::Crash { nodes } => {
                for (node, down) in nodes {
                    self.crash(node);
                    let index = self.expect_index(node);
                    let incarnation = self.nodes[index as usize].incarnation;
                    self.queue.push(
                        self.now + down,
                        Event::Boot {
                            node: index,
                            incarnation,
                        },
                    );
                }
            }
            FaultAction::Pause { node, duration } => {
                self.pause(node, duration);
            }
            FaultAction::Partition {
                partition,
                duration,
            } => {
                self.set_partition(partition);
                let generation = self.partition_generation;
                self.queue
                    .push(self.now + duration, Event::Heal { generation });
            }
            FaultAction::Clog { node, duration } => self.clog_node(node, duration),
            FaultAction::DiskStall { node, duration } => self.stall_disk(node, duration),
            FaultAction::ClockStep { node, by } => self.step_clock(node, by),
            FaultAction::CloseClients { node } => self.close_connections(node),
        }
    }

    /// Stop drawing random faults; repairs already scheduled still happen.
    pub fn stop_random_faults(&mut self) {
        self.faults.disable();
    }

    /// End every fault now, as the start of a liveness phase: from here on no fault of any kind
    /// is injected (no random fault, fsync error or corruption; a scripted fsync error still
    /// armed is disarmed), the network heals (no more loss, duplication or reordering: seven
    /// members whose links lose 30% of messages and reorder all, with one-entry appends, commit
    /// more slowly than their clients write), clogs and full disks are released, a stall in
    /// progress ends (what it held back completes one write's latency from now), paused nodes
    /// resume, and crashed nodes and nodes stopped by a failed fsync or a full disk restart, as
    /// an operator would restart them. A node stopped by corruption stays stopped: its disk
    /// cannot be trusted (random corruption never takes more than `crashed_max` disks).
    pub fn heal_all(&mut self) {
        self.stop_random_faults();
        self.faults_over = true;
        self.heal();
        self.network.unclog_all();
        self.network.end_message_faults();
        for index in 0..self.nodes.len() {
            self.end_disk_faults(index as u32);
            let node = &self.nodes[index];
            let id = node.id;
            match node.status {
                NodeStatus::Paused { .. } => {
                    self.resume(id);
                }
                // A spare nobody started stays out: it is not a member.
                NodeStatus::Crashed if node.is_unstarted_spare() => {}
                NodeStatus::Crashed
                | NodeStatus::Stopped(StorageFailure::FsyncError | StorageFailure::NoSpace) => {
                    self.restart(id);
                }
                NodeStatus::Running | NodeStatus::Stopped(StorageFailure::Corruption) => {}
            }
        }
    }

    /// Release the node's disk from every fault: a full disk, an armed fsync error, and a stall
    /// in progress, whose held-back writes now complete together one write's latency from now
    /// (the completions scheduled behind the stall find them done and are ignored).
    fn end_disk_faults(&mut self, node: u32) {
        let stalled = self.nodes[node as usize].disk.stalled_until(self.now);
        let latency = match stalled {
            Some(_) => self.disk_random.duration_ms(
                self.options.disk_latency_ms_min,
                self.options.disk_latency_ms_max,
            ),
            None => Duration::ZERO,
        };
        let target = &mut self.nodes[node as usize];
        target.disk.set_full(false);
        target.disk.disarm_fsync_error();
        if stalled.is_none() {
            return;
        }
        let rescheduled = target.disk.end_stall(self.now, latency);
        let incarnation = target.incarnation;
        if let Some((token, at)) = rescheduled {
            self.queue.push(
                at,
                Event::DiskComplete {
                    node,
                    incarnation,
                    token,
                },
            );
        }
    }

    // ----- observing -----

    /// Record an event if anything consumes the trace. Payloads (messages, requests, responses)
    /// are borrowed: hashing and writing read them in place, and only a trace kept in memory
    /// copies them.
    fn trace<'a>(
        &mut self,
        kind: impl FnOnce(&Self) -> TraceKind<&'a MessageOf<H>, &'a RequestOf<H>, &'a ResponseOf<H>>,
    ) where
        MessageOf<H>: 'a,
        RequestOf<H>: 'a,
        ResponseOf<H>: 'a,
    {
        if self.tracer.is_active() {
            let event = TraceEvent {
                time: self.now,
                kind: kind(self),
            };
            self.tracer.record(event);
        }
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn options(&self) -> &SimOptions {
        &self.options
    }

    /// The member ids, sorted.
    pub fn node_ids(&self) -> &[NodeId] {
        &self.ids
    }

    /// The node's machine, for invariant checks; None while it is down.
    pub fn node(&self, node: NodeId) -> Option<&H::Machine> {
        self.nodes[self.expect_index(node) as usize]
            .machine
            .as_ref()
    }

    pub fn status(&self, node: NodeId) -> NodeStatus {
        self.nodes[self.expect_index(node) as usize].status
    }

    /// How many times the node has booted.
    pub fn incarnation(&self, node: NodeId) -> u32 {
        self.nodes[self.expect_index(node) as usize].incarnation
    }

    /// The node's clock reading now.
    pub fn local_time(&self, node: NodeId) -> Instant {
        self.nodes[self.expect_index(node) as usize]
            .clock
            .local_at(self.now)
    }

    /// What the node's disk holds durably: what a restart would boot from.
    pub fn durable_state(&self, node: NodeId) -> &PersistedState {
        self.nodes[self.expect_index(node) as usize].disk.durable()
    }

    pub fn stats(&self) -> WorldStats {
        self.stats
    }

    /// Events waiting in the queue.
    pub fn pending_events(&self) -> usize {
        self.queue.len()
    }

    /// The running FNV-1a hash of the trace; equal hashes mean (with overwhelming likelihood)
    /// identical runs. Only meaningful with hashing on (the default).
    pub fn trace_hash(&self) -> u64 {
        self.tracer.hash()
    }

    /// How many trace events were recorded.
    pub fn trace_len(&self) -> u64 {
        self.tracer.recorded_count()
    }

    /// The trace so far, if kept in memory.
    pub fn trace_events(&self) -> &[TraceEventOf<H>] {
        self.tracer.kept()
    }

    /// Flush the trace writer; reports the first write error of the run.
    pub fn flush_trace(&mut self) -> io::Result<()> {
        self.tracer.flush()
    }
}

/// Where a node's outputs go while the world drains it.
struct NodeOutputs<'a, H: Host> {
    world: &'a mut World<H>,
    node: u32,
}

impl<H: Host> Driver<H::Machine> for NodeOutputs<'_, H>
where
    MessageOf<H>: Serialize,
    RequestOf<H>: Serialize,
    ResponseOf<H>: Serialize,
{
    fn persist(&mut self, batch: PersistBatch) {
        self.world.write(self.node, batch);
    }

    fn send(&mut self, to: NodeId, message: MessageOf<H>) {
        self.world.send(self.node, to, message);
    }

    fn respond(&mut self, client: ClientId, request: RequestId, body: ResponseOf<H>) {
        self.world.respond(self.node, client, request, body);
    }
}
