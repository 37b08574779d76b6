//! Raft's rules, one test each, named for the rule and the paper section it comes from.
//!
//! Every test drives real members over the in-crate test network (`detcd_core::testing`) on a
//! virtual clock. The network itself asserts election safety and leader completeness after
//! every step, so every test here also checks those.

use std::cell::RefCell;
use std::rc::Rc;

use detcd_core::raft::{AppendResult, ConfChange, MessageBody, Role};
use detcd_core::state_machine::ServiceError;
use detcd_core::testing::{Cluster, JournalRequest, JournalResponse};
use detcd_core::{Duration, NodeConfig, NodeId};

fn append(cluster: &mut Cluster, node: NodeId, value: u64) -> u64 {
    cluster.request(node, JournalRequest::Append(value))
}

fn committed(cluster: &Cluster, request: u64) -> bool {
    matches!(
        cluster.reply(request),
        Some(JournalResponse::Appended { .. })
    )
}

fn others(cluster: &Cluster, id: NodeId) -> Vec<NodeId> {
    cluster
        .ids()
        .into_iter()
        .filter(|&other| other != id)
        .collect()
}

/// A cluster without leader leases (check-quorum) or pre-vote, so that a script's `campaign`
/// reaches the vote rules directly, as in the paper.
fn scripted_cluster(size: u64, seed: u64) -> Cluster {
    let configs = (1..=size).map(|id| {
        let mut config = NodeConfig::new(id, seed * 100 + id);
        config.raft.pre_vote = false;
        config.raft.check_quorum = false;
        config
    });
    Cluster::with_configs(configs.collect(), seed)
}

/// Record every message the network carries, as (from, to, body).
fn record_messages(cluster: &mut Cluster) -> Rc<RefCell<Vec<(NodeId, NodeId, MessageBody)>>> {
    let log = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&log);
    cluster.set_filter(Box::new(move |from, to, message| {
        sink.borrow_mut().push((from, to, message.body.clone()));
        true
    }));
    log
}

/// §5.2 Election safety: at most one leader per term. Two candidates campaign in the same term
/// again and again; every voter grants one vote per term, so at most one wins. (The network
/// panics on a second leader in any term.)
#[test]
fn election_safety_at_most_one_leader_per_term() {
    let mut cluster = scripted_cluster(5, 11);
    let mut won = 0;
    for round in 0..30u64 {
        cluster.elect();
        let (a, b) = (1 + round % 5, 1 + (round + 2) % 5);
        cluster.campaign(a);
        cluster.campaign(b);
        cluster.run_for(Duration::from_millis(20));
        won += u64::from(
            cluster
                .leader()
                .is_some_and(|leader| leader == a || leader == b),
        );
        if round % 5 == 4 {
            let leader = cluster.elect();
            cluster.crash(leader);
            cluster.run_for(Duration::from_secs(3));
            cluster.restart(leader);
        }
    }
    assert!(
        won >= 10,
        "contested elections must be won often enough to mean something: {won}"
    );
}

/// §5.4.1 Election restriction: a member votes only for a candidate whose log is at least as up
/// to date as its own, so a member that missed committed entries cannot become leader.
#[test]
fn votes_only_for_an_up_to_date_log() {
    let mut cluster = scripted_cluster(3, 12);
    let leader = cluster.elect();
    let [a, b] = others(&cluster, leader)[..] else {
        unreachable!()
    };
    cluster.isolate(b);
    let write = append(&mut cluster, leader, 1);
    cluster.run_for(Duration::from_secs(1));
    assert!(committed(&cluster, write));
    // The leader goes; the stale member `b` asks the up-to-date member `a` for its vote.
    cluster.crash(leader);
    cluster.heal();
    for _ in 0..5 {
        cluster.campaign(b);
        cluster.run_for(Duration::from_millis(20));
        assert_ne!(
            cluster.node(b).raft().role(),
            Role::Leader,
            "a stale log won an election"
        );
    }
    assert!(
        cluster.run_until(Duration::from_secs(10), |c| c.leader() == Some(a)),
        "the up-to-date member leads"
    );
}

