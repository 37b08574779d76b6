//! etcd's Cluster service requests go through Raft as configuration changes.

use detcd_core::kv::{KvConfig, KvStore, MemberRequest, Request};
use detcd_core::raft::ConfChange;
use detcd_core::state_machine::{Route, StateMachine};

// Rule: each membership request is routed as the configuration change it names, so it commits
// by a quorum of the configuration before it, one change at a time.
#[test]
fn member_requests_route_as_configuration_changes() {
    let store = KvStore::new(KvConfig::default());
    let cases = [
        (
            MemberRequest::Add {
                id: 6,
                learner: true,
            },
            ConfChange::AddLearner(6),
        ),
        (
            MemberRequest::Add {
                id: 6,
                learner: false,
            },
            ConfChange::AddVoter(6),
        ),
        (MemberRequest::Promote { id: 6 }, ConfChange::Promote(6)),
        (MemberRequest::Remove { id: 2 }, ConfChange::Remove(2)),
    ];
    for (request, change) in cases {
        assert_eq!(
            store.route(&Request::Member(request)),
            Route::ConfChange(change)
        );
    }
}
