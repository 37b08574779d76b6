//! Range options, puts, deletes and txns behave as etcd's applier does.

mod kv_util;

// In a module named `kv` so that `cargo test -p detcd-core kv` selects these tests.
mod kv {

    use crate::kv_util::{Harness, compare, delete_op, keys, put_op, range_op};
    use detcd_core::kv::*;
    use detcd_core::state_machine::{Route, StateMachine};

    fn range(key: &str, range_end: &str) -> RangeRequest {
        RangeRequest {
            key: key.into(),
            range_end: range_end.into(),
            ..RangeRequest::default()
        }
    }

    fn abc() -> Harness {
        let mut harness = Harness::default();
        harness.put("a", "3");
        harness.put("b", "1");
        harness.put("c", "2");
        harness.put("b", "4");
        harness
    }

    // etcd's range_end convention: empty is one key, "\0" every key from `key` on, "\0"/"\0" every
    // key, a prefix end the keys with the prefix, an end at or before the key nothing.
    #[test]
    fn range_end_forms() {
        let mut harness = abc();
        harness.put("ba", "5");
        assert_eq!(keys(&harness.range_ok(range("b", "")).kvs), ["b"]);
        assert_eq!(
            keys(&harness.range_ok(range("b", "\0")).kvs),
            ["b", "ba", "c"]
        );
        assert_eq!(
            keys(&harness.range_ok(range("\0", "\0")).kvs),
            ["a", "b", "ba", "c"]
        );
        assert_eq!(keys(&harness.range_ok(range("b", "c")).kvs), ["b", "ba"]);
        assert!(harness.range_ok(range("c", "b")).kvs.is_empty());
    }

