//! Every knob of a run, fixed by a scenario or drawn from the seed ("swarm" testing).
//!
//! Swarm testing (as FoundationDB and TigerBeetle do it) varies the whole configuration per seed,
//! not only the random choices within one configuration: some seeds run with a lossy network and
//! no crashes, others with crashes and a perfect network. Faults that are rarely combined by hand
//! get combined. The full option set is printed at the start of every run so that a failure report
//! says exactly what world the seed built.
//!
//! A seed first draws a profile: which fault kinds are off and which are intense. Spread
//! evenly over every kind, each fault is too rare and too mild to line up with the others; a bug
//! that needs a crash to land between an acknowledgement and the fsync behind it, on most of the
//! cluster at once, is found by the seeds that crash often, write slowly and crash whole groups.

use std::fmt;

use crate::network::LinkProfile;
use crate::random::{Random, Stream};

/// How often each kind of random fault is chosen, relative to the others. Zero disables a kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultWeights {
    /// Crash one node.
    pub crash: u64,
    pub pause: u64,
    pub partition: u64,
    pub clog: u64,
    pub disk_stall: u64,
    pub clock_step: u64,
    /// Crash several nodes at the same instant (a rack losing power), as many as `crashed_max`
    /// leaves room for.
    pub crash_group: u64,
    /// Close every client connection to one node (a load balancer or a network reset): the node
    /// forgets those clients, their requests in flight are lost, and they reconnect.
    pub close_clients: u64,
}

impl FaultWeights {
    /// The weights in the order the fault schedule draws them.
    pub fn as_array(&self) -> [u64; 8] {
        [
            self.crash,
            self.pause,
            self.partition,
            self.clog,
            self.disk_stall,
            self.clock_step,
            self.crash_group,
            self.close_clients,
        ]
    }
}

/// How a swarm seed chooses its faults: which kinds it turns off and which it makes intense. Only
/// the knobs it draws reach the world (and the printed options), which say everything it chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SwarmProfile {
    /// Every fault kind on or off by a coin toss, at moderate rates.
    Mixed,
    /// Durability: frequent crashes of whole groups (up to the whole cluster) with lost unsynced
    /// and torn writes, slow fsyncs and disk stalls, on a fast network; so crashes land between
    /// an acknowledgement and the fsync behind it.
    Durability,
    /// The network: partitions, clogs, loss, duplication and reordering; no crashes.
    Network,
}

/// Every option of a simulated run. Durations are in milliseconds of true (simulated) time.
#[derive(Clone, Debug, PartialEq)]
pub struct SimOptions {
    pub node_count: usize,

    /// One-way latency of a peer message, drawn per message from this range.
    pub latency_ms_min: u64,
    pub latency_ms_max: u64,
    /// One-way latency between a client and a node.
    pub client_latency_ms_min: u64,
    pub client_latency_ms_max: u64,
    pub loss_probability: f64,
    pub duplicate_probability: f64,
    /// 0: every link is FIFO. 1: each message's latency is independent, so jitter reorders.
    pub reorder_probability: f64,

    /// Time for one persist batch's write and fsync.
    pub disk_latency_ms_min: u64,
    pub disk_latency_ms_max: u64,
    /// The chance a crash tears the write in progress.
    pub torn_write_probability: f64,
    /// The chance a batch's fsync fails, which stops the node.
    pub fsync_error_probability: f64,
    /// The chance a restart finds its durable state corrupted, which stops the node.
    pub corruption_probability: f64,

    /// Each node's clock runs fast or slow by up to this many parts per million.
    pub clock_drift_ppm_max: u64,

    /// Mean time between random faults; 0 turns the random fault schedule off.
    pub fault_interval_ms_mean: u64,
    pub fault_weights: FaultWeights,
    /// The random schedule never has more nodes crashed or stopped at once than this. Safety must
    /// hold whatever it is; liveness is required only once every node is restarted.
    pub crashed_max: usize,
    pub down_ms_min: u64,
    pub down_ms_max: u64,
    pub pause_ms_min: u64,
    pub pause_ms_max: u64,
    pub partition_ms_min: u64,
    pub partition_ms_max: u64,
    pub clog_ms_min: u64,
    pub clog_ms_max: u64,
    pub disk_stall_ms_min: u64,
    pub disk_stall_ms_max: u64,
    pub clock_step_ms_max: u64,
}

