//! One simulated run of a detcd cluster, start to verdict.
//!
//! A run has two phases. In the *fault phase* clients drive the workload while the world injects
//! whatever faults the options enable (and a scenario script adds its own); the [`Observer`]
//! checks Raft's safety properties after every step. In the *liveness phase* every fault is
//! healed and the cluster must elect a leader and serve a write and a linearizable read within a
//! bound; the time it took is reported. Finally the clients' history goes to the checker.

use std::fmt;

use detcd_checker::{
    Budget, CheckOptions, CheckReport, ClockUncertainty, HistoryRecord, Verdict, check_etcd_with,
    etcd,
};
use detcd_core::kv::{KvConfig, KvStore, PutRequest, RangeRequest, Request, Response};
use detcd_core::raft::Term;
use detcd_core::{Duration, Instant, NodeConfig, NodeId};

use crate::cluster::{ClusterEvent, NodeHost, NodeWorld, Observer, Violation, bootstrap_cluster};
use crate::options::SimOptions;
use crate::trace::TraceSettings;
use crate::workload::{Workload, WorkloadOptions, WorkloadStats};
use crate::world::{ClientResponse, TraceEventOf, World, WorldStats};

/// Events one run may process at most. A healthy 60-second run of 7 members takes a few million;
/// a run past this bound is a runaway (a message storm), reported as a liveness failure rather
/// than left to exhaust memory.
pub const EVENTS_MAX: u64 = 200_000_000;

/// A scripted action at a point of the fault phase (partitions, crashes, stalls...).
pub type Script = Box<dyn FnMut(&mut NodeWorld<KvStore>)>;

/// Everything that decides a run.
pub struct RunOptions {
    pub seed: u64,
    pub sim: SimOptions,
    pub workload: WorkloadOptions,
    /// How long clients run and faults are injected.
    pub fault_phase: Duration,
    /// After healing, the cluster must serve a write and a linearizable read within this.
    pub recovery_bound: Duration,
    /// Scripted actions, at times within the fault phase, in time order.
    pub script: Vec<(Duration, Script)>,
    /// Where the world's trace goes (by default only its hash is kept).
    pub trace: TraceSettings,
}

impl fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("seed", &self.seed)
            .field("sim", &self.sim)
            .finish_non_exhaustive()
    }
}

impl RunOptions {
    /// A run with every option drawn from the seed ("swarm").
    pub fn swarm(seed: u64) -> RunOptions {
        RunOptions {
            seed,
            sim: SimOptions::draw(seed),
            workload: WorkloadOptions::draw(seed),
            fault_phase: Duration::from_secs(30),
            recovery_bound: Duration::from_secs(30),
            script: Vec::new(),
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
            (Verdict::Unknown, _) => Some("history check: inconclusive within its budget".into()),
            (Verdict::Linearizable, Some(violation)) => Some(violation.to_string()),
            (Verdict::Linearizable, None) => None,
        }
    }
}

/// Run one simulation to its verdict.
pub fn run(mut options: RunOptions) -> RunReport {
    let ids: Vec<NodeId> = (1..=options.sim.node_count as NodeId).collect();
    let mut world = World::new(options.seed, options.sim.clone(), host(), &ids);
    world.set_trace(std::mem::replace(&mut options.trace, TraceSettings::off()));
    bootstrap_cluster(&mut world);
    let mut observer = Observer::default();
    let mut workload = Workload::new(options.seed, options.workload.clone(), &ids);
    let fault_phase_end = Instant::ZERO + options.fault_phase;
    let mut script = std::mem::take(&mut options.script).into_iter().peekable();
    while world.now() < fault_phase_end && observer.violation().is_none() {
        let next_script = script
            .peek()
            .map_or(Instant::NEVER, |(at, _)| Instant::ZERO + *at);
        let until = workload.next_wakeup().min(next_script).min(fault_phase_end);
        step_until(&mut world, &mut observer, until, |response| {
            workload.receive(response)
        });
        while script
            .peek()
            .is_some_and(|(at, _)| Instant::ZERO + *at <= world.now())
        {
            let (_, mut action) = script.next().expect("peeked");
            action(&mut world);
        }
        for send in workload.act(world.now()) {
            world.send_request(send.node, send.client, send.request, send.body);
        }
    }
    workload.stop();
    world.heal_all();
    let recovery = recover(
        &mut world,
        &mut observer,
        &mut workload,
        options.recovery_bound,
    );
    workload.finish(world.now());
    let check = check_history(&world, &workload);
    world
        .flush_trace()
        .expect("the trace writer takes the whole trace");
    RunReport {
        seed: options.seed,
        members: ids,
        events: observer.events().to_vec(),
        leaders: observer
            .leaders()
            .iter()
            .map(|(&term, &node)| (term, node))
            .collect(),
        commit_index: observer.commit_index(),
        workload: workload.stats(),
        world: world.stats(),
        fault_phase_end,
        recovery,
        safety: observer.violation().cloned(),
        check,
        history: workload.history().to_vec(),
        trace_hash: world.trace_hash(),
        trace: world.trace_events().to_vec(),
    }
}

fn host() -> NodeHost<KvStore> {
    NodeHost {
        config: Box::new(NodeConfig::new),
        state: Box::new(|| KvStore::new(KvConfig::default())),
    }
}