/// §5.3 Leader append-only: a leader never overwrites or deletes entries in its own log.
#[test]
fn leader_append_only() {
    let mut cluster = Cluster::new(5, 13);
    cluster.faults.loss = 0.2;
    cluster.faults.duplicate = 0.1;
    for value in 0..30 {
        let leader = cluster.elect();
        let term = cluster.node(leader).raft().term();
        let before: Vec<_> = (1..=cluster.node(leader).raft().last_index())
            .filter_map(|i| cluster.node(leader).raft().entry(i).cloned())
            .collect();
        append(&mut cluster, leader, value);
        cluster.run_for(Duration::from_millis(300));
        if cluster.is_up(leader)
            && cluster.node(leader).raft().term() == term
            && cluster.leader() == Some(leader)
        {
            for entry in &before {
                let now = cluster.node(leader).raft().entry(entry.index);
                assert!(
                    now.is_none_or(|now| now == entry),
                    "leader {leader} rewrote entry {}",
                    entry.index
                );
            }
        }
        if value % 7 == 6 {
            cluster.isolate(leader);
            cluster.run_for(Duration::from_secs(2));
            cluster.heal();
        }
    }
}

/// §5.3 Log matching: two logs that hold an entry with the same index and term are identical
/// through it, under loss, duplication and leader changes.
#[test]
fn log_matching() {
    let mut cluster = Cluster::new(5, 14);
    cluster.faults.loss = 0.1;
    cluster.faults.duplicate = 0.1;
    for value in 0..200 {
        let target = cluster.ids()[(value % 5) as usize];
        append(&mut cluster, target, value);
        cluster.run_for(Duration::from_millis(20));
        if value % 40 == 39 {
            let leader = cluster.elect();
            cluster.isolate(leader);
            cluster.run_for(Duration::from_secs(2));
            cluster.heal();
        }
    }
    cluster.run_for(Duration::from_secs(3));
    cluster.check_log_matching();
    cluster.check_state_machine_safety();
    assert!(
        cluster
            .replies()
            .iter()
            .filter(|r| matches!(r.body, JournalResponse::Appended { .. }))
            .count()
            > 100
    );
}

/// §5.4 Leader completeness: every committed entry is in the log of every later leader. Each
/// round a member misses the round's writes, the leader crashes, and the stale member campaigns
/// at once; only members holding every committed entry may win. (The network checks each new
/// leader against every entry seen committed.)
#[test]
fn leader_completeness() {
    let mut cluster = scripted_cluster(5, 15);
    let mut acknowledged = Vec::new();
    for round in 0..8 {
        let leader = cluster.elect();
        let stale = others(&cluster, leader)[round as usize % 4];
        cluster.isolate(stale);
        for value in 0..5 {
            let value = round * 10 + value;
            acknowledged.push((append(&mut cluster, leader, value), value));
        }
        cluster.run_for(Duration::from_millis(200));
        cluster.crash(leader);
        cluster.heal();
        cluster.campaign(stale);
        cluster.run_for(Duration::from_millis(100));
        cluster.restart(leader);
    }
    let leader = cluster.elect();
    let read = cluster.request(leader, JournalRequest::Read { linearizable: true });
    cluster.run_for(Duration::from_secs(1));
    let Some(JournalResponse::Values(values)) = cluster.reply(read) else {
        panic!("read failed: {:?}", cluster.reply(read))
    };
    let acknowledged: Vec<u64> = acknowledged
        .into_iter()
        .filter(|&(request, _)| committed(&cluster, request))
        .map(|(_, value)| value)
        .collect();
    assert!(
        acknowledged.len() >= 30,
        "most writes were acknowledged: {}",
        acknowledged.len()
    );
    for value in acknowledged {
        assert!(
            values.contains(&value),
            "acknowledged write {value} was lost"
        );
    }
    cluster.check_acknowledged_writes();
}

