//! One simulated run of a detcd cluster, start to verdict.
//!
//! A run has two phases. In the *fault phase* clients drive the workload while the world injects
//! whatever faults the options enable (and a scenario script adds its own); the [`Observer`]
//! checks Raft's safety properties after every step. In the *liveness phase* every fault is
//! healed, fairly ([`World::heal_all`](crate::World::heal_all): no fault of any kind is injected
//! any more, stalls in progress end, members stopped by a storage failure restart), and only
//! then must the cluster elect a leader and serve a write and a linearizable read within a
//! bound; the time it took is reported. Finally the clients' history goes to the checker. A run
//! whose safety breaks goes straight to its verdict: nothing more is sent.

use std::fmt;

use detcd_checker::budget::STEPS_MAX_DEFAULT;
use detcd_checker::{
    Budget, CheckOptions, CheckReport, ClockUncertainty, HistoryRecord, Verdict, check_etcd_with,
    etcd,
};
use detcd_core::kv::{KvConfig, KvStore, PutRequest, RangeRequest, Request, Response};
use detcd_core::raft::PersistedState;
use detcd_core::raft::Term;
use detcd_core::{ClientId, Input, RequestId};
use detcd_core::{Duration, Instant, NodeConfig, NodeId};

use crate::cluster::{ClusterEvent, NodeHost, NodeWorld, Observer, Violation};
use crate::options::SimOptions;
use crate::random::{Random, Stream};
use crate::trace::TraceSettings;
use crate::workload::{Workload, WorkloadOptions, WorkloadStats};
use crate::world::{ClientResponse, TraceEventOf, World, WorldStats};

/// Events one run may process at most. A healthy 60-second run of 7 members takes a few million;
/// a run past this bound is a runaway (a message storm), reported as a liveness failure rather
/// than left to exhaust memory.
pub const EVENTS_MAX: u64 = 200_000_000;
/// A scripted run's fault phase ends with its script; this bounds it, a day of simulated time.
const FAULT_PHASE_SECS_MAX: u64 = 86_400;

/// The members' own knobs a scenario may turn, beyond the world's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeOptions {
    /// Raft's pre-vote: a member campaigns only if a majority would vote for it.
    pub pre_vote: bool,
    /// A leader that has not heard from a majority for an election timeout steps down.
    pub check_quorum: bool,
    /// Snapshot and compact the log every this many applied entries.
    pub snapshot_entries: u64,
    /// Entries kept before a snapshot for followers slightly behind.
    pub snapshot_catch_up_entries: u64,
    /// Members beyond the cluster's `node_count`, present but not started, with empty disks:
    /// for membership changes to add.
    pub spares: usize,
    /// Unacknowledged appends in flight to one follower, at most.
    pub inflight_max: usize,
    /// Bytes of entries in one append, at most; below one entry's size every append carries one.
    pub batch_bytes_max: u64,
    /// Raft's base election timeout (each election waits between one and two of it).
    pub election_timeout_ms: u64,
    /// How often a leader sends heartbeats; below the election timeout.
    pub heartbeat_interval_ms: u64,
}

impl Default for NodeOptions {
    /// etcd's defaults.
    fn default() -> Self {
        let config = NodeConfig::new(1, 0);
        NodeOptions {
            pre_vote: config.raft.pre_vote,
            check_quorum: config.raft.check_quorum,
            snapshot_entries: config.snapshot_entries,
            snapshot_catch_up_entries: config.snapshot_catch_up_entries,
            spares: 0,
            inflight_max: config.raft.inflight_max,
            batch_bytes_max: config.raft.batch_bytes_max,
            election_timeout_ms: config.raft.election_timeout.as_millis() as u64,
            heartbeat_interval_ms: config.raft.heartbeat_interval.as_millis() as u64,
        }
    }
}

