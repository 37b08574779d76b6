//! A candidate asks for votes only once its new term and its vote for itself are durable (as
//! etcd sends a Ready's messages after saving its HardState). A member that could win a term it
//! has not recorded could lead it, crash before the fsync, come back in the term before, run
//! for the same term again, win it again from the same voters and lead it a second time with
//! another log: two different entries at one (index, term).
use std::cell::RefCell;
use std::rc::Rc;

use detcd_core::raft::MessageBody;
use detcd_core::testing::Cluster;
use detcd_core::{Duration, NodeConfig, NodeId};

// Rule: every vote request leaves a member whose disk already holds the request's term and a
// vote for itself. Checked after every event of three members electing leaders through crashes
// (a slow disk keeps each fsync well behind the send).
#[test]
fn vote_requests_leave_after_the_candidates_term_and_vote_are_durable() {
    let configs = (1..=3).map(|id| {
        let mut config = NodeConfig::new(id, 9100 + id);
        config.raft.pre_vote = false;
        config
    });
    let mut cluster = Cluster::with_configs(configs.collect(), 91);
    let requests: Rc<RefCell<Vec<(NodeId, u64)>>> = Rc::default();
    let recorder = Rc::clone(&requests);
    cluster.set_filter(Box::new(move |from, _, message| {
        if matches!(message.body, MessageBody::Vote { .. }) {
            recorder.borrow_mut().push((from, message.term));
        }
        true
    }));
    let mut checked = 0;
    for round in 0..6 {
        cluster.run_until(Duration::from_secs(3), |cluster| {
            for (candidate, term) in requests.borrow_mut().drain(..) {
                let durable = cluster.durable(candidate).hard_state;
                assert!(
                    durable.term == term && durable.voted_for == Some(candidate),
                    "member {candidate} asked for votes in term {term} while its disk holds \
                     {durable:?}"
                );
                checked += 1;
            }
            false
        });
        // Depose the leader the hard way, so the next round elects again.
        if let Some(leader) = cluster.leader() {
            cluster.crash(leader);
            cluster.run_for(Duration::from_millis(100 * (round + 1)));
            cluster.restart(leader);
        }
    }
    assert!(checked >= 6, "only {checked} vote requests were seen");
}
