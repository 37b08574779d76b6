//! The run told in words, in time order, at the level of someone learning Raft: elections and
//! votes, step-downs and why, faults, failed client requests and why, and lagging members
//! catching up. Each narrator below tells one kind of story; their lines are merged by time.

use std::collections::BTreeMap;

use detcd_core::raft::{AppendResult, Index, Message, MessageBody, Role, Term};
use detcd_core::{Instant, NodeId};
use detcd_sim::cluster::ClusterEvent;
use detcd_sim::trace::TraceKind;

use crate::record::{ClientOperation, OutcomeClass, RunRecord};
use crate::timeline::{Timeline, partition_shape};

/// Failures of one member this far apart belong to separate stories.
const FAILURE_GAP_MS: u64 = 1_000;
/// A member whose known commit index stood still this long and then jumps by at least this many
/// entries is said to catch up (a new leader's no-op alone is not worth telling).
const CATCH_UP_STILL_MS: u64 = 1_000;
const CATCH_UP_ENTRIES_MIN: Index = 10;

/// The run in words, one line per thing that happened, each starting with its simulated time.
pub fn explain(record: &RunRecord) -> Vec<String> {
    let mut lines: Vec<(Instant, String)> = vec![(
        Instant::ZERO,
        format!(
            "{} members start as followers in term 1: {}",
            record.members.len(),
            list(&record.members)
        ),
    )];
    lines.extend(roles(record));
    lines.extend(votes(record));
    lines.extend(faults(record));
    lines.extend(failures(record));
    lines.extend(catching_up(record));
    lines.push((record.fault_phase_end, verdict_line(record)));
    // Stable: at one instant, each narrator's own order is kept.
    lines.sort_by_key(|(at, _)| *at);
    lines
        .into_iter()
        .map(|(at, line)| format!("{:>9}  {line}", at.to_string()))
        .collect()
}

fn verdict_line(record: &RunRecord) -> String {
    let recovery = match record.recovery {
        Some(took) => format!(
            "the healed cluster served again within {} ms",
            took.as_millis()
        ),
        None => "the healed cluster did NOT serve again in time".into(),
    };
    format!("fault phase over: every fault is healed; {recovery}")
}

/// Elections won, leaders stepping down, and members giving up a candidacy for a newer term.
fn roles(record: &RunRecord) -> Vec<(Instant, String)> {
    let messages = Messages::of(record);
    let mut previous: BTreeMap<NodeId, (Role, Term, Instant)> = BTreeMap::new();
    let mut lines = Vec::new();
    for (at, event) in &record.events {
        let line = match event {
            ClusterEvent::RoleChanged { node, role, term } => {
                let before = previous.insert(*node, (*role, *term, *at));
                role_change(record, &messages, *at, *node, before, (*role, *term))
            }
            ClusterEvent::Elected { node, term, voters } => Some(format!(
                "member {node} becomes LEADER of term {term} with the votes of {} ({} of {} make \
                 a quorum)",
                list(voters),
                record.members.len() / 2 + 1,
                record.members.len()
            )),
            ClusterEvent::SteppedDown { node, term } => Some(step_down(record, *at, *node, *term)),
            // The leader's sending of the snapshot is told from the trace, with its reason.
            ClusterEvent::Committed { .. } | ClusterEvent::SnapshotInstalled { .. } => None,
        };
        lines.extend(line.map(|line| (*at, line)));
    }
    lines
}