impl NodeOptions {
    /// Draw the members' Raft knobs from `seed` (swarm), etcd's defaults the likeliest: batches
    /// down to below one entry and windows down to one append, which stress flow control and
    /// leave followers with stale tails; fast and slow elections; snapshots every few hundred
    /// entries; pre-vote off now and then. From a stream of its own, so no other draw moves.
    pub fn draw(seed: u64) -> NodeOptions {
        let mut random = Random::new(seed, Stream::Node);
        let defaults = NodeOptions::default();
        let pick = |random: &mut Random, values: &[u64]| {
            values[random.below(values.len() as u64) as usize]
        };
        let (election_timeout_ms, heartbeat_interval_ms) = [
            (1_000, 100),
            (1_000, 100),
            (300, 30),
            (500, 100),
            (2_000, 200),
        ][random.below(5) as usize];
        let snapshot_entries = pick(&mut random, &[200, 1_000, defaults.snapshot_entries]);
        NodeOptions {
            pre_vote: random.chance(0.75),
            batch_bytes_max: pick(&mut random, &[200, 4_096, 65_536, defaults.batch_bytes_max]),
            inflight_max: pick(&mut random, &[1, 4, defaults.inflight_max as u64]) as usize,
            election_timeout_ms,
            heartbeat_interval_ms,
            snapshot_entries,
            snapshot_catch_up_entries: snapshot_entries / 2,
            ..defaults
        }
    }
}

/// One `name = value` line per knob, like `SimOptions`.
impl fmt::Display for NodeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<24} = {}", "pre_vote", self.pre_vote)?;
        writeln!(f, "{:<24} = {}", "check_quorum", self.check_quorum)?;
        writeln!(f, "{:<24} = {}", "snapshot_entries", self.snapshot_entries)?;
        writeln!(
            f,
            "{:<24} = {}",
            "snapshot_catch_up_entries", self.snapshot_catch_up_entries
        )?;
        writeln!(f, "{:<24} = {}", "spares", self.spares)?;
        writeln!(f, "{:<24} = {}", "inflight_max", self.inflight_max)?;
        writeln!(f, "{:<24} = {}", "batch_bytes_max", self.batch_bytes_max)?;
        writeln!(
            f,
            "{:<24} = {}",
            "election_timeout_ms", self.election_timeout_ms
        )?;
        writeln!(
            f,
            "{:<24} = {}",
            "heartbeat_interval_ms", self.heartbeat_interval_ms
        )
    }
}

/// Everything that decides a run.
#[derive(Debug)]
pub struct RunOptions {
    pub seed: u64,
    pub sim: SimOptions,
    pub workload: WorkloadOptions,
    pub node: NodeOptions,
    /// How long clients run and faults are injected.
    pub fault_phase: Duration,
    /// After healing, the cluster must serve a write and a linearizable read within this.
    pub recovery_bound: Duration,
    /// Events the run may process at most (a runaway past it breaks the "bounded run" property).
    pub events_max: u64,
    /// The history check's step allowance: past it the verdict is "unknown".
    pub check_steps_max: u64,
    /// Where the world's trace goes (by default only its hash is kept).
    pub trace: TraceSettings,
}

impl RunOptions {
    /// The baseline of a scenario script: five healthy members, the default clients, no random
    /// faults, and a fault phase as long as the script runs (`fault_phase_ms` can cut it short).
    pub fn scripted(seed: u64) -> RunOptions {
        RunOptions {
            seed,
            sim: SimOptions::default(),
            workload: WorkloadOptions::default(),
            node: NodeOptions::default(),
            fault_phase: Duration::from_secs(FAULT_PHASE_SECS_MAX),
            recovery_bound: Duration::from_secs(30),
            events_max: EVENTS_MAX,
            check_steps_max: STEPS_MAX_DEFAULT,
            trace: TraceSettings::hash_only(),
        }
    }