/// §5.4.2 and Figure 8: a leader never commits an entry of an earlier term by counting replicas.
/// S1 (term 2) leaves its entry at index 3 on S1 and S2; S5 (term 3) writes another index 3 on
/// itself; S1 returns in term 4 and copies its term-2 entry to S3, a majority, but must not count
/// it committed, since S5 can still be elected and overwrite it — which it then does.
#[test]
fn figure_8_only_current_term_entries_commit_by_counting() {
    // Elections happen only when the script calls them, as in the paper's figure.
    let configs = (1..=5).map(|id| {
        let mut config = NodeConfig::new(id, 100 + id);
        config.raft.election_timeout = Duration::from_secs(1000);
        config.raft.batch_bytes_max = 1; // one entry per append, so the script can pick deliveries
        config.raft.pre_vote = false;
        config.raft.check_quorum = false;
        config
    });
    let mut cluster = Cluster::with_configs(configs.collect(), 16);
    let elect = |cluster: &mut Cluster, id: NodeId| {
        for _ in 0..5 {
            cluster.campaign(id);
            if cluster.run_until(Duration::from_millis(500), |c| c.leader() == Some(id)) {
                return;
            }
        }
        panic!("member {id} was not elected");
    };
    // (a) S1 leads term 2; its no-op commits everywhere; its write at `index` reaches S2 only.
    elect(&mut cluster, 1);
    cluster.run_for(Duration::from_millis(300));
    let index = cluster.node(1).raft().last_index() + 1;
    cluster.partition(&[&[1, 2], &[3, 4, 5]]);
    append(&mut cluster, 1, 100);
    cluster.run_for(Duration::from_millis(50));
    let old_term = cluster
        .node(2)
        .raft()
        .entry_term(index)
        .expect("S2 holds S1's entry");
    // (b) S1 crashes; S5 is elected by S3 and S4 and writes its own entry at `index`, which
    // reaches nobody else.
    cluster.crash(1);
    cluster.heal();
    cluster.isolate(2);
    cluster.set_filter(Box::new(|from, _, message| {
        !(from == 5 && matches!(message.body, MessageBody::Append { .. }))
    }));
    elect(&mut cluster, 5);
    cluster.run_for(Duration::from_millis(50));
    assert!(cluster.node(5).raft().entry_term(index).unwrap() > old_term);
    // (c) S5 crashes; S1 restarts and is elected by S2 and S3 (S4 is cut off); it sends S3 its
    // old entry at `index` but not its new no-op after it.
    cluster.crash(5);
    cluster.heal();
    cluster.isolate(4);
    cluster.restart(1);
    let s3_has_index = Rc::new(RefCell::new(false));
    let flag = Rc::clone(&s3_has_index);
    cluster.set_filter(Box::new(move |from, to, message| match &message.body {
        // Until S3 has the entry, appends after it are harmless (S3 rejects them and so learns
        // where to start); once it has it, nothing after it may reach S3.
        MessageBody::Append {
            prev_index,
            entries,
            ..
        } if from == 1 && to == 3 => {
            if *flag.borrow() {
                return *prev_index < index && entries.iter().all(|e| e.index <= index);
            }
            *flag.borrow_mut() = entries.iter().any(|e| e.index == index);
            true
        }
        _ => true,
    }));
    elect(&mut cluster, 1);
    cluster.run_for(Duration::from_millis(500));
    assert_eq!(
        cluster.node(3).raft().entry_term(index),
        Some(old_term),
        "a majority holds the old entry"
    );
    assert!(
        cluster.node(1).raft().commit_index() < index,
        "the leader committed an entry of an earlier term by counting replicas"
    );
    // (d) S1 crashes; S5 restarts and is elected by S2, S3 and S4, and overwrites `index`, which
    // is safe only because it was never committed.
    cluster.crash(1);
    cluster.clear_filter();
    cluster.heal();
    cluster.restart(5);
    elect(&mut cluster, 5);
    cluster.run_for(Duration::from_secs(1));
    assert_eq!(
        cluster.node(3).raft().entry_term(index),
        cluster.node(5).raft().entry_term(index)
    );
    cluster.restart(1);
    cluster.run_for(Duration::from_secs(2));
    cluster.check_state_machine_safety();
    cluster.check_log_matching();
}

/// Thesis §9.6 Pre-vote: a member partitioned away does not raise its term while alone, so when it
/// returns it does not depose a stable leader.
#[test]
fn pre_vote_keeps_a_rejoining_member_from_disrupting_the_leader() {
    let mut cluster = Cluster::new(3, 17);
    let leader = cluster.elect();
    let term = cluster.node(leader).raft().term();
    let loner = others(&cluster, leader)[0];
    cluster.isolate(loner);
    cluster.run_for(Duration::from_secs(10));
    assert_eq!(
        cluster.node(loner).raft().term(),
        term,
        "pre-vote keeps an isolated member's term"
    );
    cluster.heal();
    cluster.run_for(Duration::from_secs(5));
    assert_eq!(
        cluster.leader(),
        Some(leader),
        "the leader survives the member's return"
    );
    assert_eq!(cluster.node(leader).raft().term(), term);
}

