//! The scenario file format and its commands.
//!
//! Setup (before the first action; each is a set of option overrides):
//! - `cluster N [spares=M]`: N members (1 to 7), and M more not started, with empty disks,
//!   for membership changes to add.
//! - `clients N [mix=put:40,get:40,...] [keys=N] [timeout=2s] [think=0ms..20ms]
//!   [linearizable=80%]`: the background clients; a mix names every weight that is not 0.
//! - `network [latency=1ms..10ms] [loss=1%] [duplicate=1%] [reorder=100%]`.
//! - `disk [latency=1ms..5ms] [torn=10%]`: write-and-fsync time, the chance a crash tears a write.
//! - `faults every=2s [crash=1] [pause=1] [partition=1] [clog=1] [disk-stall=1] [clock-step=1]`:
//!   random faults, on average every `every`, of the kinds given, by weight.
//! - `swarm`: every option drawn from the seed (first, if at all).
//! - `set KEY=VALUE...`: any option, by the keys `detcd-sim run --help` lists.
//!
//! Actions (members are numbered from 1; durations are `500ms`, `2s`, `1.5s`):
//! - `run 5s`: clients and random faults run for that long.
//! - `elect N [within 10s]`: run until member N leads (by leader transfer if another leads).
//! - `partition 1,2 | 3,4,5`: only members of the same group reach each other (replaces any
//!   partition); `isolate N`; `cut 1 -> 2,3`: messages from 1 to 2 and 3 are lost (one way;
//!   added to the partition in place);
//!   `heal`: every partition and cut healed.
//! - `crash N`, `restart N`, `pause N 2s`, `clog N 1s`, `disk-stall N 2s`,
//!   `clock-drift N +50ms/s` (or `-20ms/s`, `+500ppm`), `clock-step N +2s`.
//! - `put KEY VALUE via N [lease=NAME]`, `get KEY via N [serializable]`, `delete KEY via N`,
//!   `compact via N` (at member N's latest revision), `grant-lease NAME ttl=5s via N`: requests
//!   of a scripted client, recorded and checked like every client's; each prints its outcome.
//! - `expect leader in 3,4,5`, `expect no leader in 1,2`, `expect write via N succeeds|fails`,
//!   `expect key KEY present|absent on N`, `expect caught-up`; any but the write may end with
//!   `within 5s` to run until it holds. An expectation that does not hold fails the run.
//! - `add-learner N via M`, `add-member N via M`, `promote N via M`, `remove-member N via M`:
//!   membership changes (etcd's Cluster service) through member M; `start N` starts a spare
//!   (or restarts a member).
//! - `check [recover=30s]`: the last command: stop the clients, heal everything, require a
//!   write and a read to succeed within `recover`, and check the history.

use std::fmt;

use detcd_core::kv::MemberRequest;
use detcd_core::{Duration, NodeId};

/// A parsed scenario file.
#[derive(Clone, Debug)]
pub struct Script {
    /// The first `#` paragraph, joined into one line: what the scenario shows.
    pub purpose: String,
    pub blocks: Vec<Block>,
}

impl Script {
    /// True when the file keeps expected output (it has at least one `----`).
    pub fn is_scripted(&self) -> bool {
        self.blocks.iter().any(|block| block.expected.is_some())
    }

    /// True when the run's options come from the seed (`swarm`) or it has random faults, so
    /// that they are worth printing.
    pub fn draws_options(&self) -> bool {
        self.commands().any(|line| {
            line.command == Command::Setup(Setup::Swarm) || line.text.starts_with("faults")
        })
    }

    /// Every command with its line number, in file order.
    pub fn commands(&self) -> impl Iterator<Item = &Line> {
        self.blocks.iter().flat_map(|block| &block.commands)
    }

