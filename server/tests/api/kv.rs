//! KV: Range with its options, Put with prev_kv and ignore_*, DeleteRange, nested Txn, Compact.

use detcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use detcd_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use detcd_proto::etcdserverpb::request_op::Request as Op;
use detcd_proto::etcdserverpb::response_op::Response as OpResponse;
use detcd_proto::etcdserverpb::{
    CompactionRequest, Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};
use tonic::Code;

use crate::common::{Server, get, prefix_end, put};

/// A put answers with the new revision in a header that names the cluster, the member and the
/// Raft term; a fresh store's first write is revision 2, as in etcd.
#[tokio::test]
async fn put_and_get_carry_etcds_header() {
    let server = Server::start().await;
    let mut kv = server.kv().await;
    let header = kv
        .put(put("foo", "bar"))
        .await
        .unwrap()
        .into_inner()
        .header
        .unwrap();
    assert_eq!(header.revision, 2);
    assert_ne!(header.cluster_id, 0);
    assert_ne!(header.member_id, 0);
    assert!(header.raft_term >= 2);
    let range = kv.range(get("foo")).await.unwrap().into_inner();
    assert_eq!(range.count, 1);
    let found = &range.kvs[0];
    assert_eq!(
        (found.value.as_slice(), found.create_revision, found.version),
        (&b"bar"[..], 2, 1)
    );
}

