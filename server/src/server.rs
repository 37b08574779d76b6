//! Starting a member: its identity, its data dir, its node, and the services on its client URLs,
//! with the start-up lines etcd prints (etcd's e2e harness waits for two of them).

use std::time::Duration;

use detcd_core::kv::{self, KvConfig, KvStore};
use detcd_core::raft::{PersistBatch, PersistedState, RaftConfig};
use detcd_core::{Boot, Instant, Node, NodeConfig, NodeId, PersistToken};
use prometheus_client::metrics::histogram::Histogram;
use tracing::{info, warn};

use crate::api::CLUSTER_VERSION;
use crate::api::auth::AuthService;
use crate::api::cluster::ClusterService;
use crate::api::election::ElectionService;
use crate::api::health::HealthService;
use crate::api::kv::KvService;
use crate::api::lease::LeaseService;
use crate::api::lock::LockService;
use crate::api::maintenance::MaintenanceService;
use crate::api::watch::WatchService;
use crate::config::{ClusterState, Config, Url};
use crate::member::{self, Member, MemberGone, MemberInfo};
use crate::storage::{Metadata, RealDisk, Storage, StorageOptions};
use crate::{ids, storage_writer};

/// A running member: its handle, and what the services need.
#[derive(Debug)]
pub struct Started {
    pub member: Member,
    pub compactor: storage_writer::Compactor,
}

impl Started {
    /// Stop the member; returns once the writer has finished what it was given.
    pub async fn stop(&self) {
        self.member.stop().await;
    }
}

/// Open the data dir, boot the node and start the member task; `fsync` records the writer's
/// group commits.
pub fn start_member(config: &Config, fsync: Histogram) -> Result<Started, String> {
    let member_ids = initial_member_ids(config);
    let own_id = ids::member_id(&config.own_peer_urls(), &config.initial_cluster_token);
    let cluster_id = ids::cluster_id(&member_ids);
    let metadata = Metadata {
        member_id: own_id,
        cluster_id,
    };
    let options = StorageOptions {
        snap_files_kept: config.max_snapshots,
        ..StorageOptions::default()
    };
    let (mut storage, recovered) = Storage::open(RealDisk, &config.data_dir, metadata, options)
        .map_err(|error| {
            format!(
                "cannot open the data dir {}: {error}",
                config.data_dir.display()
            )
        })?;
    for warning in &recovered.warnings {
        warn!(target: "etcdserver", "{warning}");
    }
    let metadata = recovered.metadata.unwrap_or(metadata);
    let persisted = if recovered.persisted == PersistedState::default() {
        if config.initial_cluster_state == ClusterState::Existing {
            return Err(
                "joining an existing cluster needs the peer transport, which is not \
                        implemented yet"
                    .into(),
            );
        }
        let bootstrap = PersistedState::bootstrap(member_ids.iter().copied());
        // The bootstrap snapshot is the log's start: it must be on disk before anything after it.
        storage
            .write(&[PersistBatch {
                token: PersistToken(0),
                snapshot: bootstrap.snapshot.clone(),
                entries: Vec::new(),
                hard_state: Some(bootstrap.hard_state),
            }])
            .map_err(|error| format!("cannot write the data dir: {error}"))?;
        info!(target: "etcdserver", "starting member {:x} in cluster {:x}", metadata.member_id, metadata.cluster_id);
        bootstrap
    } else {
        info!(target: "etcdserver", "restarting member {:x} in cluster {:x} at commit index {}",
            metadata.member_id, metadata.cluster_id, recovered.persisted.hard_state.commit);
        recovered.persisted
    };
    let node = boot_node(config, metadata.member_id, persisted, recovered.incarnation)?;
    let writer = storage_writer::spawn(storage, fsync);
    let compactor = writer.compactor();
    let info = MemberInfo {
        id: metadata.member_id,
        cluster_id: metadata.cluster_id,
        name: config.name.clone(),
        peer_urls: config
            .initial_advertise_peer_urls
            .iter()
            .map(Url::to_string)
            .collect(),
        client_urls: config
            .advertise_client_urls
            .iter()
            .map(Url::to_string)
            .collect(),
    };
    let member = member::spawn(node, info, writer);
    Ok(Started { member, compactor })
}

/// The ids of the members `--initial-cluster` names, each from its peer URLs.
fn initial_member_ids(config: &Config) -> Vec<NodeId> {
    let mut by_name: Vec<(&str, Vec<Url>)> = Vec::new();
    for (name, url) in &config.initial_cluster {
        match by_name.iter_mut().find(|(known, _)| known == name) {
            Some((_, urls)) => urls.push(url.clone()),
            None => by_name.push((name, vec![url.clone()])),
        }
    }
    by_name
        .iter()
        .map(|(_, urls)| ids::member_id(urls, &config.initial_cluster_token))
        .collect()
}