    /// The file with `outputs` (one per block) in place of the expected ones.
    pub fn rewrite(&self, outputs: &[String]) -> String {
        let mut text = String::new();
        for (block, output) in self.blocks.iter().zip(outputs) {
            for line in &block.header {
                text.push_str(line);
                text.push('\n');
            }
            text.push_str("----\n");
            if !output.is_empty() {
                text.push_str(output);
                text.push('\n');
            }
            text.push('\n');
        }
        text.truncate(text.trim_end().len());
        text.push('\n');
        text
    }
}

/// Comments and commands, then the output they print.
#[derive(Clone, Debug)]
pub struct Block {
    /// The lines before `----`, as written (comments, commands, blank lines).
    pub header: Vec<String>,
    pub commands: Vec<Line>,
    /// The lines after `----`, up to a blank line; `None` without a `----`.
    pub expected: Option<String>,
}

/// A command and the line it is on (from 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub number: usize,
    pub text: String,
    pub command: Command,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Setup(Setup),
    Action(Action),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Setup {
    /// Draw every option from the seed.
    Swarm,
    /// Option overrides, `key=value` as `--set` takes them.
    Set(Vec<(String, String)>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Run(Duration),
    Elect {
        node: NodeId,
        within: Duration,
    },
    Partition(Vec<Vec<NodeId>>),
    Isolate(NodeId),
    Cut {
        from: Vec<NodeId>,
        to: Vec<NodeId>,
    },
    Heal,
    Crash(NodeId),
    Restart(NodeId),
    Pause(NodeId, Duration),
    Clog(NodeId, Duration),
    DiskStall(NodeId, Duration),
    ClockDrift {
        node: NodeId,
        ppm: i64,
    },
    ClockStep(NodeId, Duration),
    Put {
        key: String,
        value: String,
        lease: Option<String>,
        via: NodeId,
    },
    Get {
        key: String,
        via: NodeId,
        serializable: bool,
    },
    Delete {
        key: String,
        via: NodeId,
    },
    Compact {
        via: NodeId,
    },
    GrantLease {
        name: String,
        ttl: Duration,
        via: NodeId,
    },
    /// A membership change through member `via`.
    Member {
        change: MemberRequest,
        via: NodeId,
    },
    /// An expectation, checked now or, with a bound, as soon as it holds.
    Expect {
        expectation: Expectation,
        within: Option<Duration>,
    },
    Check {
        recover: Duration,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expectation {
    LeaderIn(Vec<NodeId>),
    NoLeaderIn(Vec<NodeId>),
    Write {
        via: NodeId,
        succeeds: bool,
    },
    Key {
        key: String,
        on: NodeId,
        present: bool,
    },
    CaughtUp,
}

/// What `check` allows for recovery when it does not say.
pub const RECOVER_DEFAULT: Duration = Duration::from_secs(30);
/// How long `elect` waits when it does not say.
const ELECT_WITHIN_DEFAULT: Duration = Duration::from_secs(10);

/// A file that cannot be read as a scenario: the line (from 1) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Read a scenario file.
pub fn parse(text: &str) -> Result<Script, ParseError> {
    let purpose = text
        .lines()
        .map_while(|line| line.strip_prefix('#'))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let blocks = blocks(text)?;
    let script = Script { purpose, blocks };
    check_order(&script)?;
    Ok(script)
}

/// Split the text into blocks and parse each command.
fn blocks(text: &str) -> Result<Vec<Block>, ParseError> {
    let mut blocks = Vec::new();
    let mut header = Vec::new();
    let mut commands = Vec::new();
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line));
    while let Some((number, line)) = lines.next() {
        let trimmed = line.trim();
        if trimmed == "----" {
            if commands.is_empty() {
                return Err(error(number, "`----` with no command before it"));
            }
            let expected: Vec<&str> = lines
                .by_ref()
                .map(|(_, line)| line)
                .take_while(|line| !line.trim().is_empty())
                .collect();
            blocks.push(Block {
                header: std::mem::take(&mut header),
                commands: std::mem::take(&mut commands),
                expected: Some(expected.join("\n")),
            });
            continue;
        }
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            commands.push(Line {
                number,
                text: trimmed.to_string(),
                command: command(trimmed).map_err(|message| error(number, &message))?,
            });
        }
        header.push(line.to_string());
    }
    if !commands.is_empty() {
        while header.last().is_some_and(|line| line.trim().is_empty()) {
            header.pop();
        }
        blocks.push(Block {
            header,
            commands,
            expected: None,
        });
    }
    Ok(blocks)
}

