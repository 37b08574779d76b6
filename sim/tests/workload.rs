//! The client workload: deterministic, one return per invoke, timeouts and late responses,
//! unique values, and a whole run through real detcd nodes that the checker accepts.

use std::collections::{BTreeMap, BTreeSet};

use detcd_checker::history::{HistoryRecord, Outcome, Request};
use detcd_checker::{Budget, Verdict, check_etcd, etcd};
use detcd_core::kv::{self, KvConfig, KvError, KvStore};
use detcd_core::state_machine::ServiceError;
use detcd_core::{Duration, Instant, NodeConfig, NodeId};
use detcd_sim::cluster::{NodeHost, bootstrap_cluster};
use detcd_sim::workload::{OperationMix, Send, Workload, WorkloadOptions};
use detcd_sim::{ClientResponse, SimOptions, World};

const MEMBERS: [NodeId; 3] = [1, 2, 3];

/// A fake cluster for scripted runs: a revision counter that answers every request kind the
/// workload sends with a plausible response, after a fixed delay.
#[derive(Debug, Default)]
struct ScriptedCluster {
    revision: i64,
    leases_granted: i64,
}

impl ScriptedCluster {
    fn answer(&mut self, send: &Send) -> kv::Response {
        let header = |revision| kv::ResponseHeader {
            revision,
            ..kv::ResponseHeader::default()
        };
        match &send.body {
            kv::Request::Range(_) => kv::Response::Range(kv::RangeResponse {
                header: header(self.revision),
                ..kv::RangeResponse::default()
            }),
            kv::Request::Put(_) => {
                self.revision += 1;
                kv::Response::Put(kv::PutResponse {
                    header: header(self.revision),
                    prev_kv: None,
                })
            }
            kv::Request::DeleteRange(_) => kv::Response::DeleteRange(kv::DeleteRangeResponse {
                header: header(self.revision),
                ..kv::DeleteRangeResponse::default()
            }),
            kv::Request::Txn(_) => {
                self.revision += 1;
                kv::Response::Txn(kv::TxnResponse {
                    header: header(self.revision),
                    succeeded: true,
                    responses: vec![kv::ResponseOp::Put(kv::PutResponse::default())],
                })
            }
            kv::Request::LeaseGrant(grant) => {
                self.leases_granted += 1;
                kv::Response::LeaseGrant(kv::LeaseGrantResponse {
                    header: header(self.revision),
                    id: self.leases_granted,
                    ttl_secs: grant.ttl_secs,
                })
            }
            kv::Request::LeaseRevoke(_) => kv::Response::LeaseRevoke(kv::LeaseRevokeResponse {
                header: header(self.revision),
            }),
            // Keep-alive is leader-only; this fake cluster has no leader to offer.
            kv::Request::LeaseKeepAlive(_) => {
                kv::Response::Error(KvError::Service(ServiceError::NotLeader))
            }
            kv::Request::Watch(_) => kv::Response::Watch(kv::WatchResponse {
                header: header(self.revision),
                created: true,
                ..kv::WatchResponse::default()
            }),
            other => panic!("the workload sent {other:?}"),
        }
    }
}

/// Drive `workload` until `end` against a scripted cluster that answers after 3 ms, except that
/// every `silent_every`-th request gets no answer at all (0: all are answered). Returns
/// everything sent.
fn drive_scripted(workload: &mut Workload, end: Instant, silent_every: usize) -> Vec<Send> {
    let mut cluster = ScriptedCluster::default();
    let mut in_flight: BTreeMap<(Instant, u64), ClientResponse<kv::Response>> = BTreeMap::new();
    let mut sent = Vec::new();
    loop {
        let next_response = in_flight.keys().next().map(|(time, _)| *time);
        let now = next_response.map_or(workload.next_wakeup(), |time| {
            time.min(workload.next_wakeup())
        });
        if now > end {
            return sent;
        }
        while let Some(entry) = in_flight.first_entry() {
            if entry.key().0 > now {
                break;
            }
            workload.receive(&entry.remove());
        }
        for send in workload.act(now) {
            if silent_every == 0 || (sent.len() + 1) % silent_every != 0 {
                let response = ClientResponse {
                    time: now + Duration::from_millis(3),
                    node: send.node,
                    client: send.client,
                    request: send.request,
                    body: cluster.answer(&send),
                };
                in_flight.insert((response.time, send.request), response);
            }
            sent.push(send);
        }
    }
}

fn busy_options() -> WorkloadOptions {
    WorkloadOptions {
        clients: 4,
        keys: 5,
        mix: OperationMix {
            put: 4,
            get: 3,
            range: 1,
            delete: 1,
            txn: 2,
            lease: 2,
            watch: 1,
            compact: 0,
        },
        request_timeout_ms: 100,
        think_ms_min: 0,
        think_ms_max: 10,
        linearizable_read_percent: 50,
        lease_revoke_percent: 30,
        past_read_percent: 0,
    }
}

