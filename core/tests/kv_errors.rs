//! Every error and limit of the key-value API, with etcd's message and gRPC code. Each test names
//! the etcd rule it mirrors.

mod kv_util;

// In a module named `kv` so that `cargo test -p detcd-core kv` selects these tests.
mod kv {

    use crate::kv_util::{Harness, compare, delete_op, error, put, put_op, range_op};
    use detcd_core::kv::*;
    use detcd_core::state_machine::{ServiceError, StateMachine};

    fn txn(success: Vec<RequestOp>) -> Request {
        Request::Txn(TxnRequest {
            compare: Vec::new(),
            success,
            failure: Vec::new(),
        })
    }

    // v3rpc/key.go checkRangeRequest, checkPutRequest, checkDeleteRequest, checkTxnRequest: an empty
    // key is refused with ErrGRPCEmptyKey (InvalidArgument), in every request and inside txns.
    #[test]
    fn empty_key_is_refused_everywhere() {
        let mut harness = Harness::default();
        let empty_key = [
            Request::Range(RangeRequest::default()),
            put("", "v"),
            Request::DeleteRange(DeleteRangeRequest::default()),
            txn(vec![put_op("", "v")]),
            Request::Txn(TxnRequest {
                compare: vec![compare("", CompareResult::Equal, CompareTarget::Version(0))],
                ..TxnRequest::default()
            }),
        ];
        for request in empty_key {
            let response = match harness.kv.route(&request) {
                detcd_core::state_machine::Route::Propose => harness.apply(request),
                _ => harness.serve(0, 0, request).unwrap(),
            };
            let error = error(response);
            assert_eq!(error.message(), "etcdserver: key is not provided");
            assert_eq!(error.code(), GrpcCode::InvalidArgument);
        }
        assert_eq!(harness.revision(), 1, "refused requests change nothing");
    }

    // checkPutRequest: ignore_value with a value is ErrGRPCValueProvided, ignore_lease with a lease is
    // ErrGRPCLeaseProvided.
    #[test]
    fn ignore_flags_refuse_what_they_ignore() {
        let mut harness = Harness::default();
        let value = PutRequest {
            key: "k".into(),
            value: "v".into(),
            ignore_value: true,
            ..PutRequest::default()
        };
        assert_eq!(
            error(harness.apply(Request::Put(value))).message(),
            "etcdserver: value is provided"
        );
        let lease = PutRequest {
            key: "k".into(),
            lease: 7,
            ignore_lease: true,
            ..PutRequest::default()
        };
        let lease_error = error(harness.apply(Request::Put(lease)));
        assert_eq!(lease_error.message(), "etcdserver: lease is provided");
        assert_eq!(lease_error.code(), GrpcCode::InvalidArgument);
    }

    // applierV3backend.Put: ignore_value or ignore_lease on a missing key is ErrKeyNotFound
    // ("etcdserver: key not found"), alone and inside a txn (checkRequestPut).
    #[test]
    fn ignore_flags_need_an_existing_key() {
        let mut harness = Harness::default();
        let keep_value = PutRequest {
            key: "k".into(),
            ignore_value: true,
            ..PutRequest::default()
        };
        assert_eq!(
            error(harness.apply(Request::Put(keep_value.clone()))).message(),
            "etcdserver: key not found"
        );
        let in_txn = txn(vec![RequestOp::Put(keep_value.clone())]);
        assert_eq!(error(harness.apply(in_txn)), KvError::KeyNotFound);
        harness.put("k", "v");
        assert!(harness.apply(Request::Put(keep_value)).error().is_none());
        assert_eq!(harness.get("k").unwrap().version, 2);
    }

    // applierV3backend.Put and checkRequestPut: a put naming a lease that does not exist fails with
    // lease.ErrLeaseNotFound, which the gRPC layer sends as "etcdserver: requested lease not found".
    #[test]
    fn put_with_unknown_lease_is_refused() {
        let mut harness = Harness::default();
        let request = PutRequest {
            key: "k".into(),
            value: "v".into(),
            lease: 42,
            ..PutRequest::default()
        };
        let refused = error(harness.apply(Request::Put(request.clone())));
        assert_eq!(refused.message(), "etcdserver: requested lease not found");
        assert_eq!(refused.code(), GrpcCode::NotFound);
        assert_eq!(
            error(harness.apply(txn(vec![RequestOp::Put(request)]))),
            KvError::LeaseNotFound
        );
        assert_eq!(harness.revision(), 1);
    }

