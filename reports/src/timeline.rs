//! The timeline's layout in simulated time: what each lane shows, and when. Pixels are the
//! drawing's business ([`crate::svg`]); this module only decides spans, bands and marks.

use std::collections::{BTreeMap, BTreeSet};

use detcd_core::raft::{Index, MessageBody, Role, Term};
use detcd_core::{Instant, NodeId};
use detcd_sim::cluster::ClusterEvent;
use detcd_sim::trace::TraceKind;

use crate::record::{ClientOperation, RunRecord};

/// What a node lane shows over one span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
    /// Down: crashed, or stopped by a storage failure, until it boots again.
    Crashed,
    /// Alive but processing nothing.
    Paused,
}

impl NodeState {
    pub fn of_role(role: Role) -> NodeState {
        match role {
            Role::Follower => NodeState::Follower,
            Role::PreCandidate => NodeState::PreCandidate,
            Role::Candidate => NodeState::Candidate,
            Role::Leader => NodeState::Leader,
        }
    }

    /// The CSS class and the word a legend uses.
    pub fn name(self) -> &'static str {
        match self {
            NodeState::Follower => "follower",
            NodeState::PreCandidate => "pre-candidate",
            NodeState::Candidate => "candidate",
            NodeState::Leader => "leader",
            NodeState::Crashed => "crashed",
            NodeState::Paused => "paused",
        }
    }

    pub const ALL: [NodeState; 6] = [
        NodeState::Follower,
        NodeState::PreCandidate,
        NodeState::Candidate,
        NodeState::Leader,
        NodeState::Crashed,
        NodeState::Paused,
    ];
}

/// A node in one state and term from `start` until `end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateSpan {
    pub start: Instant,
    pub end: Instant,
    pub state: NodeState,
    /// The node's term, when known (not while it is down).
    pub term: Option<Term>,
}

/// Everything one member's lane shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeLane {
    pub node: NodeId,
    pub spans: Vec<StateSpan>,
    /// Spans when the node's disk did no I/O.
    pub disk_stalls: Vec<(Instant, Instant)>,
    /// The commit index the node knows, at each change (told by the leader, or the leader's own).
    pub commits: Vec<(Instant, Index)>,
    /// When it was elected, for which term.
    pub elected: Vec<(Instant, Term)>,
    /// When it stopped leading, which term.
    pub stepped_down: Vec<(Instant, Term)>,
}

/// A network partition from `start` until `end`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionBand {
    pub start: Instant,
    pub end: Instant,
    /// Who can reach whom, in words: "1 2 | 3 4 5".
    pub shape: String,
}

/// The operations of one client, by invoke time (indexes into the record's operations).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientLane {
    pub client: u64,
    pub operations: Vec<usize>,
}

/// The whole picture of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeline {
    pub end: Instant,
    pub fault_phase_end: Instant,
    pub nodes: Vec<NodeLane>,
    pub partitions: Vec<PartitionBand>,
    pub clients: Vec<ClientLane>,
}

impl Timeline {
    pub fn of(record: &RunRecord) -> Timeline {
        Timeline {
            end: record.end,
            fault_phase_end: record.fault_phase_end,
            nodes: record
                .members
                .iter()
                .map(|&node| node_lane(record, node))
                .collect(),
            partitions: partition_bands(record),
            clients: client_lanes(&record.operations),
        }
    }
}

/// One member's lane: the Raft events give roles and terms, the trace gives crashes, pauses,
/// stalls and what the leader told it about the commit index.
fn node_lane(record: &RunRecord, node: NodeId) -> NodeLane {
    NodeLane {
        node,
        spans: state_spans(record, node),
        disk_stalls: disk_stalls(record, node),
        commits: commits(record, node),
        elected: record
            .events
            .iter()
            .filter_map(|(at, event)| match *event {
                ClusterEvent::Elected { node: n, term, .. } if n == node => Some((*at, term)),
                _ => None,
            })
            .collect(),
        stepped_down: record
            .events
            .iter()
            .filter_map(|(at, event)| match *event {
                ClusterEvent::SteppedDown { node: n, term } if n == node => Some((*at, term)),
                _ => None,
            })
            .collect(),
    }
}

