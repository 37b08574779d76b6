//! Clusters of etcd or detcd on loopback, each started fresh for one pass of the comparison
//! and gone (processes killed, data dirs removed) when dropped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use detcd_proto::etcdserverpb::RangeRequest;

use crate::clients;

/// How long a fresh cluster may take to answer a linearizable read on every member.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The two servers compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    Etcd,
    Detcd,
}

impl Server {
    pub fn name(self) -> &'static str {
        match self {
            Server::Etcd => "etcd",
            Server::Detcd => "detcd",
        }
    }
}

#[derive(Debug)]
pub struct Cluster {
    members: Vec<Child>,
    pub endpoints: Vec<String>,
    dir: PathBuf,
}

/// Client and peer ports of member `i` of a cluster whose ports start at `first_port`.
fn ports(first_port: u16, i: usize) -> (u16, u16) {
    let client = first_port + 2 * i as u16;
    (client, client + 1)
}

impl Cluster {
    /// Start `size` members of `binary` with etcd's flags for a new loopback cluster; data dirs
    /// and logs go under `dir`, which must not exist yet.
    pub fn start(
        binary: &Path,
        size: usize,
        first_port: u16,
        dir: PathBuf,
    ) -> Result<Cluster, String> {
        std::fs::create_dir_all(&dir).map_err(|error| format!("{}: {error}", dir.display()))?;
        let initial_cluster = (0..size)
            .map(|i| format!("m{i}=http://127.0.0.1:{}", ports(first_port, i).1))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Cluster {
            members: Vec::with_capacity(size),
            endpoints: Vec::with_capacity(size),
            dir,
        };
        for i in 0..size {
            let (client, peer) = ports(first_port, i);
            let client_url = format!("http://127.0.0.1:{client}");
            let peer_url = format!("http://127.0.0.1:{peer}");
            let log = File::create(cluster.dir.join(format!("m{i}.log")))
                .map_err(|error| format!("a log file: {error}"))?;
            let data_dir = cluster.dir.join(format!("m{i}.etcd"));
            let child = Command::new(binary)
                .arg(format!("--name=m{i}"))
                .arg(format!("--data-dir={}", data_dir.display()))
                .arg(format!("--listen-client-urls={client_url}"))
                .arg(format!("--advertise-client-urls={client_url}"))
                .arg(format!("--listen-peer-urls={peer_url}"))
                .arg(format!("--initial-advertise-peer-urls={peer_url}"))
                .arg(format!("--initial-cluster={initial_cluster}"))
                .arg("--initial-cluster-state=new")
                .arg("--initial-cluster-token=detcd-bench-compare")
                .stdin(Stdio::null())
                .stdout(log.try_clone().map_err(|error| error.to_string())?)
                .stderr(log)
                .spawn()
                .map_err(|error| format!("cannot start {}: {error}", binary.display()))?;
            cluster.members.push(child);
            cluster.endpoints.push(format!("127.0.0.1:{client}"));
        }
        Ok(cluster)
    }

    pub fn pids(&self) -> Vec<i32> {
        self.members.iter().map(|child| child.id() as i32).collect()
    }

    /// Wait until every member answers a linearizable read (so a leader is elected and each
    /// member serves), or fail with the log of a member that exited.
    pub async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            loop {
                if let Some(status) = self.members[i].try_wait().map_err(|e| e.to_string())? {
                    let log = std::fs::read_to_string(self.dir.join(format!("m{i}.log")));
                    return Err(format!(
                        "member m{i} exited ({status}):\n{}",
                        log.unwrap_or_default()
                    ));
                }
                if read_answers(endpoint).await {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "member m{i} at {endpoint} did not answer in {READY_TIMEOUT:?}"
                    ));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// Bytes the members' data dirs hold on disk (allocated blocks, as `du` counts them).
    pub fn disk_bytes(&self) -> u64 {
        (0..self.members.len())
            .map(|i| allocated_bytes(&self.dir.join(format!("m{i}.etcd"))))
            .sum()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in &mut self.members {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn read_answers(endpoint: &str) -> bool {
    let Ok(mut connections) = clients::connect(&[endpoint.to_string()], 1).await else {
        return false;
    };
    let request = RangeRequest {
        key: b"detcd-bench-ready".to_vec(),
        ..RangeRequest::default()
    };
    let answer = tokio::time::timeout(Duration::from_secs(2), connections[0].kv.range(request));
    matches!(answer.await, Ok(Ok(_)))
}

fn allocated_bytes(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let own = metadata.blocks() * 512;
    if !metadata.is_dir() {
        return own;
    }
    let children = std::fs::read_dir(path).into_iter().flatten().flatten();
    own + children
        .map(|entry| allocated_bytes(&entry.path()))
        .sum::<u64>()
}