impl Default for SimOptions {
    /// Five nodes on a healthy network (1–10 ms, reordering by jitter), fast disks, true clocks,
    /// no random faults: the baseline a scripted scenario adds its faults to.
    fn default() -> Self {
        SimOptions {
            node_count: 5,
            latency_ms_min: 1,
            latency_ms_max: 10,
            client_latency_ms_min: 1,
            client_latency_ms_max: 5,
            loss_probability: 0.0,
            duplicate_probability: 0.0,
            reorder_probability: 1.0,
            disk_latency_ms_min: 1,
            disk_latency_ms_max: 5,
            torn_write_probability: 0.0,
            fsync_error_probability: 0.0,
            corruption_probability: 0.0,
            clock_drift_ppm_max: 0,
            fault_interval_ms_mean: 0,
            fault_weights: FaultWeights::default(),
            crashed_max: 2,
            down_ms_min: 100,
            down_ms_max: 3_000,
            pause_ms_min: 50,
            pause_ms_max: 2_000,
            partition_ms_min: 200,
            partition_ms_max: 5_000,
            clog_ms_min: 50,
            clog_ms_max: 1_000,
            disk_stall_ms_min: 50,
            disk_stall_ms_max: 2_000,
            clock_step_ms_max: 0,
        }
    }
}

impl SimOptions {
    /// Draw every option from `seed`: first a profile (`SwarmProfile`), then the knobs it leaves free.
    /// In the mixed and network profiles the random schedule keeps a majority it cannot crash;
    /// the durability profile may crash the whole cluster (never corrupting a disk, so that every
    /// node can come back), since safety must survive any crash and liveness is required only
    /// after every node has restarted.
    pub fn draw(seed: u64) -> SimOptions {
        let mut random = Random::new(seed, Stream::Options);
        let profile = [
            SwarmProfile::Mixed,
            SwarmProfile::Mixed,
            SwarmProfile::Durability,
            SwarmProfile::Durability,
            SwarmProfile::Network,
        ][random.below(5) as usize];
        let node_count = [1, 3, 3, 5, 5, 5, 7][random.below(7) as usize];
        let options = SimOptions::draw_mixed(&mut random, node_count);
        match profile {
            SwarmProfile::Mixed => options,
            SwarmProfile::Durability => options.durability(&mut random),
            SwarmProfile::Network => options.network(&mut random),
        }
    }

    /// Every fault kind on or off by a coin toss, with drawn rates.
    fn draw_mixed(random: &mut Random, node_count: usize) -> SimOptions {
        let latency_ms_min = random.between(0, 5);
        let latency_ms_max = latency_ms_min + random.between(1, 50);
        let disk_latency_ms_min = random.between(0, 3);
        let fault_weights = FaultWeights {
            crash: weight(random),
            pause: weight(random),
            partition: weight(random),
            clog: weight(random),
            disk_stall: weight(random),
            clock_step: weight(random),
            crash_group: weight(random),
            // Drawn last (below), so that adding it changed no other draw of a seed.
            close_clients: 0,
        };
        let options = SimOptions {
            node_count,
            latency_ms_min,
            latency_ms_max,
            client_latency_ms_min: random.between(0, 2),
            client_latency_ms_max: random.between(2, 20),
            loss_probability: rate(random, 0.2),
            duplicate_probability: rate(random, 0.1),
            reorder_probability: [0.0, 0.1, 1.0][random.below(3) as usize],
            disk_latency_ms_min,
            disk_latency_ms_max: disk_latency_ms_min + random.between(0, 20),
            torn_write_probability: rate(random, 1.0),
            fsync_error_probability: rate(random, 0.001),
            corruption_probability: rate(random, 0.05),
            clock_drift_ppm_max: [0, 500, 5_000, 50_000][random.below(4) as usize],
            fault_interval_ms_mean: [0, 100, 500, 2_000][random.below(4) as usize],
            fault_weights,
            crashed_max: (node_count - 1) / 2,
            down_ms_min: random.between(10, 500),
            down_ms_max: random.between(500, 10_000),
            pause_ms_min: random.between(10, 200),
            pause_ms_max: random.between(200, 5_000),
            partition_ms_min: random.between(50, 1_000),
            partition_ms_max: random.between(1_000, 20_000),
            clog_ms_min: random.between(10, 100),
            clog_ms_max: random.between(100, 3_000),
            disk_stall_ms_min: random.between(10, 200),
            disk_stall_ms_max: random.between(200, 5_000),
            clock_step_ms_max: [0, 100, 2_000][random.below(3) as usize],
        };
        options.with_close_clients(random)
    }

