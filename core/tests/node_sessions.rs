//! Sessions: read contexts (and proposal origins) are tagged per incarnation, so a ReadIndex
//! answer meant for a read of a previous incarnation never completes a new read with an older
//! index, which would be a stale read; a proposal takes effect once however often the network
//! delivers it; and what a member remembers of clients stays small as clients come and go.
use detcd_core::raft::MessageBody;
use detcd_core::testing::{Cluster, JournalRequest, JournalResponse};
use detcd_core::{Duration, NodeConfig};

#[test]
fn a_read_index_answer_from_before_a_restart_does_not_serve_a_new_read() {
    let configs = (1..=3).map(|id| {
        let mut config = NodeConfig::new(id, 5100 + id);
        // Long leases and check-quorum windows, so the scripted phase below fits in one.
        config.raft.election_timeout = Duration::from_secs(5);
        config
    });
    let mut cluster = Cluster::with_configs(configs.collect(), 51);
    let leader = cluster.elect();
    let follower = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    let w0 = cluster.request(leader, JournalRequest::Append(1));
    cluster.run_for(Duration::from_millis(500));
    assert!(matches!(
        cluster.reply(w0),
        Some(JournalResponse::Appended { .. })
    ));
    assert_eq!(cluster.node(follower).state().applied.len(), 1);

    // The leader cannot confirm reads for a while (heartbeat answers are lost).
    cluster.set_filter(Box::new(|_, _, m| {
        !matches!(m.body, MessageBody::HeartbeatResponse { .. })
    }));
    // A linearizable read at the follower: read context 1, registered on the leader at index c.
    let _old_read = cluster.request(follower, JournalRequest::Read { linearizable: true });
    cluster.run_for(Duration::from_millis(50));
    // The follower crashes and restarts; appends to it are lost from now on.
    cluster.crash(follower);
    cluster.restart(follower);
    cluster.set_filter(Box::new(move |_, to, m| match m.body {
        MessageBody::HeartbeatResponse { .. } => false,
        MessageBody::Append { .. } => to != follower,
        _ => true,
    }));
    cluster.run_for(Duration::from_millis(300));
    assert_eq!(cluster.node(follower).raft().leader(), Some(leader));
    // A write commits (leader + the other follower) and is acknowledged.
    let w1 = cluster.request(leader, JournalRequest::Append(2));
    cluster.run_for(Duration::from_millis(100));
    assert!(matches!(
        cluster.reply(w1),
        Some(JournalResponse::Appended { .. })
    ));
    // Only now a new linearizable read at the restarted follower: it must see the write.
    let new_read = cluster.request(follower, JournalRequest::Read { linearizable: true });
    cluster.set_filter(Box::new(move |_, to, m| {
        !matches!(m.body, MessageBody::Append { .. }) || to != follower
    }));
    cluster.run_for(Duration::from_secs(2));
    let reply = cluster.reply(new_read).cloned();
    assert!(
        !matches!(&reply, Some(JournalResponse::Values(values)) if !values.contains(&2)),
        "stale linearizable read: {reply:?} misses a write acknowledged before the read began"
    );
}

/// An entry a member proposed before it restarted carries the old session, so when the restarted
/// member applies it, it does not answer a new request that happens to reuse the same ids.
#[test]
fn an_entry_proposed_before_a_restart_does_not_answer_a_new_request() {
    let mut cluster = Cluster::new(3, 52);
    let leader = cluster.elect();
    let follower = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    // The follower forwards request 7 (value 1) and crashes; the proposal commits without it.
    cluster.request_with_id(follower, 7, JournalRequest::Append(1));
    cluster.crash(follower);
    cluster.run_for(Duration::from_millis(300));
    cluster.restart(follower);
    // Its new incarnation learns the leader from heartbeats but gets no entries yet, and receives
    // another request 7 (value 2); then it catches up and applies both entries.
    cluster.set_filter(Box::new(move |_, to, message| {
        to != follower || !matches!(message.body, MessageBody::Append { .. })
    }));
    cluster.run_for(Duration::from_millis(500));
    cluster.request_with_id(follower, 7, JournalRequest::Append(2));
    cluster.run_for(Duration::from_millis(100));
    cluster.clear_filter();
    cluster.run_for(Duration::from_secs(3));
    let answers: Vec<&JournalResponse> = cluster
        .replies()
        .iter()
        .filter(|r| r.request == 7 && r.node == follower)
        .map(|r| &r.body)
        .collect();
    let [JournalResponse::Appended { index }] = answers[..] else {
        panic!("one answer expected: {answers:?}")
    };
    let applied = &cluster.node(follower).state().applied;
    assert_eq!(
        applied.iter().find(|&&(i, _)| i == *index).map(|&(_, v)| v),
        Some(2),
        "request 7 was answered with the old entry"
    );
}

/// Client sessions (Raft thesis §6.3): when the network delivers every message twice, a
/// proposal forwarded by a follower reaches the leader twice, yet each write is applied once.
#[test]
fn a_duplicated_proposal_is_applied_once() {
    let mut cluster = Cluster::new(3, 53);
    let leader = cluster.elect();
    let follower = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    cluster.faults.duplicate = 1.0;
    for value in 0..20 {
        cluster.request(follower, JournalRequest::Append(value));
        cluster.run_for(Duration::from_millis(50));
    }
    cluster.run_for(Duration::from_secs(1));
    let values: Vec<u64> = cluster
        .node(leader)
        .state()
        .applied
        .iter()
        .map(|&(_, v)| v)
        .collect();
    assert_eq!(
        values,
        (0..20).collect::<Vec<_>>(),
        "each write applied exactly once"
    );
}

/// A long-running member serves clients that come and go: the replicated sessions remember a few
/// proposal numbers per member, not one entry per client ever seen, so memory does not grow with
/// every client.
#[test]
fn sessions_stay_small_however_many_clients_come_and_go() {
    let mut cluster = Cluster::new(3, 54);
    let leader = cluster.elect();
    let follower = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    for client in 1..=300 {
        cluster.request_from(follower, client, JournalRequest::Append(client));
        cluster.run_for(Duration::from_millis(20));
        cluster.close_client(follower, client);
    }
    cluster.run_for(Duration::from_secs(1));
    for id in cluster.ids() {
        let node = cluster.node(id);
        assert_eq!(
            node.state().applied.len(),
            300,
            "member {id} applied every write"
        );
        assert!(
            node.sessions_len() <= 2,
            "member {id} remembers {} proposal numbers after 300 clients",
            node.sessions_len()
        );
    }
}

/// A client whose connection closes is forgotten at once: its pending requests are dropped
/// unanswered (nobody is left to hear the answer), even if the write takes effect later.
#[test]
fn a_closed_client_is_forgotten_with_its_pending_requests() {
    let mut cluster = Cluster::new(3, 55);
    let leader = cluster.elect();
    let followers: Vec<_> = cluster
        .ids()
        .into_iter()
        .filter(|&id| id != leader)
        .collect();
    for &follower in &followers {
        cluster.cut(leader, follower);
    }
    let write = cluster.request_from(leader, 9, JournalRequest::Append(1));
    cluster.run_for(Duration::from_millis(50));
    assert_eq!(cluster.node(leader).pending_requests(), 1);
    cluster.close_client(leader, 9);
    assert_eq!(cluster.node(leader).pending_requests(), 0);
    cluster.heal();
    cluster.run_for(Duration::from_secs(2));
    assert!(
        cluster.reply(write).is_none(),
        "a closed client was answered"
    );
}
