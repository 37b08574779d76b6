//! Starting a member: its identity, its data dir, its node, and the services on its client URLs,
//! with the start-up lines etcd prints (etcd's e2e harness waits for two of them).

use std::sync::Arc;
use std::time::Duration;

use detcd_core::kv::{self, KvConfig, KvStore};
use detcd_core::node::bootstrap_with_state;
use detcd_core::raft::{PersistBatch, PersistedState, RaftConfig};
use detcd_core::{Boot, Instant, Node, NodeConfig, NodeId, PersistToken};
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::Semaphore;
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
use crate::initial_cluster::InitialCluster;
use crate::member::{self, Member, MemberGone, MemberInfo};
use crate::metrics::PeerMetrics;
use crate::peer::{self, ClientTls, LeaderLink, PeerHealth, PeerService, PeerTransport, Peers};
use crate::storage::{self, Metadata, RealDisk, Storage, StorageOptions};
use crate::storage_writer;

/// A running member: its handle, and what the services need.
#[derive(Debug)]
pub struct Started {
    pub member: Member,
    pub compactor: storage_writer::Compactor,
    pub peer_health: PeerHealth,
    pub peer_tls: ClientTls,
    pub peer_metrics: PeerMetrics,
}

impl Started {
    /// Stop the member; returns once the writer has finished what it was given.
    pub async fn stop(&self) {
        self.member.stop().await;
    }
}

/// Who this member is and where it starts from.
struct Identity {
    metadata: Metadata,
    /// How to reach the cluster before its member list is known (a joining member).
    initial_peers: Peers,
}