/// The same scenario without pre-vote and check-quorum disrupts the leader: the rule above is
/// what prevents it.
#[test]
fn without_pre_vote_a_rejoining_member_disrupts_the_leader() {
    let configs = (1..=3).map(|id| {
        let mut config = NodeConfig::new(id, 1700 + id);
        config.raft.pre_vote = false;
        config.raft.check_quorum = false;
        config
    });
    let mut cluster = Cluster::with_configs(configs.collect(), 17);
    let leader = cluster.elect();
    let term = cluster.node(leader).raft().term();
    let loner = others(&cluster, leader)[0];
    cluster.isolate(loner);
    cluster.run_for(Duration::from_secs(10));
    assert!(cluster.node(loner).raft().term() > term + 3);
    cluster.heal();
    cluster.run_for(Duration::from_secs(5));
    let leader = cluster.elect();
    assert!(
        cluster.node(leader).raft().term() > term,
        "the returning member forced a new term"
    );
}

/// Check-quorum: a leader cut off from every voter steps down within about an election timeout
/// instead of leading a minority forever.
#[test]
fn check_quorum_steps_down_an_isolated_leader() {
    let mut cluster = Cluster::new(3, 18);
    let leader = cluster.elect();
    cluster.isolate(leader);
    cluster.run_for(Duration::from_millis(2100));
    assert_ne!(
        cluster.node(leader).raft().role(),
        Role::Leader,
        "the isolated leader still leads"
    );
}

/// §6.4 ReadIndex: a leader deposed by a partition, and not yet aware of it, cannot confirm its
/// leadership with a quorum, so a linearizable read sent to it fails instead of returning a
/// stale value. (Check-quorum is off, so the old leader keeps believing it leads.)
#[test]
fn a_deposed_leader_refuses_read_index() {
    let mut cluster = scripted_cluster(5, 19);
    let old = cluster.elect();
    append(&mut cluster, old, 1);
    cluster.run_for(Duration::from_millis(300));
    cluster.isolate(old);
    // The majority elects a new leader and commits a write the old leader never sees.
    assert!(cluster.run_until(Duration::from_secs(10), |c| {
        c.leader().is_some_and(|l| l != old)
    }));
    let new = cluster.leader().unwrap();
    cluster.run_for(Duration::from_millis(300));
    let write = append(&mut cluster, new, 2);
    cluster.run_for(Duration::from_secs(1));
    assert!(committed(&cluster, write));
    assert_eq!(
        cluster.node(old).raft().role(),
        Role::Leader,
        "the old leader does not know it was deposed"
    );
    let read = cluster.request(old, JournalRequest::Read { linearizable: true });
    cluster.run_for(Duration::from_secs(6));
    assert_eq!(
        cluster.reply(read),
        Some(&JournalResponse::Error(ServiceError::Timeout)),
        "a deposed leader answered a linearizable read"
    );
    // A serializable read may be stale, and is: it is served from local state.
    let stale = cluster.request(
        old,
        JournalRequest::Read {
            linearizable: false,
        },
    );
    cluster.run_for(Duration::from_millis(10));
    assert_eq!(
        cluster.reply(stale),
        Some(&JournalResponse::Values(vec![1]))
    );
}