    // checkTxnRequest: more than max_txn_ops (128) compares, or operations in one branch, is
    // ErrGRPCTooManyOps; exactly 128 is allowed.
    #[test]
    fn txn_ops_are_limited() {
        let mut harness = Harness::default();
        let ops = |n: usize| {
            (0..n)
                .map(|i| put_op(&format!("k{i:03}"), "v"))
                .collect::<Vec<_>>()
        };
        let too_many = error(harness.apply(txn(ops(129))));
        assert_eq!(
            too_many.message(),
            "etcdserver: too many operations in txn request"
        );
        assert_eq!(too_many.code(), GrpcCode::InvalidArgument);
        let compares = (0..129)
            .map(|i| {
                compare(
                    &format!("k{i}"),
                    CompareResult::Equal,
                    CompareTarget::Version(0),
                )
            })
            .collect();
        let request = Request::Txn(TxnRequest {
            compare: compares,
            ..TxnRequest::default()
        });
        assert_eq!(
            error(harness.serve(0, 0, request).unwrap()),
            KvError::TooManyOps
        );
        assert!(harness.apply(txn(ops(128))).error().is_none());
    }

    // checkTxnRequest: a nested txn is checked against max_txn_ops minus the outer txn's largest part.
    #[test]
    fn nested_txn_gets_what_the_outer_left() {
        let mut harness = Harness::new(KvConfig {
            max_txn_ops: 4,
            ..KvConfig::default()
        });
        let nested = |n: usize| {
            let inner = TxnRequest {
                success: (0..n).map(|i| put_op(&format!("n{i}"), "v")).collect(),
                ..TxnRequest::default()
            };
            txn(vec![put_op("outer", "v"), RequestOp::Txn(inner)])
        };
        assert!(harness.apply(nested(2)).error().is_none());
        assert_eq!(error(harness.apply(nested(3))), KvError::TooManyOps);
    }

    // checkIntervals: a txn may not put one key twice or put and delete it in one branch, at any
    // depth; the two branches of a nested txn may put the same key (only one runs).
    #[test]
    fn duplicate_keys_in_txn_are_refused() {
        let mut harness = Harness::default();
        let duplicate = [
            vec![put_op("k", "1"), put_op("k", "2")],
            vec![put_op("k", "1"), delete_op("k", "")],
            vec![delete_op("a", "z"), put_op("k", "1")],
            vec![
                put_op("k", "1"),
                RequestOp::Txn(TxnRequest {
                    success: vec![put_op("k", "2")],
                    ..TxnRequest::default()
                }),
            ],
            vec![
                delete_op("k", ""),
                RequestOp::Txn(TxnRequest {
                    failure: vec![put_op("k", "2")],
                    ..TxnRequest::default()
                }),
            ],
        ];
        for ops in duplicate {
            let refused = error(harness.apply(txn(ops)));
            assert_eq!(
                refused.message(),
                "etcdserver: duplicate key given in txn request"
            );
            assert_eq!(refused.code(), GrpcCode::InvalidArgument);
        }
        let both_branches = TxnRequest {
            success: vec![put_op("k", "1")],
            failure: vec![put_op("k", "2")],
            ..TxnRequest::default()
        };
        let allowed = [
            vec![RequestOp::Txn(both_branches)],
            vec![delete_op("a", "c"), delete_op("b", "d")],
            vec![range_op("k", ""), put_op("k", "1")],
            // etcd builds the interval [key, "\0") from the raw bytes: an empty interval that
            // conflicts with nothing, so this txn passes etcd's check too.
            vec![delete_op("a", "\0"), put_op("k", "1")],
        ];
        for ops in allowed {
            assert!(harness.apply(txn(ops)).error().is_none());
        }
    }

