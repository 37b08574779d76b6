//! The simulated network: per-link latency with jitter, loss, duplication, reordering,
//! partitions of any shape and clogging.
//!
//! Links are directed. A [`Partition`] names the directed links that are cut; the network checks
//! the cut both when a message is sent and when it arrives, so a partition also swallows what was
//! already on the wire. A clogged link holds every message that arrives while it is clogged and
//! releases them when the clog ends.

use std::collections::BTreeSet;

use detcd_core::{Instant, NodeId};
use serde::{Deserialize, Serialize};

use crate::random::Random;

/// Which directed links are cut. The empty partition is a healed network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    cut: BTreeSet<(NodeId, NodeId)>,
}

impl Partition {
    /// No link cut.
    pub fn none() -> Partition {
        Partition::default()
    }

    /// Only the link `from -> to` is cut; `to -> from` still works.
    pub fn one_way(from: NodeId, to: NodeId) -> Partition {
        Partition::none().with_cut(from, to)
    }

    /// Cut the directed link `from -> to` in addition to this partition's cuts.
    pub fn with_cut(mut self, from: NodeId, to: NodeId) -> Partition {
        if from != to {
            self.cut.insert((from, to));
        }
        self
    }

    /// Symmetric split: every link between nodes of different groups is cut, both ways. Links
    /// inside a group, and links of nodes in no group, are untouched.
    pub fn split(groups: &[&[NodeId]]) -> Partition {
        let mut partition = Partition::none();
        for (index, group) in groups.iter().enumerate() {
            for other in &groups[index + 1..] {
                partition = partition.cut_between(group, other);
            }
        }
        partition
    }

    /// `node` can neither send to nor receive from any of `nodes`.
    pub fn isolate(node: NodeId, nodes: &[NodeId]) -> Partition {
        let rest: Vec<NodeId> = nodes
            .iter()
            .copied()
            .filter(|&other| other != node)
            .collect();
        Partition::split(&[&[node], &rest])
    }

    /// `minority` split from every other member of `nodes` (the majority side).
    pub fn majority_minority(nodes: &[NodeId], minority: &[NodeId]) -> Partition {
        let majority: Vec<NodeId> = nodes
            .iter()
            .copied()
            .filter(|node| !minority.contains(node))
            .collect();
        Partition::split(&[minority, &majority])
    }

    /// Two groups that cannot reach each other but can each reach `bridge`, which reaches both:
    /// the shape in which a node that talks to everyone can keep two would-be leaders alive.
    pub fn bridge(left: &[NodeId], bridge: NodeId, right: &[NodeId]) -> Partition {
        let left: Vec<NodeId> = left
            .iter()
            .copied()
            .filter(|&node| node != bridge)
            .collect();
        let right: Vec<NodeId> = right
            .iter()
            .copied()
            .filter(|&node| node != bridge)
            .collect();
        Partition::split(&[&left, &right])
    }

    /// Every cut of both partitions.
    pub fn union(mut self, other: &Partition) -> Partition {
        self.cut.extend(other.cut.iter().copied());
        self
    }

    fn cut_between(mut self, one: &[NodeId], other: &[NodeId]) -> Partition {
        for &a in one {
            for &b in other {
                self = self.with_cut(a, b).with_cut(b, a);
            }
        }
        self
    }

    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.cut.contains(&(from, to))
    }

    pub fn is_healed(&self) -> bool {
        self.cut.is_empty()
    }

    /// The cut directed links, in order.
    pub fn cut_links(&self) -> impl Iterator<Item = (NodeId, NodeId)> + '_ {
        self.cut.iter().copied()
    }
}

/// The tunable behaviour of every link.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkProfile {
    pub latency_ms_min: u64,
    pub latency_ms_max: u64,
    pub loss_probability: f64,
    pub duplicate_probability: f64,
    /// The chance a message may overtake earlier ones on its link. At 0 every link is FIFO (as
    /// TCP is); at 1 each message's latency is drawn independently, so jitter reorders freely.
    pub reorder_probability: f64,
}

/// The state of one directed link.
#[derive(Clone, Copy, Debug, Default)]
struct Link {
    cut: bool,
    clogged_until: Instant,
    /// The latest delivery time scheduled so far; FIFO messages are not delivered before it.
    delivery_last: Instant,
}

/// What the network decided for one message at send time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver at this time; `duplicate_at` is a second copy's delivery time, if any.
    Deliver {
        at: Instant,
        duplicate_at: Option<Instant>,
    },
    Drop(DropReason),
}

/// Why a message (or a client request) did not reach its destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DropReason {
    /// The link was cut by a partition, at send or at arrival.
    Partitioned,
    /// The network lost it at random.
    Lost,
    /// The destination was crashed or stopped when it arrived.
    NodeDown,
    /// The destination restarted since it was sent: a new incarnation never sees old messages.
    StaleIncarnation,
    /// The destination is not a member of the simulated cluster.
    UnknownNode,
    /// The client connection it travelled on closed before it arrived.
    ConnectionClosed,
}

/// Every directed link between `node_count` nodes, indexed densely.
#[derive(Debug)]
pub struct Network {
    node_count: usize,
    links: Vec<Link>,
    profile: LinkProfile,
    random: Random,
}

