//! A detcd member started in the test's process on loopback ports chosen by the OS, with a data
//! dir of its own, and clients generated from the same protos etcd's clients use.
#![allow(dead_code)] // each test binary uses part of this

pub mod process;

use std::path::{Path, PathBuf};
use std::time::Duration;

use detcd::config::{self, Command};
use detcd::run::{self, Running};
use detcd_proto::etcdserverpb::kv_client::KvClient;
use detcd_proto::etcdserverpb::lease_client::LeaseClient;
use detcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use detcd_proto::etcdserverpb::watch_client::WatchClient;
use detcd_proto::etcdserverpb::{CompactionRequest, PutRequest, RangeRequest};
use detcd_proto::mvccpb::KeyValue;
use tonic::transport::Channel;

/// A running member.
pub struct Server {
    running: Option<Running>,
    pub data_dir: PathBuf,
    pub endpoint: String,
    _dir: Option<tempfile::TempDir>,
}

/// The flags of a one-member cluster on loopback, plus `extra`.
pub fn flags(data_dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut flags: Vec<String> = [
        "--name",
        "test",
        "--listen-client-urls",
        "http://127.0.0.1:0",
        "--advertise-client-urls",
        "http://127.0.0.1:2379",
        "--listen-peer-urls",
        "http://127.0.0.1:0",
        "--initial-advertise-peer-urls",
        "http://127.0.0.1:2380",
        "--initial-cluster",
        "test=http://127.0.0.1:2380",
        "--data-dir",
    ]
    .iter()
    .map(|flag| flag.to_string())
    .collect();
    flags.push(data_dir.display().to_string());
    flags.extend(extra.iter().map(|flag| flag.to_string()));
    flags
}

impl Server {
    /// A member with etcd's defaults, on a fresh data dir.
    pub async fn start() -> Server {
        Server::start_with(&[]).await
    }

    /// A member with `extra` flags, on a fresh data dir.
    pub async fn start_with(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("a temporary dir");
        let data_dir = dir.path().join("data");
        let mut server = Server::start_on(&data_dir, extra).await;
        server._dir = Some(dir);
        server
    }

    /// A member on `data_dir`, which may hold an earlier member's state.
    pub async fn start_on(data_dir: &Path, extra: &[&str]) -> Server {
        let args = flags(data_dir, extra);
        let Ok(Command::Serve(config)) = config::from_args(&args, Vec::new()) else {
            panic!("the test's flags are valid: {args:?}");
        };
        let running = run::start(&config).await.expect("the member starts");
        let endpoint = format!("http://{}", running.client_addresses()[0]);
        let member = running.member().clone();
        tokio::time::timeout(Duration::from_secs(10), detcd::server::caught_up(&member))
            .await
            .expect("caught up within 10 s")
            .expect("the member runs");
        Server {
            running: Some(running),
            data_dir: data_dir.to_path_buf(),
            endpoint,
            _dir: None,
        }
    }

    /// Stop gracefully; the data dir stays.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        self.running.take().expect("running").stop().await;
        self._dir.take()
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.endpoint.clone())
            .expect("a valid endpoint")
            .connect()
            .await
            .expect("the member accepts connections")
    }

    pub async fn kv(&self) -> KvClient<Channel> {
        KvClient::new(self.channel().await)
    }

    pub async fn watch(&self) -> WatchClient<Channel> {
        WatchClient::new(self.channel().await)
    }

    pub async fn lease(&self) -> LeaseClient<Channel> {
        LeaseClient::new(self.channel().await)
    }

    pub async fn maintenance(&self) -> MaintenanceClient<Channel> {
        MaintenanceClient::new(self.channel().await)
    }
}

/// Compact the store at its current revision, physically; returns that revision.
pub async fn compact_now(kv: &mut KvClient<Channel>) -> i64 {
    let current = kv.range(get("any")).await.unwrap().into_inner();
    let revision = current.header.unwrap().revision;
    let compact = CompactionRequest {
        revision,
        physical: true,
    };
    kv.compact(compact).await.unwrap();
    revision
}

pub fn put(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: value.into(),
        ..PutRequest::default()
    }
}

pub fn get(key: &str) -> RangeRequest {
    RangeRequest {
        key: key.into(),
        ..RangeRequest::default()
    }
}

/// `[prefix, prefix+1)`.
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    *end.last_mut().expect("a non-empty prefix") += 1;
    end
}

/// Every put a client was told succeeded (key -> (value, revision)) is among `kvs` with that
/// value and revision; `whose` names the member in the failure.
pub fn assert_acknowledged_found(
    whose: &str,
    kvs: Vec<KeyValue>,
    acknowledged: &std::collections::BTreeMap<String, (String, i64)>,
) {
    let found: std::collections::BTreeMap<Vec<u8>, (Vec<u8>, i64)> = kvs
        .into_iter()
        .map(|kv| (kv.key, (kv.value, kv.mod_revision)))
        .collect();
    for (key, (value, revision)) in acknowledged {
        let Some((found_value, found_revision)) = found.get(key.as_bytes()) else {
            panic!("{whose} lost acknowledged put {key} (revision {revision})");
        };
        assert_eq!(
            found_value,
            value.as_bytes(),
            "{whose}: {key} has another value"
        );
        assert_eq!(
            found_revision, revision,
            "{whose}: {key} has another revision"
        );
    }
}