// Rule: drawn options are a function of the seed, always valid, and print one knob per line.
#[test]
fn drawn_options_are_reproducible_and_valid() {
    for seed in 0..200 {
        let options = WorkloadOptions::draw(seed);
        assert_eq!(options, WorkloadOptions::draw(seed));
        options.validate();
        assert_eq!(options.to_string().lines().count(), 9, "{options}");
    }
    assert_ne!(WorkloadOptions::draw(1), WorkloadOptions::draw(2));
}

// Rule: the same seed, given the same responses, sends the same requests and records the same
// history; another seed does something else.
#[test]
fn same_seed_same_sends_and_history() {
    let run = |seed| {
        let mut workload = Workload::new(seed, busy_options(), &MEMBERS);
        let sent = drive_scripted(&mut workload, Instant::from_millis(2_000), 7);
        workload.finish(Instant::from_millis(2_000));
        (sent, workload.history().to_vec())
    };
    let (first_sent, first_history) = run(42);
    assert!(
        first_sent.len() > 200,
        "too little happened: {}",
        first_sent.len()
    );
    let (second_sent, second_history) = run(42);
    assert_eq!(first_sent, second_sent);
    assert_eq!(first_history, second_history);
    let (other_sent, _) = run(43);
    assert_ne!(first_sent, other_sent, "the seed must matter");
}

// Rule: after `finish`, every invoke has exactly one return (ok, error or unknown), no return is
// without an invoke, and the stats count each return once.
#[test]
fn every_invoke_returns_exactly_once() {
    let mut workload = Workload::new(7, busy_options(), &MEMBERS);
    drive_scripted(&mut workload, Instant::from_millis(1_000), 5);
    workload.stop();
    drive_scripted(&mut workload, Instant::from_millis(1_050), 5);
    workload.finish(Instant::from_millis(1_050));

    let mut invoked = BTreeSet::new();
    let mut returned = BTreeMap::new();
    let mut kinds = BTreeMap::new();
    for record in workload.history() {
        match record {
            HistoryRecord::Invoke { op, .. } => {
                assert!(invoked.insert(*op), "op {op} invoked twice")
            }
            HistoryRecord::Return { op, outcome, .. } => {
                assert!(invoked.contains(op), "op {op} returns before its invoke");
                *returned.entry(*op).or_insert(0) += 1;
                let kind = match outcome {
                    Outcome::Ok(_) => "ok",
                    Outcome::Error { .. } => "error",
                    Outcome::Unknown { .. } => "unknown",
                };
                *kinds.entry(kind).or_insert(0u64) += 1;
            }
            HistoryRecord::Watch { .. } => {}
        }
    }
    assert_eq!(
        invoked.iter().copied().collect::<Vec<_>>(),
        returned.keys().copied().collect::<Vec<_>>()
    );
    assert!(
        returned.values().all(|&count| count == 1),
        "some op returned twice"
    );
    for kind in ["ok", "error", "unknown"] {
        assert!(
            kinds.get(kind).is_some_and(|&count| count > 0),
            "no {kind} returns: {kinds:?}"
        );
    }
    let stats = workload.stats();
    assert_eq!(stats.invoked, invoked.len() as u64);
    assert_eq!(stats.ok + stats.failed + stats.unknown, stats.invoked);
}

// Rule: a request past its deadline is recorded as unknown at the deadline, a response arriving
// after that changes nothing, and the client moves on at once to another member.
#[test]
fn timeout_is_unknown_and_late_response_is_ignored() {
    let options = WorkloadOptions {
        clients: 1,
        mix: OperationMix {
            put: 1,
            get: 0,
            range: 0,
            delete: 0,
            txn: 0,
            lease: 0,
            watch: 0,
            compact: 0,
        },
        request_timeout_ms: 100,
        think_ms_min: 0,
        think_ms_max: 0,
        ..WorkloadOptions::default()
    };
    let mut workload = Workload::new(1, options, &MEMBERS);
    let first = workload
        .act(Instant::ZERO)
        .pop()
        .expect("the client starts at once");
    let deadline = Instant::from_millis(100);
    assert_eq!(workload.next_wakeup(), deadline);
    assert!(workload.act(Instant::from_millis(99)).is_empty());

    let retry = workload
        .act(deadline)
        .pop()
        .expect("the client retries at its deadline");
    assert_ne!(retry.node, first.node, "the retry goes to another member");
    assert_ne!(retry.request, first.request, "the retry is a new operation");
    let HistoryRecord::Return {
        op,
        time_ns,
        outcome,
        ..
    } = &workload.history()[1]
    else {
        panic!("the second record is the timed-out return");
    };
    assert_eq!((*op, *time_ns), (first.request, deadline.as_nanos()));
    assert_eq!(
        *outcome,
        Outcome::Unknown {
            reason: "client timeout".into()
        }
    );

    let records_before = workload.history().len();
    workload.receive(&ClientResponse {
        time: Instant::from_millis(150),
        node: first.node,
        client: first.client,
        request: first.request,
        body: kv::Response::Put(kv::PutResponse::default()),
    });
    assert_eq!(
        workload.history().len(),
        records_before,
        "the late response is ignored"
    );
    assert_eq!(workload.stats().ok, 0);
    assert_eq!(workload.stats().unknown, 1);
}

