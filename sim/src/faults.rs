//! The seeded random fault schedule used by swarm runs.
//!
//! Every `fault_interval_ms_mean` (on average; the gap is drawn uniformly from zero to twice the
//! mean) the schedule picks one fault kind by the configured weights, a target and a duration.
//! It only decides; the world applies the fault and schedules its end. Scripted scenarios call the
//! world's fault controls directly instead, and can mix both.

use detcd_core::{Duration, Instant, NodeId};

use crate::network::Partition;
use crate::options::SimOptions;
use crate::random::Random;

/// One fault the schedule chose.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultAction {
    /// Crash every node listed at the same instant (one machine, or a rack losing power), and
    /// restart each after its own down time.
    Crash {
        nodes: Vec<(NodeId, Duration)>,
    },
    Pause {
        node: NodeId,
        duration: Duration,
    },
    /// Install the partition and heal it after `duration`.
    Partition {
        partition: Partition,
        duration: Duration,
    },
    /// Clog every link out of the node.
    Clog {
        node: NodeId,
        duration: Duration,
    },
    DiskStall {
        node: NodeId,
        duration: Duration,
    },
    ClockStep {
        node: NodeId,
        by: Duration,
    },
    /// Close every client connection to the node.
    CloseClients {
        node: NodeId,
    },
}

/// The random fault schedule of one run.
#[derive(Debug)]
pub struct FaultSchedule {
    options: SimOptions,
    random: Random,
    enabled: bool,
}