/// Step the world until `until` or the first response, checking safety after every step, and
/// hand the responses on.
fn step_until(
    world: &mut NodeWorld<KvStore>,
    observer: &mut Observer,
    until: Instant,
    mut receive: impl FnMut(&ClientResponse<Response>),
) {
    // Stop early when a response arrives, so the client that got it can go on at once.
    world.run_until_observed(until, |world| {
        observer.observe(world);
        if world.stats().events_processed > EVENTS_MAX {
            observer.runaway(world.now(), EVENTS_MAX);
        }
        observer.violation().is_none() && !world.has_responses()
    });
    for response in world.drain_responses() {
        receive(&response);
    }
}

/// The liveness phase: with everything healed, the workload's probe client writes a key and reads
/// it back linearizably, trying member after member, until both succeed or the bound passes. Its
/// operations are in the history like every client's.
fn recover(
    world: &mut NodeWorld<KvStore>,
    observer: &mut Observer,
    workload: &mut Workload,
    bound: Duration,
) -> Option<Duration> {
    let start = world.now();
    let deadline = start + bound;
    let members = world.node_ids().to_vec();
    let mut attempt = 0;
    let mut written = false;
    while world.now() < deadline && observer.violation().is_none() {
        attempt += 1;
        let member = members[attempt % members.len()];
        let body = if written {
            Request::Range(RangeRequest {
                key: b"liveness".to_vec(),
                ..RangeRequest::default()
            })
        } else {
            Request::Put(PutRequest {
                key: b"liveness".to_vec(),
                value: b"ok".to_vec(),
                ..PutRequest::default()
            })
        };
        let send = workload.send_probe(world.now(), member, body);
        world.send_request(send.node, send.client, send.request, send.body);
        // Wait for the answer, or for the workload to give the request up as timed out.
        while workload
            .probe_result()
            .is_none_or(|(request, _)| request != send.request)
        {
            let until = workload.next_wakeup().min(deadline);
            step_until(world, observer, until, |response| {
                workload.receive(response)
            });
            workload.act(world.now());
            if world.now() >= deadline || observer.violation().is_some() {
                return None;
            }
        }
        match workload.probe_result() {
            Some((_, true)) if written => return Some(world.now() - start),
            Some((_, true)) => written = true,
            _ => {}
        }
    }
    None
}

/// Check the clients' history. Lease expiry rests on clocks, so a lease may expire early by as
/// much clock error as the run injected: the most any member's clock ran ahead of true time, and
/// the drift the options allow.
fn check_history(world: &NodeWorld<KvStore>, workload: &Workload) -> CheckReport {
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
        drift_ppm: world.options().clock_drift_ppm_max,
    };
    check_etcd_with(
        &history,
        CheckOptions {
            budget: Budget::default(),
            clock,
        },
    )
}

impl fmt::Display for RunReport {
    /// A readable account of the run: what happened to the cluster, then the verdict.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:>9}  {} members start: {:?}",
            Instant::ZERO.to_string(),
            self.members.len(),
            self.members
        )?;
        // The summary tells elections, step-downs and commit progress; role changes are for
        // timelines and explanations.
        let told = self
            .events
            .iter()
            .filter_map(|(at, event)| describe(event).map(|line| (*at, line)));
        let (faulty, healed): (Vec<_>, Vec<_>) =
            told.partition(|(at, _)| *at <= self.fault_phase_end);
        for (at, line) in faulty {
            writeln!(f, "{:>9}  {line}", at.to_string())?;
        }
        writeln!(
            f,
            "{:>9}  fault phase over: every fault healed",
            self.fault_phase_end.to_string()
        )?;
        for (at, line) in healed {
            writeln!(f, "{:>9}  {line}", at.to_string())?;
        }
        match self.recovery {
            Some(took) => {
                let at = self.fault_phase_end + took;
                writeln!(
                    f,
                    "{:>9}  the cluster serves again (recovered in {} ms)",
                    at.to_string(),
                    took.as_millis()
                )?;
            }
            None => writeln!(f, "           the cluster did NOT recover")?,
        }
        writeln!(f)?;
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
            "linearizability        {} ({} operations, checked in {} ms)",
            verdict(&self.check),
            self.check.operations,
            self.check.elapsed.as_millis()
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

fn verdict(check: &CheckReport) -> &'static str {
    match (check.verdict, check.violations.is_empty()) {
        (Verdict::Linearizable, true) => "linearizable",
        (Verdict::Linearizable, false) => "linearizable, but watch/lease guarantees broken",
        (Verdict::NotLinearizable, _) => "NOT linearizable",
        (Verdict::Unknown, _) => "unknown (budget exhausted)",
    }
}

fn describe(event: &ClusterEvent) -> Option<String> {
    match event {
        ClusterEvent::Elected { node, term, voters } => Some(format!(
            "member {node} elected leader of term {term} by {voters:?}"
        )),
        ClusterEvent::SteppedDown { node, term } => {
            Some(format!("member {node} no longer leads term {term}"))
        }
        ClusterEvent::Committed { index } => Some(format!("commit index reaches {index}")),
        ClusterEvent::RoleChanged { .. } => None,
    }
}
