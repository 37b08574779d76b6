//! `detcd snapshot restore FILE [flags]` and `detcd snapshot status FILE`: disaster recovery
//! from a file `etcdctl snapshot save` wrote from detcd (etcd 3.5 moved these to etcdutl).

use std::path::PathBuf;

use detcd_core::PersistToken;
use detcd_core::kv::{KvConfig, KvStore, rebase_snapshot};
use detcd_core::node::bootstrap_with_state;
use detcd_core::raft::PersistBatch;
use detcd_core::state_machine::StateMachine;

use crate::config;
use crate::initial_cluster::InitialCluster;
use crate::snapshot_file::{self, SnapshotContents};
use crate::storage::{Metadata, RealDisk, Storage, StorageOptions};

const USAGE: &str = "usage: detcd snapshot restore FILE [--name NAME] [--data-dir DIR] \
[--initial-cluster NAME=URL,...] [--initial-cluster-token TOKEN] [--initial-advertise-peer-urls URLS]\n       \
detcd snapshot status FILE";

/// Run a snapshot command; returns the exit code.
pub fn main(args: &[String]) -> i32 {
    let result = match args.first().map(String::as_str) {
        Some("restore") => restore(&args[1..]),
        Some("status") => status(&args[1..]),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("Error: {message}");
            1
        }
    }
}

fn read(path: &str) -> Result<(Vec<u8>, SnapshotContents), String> {
    let bytes = std::fs::read(path).map_err(|error| format!("cannot read {path}: {error}"))?;
    let contents = snapshot_file::decode(&bytes).map_err(|error| format!("{path}: {error}"))?;
    Ok((bytes, contents))
}

/// The store a snapshot holds, checked to decode.
fn store_of(contents: &SnapshotContents) -> Result<KvStore, String> {
    let mut store = KvStore::new(KvConfig::default());
    store
        .restore(&contents.state)
        .map_err(|error| error.to_string())?;
    Ok(store)
}

/// etcdctl's `snapshot status` line: hash, revision, total keys, total size.
fn status(args: &[String]) -> Result<(), String> {
    let [path] = args else {
        return Err(USAGE.to_string());
    };
    let (bytes, contents) = read(path)?;
    let store = store_of(&contents)?;
    let (hash, _) = store.store().hash(0).map_err(|error| error.to_string())?;
    println!(
        "{hash:x}, {}, {}, {}",
        contents.revision,
        store.counters().keys,
        human_size(bytes.len() as u64)
    );
    Ok(())
}

fn human_size(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{} kB", bytes / 1_000),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

/// The flags of `snapshot restore`, with etcd's defaults.
#[derive(Debug)]
struct RestoreFlags {
    file: String,
    name: String,
    data_dir: Option<PathBuf>,
    initial_cluster: String,
    token: String,
}

fn restore_flags(args: &[String]) -> Result<RestoreFlags, String> {
    let mut flags = RestoreFlags {
        file: String::new(),
        name: "default".into(),
        data_dir: None,
        initial_cluster: "default=http://localhost:2380".into(),
        token: "etcd-cluster".into(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            if !flags.file.is_empty() {
                return Err(format!("unexpected argument {arg:?}\n{USAGE}"));
            }
            flags.file = arg.clone();
            continue;
        };
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name, value.to_string()),
            None => {
                let value = args
                    .next()
                    .ok_or_else(|| format!("flag needs an argument: --{flag}"))?;
                (flag, value.clone())
            }
        };
        match name {
            "name" => flags.name = value,
            "data-dir" => flags.data_dir = Some(PathBuf::from(value)),
            "initial-cluster" => flags.initial_cluster = value,
            "initial-cluster-token" => flags.token = value,
            // The member's peer URLs are those --initial-cluster gives its name.
            "initial-advertise-peer-urls" => {}
            other => return Err(format!("unknown flag: --{other}\n{USAGE}")),
        }
    }
    if flags.file.is_empty() {
        return Err(USAGE.to_string());
    }
    Ok(flags)
}

/// Write a data dir from which a member of a new cluster starts with the snapshot's keys,
/// revisions and leases.
fn restore(args: &[String]) -> Result<(), String> {
    let flags = restore_flags(args)?;
    let (_, contents) = read(&flags.file)?;
    store_of(&contents)?;
    let data_dir = flags
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.etcd", flags.name)));
    if data_dir.exists() {
        return Err(format!(
            "data-dir {:?} exists",
            data_dir.display().to_string()
        ));
    }
    let entries = config::parse_initial_cluster(&flags.initial_cluster)?;
    let initial = InitialCluster::new(&entries, &flags.token);
    let own = initial.member_named(&flags.name)?;
    let metadata = Metadata {
        member_id: own.id,
        cluster_id: initial.cluster_id(),
    };
    // The restored cluster's log starts at the bootstrap snapshot (index 1).
    let state = rebase_snapshot(&contents.state, 1, initial.attributes())
        .map_err(|error| error.to_string())?;
    let persisted = bootstrap_with_state(initial.ids(), state);
    let (mut storage, _) = Storage::open(RealDisk, &data_dir, metadata, StorageOptions::default())
        .map_err(|error| error.to_string())?;
    storage
        .write(&[PersistBatch {
            token: PersistToken(0),
            snapshot: persisted.snapshot,
            entries: Vec::new(),
            hard_state: Some(persisted.hard_state),
        }])
        .map_err(|error| error.to_string())?;
    println!(
        "restored snapshot of revision {} into {} as member {:x} of cluster {:x}",
        contents.revision,
        data_dir.display(),
        metadata.member_id,
        metadata.cluster_id
    );
    Ok(())
}
