//! Snapshot and restore of the whole replicated state, HashKV, and the space quota with its
//! NOSPACE alarm.

mod kv_util;

// In a module named `kv` so that `cargo test -p detcd-core kv` selects these tests.
mod kv {

    use crate::kv_util::{Harness, delete_op, error, put, put_op};
    use detcd_core::kv::*;
    use detcd_core::state_machine::StateMachine;
    use detcd_core::time::Instant;

    fn hash(harness: &mut Harness, revision: i64) -> Response {
        harness
            .serve(0, 0, Request::HashKv(HashKvRequest { revision }))
            .unwrap()
    }

    fn alarms(harness: &mut Harness) -> Vec<AlarmMember> {
        let request = Request::Alarm(AlarmRequest {
            action: AlarmAction::Get,
            member_id: 0,
            alarm: None,
        });
        let Some(Response::Alarm(response)) = harness.serve(0, 0, request) else {
            panic!()
        };
        response.alarms
    }

    /// A store with history, a compaction, leases with keys and an alarm.
    fn busy_member() -> Harness {
        let mut harness = Harness::default();
        harness.apply(Request::LeaseGrant(LeaseGrantRequest {
            ttl_secs: 30,
            id: 4,
        }));
        for i in 0..6 {
            harness.put(&format!("k{}", i % 3), &i.to_string());
        }
        let leased = PutRequest {
            key: b"leased".to_vec(),
            value: b"v".to_vec(),
            lease: 4,
            ..PutRequest::default()
        };
        harness.apply(Request::Put(leased));
        harness.delete("k1", "");
        harness.apply(Request::Compact(CompactRequest {
            revision: 5,
            physical: true,
        }));
        harness.apply(Request::Alarm(AlarmRequest {
            action: AlarmAction::Activate,
            member_id: 3,
            alarm: Some(AlarmType::Corrupt),
        }));
        harness
    }

    // snapshot/restore carries the MVCC history, the compaction point, the leases with their TTLs
    // and keys, the alarms and the applied index: the restored member answers as the original does
    // and keeps agreeing with it as both apply the same entries.
    #[test]
    fn snapshot_round_trips_the_whole_state() {
        let mut original = busy_member();
        let mut restored = Harness::default();
        restored
            .kv
            .restore(&original.kv.snapshot())
            .expect("a snapshot decodes");
        restored.index = original.index;
        assert_eq!(restored.kv.snapshot(), original.kv.snapshot());
        // What the store derives rather than carries (each live key's newest create revision,
        // version and lease, which puts build on) is rebuilt alike.
        assert_eq!(restored.kv.store(), original.kv.store());
        for revision in [0, 5, 9] {
            assert_eq!(hash(&mut restored, revision), hash(&mut original, revision));
        }
        assert_eq!(restored.kv.lessor().get(4), original.kv.lessor().get(4));
        assert_eq!(restored.kv.lessor().get(4).unwrap().keys.len(), 1);
        assert_eq!(alarms(&mut restored), alarms(&mut original));
        assert_eq!(
            restored.serve(0, 0, Request::Status),
            original.serve(0, 0, Request::Status)
        );
        let history = RangeRequest {
            key: vec![0],
            range_end: vec![0],
            revision: 5,
            ..RangeRequest::default()
        };
        assert_eq!(restored.range(history.clone()), original.range(history));
        let keep_value = PutRequest {
            key: b"k2".to_vec(),
            ignore_value: true,
            prev_kv: true,
            ..PutRequest::default()
        };
        for request in [
            put("k9", "x"),
            put("k0", "y"),
            put("k1", "revived"),
            put("leased", "kept lease"),
            Request::Put(keep_value),
            Request::LeaseRevoke(LeaseRevokeRequest { id: 4 }),
            Request::LeaseGrant(LeaseGrantRequest::default()),
        ] {
            assert_eq!(restored.apply(request.clone()), original.apply(request));
        }
        assert_eq!(hash(&mut restored, 0), hash(&mut original, 0));
    }

    // HashKV is equal on members that applied the same entries, changes with the content, can be
    // taken at a past revision, and refuses revisions outside the history (etcd's HashByRev).
    #[test]
    fn hash_kv() {
        let mut first = busy_member();
        let mut second = busy_member();
        let Response::HashKv(current) = hash(&mut first, 0) else {
            panic!()
        };
        assert_eq!((current.hash_revision, current.compact_revision), (9, 5));
        assert_eq!(hash(&mut second, 0), Response::HashKv(current));
        let Response::HashKv(past) = hash(&mut first, 6) else {
            panic!()
        };
        assert_ne!(past.hash, current.hash);
        second.put("extra", "1");
        let Response::HashKv(changed) = hash(&mut second, 0) else {
            panic!()
        };
        assert_ne!(changed.hash, current.hash);
        let Response::HashKv(same_prefix) = hash(&mut second, 9) else {
            panic!()
        };
        assert_eq!(
            same_prefix.hash, current.hash,
            "a hash up to a revision ignores later changes"
        );
        assert_eq!(error(hash(&mut first, 10)), KvError::FutureRevision);
        assert_eq!(error(hash(&mut first, 4)), KvError::Compacted);
    }

