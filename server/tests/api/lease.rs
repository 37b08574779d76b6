//! Lease: grant, time-to-live, list, keep-alive, revoke, expiry.

use std::time::Duration;

use detcd_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseKeepAliveRequest, LeaseLeasesRequest, LeaseRevokeRequest,
    LeaseTimeToLiveRequest, PutRequest,
};
use tokio_stream::StreamExt;
use tonic::Code;

use crate::common::{Server, get, put};

/// Grant, attach a key, time-to-live with the key, list, and revoke, which deletes the key.
#[tokio::test]
async fn grant_attach_and_revoke() {
    let server = Server::start().await;
    let mut lease = server.lease().await;
    let mut kv = server.kv().await;
    let granted = lease
        .lease_grant(LeaseGrantRequest { ttl: 60, id: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(granted.ttl, 60);
    assert_ne!(granted.id, 0);
    kv.put(PutRequest {
        lease: granted.id,
        ..put("leased", "v")
    })
    .await
    .unwrap();
    let ttl = lease
        .lease_time_to_live(LeaseTimeToLiveRequest {
            id: granted.id,
            keys: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (ttl.granted_ttl, ttl.keys.clone()),
        (60, vec![b"leased".to_vec()])
    );
    assert!(ttl.ttl > 55 && ttl.ttl <= 60);
    let leases = lease
        .lease_leases(LeaseLeasesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        leases
            .leases
            .iter()
            .map(|lease| lease.id)
            .collect::<Vec<_>>(),
        [granted.id]
    );
    lease
        .lease_revoke(LeaseRevokeRequest { id: granted.id })
        .await
        .unwrap();
    assert_eq!(kv.range(get("leased")).await.unwrap().into_inner().count, 0);
    let gone = lease
        .lease_time_to_live(LeaseTimeToLiveRequest {
            id: granted.id,
            keys: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        gone.ttl, -1,
        "an unknown lease answers TTL -1, not an error"
    );
}

/// A client may choose the lease id; a second grant of the same id fails with etcd's
/// FailedPrecondition, and a put with an unknown lease with NotFound.
#[tokio::test]
async fn chosen_ids_and_unknown_leases() {
    let server = Server::start().await;
    let mut lease = server.lease().await;
    lease
        .lease_grant(LeaseGrantRequest { ttl: 30, id: 1234 })
        .await
        .unwrap();
    let again = lease
        .lease_grant(LeaseGrantRequest { ttl: 30, id: 1234 })
        .await
        .unwrap_err();
    assert_eq!(
        (again.code(), again.message()),
        (Code::FailedPrecondition, "etcdserver: lease already exists")
    );
    let unknown = server
        .kv()
        .await
        .put(PutRequest {
            lease: 99,
            ..put("k", "v")
        })
        .await
        .unwrap_err();
    assert_eq!(
        (unknown.code(), unknown.message()),
        (Code::NotFound, "etcdserver: requested lease not found")
    );
}

/// Keep-alive renews a lease on a stream, answering each request with the granted TTL; an
/// unknown lease gets TTL 0.
#[tokio::test]
async fn keep_alive_stream() {
    let server = Server::start().await;
    let mut lease = server.lease().await;
    let id = lease
        .lease_grant(LeaseGrantRequest { ttl: 10, id: 0 })
        .await
        .unwrap()
        .into_inner()
        .id;
    let requests = tokio_stream::iter([
        LeaseKeepAliveRequest { id },
        LeaseKeepAliveRequest { id: 777 },
    ]);
    let mut answers = lease.lease_keep_alive(requests).await.unwrap().into_inner();
    let renewed = answers.next().await.unwrap().unwrap();
    assert_eq!((renewed.id, renewed.ttl), (id, 10));
    let unknown = answers.next().await.unwrap().unwrap();
    assert_eq!((unknown.id, unknown.ttl), (777, 0));
    assert!(
        answers.next().await.is_none(),
        "the stream ends with the client's side"
    );
}

/// A lease that is not kept alive expires: its keys are deleted within a second of its TTL
/// (etcd's minimum TTL, 2 s with the default timing, applies to shorter grants).
#[tokio::test]
async fn expiry_deletes_keys() {
    let server = Server::start().await;
    let mut lease = server.lease().await;
    let mut kv = server.kv().await;
    let granted = lease
        .lease_grant(LeaseGrantRequest { ttl: 1, id: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(granted.ttl, 2, "raised to the minimum TTL");
    kv.put(PutRequest {
        lease: granted.id,
        ..put("short", "v")
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(kv.range(get("short")).await.unwrap().into_inner().count, 0);
}
