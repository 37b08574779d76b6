//! Running a scenario script: setup commands become the run's options, actions drive a
//! [`Simulation`], and each block's output is what a reader needs to follow the run.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use detcd_checker::history::{Outcome, Response as RecordedResponse};
use detcd_core::kv::{
    CompactRequest, DeleteRangeRequest, KvStore, LeaseGrantRequest, MemberRequest,
    MoveLeaderRequest, PutRequest, RangeRequest, Request, Response,
};
use detcd_core::{Duration, Instant, NodeId};
use detcd_sim::cluster::{ClusterEvent, NodeWorld};
use detcd_sim::overrides;
use detcd_sim::run::{RunOptions, RunReport, Simulation, describe};
use detcd_sim::trace::TraceSettings;
use detcd_sim::workload::WorkloadStats;
use detcd_sim::{NodeStatus, Partition};

use super::parse::{Action, Command, Expectation, ParseError, Script, Setup};

/// A finished run of a script.
#[derive(Debug)]
pub struct Execution {
    /// What each block printed, in file order.
    pub outputs: Vec<String>,
    /// Expectations that did not hold, each with its line.
    pub unmet: Vec<String>,
    pub report: RunReport,
}

impl Execution {
    pub fn passed(&self) -> bool {
        self.unmet.is_empty() && self.report.passed()
    }

    /// True when the only failure is an undecided history check (a larger budget may decide it).
    pub fn undecided(&self) -> bool {
        self.unmet.is_empty() && self.report.undecided()
    }

    /// The first failure in words: a broken safety property (which ends a script's run), else
    /// an unmet expectation, else what else the run broke.
    pub fn failure(&self) -> Option<String> {
        if let Some(violation) = &self.report.safety {
            return Some(violation.to_string());
        }
        self.unmet
            .first()
            .cloned()
            .or_else(|| self.report.failure())
    }
}

/// The run options the script's setup commands give for `seed`, with `overrides` on top.
pub fn options(
    script: &Script,
    seed: u64,
    overrides: &[(String, String)],
) -> Result<RunOptions, ParseError> {
    let mut options = RunOptions::scripted(seed);
    for line in script.commands() {
        let pairs = match &line.command {
            Command::Setup(Setup::Swarm) => {
                options = RunOptions::swarm(seed);
                continue;
            }
            Command::Setup(Setup::Set(pairs)) => pairs.clone(),
            // The recovery bound is an option too, so that `--set recovery_bound_ms` wins.
            Command::Action(Action::Check { recover }) => {
                vec![("recovery_bound_ms".into(), recover.as_millis().to_string())]
            }
            Command::Action(_) => continue,
        };
        overrides::apply_all(&mut options, &pairs).map_err(|message| ParseError {
            line: line.number,
            message,
        })?;
    }
    overrides::apply_all(&mut options, overrides).map_err(|message| ParseError {
        line: 0,
        message: format!("--set: {message}"),
    })?;
    Ok(options)
}

/// Run `script` for `seed`. A script naming a member the cluster does not have is an error.
pub fn execute(
    script: &Script,
    seed: u64,
    overrides: &[(String, String)],
    trace: TraceSettings,
) -> Result<Execution, ParseError> {
    let mut options = options(script, seed, overrides)?;
    check_members(script, options.sim.node_count + options.node.spares)?;
    options.trace = trace;
    let clients = options.workload.clients;
    let mut run = Interpreter::new(Simulation::new(options));
    let members = run.sim().world().node_ids().len();
    run.say(
        Instant::ZERO,
        &format!("{members} members start, with {clients} clients"),
    );
    let mut outputs = Vec::new();
    let mut report = None;
    for block in &script.blocks {
        for line in &block.commands {
            if let Command::Action(action) = &line.command {
                report = run.act(action, line.number, &line.text);
            }
        }
        outputs.push(std::mem::take(&mut run.out).trim_end().to_string());
    }
    Ok(Execution {
        outputs,
        unmet: run.unmet,
        report: report.expect("a parsed script ends with `check`"),
    })
}

/// Every member an action names must exist.
fn check_members(script: &Script, node_count: usize) -> Result<(), ParseError> {
    for line in script.commands() {
        let Command::Action(action) = &line.command else {
            continue;
        };
        if let Some(&node) = members_named(action)
            .iter()
            .find(|&&node| node as usize > node_count)
        {
            return Err(ParseError {
                line: line.number,
                message: format!("member {node} does not exist: the cluster has {node_count}"),
            });
        }
    }
    Ok(())
}