fn boot_node(
    config: &Config,
    id: NodeId,
    persisted: PersistedState,
    incarnation: u64,
) -> Result<Node<KvStore>, String> {
    let election_ticks =
        (config.election_timeout.as_millis() / config.heartbeat_interval.as_millis().max(1)) as u64;
    let raft = RaftConfig {
        election_timeout: config.election_timeout,
        heartbeat_interval: config.heartbeat_interval,
        pre_vote: config.pre_vote,
        check_quorum: true,
        ..RaftConfig::new(id, random_seed())
    };
    let node_config = NodeConfig {
        raft,
        // etcd's request timeout: 5 s plus two election timeouts.
        request_timeout: Duration::from_secs(5) + 2 * config.election_timeout,
        snapshot_entries: config.snapshot_count.max(1),
        ..NodeConfig::new(id, 0)
    };
    let kv_config = KvConfig {
        quota_bytes: config.quota_backend_bytes,
        max_request_bytes: config.max_request_bytes,
        max_txn_ops: config.max_txn_ops,
        watch_progress_notify_interval: config.watch_progress_notify_interval,
        lease_ttl_min_secs: KvConfig::lease_ttl_min_secs_for(
            election_ticks,
            config.heartbeat_interval,
        ),
        ..KvConfig::default()
    };
    let boot = Boot {
        config: node_config,
        persisted,
        incarnation,
        now: Instant::ZERO,
    };
    Node::boot(boot, KvStore::new(kv_config)).map_err(|halt| halt.reason)
}

/// A seed for the member's Raft RNG (election timeouts): the process's own randomness, which a
/// simulated build draws from the simulation's seed.
fn random_seed() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS gives randomness");
    u64::from_le_bytes(bytes)
}

/// Print etcd's lines that say the member serves (etcd's e2e harness waits for the first two),
/// once a read through Raft has answered: a leader leads, it has committed an entry of its term,
/// and this member has applied everything committed before (etcd publishes its attributes
/// through Raft before it says so).
pub async fn announce_ready(member: Member) {
    if caught_up(&member).await.is_err() {
        return;
    }
    let info = member.info();
    info!(target: "etcdserver",
        "published {{Name:{} ClientURLs:[{}]}} to cluster {:x}",
        info.name,
        info.client_urls.join(" "),
        info.cluster_id
    );
    info!(target: "etcdserver/api", "enabled capabilities for version {}",
        CLUSTER_VERSION.rsplit_once('.').map_or(CLUSTER_VERSION, |(version, _)| version));
    info!(target: "embed", "ready to serve client requests");
}

/// Wait until a linearizable read answers (retrying while there is no leader yet).
pub async fn caught_up(member: &Member) -> Result<(), MemberGone> {
    let read = || {
        kv::Request::Range(kv::RangeRequest {
            key: b"health".to_vec(),
            ..kv::RangeRequest::default()
        })
    };
    loop {
        member.wait_for(|state| state.leader.is_some()).await?;
        if let kv::Response::Range(_) = member.request(read()).await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The gRPC services, built the same way in real and simulated builds; each build serves them
/// its own way (`http` for real sockets, madsim's server for the simulated tier).
#[derive(Clone, Debug)]
pub struct Services {
    pub kv: KvService,
    pub watch: WatchService,
    pub lease: LeaseService,
    pub cluster: ClusterService,
    pub maintenance: MaintenanceService,
    pub auth: AuthService,
    pub lock: LockService,
    pub election: ElectionService,
    pub health: HealthService,
}

impl Services {
    pub fn new(config: &Config, started: &Started) -> Services {
        let member = started.member.clone();
        Services {
            kv: KvService {
                member: member.clone(),
            },
            watch: WatchService {
                member: member.clone(),
                max_request_bytes: config.max_request_bytes,
            },
            lease: LeaseService {
                member: member.clone(),
            },
            cluster: ClusterService {
                member: member.clone(),
            },
            maintenance: MaintenanceService {
                member: member.clone(),
                compactor: started.compactor.clone(),
                quota_bytes: config.quota_backend_bytes,
            },
            auth: AuthService {
                member: member.clone(),
            },
            lock: LockService {
                member: member.clone(),
            },
            election: ElectionService { member },
            health: HealthService,
        }
    }
}

/// The simulated tier's listener: the same services on madsim's network (no TLS, no HTTP
/// routes: madsim carries gRPC messages as values).
#[cfg(madsim)]
pub async fn serve_simulated(
    services: Services,
    address: std::net::SocketAddr,
) -> Result<(), tonic::transport::Error> {
    use detcd_proto::etcdserverpb::auth_server::AuthServer;
    use detcd_proto::etcdserverpb::cluster_server::ClusterServer;
    use detcd_proto::etcdserverpb::kv_server::KvServer;
    use detcd_proto::etcdserverpb::lease_server::LeaseServer;
    use detcd_proto::etcdserverpb::maintenance_server::MaintenanceServer;
    use detcd_proto::etcdserverpb::watch_server::WatchServer;
    use detcd_proto::grpc::health::v1::health_server::HealthServer;
    use detcd_proto::v3electionpb::election_server::ElectionServer;
    use detcd_proto::v3lockpb::lock_server::LockServer;
    tonic::transport::Server::builder()
        .add_service(KvServer::new(services.kv))
        .add_service(WatchServer::new(services.watch))
        .add_service(LeaseServer::new(services.lease))
        .add_service(ClusterServer::new(services.cluster))
        .add_service(MaintenanceServer::new(services.maintenance))
        .add_service(AuthServer::new(services.auth))
        .add_service(LockServer::new(services.lock))
        .add_service(ElectionServer::new(services.election))
        .add_service(HealthServer::new(services.health))
        .serve(address)
        .await
}