    /// Closed connections are drawn rarely (weight 1, a third of the seeds): each leaves every
    /// request in flight on them with an unknown outcome, which the checker must search through.
    fn with_close_clients(mut self, random: &mut Random) -> SimOptions {
        self.fault_weights.close_clients = u64::from(random.chance(1.0 / 3.0));
        self
    }

    /// Crashes often, of groups up to the whole cluster, restarting soon; slow fsyncs (a write
    /// takes up to a hundred times a message's latency) and torn writes; pauses, partitions and
    /// disk stalls maybe; no corruption, which would keep a node down for good.
    fn durability(self, random: &mut Random) -> SimOptions {
        let latency_ms_min = random.between(0, 2);
        let disk_latency_ms_min = random.between(1, 10);
        let maybe = |random: &mut Random, max: u64| match random.chance(0.5) {
            true => random.between(1, max),
            false => 0,
        };
        let fault_weights = FaultWeights {
            crash: random.between(2, 10),
            pause: maybe(random, 3),
            partition: maybe(random, 3),
            clog: 0,
            disk_stall: maybe(random, 5),
            clock_step: 0,
            crash_group: random.between(2, 10),
            close_clients: 0,
        };
        let options = SimOptions {
            latency_ms_min,
            latency_ms_max: latency_ms_min + random.between(1, 10),
            disk_latency_ms_min,
            disk_latency_ms_max: disk_latency_ms_min + random.between(5, 100),
            torn_write_probability: [0.5, 1.0][random.below(2) as usize],
            fsync_error_probability: 0.0,
            corruption_probability: 0.0,
            fault_interval_ms_mean: [100, 300, 1_000][random.below(3) as usize],
            fault_weights,
            crashed_max: self.node_count,
            down_ms_min: random.between(10, 100),
            down_ms_max: random.between(100, 2_000),
            ..self
        };
        options.with_close_clients(random)
    }

    /// Partitions and clogs often, on a lossy, duplicating, reordering network; no crashes.
    fn network(self, random: &mut Random) -> SimOptions {
        let fault_weights = FaultWeights {
            crash: 0,
            pause: weight(random),
            partition: random.between(3, 10),
            clog: random.between(1, 10),
            disk_stall: 0,
            clock_step: weight(random),
            crash_group: 0,
            close_clients: 0,
        };
        let options = SimOptions {
            loss_probability: random.between(1, 300) as f64 / 1000.0,
            duplicate_probability: random.between(0, 200) as f64 / 1000.0,
            reorder_probability: [0.1, 1.0][random.below(2) as usize],
            fault_interval_ms_mean: [100, 300, 1_000][random.below(3) as usize],
            fault_weights,
            ..self
        };
        options.with_close_clients(random)
    }

    /// The same options for a cluster of `node_count`, with `crashed_max` scaled as a swarm
    /// profile draws it: the whole cluster if it was the whole cluster, else a minority.
    pub fn with_node_count(self, node_count: usize) -> SimOptions {
        let crashed_max = if self.crashed_max >= self.node_count {
            node_count
        } else {
            node_count.saturating_sub(1) / 2
        };
        SimOptions {
            node_count,
            crashed_max,
            ..self
        }
    }

    /// Panic with the offending option if the set is inconsistent. Programmer error, not input.
    pub fn validate(&self) {
        let ranges = [
            ("latency_ms", self.latency_ms_min, self.latency_ms_max),
            (
                "client_latency_ms",
                self.client_latency_ms_min,
                self.client_latency_ms_max,
            ),
            (
                "disk_latency_ms",
                self.disk_latency_ms_min,
                self.disk_latency_ms_max,
            ),
            ("down_ms", self.down_ms_min, self.down_ms_max),
            ("pause_ms", self.pause_ms_min, self.pause_ms_max),
            ("partition_ms", self.partition_ms_min, self.partition_ms_max),
            ("clog_ms", self.clog_ms_min, self.clog_ms_max),
            (
                "disk_stall_ms",
                self.disk_stall_ms_min,
                self.disk_stall_ms_max,
            ),
        ];
        for (name, min, max) in ranges {
            assert!(min <= max, "{name}_min {min} is above {name}_max {max}");
        }
        let probabilities = [
            ("loss_probability", self.loss_probability),
            ("duplicate_probability", self.duplicate_probability),
            ("reorder_probability", self.reorder_probability),
            ("torn_write_probability", self.torn_write_probability),
            ("fsync_error_probability", self.fsync_error_probability),
            ("corruption_probability", self.corruption_probability),
        ];
        for (name, probability) in probabilities {
            assert!(
                (0.0..=1.0).contains(&probability),
                "{name} {probability} is not a probability"
            );
        }
        assert!(self.node_count > 0, "a cluster needs at least one node");
        assert!(
            self.clock_drift_ppm_max <= crate::clock::DRIFT_PPM_LIMIT as u64,
            "clock_drift_ppm_max {} is beyond {}",
            self.clock_drift_ppm_max,
            crate::clock::DRIFT_PPM_LIMIT
        );
    }

