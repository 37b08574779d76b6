//! detcd nodes in the world: a [`Host`] that boots [`Node`]s from their disks, and an
//! [`Observer`] that checks Raft's safety properties across the cluster after every step and
//! records what a reader of the run wants to know (who led which term, who stepped down).

use std::collections::BTreeMap;
use std::fmt;

use detcd_core::raft::{Index, PersistedState, Role, Term};
use detcd_core::state_machine::StateMachine;
use detcd_core::{Instant, Node, NodeConfig, NodeId};
use serde::Serialize;

use crate::world::{Boot, Host, World};

/// Builds detcd nodes: each boots from what its disk durably holds, with a fresh state machine.
pub struct NodeHost<S> {
    /// The configuration of a member, given its id and the boot's seed.
    pub config: Box<dyn FnMut(NodeId, u64) -> NodeConfig>,
    pub state: Box<dyn FnMut() -> S>,
}

impl<S> fmt::Debug for NodeHost<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NodeHost")
    }
}

impl<S: StateMachine> Host for NodeHost<S> {
    type Machine = Node<S>;

    fn boot(&mut self, boot: Boot) -> Node<S> {
        let config = (self.config)(boot.id, boot.seed);
        let boot = detcd_core::Boot {
            config,
            persisted: boot.persisted,
            incarnation: u64::from(boot.incarnation),
            now: boot.now,
        };
        Node::boot(boot, (self.state)())
            .unwrap_or_else(|halt| panic!("a simulated disk always decodes: {halt}"))
    }
}

/// A world of detcd nodes.
pub type NodeWorld<S> = World<NodeHost<S>>;

/// Format every member's disk with the bootstrap state of a new cluster of all of them.
pub fn bootstrap_cluster<S>(world: &mut NodeWorld<S>)
where
    S: StateMachine,
    S::Request: Serialize,
    S::Response: Serialize,
{
    let ids = world.node_ids().to_vec();
    for &id in &ids {
        world.format_disk(id, PersistedState::bootstrap(ids.iter().copied()));
    }
}

/// Something a reader of the run wants to know, seen by the observer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ClusterEvent {
    /// `node` took `role` in `term` (every change of role or term, for timelines).
    RoleChanged {
        node: NodeId,
        role: Role,
        term: Term,
    },
    /// `node` became leader of `term` with the votes of `voters`.
    Elected {
        node: NodeId,
        term: Term,
        voters: Vec<NodeId>,
    },
    /// `node` stopped leading `term`.
    SteppedDown { node: NodeId, term: Term },
    /// The commit index of the cluster (the highest any member knows) reached `index`.
    Committed { index: Index },
    /// `node` was too far behind for entries and installed the leader's snapshot through `index`.
    SnapshotInstalled { node: NodeId, index: Index },
}

/// A safety property that a run broke, named as in the Raft paper.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub property: &'static str,
    pub at: Instant,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} violated at {}: {}",
            self.property, self.at, self.detail
        )
    }
}

/// What the observer remembers of one member between steps.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    incarnation: u32,
    role: Option<Role>,
    term: Term,
    commit: Index,
    /// Committed entries of this member checked against the cluster's record, through here.
    checked: Index,
    /// The last index of its log.
    last: Index,
}

/// Checks Raft's safety properties after every step and records the run's Raft-level events.
#[derive(Debug, Default)]
pub struct Observer {
    /// Each member seen so far, in the order first seen (a handful: a linear search is fastest).
    seen: Vec<(NodeId, Seen)>,
    /// The leader of every term (election safety).
    leaders: BTreeMap<Term, NodeId>,
    /// The term and a digest of every committed entry, as first seen committed on any member,
    /// by index: position `i` holds index `i + 1`. `None` for an index no member has shown
    /// (it was inside a snapshot of every member that committed it).
    committed: Vec<Option<(Term, u64)>>,
    events: Vec<(Instant, ClusterEvent)>,
    commit_reported: Index,
    violation: Option<Violation>,
}

impl Observer {
    pub fn events(&self) -> &[(Instant, ClusterEvent)] {
        &self.events
    }

    /// The first property broken, if any.
    pub fn violation(&self) -> Option<&Violation> {
        self.violation.as_ref()
    }

    /// The leader of each term, in term order.
    pub fn leaders(&self) -> &BTreeMap<Term, NodeId> {
        &self.leaders
    }

    /// The highest index seen committed on any member.
    pub fn commit_index(&self) -> Index {
        self.committed.len() as Index
    }

    /// The committed entry at `index` as first seen: its term and the digest of its data.
    fn committed_at(&self, index: Index) -> Option<(Term, u64)> {
        let position = usize::try_from(index.checked_sub(1)?).ok()?;
        self.committed.get(position).copied().flatten()
    }

    /// Look at the members that handled an input in the latest step (no other changed).
    pub fn observe<S>(&mut self, world: &NodeWorld<S>)
    where
        S: StateMachine,
        S::Request: Serialize,
        S::Response: Serialize,
    {
        let now = world.now();
        for id in world.touched_nodes() {
            let Some(node) = world.node(id) else { continue };
            self.observe_node(now, id, world.incarnation(id), node);
        }
    }