/// Open the data dir, boot the node and start the member task: a member of a new cluster
/// (`--initial-cluster-state new`), one joining a running cluster (`existing`, after `member
/// add`), or one restarting on its data dir. `fsync` records the writer's group commits.
pub async fn start_member(
    config: &Config,
    fsync: Histogram,
    peer_metrics: PeerMetrics,
) -> Result<Started, String> {
    let initial = InitialCluster::new(&config.initial_cluster, &config.initial_cluster_token);
    let peer_tls = peer::client_tls(config)?;
    let fresh = !storage::has_wal(&config.data_dir);
    let joining = config.initial_cluster_state == ClusterState::Existing;
    let mut identity = match (fresh, joining) {
        (true, true) => join(config, &initial, &peer_tls).await?,
        // A member that joined a running cluster restarts as the data dir says (its id came
        // from `member add`, not from the flags).
        (false, true) => Identity {
            metadata: Metadata::default(),
            initial_peers: Peers::new(),
        },
        // A member of a new cluster, first start or restart: the flags say who it is (and on
        // a restart they must agree with the data dir, checked below).
        (_, false) => bootstrap_identity(config, &initial)?,
    };
    let options = StorageOptions {
        snap_files_kept: config.max_snapshots,
        ..StorageOptions::default()
    };
    let (mut storage, recovered) =
        Storage::open(RealDisk, &config.data_dir, identity.metadata, options).map_err(|error| {
            format!(
                "cannot open the data dir {}: {error}",
                config.data_dir.display()
            )
        })?;
    for warning in &recovered.warnings {
        warn!(target: "etcdserver", "{warning}");
    }
    let metadata = recovered.metadata.unwrap_or(identity.metadata);
    let persisted = if recovered.persisted != PersistedState::default() {
        if !joining && !fresh {
            check_same_member(config, &identity.metadata, &metadata)?;
        }
        info!(target: "etcdserver", "restarting member {:x} in cluster {:x} at commit index {}",
            metadata.member_id, metadata.cluster_id, recovered.persisted.hard_state.commit);
        recovered.persisted
    } else if joining {
        if identity.initial_peers.is_empty() {
            // A join that stopped before the leader's snapshot arrived: ask again.
            identity.initial_peers = join(config, &initial, &peer_tls).await?.initial_peers;
        }
        info!(target: "etcdserver", "starting member {:x} in cluster {:x}", metadata.member_id, metadata.cluster_id);
        PersistedState::default()
    } else {
        let state = kv::bootstrap_snapshot(initial.attributes());
        let bootstrap = bootstrap_with_state(initial.ids(), state);
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
    let peer_health = PeerHealth::default();
    let transport = PeerTransport::new(
        metadata.member_id,
        metadata.cluster_id,
        peer_tls.clone(),
        peer_metrics.clone(),
        peer_health.clone(),
    );
    let member = member::spawn(node, info, writer, transport, identity.initial_peers);
    Ok(Started {
        member,
        compactor,
        peer_health,
        peer_tls,
        peer_metrics,
    })
}

/// A member of a new cluster: its id and the cluster's, from `--initial-cluster` and the token.
fn bootstrap_identity(config: &Config, initial: &InitialCluster) -> Result<Identity, String> {
    let own = initial.member_named(&config.name)?;
    let mut advertised: Vec<String> = config
        .initial_advertise_peer_urls
        .iter()
        .map(Url::to_string)
        .collect();
    advertised.sort();
    if advertised != own.peer_urls {
        return Err(format!(
            "--initial-cluster has {}={} but missing from --initial-advertise-peer-urls={} \
             (\"{}\"(resolved from {:?}) != \"{}\"(resolved from {:?}))",
            own.name,
            own.peer_urls.join(","),
            advertised.join(","),
            advertised.join(","),
            advertised,
            own.peer_urls.join(","),
            own.peer_urls
        ));
    }
    Ok(Identity {
        metadata: Metadata {
            member_id: own.id,
            cluster_id: initial.cluster_id(),
        },
        initial_peers: Peers::new(),
    })
}

/// A member joining a running cluster after `etcdctl member add`: it asks the other members
/// `--initial-cluster` names for the cluster's members and finds itself among them.
async fn join(
    config: &Config,
    initial: &InitialCluster,
    tls: &ClientTls,
) -> Result<Identity, String> {
    let remotes = initial.peer_urls_except(&config.name);
    let (cluster_id, running) = peer::learn_cluster(&remotes, tls).await?;
    let member_id = initial.find_in(&running, &config.name).map_err(|error| {
        let listed: Vec<String> = running
            .iter()
            .map(|member| format!("{}={}", member.name, member.peer_ur_ls.join(",")))
            .collect();
        format!("error validating peerURLs {}: {error}", listed.join(","))
    })?;
    let initial_peers = running
        .iter()
        .map(|member| (member.id, member.peer_ur_ls.clone()))
        .collect();
    Ok(Identity {
        metadata: Metadata {
            member_id,
            cluster_id,
        },
        initial_peers,
    })
}

/// A data dir holds one member of one cluster: `--initial-cluster` (with the token) must not
/// make this member another one, or the member would answer for a cluster it is not in.
fn check_same_member(config: &Config, flags: &Metadata, stored: &Metadata) -> Result<(), String> {
    if flags == stored {
        return Ok(());
    }
    Err(format!(
        "the data dir {} belongs to member {:x} of cluster {:x}, but --initial-cluster and \
         --initial-cluster-token make this member {:x} of cluster {:x}: start it with the \
         flags it was created with, or with --initial-cluster-state existing if it joined a \
         running cluster",
        config.data_dir.display(),
        stored.member_id,
        stored.cluster_id,
        flags.member_id,
        flags.cluster_id
    ))
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

/// Publish this member's name and client URLs through Raft (etcd's publish), then print etcd's
/// lines that say the member serves (etcd's e2e harness waits for the first two): by then a
/// leader leads and this member has applied everything committed before its publish.
pub async fn announce_ready(member: Member) {
    if publish(&member).await.is_err() {
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

/// Propose this member's attributes until they are applied (retrying while there is no leader,
/// or while a joining member is not yet in the member list it has applied).
async fn publish(member: &Member) -> Result<(), MemberGone> {
    let info = member.info();
    let request = || {
        kv::Request::Member(kv::MemberRequest::Publish {
            id: info.id,
            name: info.name.clone(),
            client_urls: info.client_urls.clone(),
        })
    };
    for attempt in 1.. {
        member.wait_for(|state| state.leader.is_some()).await?;
        match member.request(request()).await? {
            kv::Response::MemberList(_) => return Ok(()),
            // Said every 5 s of trying, as etcd warns at each of its request timeouts.
            other if attempt % 50 == 0 => {
                warn!(target: "etcdserver", "failed to publish local member to cluster through raft: {other:?}");
            }
            other => {
                tracing::debug!(target: "etcdserver", "publish not applied yet: {other:?}");
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unreachable!("the attempts never run out")
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
    /// detcd's own peer service, on the peer URLs.
    pub peer: PeerService,
}

impl Services {
    pub fn new(config: &Config, started: &Started) -> Services {
        let member = started.member.clone();
        let leader = LeaderLink::new(member.clone(), started.peer_tls.clone());
        let cluster = ClusterService {
            member: member.clone(),
            strict_reconfig_check: config.strict_reconfig_check,
            peer_health: started.peer_health.clone(),
            leader: leader.clone(),
        };
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
                leader,
            },
            cluster: cluster.clone(),
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
            election: ElectionService {
                member: member.clone(),
            },
            health: HealthService,
            peer: PeerService {
                member,
                metrics: started.peer_metrics.clone(),
                cluster,
                receiving_snapshot: Arc::new(Semaphore::new(1)),
            },
        }
    }
}

/// The simulated tier's listener: the same services on madsim's network (no TLS, no HTTP
/// routes: madsim carries gRPC messages as values), peers' included, on one address.
#[cfg(madsim)]
pub async fn serve_simulated(
    services: Services,
    address: std::net::SocketAddr,
) -> Result<(), tonic::transport::Error> {
    use detcd_proto::detcdpeerpb::peer_server::PeerServer;
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
        .add_service(PeerServer::new(services.peer))
        .serve(address)
        .await
}