/// §7 Snapshots: a follower that missed entries the leader has compacted catches up by
/// installing the leader's snapshot, and then applies what follows it.
#[test]
fn a_lagging_follower_catches_up_by_snapshot() {
    let configs = (1..=3).map(|id| {
        let mut config = NodeConfig::new(id, 1900 + id);
        config.snapshot_entries = 20;
        config.snapshot_catch_up_entries = 5;
        config
    });
    let mut cluster = Cluster::with_configs(configs.collect(), 20);
    let leader = cluster.elect();
    let lagging = others(&cluster, leader)[0];
    cluster.isolate(lagging);
    for value in 0..100 {
        append(&mut cluster, leader, value);
        cluster.run_for(Duration::from_millis(10));
    }
    assert!(
        cluster.node(leader).raft().snapshot_index() > 50,
        "the leader compacted its log"
    );
    let messages = record_messages(&mut cluster);
    cluster.heal();
    cluster.run_for(Duration::from_secs(3));
    let snapshots = messages
        .borrow()
        .iter()
        .filter(|(_, to, body)| {
            *to == lagging && matches!(body, MessageBody::InstallSnapshot { .. })
        })
        .count();
    assert!(snapshots >= 1, "no snapshot was sent");
    let values = |id| {
        cluster
            .node(id)
            .state()
            .applied
            .iter()
            .map(|&(_, v)| v)
            .collect::<Vec<_>>()
    };
    assert_eq!(values(lagging), values(leader));
    assert_eq!(values(lagging).len(), 100);
    cluster.check_state_machine_safety();
}

/// §5.3 Fast backtracking: a follower with a long conflicting suffix tells the leader where its
/// terms diverge, so the leader needs a few rejections, not one per entry.
#[test]
fn fast_backtracking_skips_a_conflicting_term_at_once() {
    let mut cluster = Cluster::new(3, 21);
    let old = cluster.elect();
    cluster.isolate(old);
    for value in 0..50 {
        append(&mut cluster, old, value); // never committed: the leader is alone
    }
    cluster.run_for(Duration::from_secs(3));
    let new = cluster.elect();
    for value in 100..160 {
        append(&mut cluster, new, value);
    }
    cluster.run_for(Duration::from_millis(500));
    // A third leader starts with every follower's next index past the old leader's log, so it
    // must walk back over 60 entries whose terms differ from the old leader's.
    let third = others(&cluster, old)
        .into_iter()
        .find(|&id| id != new)
        .unwrap();
    cluster.transfer_leadership(new, third).unwrap();
    assert!(cluster.run_until(Duration::from_secs(2), |c| c.leader() == Some(third)));
    let messages = record_messages(&mut cluster);
    cluster.heal();
    cluster.run_for(Duration::from_secs(3));
    let rejections = messages
        .borrow()
        .iter()
        .filter(|(from, _, body)| {
            *from == old
                && matches!(
                    body,
                    MessageBody::AppendResponse(AppendResult::Rejected { .. })
                )
        })
        .count();
    assert!(
        (1..=3).contains(&rejections),
        "{rejections} rejections for 60 conflicting entries"
    );
    cluster.check_log_matching();
    assert_eq!(
        cluster.node(old).raft().last_index(),
        cluster.node(third).raft().last_index()
    );
}

/// Durability: a vote is granted only once it is durable, so a member cannot vote twice in a
/// term across a crash; the grant waits for the disk.
#[test]
fn a_vote_is_durable_before_it_is_granted() {
    let mut cluster = Cluster::new(3, 22);
    cluster.disk_latency = Duration::from_millis(400);
    let messages = record_messages(&mut cluster);
    cluster.campaign(1);
    cluster.run_for(Duration::from_millis(300));
    let early = messages
        .borrow()
        .iter()
        .any(|(_, _, b)| matches!(b, MessageBody::VoteResponse { granted: true }));
    assert!(!early, "a vote grant left before the vote was durable");
    cluster.run_for(Duration::from_millis(600));
    let granted: Vec<NodeId> = messages
        .borrow()
        .iter()
        .filter(|(_, _, b)| matches!(b, MessageBody::VoteResponse { granted: true }))
        .map(|(from, _, _)| *from)
        .collect();
    assert!(!granted.is_empty(), "the vote was granted once durable");
    // The vote survives a crash.
    let voter = granted[0];
    let term = cluster.node(voter).raft().term();
    cluster.crash(voter);
    cluster.restart(voter);
    let status = cluster.node(voter).raft().status();
    assert_eq!((status.term, status.voted_for), (term, Some(1)));
}