fn members_named(action: &Action) -> Vec<NodeId> {
    match action {
        Action::Partition(groups) => groups.concat(),
        Action::Cut { from, to } => [from.as_slice(), to].concat(),
        Action::Elect { node, .. }
        | Action::Isolate(node)
        | Action::Crash(node)
        | Action::Restart(node)
        | Action::Pause(node, _)
        | Action::Clog(node, _)
        | Action::DiskStall(node, _)
        | Action::ClockDrift { node, .. }
        | Action::ClockStep(node, _)
        | Action::Put { via: node, .. }
        | Action::Get { via: node, .. }
        | Action::Delete { via: node, .. }
        | Action::Compact { via: node }
        | Action::GrantLease { via: node, .. } => vec![*node],
        Action::Member { change, via } => vec![change.member(), *via],
        Action::Expect { expectation, .. } => match expectation {
            Expectation::LeaderIn(set) | Expectation::NoLeaderIn(set) => set.clone(),
            Expectation::Write { via: node, .. } | Expectation::Key { on: node, .. } => {
                vec![*node]
            }
            Expectation::CaughtUp => Vec::new(),
        },
        Action::Run(_) | Action::Heal | Action::Check { .. } => Vec::new(),
    }
}

/// The state of a script's run between commands.
struct Interpreter {
    /// `None` once `check` finished it.
    simulation: Option<Simulation>,
    /// The current block's output.
    out: String,
    /// Observer events already told.
    events_told: usize,
    leases: BTreeMap<String, i64>,
    /// Scripted writes so far, to make each `expect write` value unique.
    writes: u64,
    unmet: Vec<String>,
    /// A safety property broke and the output said so: the script's remaining actions are
    /// skipped, and its `check` reports the run.
    broken: bool,
}

impl Interpreter {
    fn new(simulation: Simulation) -> Interpreter {
        Interpreter {
            simulation: Some(simulation),
            out: String::new(),
            events_told: 0,
            leases: BTreeMap::new(),
            writes: 0,
            unmet: Vec::new(),
            broken: false,
        }
    }

    fn sim(&mut self) -> &mut Simulation {
        self.simulation
            .as_mut()
            .expect("nothing runs after `check`")
    }

    fn world(&mut self) -> &mut NodeWorld<KvStore> {
        self.sim().world_mut()
    }

    /// Carry out one action; the report once `check` ran. Once a safety property broke, the
    /// run ends with that verdict: every action but the closing `check` is skipped.
    fn act(&mut self, action: &Action, line: usize, text: &str) -> Option<RunReport> {
        if let Action::Check { .. } = action {
            return Some(self.check());
        }
        if !self.broken {
            self.carry_out(action, line, text);
            self.tell_break();
        }
        None
    }

    fn carry_out(&mut self, action: &Action, line: usize, text: &str) {
        match action {
            Action::Run(duration) => self.run(*duration),
            Action::Elect { node, within } => self.elect(*node, *within, line),
            Action::Check { .. } => unreachable!("`act` finishes the run at `check`"),
            Action::Expect {
                expectation,
                within,
            } => self.expect(expectation, *within, line, text),
            Action::Put { .. }
            | Action::Get { .. }
            | Action::Delete { .. }
            | Action::Compact { .. }
            | Action::GrantLease { .. } => self.request(action, line),
            Action::Member { change, via } => self.membership(change.clone(), *via, text),
            _ => self.fault(action, text),
        }
    }

    /// Say once that a safety property broke, and that the script stops there.
    fn tell_break(&mut self) {
        let Some(violation) = self.sim().observer().violation().cloned() else {
            return;
        };
        self.broken = true;
        self.say(
            violation.at,
            &format!("raft safety broke: {violation}; the rest of the script is skipped"),
        );
    }

    fn run(&mut self, duration: Duration) {
        let before = self.sim().workload().stats();
        let until = self.sim().now() + duration;
        self.sim().run_until(until);
        self.tell_events();
        let now = self.sim().now();
        let after = self.sim().workload().stats();
        let commit = self.sim().observer().commit_index();
        self.say(
            now,
            &format!("{}; commit index {commit}", client_progress(before, after)),
        );
    }