impl FaultSchedule {
    pub fn new(options: &SimOptions, random: Random) -> FaultSchedule {
        let enabled = options.fault_interval_ms_mean > 0
            && options.fault_weights.as_array().iter().any(|&w| w > 0);
        FaultSchedule {
            options: options.clone(),
            random,
            enabled,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Stop drawing faults (the liveness phase); already scheduled repairs still happen.
    pub fn disable(&mut self) {
        self.enabled = false;
    }

    /// When the next fault is due, after `now`.
    pub fn next_at(&mut self, now: Instant) -> Instant {
        let mean = self.options.fault_interval_ms_mean;
        now + self.random.duration_ms(1.min(mean), 2 * mean)
    }

    /// Choose the next fault. `up` are the nodes running (or paused) now, `down_count` how many
    /// are crashed or stopped. Returns None when the chosen kind has no valid target.
    pub fn draw(
        &mut self,
        nodes: &[NodeId],
        up: &[NodeId],
        down_count: usize,
    ) -> Option<FaultAction> {
        let kind = self
            .random
            .weighted(&self.options.fault_weights.as_array())?;
        let options = &self.options;
        let node = match up.len() {
            0 => return None,
            count => up[self.random.below(count as u64) as usize],
        };
        match kind {
            0 if down_count < options.crashed_max => {
                let down = self
                    .random
                    .duration_ms(options.down_ms_min, options.down_ms_max);
                Some(FaultAction::Crash {
                    nodes: vec![(node, down)],
                })
            }
            0 => None,
            1 => Some(FaultAction::Pause {
                node,
                duration: self
                    .random
                    .duration_ms(options.pause_ms_min, options.pause_ms_max),
            }),
            2 => {
                let partition = draw_partition(&mut self.random, nodes)?;
                let duration = self
                    .random
                    .duration_ms(options.partition_ms_min, options.partition_ms_max);
                Some(FaultAction::Partition {
                    partition,
                    duration,
                })
            }
            3 => Some(FaultAction::Clog {
                node,
                duration: self
                    .random
                    .duration_ms(options.clog_ms_min, options.clog_ms_max),
            }),
            4 => Some(FaultAction::DiskStall {
                node,
                duration: self
                    .random
                    .duration_ms(options.disk_stall_ms_min, options.disk_stall_ms_max),
            }),
            5 if options.clock_step_ms_max > 0 => Some(FaultAction::ClockStep {
                node,
                by: self.random.duration_ms(0, options.clock_step_ms_max),
            }),
            6 => self.draw_crash_group(up, down_count),
            7 => Some(FaultAction::CloseClients { node }),
            _ => None,
        }
    }

    /// Two or more running nodes crashed at once, as many as `crashed_max` leaves room for; each
    /// restarts after its own down time. None when there is no room for two.
    fn draw_crash_group(&mut self, up: &[NodeId], down_count: usize) -> Option<FaultAction> {
        let options = &self.options;
        let room = options.crashed_max.saturating_sub(down_count).min(up.len());
        if room < 2 {
            return None;
        }
        let size = self.random.between(2, room as u64) as usize;
        let mut group = up.to_vec();
        self.random.shuffle(&mut group);
        group.truncate(size);
        let nodes = group
            .into_iter()
            .map(|node| {
                let down = self
                    .random
                    .duration_ms(options.down_ms_min, options.down_ms_max);
                (node, down)
            })
            .collect();
        Some(FaultAction::Crash { nodes })
    }
}

/// One of the partition shapes that matter for Raft, over a shuffled membership: an isolated
/// node, a majority/minority split, a one-way cut, or a bridge.
fn draw_partition(random: &mut Random, nodes: &[NodeId]) -> Option<Partition> {
    if nodes.len() < 2 {
        return None;
    }
    let mut shuffled = nodes.to_vec();
    random.shuffle(&mut shuffled);
    let partition = match random.below(4) {
        0 => Partition::isolate(shuffled[0], nodes),
        1 => {
            let minority_size = 1 + random.below(nodes.len() as u64 / 2) as usize;
            Partition::majority_minority(nodes, &shuffled[..minority_size.min(nodes.len() - 1)])
        }
        2 => Partition::one_way(shuffled[0], shuffled[1]),
        _ if nodes.len() >= 3 => {
            let middle = nodes.len() / 2;
            Partition::bridge(&shuffled[..=middle], shuffled[middle], &shuffled[middle..])
        }
        _ => Partition::one_way(shuffled[1], shuffled[0]),
    };
    Some(partition)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::FaultWeights;
    use crate::random::Stream;

    // The schedule never crashes more nodes than `crashed_max` allows, and is off without weights.
    #[test]
    fn respects_crashed_max_and_weights() {
        let options = SimOptions {
            fault_interval_ms_mean: 100,
            fault_weights: FaultWeights {
                crash: 1,
                ..FaultWeights::default()
            },
            crashed_max: 1,
            ..SimOptions::default()
        };
        let mut schedule = FaultSchedule::new(&options, Random::new(5, Stream::Faults));
        let nodes = [1, 2, 3];
        for _ in 0..100 {
            assert!(matches!(
                schedule.draw(&nodes, &nodes, 0),
                Some(FaultAction::Crash { nodes }) if nodes.len() == 1
            ));
            assert_eq!(schedule.draw(&nodes, &nodes[1..], 1), None);
        }
        let quiet = FaultSchedule::new(&SimOptions::default(), Random::new(5, Stream::Faults));
        assert!(!quiet.is_enabled());
    }

    // A group crash takes down two or more distinct nodes at once, never more than `crashed_max`
    // in all; without room for two it does nothing.
    #[test]
    fn crash_groups_respect_crashed_max() {
        let options = SimOptions {
            fault_interval_ms_mean: 100,
            fault_weights: FaultWeights {
                crash_group: 1,
                ..FaultWeights::default()
            },
            crashed_max: 4,
            ..SimOptions::default()
        };
        let mut schedule = FaultSchedule::new(&options, Random::new(9, Stream::Faults));
        let nodes = [1, 2, 3, 4, 5];
        let mut sizes = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let Some(FaultAction::Crash { nodes: crashed }) = schedule.draw(&nodes, &nodes, 0)
            else {
                panic!("only group crashes are weighted");
            };
            let mut ids: Vec<NodeId> = crashed.iter().map(|&(node, _)| node).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), crashed.len(), "a group names each node once");
            sizes.insert(crashed.len());
            let Some(FaultAction::Crash { nodes: crashed }) = schedule.draw(&nodes, &nodes[..3], 2)
            else {
                panic!("two more nodes may go down");
            };
            assert_eq!(crashed.len(), 2);
            assert_eq!(schedule.draw(&nodes, &nodes[..2], 3), None);
        }
        assert_eq!(sizes.into_iter().collect::<Vec<_>>(), [2, 3, 4]);
    }
}
