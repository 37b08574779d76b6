//! Clusters of `detcd` processes on loopback, as an operator runs them: every member serves
//! writes and linearizable reads; the leader SIGKILLed under a write load again and again, a
//! new one elected each time and the killed member rejoining (by log, or by snapshot when it
//! fell far behind); members added as learners, promoted and removed while writes flow. No
//! acknowledged write is ever lost, and every member ends with the same store.
//!
//! `DETCD_FAILOVER_ROUNDS` sets the number of leader kills (20 by default).
#![cfg(not(madsim))]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use detcd_proto::etcdserverpb::cluster_client::ClusterClient;
use detcd_proto::etcdserverpb::kv_client::KvClient;
use detcd_proto::etcdserverpb::lease_client::LeaseClient;
use detcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use detcd_proto::etcdserverpb::{
    HashKvRequest, LeaseGrantRequest, LeaseKeepAliveRequest, LeaseTimeToLiveRequest,
    MemberAddRequest, MemberListRequest, MemberPromoteRequest, MemberRemoveRequest, PutRequest,
    RangeRequest, StatusRequest, StatusResponse,
};
use tonic::transport::{Channel, Endpoint};

use common::process::Process;

/// Election timing of the test clusters (ms): fast, but slow enough for a loaded 2-core machine.
const HEARTBEAT_MS: u64 = 25;
const ELECTION_MS: u64 = 250;
/// How long a member may take to start, catch up and publish itself.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const WRITERS: usize = 8;

/// Run one test's body on a runtime of its own. The tests of this file start many processes
/// each: they run one at a time, or they starve each other of the machine's cores and elections
/// churn.
fn one_cluster_at_a_time(test: impl Future<Output = ()>) {
    static TURN: Mutex<()> = Mutex::new(());
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(test);
}

/// A loopback port that is free now, below the kernel's ephemeral range (32768 and up) so that
/// no outgoing connection takes it while its member is down between a kill and a restart.
fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Tests of different runs on one machine start at different places.
    let _ = NEXT.compare_exchange(
        0,
        12_000 + (std::process::id() % 800) as u16 * 20,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    loop {
        let port = NEXT.fetch_add(1, Ordering::SeqCst);
        assert!(
            port < 32_000,
            "no free loopback port below the ephemeral range"
        );
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// One member's identity and place; its process while it runs.
struct Node {
    name: String,
    client_port: u16,
    peer_port: u16,
    data_dir: PathBuf,
    process: Option<Process>,
}

impl Node {
    fn new(name: String, dir: &tempfile::TempDir) -> Node {
        Node {
            data_dir: dir.path().join(&name),
            name,
            client_port: free_port(),
            peer_port: free_port(),
            process: None,
        }
    }

    fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }
}

struct Cluster {
    dir: tempfile::TempDir,
    nodes: Vec<Node>,
}

impl Cluster {
    /// `size` members bootstrapped together, each ready (it published itself through Raft).
    fn start(size: usize) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let nodes = (0..size)
            .map(|i| Node::new(format!("m{i}"), &dir))
            .collect();
        let mut cluster = Cluster { dir, nodes };
        let initial = cluster.initial_cluster();
        for i in 0..size {
            cluster.launch(i, &initial, "new");
        }
        for node in &cluster.nodes {
            node.process.as_ref().unwrap().wait_ready(READY_TIMEOUT);
        }
        cluster
    }

    /// etcd's `--initial-cluster` naming every node of the test.
    fn initial_cluster(&self) -> String {
        let members: Vec<String> = self
            .nodes
            .iter()
            .map(|node| format!("{}={}", node.name, node.peer_url()))
            .collect();
        members.join(",")
    }

    /// Start node `i`'s process (on its data dir, which may hold its earlier life).
    fn launch(&mut self, i: usize, initial_cluster: &str, state: &str) {
        let node = &self.nodes[i];
        let flags: Vec<String> = [
            "--name",
            &node.name,
            "--data-dir",
            &node.data_dir.display().to_string(),
            "--listen-client-urls",
            &node.endpoint(),
            "--advertise-client-urls",
            &node.endpoint(),
            "--listen-peer-urls",
            &node.peer_url(),
            "--initial-advertise-peer-urls",
            &node.peer_url(),
            "--initial-cluster",
            initial_cluster,
            "--initial-cluster-state",
            state,
            "--heartbeat-interval",
            &HEARTBEAT_MS.to_string(),
            "--election-timeout",
            &ELECTION_MS.to_string(),
            // Snapshots often, so that a member that was down long catches up by snapshot.
            "--snapshot-count",
            "1000",
        ]
        .iter()
        .map(|flag| flag.to_string())
        .collect();
        self.nodes[i].process = Some(Process::spawn(&flags));
    }

    /// Restart node `i` on its data dir and wait until it is ready again.
    fn restart(&mut self, i: usize) {
        let initial = self.initial_cluster();
        self.launch(i, &initial, "new");
        self.nodes[i]
            .process
            .as_ref()
            .unwrap()
            .wait_ready(READY_TIMEOUT);
    }

    fn kill(&mut self, i: usize) {
        self.nodes[i].process.take().expect("running").kill();
    }

    fn running(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].process.is_some())
            .collect()
    }

    fn endpoints(&self, nodes: &[usize]) -> Vec<String> {
        nodes.iter().map(|&i| self.nodes[i].endpoint()).collect()
    }

    /// The running node every running node names as leader, once they agree.
    async fn leader(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let mut named = Vec::new();
            for i in self.running() {
                named.push(status(&self.nodes[i].endpoint()).await.map(|s| s.leader));
            }
            if let Some(Some(leader)) = named.first().copied()
                && leader != 0
                && named.iter().all(|&id| id == Some(leader))
            {
                for i in self.running() {
                    if member_id(&self.nodes[i].endpoint()).await == Some(leader) {
                        return i;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "the members agree on no running leader within {timeout:?}: {named:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn channel(endpoint: &str) -> Option<Channel> {
    Endpoint::from_shared(endpoint.to_string())
        .unwrap()
        .connect_timeout(Duration::from_millis(500))
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .ok()
}

async fn status(endpoint: &str) -> Option<StatusResponse> {
    let mut client = MaintenanceClient::new(channel(endpoint).await?);
    let status = client.status(StatusRequest {}).await.ok()?;
    Some(status.into_inner())
}

async fn member_id(endpoint: &str) -> Option<u64> {
    Some(status(endpoint).await?.header?.member_id)
}

async fn kv(endpoint: &str) -> KvClient<Channel> {
    let channel = channel(endpoint)
        .await
        .expect("the member accepts connections");
    KvClient::new(channel).max_decoding_message_size(usize::MAX)
}

async fn cluster_client(endpoint: &str) -> ClusterClient<Channel> {
    ClusterClient::new(
        channel(endpoint)
            .await
            .expect("the member accepts connections"),
    )
}

/// A Prometheus counter or histogram count of the member at `endpoint`, summed over labels.
fn metric(endpoint: &str, name: &str) -> u64 {
    let address = endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("the member accepts connections");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {address}\r\n\r\n").unwrap();
    let mut page = String::new();
    stream.read_to_string(&mut page).unwrap();
    page.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '{']))
        })
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64)
        .sum()
}