/// Durability: a crash loses what was not durable, and a restarted member recovers its term,
/// vote, log and applied state from what was.
#[test]
fn a_member_restarts_from_its_durable_state() {
    let mut cluster = Cluster::new(3, 23);
    let leader = cluster.elect();
    for value in 0..10 {
        append(&mut cluster, leader, value);
    }
    cluster.run_for(Duration::from_secs(1));
    let voted = |c: &Cluster, id: NodeId| c.node(id).raft().status().voted_for.is_some();
    let follower = others(&cluster, leader)
        .into_iter()
        .find(|&id| voted(&cluster, id))
        .expect("a follower voted");
    let before = cluster.node(follower).raft().status();
    cluster.crash(follower);
    cluster.restart(follower);
    let after = cluster.node(follower).raft().status();
    assert_eq!(
        (after.term, after.voted_for, after.last_index),
        (before.term, before.voted_for, before.last_index)
    );
    cluster.run_for(Duration::from_secs(1));
    assert_eq!(cluster.node(follower).state().applied.len(), 10);
}

/// Proposals: a follower forwards a proposal to its leader; with no leader a proposal is
/// refused at once with etcd's "no leader" error.
#[test]
fn proposals_are_forwarded_or_refused_without_a_leader() {
    let mut cluster = Cluster::new(3, 24);
    let leader = cluster.elect();
    let follower = others(&cluster, leader)[0];
    let forwarded = append(&mut cluster, follower, 7);
    cluster.run_for(Duration::from_millis(500));
    assert!(committed(&cluster, forwarded));
    cluster.crash(leader);
    cluster.isolate(follower);
    cluster.run_for(Duration::from_secs(3));
    let refused = append(&mut cluster, follower, 8);
    assert_eq!(
        cluster.reply(refused),
        Some(&JournalResponse::Error(ServiceError::NoLeader))
    );
}

/// Flow control: a leader that cannot commit stops accepting proposals past
/// `uncommitted_bytes_max` instead of growing its log without bound.
#[test]
fn uncommitted_proposals_are_bounded() {
    let configs = (1..=3).map(|id| {
        let mut config = NodeConfig::new(id, 2500 + id);
        config.raft.uncommitted_bytes_max = 1000;
        config.raft.check_quorum = false;
        config
    });
    let mut cluster = Cluster::with_configs(configs.collect(), 25);
    let leader = cluster.elect();
    cluster.isolate(leader);
    let requests: Vec<u64> = (0..100).map(|v| append(&mut cluster, leader, v)).collect();
    let refused = requests
        .iter()
        .filter(|&&r| {
            cluster.reply(r) == Some(&JournalResponse::Error(ServiceError::TooManyRequests))
        })
        .count();
    assert!(refused > 50, "only {refused} of 100 refused");
    assert!(refused < 100, "some proposals fit within the bound");
}

/// Leader transfer (thesis §3.10): the leader catches the target up, then tells it to campaign;
/// the target leads the next term.
#[test]
fn leader_transfer_completes() {
    let mut cluster = Cluster::new(5, 26);
    let leader = cluster.elect();
    let target = others(&cluster, leader)[2];
    for value in 0..20 {
        append(&mut cluster, leader, value);
    }
    let term = cluster.node(leader).raft().term();
    cluster.transfer_leadership(leader, target).unwrap();
    assert!(
        cluster.run_until(Duration::from_secs(2), |c| c.leader() == Some(target)),
        "transfer did not complete"
    );
    assert_eq!(cluster.node(target).raft().term(), term + 1);
    cluster.run_for(Duration::from_secs(1));
    assert_eq!(cluster.node(target).state().applied.len(), 20);
}

