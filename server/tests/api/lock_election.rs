//! The Lock and Election services, built on lease, txn and watch as etcd builds them.

use std::time::Duration;

use detcd_proto::etcdserverpb::{LeaseGrantRequest, LeaseRevokeRequest};
use detcd_proto::v3electionpb::election_client::ElectionClient;
use detcd_proto::v3electionpb::{CampaignRequest, LeaderRequest, ProclaimRequest, ResignRequest};
use detcd_proto::v3lockpb::lock_client::LockClient;
use detcd_proto::v3lockpb::{LockRequest, UnlockRequest};
use tokio_stream::StreamExt;
use tonic::Code;

use crate::common::Server;

async fn lease(server: &Server) -> i64 {
    let grant = LeaseGrantRequest { ttl: 30, id: 0 };
    server
        .lease()
        .await
        .lease_grant(grant)
        .await
        .unwrap()
        .into_inner()
        .id
}

/// A lock is held by one lease at a time: the second locker waits until the first unlocks,
/// then holds it under its own key.
#[tokio::test]
async fn lock_waits_for_unlock() {
    let server = Server::start().await;
    let mut locks = LockClient::new(server.channel().await);
    let (first, second) = (lease(&server).await, lease(&server).await);
    let held = locks
        .lock(LockRequest {
            name: b"job".to_vec(),
            lease: first,
        })
        .await
        .unwrap()
        .into_inner()
        .key;
    assert_eq!(held, format!("job/{first:x}").into_bytes());
    let mut waiter = locks.clone();
    let waiting = tokio::spawn(async move {
        waiter
            .lock(LockRequest {
                name: b"job".to_vec(),
                lease: second,
            })
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the second locker got a held lock");
    locks.unlock(UnlockRequest { key: held }).await.unwrap();
    let second_key = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the lock passes on")
        .unwrap()
        .unwrap()
        .into_inner()
        .key;
    assert_eq!(second_key, format!("job/{second:x}").into_bytes());
}

/// A lock whose holder's lease is revoked passes on too: the key dies with the lease.
#[tokio::test]
async fn lock_passes_on_when_the_holder_lease_ends() {
    let server = Server::start().await;
    let mut locks = LockClient::new(server.channel().await);
    let (first, second) = (lease(&server).await, lease(&server).await);
    locks
        .lock(LockRequest {
            name: b"l".to_vec(),
            lease: first,
        })
        .await
        .unwrap();
    let mut waiter = locks.clone();
    let waiting = tokio::spawn(async move {
        waiter
            .lock(LockRequest {
                name: b"l".to_vec(),
                lease: second,
            })
            .await
    });
    server
        .lease()
        .await
        .lease_revoke(LeaseRevokeRequest { id: first })
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// An election: the first candidate leads, Leader names it, Proclaim changes its value (seen by
/// Observe), Resign hands leadership to the next candidate; a proclaim without a leader key gets
/// etcd's error.
#[tokio::test]
async fn election() {
    let server = Server::start().await;
    let mut election = ElectionClient::new(server.channel().await);
    let (first, second) = (lease(&server).await, lease(&server).await);
    let campaign = |lease, value: &str| CampaignRequest {
        name: b"e".to_vec(),
        lease,
        value: value.into(),
    };
    let leader = election
        .campaign(campaign(first, "one"))
        .await
        .unwrap()
        .into_inner()
        .leader
        .unwrap();
    let mut observer = election
        .observe(LeaderRequest {
            name: b"e".to_vec(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        observer.next().await.unwrap().unwrap().kv.unwrap().value,
        b"one"
    );
    election
        .proclaim(ProclaimRequest {
            leader: Some(leader.clone()),
            value: b"uno".to_vec(),
        })
        .await
        .unwrap();
    assert_eq!(
        observer.next().await.unwrap().unwrap().kv.unwrap().value,
        b"uno"
    );
    let now = election
        .leader(LeaderRequest {
            name: b"e".to_vec(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(now.kv.unwrap().key, leader.key);
    let mut candidate = election.clone();
    let second_campaign =
        tokio::spawn(async move { candidate.campaign(campaign(second, "two")).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second_campaign.is_finished(), "two leaders at once");
    election
        .resign(ResignRequest {
            leader: Some(leader),
        })
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), second_campaign)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        observer.next().await.unwrap().unwrap().kv.unwrap().value,
        b"two"
    );
    let missing = election
        .proclaim(ProclaimRequest {
            leader: None,
            value: b"x".to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        (missing.code(), missing.message()),
        (Code::Unknown, "\"leader\" field must be provided")
    );
}
