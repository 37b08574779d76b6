//! A five-member cluster elects one leader and commits writes proposed to any member.
use detcd_core::Duration;
use detcd_core::testing::{Cluster, JournalRequest, JournalResponse};

#[test]
fn five_members_elect_a_leader_and_commit_writes() {
    let mut cluster = Cluster::new(5, 7);
    let leader = cluster.elect();
    let follower = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    let a = cluster.request(leader, JournalRequest::Append(10));
    let b = cluster.request(follower, JournalRequest::Append(20));
    cluster.run_for(Duration::from_secs(1));
    assert!(
        matches!(cluster.reply(a), Some(JournalResponse::Appended { .. })),
        "{:?}",
        cluster.reply(a)
    );
    assert!(
        matches!(cluster.reply(b), Some(JournalResponse::Appended { .. })),
        "{:?}",
        cluster.reply(b)
    );
    let read = cluster.request(follower, JournalRequest::Read { linearizable: true });
    cluster.run_for(Duration::from_secs(1));
    assert_eq!(
        cluster.reply(read),
        Some(&JournalResponse::Values(vec![10, 20]))
    );
    cluster.check_log_matching();
    cluster.check_state_machine_safety();
}