    // Quota (etcd's quotaKVServer and applierV3Capped): once a write would take the size estimate past
    // quota_bytes, the NOSPACE alarm is raised and puts, txns with a put and lease grants fail with
    // "etcdserver: mvcc: database space exceeded" (ResourceExhausted); reads, deletes, delete-only
    // txns and compaction still work; disarming the alarm lets writes in again.
    #[test]
    fn nospace_alarm() {
        let mut harness = Harness::new(KvConfig {
            quota_bytes: 4096,
            ..KvConfig::default()
        });
        let value = "x".repeat(200);
        let mut written = 0;
        let refused = loop {
            match harness.apply(put(&format!("k{written}"), &value)) {
                Response::Put(_) => written += 1,
                Response::Error(error) => break error,
                other => panic!("{other:?}"),
            }
            assert!(written < 100, "the quota must stop writes");
        };
        assert_eq!(
            refused.message(),
            "etcdserver: mvcc: database space exceeded"
        );
        assert_eq!(refused.code(), GrpcCode::ResourceExhausted);
        assert_eq!(
            alarms(&mut harness),
            [AlarmMember {
                member_id: 0,
                alarm: AlarmType::NoSpace
            }]
        );

        assert_eq!(error(harness.apply(put("small", "1"))), KvError::NoSpace);
        let write_txn = TxnRequest {
            failure: vec![put_op("t", "1")],
            ..TxnRequest::default()
        };
        assert_eq!(
            error(harness.apply(Request::Txn(write_txn))),
            KvError::NoSpace
        );
        assert_eq!(
            error(harness.apply(Request::LeaseGrant(LeaseGrantRequest {
                ttl_secs: 10,
                id: 1
            }))),
            KvError::NoSpace
        );

        assert!(harness.get("k0").is_some());
        let delete_txn = TxnRequest {
            success: vec![delete_op("k0", "")],
            ..TxnRequest::default()
        };
        assert!(harness.apply(Request::Txn(delete_txn)).error().is_none());
        assert_eq!(harness.delete("k1", "l").deleted as usize, written - 1);
        let revision = harness.revision();
        assert!(
            harness
                .apply(Request::Compact(CompactRequest {
                    revision,
                    physical: true
                }))
                .error()
                .is_none()
        );
        assert_eq!(
            error(harness.apply(put("small", "1"))),
            KvError::NoSpace,
            "the alarm stays until disarmed"
        );

        let disarm = AlarmRequest {
            action: AlarmAction::Deactivate,
            member_id: 0,
            alarm: Some(AlarmType::NoSpace),
        };
        assert!(harness.apply(Request::Alarm(disarm)).error().is_none());
        assert!(alarms(&mut harness).is_empty());
        assert!(harness.apply(put("small", "1")).error().is_none());
    }

    // The status reports the size estimate the quota uses, the applied index and the alarms.
    #[test]
    fn status_reports_size_and_index() {
        let mut harness = busy_member();
        let Some(Response::Status(status)) = harness.kv.serve(
            Instant::ZERO,
            0,
            0,
            &Request::Status,
            false,
            &mut Vec::new(),
        ) else {
            panic!()
        };
        assert_eq!(status.db_size_bytes, harness.kv.size_bytes());
        assert_eq!(status.raft_applied_index, harness.index);
        assert_eq!(
            status.alarms,
            [AlarmMember {
                member_id: 3,
                alarm: AlarmType::Corrupt
            }]
        );
    }
    /// etcd's mvcc metrics count every key a member puts or deletes, inside txns and by lease
    /// revocation too, and the keys that exist; a restored member counts its keys afresh.
    #[test]
    fn counters_count_every_put_and_delete() {
        let mut harness = Harness::default();
        harness.put("a", "1");
        harness.put("a", "2");
        let txn = TxnRequest {
            success: vec![RequestOp::Put(PutRequest {
                key: b"b".to_vec(),
                value: b"3".to_vec(),
                ..PutRequest::default()
            })],
            ..TxnRequest::default()
        };
        harness.apply(Request::Txn(txn));
        let grant = LeaseGrantRequest {
            ttl_secs: 60,
            id: 7,
        };
        harness.apply(Request::LeaseGrant(grant));
        harness.apply(Request::Put(PutRequest {
            key: b"c".to_vec(),
            value: b"4".to_vec(),
            lease: 7,
            ..PutRequest::default()
        }));
        harness.delete("a", "");
        harness.apply(Request::LeaseRevoke(LeaseRevokeRequest { id: 7 }));
        let counters = harness.kv.counters();
        assert_eq!((counters.puts, counters.deletes, counters.keys), (4, 2, 1));

        let mut restored = Harness::default();
        restored
            .kv
            .restore(&harness.kv.snapshot())
            .expect("a snapshot decodes");
        assert_eq!(restored.kv.counters().keys, 1);
    }
}