/// A change to a node's lane, from either source, to be replayed in time order.
enum Change {
    Role(Role, Term),
    Crash,
    Boot,
    Pause,
    Resume,
}

fn state_spans(record: &RunRecord, node: NodeId) -> Vec<StateSpan> {
    let roles = record.events.iter().filter_map(|(at, event)| match *event {
        ClusterEvent::RoleChanged {
            node: n,
            role,
            term,
        } if n == node => Some((*at, Change::Role(role, term))),
        _ => None,
    });
    let faults = record.trace.iter().filter_map(|event| {
        let change = match event.kind {
            TraceKind::Crash { node: n, .. } | TraceKind::StorageFailure { node: n, .. }
                if n == node =>
            {
                Change::Crash
            }
            TraceKind::Boot { node: n, .. } if n == node => Change::Boot,
            TraceKind::Pause { node: n, .. } if n == node => Change::Pause,
            TraceKind::Resume { node: n, .. } if n == node => Change::Resume,
            _ => return None,
        };
        Some((event.time, change))
    });
    // A stable sort keeps a fault before the role change the observer saw after it.
    let mut changes: Vec<(Instant, Change)> = faults.chain(roles).collect();
    changes.sort_by_key(|(at, _)| *at);

    let mut spans: Vec<StateSpan> = Vec::new();
    let mut role = (NodeState::Crashed, None);
    let mut paused = false;
    for (at, change) in changes {
        match change {
            Change::Role(new_role, term) => role = (NodeState::of_role(new_role), Some(term)),
            Change::Crash => (role, paused) = ((NodeState::Crashed, None), false),
            // A node boots as a follower; its term shows once the observer sees it.
            Change::Boot => role = (NodeState::Follower, None),
            Change::Pause => paused = true,
            Change::Resume => paused = false,
        }
        let (state, term) = if paused {
            (NodeState::Paused, role.1)
        } else {
            role
        };
        if let Some(last) = spans.last_mut() {
            last.end = at;
        }
        spans.push(StateSpan {
            start: at,
            end: at,
            state,
            term,
        });
    }
    if let Some(last) = spans.last_mut() {
        last.end = record.end;
    }
    merge_spans(spans)
}

/// Drop empty spans (several changes at one instant) and join neighbours that show the same.
fn merge_spans(spans: Vec<StateSpan>) -> Vec<StateSpan> {
    let mut merged: Vec<StateSpan> = Vec::new();
    for span in spans.into_iter().filter(|span| span.end > span.start) {
        match merged.last_mut() {
            Some(last) if (last.state, last.term) == (span.state, span.term) => last.end = span.end,
            _ => merged.push(span),
        }
    }
    merged
}

fn disk_stalls(record: &RunRecord, node: NodeId) -> Vec<(Instant, Instant)> {
    record
        .trace
        .iter()
        .filter_map(|event| match event.kind {
            TraceKind::DiskStall { node: n, until } if n == node => {
                Some((event.time, until.min(record.end)))
            }
            _ => None,
        })
        .collect()
}

/// The commit index a node knows over time: a leader's is what it sends, a follower's what its
/// leader's appends and heartbeats tell it when they arrive. Messages arrive out of order and a
/// heartbeat tells a lagging follower less than the leader knows, but a node's commit index
/// never goes back (until a restart forgets it), so only increases are kept.
fn commits(record: &RunRecord, node: NodeId) -> Vec<(Instant, Index)> {
    let mut in_flight: BTreeMap<u64, Index> = BTreeMap::new();
    let mut commits: Vec<(Instant, Index)> = Vec::new();
    let mut known: Index = 0;
    for event in &record.trace {
        let told = match &event.kind {
            TraceKind::Boot { node: n, .. } if *n == node => {
                known = 0;
                continue;
            }
            TraceKind::Send {
                from,
                to,
                id,
                message,
                ..
            } => {
                let Some(commit) = told_commit(&message.body) else {
                    continue;
                };
                if *to == node {
                    in_flight.insert(*id, commit);
                }
                (*from == node).then_some(commit)
            }
            TraceKind::Deliver { to, id, .. } if *to == node => in_flight.remove(id),
            TraceKind::Drop { to, id, .. } if *to == node => {
                in_flight.remove(id);
                None
            }
            _ => None,
        };
        if let Some(commit) = told.filter(|&commit| commit > known) {
            known = commit;
            commits.push((event.time, commit));
        }
    }
    commits
}