/// Membership: learners receive the log but never vote and never count toward a quorum; a
/// promoted learner does.
#[test]
fn learners_are_never_counted() {
    let mut cluster = Cluster::new(3, 27);
    let leader = cluster.elect();
    cluster.start_joining(NodeConfig::new(4, 2704));
    let add = cluster.request(leader, JournalRequest::Member(ConfChange::AddLearner(4)));
    cluster.run_for(Duration::from_secs(2));
    assert!(
        matches!(cluster.reply(add), Some(JournalResponse::Members(m)) if m.learners.contains(&4)),
        "{:?}",
        cluster.reply(add)
    );
    // With the two other voters gone, leader + learner is not a quorum.
    let voters: Vec<NodeId> = others(&cluster, leader)
        .into_iter()
        .filter(|&id| id != 4)
        .collect();
    for &voter in &voters {
        cluster.crash(voter);
    }
    let write = append(&mut cluster, leader, 9);
    cluster.run_for(Duration::from_millis(900));
    assert!(
        !committed(&cluster, write),
        "a learner was counted toward the quorum"
    );
    assert!(
        cluster.node(4).raft().last_index() >= cluster.node(leader).raft().last_index(),
        "the learner has the log"
    );
    cluster.run_for(Duration::from_secs(10));
    assert_ne!(
        cluster.node(4).raft().role(),
        Role::Candidate,
        "a learner campaigned"
    );
    assert_ne!(
        cluster.node(4).raft().role(),
        Role::PreCandidate,
        "a learner campaigned"
    );
    // Restore the voters, promote the learner: now it counts.
    for &voter in &voters {
        cluster.restart(voter);
    }
    let leader = cluster.elect();
    // A new leader takes no membership change until its first entry is applied.
    let early = cluster.request(leader, JournalRequest::Member(ConfChange::Promote(4)));
    assert_eq!(
        cluster.reply(early),
        Some(&JournalResponse::Error(ServiceError::ProposalDropped))
    );
    cluster.run_for(Duration::from_millis(500));
    let promote = cluster.request(leader, JournalRequest::Member(ConfChange::Promote(4)));
    cluster.run_for(Duration::from_secs(2));
    assert!(
        matches!(cluster.reply(promote), Some(JournalResponse::Members(m)) if m.voters.contains(&4)),
        "{:?}",
        cluster.reply(promote)
    );
    assert_eq!(cluster.node(leader).raft().membership().quorum(), 3);
}

/// Membership: a voter added to a running cluster catches up and votes; a removed voter is no
/// longer needed for a quorum; one change is in progress at a time.
#[test]
fn voters_are_added_and_removed_one_at_a_time() {
    let mut cluster = Cluster::new(3, 28);
    let leader = cluster.elect();
    cluster.run_for(Duration::from_millis(500));
    cluster.start_joining(NodeConfig::new(4, 2804));
    let add = cluster.request(leader, JournalRequest::Member(ConfChange::AddVoter(4)));
    let second = cluster.request(leader, JournalRequest::Member(ConfChange::AddVoter(5)));
    assert_eq!(
        cluster.reply(second),
        Some(&JournalResponse::Error(ServiceError::ProposalDropped)),
        "two changes at once"
    );
    cluster.run_for(Duration::from_secs(2));
    assert!(matches!(cluster.reply(add), Some(JournalResponse::Members(m)) if m.voters.len() == 4));
    let duplicate = cluster.request(leader, JournalRequest::Member(ConfChange::AddVoter(4)));
    cluster.run_for(Duration::from_secs(1));
    assert_eq!(
        cluster.reply(duplicate),
        Some(&JournalResponse::Error(ServiceError::Membership(
            "etcdserver: member ID already exist".into()
        )))
    );
    // Remove two of the original followers: the leader and member 4 commit alone.
    for victim in others(&cluster, leader).into_iter().filter(|&id| id != 4) {
        let remove = cluster.request(leader, JournalRequest::Member(ConfChange::Remove(victim)));
        cluster.run_for(Duration::from_secs(1));
        assert!(
            matches!(cluster.reply(remove), Some(JournalResponse::Members(_))),
            "{:?}",
            cluster.reply(remove)
        );
        cluster.crash(victim);
    }
    let write = append(&mut cluster, leader, 1);
    cluster.run_for(Duration::from_secs(1));
    assert!(committed(&cluster, write));
    assert_eq!(
        cluster.node(4).state().applied.last().map(|&(_, v)| v),
        Some(1)
    );
}

/// Raft §10.2.1: the leader's own entries count toward commitment only once durable on its disk
/// (in a one-member cluster, nothing else can commit them).
#[test]
fn the_leader_counts_itself_only_once_durable() {
    let mut cluster = Cluster::new(1, 29);
    let leader = cluster.elect();
    cluster.disk_latency = Duration::from_millis(200);
    let write = append(&mut cluster, leader, 5);
    let index = cluster.node(leader).raft().last_index();
    cluster.run_for(Duration::from_millis(150));
    assert!(
        cluster.node(leader).raft().commit_index() < index,
        "committed before the leader's own write was durable"
    );
    cluster.run_for(Duration::from_millis(100));
    assert_eq!(cluster.node(leader).raft().commit_index(), index);
    assert!(committed(&cluster, write));
}