    /// A run with every option drawn from the seed ("swarm").
    pub fn swarm(seed: u64) -> RunOptions {
        RunOptions {
            seed,
            sim: SimOptions::draw(seed),
            workload: WorkloadOptions::draw(seed),
            node: NodeOptions::draw(seed),
            fault_phase: Duration::from_secs(30),
            recovery_bound: Duration::from_secs(30),
            events_max: EVENTS_MAX,
            check_steps_max: STEPS_MAX_DEFAULT,
            trace: TraceSettings::hash_only(),
        }
    }
}

/// What a run found.
#[derive(Debug)]
pub struct RunReport {
    pub seed: u64,
    pub members: Vec<NodeId>,
    /// Raft-level events, in time order.
    pub events: Vec<(Instant, ClusterEvent)>,
    pub leaders: Vec<(Term, NodeId)>,
    pub commit_index: u64,
    pub workload: WorkloadStats,
    pub world: WorldStats,
    pub fault_phase_end: Instant,
    /// How long the healed cluster took to serve again; `None` if it did not within the bound.
    pub recovery: Option<Duration>,
    pub safety: Option<Violation>,
    pub check: CheckReport,
    /// The clients' history, as the checker read it.
    pub history: Vec<HistoryRecord>,
    pub trace_hash: u64,
    /// The trace, when `RunOptions::trace` kept it in memory (for reports); empty otherwise.
    pub trace: Vec<TraceEventOf<NodeHost<KvStore>>>,
}

impl RunReport {
    /// True when no property was broken: safety held, the cluster recovered, the history checked.
    pub fn passed(&self) -> bool {
        self.safety.is_none() && self.recovery.is_some() && self.check.exit_code() == 0
    }

    /// True when the only failure is an undecided history check: safety held, the cluster
    /// recovered, and the checker's step budget ran out before a verdict.
    pub fn undecided(&self) -> bool {
        self.safety.is_none() && self.recovery.is_some() && self.check.verdict == Verdict::Unknown
    }

    /// The first failure, in words.
    pub fn failure(&self) -> Option<String> {
        if let Some(violation) = &self.safety {
            return Some(violation.to_string());
        }
        if self.recovery.is_none() {
            return Some(
                "liveness: the healed cluster did not serve a write and a read in time".into(),
            );
        }
        match (self.check.verdict, self.check.violations.first()) {
            (Verdict::NotLinearizable, _) => {
                Some("linearizability: the history is not linearizable".into())
            }
            (Verdict::Unknown, _) => Some(format!(
                "history check: inconclusive within its budget ({} steps)",
                self.check.steps
            )),
            (Verdict::Linearizable, Some(violation)) => Some(violation.to_string()),
            (Verdict::Linearizable, None) => None,
        }
    }
}

/// Run one simulation to its verdict: clients and faults for the fault phase, then
/// [`Simulation::finish`].
pub fn run(options: RunOptions) -> RunReport {
    let mut simulation = Simulation::new(options);
    let fault_phase_end = simulation.fault_phase_end;
    simulation.run_until(fault_phase_end);
    simulation.finish()
}

/// A run in progress, driven step by step: what a scenario script drives between its faults.
///
/// Clients run whenever time passes; a scripted request goes through the workload's probe client
/// so that it is recorded like every other. The run's time never passes `fault_phase_end`
/// before [`finish`](Simulation::finish), which heals everything, waits for recovery and checks.
#[allow(missing_debug_implementations)] // the world's machines are not Debug
pub struct Simulation {
    seed: u64,
    world: NodeWorld<KvStore>,
    observer: Observer,
    workload: Workload,
    fault_phase_end: Instant,
    recovery_bound: Duration,
    events_max: u64,
    check_steps_max: u64,
    /// The fastest or slowest clock rate a script set, in parts per million.
    scripted_drift_ppm: u64,
    admin_request_next: RequestId,
    /// Answers to administrative requests, not yet taken.
    admin_answers: Vec<ClientResponse<Response>>,
}