// Rule: every value written, by a put or a transaction, is unique across the run.
#[test]
fn written_values_are_unique() {
    let mut workload = Workload::new(3, busy_options(), &MEMBERS);
    drive_scripted(&mut workload, Instant::from_millis(3_000), 0);
    let mut values = Vec::new();
    for record in workload.history() {
        if let HistoryRecord::Invoke { request, .. } = record {
            collect_written(request, &mut values);
        }
    }
    assert!(values.len() > 200, "too few writes: {}", values.len());
    let unique: BTreeSet<&String> = values.iter().collect();
    assert_eq!(unique.len(), values.len(), "a value was written twice");
}

fn collect_written(request: &Request, values: &mut Vec<String>) {
    match request {
        Request::Put { value, .. } => values.push(value.clone()),
        Request::Txn {
            success, failure, ..
        } => {
            for nested in success.iter().chain(failure) {
                collect_written(nested, values);
            }
        }
        _ => {}
    }
}

// Rule: a client holds at most one watch, and a watch's stream responses are recorded under the
// op that created it, after its invoke.
#[test]
fn one_watch_per_client_and_events_are_recorded() {
    let options = WorkloadOptions {
        clients: 2,
        mix: OperationMix {
            put: 1,
            get: 0,
            range: 0,
            delete: 0,
            txn: 0,
            lease: 0,
            watch: 5,
            compact: 0,
        },
        ..busy_options()
    };
    let mut workload = Workload::new(11, options, &MEMBERS);
    let sent = drive_scripted(&mut workload, Instant::from_millis(500), 0);
    let watches: Vec<&Send> = sent
        .iter()
        .filter(|send| matches!(send.body, kv::Request::Watch(_)))
        .collect();
    assert_eq!(watches.len(), 2, "each client opens exactly one watch");
    let watch = watches[0];
    let event = kv::Event {
        kind: kv::EventKind::Put,
        kv: kv::KeyValue {
            key: b"k1".to_vec(),
            value: b"c2-1".to_vec(),
            create_revision: 4,
            mod_revision: 4,
            version: 1,
            lease: 0,
        },
        prev_kv: None,
    };
    workload.receive(&ClientResponse {
        time: Instant::from_millis(600),
        node: watch.node,
        client: watch.client,
        request: watch.request,
        body: kv::Response::Watch(kv::WatchResponse {
            events: vec![event],
            ..kv::WatchResponse::default()
        }),
    });
    let Some(HistoryRecord::Watch { op, events, .. }) = workload.history().last() else {
        panic!("the event response is recorded as a watch record");
    };
    assert_eq!(*op, watch.request);
    assert_eq!(events[0].kv.value, "c2-1");
}

// Rule: the workload, run through a real 3-node detcd cluster for 20 s of simulated time, makes
// a history that converts for the checker and is linearizable, with many operations succeeding.
#[test]
fn end_to_end_through_real_nodes_is_linearizable() {
    let seed = 2024;
    let options = SimOptions {
        node_count: 3,
        // A constant client latency keeps each watch stream in order, as gRPC streams are.
        client_latency_ms_min: 2,
        client_latency_ms_max: 2,
        ..SimOptions::default()
    };
    let host = NodeHost {
        config: Box::new(NodeConfig::new),
        state: Box::new(|| KvStore::new(KvConfig::default())),
    };
    let mut world = World::new(seed, options, host, &MEMBERS);
    bootstrap_cluster(&mut world);
    let mut workload = Workload::new(seed, WorkloadOptions::default(), &MEMBERS);
    let end = Instant::from_millis(20_000);
    // Responses surface only when `run_until` returns, and the workload's next wake-up is often
    // a request deadline seconds away; running in slices of at most 1 ms lets clients see each
    // response (and send their next request) within a millisecond of its arrival.
    let slice = Duration::from_millis(1);
    while world.now() < end {
        world.run_until(workload.next_wakeup().min(world.now() + slice).min(end));
        for response in world.drain_responses() {
            workload.receive(&response);
        }
        for send in workload.act(world.now()) {
            world.send_request(send.node, send.client, send.request, send.body);
        }
    }
    workload.finish(world.now());

    let stats = workload.stats();
    let history = etcd::from_records(workload.history()).expect("the history converts");
    let report = check_etcd(&history, Budget::default());
    println!("{stats:?}\n{report}");
    assert_eq!(report.verdict, Verdict::Linearizable, "{report}");
    assert!(report.violations.is_empty(), "{report}");
    assert!(stats.ok > 1_000, "too few operations succeeded: {stats:?}");
    let watch_deliveries = workload
        .history()
        .iter()
        .filter(
            |record| matches!(record, HistoryRecord::Watch { events, .. } if !events.is_empty()),
        )
        .count();
    assert!(
        watch_deliveries > 100,
        "too few watch events: {watch_deliveries}"
    );
}