fn role_change(
    record: &RunRecord,
    messages: &Messages,
    at: Instant,
    node: NodeId,
    before: Option<(Role, Term, Instant)>,
    (role, term): (Role, Term),
) -> Option<String> {
    let (before_role, before_term, since) = before?;
    match role {
        Role::PreCandidate => {
            let quiet_since = messages.last_leader_contact(record, node, at);
            Some(format!(
                "member {node} has heard from no leader since {quiet_since} (its election \
                 timeout passed) and asks for pre-votes for term {}",
                term + 1
            ))
        }
        // Straight from follower: pre-vote is off, or a leader transfer told it to campaign.
        Role::Candidate if before_role != Role::PreCandidate => Some(format!(
            "member {node} starts an election for term {term} without a pre-vote, voting for \
             itself (pre-vote is off, or the leader handed over leadership)"
        )),
        Role::Candidate => {
            let granted = messages.pre_votes_granted(node, term, since, at);
            Some(format!(
                "member {node} won pre-votes from {} and starts an election for term {term}, \
                 voting for itself",
                list(&granted)
            ))
        }
        // A follower that gave up a candidacy, or a leader's step-down (told separately).
        Role::Follower if before_role != Role::Follower && before_role != Role::Leader => {
            let from = messages.newer_term_from(record, node, term, at);
            let cause = match from {
                Some(from) => format!("hears term {term} from member {from}"),
                None => format!("sees term {term}"),
            };
            let _ = before_term;
            Some(format!(
                "member {node} {cause} and gives up its candidacy: it follows again"
            ))
        }
        Role::Follower | Role::Leader => None,
    }
}

/// Why a leader stopped leading: a newer term, check-quorum, or a crash.
fn step_down(record: &RunRecord, at: Instant, node: NodeId, term: Term) -> String {
    // The observer records the node's new role at the same instant.
    let new_term = record.events.iter().find_map(|(time, event)| match event {
        ClusterEvent::RoleChanged { node: n, term, .. } if *n == node && *time == at => Some(*term),
        _ => None,
    });
    match new_term {
        Some(new_term) if new_term > term => format!(
            "member {node} steps down as leader of term {term}: it saw the newer term {new_term}"
        ),
        Some(_) => {
            let reach = match reachable(record, node, at) {
                Some(reach) => format!(" (the partition leaves it only {})", list(&reach)),
                None => String::new(),
            };
            format!(
                "member {node} STEPS DOWN as leader of term {term}: it has not heard from a \
                 quorum for an election timeout{reach}, and a newer leader may exist elsewhere"
            )
        }
        None => format!("member {node} stops leading term {term}: it went down"),
    }
}