/// The client of administrative requests (membership changes): outside the workload, so its
/// requests are not in the history, which records only what the checker's model knows.
pub const ADMIN_CLIENT: ClientId = ClientId::MAX;

/// How a scripted request ended, as the history recorded it.
pub type RequestOutcome = detcd_checker::history::Outcome;

impl Simulation {
    pub fn new(mut options: RunOptions) -> Simulation {
        let members: Vec<NodeId> = (1..=options.sim.node_count as NodeId).collect();
        let all = options.sim.node_count + options.node.spares;
        let ids: Vec<NodeId> = (1..=all as NodeId).collect();
        let host = host(options.node.clone());
        let mut world = World::new(options.seed, options.sim.clone(), host, &ids);
        world.set_trace(std::mem::replace(&mut options.trace, TraceSettings::off()));
        for &id in &members {
            world.format_disk(id, PersistedState::bootstrap(members.iter().copied()));
        }
        for &spare in &ids[members.len()..] {
            world.keep_spare(spare);
        }
        let workload = Workload::new(options.seed, options.workload.clone(), &members);
        Simulation {
            seed: options.seed,
            world,
            observer: Observer::default(),
            workload,
            fault_phase_end: Instant::ZERO + options.fault_phase,
            recovery_bound: options.recovery_bound,
            events_max: options.events_max,
            check_steps_max: options.check_steps_max,
            scripted_drift_ppm: 0,
            admin_request_next: 1,
            admin_answers: Vec::new(),
        }
    }

    /// After healing, the cluster must serve a write and a linearizable read within this.
    pub fn recovery_bound(&self) -> Duration {
        self.recovery_bound
    }

    /// Make `node`'s clock run fast (positive) or slow by `ppm`. The history check allows for
    /// it: leases rest on clocks.
    pub fn set_clock_drift(&mut self, node: NodeId, ppm: i64) {
        self.world.set_clock_drift(node, ppm);
        self.scripted_drift_ppm = self.scripted_drift_ppm.max(ppm.unsigned_abs());
    }

    pub fn now(&self) -> Instant {
        self.world.now()
    }

    pub fn world(&self) -> &NodeWorld<KvStore> {
        &self.world
    }

    /// The world, for scripted faults.
    pub fn world_mut(&mut self) -> &mut NodeWorld<KvStore> {
        &mut self.world
    }

    pub fn observer(&self) -> &Observer {
        &self.observer
    }

    pub fn workload(&self) -> &Workload {
        &self.workload
    }

    /// When the fault phase ends at the latest: time does not pass it before `finish`.
    pub fn fault_phase_end(&self) -> Instant {
        self.fault_phase_end
    }

    /// True once a safety property broke (the run should go to `finish` to report it).
    pub fn broken(&self) -> bool {
        self.observer.violation().is_some()
    }

    /// Let clients and faults run until `until` (at most the end of the fault phase), or until a
    /// safety property breaks.
    pub fn run_until(&mut self, until: Instant) {
        let until = until.min(self.fault_phase_end);
        while self.world.now() < until && !self.broken() {
            self.step_clients(self.workload.next_wakeup().min(until));
        }
    }

    /// Let clients and faults run until `done` holds of the world (checked after every step) or
    /// `until` passes. True when `done` held.
    pub fn run_until_holds(
        &mut self,
        until: Instant,
        mut done: impl FnMut(&NodeWorld<KvStore>) -> bool,
    ) -> bool {
        let until = until.min(self.fault_phase_end);
        loop {
            if done(&self.world) {
                return true;
            }
            if self.world.now() >= until || self.broken() {
                return false;
            }
            let wakeup = self.workload.next_wakeup().min(until);
            let observer = &mut self.observer;
            let workload = &mut self.workload;
            let events_max = self.events_max;
            let mut held = false;
            self.world.run_until_observed(wakeup, |world| {
                observe(observer, world, events_max);
                held = done(world);
                !held && observer.violation().is_none() && !world.has_responses()
            });
            let admin = &mut self.admin_answers;
            for response in self.world.drain_responses() {
                deliver(workload, admin, response);
            }
            self.send_ready();
        }
    }

