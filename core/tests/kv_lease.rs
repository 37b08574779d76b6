//! Leases: grant, revoke, keep-alive, time-to-live and list, and expiry decided by the leader
//! from `now` and applied through a replicated revoke.

mod kv_util;

// In a module named `kv` so that `cargo test -p detcd-core kv` selects these tests.
mod kv {

    use crate::kv_util::{Harness, error};
    use detcd_core::kv::*;
    use detcd_core::state_machine::{ServiceError, StateMachine};
    use detcd_core::time::{Duration, Instant};

    fn grant(harness: &mut Harness, id: LeaseId, ttl_secs: i64) -> LeaseGrantResponse {
        match harness.apply(Request::LeaseGrant(LeaseGrantRequest { ttl_secs, id })) {
            Response::LeaseGrant(response) => response,
            other => panic!("grant failed: {other:?}"),
        }
    }

    fn put_leased(harness: &mut Harness, key: &str, lease: LeaseId) {
        let request = PutRequest {
            key: key.into(),
            value: b"v".to_vec(),
            lease,
            ..PutRequest::default()
        };
        assert!(harness.apply(Request::Put(request)).error().is_none());
    }

    fn secs(s: u64) -> Instant {
        Instant::ZERO + Duration::from_secs(s)
    }

    fn leader_serve(harness: &mut Harness, now: Instant, request: Request) -> Response {
        harness
            .kv
            .serve(now, 0, 0, &request, true, &mut Vec::new())
            .expect("answered at once")
    }

    // etcd's minimum TTL is ceil(3/2 * election ticks * heartbeat) seconds (etcdserver/server.go);
    // lessor.Grant raises a smaller TTL to it.
    #[test]
    fn small_ttls_are_raised_to_the_minimum() {
        assert_eq!(
            KvConfig::lease_ttl_min_secs_for(10, Duration::from_millis(100)),
            2
        );
        assert_eq!(
            KvConfig::lease_ttl_min_secs_for(10, Duration::from_millis(500)),
            8
        );
        assert_eq!(KvConfig::default().lease_ttl_min_secs, 2);
        let mut harness = Harness::new(KvConfig {
            lease_ttl_min_secs: 5,
            ..KvConfig::default()
        });
        assert_eq!(grant(&mut harness, 1, 1).ttl_secs, 5);
        assert_eq!(grant(&mut harness, 2, 60).ttl_secs, 60);
    }

    // A grant without an id gets one chosen at apply time from the log index, so every member that
    // applies the same entry picks the same positive id.
    #[test]
    fn server_chosen_ids_agree_across_members() {
        let mut members = [Harness::default(), Harness::default()];
        let ids: Vec<LeaseId> = members
            .iter_mut()
            .map(|member| grant(member, 0, 10).id)
            .collect();
        assert_eq!(ids[0], ids[1]);
        assert!(ids[0] > 0);
        let second: Vec<LeaseId> = members
            .iter_mut()
            .map(|member| grant(member, 0, 10).id)
            .collect();
        assert_eq!(second[0], second[1]);
        assert_ne!(second[0], ids[0]);
        assert_eq!(members[0].kv.snapshot(), members[1].kv.snapshot());
    }

    // lessor.Revoke deletes every key attached to the lease in one write transaction (one revision),
    // in key order, and leaves other keys alone.
    #[test]
    fn revoke_deletes_attached_keys_in_one_revision() {
        let mut harness = Harness::default();
        grant(&mut harness, 7, 60);
        put_leased(&mut harness, "b", 7);
        put_leased(&mut harness, "a", 7);
        harness.put("c", "unleased");
        let revision = harness.revision();
        let response = harness.apply(Request::LeaseRevoke(LeaseRevokeRequest { id: 7 }));
        assert_eq!(
            response,
            Response::LeaseRevoke(LeaseRevokeResponse {
                header: ResponseHeader {
                    revision: revision + 1,
                    ..Default::default()
                }
            })
        );
        assert!(harness.get("a").is_none() && harness.get("b").is_none());
        assert!(harness.get("c").is_some());
        assert!(harness.kv.lessor().get(7).is_none());
    }

    // Expiry: the leader proposes a revoke once the deadline (grant seen at now + TTL) passes, once,
    // and again only after the retry interval if the revoke has not been applied.
    #[test]
    fn leader_expires_leases_once_with_retry() {
        let mut harness = Harness::default();
        harness.kv.leadership_changed(secs(0), true);
        grant(&mut harness, 1, 10);
        assert!(harness.kv.tick(secs(1), true, &mut Vec::new()).is_empty());
        assert_eq!(harness.kv.next_deadline(true), secs(11));
        assert!(harness.kv.tick(secs(10), true, &mut Vec::new()).is_empty());
        let revoke = Request::LeaseRevoke(LeaseRevokeRequest { id: 1 });
        assert_eq!(
            harness.kv.tick(secs(11), true, &mut Vec::new()),
            vec![revoke.clone()]
        );
        assert!(
            harness.kv.tick(secs(12), true, &mut Vec::new()).is_empty(),
            "a revoke in flight is not proposed again at once"
        );
        assert_eq!(harness.kv.next_deadline(true), secs(14));
        assert_eq!(
            harness.kv.tick(secs(14), true, &mut Vec::new()),
            vec![revoke.clone()]
        );
        harness.apply(revoke);
        assert!(harness.kv.tick(secs(30), true, &mut Vec::new()).is_empty());
        assert_eq!(harness.kv.next_deadline(true), Instant::NEVER);
    }