/// Every vote (not pre-vote) answered, granted or refused.
fn votes(record: &RunRecord) -> Vec<(Instant, String)> {
    record
        .trace
        .iter()
        .filter_map(|event| match &event.kind {
            TraceKind::Send {
                from, to, message, ..
            } => match message.body {
                MessageBody::VoteResponse { granted: true } => Some((
                    event.time,
                    format!(
                        "member {from} votes for member {to} in term {}",
                        message.term
                    ),
                )),
                MessageBody::VoteResponse { granted: false } => Some((
                    event.time,
                    format!(
                        "member {from} refuses member {to} its vote in term {} (it voted \
                         already, or its log is more up to date)",
                        message.term
                    ),
                )),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Crashes, restarts, pauses, partitions, clogs, disk trouble and closed client connections.
fn faults(record: &RunRecord) -> Vec<(Instant, String)> {
    let mut lines = Vec::new();
    for event in &record.trace {
        let at = event.time;
        let line = match &event.kind {
            TraceKind::Boot { node, incarnation } if *incarnation > 1 => {
                format!("member {node} restarts from what its disk holds (boot {incarnation})")
            }
            TraceKind::Crash {
                node, batches_lost, ..
            } => format!("member {node} CRASHES, losing {batches_lost} unsynced disk writes"),
            TraceKind::Pause { node, until } => {
                format!("member {node} PAUSES (processes nothing) until {until}")
            }
            TraceKind::Resume {
                node,
                inputs_queued,
            } => format!("member {node} resumes with {inputs_queued} inputs queued"),
            TraceKind::Partition { cut } => partition_line(record, at, cut),
            TraceKind::Heal if at < record.fault_phase_end => "the network HEALS".into(),
            TraceKind::Clog { from, to, until } => {
                format!("the link from member {from} to member {to} holds messages until {until}")
            }
            TraceKind::DiskStall { node, until } => {
                format!("member {node}'s disk stalls until {until}")
            }
            TraceKind::StorageFailure { node, failure } => {
                format!("member {node} stops on a storage failure: {failure:?}")
            }
            TraceKind::ConnectionsClosed { node, clients } => format!(
                "every client connection to member {node} CLOSES ({} it had heard from); \
                 their requests in flight are lost",
                clients.len()
            ),
            _ => continue,
        };
        lines.push((at, line));
    }
    lines
}

fn partition_line(record: &RunRecord, at: Instant, cut: &[(NodeId, NodeId)]) -> String {
    let shape = partition_shape(&record.members, cut);
    let leader = leader_at(record, at);
    let where_leader = leader
        .and_then(|leader| Some((leader, reachable(record, leader, at)?)))
        .map(|(leader, reach)| {
            let side = if reach.len() < quorum(record) {
                "the minority"
            } else {
                "the majority"
            };
            format!("; leader {leader} is in {side} ({})", list(&reach))
        })
        .unwrap_or_default();
    format!("the network SPLITS: {shape}{where_leader}")
}

/// Client requests that did not succeed, told as runs of the same error from the same member.
fn failures(record: &RunRecord) -> Vec<(Instant, String)> {
    let mut runs: Vec<Vec<&ClientOperation>> = Vec::new();
    let mut open: BTreeMap<(Option<NodeId>, &str), usize> = BTreeMap::new();
    let mut failed: Vec<&ClientOperation> = record
        .operations
        .iter()
        .filter(|op| op.class() != OutcomeClass::Ok)
        .collect();
    failed.sort_by_key(|op| (op.returned.unwrap_or(record.end), op.op));
    for op in failed {
        let key = (op.node, op.error().unwrap_or_default());
        let continues = open.get(&key).is_some_and(|&run| {
            let last = runs[run].last().expect("runs are never empty");
            let last_returned = last.returned.unwrap_or(record.end);
            op.invoked
                .saturating_duration_since(last_returned)
                .as_millis()
                < u128::from(FAILURE_GAP_MS)
        });
        if continues {
            runs[open[&key]].push(op);
        } else {
            open.insert(key, runs.len());
            runs.push(vec![op]);
        }
    }
    runs.iter().map(|run| failure_line(record, run)).collect()
}

fn failure_line(record: &RunRecord, run: &[&ClientOperation]) -> (Instant, String) {
    let first = run[0];
    let at = first.returned.unwrap_or(record.end);
    let last = run
        .last()
        .expect("runs are never empty")
        .returned
        .unwrap_or(record.end);
    let writes = run.iter().filter(|op| op.is_write()).count();
    let what = match (writes, run.len() - writes) {
        (w, 0) => plural(w, "write"),
        (0, r) => plural(r, "read"),
        (w, r) => format!("{} and {}", plural(w, "write"), plural(r, "read")),
    };
    let to = first
        .node
        .map_or("a member".into(), |node| format!("member {node}"));
    let message = first.error().unwrap_or_default();
    let span = if last > at {
        format!(" until {last}")
    } else {
        String::new()
    };
    let why = failure_reason(record, first, message);
    (
        at,
        format!(
            "{what} sent to {to} {} \"{message}\"{span}: {why}",
            outcome_verb(first.class())
        ),
    )
}

fn outcome_verb(class: OutcomeClass) -> &'static str {
    match class {
        OutcomeClass::Failed => "FAIL with",
        OutcomeClass::Ok | OutcomeClass::Unknown => "get no definite answer:",
    }
}

/// Why a member refused or did not answer, from etcd's message and where the member stood.
fn failure_reason(record: &RunRecord, op: &ClientOperation, message: &str) -> String {
    let at = op.invoked;
    let minority = op.node.and_then(|node| {
        let reach = reachable(record, node, at)?;
        (reach.len() < quorum(record)).then(|| {
            format!(
                "member {node} is on the minority side of the partition ({}), which cannot \
                 elect a leader or commit",
                list(&reach)
            )
        })
    });
    let plain = match message {
        "etcdserver: no leader" => "the member knows no leader to commit the request",
        "etcdserver: not leader" => {
            "only the leader serves lease requests, and the member is not the leader"
        }
        "etcdserver: request timed out" => {
            "the member could not commit the request in time; it may still take effect"
        }
        "client timeout" => {
            "no answer within the client's timeout; the request may still take \
                             effect"
        }
        _ => "the request was refused",
    };
    minority.unwrap_or_else(|| plain.into())
}

/// Lagging members: a leader backing up to where a follower's log agrees with its own, snapshots
/// sent, and commit indexes that jump after standing still.
fn catching_up(record: &RunRecord) -> Vec<(Instant, String)> {
    let mut lines = Vec::new();
    // The first rejection of each (follower, leader) pair not yet followed by an acceptance.
    let mut rejected: BTreeMap<(NodeId, NodeId), (Instant, Index)> = BTreeMap::new();
    for event in &record.trace {
        let TraceKind::Send {
            from, to, message, ..
        } = &event.kind
        else {
            continue;
        };
        match &message.body {
            MessageBody::AppendResponse(AppendResult::Rejected { rejected_index, .. }) => {
                rejected
                    .entry((*from, *to))
                    .or_insert((event.time, *rejected_index));
            }
            MessageBody::AppendResponse(AppendResult::Accepted { match_index }) => {
                // Reordered appends cause short rejections all the time; only a real back-up
                // (a diverging or much shorter log) is worth telling.
                if let Some((since, index)) = rejected.remove(&(*from, *to))
                    && index >= match_index + CATCH_UP_ENTRIES_MIN
                {
                    lines.push((
                        since,
                        format!(
                            "member {from}'s log does not agree with leader {to}'s at index \
                             {index}: the leader backs up to find where they agree"
                        ),
                    ));
                    lines.push((
                        event.time,
                        format!(
                            "member {from}'s log agrees with leader {to}'s through index \
                             {match_index}; entries after it are replaced by the leader's"
                        ),
                    ));
                }
            }
            MessageBody::InstallSnapshot { snapshot } => lines.push((
                event.time,
                format!(
                    "leader {from} sends member {to} a snapshot through index {}: the entries \
                     it lacks were compacted away",
                    snapshot.index
                ),
            )),
            _ => {}
        }
    }
    lines.extend(commit_jumps(record));
    lines
}

fn commit_jumps(record: &RunRecord) -> Vec<(Instant, String)> {
    let timeline = Timeline::of(record);
    let mut lines = Vec::new();
    for lane in &timeline.nodes {
        for pair in lane.commits.windows(2) {
            let ((before_at, before), (at, after)) = (pair[0], pair[1]);
            let still = at.saturating_duration_since(before_at).as_millis();
            if still >= u128::from(CATCH_UP_STILL_MS) && after >= before + CATCH_UP_ENTRIES_MIN {
                lines.push((
                    at,
                    format!(
                        "member {} catches up: the commit index it knows jumps from {before} \
                         (unchanged since {before_at}) to {after}",
                        lane.node
                    ),
                ));
            }
        }
    }
    lines
}

/// A Raft message as sent.
struct Sent<'a> {
    time: Instant,
    from: NodeId,
    to: NodeId,
    message: &'a Message,
}

/// Raft messages by id, to tell who sent what arrived.
struct Messages<'a> {
    sent: BTreeMap<u64, Sent<'a>>,
}

impl<'a> Messages<'a> {
    fn of(record: &'a RunRecord) -> Messages<'a> {
        let sent = record
            .trace
            .iter()
            .filter_map(|event| match &event.kind {
                TraceKind::Send {
                    from,
                    to,
                    id,
                    message,
                    ..
                } => Some((
                    *id,
                    Sent {
                        time: event.time,
                        from: *from,
                        to: *to,
                        message,
                    },
                )),
                _ => None,
            })
            .collect();
        Messages { sent }
    }

    /// Messages delivered to `node` up to `at`, latest first, with their delivery time.
    fn delivered_to(
        &self,
        record: &'a RunRecord,
        node: NodeId,
        at: Instant,
    ) -> impl Iterator<Item = (Instant, &Sent<'a>)> + '_ {
        let upto = record.trace.partition_point(|event| event.time <= at);
        record.trace[..upto]
            .iter()
            .rev()
            .filter_map(move |event| match event.kind {
                TraceKind::Deliver { to, id, .. } if to == node => {
                    Some((event.time, self.sent.get(&id)?))
                }
                _ => None,
            })
    }

    /// When `node` last heard from a leader, or stopped leading itself (or started).
    fn last_leader_contact(&self, record: &'a RunRecord, node: NodeId, at: Instant) -> Instant {
        let heard = self
            .delivered_to(record, node, at)
            .find(|(_, sent)| is_from_leader(&sent.message.body))
            .map(|(time, _)| time);
        let stopped_leading = record
            .events
            .iter()
            .rev()
            .find_map(|(time, event)| match event {
                ClusterEvent::SteppedDown { node: n, .. } if *n == node && *time <= at => {
                    Some(*time)
                }
                _ => None,
            });
        heard
            .into_iter()
            .chain(stopped_leading)
            .max()
            .unwrap_or(Instant::ZERO)
    }

    /// Who granted `node` a pre-vote for `term` between `since` and `at`, itself included.
    fn pre_votes_granted(
        &self,
        node: NodeId,
        term: Term,
        since: Instant,
        at: Instant,
    ) -> Vec<NodeId> {
        let mut granted: Vec<NodeId> = self
            .sent
            .values()
            .filter(|sent| {
                sent.to == node
                    && (since..=at).contains(&sent.time)
                    && sent.message.term == term
                    && sent.message.body == MessageBody::PreVoteResponse { granted: true }
            })
            .map(|sent| sent.from)
            .chain([node])
            .collect();
        granted.sort_unstable();
        granted.dedup();
        granted
    }

    /// The member whose message of `term` reached `node` at `at`, making it follow that term.
    fn newer_term_from(
        &self,
        record: &'a RunRecord,
        node: NodeId,
        term: Term,
        at: Instant,
    ) -> Option<NodeId> {
        self.delivered_to(record, node, at)
            .take_while(|(time, _)| *time == at)
            .find(|(_, sent)| sent.message.term == term)
            .map(|(_, sent)| sent.from)
    }
}

fn is_from_leader(body: &MessageBody) -> bool {
    matches!(
        body,
        MessageBody::Append { .. }
            | MessageBody::Heartbeat { .. }
            | MessageBody::InstallSnapshot { .. }
    )
}

/// The leader in office at `at`, if any.
fn leader_at(record: &RunRecord, at: Instant) -> Option<NodeId> {
    let mut leader = None;
    for (_, event) in record.events.iter().take_while(|(time, _)| *time <= at) {
        match event {
            ClusterEvent::Elected { node, .. } => leader = Some(*node),
            ClusterEvent::SteppedDown { node, .. } if leader == Some(*node) => leader = None,
            _ => {}
        }
    }
    leader
}

/// The members `node` can reach both ways (itself included) under the partition in force at
/// `at`; `None` when the network is whole.
fn reachable(record: &RunRecord, node: NodeId, at: Instant) -> Option<Vec<NodeId>> {
    let cut = record
        .trace
        .iter()
        .take_while(|event| event.time <= at)
        .filter_map(|event| match &event.kind {
            TraceKind::Partition { cut } => Some(Some(cut)),
            TraceKind::Heal => Some(None),
            _ => None,
        })
        .last()??;
    let reach = record
        .members
        .iter()
        .copied()
        .filter(|&other| !cut.contains(&(node, other)) && !cut.contains(&(other, node)))
        .collect();
    Some(reach)
}

fn quorum(record: &RunRecord) -> usize {
    record.members.len() / 2 + 1
}

fn list(ids: &[NodeId]) -> String {
    let words: Vec<String> = ids.iter().map(NodeId::to_string).collect();
    words.join(", ")
}

fn plural(count: usize, noun: &str) -> String {
    match count {
        1 => format!("1 {noun}"),
        _ => format!("{count} {noun}s"),
    }
}
