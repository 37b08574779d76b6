//! `/metrics` in Prometheus text format with etcd's metric names, types and labels, from one
//! registry per member (several simulated members share a process, so nothing is global).
//!
//! The member's state is read at scrape time by a collector, so counters such as
//! `etcd_mvcc_put_total` are what the node applied, never a second count kept beside it. gRPC
//! calls are counted by a layer on the gRPC routes (real builds), as go-grpc-prometheus does for
//! etcd: `grpc_server_started_total`, and `grpc_server_handled_total` with the call's code
//! (`Canceled` when the client went away first).

use std::sync::Arc;
use std::time::Duration;

use detcd_core::NodeId;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::api::{CLUSTER_VERSION, ETCD_VERSION};
use crate::member::Member;

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// etcd's buckets for `etcd_disk_wal_fsync_duration_seconds`: 1 ms doubling 14 times.
pub fn fsync_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 14))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StartedLabels {
    pub grpc_method: String,
    pub grpc_service: String,
    pub grpc_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HandledLabels {
    pub grpc_code: &'static str,
    pub grpc_method: String,
    pub grpc_service: String,
    pub grpc_type: &'static str,
}

/// A peer's id in hexadecimal, under etcd's label name (`To` or `From`).
type PeerLabel = [(&'static str, String); 1];

fn to(peer: NodeId) -> PeerLabel {
    [("To", format!("{peer:x}"))]
}

/// What the peer transport counts (etcd's `etcd_network_*` metrics), shared by the senders and
/// the peer service.
#[derive(Clone, Debug)]
pub struct PeerMetrics {
    sent_bytes: Family<PeerLabel, Counter>,
    received_bytes: Family<PeerLabel, Counter>,
    sent_failures: Family<PeerLabel, Counter>,
    round_trip: Family<PeerLabel, Histogram>,
    /// Snapshots sent whole (etcd's `etcd_network_snapshot_send_success`, whose name has no
    /// `_total`, which a counter here always gets: so only the duration of each is exported).
    snapshot_seconds: Family<PeerLabel, Histogram>,
}

impl Default for PeerMetrics {
    fn default() -> PeerMetrics {
        // etcd's buckets: 0.1 ms doubling 16 times for the round trip, 0.1 s doubling 10 times
        // for a snapshot.
        let round_trip = || Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        let snapshot = || Histogram::new(exponential_buckets(0.1, 2.0, 10));
        PeerMetrics {
            sent_bytes: Family::default(),
            received_bytes: Family::default(),
            sent_failures: Family::default(),
            round_trip: Family::new_with_constructor(round_trip),
            snapshot_seconds: Family::new_with_constructor(snapshot),
        }
    }
}

impl PeerMetrics {
    pub fn sent_bytes(&self, peer: NodeId, bytes: u64) {
        self.sent_bytes.get_or_create(&to(peer)).inc_by(bytes);
    }

    pub fn received_bytes(&self, peer: NodeId, bytes: u64) {
        let label = [("From", format!("{peer:x}"))];
        self.received_bytes.get_or_create(&label).inc_by(bytes);
    }

    pub fn sent_failure(&self, peer: NodeId) {
        self.sent_failures.get_or_create(&to(peer)).inc();
    }

    pub fn round_trip(&self, peer: NodeId, took: Duration) {
        let histogram = self.round_trip.get_or_create(&to(peer));
        histogram.observe(took.as_secs_f64());
    }

    /// A snapshot reached the peer whole, taking `took`.
    pub fn snapshot_sent(&self, peer: NodeId, took: Duration) {
        let histogram = self.snapshot_seconds.get_or_create(&to(peer));
        histogram.observe(took.as_secs_f64());
    }

    fn register(&self, registry: &mut Registry) {
        registry.register(
            "etcd_network_peer_sent_bytes",
            "The total number of bytes sent to peers.",
            self.sent_bytes.clone(),
        );
        registry.register(
            "etcd_network_peer_received_bytes",
            "The total number of bytes received from peers.",
            self.received_bytes.clone(),
        );
        registry.register(
            "etcd_network_peer_sent_failures",
            "The total number of send failures from peers.",
            self.sent_failures.clone(),
        );
        registry.register(
            "etcd_network_peer_round_trip_time_seconds",
            "Round-Trip-Time histogram between peers",
            self.round_trip.clone(),
        );
        registry.register(
            "etcd_network_snapshot_send_total_duration_seconds",
            "Total latency distributions of v3 snapshot sends",
            self.snapshot_seconds.clone(),
        );
    }
}

/// One member's metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub grpc_started: Family<StartedLabels, Counter>,
    pub grpc_handled: Family<HandledLabels, Counter>,
}

impl Metrics {
    pub fn new(member: Member, quota_bytes: u64, fsync: Histogram, peers: &PeerMetrics) -> Metrics {
        let mut registry = Registry::default();
        peers.register(&mut registry);
        let grpc_started = Family::<StartedLabels, Counter>::default();
        let grpc_handled = Family::<HandledLabels, Counter>::default();
        registry.register(
            "grpc_server_started",
            "Total number of RPCs started on the server.",
            grpc_started.clone(),
        );
        registry.register(
            "grpc_server_handled",
            "Total number of RPCs completed on the server, regardless of success or failure.",
            grpc_handled.clone(),
        );
        registry.register(
            "etcd_disk_wal_fsync_duration_seconds",
            "The latency distributions of fsync called by WAL.",
            fsync,
        );
        registry.register_collector(Box::new(MemberCollector {
            member,
            quota_bytes,
        }));
        Metrics {
            registry: Arc::new(registry),
            grpc_started,
            grpc_handled,
        }
    }

    /// The text a scrape gets.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// The member's state, read at each scrape.
#[derive(Debug)]
struct MemberCollector {
    member: Member,
    quota_bytes: u64,
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// A gauge of 1 whose one label carries the value (etcd's version and id metrics).
fn info(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &'static str,
    value: &str,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(1i64);
    let mut family = encoder.encode_descriptor(name, help, None, metric.metric_type())?;
    let labels = [(label, value)];
    metric.encode(family.encode_family(&labels)?)
}

fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl Collector for MemberCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let state = self.member.state();
        let info_of = self.member.info();
        let encoder = &mut encoder;
        let leading = state.leader == Some(info_of.id);
        gauge(
            encoder,
            "etcd_server_has_leader",
            "Whether or not a leader exists. 1 is existence, 0 is not.",
            i64::from(state.leader.is_some()),
        )?;
        gauge(
            encoder,
            "etcd_server_is_leader",
            "Whether or not this member is a leader. 1 if is, 0 otherwise.",
            i64::from(leading),
        )?;
        counter(
            encoder,
            "etcd_server_leader_changes_seen",
            "The number of leader changes seen.",
            state.leader_changes,
        )?;
        info(
            encoder,
            "etcd_server_id",
            "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
            "server_id",
            &format!("{:x}", info_of.id),
        )?;
        info(
            encoder,
            "etcd_server_version",
            "Which version is running. 1 for 'server_version' label with current version.",
            "server_version",
            ETCD_VERSION,
        )?;
        let cluster_version = CLUSTER_VERSION
            .rsplit_once('.')
            .map_or(CLUSTER_VERSION, |(major_minor, _)| major_minor);
        info(
            encoder,
            "etcd_cluster_version",
            "Which version is running. 1 for 'cluster_version' label with current cluster version",
            "cluster_version",
            cluster_version,
        )?;
        gauge(
            encoder,
            "etcd_server_quota_backend_bytes",
            "Current backend storage quota size in bytes.",
            int(self.quota_bytes),
        )?;
        gauge(
            encoder,
            "etcd_server_proposals_committed_total",
            "The total number of consensus proposals committed.",
            int(state.commit_index),
        )?;
        gauge(
            encoder,
            "etcd_server_proposals_applied_total",
            "The total number of consensus proposals applied.",
            int(state.applied_index),
        )?;
        gauge(
            encoder,
            "etcd_server_proposals_pending",
            "The current number of pending proposals to commit.",
            int(state.commit_index.saturating_sub(state.applied_index)),
        )?;
        counter(
            encoder,
            "etcd_mvcc_put",
            "Total number of puts seen by this member.",
            state.puts_applied,
        )?;
        counter(
            encoder,
            "etcd_mvcc_delete",
            "Total number of deletes seen by this member.",
            state.deletes_applied,
        )?;
        gauge(
            encoder,
            "etcd_debugging_mvcc_keys_total",
            "Total number of keys.",
            int(state.keys),
        )?;
        gauge(
            encoder,
            "etcd_debugging_mvcc_current_revision",
            "The current revision of store.",
            state.revision,
        )?;
        gauge(
            encoder,
            "etcd_debugging_mvcc_compact_revision",
            "The revision of the last compaction in store.",
            state.compact_revision,
        )?;
        gauge(
            encoder,
            "etcd_mvcc_db_total_size_in_bytes",
            "Total size of the underlying database physically allocated in bytes.",
            int(state.db_size_bytes),
        )?;
        gauge(
            encoder,
            "etcd_mvcc_db_total_size_in_use_in_bytes",
            "Total size of the underlying database logically in use in bytes.",
            int(state.db_size_bytes),
        )?;
        Ok(())
    }
}

/// The grpc_type label of a method, as go-grpc-prometheus names it.
pub fn grpc_type(service: &str, method: &str) -> &'static str {
    match (service, method) {
        ("etcdserverpb.Watch", "Watch") | ("etcdserverpb.Lease", "LeaseKeepAlive") => "bidi_stream",
        ("etcdserverpb.Maintenance", "Snapshot")
        | ("v3electionpb.Election", "Observe")
        | ("grpc.health.v1.Health", "Watch") => "server_stream",
        _ => "unary",
    }
}

/// A gRPC status code's name, as grpc-go prints it.
pub fn code_name(code: i32) -> &'static str {
    match code {
        0 => "OK",
        1 => "Canceled",
        2 => "Unknown",
        3 => "InvalidArgument",
        4 => "DeadlineExceeded",
        5 => "NotFound",
        6 => "AlreadyExists",
        7 => "PermissionDenied",
        8 => "ResourceExhausted",
        9 => "FailedPrecondition",
        10 => "Aborted",
        11 => "OutOfRange",
        12 => "Unimplemented",
        13 => "Internal",
        14 => "Unavailable",
        15 => "DataLoss",
        16 => "Unauthenticated",
        _ => "Unknown",
    }
}