    fn observe_node<S: StateMachine>(
        &mut self,
        now: Instant,
        id: NodeId,
        incarnation: u32,
        node: &Node<S>,
    ) {
        let raft = node.raft();
        let slot = match self.seen.iter().position(|(seen_id, _)| *seen_id == id) {
            Some(slot) => slot,
            None => {
                self.seen.push((id, Seen::default()));
                self.seen.len() - 1
            }
        };
        let mut seen = self.seen[slot].1;
        if seen.incarnation != incarnation {
            // A restart forgets the volatile commit index; it is checked per incarnation.
            seen = Seen {
                incarnation,
                checked: raft.snapshot_index(),
                last: raft.last_index(),
                ..Seen::default()
            };
        }
        // Compaction never passes the member's own log; a snapshot beyond it came from the
        // leader.
        if raft.snapshot_index() > seen.last {
            let index = raft.snapshot_index();
            let event = ClusterEvent::SnapshotInstalled { node: id, index };
            self.events.push((now, event));
        }
        if raft.commit_index() < seen.commit {
            self.violate(
                "commit index never decreases",
                now,
                format!("member {id}: {} -> {}", seen.commit, raft.commit_index()),
            );
        }
        let role = raft.role();
        if seen.role != Some(role) || seen.term != raft.term() {
            self.events.push((
                now,
                ClusterEvent::RoleChanged {
                    node: id,
                    role,
                    term: raft.term(),
                },
            ));
        }
        if seen.role == Some(Role::Leader) && (role != Role::Leader || raft.term() != seen.term) {
            self.events.push((
                now,
                ClusterEvent::SteppedDown {
                    node: id,
                    term: seen.term,
                },
            ));
        }
        if role == Role::Leader && (seen.role != Some(Role::Leader) || raft.term() != seen.term) {
            self.new_leader(now, id, node);
        }
        seen.checked = self.check_committed(now, id, node, seen.checked);
        seen.role = Some(role);
        seen.term = raft.term();
        seen.commit = raft.commit_index();
        seen.last = raft.last_index();
        self.seen[slot].1 = seen;
    }

    /// Election safety and leader completeness for a member that just became leader.
    fn new_leader<S: StateMachine>(&mut self, now: Instant, id: NodeId, node: &Node<S>) {
        let raft = node.raft();
        let term = raft.term();
        match self.leaders.get(&term) {
            Some(&other) if other != id => {
                self.violate(
                    "election safety",
                    now,
                    format!("members {other} and {id} both lead term {term}"),
                );
            }
            _ => {
                self.leaders.insert(term, id);
            }
        }
        let missing = (raft.snapshot_index() + 1..=self.commit_index()).find(|&index| {
            self.committed_at(index)
                .is_some_and(|(entry_term, _)| raft.entry_term(index) != Some(entry_term))
        });
        if let Some(index) = missing {
            self.violate(
                "leader completeness",
                now,
                format!("leader {id} of term {term} lacks committed entry {index}"),
            );
        }
        let voters = raft.votes_granted();
        self.events.push((
            now,
            ClusterEvent::Elected {
                node: id,
                term,
                voters,
            },
        ));
    }

    /// State machine safety: every committed entry is the same on every member (same term, same
    /// contents), whichever member committed it first.
    fn check_committed<S: StateMachine>(
        &mut self,
        now: Instant,
        id: NodeId,
        node: &Node<S>,
        checked: Index,
    ) -> Index {
        let raft = node.raft();
        let through = raft.commit_index();
        let mut index = checked.max(raft.snapshot_index());
        while index < through {
            index += 1;
            let Some(entry) = raft.entry(index) else {
                continue;
            };
            let digest = digest(&entry.data);
            match self.committed_at(index) {
                Some(first) if first != (entry.term, digest) => {
                    let detail =
                        format!("member {id} committed a different entry at index {index}");
                    self.violate("state machine safety", now, detail);
                }
                Some(_) => {}
                None => {
                    let position = (index - 1) as usize;
                    if self.committed.len() <= position {
                        self.committed.resize(position + 1, None);
                    }
                    self.committed[position] = Some((entry.term, digest));
                }
            }
        }
        self.record_commit_progress(now);
        through.max(checked)
    }

    /// Commit progress is recorded coarsely (each hundredth entry) to keep the events readable.
    fn record_commit_progress(&mut self, now: Instant) {
        let index = self.commit_index();
        if index / 100 > self.commit_reported / 100 {
            self.commit_reported = index;
            self.events.push((now, ClusterEvent::Committed { index }));
        }
    }

    /// The run processed more than `events_max` events: a runaway, which stops it.
    pub fn runaway(&mut self, at: Instant, events_max: u64) {
        self.violate(
            "bounded run",
            at,
            format!("more than {events_max} events: a runaway (message storm?)"),
        );
    }

    fn violate(&mut self, property: &'static str, at: Instant, detail: String) {
        if self.violation.is_none() {
            self.violation = Some(Violation {
                property,
                at,
                detail,
            });
        }
    }
}

/// FNV-1a: a stable digest of an entry's contents (std's hasher is not guaranteed stable).
fn digest(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