    /// Wait for a leader; if it is not `node`, hand leadership to `node`; wait for that.
    fn elect(&mut self, node: NodeId, within: Duration, line: usize) {
        let deadline = self.sim().now() + within;
        let held = self
            .sim()
            .run_until_holds(deadline, |world| leader(world).is_some());
        if held && leader(self.sim().world()) != Some(node) {
            let current = leader(self.sim().world()).expect("a leader, waited for above");
            // A refusal (the target lags, a transfer under way) shows as a timeout below.
            let request = Request::MoveLeader(MoveLeaderRequest { target_id: node });
            self.sim().admin_at(current, request);
        }
        let led = self
            .sim()
            .run_until_holds(deadline, |world| leader(world) == Some(node));
        self.tell_events();
        let now = self.sim().now();
        match led {
            true => {
                let term = self.sim().world().node(node).map_or(0, |n| n.raft().term());
                self.say(now, &format!("member {node} leads term {term}"));
            }
            false => self.unmet(
                now,
                line,
                &format!("member {node} did not become leader within {within:?}"),
            ),
        }
    }

    /// A scripted fault, at once; a line saying what happened.
    fn fault(&mut self, action: &Action, text: &str) {
        let world = self.world();
        let members = world.node_ids().to_vec();
        let applied = match action {
            Action::Partition(groups) => {
                let groups: Vec<&[NodeId]> = groups.iter().map(Vec::as_slice).collect();
                world.set_partition(Partition::split(&groups));
                true
            }
            Action::Isolate(node) => {
                world.set_partition(Partition::isolate(*node, &members));
                true
            }
            Action::Cut { from, to } => {
                let mut partition = world.partition().clone();
                for &from in from {
                    for &to in to {
                        partition = partition.with_cut(from, to);
                    }
                }
                world.set_partition(partition);
                true
            }
            Action::Heal => {
                world.heal();
                true
            }
            Action::Crash(node) => world.crash(*node),
            Action::Restart(node) => world.restart(*node),
            Action::Pause(node, duration) => world.pause(*node, *duration),
            Action::Clog(node, duration) => {
                world.clog_node(*node, *duration);
                true
            }
            Action::DiskStall(node, duration) => {
                world.stall_disk(*node, *duration);
                true
            }
            Action::ClockDrift { node, ppm } => {
                self.sim().set_clock_drift(*node, *ppm);
                true
            }
            Action::ClockStep(node, by) => {
                world.step_clock(*node, *by);
                true
            }
            _ => unreachable!("requests, expectations, runs and checks are handled apart"),
        };
        let now = self.sim().now();
        match applied {
            true => self.say(now, text),
            // Crashing a crashed member, restarting a running one: worth seeing, not an error.
            false => self.say(now, &format!("{text}: nothing to do")),
        }
    }

    fn request(&mut self, action: &Action, line: usize) {
        let (via, body, told) = match action {
            Action::Put {
                key,
                value,
                lease,
                via,
            } => {
                let lease_id = match lease {
                    Some(name) => match self.leases.get(name) {
                        Some(&id) => id,
                        None => {
                            let now = self.sim().now();
                            let why = format!("no lease named {name} was granted");
                            return self.unmet(now, line, &why);
                        }
                    },
                    None => 0,
                };
                let body = Request::Put(PutRequest {
                    key: key.clone().into_bytes(),
                    value: value.clone().into_bytes(),
                    lease: lease_id,
                    ..PutRequest::default()
                });
                (*via, body, format!("put {key}={value}"))
            }
            Action::Get {
                key,
                via,
                serializable,
            } => {
                let body = Request::Range(RangeRequest {
                    key: key.clone().into_bytes(),
                    serializable: *serializable,
                    ..RangeRequest::default()
                });
                let kind = if *serializable { " (serializable)" } else { "" };
                (*via, body, format!("get {key}{kind}"))
            }
            Action::Delete { key, via } => {
                let body = Request::DeleteRange(DeleteRangeRequest {
                    key: key.clone().into_bytes(),
                    ..DeleteRangeRequest::default()
                });
                (*via, body, format!("delete {key}"))
            }
            Action::Compact { via } => {
                let revision = self
                    .sim()
                    .world()
                    .node(*via)
                    .map_or(1, |node| node.state().store().current_revision());
                let body = Request::Compact(CompactRequest {
                    revision,
                    physical: false,
                });
                (*via, body, format!("compact at revision {revision}"))
            }
            Action::GrantLease { name, ttl, via } => {
                let body = Request::LeaseGrant(LeaseGrantRequest {
                    ttl_secs: ttl.as_secs() as i64,
                    id: 0,
                });
                (*via, body, format!("grant lease {name}"))
            }
            _ => unreachable!("only requests come here"),
        };
        let outcome = self.sim().request(via, body);
        if let (
            Action::GrantLease { name, .. },
            Outcome::Ok(RecordedResponse::LeaseGrant { id, .. }),
        ) = (action, &outcome)
        {
            self.leases.insert(name.clone(), *id);
        }
        self.tell_events();
        let now = self.sim().now();
        self.say(
            now,
            &format!("{told} via {via}: {}", outcome_text(&outcome)),
        );
    }