    /// Send `body` to `node` from the probe client and run (clients and faults too) until it
    /// ends: answered, or given up as timed out. Its outcome, as the history recorded it.
    pub fn request(&mut self, node: NodeId, body: Request) -> RequestOutcome {
        self.request_before(node, body, Instant::NEVER)
            .unwrap_or_else(|| RequestOutcome::Unknown {
                reason: "a safety property broke before the answer".into(),
            })
    }

    /// `request`, giving up at `deadline` (or when safety breaks) with `None`.
    fn request_before(
        &mut self,
        node: NodeId,
        body: Request,
        deadline: Instant,
    ) -> Option<RequestOutcome> {
        if self.broken() {
            // The run is over but for its verdict: nothing more is sent.
            return None;
        }
        let send = self.workload.send_probe(self.world.now(), node, body);
        self.world
            .send_request(send.node, send.client, send.request, send.body);
        while self
            .workload
            .probe_result()
            .is_none_or(|(request, _)| request != send.request)
        {
            if self.world.now() >= deadline || self.broken() {
                return None;
            }
            self.step_clients(self.workload.next_wakeup().min(deadline));
        }
        Some(self.outcome_of(send.request))
    }

    /// The outcome the history recorded for a completed probe request.
    fn outcome_of(&self, request: RequestId) -> RequestOutcome {
        let returned = self
            .workload
            .history()
            .iter()
            .rev()
            .find_map(|record| match record {
                HistoryRecord::Return { op, outcome, .. } if *op == request => {
                    Some(outcome.clone())
                }
                _ => None,
            });
        returned.expect("a completed request has its return recorded")
    }

    /// Step the world to `until` or the first response, hand responses to the clients, and
    /// send what they issue next.
    fn step_clients(&mut self, until: Instant) {
        let workload = &mut self.workload;
        let admin = &mut self.admin_answers;
        world_step(&mut self.world, &mut self.observer, until, self.events_max);
        for response in self.world.drain_responses() {
            deliver(workload, admin, response);
        }
        self.send_ready();
    }

    /// Send an administrative request (a membership change) to `node` and run until its answer
    /// or `timeout`; `None` when no answer came in time (its outcome is unknown).
    pub fn admin(&mut self, node: NodeId, body: Request, timeout: Duration) -> Option<Response> {
        let request = self.admin_request_next;
        self.admin_request_next += 1;
        self.world.send_request(node, ADMIN_CLIENT, request, body);
        let deadline = self.world.now() + timeout;
        loop {
            if let Some(at) = self
                .admin_answers
                .iter()
                .position(|answer| answer.request == request)
            {
                return Some(self.admin_answers.swap_remove(at).body);
            }
            if self.world.now() >= deadline || self.broken() {
                return None;
            }
            self.step_clients(self.workload.next_wakeup().min(deadline));
        }
    }

    /// Hand an administrative request straight to `node`, as an operator at its console would
    /// (no network in between), without waiting for the answer. False if `node` is not running.
    pub fn admin_at(&mut self, node: NodeId, body: Request) -> bool {
        let request = self.admin_request_next;
        self.admin_request_next += 1;
        self.world.input(node, |now| Input::Request {
            now,
            client: ADMIN_CLIENT,
            request,
            body,
        })
    }

    fn send_ready(&mut self) {
        for send in self.workload.act(self.world.now()) {
            self.world
                .send_request(send.node, send.client, send.request, send.body);
        }
    }