    // kvstore_txn.go rangeKeys: a revision above the current one is ErrFutureRev, one below the
    // compaction point ErrCompacted (OutOfRange); the compaction point itself is readable.
    #[test]
    fn range_revisions_outside_history_are_refused() {
        let mut harness = Harness::default();
        for i in 0..4 {
            harness.put("k", &i.to_string());
        }
        let at = |revision| RangeRequest {
            key: "k".into(),
            revision,
            ..RangeRequest::default()
        };
        let future = error(harness.range(at(6)));
        assert_eq!(
            future.message(),
            "etcdserver: mvcc: required revision is a future revision"
        );
        assert_eq!(future.code(), GrpcCode::OutOfRange);
        harness.apply(Request::Compact(CompactRequest {
            revision: 4,
            physical: true,
        }));
        let compacted = error(harness.range(at(3)));
        assert_eq!(
            compacted.message(),
            "etcdserver: mvcc: required revision has been compacted"
        );
        assert_eq!(compacted.code(), GrpcCode::OutOfRange);
        assert_eq!(harness.range_ok(at(4)).kvs[0].value, b"2");
        // checkRequestRange: the same rules hold for a range inside a txn.
        let in_txn = |revision| txn(vec![RequestOp::Range(at(revision)), put_op("x", "1")]);
        assert_eq!(error(harness.apply(in_txn(3))), KvError::Compacted);
        assert_eq!(error(harness.apply(in_txn(6))), KvError::FutureRevision);
    }

    // kvstore.go updateCompactRev: compacting at or below the compaction point is ErrCompacted, above
    // the current revision ErrFutureRev.
    #[test]
    fn compact_errors() {
        let mut harness = Harness::default();
        harness.put("k", "v");
        let compact = |revision| {
            Request::Compact(CompactRequest {
                revision,
                physical: false,
            })
        };
        assert_eq!(error(harness.apply(compact(3))), KvError::FutureRevision);
        assert!(harness.apply(compact(2)).error().is_none());
        assert_eq!(error(harness.apply(compact(2))), KvError::Compacted);
        assert_eq!(error(harness.apply(compact(1))), KvError::Compacted);
    }

    // processInternalRaftRequestOnce: a request larger than max_request_bytes (1.5 MiB by default)
    // is ErrGRPCRequestTooLarge ("etcdserver: request is too large"), for writes and reads.
    #[test]
    fn request_size_is_limited() {
        let mut harness = Harness::default();
        assert_eq!(harness.kv.config().max_request_bytes, 1_572_864);
        let big = "x".repeat(1_572_864);
        let refused = error(harness.apply(put("k", &big)));
        assert_eq!(refused.message(), "etcdserver: request is too large");
        assert_eq!(refused.code(), GrpcCode::InvalidArgument);
        let big_read = Request::Range(RangeRequest {
            key: big.into(),
            ..RangeRequest::default()
        });
        assert_eq!(
            error(harness.serve(0, 0, big_read).unwrap()),
            KvError::RequestTooLarge
        );
        assert!(
            harness
                .apply(put("k", &"x".repeat(1_500_000)))
                .error()
                .is_none()
        );
    }

    // lessor.go Grant: a TTL above MaxLeaseTTL (9000000000 s) is ErrLeaseTTLTooLarge, a second grant of
    // one id ErrLeaseExists; Revoke of an unknown lease is ErrLeaseNotFound.
    #[test]
    fn lease_errors() {
        let mut harness = Harness::default();
        let grant = |id, ttl_secs| Request::LeaseGrant(LeaseGrantRequest { ttl_secs, id });
        let too_large = error(harness.apply(grant(1, 9_000_000_001)));
        assert_eq!(too_large.message(), "etcdserver: too large lease TTL");
        assert_eq!(too_large.code(), GrpcCode::OutOfRange);
        assert!(harness.apply(grant(1, 9_000_000_000)).error().is_none());
        let exists = error(harness.apply(grant(1, 10)));
        assert_eq!(exists.message(), "etcdserver: lease already exists");
        assert_eq!(exists.code(), GrpcCode::FailedPrecondition);
        let revoke = error(harness.apply(Request::LeaseRevoke(LeaseRevokeRequest { id: 2 })));
        assert_eq!(revoke.message(), "etcdserver: requested lease not found");
    }

    // The node's own failures reach clients with etcd's text and code (rpctypes ErrGRPCNoLeader is
    // Unavailable, ErrGRPCNotLeader FailedPrecondition).
    #[test]
    fn service_errors_convert() {
        let no_leader = Response::from(ServiceError::NoLeader);
        assert_eq!(
            no_leader.error().unwrap().message(),
            "etcdserver: no leader"
        );
        assert_eq!(no_leader.error().unwrap().code(), GrpcCode::Unavailable);
        assert_eq!(
            KvError::from(ServiceError::NotLeader).code(),
            GrpcCode::FailedPrecondition
        );
        assert_eq!(
            KvError::from(ServiceError::TooManyRequests).code(),
            GrpcCode::ResourceExhausted
        );
    }
}
