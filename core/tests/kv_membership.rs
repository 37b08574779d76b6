//! etcd's Cluster service: configuration changes go through Raft as configuration entries,
//! attribute changes as ordinary entries, and every member checks a change alike as it applies
//! it.

use std::collections::BTreeMap;

use detcd_core::kv::{
    KvConfig, KvStore, MemberAttributes, MemberRequest, Request, Response, bootstrap_snapshot,
};
use detcd_core::raft::{ConfChange, Membership};
use detcd_core::state_machine::{Notifications, Route, StateMachine};

fn add(id: u64, learner: bool, url: &str) -> MemberRequest {
    MemberRequest::Add {
        id,
        learner,
        peer_urls: vec![url.to_string()],
    }
}

/// A store whose members are 1 and 2, at `http://a:1` and `http://b:2`.
fn two_members() -> KvStore {
    let attributes = |name: &str, url: &str| MemberAttributes {
        name: name.into(),
        peer_urls: vec![url.into()],
        client_urls: Vec::new(),
    };
    let members = BTreeMap::from([
        (1, attributes("a", "http://a:1")),
        (2, attributes("b", "http://b:2")),
    ]);
    let mut store = KvStore::new(KvConfig::default());
    store
        .restore(&bootstrap_snapshot(members))
        .expect("a bootstrap snapshot restores");
    store
}

// Rule: each configuration request is routed as the change it names, so it commits by a quorum
// of the configuration before it, one change at a time; attribute changes are ordinary entries.
#[test]
fn member_requests_route_as_configuration_changes() {
    let store = KvStore::new(KvConfig::default());
    let cases = [
        (
            add(6, true, "http://f:6"),
            Route::ConfChange(ConfChange::AddLearner(6)),
        ),
        (
            add(6, false, "http://f:6"),
            Route::ConfChange(ConfChange::AddVoter(6)),
        ),
        (
            MemberRequest::Promote { id: 6 },
            Route::ConfChange(ConfChange::Promote(6)),
        ),
        (
            MemberRequest::Remove { id: 2 },
            Route::ConfChange(ConfChange::Remove(2)),
        ),
        (
            MemberRequest::Update {
                id: 2,
                peer_urls: vec!["http://x:1".into()],
            },
            Route::Propose,
        ),
        (
            MemberRequest::Publish {
                id: 2,
                name: "b".into(),
                client_urls: vec![],
            },
            Route::Propose,
        ),
    ];
    for (request, route) in cases {
        assert_eq!(store.route(&Request::Member(request)), route);
    }
}

// Rule: a new member may not take peer URLs another member has, the cluster holds one learner
// at most, and a removed member's id never comes back (etcd's messages).
#[test]
fn conf_changes_are_checked_against_the_members() {
    let mut store = two_members();
    let membership = Membership::with_voters([1, 2]);
    let check = |store: &KvStore, request: MemberRequest, membership: &Membership| {
        store.check_conf_change(&Request::Member(request), membership)
    };
    assert_eq!(
        check(&store, add(3, false, "http://b:2"), &membership),
        Err("etcdserver: Peer URLs already exists".into())
    );
    assert_eq!(
        check(&store, add(3, false, "http://c:3"), &membership),
        Ok(())
    );
    let with_learner = membership.apply(&ConfChange::AddLearner(4)).unwrap();
    assert_eq!(
        check(&store, add(3, true, "http://c:3"), &with_learner),
        Err("etcdserver: too many learner members in cluster".into())
    );
    let remove = Request::Member(MemberRequest::Remove { id: 2 });
    let after = membership.apply(&ConfChange::Remove(2)).unwrap();
    let Response::MemberList(list) = store.apply_conf_change(2, &remove, &after) else {
        panic!("a removal answers with the member list");
    };
    assert_eq!(list.voters, [1]);
    assert_eq!(list.attributes.len(), 1);
    assert!(store.removed_members().contains(&2));
    assert_eq!(
        check(&store, add(2, false, "http://b:2"), &after),
        Err("etcdserver: member not found".into())
    );
}

// Rule: MemberUpdate and a member's publish change its attributes on every member alike; an
// update to another member's URLs, or of a member that does not exist, is refused.
#[test]
fn attribute_changes_apply_alike() {
    let mut store = two_members();
    let mut notify = Notifications::new();
    let generation = store.members_generation();
    let publish = MemberRequest::Publish {
        id: 2,
        name: "b2".into(),
        client_urls: vec!["http://b:3".into()],
    };
    let answer = store.apply(2, &Request::Member(publish), &mut notify);
    assert!(matches!(answer, Response::MemberList(_)), "{answer:?}");
    assert_ne!(store.members_generation(), generation);
    assert_eq!(store.members()[&2].name, "b2");
    assert_eq!(store.members()[&2].client_urls, ["http://b:3"]);
    let taken = MemberRequest::Update {
        id: 2,
        peer_urls: vec!["http://a:1".into()],
    };
    let answer = store.apply(3, &Request::Member(taken), &mut notify);
    assert_eq!(
        answer.error().map(|error| error.message()),
        Some("etcdserver: Peer URLs already exists")
    );
    let unknown = MemberRequest::Update {
        id: 9,
        peer_urls: vec!["http://z:9".into()],
    };
    let answer = store.apply(4, &Request::Member(unknown), &mut notify);
    assert_eq!(
        answer.error().map(|error| error.message()),
        Some("etcdserver: member not found")
    );
    let moved = MemberRequest::Update {
        id: 2,
        peer_urls: vec!["http://b:9".into()],
    };
    store.apply(5, &Request::Member(moved), &mut notify);
    assert_eq!(store.members()[&2].peer_urls, ["http://b:9"]);
}