    // The store revision starts at 1 and rises once per write; a key keeps its create revision and
    // counts its versions until deleted, after which it starts again at version 1.
    #[test]
    fn revisions_and_versions() {
        let mut harness = Harness::default();
        assert_eq!(harness.revision(), 1);
        assert_eq!(harness.put("k", "1").header.revision, 2);
        assert_eq!(harness.put("k", "2").header.revision, 3);
        let kv = harness.get("k").unwrap();
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 3, 2));
        let deleted = harness.delete("k", "");
        assert_eq!((deleted.header.revision, deleted.deleted), (4, 1));
        assert_eq!(deleted.prev_kvs[0].value, b"2");
        harness.put("k", "3");
        let kv = harness.get("k").unwrap();
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (5, 5, 1));
        // A delete that removes nothing writes nothing, so the revision stays.
        assert_eq!(harness.delete("nothing", "").header.revision, 5);
    }

    // applierV3backend.Range: `count` is every key in the range, `more` says the limit cut some off.
    #[test]
    fn limit_count_and_more() {
        let mut harness = abc();
        let limited = harness.range_ok(RangeRequest {
            limit: 2,
            ..range("a", "\0")
        });
        assert_eq!(
            (keys(&limited.kvs), limited.count, limited.more),
            (vec!["a".into(), "b".into()], 3, true)
        );
        let exact = harness.range_ok(RangeRequest {
            limit: 3,
            ..range("a", "\0")
        });
        assert!(!exact.more);
        let counted = harness.range_ok(RangeRequest {
            count_only: true,
            ..range("a", "\0")
        });
        assert_eq!((counted.kvs.len(), counted.count), (0, 3));
        let bare = harness.range_ok(RangeRequest {
            keys_only: true,
            ..range("a", "\0")
        });
        assert!(
            bare.kvs
                .iter()
                .all(|kv| kv.value.is_empty() && kv.version > 0)
        );
    }

    // Sorting: targets other than the key default to ascending; descending reverses; the limit
    // applies after sorting.
    #[test]
    fn sort_orders_and_targets() {
        let mut harness = abc();
        let sorted = |harness: &mut Harness, sort_order, sort_target, limit| {
            keys(
                &harness
                    .range_ok(RangeRequest {
                        sort_order,
                        sort_target,
                        limit,
                        ..range("a", "\0")
                    })
                    .kvs,
            )
        };
        assert_eq!(
            sorted(&mut harness, SortOrder::Descend, SortTarget::Key, 0),
            ["c", "b", "a"]
        );
        assert_eq!(
            sorted(&mut harness, SortOrder::None, SortTarget::Value, 0),
            ["c", "a", "b"]
        );
        assert_eq!(
            sorted(&mut harness, SortOrder::Descend, SortTarget::Mod, 1),
            ["b"]
        );
        assert_eq!(
            sorted(&mut harness, SortOrder::Ascend, SortTarget::Create, 0),
            ["a", "b", "c"]
        );
        assert_eq!(
            sorted(&mut harness, SortOrder::Descend, SortTarget::Version, 1),
            ["b"]
        );
    }

    // The min/max mod and create revision filters drop keys but not from `count`.
    #[test]
    fn revision_filters() {
        let mut harness = abc();
        let filtered = harness.range_ok(RangeRequest {
            min_mod_revision: 4,
            ..range("a", "\0")
        });
        assert_eq!(keys(&filtered.kvs), ["b", "c"]);
        assert_eq!(filtered.count, 3);
        let created = harness.range_ok(RangeRequest {
            max_create_revision: 3,
            ..range("a", "\0")
        });
        assert_eq!(keys(&created.kvs), ["a", "b"]);
        let window = harness.range_ok(RangeRequest {
            min_create_revision: 3,
            max_mod_revision: 4,
            ..range("a", "\0")
        });
        assert_eq!(keys(&window.kvs), ["c"]);
    }

    // A read at a past revision sees the store as it was; the header carries the current revision.
    #[test]
    fn historical_reads() {
        let mut harness = abc();
        let past = harness.range_ok(RangeRequest {
            revision: 3,
            ..range("a", "\0")
        });
        assert_eq!(keys(&past.kvs), ["a", "b"]);
        assert_eq!(past.kvs[1].value, b"1");
        assert_eq!(past.header.revision, 5);
    }

    // Put's prev_kv returns the key before the put; ignore_lease keeps the key's lease.
    #[test]
    fn put_options() {
        let mut harness = Harness::default();
        harness.apply(Request::LeaseGrant(LeaseGrantRequest {
            ttl_secs: 60,
            id: 9,
        }));
        let leased = PutRequest {
            key: "k".into(),
            value: "1".into(),
            lease: 9,
            ..PutRequest::default()
        };
        assert_eq!(
            harness.apply(Request::Put(leased.clone())),
            Response::Put(PutResponse {
                header: ResponseHeader {
                    revision: 2,
                    ..Default::default()
                },
                prev_kv: None
            })
        );
        let keep_lease = PutRequest {
            key: "k".into(),
            value: "2".into(),
            prev_kv: true,
            ignore_lease: true,
            ..PutRequest::default()
        };
        let Response::Put(response) = harness.apply(Request::Put(keep_lease)) else {
            panic!()
        };
        assert_eq!(response.prev_kv.unwrap().value, b"1");
        assert_eq!(harness.get("k").unwrap().lease, 9);
        let drop_lease = PutRequest {
            key: "k".into(),
            value: "3".into(),
            ..PutRequest::default()
        };
        harness.apply(Request::Put(drop_lease));
        assert_eq!(harness.get("k").unwrap().lease, 0);
        assert!(
            harness.kv.lessor().get(9).unwrap().keys.is_empty(),
            "a put without the lease detaches the key"
        );
    }

    // All writes of a txn share one main revision; reads inside it see its earlier writes; the
    // branch is chosen by the compares.
    #[test]
    fn txn_writes_share_a_revision() {
        let mut harness = abc();
        let request = TxnRequest {
            compare: vec![compare(
                "a",
                CompareResult::Equal,
                CompareTarget::Value(b"3".to_vec()),
            )],
            success: vec![
                put_op("x", "1"),
                delete_op("b", ""),
                put_op("y", "2"),
                range_op("x", "z"),
            ],
            failure: vec![put_op("never", "1")],
        };
        let Response::Txn(response) = harness.apply(Request::Txn(request)) else {
            panic!()
        };
        assert!(response.succeeded);
        assert_eq!(response.header.revision, 6);
        let ResponseOp::Range(read) = &response.responses[3] else {
            panic!()
        };
        assert_eq!(keys(&read.kvs), ["x", "y"]);
        assert!(read.kvs.iter().all(|kv| kv.mod_revision == 6));
        assert!(harness.get("b").is_none());
        assert!(harness.get("never").is_none());
    }

    // applyCompare: a compare over a range must hold for every key; with no key, a value compare
    // fails and the others compare against 0; each of the four results works.
    #[test]
    fn compare_rules() {
        let mut harness = abc();
        let holds = |harness: &mut Harness, compare: Compare| {
            let request = TxnRequest {
                compare: vec![compare],
                ..TxnRequest::default()
            };
            let Some(Response::Txn(response)) = harness.serve(0, 0, Request::Txn(request)) else {
                panic!()
            };
            response.succeeded
        };
        let ranged = |result, target| Compare {
            result,
            target,
            key: "a".into(),
            range_end: "d".into(),
        };
        assert!(holds(
            &mut harness,
            ranged(CompareResult::Greater, CompareTarget::Create(1))
        ));
        assert!(!holds(
            &mut harness,
            ranged(CompareResult::Equal, CompareTarget::Version(1))
        ));
        assert!(holds(
            &mut harness,
            ranged(CompareResult::Less, CompareTarget::Mod(6))
        ));
        assert!(holds(
            &mut harness,
            ranged(CompareResult::NotEqual, CompareTarget::Value(b"9".to_vec()))
        ));
        assert!(holds(
            &mut harness,
            compare("missing", CompareResult::Equal, CompareTarget::Version(0))
        ));
        assert!(holds(
            &mut harness,
            compare("missing", CompareResult::Equal, CompareTarget::Lease(0))
        ));
        assert!(!holds(
            &mut harness,
            compare(
                "missing",
                CompareResult::Equal,
                CompareTarget::Value(Vec::new())
            )
        ));
    }

    // compareToPath: nested txns choose their branch from the store as it was before the txn, not
    // after the outer txn's earlier writes.
    #[test]
    fn nested_txn_compares_see_the_store_before_the_txn() {
        let mut harness = Harness::default();
        let nested = TxnRequest {
            compare: vec![compare(
                "k",
                CompareResult::Equal,
                CompareTarget::Version(0),
            )],
            success: vec![put_op("nested", "saw-nothing")],
            failure: vec![put_op("nested", "saw-k")],
        };
        let request = TxnRequest {
            success: vec![put_op("k", "1"), RequestOp::Txn(nested)],
            ..TxnRequest::default()
        };
        harness.apply(Request::Txn(request));
        assert_eq!(harness.get("nested").unwrap().value, b"saw-nothing");
    }

    // etcd replicates every txn that writes and serves read-only txns like ranges; serializable
    // requests skip the read index.
    #[test]
    fn routes() {
        let harness = Harness::default();
        let route = |request: Request| harness.kv.route(&request);
        assert_eq!(
            route(Request::Range(range("a", ""))),
            Route::Read { linearizable: true }
        );
        assert_eq!(
            route(Request::Range(RangeRequest {
                serializable: true,
                ..range("a", "")
            })),
            Route::Read {
                linearizable: false
            }
        );
        let read_only = TxnRequest {
            success: vec![range_op("a", "")],
            ..TxnRequest::default()
        };
        assert_eq!(
            route(Request::Txn(read_only)),
            Route::Read { linearizable: true }
        );
        let nested_write = TxnRequest {
            failure: vec![RequestOp::Txn(TxnRequest {
                success: vec![put_op("a", "1")],
                ..TxnRequest::default()
            })],
            ..TxnRequest::default()
        };
        assert_eq!(route(Request::Txn(nested_write)), Route::Propose);
        assert_eq!(route(crate::kv_util::put("a", "1")), Route::Propose);
        assert_eq!(
            route(Request::LeaseKeepAlive(LeaseKeepAliveRequest { id: 1 })),
            Route::Leader
        );
        assert_eq!(route(Request::Watch(WatchRequest::Progress)), Route::Local);
    }
}