    /// End the fault phase now: clients stop, every fault heals, the cluster must serve a write
    /// and a linearizable read within the recovery bound, and the history goes to the checker.
    pub fn finish(mut self) -> RunReport {
        let fault_phase_end = self.world.now();
        self.workload.stop();
        self.world.heal_all();
        let recovery = self.recover();
        self.workload.finish(self.world.now());
        let budget = Budget::with_steps_max(self.check_steps_max);
        let check = check_history(&self.world, &self.workload, self.scripted_drift_ppm, budget);
        self.world
            .flush_trace()
            .expect("the trace writer takes the whole trace");
        RunReport {
            seed: self.seed,
            members: self.world.node_ids().to_vec(),
            events: self.observer.events().to_vec(),
            leaders: self
                .observer
                .leaders()
                .iter()
                .map(|(&term, &node)| (term, node))
                .collect(),
            commit_index: self.observer.commit_index(),
            workload: self.workload.stats(),
            world: self.world.stats(),
            fault_phase_end,
            recovery,
            safety: self.observer.violation().cloned(),
            check,
            history: self.workload.history().to_vec(),
            trace_hash: self.world.trace_hash(),
            trace: self.world.trace_events().to_vec(),
        }
    }

    /// The liveness phase: with everything healed, the workload's probe client writes a key and
    /// reads it back linearizably, trying member after member, until both succeed or the bound
    /// passes. Its operations are in the history like every client's.
    fn recover(&mut self) -> Option<Duration> {
        let start = self.world.now();
        let deadline = start + self.recovery_bound;
        // Spares never started are no members to ask.
        let world = &self.world;
        let members: Vec<NodeId> = world
            .node_ids()
            .iter()
            .copied()
            .filter(|&id| !world.is_unstarted_spare(id))
            .collect();
        let mut written = false;
        for attempt in 1.. {
            if self.world.now() >= deadline || self.broken() {
                break;
            }
            let member = members[attempt % members.len()];
            let key = b"liveness".to_vec();
            let body = match written {
                true => Request::Range(RangeRequest {
                    key,
                    ..RangeRequest::default()
                }),
                false => Request::Put(PutRequest {
                    key,
                    value: b"ok".to_vec(),
                    ..PutRequest::default()
                }),
            };
            match self.request_before(member, body, deadline)? {
                RequestOutcome::Ok(_) if written => return Some(self.world.now() - start),
                RequestOutcome::Ok(_) => written = true,
                _ => {}
            }
        }
        None
    }
}

/// Hand a response to the workload, or keep it for `Simulation::admin`.
fn deliver(
    workload: &mut Workload,
    admin: &mut Vec<ClientResponse<Response>>,
    response: ClientResponse<Response>,
) {
    match response.client {
        ADMIN_CLIENT => admin.push(response),
        _ => workload.receive(&response),
    }
}

/// Step the world to `until` or the first response, checking safety after every step.
fn world_step(
    world: &mut NodeWorld<KvStore>,
    observer: &mut Observer,
    until: Instant,
    events_max: u64,
) {
    world.run_until_observed(until, |world| {
        observe(observer, world, events_max);
        observer.violation().is_none() && !world.has_responses()
    });
}

/// Check safety after a step, and stop a runaway run.
fn observe(observer: &mut Observer, world: &NodeWorld<KvStore>, events_max: u64) {
    observer.observe(world);
    if world.stats().events_processed > events_max {
        observer.runaway(world.now(), events_max);
    }
}

fn host(options: NodeOptions) -> NodeHost<KvStore> {
    NodeHost {
        config: Box::new(move |id, seed| {
            let mut config = NodeConfig::new(id, seed);
            config.raft.pre_vote = options.pre_vote;
            config.raft.check_quorum = options.check_quorum;
            config.raft.inflight_max = options.inflight_max;
            config.raft.batch_bytes_max = options.batch_bytes_max;
            config.raft.election_timeout = Duration::from_millis(options.election_timeout_ms);
            config.raft.heartbeat_interval = Duration::from_millis(options.heartbeat_interval_ms);
            config.snapshot_entries = options.snapshot_entries;
            config.snapshot_catch_up_entries = options.snapshot_catch_up_entries;
            config
        }),
        state: Box::new(|| KvStore::new(KvConfig::default())),
    }
}