    fn membership(&mut self, change: MemberRequest, via: NodeId, text: &str) {
        let answer = self
            .sim()
            .admin(via, Request::Member(change), ADMIN_TIMEOUT);
        self.tell_events();
        let now = self.sim().now();
        let told = match answer {
            Some(Response::MemberList(list)) => {
                format!("voters {:?}, learners {:?}", list.voters, list.learners)
            }
            Some(Response::Error(error)) => format!("error \"{}\"", error.message()),
            Some(other) => format!("unexpected answer {other:?}"),
            None => format!("no answer within {} s", ADMIN_TIMEOUT.as_secs()),
        };
        self.say(now, &format!("{text}: {told}"));
    }

    fn expect(
        &mut self,
        expectation: &Expectation,
        within: Option<Duration>,
        line: usize,
        text: &str,
    ) {
        if let Expectation::Write { via, succeeds } = expectation {
            return self.expect_write(*via, *succeeds, line, text);
        }
        let target = self.target(expectation);
        let holds = |world: &NodeWorld<KvStore>| holds(world, expectation, target);
        let held = match within {
            Some(bound) => {
                let until = self.sim().now() + bound;
                self.sim().run_until_holds(until, holds)
            }
            None => holds(self.sim().world()),
        };
        self.tell_events();
        let now = self.sim().now();
        let seen = observed(self.sim().world(), expectation);
        match held {
            true => self.say(now, &format!("{text}: ok, {seen}")),
            false => self.unmet(now, line, &format!("`{text}` does not hold: {seen}")),
        }
    }

    /// What `expect caught-up` waits for: the leader's commit index when it was asked.
    fn target(&mut self, expectation: &Expectation) -> u64 {
        match expectation {
            Expectation::CaughtUp => self.sim().observer().commit_index(),
            _ => 0,
        }
    }

    fn expect_write(&mut self, via: NodeId, succeeds: bool, line: usize, text: &str) {
        self.writes += 1;
        let body = Request::Put(PutRequest {
            key: format!("expect-write-{}", self.writes).into_bytes(),
            value: b"x".to_vec(),
            ..PutRequest::default()
        });
        let outcome = self.sim().request(via, body);
        self.tell_events();
        let now = self.sim().now();
        let seen = outcome_text(&outcome);
        match matches!(outcome, Outcome::Ok(_)) == succeeds {
            true => self.say(now, &format!("{text}: ok, {seen}")),
            false => self.unmet(now, line, &format!("`{text}` does not hold: {seen}")),
        }
    }

    fn check(&mut self) -> RunReport {
        let simulation = self.simulation.take().expect("one `check`, at the end");
        let recover = simulation.recovery_bound();
        let report = simulation.finish();
        self.say(report.fault_phase_end, "clients stop; every fault heals");
        self.tell(&report.events[self.events_told..]);
        match report.recovery {
            Some(took) => self.say(
                report.fault_phase_end + took,
                &format!(
                    "the cluster serves again ({} ms after the heal)",
                    took.as_millis()
                ),
            ),
            None => self.say_untimed(&format!(
                "the cluster did NOT serve a write and a read within {} ms",
                recover.as_millis()
            )),
        }
        let w = report.workload;
        self.say_untimed(&format!(
            "client operations: {} ok, {} failed, {} unknown outcome",
            w.ok, w.failed, w.unknown
        ));
        let safety = report
            .safety
            .as_ref()
            .map_or("held".into(), ToString::to_string);
        self.say_untimed(&format!("raft safety: {safety}"));
        self.say_untimed(&format!("history: {}", report.verdict_text()));
        report
    }

    /// Tell the observer's new elections, step-downs and snapshot installs.
    fn tell_events(&mut self) {
        let told = self.events_told;
        let events = self.sim().observer().events();
        let new = events[told..].to_vec();
        self.events_told = events.len();
        self.tell(&new);
    }

    /// Say the events that have words (`describe`), in order.
    fn tell(&mut self, events: &[(Instant, ClusterEvent)]) {
        for (at, event) in events {
            if let Some(line) = describe(event) {
                self.say(*at, &line);
            }
        }
    }

    fn say(&mut self, at: Instant, line: &str) {
        let _ = writeln!(self.out, "{:>9}  {line}", at.to_string());
    }

    fn say_untimed(&mut self, line: &str) {
        let _ = writeln!(self.out, "{:>9}  {line}", "");
    }