    // Keep-alive on the leader restarts the TTL from now; time-to-live reports the whole seconds
    // left, the granted TTL and the attached keys.
    #[test]
    fn keep_alive_and_time_to_live() {
        let mut harness = Harness::default();
        harness.kv.leadership_changed(secs(0), true);
        grant(&mut harness, 1, 10);
        put_leased(&mut harness, "k", 1);
        harness.kv.tick(secs(0), true, &mut Vec::new());
        let alive = leader_serve(
            &mut harness,
            secs(8),
            Request::LeaseKeepAlive(LeaseKeepAliveRequest { id: 1 }),
        );
        assert!(matches!(
            alive,
            Response::LeaseKeepAlive(LeaseKeepAliveResponse {
                id: 1,
                ttl_secs: 10,
                ..
            })
        ));
        assert!(harness.kv.tick(secs(17), true, &mut Vec::new()).is_empty());
        let Response::LeaseTimeToLive(ttl) = leader_serve(
            &mut harness,
            secs(13),
            Request::LeaseTimeToLive(LeaseTimeToLiveRequest { id: 1, keys: true }),
        ) else {
            panic!()
        };
        assert_eq!(
            (ttl.ttl_secs, ttl.granted_ttl_secs, ttl.keys),
            (5, 10, vec![b"k".to_vec()])
        );
        assert_eq!(harness.kv.tick(secs(18), true, &mut Vec::new()).len(), 1);
    }

    // v3rpc/lease.go: keep-alive of an unknown or expired lease answers TTL 0; time-to-live of an
    // unknown lease answers TTL -1; both are served only by the leader.
    #[test]
    fn unknown_leases_and_non_leaders() {
        let mut harness = Harness::default();
        harness.kv.leadership_changed(secs(0), true);
        let Response::LeaseKeepAlive(alive) = leader_serve(
            &mut harness,
            secs(0),
            Request::LeaseKeepAlive(LeaseKeepAliveRequest { id: 5 }),
        ) else {
            panic!()
        };
        assert_eq!(alive.ttl_secs, 0);
        let Response::LeaseTimeToLive(ttl) = leader_serve(
            &mut harness,
            secs(0),
            Request::LeaseTimeToLive(LeaseTimeToLiveRequest { id: 5, keys: false }),
        ) else {
            panic!()
        };
        assert_eq!(ttl.ttl_secs, -1);
        grant(&mut harness, 5, 10);
        harness.kv.tick(secs(0), true, &mut Vec::new());
        let Response::LeaseKeepAlive(expired) = leader_serve(
            &mut harness,
            secs(10),
            Request::LeaseKeepAlive(LeaseKeepAliveRequest { id: 5 }),
        ) else {
            panic!()
        };
        assert_eq!(expired.ttl_secs, 0, "an expired lease is not revived");
        let follower = harness
            .serve(
                0,
                0,
                Request::LeaseKeepAlive(LeaseKeepAliveRequest { id: 5 }),
            )
            .unwrap();
        assert_eq!(error(follower), KvError::Service(ServiceError::NotLeader));
    }

    // A new leader gives every lease a full TTL from the moment it leads (lessor.Promote), so moving
    // leadership never makes a lease expire early.
    #[test]
    fn new_leader_gives_fresh_deadlines() {
        let mut follower = Harness::default();
        grant(&mut follower, 1, 10);
        assert!(
            follower
                .kv
                .tick(secs(100), true, &mut Vec::new())
                .is_empty()
        );
        follower.kv.leadership_changed(secs(100), true);
        assert!(
            follower
                .kv
                .tick(secs(109), true, &mut Vec::new())
                .is_empty()
        );
        assert_eq!(follower.kv.tick(secs(110), true, &mut Vec::new()).len(), 1);
    }

    // A deposed leader (lessor.Demote) forgets its deadlines and never expires anything.
    #[test]
    fn deposed_leader_expires_nothing() {
        let mut harness = Harness::default();
        harness.kv.leadership_changed(secs(0), true);
        grant(&mut harness, 1, 10);
        harness.kv.tick(secs(0), true, &mut Vec::new());
        harness.kv.leadership_changed(secs(5), false);
        assert!(harness.kv.tick(secs(60), true, &mut Vec::new()).is_empty());
        assert_eq!(harness.kv.next_deadline(true), Instant::NEVER);
    }

    // LeaseLeases lists every lease, in id order, on any member.
    #[test]
    fn leases_are_listed() {
        let mut harness = Harness::default();
        grant(&mut harness, 3, 10);
        grant(&mut harness, 1, 10);
        let Some(Response::LeaseLeases(list)) = harness.serve(0, 0, Request::LeaseLeases) else {
            panic!()
        };
        assert_eq!(list.leases, [1, 3]);
    }
}