impl Network {
    pub fn new(node_count: usize, profile: LinkProfile, random: Random) -> Network {
        assert!(
            profile.latency_ms_min <= profile.latency_ms_max,
            "latency range is empty"
        );
        Network {
            node_count,
            links: vec![Link::default(); node_count * node_count],
            profile,
            random,
        }
    }

    fn link(&mut self, from: usize, to: usize) -> &mut Link {
        &mut self.links[from * self.node_count + to]
    }

    pub fn is_cut(&self, from: usize, to: usize) -> bool {
        self.links[from * self.node_count + to].cut
    }

    /// Decide the fate of a message sent at `now`: dropped, or when it (and a duplicate) arrive.
    pub fn send(&mut self, from: usize, to: usize, now: Instant) -> Verdict {
        if self.is_cut(from, to) {
            return Verdict::Drop(DropReason::Partitioned);
        }
        if self.random.chance(self.profile.loss_probability) {
            return Verdict::Drop(DropReason::Lost);
        }
        let at = self.delivery_time(from, to, now);
        let duplicate_at = self
            .random
            .chance(self.profile.duplicate_probability)
            .then(|| self.delivery_time(from, to, now));
        Verdict::Deliver { at, duplicate_at }
    }

    fn delivery_time(&mut self, from: usize, to: usize, now: Instant) -> Instant {
        let latency = self
            .random
            .duration_ms(self.profile.latency_ms_min, self.profile.latency_ms_max);
        let may_overtake = self.random.chance(self.profile.reorder_probability);
        let link = self.link(from, to);
        let mut at = now + latency;
        if !may_overtake {
            at = at.max(link.delivery_last);
        }
        link.delivery_last = link.delivery_last.max(at);
        at
    }

    /// If the link is clogged at `now`, the time its messages are released.
    pub fn clogged_until(&self, from: usize, to: usize, now: Instant) -> Option<Instant> {
        let until = self.links[from * self.node_count + to].clogged_until;
        (until > now).then_some(until)
    }

    /// Hold every message arriving on `from -> to` until `until` (a later clog extends it).
    pub fn clog(&mut self, from: usize, to: usize, until: Instant) {
        let link = self.link(from, to);
        link.clogged_until = link.clogged_until.max(until);
    }

    /// Release every clog now.
    pub fn unclog_all(&mut self) {
        for link in &mut self.links {
            link.clogged_until = Instant::ZERO;
        }
    }

    /// From now on no message is lost or duplicated, and every link is FIFO (as TCP is);
    /// latencies stay as drawn.
    pub fn end_message_faults(&mut self) {
        self.profile.loss_probability = 0.0;
        self.profile.duplicate_probability = 0.0;
        self.profile.reorder_probability = 0.0;
    }

    /// Cut exactly the links `is_cut(from, to)` says, by dense index.
    pub fn set_cuts(&mut self, is_cut: impl Fn(usize, usize) -> bool) {
        for from in 0..self.node_count {
            for to in 0..self.node_count {
                self.link(from, to).cut = is_cut(from, to);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each helper cuts exactly the directed links its shape names, and no others.
    #[test]
    fn partition_shapes_cut_the_named_links() {
        let nodes = [1, 2, 3, 4, 5];
        let one_way = Partition::one_way(1, 2);
        assert!(one_way.is_cut(1, 2) && !one_way.is_cut(2, 1));
        assert_eq!(one_way.cut_links().count(), 1);

        let split = Partition::majority_minority(&nodes, &[1, 2]);
        for (from, to) in [(1, 3), (3, 1), (2, 5), (5, 2)] {
            assert!(split.is_cut(from, to));
        }
        assert!(!split.is_cut(1, 2) && !split.is_cut(3, 4));
        assert_eq!(split.cut_links().count(), 2 * 2 * 3);

        let isolated = Partition::isolate(3, &nodes);
        assert_eq!(isolated.cut_links().count(), 8);
        assert!(isolated.cut_links().all(|(from, to)| from == 3 || to == 3));

        let bridge = Partition::bridge(&[1, 2, 3], 3, &[3, 4, 5]);
        assert!(bridge.is_cut(1, 4) && bridge.is_cut(5, 2));
        assert!(!bridge.is_cut(1, 3) && !bridge.is_cut(3, 5) && !bridge.is_cut(5, 3));
        assert_eq!(bridge.cut_links().count(), 2 * 2 * 2);
        assert!(Partition::none().is_healed());
    }

    // With reordering off every link is FIFO: delivery times never decrease along a link.
    #[test]
    fn fifo_links_never_reorder() {
        let profile = LinkProfile {
            latency_ms_min: 1,
            latency_ms_max: 10,
            loss_probability: 0.0,
            duplicate_probability: 0.0,
            reorder_probability: 0.0,
        };
        let mut network = Network::new(2, profile, Random::new(3, crate::random::Stream::Network));
        let mut previous = Instant::ZERO;
        for step in 0..200 {
            let Verdict::Deliver { at, .. } =
                network.send(0, 1, Instant::from_nanos(step * 100_000))
            else {
                panic!("a lossless link dropped a message");
            };
            assert!(at >= previous);
            previous = at;
        }
    }
}