    pub(crate) fn link_profile(&self) -> LinkProfile {
        LinkProfile {
            latency_ms_min: self.latency_ms_min,
            latency_ms_max: self.latency_ms_max,
            loss_probability: self.loss_probability,
            duplicate_probability: self.duplicate_probability,
            reorder_probability: self.reorder_probability,
        }
    }
}

/// A fault kind's weight: off half the time, else 1 to 10.
fn weight(random: &mut Random) -> u64 {
    if random.chance(0.5) {
        random.between(1, 10)
    } else {
        0
    }
}

/// A probability: zero half the time, else up to `max`, rounded to a millionth.
fn rate(random: &mut Random, max: f64) -> f64 {
    if random.chance(0.5) {
        (random.below(1000) as f64 / 1000.0 * max * 1e6).round() / 1e6
    } else {
        0.0
    }
}

/// One `name = value` line per option, in declaration order, so two runs' options can be diffed.
impl fmt::Display for SimOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let weights = &self.fault_weights;
        let lines = [
            ("node_count", self.node_count.to_string()),
            ("latency_ms_min", self.latency_ms_min.to_string()),
            ("latency_ms_max", self.latency_ms_max.to_string()),
            (
                "client_latency_ms_min",
                self.client_latency_ms_min.to_string(),
            ),
            (
                "client_latency_ms_max",
                self.client_latency_ms_max.to_string(),
            ),
            ("loss_probability", self.loss_probability.to_string()),
            (
                "duplicate_probability",
                self.duplicate_probability.to_string(),
            ),
            ("reorder_probability", self.reorder_probability.to_string()),
            ("disk_latency_ms_min", self.disk_latency_ms_min.to_string()),
            ("disk_latency_ms_max", self.disk_latency_ms_max.to_string()),
            (
                "torn_write_probability",
                self.torn_write_probability.to_string(),
            ),
            (
                "fsync_error_probability",
                self.fsync_error_probability.to_string(),
            ),
            (
                "corruption_probability",
                self.corruption_probability.to_string(),
            ),
            ("clock_drift_ppm_max", self.clock_drift_ppm_max.to_string()),
            (
                "fault_interval_ms_mean",
                self.fault_interval_ms_mean.to_string(),
            ),
            (
                "fault_weights",
                format!(
                    "crash {} pause {} partition {} clog {} disk_stall {} clock_step {} \
                     crash_group {} close_clients {}",
                    weights.crash,
                    weights.pause,
                    weights.partition,
                    weights.clog,
                    weights.disk_stall,
                    weights.clock_step,
                    weights.crash_group,
                    weights.close_clients
                ),
            ),
            ("crashed_max", self.crashed_max.to_string()),
            ("down_ms_min", self.down_ms_min.to_string()),
            ("down_ms_max", self.down_ms_max.to_string()),
            ("pause_ms_min", self.pause_ms_min.to_string()),
            ("pause_ms_max", self.pause_ms_max.to_string()),
            ("partition_ms_min", self.partition_ms_min.to_string()),
            ("partition_ms_max", self.partition_ms_max.to_string()),
            ("clog_ms_min", self.clog_ms_min.to_string()),
            ("clog_ms_max", self.clog_ms_max.to_string()),
            ("disk_stall_ms_min", self.disk_stall_ms_min.to_string()),
            ("disk_stall_ms_max", self.disk_stall_ms_max.to_string()),
            ("clock_step_ms_max", self.clock_step_ms_max.to_string()),
        ];
        for (name, value) in lines {
            writeln!(f, "{name:<24} = {value}")?;
        }
        Ok(())
    }
}