/// Range options: limit with `more`, sort order and target, keys_only, count_only, a past
/// revision, and the revision filters.
#[tokio::test]
async fn range_options() {
    let server = Server::start().await;
    let mut kv = server.kv().await;
    for (key, value) in [("k1", "c"), ("k2", "b"), ("k3", "a")] {
        kv.put(put(key, value)).await.unwrap();
    }
    let prefix = |mut request: RangeRequest| {
        request.key = b"k".to_vec();
        request.range_end = prefix_end("k");
        request
    };
    let limited = kv
        .range(prefix(RangeRequest {
            limit: 2,
            ..RangeRequest::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (limited.kvs.len(), limited.more, limited.count),
        (2, true, 3)
    );
    let by_value = kv
        .range(prefix(RangeRequest {
            sort_order: SortOrder::Ascend as i32,
            sort_target: SortTarget::Value as i32,
            ..RangeRequest::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let keys: Vec<_> = by_value.kvs.iter().map(|kv| kv.key.clone()).collect();
    assert_eq!(keys, [b"k3".to_vec(), b"k2".to_vec(), b"k1".to_vec()]);
    let keys_only = kv
        .range(prefix(RangeRequest {
            keys_only: true,
            ..RangeRequest::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(keys_only.kvs.iter().all(|kv| kv.value.is_empty()));
    let count_only = kv
        .range(prefix(RangeRequest {
            count_only: true,
            ..RangeRequest::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((count_only.kvs.len(), count_only.count), (0, 3));
    let at_three = kv
        .range(prefix(RangeRequest {
            revision: 3,
            ..RangeRequest::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(at_three.kvs.len(), 2);
    let created_late = kv
        .range(prefix(RangeRequest {
            min_create_revision: 4,
            ..RangeRequest::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created_late.kvs.len(), 1);
    let serializable = kv
        .range(RangeRequest {
            serializable: true,
            ..get("k1")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(serializable.kvs[0].value, b"c");
}

/// Put with prev_kv returns the key as it was; ignore_value keeps the value and ignore_lease the
/// lease; both need the key to exist ("etcdserver: key not found").
#[tokio::test]
async fn put_options() {
    let server = Server::start().await;
    let mut kv = server.kv().await;
    kv.put(put("a", "1")).await.unwrap();
    let previous = kv
        .put(PutRequest {
            prev_kv: true,
            ..put("a", "2")
        })
        .await
        .unwrap()
        .into_inner()
        .prev_kv
        .unwrap();
    assert_eq!(previous.value, b"1");
    kv.put(PutRequest {
        ignore_value: true,
        ..put("a", "")
    })
    .await
    .unwrap();
    assert_eq!(
        kv.range(get("a")).await.unwrap().into_inner().kvs[0].value,
        b"2"
    );
    let missing = kv
        .put(PutRequest {
            ignore_value: true,
            ..put("nothing", "")
        })
        .await
        .unwrap_err();
    assert_eq!(
        (missing.code(), missing.message()),
        (Code::InvalidArgument, "etcdserver: key not found")
    );
}

/// DeleteRange deletes a prefix and returns what it deleted with prev_kv.
#[tokio::test]
async fn delete_range_with_prev_kv() {
    let server = Server::start().await;
    let mut kv = server.kv().await;
    for key in ["p1", "p2", "q"] {
        kv.put(put(key, "v")).await.unwrap();
    }
    let deleted = kv
        .delete_range(DeleteRangeRequest {
            key: b"p".to_vec(),
            range_end: prefix_end("p"),
            prev_kv: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.deleted, 2);
    assert_eq!(deleted.prev_kvs.len(), 2);
    assert_eq!(kv.range(get("q")).await.unwrap().into_inner().count, 1);
}

/// A txn runs its success branch when every compare holds, its failure branch otherwise, and
/// nests; it writes one revision; inner responses carry only the revision in their header.
#[tokio::test]
async fn nested_txn() {
    let server = Server::start().await;
    let mut kv = server.kv().await;
    let absent = Compare {
        result: CompareResult::Equal as i32,
        target: CompareTarget::Create as i32,
        key: b"t".to_vec(),
        range_end: Vec::new(),
        target_union: Some(TargetUnion::CreateRevision(0)),
    };
    let op = |request| RequestOp {
        request: Some(request),
    };
    let nested = TxnRequest {
        compare: Vec::new(),
        success: vec![op(Op::RequestPut(put("u", "inner")))],
        failure: Vec::new(),
    };
    let txn = TxnRequest {
        compare: vec![absent.clone()],
        success: vec![
            op(Op::RequestPut(put("t", "1"))),
            op(Op::RequestTxn(nested)),
        ],
        failure: vec![op(Op::RequestRange(get("t")))],
    };
    let first = kv.txn(txn.clone()).await.unwrap().into_inner();
    assert!(first.succeeded);
    assert_eq!(first.header.as_ref().unwrap().revision, 2);
    let Some(OpResponse::ResponsePut(inner)) = &first.responses[0].response else {
        panic!("a put response")
    };
    let inner_header = inner.header.as_ref().unwrap();
    assert_eq!((inner_header.revision, inner_header.cluster_id), (2, 0));
    assert_eq!(
        kv.range(get("u")).await.unwrap().into_inner().kvs[0].value,
        b"inner"
    );
    let second = kv.txn(txn).await.unwrap().into_inner();
    assert!(!second.succeeded);
    let Some(OpResponse::ResponseRange(range)) = &second.responses[0].response else {
        panic!("a range response")
    };
    assert_eq!(range.kvs[0].value, b"1");
}

/// Compaction: a revision ahead of the store is refused ("future revision"), compacting at the
/// current revision is allowed, and reads below the compaction point are refused (OutOfRange,
/// "required revision has been compacted").
#[tokio::test]
async fn compaction() {
    let server = Server::start().await;
    let mut kv = server.kv().await;
    let future = kv
        .compact(CompactionRequest {
            revision: 9,
            physical: false,
        })
        .await
        .unwrap_err();
    assert_eq!(
        (future.code(), future.message()),
        (
            Code::OutOfRange,
            "etcdserver: mvcc: required revision is a future revision"
        )
    );
    for value in ["1", "2", "3"] {
        kv.put(put("c", value)).await.unwrap();
    }
    kv.compact(CompactionRequest {
        revision: 4,
        physical: true,
    })
    .await
    .unwrap();
    let old = kv
        .range(RangeRequest {
            revision: 3,
            ..get("c")
        })
        .await
        .unwrap_err();
    assert_eq!(
        (old.code(), old.message()),
        (
            Code::OutOfRange,
            "etcdserver: mvcc: required revision has been compacted"
        )
    );
    assert_eq!(
        kv.range(get("c")).await.unwrap().into_inner().kvs[0].value,
        b"3"
    );
}
