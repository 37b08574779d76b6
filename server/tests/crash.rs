//! Durability under SIGKILL: a `detcd` process under a write load is killed at random moments
//! and restarted on the same data dir, again and again. Every put it acknowledged must be read
//! back with its value and revision, and revisions never go backwards. At the end, a torn tail
//! (the last segment of the WAL cut short, as a crash in the middle of a write leaves it) is
//! recovered on restart. Beside it, SIGTERM stops a member gracefully: exit 0, nothing lost.
//!
//! `DETCD_CRASH_ROUNDS` sets the number of kills (50 by default); `DETCD_CRASH_SEED` the seed of
//! the kill times (printed, so a failing run can be repeated).
#![cfg(not(madsim))]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use detcd_proto::etcdserverpb::kv_client::KvClient;
use detcd_proto::etcdserverpb::{PutRequest, RangeRequest};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use tonic::transport::Channel;

use common::process::Process;

const WRITERS: usize = 8;

/// A `detcd` child process and where it serves.
struct Member {
    process: Process,
    endpoint: String,
}

impl Member {
    /// Start `detcd` on `data_dir` with fast elections, and wait until it says it serves.
    fn start(data_dir: &Path) -> Member {
        let process = Process::spawn(&common::flags(
            data_dir,
            &["--heartbeat-interval", "10", "--election-timeout", "60"],
        ));
        let address = process.wait_ready(Duration::from_secs(20));
        Member {
            process,
            endpoint: format!("http://{address}"),
        }
    }

    fn kill(self) {
        self.process.kill();
    }

    async fn client(&self) -> KvClient<Channel> {
        let channel = Channel::from_shared(self.endpoint.clone())
            .unwrap()
            .connect()
            .await
            .expect("connects");
        // A whole store's range is large after many rounds: read answers of any size, as
        // etcd's clients do.
        KvClient::new(channel).max_decoding_message_size(usize::MAX)
    }
}

/// What the writers were told: key -> (value, revision).
type Acknowledged = Arc<Mutex<BTreeMap<String, (String, i64)>>>;

/// Write unique keys from several clients until stopped; record every acknowledgement.
async fn write_load(
    member: &Member,
    round: usize,
    acknowledged: Acknowledged,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let mut client = member.client().await;
        let acknowledged = Arc::clone(&acknowledged);
        writers.push(tokio::spawn(async move {
            for sequence in 0.. {
                let key = format!("r{round:03}-w{writer}-{sequence:05}");
                let value = format!("{key}-value");
                let put = PutRequest {
                    key: key.clone().into(),
                    value: value.clone().into(),
                    ..PutRequest::default()
                };
                // A put without an answer (the process died) has an unknown outcome.
                let Ok(answer) = client.put(put).await else {
                    return;
                };
                let revision = answer.into_inner().header.expect("a header").revision;
                acknowledged.lock().unwrap().insert(key, (value, revision));
            }
        }));
    }
    writers
}

/// Every acknowledged put is there with its value and revision, and the store's revision is at
/// least the highest acknowledged one.
async fn verify(member: &Member, acknowledged: &Acknowledged) -> i64 {
    let expected = acknowledged.lock().unwrap().clone();
    let mut client = member.client().await;
    let all = client
        .range(RangeRequest {
            key: b"r".to_vec(),
            range_end: b"s".to_vec(),
            ..RangeRequest::default()
        })
        .await
        .expect("a linearizable range")
        .into_inner();
    let revision = all.header.expect("a header").revision;
    common::assert_acknowledged_found("the member", all.kvs, &expected);
    let highest = expected
        .values()
        .map(|&(_, revision)| revision)
        .max()
        .unwrap_or(1);
    assert!(
        revision >= highest,
        "revision {revision} went back below {highest}"
    );
    revision
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_puts_survive_sigkill() {
    let rounds: usize =
        std::env::var("DETCD_CRASH_ROUNDS").map_or(50, |rounds| rounds.parse().expect("a number"));
    let seed: u64 =
        std::env::var("DETCD_CRASH_SEED").map_or(1, |seed| seed.parse().expect("a number"));
    eprintln!("crash test: {rounds} rounds, seed {seed} (DETCD_CRASH_ROUNDS, DETCD_CRASH_SEED)");
    let mut random = ChaCha8Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let acknowledged: Acknowledged = Arc::default();
    let mut revision_before = 0;
    for round in 0..rounds {
        let member = Member::start(&data_dir);
        let revision = verify(&member, &acknowledged).await;
        assert!(
            revision >= revision_before,
            "round {round}: revision {revision} < {revision_before}"
        );
        revision_before = revision;
        let writers = write_load(&member, round, Arc::clone(&acknowledged)).await;
        let load = Duration::from_millis(random.next_u64() % 400);
        tokio::time::sleep(load).await;
        member.kill();
        for writer in writers {
            writer.await.expect("a writer ends when its server dies");
        }
    }
    let total = acknowledged.lock().unwrap().len();
    eprintln!("crash test: {total} acknowledged puts over {rounds} kills, none lost");
    assert!(
        total > rounds * WRITERS,
        "the load wrote too little to prove anything: {total}"
    );
    torn_tail_is_recovered(&data_dir, &acknowledged).await;
}

/// A last put is acknowledged, then the process dies and the end of its record is cut off the
/// last WAL segment, as a crash during the write would leave it (that put is forgotten: its
/// record is what the tear destroys). The member starts, saying it dropped a torn tail, with
/// everything acknowledged before.
async fn torn_tail_is_recovered(data_dir: &Path, acknowledged: &Acknowledged) {
    let member = Member::start(data_dir);
    let mut client = member.client().await;
    let last = PutRequest {
        key: b"torn".to_vec(),
        value: vec![b't'; 64 * 1024],
        ..PutRequest::default()
    };
    client.put(last).await.expect("acknowledged");
    member.kill();
    let segment = last_segment(&data_dir.join("member").join("wal"));
    let length = std::fs::metadata(&segment).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    file.set_len(length - 1000).unwrap();
    let member = Member::start(data_dir);
    verify(&member, acknowledged).await;
    let log = member.process.log();
    assert!(
        log.contains("torn"),
        "no warning about the torn tail:\n{log}"
    );
    member.kill();
}

fn last_segment(wal: &Path) -> PathBuf {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(wal)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "wal"))
        .collect();
    segments.sort();
    segments.pop().expect("a WAL segment")
}

/// SIGTERM stops a member gracefully: it exits 0 after finishing its writes in flight, and a
/// restart finds every write it acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let acknowledged: Acknowledged = Arc::default();
    let member = Member::start(&data_dir);
    let writers = write_load(&member, 0, Arc::clone(&acknowledged)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = member.process.terminate();
    assert!(status.success(), "detcd exited with {status}");
    for writer in writers {
        writer.await.expect("a writer ends when its server stops");
    }
    assert!(!acknowledged.lock().unwrap().is_empty());
    let member = Member::start(&data_dir);
    verify(&member, &acknowledged).await;
    member.kill();
}