/// Setup before actions, `swarm` first, `check` last and once.
fn check_order(script: &Script) -> Result<(), ParseError> {
    let mut acted = false;
    let mut first = true;
    let mut checked = None;
    for line in script.commands() {
        if let Some(at) = checked {
            return Err(error(
                line.number,
                &format!("nothing may follow `check` (line {at})"),
            ));
        }
        match &line.command {
            Command::Setup(_) if acted => {
                return Err(error(
                    line.number,
                    "setup commands come before the first action",
                ));
            }
            Command::Setup(Setup::Swarm) if !first => {
                return Err(error(line.number, "`swarm` must be the first command"));
            }
            Command::Setup(_) => {}
            Command::Action(Action::Check { .. }) => checked = Some(line.number),
            Command::Action(_) => acted = true,
        }
        first = false;
    }
    match (checked, script.commands().last()) {
        (Some(_), _) => Ok(()),
        (None, last) => Err(error(
            last.map_or(1, |line| line.number),
            "a scenario ends with `check`",
        )),
    }
}

fn error(line: usize, message: &str) -> ParseError {
    ParseError {
        line,
        message: message.to_string(),
    }
}

/// One command line.
fn command(line: &str) -> Result<Command, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let (&name, args) = words.split_first().expect("the line is not empty");
    let setup = |overrides| Ok(Command::Setup(Setup::Set(overrides)));
    let action = |action| Ok(Command::Action(action));
    match name {
        "cluster" => setup(cluster(args)?),
        "clients" => setup(clients(args)?),
        "network" => setup(network(args)?),
        "disk" => setup(disk(args)?),
        "faults" => setup(faults(args)?),
        "set" => setup(set(args)?),
        "swarm" => {
            none(args, "swarm")?;
            Ok(Command::Setup(Setup::Swarm))
        }
        "run" => action(Action::Run(duration(one(args, "run DURATION")?)?)),
        "elect" => action(elect(args)?),
        "partition" => action(Action::Partition(partition(&args.join(" "))?)),
        "isolate" => action(Action::Isolate(node(one(args, "isolate N")?)?)),
        "cut" => action(cut(args)?),
        "heal" => none(args, "heal").and(action(Action::Heal)),
        "crash" => action(Action::Crash(node(one(args, "crash N")?)?)),
        "restart" | "start" => action(Action::Restart(node(one(args, "start N")?)?)),
        "add-learner" | "add-member" | "promote" | "remove-member" => {
            action(membership(name, args)?)
        }
        "pause" => {
            node_for(args, "pause N DURATION").and_then(|(n, d)| action(Action::Pause(n, d)))
        }
        "clog" => node_for(args, "clog N DURATION").and_then(|(n, d)| action(Action::Clog(n, d))),
        "disk-stall" => node_for(args, "disk-stall N DURATION")
            .and_then(|(n, d)| action(Action::DiskStall(n, d))),
        "clock-drift" => action(clock_drift(args)?),
        "clock-step" => action(clock_step(args)?),
        "put" | "get" | "delete" | "compact" | "grant-lease" => action(request(name, args)?),
        "expect" => action(expect(args)?),
        "check" => action(check(args)?),
        _ => Err(format!("unknown command `{name}`")),
    }
}

fn none(args: &[&str], usage: &str) -> Result<(), String> {
    match args {
        [] => Ok(()),
        _ => Err(format!("usage: {usage}")),
    }
}