fn told_commit(body: &MessageBody) -> Option<Index> {
    match body {
        MessageBody::Append { commit, .. } | MessageBody::Heartbeat { commit, .. } => Some(*commit),
        _ => None,
    }
}

fn partition_bands(record: &RunRecord) -> Vec<PartitionBand> {
    let mut bands: Vec<PartitionBand> = Vec::new();
    for event in &record.trace {
        let cut = match &event.kind {
            TraceKind::Partition { cut } => Some(cut),
            TraceKind::Heal => None,
            _ => continue,
        };
        if let Some(open) = bands.last_mut().filter(|band| band.end == Instant::NEVER) {
            open.end = event.time;
        }
        if let Some(cut) = cut {
            bands.push(PartitionBand {
                start: event.time,
                end: Instant::NEVER,
                shape: partition_shape(&record.members, cut),
            });
        }
    }
    for band in &mut bands {
        band.end = band.end.min(record.end);
    }
    bands
}

/// Who can reach whom. Members that reach each other both ways form a group; groups are shown
/// side by side ("1 2 | 3 4 5") when no link inside a group is cut and every link between
/// groups is, and otherwise the cut links are listed.
pub fn partition_shape(members: &[NodeId], cut: &[(NodeId, NodeId)]) -> String {
    let cut: BTreeSet<(NodeId, NodeId)> = cut.iter().copied().collect();
    let connected = |a: NodeId, b: NodeId| !cut.contains(&(a, b)) && !cut.contains(&(b, a));
    let mut groups: Vec<Vec<NodeId>> = Vec::new();
    for &member in members {
        match groups
            .iter_mut()
            .find(|group| group.iter().all(|&other| connected(member, other)))
        {
            Some(group) => group.push(member),
            None => groups.push(vec![member]),
        }
    }
    let clean_split = groups.iter().enumerate().all(|(index, group)| {
        groups[index + 1..].iter().flatten().all(|&other| {
            group
                .iter()
                .all(|&member| cut.contains(&(member, other)) && cut.contains(&(other, member)))
        })
    });
    if clean_split {
        let words: Vec<String> = groups
            .iter()
            .map(|group| {
                let ids: Vec<String> = group.iter().map(NodeId::to_string).collect();
                ids.join(" ")
            })
            .collect();
        words.join(" | ")
    } else {
        let links: Vec<String> = cut
            .iter()
            .map(|(from, to)| format!("{from}→{to}"))
            .collect();
        format!("cut {}", links.join(", "))
    }
}

fn client_lanes(operations: &[ClientOperation]) -> Vec<ClientLane> {
    let mut lanes: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (index, operation) in operations.iter().enumerate() {
        lanes.entry(operation.client).or_default().push(index);
    }
    lanes
        .into_iter()
        .map(|(client, operations)| ClientLane { client, operations })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // A symmetric split reads as its groups; any other cut lists its links.
    #[test]
    fn partition_shape_names_groups_or_links() {
        let members = [1, 2, 3, 4, 5];
        let split = [
            (1, 3),
            (3, 1),
            (1, 4),
            (4, 1),
            (1, 5),
            (5, 1),
            (2, 3),
            (3, 2),
            (2, 4),
            (4, 2),
            (2, 5),
            (5, 2),
        ];
        assert_eq!(partition_shape(&members, &split), "1 2 | 3 4 5");
        assert_eq!(partition_shape(&members, &[(1, 2)]), "cut 1→2");
    }
}