/// What the writers were told: key -> (value, revision).
type Acknowledged = Arc<Mutex<BTreeMap<String, (String, i64)>>>;

/// Writers putting unique keys through any of `endpoints`, moving on to the next when one
/// fails (a put without an answer has an unknown outcome, and its key is never reused).
struct Load {
    stop: Arc<AtomicBool>,
    acknowledged: Acknowledged,
    writers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(endpoints: Vec<String>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Acknowledged::default();
        let writers = (0..WRITERS)
            .map(|writer| {
                let endpoints = endpoints.clone();
                let stop = Arc::clone(&stop);
                let acknowledged = Arc::clone(&acknowledged);
                tokio::spawn(write(writer, endpoints, stop, acknowledged))
            })
            .collect();
        Load {
            stop,
            acknowledged,
            writers,
        }
    }

    fn count(&self) -> usize {
        self.acknowledged.lock().unwrap().len()
    }

    /// Wait until `more` puts beyond those acknowledged now are.
    async fn wait_for(&self, more: usize) {
        let target = self.count() + more;
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.count() < target {
            assert!(
                Instant::now() < deadline,
                "writes stalled at {} of {target}",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn stop(self) -> BTreeMap<String, (String, i64)> {
        self.stop.store(true, Ordering::SeqCst);
        for writer in self.writers {
            writer.await.expect("a writer ends");
        }
        Arc::try_unwrap(self.acknowledged)
            .expect("the writers are done")
            .into_inner()
            .unwrap()
    }
}

async fn write(
    writer: usize,
    endpoints: Vec<String>,
    stop: Arc<AtomicBool>,
    acknowledged: Acknowledged,
) {
    let mut at = writer;
    let mut client = None;
    let mut sequence = 0;
    while !stop.load(Ordering::SeqCst) {
        let Some(kv) = client.as_mut() else {
            client = channel(&endpoints[at % endpoints.len()])
                .await
                .map(KvClient::new);
            if client.is_none() {
                at += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            continue;
        };
        let key = format!("w{writer}/{sequence:07}");
        sequence += 1;
        let value = format!("{key}-value");
        let put = PutRequest {
            key: key.clone().into(),
            value: value.clone().into(),
            ..PutRequest::default()
        };
        match kv.put(put).await {
            Ok(answer) => {
                let revision = answer.into_inner().header.expect("a header").revision;
                acknowledged.lock().unwrap().insert(key, (value, revision));
            }
            Err(_) => {
                // No leader, leader changed, the member died: try the next one.
                client = None;
                at += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Every acknowledged put is read back, linearizably, from each of `endpoints` with its value
/// and revision, and the members' stores hash alike at one revision.
async fn verify(endpoints: &[String], acknowledged: &BTreeMap<String, (String, i64)>) {
    let mut revisions = Vec::new();
    for endpoint in endpoints {
        let all = kv(endpoint)
            .await
            .range(RangeRequest {
                key: b"w".to_vec(),
                range_end: b"x".to_vec(),
                ..RangeRequest::default()
            })
            .await
            .unwrap_or_else(|error| panic!("a linearizable range on {endpoint}: {error}"))
            .into_inner();
        revisions.push(all.header.expect("a header").revision);
        common::assert_acknowledged_found(endpoint, all.kvs, acknowledged);
    }
    let revision = *revisions.iter().min().expect("endpoints");
    let mut hashes = Vec::new();
    for endpoint in endpoints {
        let mut maintenance = MaintenanceClient::new(channel(endpoint).await.unwrap());
        let hash = maintenance
            .hash_kv(HashKvRequest { revision })
            .await
            .expect("HashKV")
            .into_inner()
            .hash;
        hashes.push(hash);
    }
    assert!(
        hashes.windows(2).all(|pair| pair[0] == pair[1]),
        "the members' stores differ at revision {revision}: {hashes:?} ({endpoints:?})"
    );
}

/// In a cluster of 3 and of 5, a write through any member is read back linearizably from every
/// member, and every member lists the whole cluster and names the same leader.
#[test]
fn every_member_serves_writes_and_linearizable_reads() {
    one_cluster_at_a_time(async {
        for size in [3, 5] {
            let cluster = Cluster::start(size);
            let endpoints = cluster.endpoints(&cluster.running());
            let mut acknowledged = BTreeMap::new();
            for (i, endpoint) in endpoints.iter().enumerate() {
                let key = format!("w/{size}/through-{i}");
                let put = PutRequest {
                    key: key.clone().into(),
                    value: endpoint.clone().into(),
                    ..PutRequest::default()
                };
                let answer = kv(endpoint)
                    .await
                    .put(put)
                    .await
                    .expect("a put")
                    .into_inner();
                let revision = answer.header.unwrap().revision;
                acknowledged.insert(key, (endpoint.clone(), revision));
            }
            verify(&endpoints, &acknowledged).await;
            let leader = cluster.leader(Duration::from_secs(10)).await;
            for endpoint in &endpoints {
                let list = cluster_client(endpoint)
                    .await
                    .member_list(MemberListRequest { linearizable: true })
                    .await
                    .expect("a member list")
                    .into_inner();
                let mut names: Vec<String> = list.members.into_iter().map(|m| m.name).collect();
                names.sort();
                let expected: Vec<String> = (0..size).map(|i| format!("m{i}")).collect();
                assert_eq!(names, expected, "{endpoint} lists another cluster");
            }
            eprintln!("{size} members: leader m{leader}, every member serves");
        }
    });
}

/// Only the leader keeps lease deadlines, yet a client may keep a lease alive through any
/// member: a follower forwards keep-alives and time-to-live requests to the leader (as etcd
/// does), so a lease renewed only through followers outlives its TTL, and expires once the
/// renewals stop.
#[test]
fn leases_live_through_followers() {
    one_cluster_at_a_time(async {
        let cluster = Cluster::start(3);
        let leader = cluster.leader(Duration::from_secs(10)).await;
        let followers: Vec<usize> = cluster
            .running()
            .into_iter()
            .filter(|&i| i != leader)
            .collect();
        let endpoints = cluster.endpoints(&followers);
        let lease_client = |endpoint: String| async move {
            LeaseClient::new(
                channel(&endpoint)
                    .await
                    .expect("the member accepts connections"),
            )
        };
        let ttl = 3;
        let grant = LeaseGrantRequest { ttl, id: 0 };
        let lease = lease_client(endpoints[0].clone())
            .await
            .lease_grant(grant)
            .await;
        let id = lease.expect("a grant through a follower").into_inner().id;
        let put = PutRequest {
            key: b"leased".to_vec(),
            value: b"v".to_vec(),
            lease: id,
            ..PutRequest::default()
        };
        kv(&endpoints[0])
            .await
            .put(put)
            .await
            .expect("a put with the lease");
        let renew_until = Instant::now() + Duration::from_secs(2 * ttl as u64);
        let mut round = 0;
        while Instant::now() < renew_until {
            let endpoint = endpoints[round % endpoints.len()].clone();
            round += 1;
            let (requests, queued) = tokio::sync::mpsc::channel(1);
            requests.send(LeaseKeepAliveRequest { id }).await.unwrap();
            let stream = tokio_stream::wrappers::ReceiverStream::new(queued);
            let mut answers = lease_client(endpoint.clone())
                .await
                .lease_keep_alive(stream)
                .await
                .expect("a keep-alive stream through a follower")
                .into_inner();
            let answer = answers
                .message()
                .await
                .expect("a keep-alive answer")
                .expect("one answer");
            assert_eq!(
                (answer.id, answer.ttl),
                (id, ttl),
                "keep-alive through {endpoint}"
            );
            let request = LeaseTimeToLiveRequest { id, keys: true };
            let alive = lease_client(endpoint.clone())
                .await
                .lease_time_to_live(request)
                .await;
            let alive = alive.expect("time-to-live through a follower").into_inner();
            assert_eq!(alive.granted_ttl, ttl);
            assert!(
                alive.ttl > 0,
                "the lease still lives after a renewal through {endpoint}"
            );
            assert_eq!(alive.keys, vec![b"leased".to_vec()]);
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
        let get = || RangeRequest {
            key: b"leased".to_vec(),
            ..RangeRequest::default()
        };
        let kept = kv(&endpoints[1])
            .await
            .range(get())
            .await
            .expect("a read")
            .into_inner();
        assert_eq!(kept.count, 1, "the renewed lease kept its key past its TTL");
        let deadline = Instant::now() + Duration::from_secs(3 * ttl as u64);
        loop {
            let read = kv(&endpoints[1])
                .await
                .range(get())
                .await
                .expect("a read")
                .into_inner();
            if read.count == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the lease did not expire once renewals stopped"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}

/// SIGKILL the leader under a write load, again and again: another member leads within a few
/// election timeouts, the killed member restarts on its data dir and rejoins, and no
/// acknowledged put is lost. Last, a follower that missed more than the leader keeps in its log
/// catches up by snapshot.
#[test]
fn failover_loses_no_acknowledged_write() {
    one_cluster_at_a_time(async {
        let rounds: usize = std::env::var("DETCD_FAILOVER_ROUNDS")
            .map_or(20, |rounds| rounds.parse().expect("a number"));
        let mut cluster = Cluster::start(3);
        let load = Load::start(cluster.endpoints(&[0, 1, 2]));
        let mut slowest = Duration::ZERO;
        for round in 0..rounds {
            load.wait_for(200).await;
            let leader = cluster.leader(Duration::from_secs(30)).await;
            let old = member_id(&cluster.nodes[leader].endpoint()).await.unwrap();
            cluster.kill(leader);
            let killed = Instant::now();
            let elected = loop {
                let mut new = None;
                for i in cluster.running() {
                    let named = status(&cluster.nodes[i].endpoint()).await.map(|s| s.leader);
                    if let Some(id) = named.filter(|&id| id != 0 && id != old) {
                        new = Some(id);
                    }
                }
                if new.is_some() {
                    break killed.elapsed();
                }
                assert!(
                    killed.elapsed() < Duration::from_secs(30),
                    "round {round}: no new leader 30 s after the kill"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            };
            slowest = slowest.max(elected);
            eprintln!("round {round}: killed m{leader}, a new leader after {elected:?}");
            load.wait_for(100).await;
            cluster.restart(leader);
        }
        eprintln!(
            "failover: {rounds} leader kills, slowest election {slowest:?} \
             (election timeout {ELECTION_MS} ms), {} puts acknowledged",
            load.count()
        );
        // A new leader is elected within a few election timeouts (pre-vote, a randomized timeout
        // of 1-2 election timeouts, then one round of votes), with room for a loaded machine.
        assert!(
            slowest < Duration::from_millis(ELECTION_MS * 12),
            "an election took {slowest:?}"
        );

        far_behind_follower_catches_up_by_snapshot(&mut cluster, &load).await;
        let acknowledged = load.stop().await;
        verify(&cluster.endpoints(&[0, 1, 2]), &acknowledged).await;
        eprintln!(
            "failover: {} acknowledged puts, none lost, every member alike",
            acknowledged.len()
        );
    });
}

/// A follower down while the others write more than the leader keeps in its log (5,000 entries
/// past its snapshot) is sent a snapshot when it comes back.
async fn far_behind_follower_catches_up_by_snapshot(cluster: &mut Cluster, load: &Load) {
    let leader = cluster.leader(Duration::from_secs(30)).await;
    let follower = (leader + 1) % 3;
    cluster.kill(follower);
    load.wait_for(8_000).await;
    let others: Vec<String> = cluster.endpoints(&cluster.running());
    let sends = "etcd_network_snapshot_send_total_duration_seconds_count";
    let sent_before: u64 = others.iter().map(|e| metric(e, sends)).sum();
    cluster.restart(follower);
    let sent_after: u64 = others.iter().map(|e| metric(e, sends)).sum();
    assert!(
        sent_after > sent_before,
        "m{follower} rejoined without a snapshot ({sent_before} sent before, {sent_after} after)"
    );
}

/// With writes flowing: a learner is added and started with `--initial-cluster-state
/// existing`, promoted once in sync, and an original member is removed; the removed process
/// exits 0 by itself, the others go on, and nothing acknowledged is lost.
#[test]
fn membership_changes_under_load() {
    one_cluster_at_a_time(async {
        let mut cluster = Cluster::start(3);
        let load = Load::start(cluster.endpoints(&[1, 2]));
        load.wait_for(500).await;

        let learner = Node::new("m3".to_string(), &cluster.dir);
        let add = MemberAddRequest {
            peer_ur_ls: vec![learner.peer_url()],
            is_learner: true,
        };
        // Strict reconfiguration refuses changes until the member has been connected to every
        // peer for 5 s (etcd's "unhealthy cluster"), as an operator finds right after a start.
        let deadline = Instant::now() + Duration::from_secs(30);
        let added = loop {
            let mut client = cluster_client(&cluster.nodes[0].endpoint()).await;
            match client.member_add(add.clone()).await {
                Ok(added) => break added.into_inner(),
                Err(status) if status.message() == "etcdserver: unhealthy cluster" => {
                    assert!(Instant::now() < deadline, "still unhealthy after 30 s");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(status) => panic!("the learner is not added: {status:?}"),
            }
        };
        let learner_id = added.member.expect("the added member").id;
        cluster.nodes.push(learner);
        let initial = cluster.initial_cluster();
        cluster.launch(3, &initial, "existing");
        cluster.nodes[3]
            .process
            .as_ref()
            .unwrap()
            .wait_ready(READY_TIMEOUT);
        load.wait_for(500).await;

        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let promoted = cluster_client(&cluster.nodes[1].endpoint())
                .await
                .member_promote(MemberPromoteRequest { id: learner_id })
                .await;
            match promoted {
                Ok(_) => break,
                Err(status) => {
                    assert!(
                        Instant::now() < deadline,
                        "the learner was never promoted: {status:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        load.wait_for(500).await;

        let removed_id = member_id(&cluster.nodes[0].endpoint()).await.unwrap();
        cluster_client(&cluster.nodes[2].endpoint())
            .await
            .member_remove(MemberRemoveRequest { id: removed_id })
            .await
            .expect("an original member is removed");
        let mut removed = cluster.nodes[0].process.take().unwrap();
        let exit = removed.wait_exit(Duration::from_secs(30));
        assert!(
            exit.is_some_and(|status| status.success()),
            "the removed member did not exit 0 by itself: {exit:?}\n{}",
            removed.log()
        );
        load.wait_for(500).await;

        let remaining = cluster.endpoints(&[1, 2, 3]);
        let list = cluster_client(&remaining[0])
            .await
            .member_list(MemberListRequest { linearizable: true })
            .await
            .expect("a member list")
            .into_inner();
        let mut members: Vec<(String, bool)> = list
            .members
            .into_iter()
            .map(|member| (member.name, member.is_learner))
            .collect();
        members.sort();
        let voters = |names: &[&str]| -> Vec<(String, bool)> {
            names.iter().map(|name| (name.to_string(), false)).collect()
        };
        assert_eq!(members, voters(&["m1", "m2", "m3"]));
        let acknowledged = load.stop().await;
        verify(&remaining, &acknowledged).await;
        eprintln!(
            "membership: learner added, promoted, m0 removed; {} puts acknowledged, none lost",
            acknowledged.len()
        );
    });
}