fn one<'a>(args: &[&'a str], usage: &str) -> Result<&'a str, String> {
    match args {
        [arg] => Ok(arg),
        _ => Err(format!("usage: {usage}")),
    }
}

fn node_for(args: &[&str], usage: &str) -> Result<(NodeId, Duration), String> {
    match args {
        [n, d] => Ok((node(n)?, duration(d)?)),
        _ => Err(format!("usage: {usage}")),
    }
}

/// `key=value` arguments, each key allowed once and only from `allowed`.
fn named<'a>(args: &[&'a str], allowed: &[&str]) -> Result<Vec<(&'a str, &'a str)>, String> {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for arg in args {
        let (key, value) = arg
            .split_once('=')
            .ok_or_else(|| format!("`{arg}` is not key=value ({})", allowed.join(", ")))?;
        if !allowed.contains(&key) {
            return Err(format!(
                "unknown argument `{key}`; expected one of {}",
                allowed.join(", ")
            ));
        }
        if pairs.iter().any(|(seen, _)| *seen == key) {
            return Err(format!("`{key}` given twice"));
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

fn cluster(args: &[&str]) -> Result<Vec<(String, String)>, String> {
    let (size, rest) = args.split_first().ok_or("usage: cluster N [spares=M]")?;
    let mut overrides = vec![("node_count".to_string(), count(size)?)];
    for (_, value) in named(rest, &["spares"])? {
        overrides.push(("spares".into(), count(value)?));
    }
    Ok(overrides)
}

fn membership(name: &str, args: &[&str]) -> Result<Action, String> {
    let usage = format!("usage: {name} N via M");
    let ([id], via) = via(args, &usage)? else {
        return Err(usage);
    };
    let id = node(id)?;
    let change = match name {
        "add-learner" | "add-member" => MemberRequest::Add {
            id,
            learner: name == "add-learner",
            peer_urls: Vec::new(),
        },
        "promote" => MemberRequest::Promote { id },
        _ => MemberRequest::Remove { id },
    };
    Ok(Action::Member { change, via })
}

fn clients(args: &[&str]) -> Result<Vec<(String, String)>, String> {
    let (count_text, rest) = args.split_first().ok_or("usage: clients N [mix=...]")?;
    let mut overrides = vec![("clients".to_string(), count(count_text)?)];
    let allowed = ["mix", "keys", "timeout", "think", "linearizable"];
    for (key, value) in named(rest, &allowed)? {
        match key {
            "mix" => overrides.extend(mix(value)?),
            "keys" => overrides.push(("keys".into(), count(value)?)),
            "timeout" => overrides.push(("request_timeout_ms".into(), millis(value)?)),
            "think" => overrides.extend(millis_range(value, "think_ms")?),
            _ => overrides.push(("linearizable_read_percent".into(), percent(value)?)),
        }
    }
    Ok(overrides)
}

/// Every operation kind, as a mix names it.
const OPERATIONS: [&str; 8] = [
    "put", "get", "range", "delete", "txn", "lease", "watch", "compact",
];

/// `put:40,get:40`: the weights named, every other kind 0.
fn mix(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut weights = OPERATIONS.map(|kind| (kind, "0".to_string()));
    for part in text.split(',') {
        let (kind, weight) = part
            .split_once(':')
            .ok_or_else(|| format!("`{part}` in the mix is not kind:weight"))?;
        let slot = weights
            .iter_mut()
            .find(|(name, _)| *name == kind)
            .ok_or_else(|| {
                format!(
                    "unknown operation `{kind}`; expected {}",
                    OPERATIONS.join(", ")
                )
            })?;
        slot.1 = weight
            .parse::<u32>()
            .map_err(|_| format!("weight `{weight}` of {kind} is not a number"))?
            .to_string();
    }
    Ok(weights
        .into_iter()
        .map(|(kind, weight)| (format!("mix.{kind}"), weight))
        .collect())
}

fn network(args: &[&str]) -> Result<Vec<(String, String)>, String> {
    let mut overrides = Vec::new();
    for (key, value) in named(args, &["latency", "loss", "duplicate", "reorder"])? {
        match key {
            "latency" => overrides.extend(millis_range(value, "latency_ms")?),
            "loss" => overrides.push(("loss_probability".into(), probability(value)?)),
            "duplicate" => overrides.push(("duplicate_probability".into(), probability(value)?)),
            _ => overrides.push(("reorder_probability".into(), probability(value)?)),
        }
    }
    Ok(overrides)
}

fn disk(args: &[&str]) -> Result<Vec<(String, String)>, String> {
    let mut overrides = Vec::new();
    for (key, value) in named(args, &["latency", "torn"])? {
        match key {
            "latency" => overrides.extend(millis_range(value, "disk_latency_ms")?),
            _ => overrides.push(("torn_write_probability".into(), probability(value)?)),
        }
    }
    Ok(overrides)
}

fn faults(args: &[&str]) -> Result<Vec<(String, String)>, String> {
    let kinds = [
        "crash",
        "pause",
        "partition",
        "clog",
        "disk-stall",
        "clock-step",
    ];
    let mut allowed = vec!["every"];
    allowed.extend(kinds);
    let pairs = named(args, &allowed)?;
    if !pairs.iter().any(|(key, _)| *key == "every") {
        return Err("usage: faults every=DURATION KIND=WEIGHT...".into());
    }
    // The kinds not named are off.
    let mut overrides: Vec<(String, String)> = kinds
        .iter()
        .map(|kind| {
            (
                format!("fault_weights.{}", kind.replace('-', "_")),
                "0".into(),
            )
        })
        .collect();
    for (key, value) in pairs {
        if key == "every" {
            overrides.push(("fault_interval_ms_mean".into(), millis(value)?));
        } else {
            let weight = value
                .parse::<u64>()
                .map_err(|_| format!("weight `{value}` of {key} is not a number"))?;
            let slot = format!("fault_weights.{}", key.replace('-', "_"));
            overrides.retain(|(existing, _)| *existing != slot);
            overrides.push((slot, weight.to_string()));
        }
    }
    Ok(overrides)
}

fn set(args: &[&str]) -> Result<Vec<(String, String)>, String> {
    if args.is_empty() {
        return Err("usage: set KEY=VALUE...".into());
    }
    args.iter()
        .map(|arg| {
            arg.split_once('=')
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .ok_or_else(|| format!("`{arg}` is not key=value"))
        })
        .collect()
}

fn elect(args: &[&str]) -> Result<Action, String> {
    let usage = "usage: elect N [within DURATION]";
    match args {
        [n] => Ok(Action::Elect {
            node: node(n)?,
            within: ELECT_WITHIN_DEFAULT,
        }),
        [n, "within", d] => Ok(Action::Elect {
            node: node(n)?,
            within: duration(d)?,
        }),
        _ => Err(usage.into()),
    }
}

/// `1,2 | 3,4,5`: groups of members.
fn partition(text: &str) -> Result<Vec<Vec<NodeId>>, String> {
    let groups: Vec<Vec<NodeId>> = text
        .split('|')
        .map(|group| nodes(group.trim()))
        .collect::<Result<_, _>>()?;
    if groups.len() < 2 {
        return Err("usage: partition 1,2 | 3,4,5 (two groups or more)".into());
    }
    let mut all: Vec<NodeId> = groups.concat();
    all.sort_unstable();
    if all.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err("a member is in two groups".into());
    }
    Ok(groups)
}

fn cut(args: &[&str]) -> Result<Action, String> {
    match args {
        [from, "->", to] => Ok(Action::Cut {
            from: nodes(from)?,
            to: nodes(to)?,
        }),
        _ => Err("usage: cut 1,2 -> 3,4 (messages from 1 and 2 to 3 and 4 are lost)".into()),
    }
}

fn clock_drift(args: &[&str]) -> Result<Action, String> {
    let [n, rate] = args else {
        return Err("usage: clock-drift N +50ms/s".into());
    };
    let (sign, magnitude) = signed(rate)?;
    let ppm = if let Some(per_second) = magnitude.strip_suffix("/s") {
        // Milliseconds gained per second of true time: a thousandth is 1,000 ppm.
        (duration(per_second)?.as_nanos() / 1_000) as i64
    } else if let Some(ppm) = magnitude.strip_suffix("ppm") {
        ppm.parse::<i64>()
            .map_err(|_| format!("`{rate}` is not a rate like +50ms/s or -500ppm"))?
    } else {
        return Err(format!("`{rate}` is not a rate like +50ms/s or -500ppm"));
    };
    Ok(Action::ClockDrift {
        node: node(n)?,
        ppm: sign * ppm,
    })
}

fn clock_step(args: &[&str]) -> Result<Action, String> {
    let [n, by] = args else {
        return Err("usage: clock-step N +2s".into());
    };
    match signed(by)? {
        (1, magnitude) => Ok(Action::ClockStep(node(n)?, duration(magnitude)?)),
        _ => Err("a clock steps forward only (+DURATION)".into()),
    }
}

/// A leading `+` or `-`, required.
fn signed(text: &str) -> Result<(i64, &str), String> {
    if let Some(rest) = text.strip_prefix('+') {
        Ok((1, rest))
    } else if let Some(rest) = text.strip_prefix('-') {
        Ok((-1, rest))
    } else {
        Err(format!("`{text}` needs a sign, + or -"))
    }
}

/// `... via N` at the end of a request.
fn via<'a>(args: &'a [&'a str], usage: &str) -> Result<(&'a [&'a str], NodeId), String> {
    match args {
        [rest @ .., "via", n] => Ok((rest, node(n)?)),
        _ => Err(format!("usage: {usage}")),
    }
}

fn request(name: &str, args: &[&str]) -> Result<Action, String> {
    match name {
        "put" => {
            let usage = "put KEY VALUE [lease=NAME] via N";
            let (rest, via) = via(args, usage)?;
            let (key, value, lease) = match rest {
                [key, value] => (key, value, None),
                [key, value, lease] => match lease.strip_prefix("lease=") {
                    Some(name) => (key, value, Some(name.to_string())),
                    None => return Err(format!("usage: {usage}")),
                },
                _ => return Err(format!("usage: {usage}")),
            };
            Ok(Action::Put {
                key: key.to_string(),
                value: value.to_string(),
                lease,
                via,
            })
        }
        "get" => {
            let usage = "get KEY via N [serializable]";
            let (args, serializable) = match args {
                [rest @ .., "serializable"] => (rest, true),
                _ => (args, false),
            };
            match via(args, usage)? {
                ([key], via) => Ok(Action::Get {
                    key: key.to_string(),
                    via,
                    serializable,
                }),
                _ => Err(format!("usage: {usage}")),
            }
        }
        "delete" => match via(args, "delete KEY via N")? {
            ([key], via) => Ok(Action::Delete {
                key: key.to_string(),
                via,
            }),
            _ => Err("usage: delete KEY via N".into()),
        },
        "compact" => match via(args, "compact via N")? {
            ([], via) => Ok(Action::Compact { via }),
            _ => Err("usage: compact via N".into()),
        },
        _ => {
            let usage = "grant-lease NAME ttl=DURATION via N";
            match via(args, usage)? {
                ([name, ttl], via) => {
                    let ttl = ttl
                        .strip_prefix("ttl=")
                        .ok_or_else(|| format!("usage: {usage}"))?;
                    Ok(Action::GrantLease {
                        name: name.to_string(),
                        ttl: duration(ttl)?,
                        via,
                    })
                }
                _ => Err(format!("usage: {usage}")),
            }
        }
    }
}

fn expect(args: &[&str]) -> Result<Action, String> {
    let (args, within) = match args {
        [rest @ .., "within", d] => (rest, Some(duration(d)?)),
        _ => (args, None),
    };
    let expectation = match args {
        ["leader", "in", set] => Expectation::LeaderIn(nodes(set)?),
        ["no", "leader", "in", set] => Expectation::NoLeaderIn(nodes(set)?),
        ["write", "via", n, outcome @ ("succeeds" | "fails")] => {
            if within.is_some() {
                return Err("`expect write` takes no `within`: it waits for its answer".into());
            }
            Expectation::Write {
                via: node(n)?,
                succeeds: *outcome == "succeeds",
            }
        }
        ["key", key, presence @ ("present" | "absent"), "on", n] => Expectation::Key {
            key: key.to_string(),
            on: node(n)?,
            present: *presence == "present",
        },
        ["caught-up"] => Expectation::CaughtUp,
        _ => {
            return Err(
                "expected one of: expect leader in SET, expect no leader in SET, \
                        expect write via N succeeds|fails, expect key KEY present|absent on N, \
                        expect caught-up (any but write may end with `within DURATION`)"
                    .into(),
            );
        }
    };
    Ok(Action::Expect {
        expectation,
        within,
    })
}

fn check(args: &[&str]) -> Result<Action, String> {
    match named(args, &["recover"])?.as_slice() {
        [] => Ok(Action::Check {
            recover: RECOVER_DEFAULT,
        }),
        [(_, value)] => Ok(Action::Check {
            recover: duration(value)?,
        }),
        _ => unreachable!("`named` allows `recover` once"),
    }
}

fn node(text: &str) -> Result<NodeId, String> {
    match text.parse::<NodeId>() {
        Ok(id) if id >= 1 => Ok(id),
        _ => Err(format!("`{text}` is not a member (members are 1, 2, ...)")),
    }
}

/// `3,4,5`.
fn nodes(text: &str) -> Result<Vec<NodeId>, String> {
    if text.is_empty() {
        return Err("an empty group of members".into());
    }
    text.split(',').map(|part| node(part.trim())).collect()
}

fn count(text: &str) -> Result<String, String> {
    text.parse::<u64>()
        .map(|n| n.to_string())
        .map_err(|_| format!("`{text}` is not a number"))
}

/// `500ms`, `2s`, `1.5s`, `0s`.
pub(crate) fn duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a duration like 500ms or 2s");
    let (number, unit_nanos) = if let Some(number) = text.strip_suffix("ms") {
        (number, 1_000_000.0)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1_000_000_000.0)
    } else {
        return Err(bad());
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    if !(value.is_finite() && value >= 0.0) {
        return Err(bad());
    }
    Ok(Duration::from_nanos((value * unit_nanos).round() as u64))
}

fn millis(text: &str) -> Result<String, String> {
    Ok(duration(text)?.as_millis().to_string())
}

/// `1ms..10ms` into `{prefix}_min` and `{prefix}_max`.
fn millis_range(text: &str, prefix: &str) -> Result<Vec<(String, String)>, String> {
    let (min, max) = text
        .split_once("..")
        .ok_or_else(|| format!("`{text}` is not a range like 1ms..10ms"))?;
    Ok(vec![
        (format!("{prefix}_min"), millis(min)?),
        (format!("{prefix}_max"), millis(max)?),
    ])
}

/// `5%` as a probability, `0.05`.
fn probability(text: &str) -> Result<String, String> {
    let percent: f64 = text
        .strip_suffix('%')
        .and_then(|number| number.parse().ok())
        .filter(|percent| (0.0..=100.0).contains(percent))
        .ok_or_else(|| format!("`{text}` is not a percentage like 5%"))?;
    Ok((percent / 100.0).to_string())
}

fn percent(text: &str) -> Result<String, String> {
    text.strip_suffix('%')
        .and_then(|number| number.parse::<u32>().ok())
        .filter(|percent| *percent <= 100)
        .map(|percent| percent.to_string())
        .ok_or_else(|| format!("`{text}` is not a percentage like 80%"))
}