    fn unmet(&mut self, at: Instant, line: usize, why: &str) {
        self.say(at, &format!("FAILED: {why}"));
        self.unmet.push(format!("line {line}: {why}"));
    }
}

/// How long a membership change may take to answer: etcd's request timeout.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The leader now: a running member that leads, the one of the highest term if several think so.
fn leader(world: &NodeWorld<KvStore>) -> Option<NodeId> {
    world
        .node_ids()
        .iter()
        .filter(|&&id| world.status(id) == NodeStatus::Running)
        .filter_map(|&id| world.node(id).map(|node| (id, node.raft())))
        .filter(|(_, raft)| raft.is_leader())
        .max_by_key(|(_, raft)| raft.term())
        .map(|(id, _)| id)
}

fn holds(world: &NodeWorld<KvStore>, expectation: &Expectation, target: u64) -> bool {
    match expectation {
        Expectation::LeaderIn(set) => leader(world).is_some_and(|id| set.contains(&id)),
        Expectation::NoLeaderIn(set) => !set.iter().any(|&id| {
            world.status(id) == NodeStatus::Running
                && world.node(id).is_some_and(|node| node.raft().is_leader())
        }),
        Expectation::Key { key, on, present } => world.node(*on).is_some_and(|node| {
            let store = node.state().store();
            store
                .get(key.as_bytes(), store.current_revision())
                .is_some()
                == *present
        }),
        Expectation::CaughtUp => world
            .node_ids()
            .iter()
            .filter(|&&id| world.status(id) == NodeStatus::Running)
            .all(|&id| {
                world
                    .node(id)
                    .is_some_and(|node| node.raft().applied_index() >= target)
            }),
        Expectation::Write { .. } => unreachable!("writes are sent, not looked at"),
    }
}

/// What the world shows about an expectation, in words, whether it holds or not.
fn observed(world: &NodeWorld<KvStore>, expectation: &Expectation) -> String {
    let roles = |set: &[NodeId]| {
        set.iter()
            .map(|&id| match world.node(id) {
                Some(node) if world.status(id) == NodeStatus::Running => format!(
                    "{id} {} of term {}",
                    format!("{:?}", node.raft().role()).to_lowercase(),
                    node.raft().term()
                ),
                _ => format!("{id} down"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match expectation {
        Expectation::LeaderIn(_) => match leader(world) {
            Some(id) => format!(
                "member {id} leads term {}",
                world.node(id).map_or(0, |node| node.raft().term())
            ),
            None => "no member leads".into(),
        },
        Expectation::NoLeaderIn(set) => roles(set),
        Expectation::Key { key, on, .. } => match world.node(*on) {
            Some(node) => {
                let store = node.state().store();
                match store.get(key.as_bytes(), store.current_revision()) {
                    Some(kv) => format!(
                        "member {on} has {key}={}",
                        String::from_utf8_lossy(&kv.value)
                    ),
                    None => format!("member {on} has no {key}"),
                }
            }
            None => format!("member {on} is down"),
        },
        Expectation::CaughtUp => {
            let applied: Vec<String> = world
                .node_ids()
                .iter()
                .map(|&id| match world.node(id) {
                    Some(node) if world.status(id) == NodeStatus::Running => {
                        format!("{id}:{}", node.raft().applied_index())
                    }
                    _ => format!("{id}:down"),
                })
                .collect();
            format!("applied through (member:index) {}", applied.join(" "))
        }
        Expectation::Write { .. } => unreachable!("writes are sent, not looked at"),
    }
}

/// How clients fared between two points: `+N ok, +N failed, +N unknown`.
fn client_progress(before: WorkloadStats, after: WorkloadStats) -> String {
    format!(
        "clients: {} ok, {} failed, {} unknown outcome",
        after.ok - before.ok,
        after.failed - before.failed,
        after.unknown - before.unknown
    )
}

/// A request's outcome in a few words.
fn outcome_text(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Ok(response) => match response {
            RecordedResponse::Range { header, kvs, .. } => match kvs.first() {
                Some(kv) => format!("{}={} at revision {}", kv.key, kv.value, header.revision),
                None => format!("no such key at revision {}", header.revision),
            },
            RecordedResponse::LeaseGrant { id, ttl, .. } => format!("lease {id}, ttl {ttl}s"),
            other => format!("done at revision {}", other.header().revision),
        },
        Outcome::Error { message } => format!("error \"{message}\""),
        Outcome::Unknown { reason } => format!("unknown outcome ({reason})"),
    }
}