/// Check the clients' history. Lease expiry rests on clocks, so a lease may expire early by as
/// much clock error as the run injected: the most any member's clock ran ahead of true time, and
/// the drift the options allow.
fn check_history(
    world: &NodeWorld<KvStore>,
    workload: &Workload,
    scripted_drift_ppm: u64,
    budget: Budget,
) -> CheckReport {
    let history =
        etcd::from_records(workload.history()).expect("the simulator writes well-formed histories");
    let ahead = world
        .node_ids()
        .iter()
        .map(|&id| world.local_time(id) - world.now())
        .max()
        .unwrap_or_default();
    let clock = ClockUncertainty {
        step: ahead,
        drift_ppm: world.options().clock_drift_ppm_max.max(scripted_drift_ppm),
    };
    check_etcd_with(&history, CheckOptions { budget, clock })
}

impl fmt::Display for RunReport {
    /// The run in figures: leaders, progress, clients, network, and the verdicts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.recovery {
            Some(took) => writeln!(f, "recovery               {} ms", took.as_millis())?,
            None => writeln!(f, "recovery               NONE within the bound")?,
        }
        let terms: Vec<String> = self
            .leaders
            .iter()
            .map(|(term, node)| format!("{term}:{node}"))
            .collect();
        writeln!(
            f,
            "leaders (term:member)  {}",
            if terms.is_empty() {
                "none".into()
            } else {
                terms.join(" ")
            }
        )?;
        writeln!(f, "commit index           {}", self.commit_index)?;
        let w = &self.workload;
        writeln!(
            f,
            "client operations      {} invoked: {} ok, {} failed, {} unknown outcome",
            w.invoked, w.ok, w.failed, w.unknown
        )?;
        let s = &self.world;
        writeln!(
            f,
            "messages               {} sent, {} delivered, {} dropped",
            s.messages_sent, s.messages_delivered, s.messages_dropped
        )?;
        writeln!(
            f,
            "raft safety            {}",
            self.safety
                .as_ref()
                .map_or("held".into(), ToString::to_string)
        )?;
        writeln!(
            f,
            "linearizability        {} ({} operations, checked in {} steps)",
            self.verdict_text(),
            self.check.operations,
            self.check.steps
        )?;
        if let Some(counterexample) = &self.check.counterexample {
            writeln!(f, "{counterexample}")?;
        }
        for violation in &self.check.violations {
            writeln!(f, "  {violation}")?;
        }
        write!(f, "trace hash             {:016x}", self.trace_hash)
    }
}

impl RunReport {
    /// The checker's verdict in words.
    pub fn verdict_text(&self) -> &'static str {
        match (self.check.verdict, self.check.violations.is_empty()) {
            (Verdict::Linearizable, true) => "linearizable; watch and lease guarantees held",
            (Verdict::Linearizable, false) => "linearizable, but watch/lease guarantees broken",
            (Verdict::NotLinearizable, _) => "NOT linearizable",
            (Verdict::Unknown, _) => "unknown (budget exhausted)",
        }
    }
}

/// An election or step-down in words; `None` for events that only timelines show.
pub fn describe(event: &ClusterEvent) -> Option<String> {
    match event {
        ClusterEvent::Elected { node, term, voters } => Some(format!(
            "member {node} elected leader of term {term} by {voters:?}"
        )),
        ClusterEvent::SteppedDown { node, term } => {
            Some(format!("member {node} no longer leads term {term}"))
        }
        ClusterEvent::SnapshotInstalled { node, index } => Some(format!(
            "member {node} installs the leader's snapshot through index {index}"
        )),
        ClusterEvent::Committed { .. } | ClusterEvent::RoleChanged { .. } => None,
    }
}
