//! Maintenance: status, the NOSPACE alarm, defragment, the snapshot stream and restore, hashes,
//! leader transfer, and a restart on the same data dir.

use detcd_proto::etcdserverpb::alarm_request::AlarmAction;
use detcd_proto::etcdserverpb::{
    AlarmRequest, AlarmType, DefragmentRequest, HashKvRequest, MoveLeaderRequest, SnapshotRequest,
    StatusRequest,
};
use sha2::{Digest, Sha256};
use tokio_stream::StreamExt;
use tonic::Code;

use crate::common::{Server, compact_now, get, put};

/// Status names the leader (this member), etcd's version, the Raft position and the size.
#[tokio::test]
async fn status() {
    let server = Server::start().await;
    server.kv().await.put(put("a", "1")).await.unwrap();
    let status = server
        .maintenance()
        .await
        .status(StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    let header = status.header.unwrap();
    assert_eq!(status.version, "3.4.23");
    assert_eq!(status.leader, header.member_id);
    assert!(status.raft_index >= 2 && status.raft_applied_index >= 2);
    assert!(status.db_size > 0);
    assert!(!status.is_learner);
}

/// Past the quota a write raises the NOSPACE alarm and is refused (ResourceExhausted, "database
/// space exceeded"), reads still work; after compaction, defragment and disarm, writes work.
#[tokio::test]
async fn no_space_alarm() {
    let server = Server::start_with(&["--quota-backend-bytes", "16384"]).await;
    let mut kv = server.kv().await;
    let mut maintenance = server.maintenance().await;
    let value = "b".repeat(1024);
    let refused = loop {
        if let Err(status) = kv.put(put("big", &value)).await {
            break status;
        }
    };
    assert_eq!(
        (refused.code(), refused.message()),
        (
            Code::ResourceExhausted,
            "etcdserver: mvcc: database space exceeded"
        )
    );
    let list = AlarmRequest {
        action: AlarmAction::Get as i32,
        member_id: 0,
        alarm: 0,
    };
    let alarms = maintenance.alarm(list).await.unwrap().into_inner();
    let member_id = alarms.header.unwrap().member_id;
    assert_eq!(alarms.alarms.len(), 1);
    assert_eq!(
        (alarms.alarms[0].member_id, alarms.alarms[0].alarm),
        (member_id, AlarmType::Nospace as i32)
    );
    assert_eq!(kv.range(get("big")).await.unwrap().into_inner().count, 1);
    compact_now(&mut kv).await;
    maintenance.defragment(DefragmentRequest {}).await.unwrap();
    let disarm = AlarmRequest {
        action: AlarmAction::Deactivate as i32,
        member_id,
        alarm: AlarmType::Nospace as i32,
    };
    let disarmed = maintenance.alarm(disarm).await.unwrap().into_inner();
    assert_eq!(
        disarmed.alarms.len(),
        1,
        "the answer names the alarm it cleared"
    );
    kv.put(put("small", "v")).await.unwrap();
}

/// The snapshot stream ends with the SHA-256 of what came before, at a size etcdctl accepts (a
/// multiple of 512 plus 32); `detcd snapshot restore` makes a data dir from it on which a new
/// member starts with the same keys and revision.
#[tokio::test]
async fn snapshot_save_and_restore() {
    let server = Server::start().await;
    let mut kv = server.kv().await;
    for (key, value) in [("a", "1"), ("b", "2"), ("a", "3")] {
        kv.put(put(key, value)).await.unwrap();
    }
    let mut stream = server
        .maintenance()
        .await
        .snapshot(SnapshotRequest {})
        .await
        .unwrap()
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        bytes.extend_from_slice(&chunk.blob);
        if chunk.remaining_bytes == 0 {
            break;
        }
    }
    assert_eq!(bytes.len() % 512, 32);
    let (body, checksum) = bytes.split_at(bytes.len() - 32);
    assert_eq!(Sha256::digest(body).as_slice(), checksum);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.db");
    std::fs::write(&file, &bytes).unwrap();
    let restored_dir = dir.path().join("restored");
    let args: Vec<String> = [
        "restore",
        file.to_str().unwrap(),
        "--name",
        "test",
        "--data-dir",
        restored_dir.to_str().unwrap(),
        "--initial-cluster",
        "test=http://127.0.0.1:2380",
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect();
    assert_eq!(detcd::snapshot_cmd::main(&args), 0);
    assert_ne!(
        detcd::snapshot_cmd::main(&args),
        0,
        "a restore never overwrites a data dir"
    );
    let restored = Server::start_on(&restored_dir, &[]).await;
    let mut restored_kv = restored.kv().await;
    let a = restored_kv.range(get("a")).await.unwrap().into_inner();
    assert_eq!(a.kvs[0].value, b"3");
    assert_eq!(a.header.unwrap().revision, 4, "the revision carries over");
    assert_eq!(
        restored_kv
            .range(get("b"))
            .await
            .unwrap()
            .into_inner()
            .count,
        1
    );
    restored_kv.put(put("c", "new")).await.unwrap();
}

/// A member stopped and started again on its data dir has every write it acknowledged, at the
/// same revisions, and the same HashKV, once it has caught up.
#[tokio::test]
async fn restart_keeps_everything() {
    let server = Server::start().await;
    let mut kv = server.kv().await;
    for index in 0..50 {
        kv.put(put(&format!("k{index}"), "v")).await.unwrap();
    }
    let hash = server
        .maintenance()
        .await
        .hash_kv(HashKvRequest { revision: 0 })
        .await
        .unwrap()
        .into_inner();
    let data_dir = server.data_dir.clone();
    let dir = server.stop().await;
    let restarted = Server::start_on(&data_dir, &[]).await;
    let again = restarted
        .maintenance()
        .await
        .hash_kv(HashKvRequest { revision: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (again.hash, again.hash_revision),
        (hash.hash, hash.hash_revision)
    );
    assert_eq!(
        restarted
            .kv()
            .await
            .range(get("k49"))
            .await
            .unwrap()
            .into_inner()
            .count,
        1
    );
    drop(dir);
}

/// Defragment snapshots the state and rewrites the WAL compactly: the data dir shrinks, and a
/// restart recovers the same keys.
#[tokio::test]
async fn defragment_rewrites_the_data_dir() {
    let server = Server::start().await;
    let mut kv = server.kv().await;
    let value = "x".repeat(4096);
    for _ in 0..200 {
        kv.put(put("same", &value)).await.unwrap();
    }
    compact_now(&mut kv).await;
    let before = dir_size(&server.data_dir);
    server
        .maintenance()
        .await
        .defragment(DefragmentRequest {})
        .await
        .unwrap();
    let after = dir_size(&server.data_dir);
    assert!(after < before / 4, "{before} bytes before, {after} after");
    let data_dir = server.data_dir.clone();
    let dir = server.stop().await;
    let restarted = Server::start_on(&data_dir, &[]).await;
    let same = restarted
        .kv()
        .await
        .range(get("same"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((same.kvs[0].value.len(), same.kvs[0].version), (4096, 200));
    drop(dir);
}

fn dir_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            match entry.file_type().unwrap().is_dir() {
                true => dir_size(&entry.path()),
                false => entry.metadata().unwrap().len(),
            }
        })
        .sum()
}

/// MoveLeader to the leader itself is done at once; to a member that is not in the cluster it
/// fails with etcd's "bad leader transferee".
#[tokio::test]
async fn move_leader() {
    let server = Server::start().await;
    let mut maintenance = server.maintenance().await;
    let me = maintenance
        .status(StatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .leader;
    maintenance
        .move_leader(MoveLeaderRequest { target_id: me })
        .await
        .unwrap();
    let stranger = maintenance
        .move_leader(MoveLeaderRequest { target_id: 42 })
        .await
        .unwrap_err();
    assert_eq!(
        (stranger.code(), stranger.message()),
        (
            Code::FailedPrecondition,
            "etcdserver: bad leader transferee"
        )
    );
}
