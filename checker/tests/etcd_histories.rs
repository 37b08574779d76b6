//! Hand-written etcd histories in the detcd format, with known verdicts, watches and leases.

use detcd_checker::history::{
    EventType, HistoryRecord, HistoryWriter, KeyValue, Outcome, Request, Response, ResponseHeader,
    WatchEvent,
};
use std::time::Duration;

use detcd_checker::{
    Budget, CheckOptions, CheckReport, ClockUncertainty, Format, Verdict, check_text,
    check_text_with,
};

/// Builds a history one record at a time; each operation gets the next op id.
#[derive(Default)]
struct Recorder {
    records: Vec<HistoryRecord>,
}

impl Recorder {
    fn invoke(&mut self, client: u64, op: u64, time_ns: u64, request: Request) {
        self.records.push(HistoryRecord::Invoke {
            client,
            op,
            time_ns,
            request,
        });
    }

    fn ok(&mut self, client: u64, op: u64, time_ns: u64, response: Response) {
        self.records.push(HistoryRecord::Return {
            client,
            op,
            time_ns,
            outcome: Outcome::Ok(response),
        });
    }

    fn timed_out(&mut self, client: u64, op: u64, time_ns: u64) {
        let outcome = Outcome::Error {
            message: "etcdserver: request timed out".into(),
        };
        self.records.push(HistoryRecord::Return {
            client,
            op,
            time_ns,
            outcome,
        });
    }

    fn put(
        &mut self,
        client: u64,
        op: u64,
        times: (u64, u64),
        key: &str,
        value: &str,
        revision: i64,
    ) {
        self.invoke(client, op, times.0, put(key, value, 0));
        self.ok(
            client,
            op,
            times.1,
            Response::Put {
                header: header(revision),
                prev_kv: None,
            },
        );
    }

    fn get(
        &mut self,
        client: u64,
        op: u64,
        times: (u64, u64),
        key: &str,
        seen: Option<KeyValue>,
        revision: i64,
    ) {
        self.invoke(client, op, times.0, get(key));
        let count = i64::from(seen.is_some());
        let response = Response::Range {
            header: header(revision),
            kvs: seen.into_iter().collect(),
            count,
            more: false,
        };
        self.ok(client, op, times.1, response);
    }

    fn text(&self) -> String {
        let mut writer = HistoryWriter::new(Vec::new());
        for record in &self.records {
            writer.write(record).unwrap();
        }
        String::from_utf8(writer.into_inner()).unwrap()
    }

    fn check(&self) -> CheckReport {
        check_text(&self.text(), Format::Detcd, Budget::default()).unwrap()
    }

    fn check_with(&self, options: CheckOptions) -> CheckReport {
        check_text_with(&self.text(), Format::Detcd, options).unwrap()
    }
}

fn header(revision: i64) -> ResponseHeader {
    ResponseHeader { revision }
}

fn put(key: &str, value: &str, lease: i64) -> Request {
    Request::Put {
        key: key.into(),
        value: value.into(),
        lease,
        prev_kv: false,
    }
}

fn get(key: &str) -> Request {
    Request::Range {
        key: key.into(),
        range_end: String::new(),
        revision: 0,
        limit: 0,
        keys_only: false,
        count_only: false,
        serializable: false,
    }
}

fn kv(key: &str, value: &str, create_revision: i64, mod_revision: i64, version: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.into(),
        create_revision,
        mod_revision,
        version,
        lease: 0,
    }
}

// Sequential writes and reads whose revisions match etcd's are linearizable.
#[test]
fn matching_revisions_are_linearizable() {
    let mut history = Recorder::default();
    history.put(0, 1, (0, 10), "a", "1", 2);
    history.put(1, 2, (20, 30), "a", "2", 3);
    history.get(2, 3, (25, 40), "a", Some(kv("a", "2", 2, 3, 2)), 3);
    let report = history.check();
    assert_eq!(
        (report.verdict, report.exit_code()),
        (Verdict::Linearizable, 0),
        "{report}"
    );
}

// A read that returns the value of revision 2 after the write of revision 3 completed is
// stale: revisions order it before that write, but real time orders it after.
#[test]
fn stale_read_is_a_violation() {
    let mut history = Recorder::default();
    history.put(0, 1, (0, 10), "a", "1", 2);
    history.put(1, 2, (20, 30), "a", "2", 3);
    history.get(2, 3, (40, 50), "a", Some(kv("a", "1", 2, 2, 1)), 2);
    let report = history.check();
    assert_eq!(report.verdict, Verdict::NotLinearizable);
    let counterexample = report.counterexample.unwrap();
    // The read pins the order before the write of revision 3, which had already returned.
    assert_eq!(
        counterexample.unplaceable.as_ref().unwrap().label,
        2,
        "{counterexample}"
    );
    let window: Vec<u64> = counterexample
        .window
        .iter()
        .map(|operation| operation.label)
        .collect();
    assert_eq!(window, vec![1, 2, 3], "{counterexample}");
}

// A read must show the store at its header revision: the right revision with the wrong value
// is a violation.
#[test]
fn wrong_value_at_revision_is_a_violation() {
    let mut history = Recorder::default();
    history.put(0, 1, (0, 10), "a", "1", 2);
    history.get(1, 2, (20, 30), "a", Some(kv("a", "9", 2, 2, 1)), 2);
    assert_eq!(history.check().verdict, Verdict::NotLinearizable);
}

// Two successful writes cannot both create the same revision.
#[test]
fn two_writes_with_one_revision_is_a_violation() {
    let mut history = Recorder::default();
    history.put(0, 1, (0, 10), "a", "1", 2);
    history.put(1, 2, (0, 10), "b", "1", 2);
    let report = history.check();
    assert_eq!(report.verdict, Verdict::NotLinearizable);
    assert!(
        report
            .counterexample
            .unwrap()
            .summary
            .contains("two writes returned revision 2")
    );
}

// A write whose outcome is unknown may fill a revision that later reads show, even when it
// took effect after its client timed out; without such a write, the gap is a violation.
#[test]
fn unknown_outcome_write_fills_a_revision_gap() {
    let mut history = Recorder::default();
    history.invoke(0, 1, 0, put("a", "1", 0));
    history.timed_out(0, 1, 10);
    history.get(1, 2, (20, 30), "a", None, 1);
    history.get(1, 3, (40, 50), "a", Some(kv("a", "1", 2, 2, 1)), 2);
    history.put(2, 4, (60, 70), "b", "1", 3);
    assert_eq!(history.check().verdict, Verdict::Linearizable);

    let mut without = Recorder::default();
    without.get(1, 2, (20, 30), "a", None, 1);
    without.put(2, 4, (60, 70), "b", "1", 3);
    let report = without.check();
    assert_eq!(report.verdict, Verdict::NotLinearizable);
    assert!(
        report
            .counterexample
            .unwrap()
            .summary
            .contains("revision 2 appears in responses")
    );
}

// A definitive error means the request did not happen, so it cannot explain a gap.
#[test]
fn definitive_error_does_not_fill_a_gap() {
    let mut history = Recorder::default();
    history.invoke(0, 1, 0, put("a", "1", 0));
    let outcome = Outcome::Error {
        message: "etcdserver: requested lease not found".into(),
    };
    history.records.push(HistoryRecord::Return {
        client: 0,
        op: 1,
        time_ns: 10,
        outcome,
    });
    history.get(1, 2, (20, 30), "a", Some(kv("a", "1", 2, 2, 1)), 2);
    assert_eq!(history.check().verdict, Verdict::NotLinearizable);
}

/// A watch on "a" from revision 2, with the given responses' events.
fn watched(history: &mut Recorder, deliveries: Vec<Vec<WatchEvent>>) {
    let request = Request::Watch {
        key: "a".into(),
        range_end: String::new(),
        start_revision: 2,
        prev_kv: false,
        filters: vec![],
    };
    history.invoke(9, 100, 0, request);
    history.ok(9, 100, 1, Response::Watch { header: header(1) });
    for (index, events) in deliveries.into_iter().enumerate() {
        let time_ns = 100 + index as u64;
        history.records.push(HistoryRecord::Watch {
            client: 9,
            op: 100,
            time_ns,
            events,
            canceled: false,
            compact_revision: 0,
        });
    }
}

fn put_event(kv: KeyValue) -> WatchEvent {
    WatchEvent {
        event_type: EventType::Put,
        kv,
        prev_kv: None,
    }
}

// A watch must deliver every write in its range in revision order, without gaps.
#[test]
fn watch_must_not_skip_revisions() {
    let mut history = Recorder::default();
    history.put(0, 1, (0, 10), "a", "1", 2);
    history.put(0, 2, (20, 30), "a", "2", 3);
    history.put(0, 3, (40, 50), "a", "3", 4);
    let complete = vec![
        vec![put_event(kv("a", "1", 2, 2, 1))],
        vec![put_event(kv("a", "2", 2, 3, 2))],
        vec![put_event(kv("a", "3", 2, 4, 3))],
    ];
    let mut good = Recorder {
        records: history.records.clone(),
    };
    watched(&mut good, complete.clone());
    assert_eq!(good.check().violations, vec![]);

    let mut gap = Recorder {
        records: history.records.clone(),
    };
    watched(&mut gap, vec![complete[0].clone(), complete[2].clone()]);
    let report = gap.check();
    assert_eq!(report.verdict, Verdict::Linearizable);
    assert_eq!(report.exit_code(), 1, "a watch violation fails the check");
    assert_eq!(report.violations[0].property, "watch reliable");

    let mut reordered = Recorder {
        records: history.records,
    };
    watched(
        &mut reordered,
        vec![complete[1].clone(), complete[0].clone()],
    );
    assert_eq!(
        reordered.check().violations[0].property,
        "watch ordered, unique and atomic"
    );
}

// Once a revoke has returned, a put attached to that lease must not succeed.
#[test]
fn put_on_revoked_lease_is_a_violation() {
    let mut history = Recorder::default();
    history.invoke(0, 1, 0, Request::LeaseGrant { id: 7, ttl: 10 });
    history.ok(
        0,
        1,
        5,
        Response::LeaseGrant {
            header: header(1),
            id: 7,
            ttl: 10,
        },
    );
    history.invoke(0, 2, 10, Request::LeaseRevoke { id: 7 });
    history.ok(0, 2, 15, Response::LeaseRevoke { header: header(1) });
    history.invoke(1, 3, 20, put("a", "1", 7));
    history.ok(
        1,
        3,
        25,
        Response::Put {
            header: header(2),
            prev_kv: None,
        },
    );
    let report = history.check();
    assert_eq!(report.violations.len(), 1, "{report}");
    assert_eq!(report.violations[0].property, "lease revoke");
}

// Keys of a lease may vanish only through an expiry, and only once its TTL has run out since
// the last keep-alive was sent.
#[test]
fn keys_vanish_only_after_lease_ttl() {
    let second = 1_000_000_000;
    let mut history = Recorder::default();
    history.invoke(0, 1, 0, Request::LeaseGrant { id: 7, ttl: 5 });
    history.ok(
        0,
        1,
        10,
        Response::LeaseGrant {
            header: header(1),
            id: 7,
            ttl: 5,
        },
    );
    history.invoke(0, 2, 20, put("a", "1", 7));
    history.ok(
        0,
        2,
        30,
        Response::Put {
            header: header(2),
            prev_kv: None,
        },
    );
    let mut expired_late = Recorder {
        records: history.records.clone(),
    };
    expired_late.get(1, 3, (6 * second, 6 * second + 10), "a", None, 3);
    let report = expired_late.check();
    assert_eq!(
        (report.verdict, report.violations.len()),
        (Verdict::Linearizable, 0),
        "{report}"
    );

    let mut expired_early = Recorder {
        records: history.records,
    };
    expired_early.get(1, 3, (second, second + 10), "a", None, 3);
    let report = expired_early.check();
    assert_eq!(
        report.violations[0].property, "lease keeps keys while alive",
        "{report}"
    );
}

/// A watch on `key` from revision 2, with the given responses' events, as op `op`.
fn watch_key(history: &mut Recorder, op: u64, key: &str, deliveries: Vec<Vec<WatchEvent>>) {
    let request = Request::Watch {
        key: key.into(),
        range_end: String::new(),
        start_revision: 2,
        prev_kv: false,
        filters: vec![],
    };
    history.invoke(9, op, 0, request);
    history.ok(9, op, 1, Response::Watch { header: header(1) });
    for (index, events) in deliveries.into_iter().enumerate() {
        history.records.push(HistoryRecord::Watch {
            client: 9,
            op,
            time_ns: 100 + index as u64,
            events,
            canceled: false,
            compact_revision: 0,
        });
    }
}

/// Two puts with unknown outcomes ("a" invoked first), and a read of another key at revision 2:
/// one of the two puts wrote revision 2, responses cannot tell which.
fn two_unknown_puts() -> Recorder {
    let mut history = Recorder::default();
    history.invoke(0, 1, 0, put("a", "1", 0));
    history.timed_out(0, 1, 10);
    history.invoke(1, 2, 5, put("b", "1", 0));
    history.timed_out(1, 2, 15);
    history.get(2, 3, (20, 30), "c", None, 2);
    history
}

// Watch events are evidence of which write took a revision: when several writes with unknown
// outcomes could have written revision 2, the one the watches saw is chosen (here the put of
// "b", though the put of "a" was invoked first), so a correct watch is not blamed.
#[test]
fn watch_events_decide_which_unknown_write_took_a_revision() {
    let mut history = two_unknown_puts();
    watch_key(
        &mut history,
        100,
        "b",
        vec![vec![put_event(kv("b", "1", 2, 2, 1))]],
    );
    // A watch on "a" that saw nothing through revision 3 agrees: "a" was not written at 2.
    history.put(3, 4, (40, 50), "c", "1", 3);
    watch_key(&mut history, 101, "a", vec![]);
    let report = history.check();
    assert_eq!(
        (report.verdict, report.exit_code()),
        (Verdict::Linearizable, 0),
        "{report}"
    );
}

// The evidence does not excuse watches that no write explains: an event with a value no request
// wrote, or events for two revisions when only one write can have happened, are still
// violations.
#[test]
fn watch_events_no_write_explains_are_violations() {
    let mut wrong_value = two_unknown_puts();
    watch_key(
        &mut wrong_value,
        100,
        "b",
        vec![vec![put_event(kv("b", "9", 2, 2, 1))]],
    );
    let report = wrong_value.check();
    assert_eq!(report.verdict, Verdict::Linearizable, "{report}");
    assert_eq!(report.exit_code(), 1, "{report}");
    assert_eq!(report.violations[0].property, "watch events match writes");

    // Both puts seen by watches at revision 2: only one of them can have written it.
    let mut both = two_unknown_puts();
    watch_key(
        &mut both,
        100,
        "b",
        vec![vec![put_event(kv("b", "1", 2, 2, 1))]],
    );
    watch_key(
        &mut both,
        101,
        "a",
        vec![vec![put_event(kv("a", "1", 2, 2, 1))]],
    );
    let report = both.check();
    assert_eq!(report.exit_code(), 1, "{report}");
    assert_eq!(report.violations[0].property, "watch events match writes");

    // A watch that skips the revision its key was written at.
    let mut gap = two_unknown_puts();
    gap.get(2, 5, (40, 50), "b", Some(kv("b", "1", 2, 2, 1)), 2);
    watch_key(&mut gap, 100, "b", vec![]);
    gap.put(3, 6, (60, 70), "b", "2", 3);
    watch_key(
        &mut gap,
        101,
        "b",
        vec![vec![put_event(kv("b", "2", 2, 3, 2))]],
    );
    let report = gap.check();
    assert_eq!(report.exit_code(), 1, "{report}");
    assert_eq!(report.violations[0].property, "watch reliable");
}

/// A lease of 5 s granted at 0 holding "a" (revision 2), and a read at `seen_ns` that finds "a"
/// gone at revision 3: only the lease's expiry can have deleted it.
fn expired_lease_seen_at(seen_ns: u64) -> Recorder {
    let mut history = Recorder::default();
    history.invoke(0, 1, 0, Request::LeaseGrant { id: 7, ttl: 5 });
    history.ok(
        0,
        1,
        10,
        Response::LeaseGrant {
            header: header(1),
            id: 7,
            ttl: 5,
        },
    );
    history.invoke(0, 2, 20, put("a", "1", 7));
    history.ok(
        0,
        2,
        30,
        Response::Put {
            header: header(2),
            prev_kv: None,
        },
    );
    history.get(1, 3, (seen_ns, seen_ns + 10), "a", None, 3);
    history
}

// Leases rely on bounded clock error: with a clock uncertainty, a lease may expire early by up
// to the step plus the drift's share of its TTL, and no earlier. The default is no tolerance.
#[test]
fn lease_may_expire_early_by_the_clock_uncertainty() {
    let second = 1_000_000_000;
    let history = expired_lease_seen_at(4 * second); // one second early
    let with = |clock: ClockUncertainty| {
        history.check_with(CheckOptions {
            clock,
            ..CheckOptions::default()
        })
    };
    let step = |millis| ClockUncertainty {
        step: Duration::from_millis(millis),
        drift_ppm: 0,
    };
    let strict = history.check();
    assert_eq!(
        strict.violations[0].property,
        "lease keeps keys while alive"
    );

    let within = with(step(1_500));
    assert_eq!(
        (within.verdict, within.exit_code()),
        (Verdict::Linearizable, 0),
        "{within}"
    );
    // 200,000 ppm of a 5 s TTL is one second.
    let drifting = with(ClockUncertainty {
        step: Duration::ZERO,
        drift_ppm: 200_000,
    });
    assert_eq!(drifting.exit_code(), 0, "{drifting}");

    let beyond = with(step(500));
    assert_eq!(beyond.exit_code(), 1, "{beyond}");
    assert_eq!(
        beyond.violations[0].property,
        "lease keeps keys while alive"
    );
}

// The lease rule is evidence too: when a delete with an unknown outcome can explain a key's
// disappearance, the checker does not blame an early expiry of its lease (which it could
// otherwise pick, as the expiry is a candidate from the lease's first mention on).
#[test]
fn unknown_delete_explains_a_vanished_leased_key() {
    let second = 1_000_000_000;
    let mut history = expired_lease_seen_at(second);
    history.invoke(
        2,
        4,
        100,
        Request::DeleteRange {
            key: "a".into(),
            range_end: String::new(),
            prev_kv: false,
        },
    );
    history.timed_out(2, 4, 200);
    let report = history.check();
    assert_eq!(
        (report.verdict, report.exit_code()),
        (Verdict::Linearizable, 0),
        "{report}"
    );
}

// A revoke whose lease held keys writes a revision only if nothing overwrote those keys first:
// when a write with an unknown outcome took the revision the revoke's response names and
// detached the lease's only key, the revoke wrote nothing and returned that same revision. (A
// swarm history, seed 1368, was once called a violation for this.)
#[test]
fn unknown_write_may_empty_a_lease_before_its_revoke() {
    let mut history = Recorder::default();
    history.invoke(0, 1, 0, Request::LeaseGrant { id: 7, ttl: 60 });
    let granted = Response::LeaseGrant {
        header: header(1),
        id: 7,
        ttl: 60,
    };
    history.ok(0, 1, 5, granted);
    history.invoke(0, 2, 10, put("a", "1", 7));
    let put_done = Response::Put {
        header: header(2),
        prev_kv: None,
    };
    history.ok(0, 2, 15, put_done);
    // Overwrites "a" without the lease; its client never learns the outcome.
    history.invoke(1, 3, 20, put("a", "2", 0));
    history.timed_out(1, 3, 30);
    history.invoke(0, 4, 25, Request::LeaseRevoke { id: 7 });
    history.ok(0, 4, 35, Response::LeaseRevoke { header: header(3) });
    // "a" survived the revoke, as the unknown put wrote it at revision 3.
    history.get(2, 5, (40, 50), "a", Some(kv("a", "2", 2, 3, 2)), 3);
    let report = history.check();
    assert_eq!(report.verdict, Verdict::Linearizable, "{report}");

    // Without the overwrite, the revoke deleted "a" at revision 3, and the read is a violation.
    let mut without = Recorder {
        records: history.records.clone(),
    };
    without.records.drain(4..6);
    assert_eq!(without.check().verdict, Verdict::NotLinearizable);
}

/// A watch on every key ("a" up to "z") from revision 2, as op `op`, one response per event.
fn watch_all(history: &mut Recorder, op: u64, events: Vec<WatchEvent>) {
    let request = Request::Watch {
        key: "a".into(),
        range_end: "z".into(),
        start_revision: 2,
        prev_kv: false,
        filters: vec![],
    };
    history.invoke(9, op, 0, request);
    history.ok(9, op, 1, Response::Watch { header: header(1) });
    for (index, event) in events.into_iter().enumerate() {
        history.records.push(HistoryRecord::Watch {
            client: 9,
            op,
            time_ns: 1_000 + index as u64,
            events: vec![event],
            canceled: false,
            compact_revision: 0,
        });
    }
}

// Watches may deliver writes that no response ever names (here revisions 6 and 7, above the
// last response's 5), and the versions they show count puts up there: "x" and "y" each owe
// one put after revision 5. Every revision above the last one named is a gap, so those puts
// have somewhere to go, and the watch still decides which unknown put wrote revision 4. (A
// simulator history, h849, was once blamed for "a" at revision 4 because only one revision
// above the last named was counted.)
#[test]
fn watch_counts_past_the_last_response_still_decide_a_gap() {
    let mut history = Recorder::default();
    history.put(0, 1, (0, 10), "x", "1", 2);
    history.put(0, 2, (20, 30), "y", "1", 3);
    for (op, key) in [(3, "a"), (4, "b")] {
        history.invoke(1, op, 40 + op, put(key, "1", 0));
        history.timed_out(1, op, 60 + op);
    }
    history.put(0, 5, (70, 80), "c", "1", 5);
    for (op, key) in [(6, "x"), (7, "y")] {
        history.invoke(2, op, 90 + op, put(key, "2", 0));
        history.timed_out(2, op, 110 + op);
    }
    let events = [
        kv("x", "1", 2, 2, 1),
        kv("y", "1", 3, 3, 1),
        kv("b", "1", 4, 4, 1),
        kv("c", "1", 5, 5, 1),
        kv("x", "2", 2, 6, 2),
        kv("y", "2", 3, 7, 2),
    ];
    watch_all(
        &mut history,
        100,
        events.into_iter().map(put_event).collect(),
    );
    let report = history.check();
    assert_eq!(
        (report.verdict, report.exit_code()),
        (Verdict::Linearizable, 0),
        "{report}"
    );

    // Without the put of "b", only "a" can have written revision 4, against the watch.
    history.records.retain(|record| {
        !matches!(
            record,
            HistoryRecord::Invoke { op: 4, .. } | HistoryRecord::Return { op: 4, .. }
        )
    });
    let report = history.check();
    assert_eq!(report.exit_code(), 1, "{report}");
    assert_eq!(report.violations[0].property, "watch events match writes");
}

/// Lease 7 (TTL 60 s) granted at 0 holds "a" from revision 2; a read at 100 ns finds "a" gone
/// at revision 3, long before the TTL; a watch on "z" delivers a write of "z" at revision 2
/// that no request made, which no order can explain.
fn lease_emptied_early_beside_a_broken_watch() -> Recorder {
    let mut history = Recorder::default();
    history.invoke(0, 1, 0, Request::LeaseGrant { id: 7, ttl: 60 });
    let granted = Response::LeaseGrant {
        header: header(1),
        id: 7,
        ttl: 60,
    };
    history.ok(0, 1, 10, granted);
    history.invoke(0, 2, 20, put("a", "1", 7));
    let put_done = Response::Put {
        header: header(2),
        prev_kv: None,
    };
    history.ok(0, 2, 30, put_done);
    history.get(1, 3, (100, 110), "a", None, 3);
    watch_key(
        &mut history,
        100,
        "z",
        vec![vec![put_event(kv("z", "9", 2, 2, 1))]],
    );
    history
}

// A revoke whose outcome is unknown explains a lease's keys vanishing before its TTL, if it was
// invoked before the deletion was seen. The lease check holds to that even when it judges an
// order that broke a watch (with no order agreeing with every watch, the checker reports the
// watch against one that ignores them, which may have let the lease expire in the revoke's
// place). A revoke invoked only after the deletion was seen explains nothing.
#[test]
fn unknown_revoke_explains_a_lease_emptied_before_its_ttl() {
    let mut revoked = lease_emptied_early_beside_a_broken_watch();
    revoked.invoke(2, 4, 50, Request::LeaseRevoke { id: 7 });
    revoked.timed_out(2, 4, 60);
    let report = revoked.check();
    let properties: Vec<&str> = report.violations.iter().map(|v| v.property).collect();
    assert_eq!(properties, vec!["watch events match writes"], "{report}");

    let mut revoked_too_late = lease_emptied_early_beside_a_broken_watch();
    revoked_too_late.invoke(2, 4, 120, Request::LeaseRevoke { id: 7 });
    revoked_too_late.timed_out(2, 4, 130);
    let report = revoked_too_late.check();
    let properties: Vec<&str> = report.violations.iter().map(|v| v.property).collect();
    assert!(
        properties.contains(&"lease keeps keys while alive"),
        "{report}"
    );
}

/// Puts "a" at revisions 2, 3 and 4, then two compactions that both succeed at store revision
/// 4: to revision 3 (op 4) and to revision 2 (op 5), at the given times.
fn two_compactions(to_3: (u64, u64), to_2: (u64, u64)) -> Recorder {
    let mut history = Recorder::default();
    history.put(0, 1, (0, 10), "a", "1", 2);
    history.put(0, 2, (20, 30), "a", "2", 3);
    history.put(0, 3, (40, 50), "a", "3", 4);
    let compacted = Response::Compact { header: header(4) };
    history.invoke(1, 4, to_3.0, Request::Compact { revision: 3 });
    history.invoke(2, 5, to_2.0, Request::Compact { revision: 2 });
    let mut returns = [(to_3.1, 1, 4), (to_2.1, 2, 5)];
    returns.sort_unstable();
    for (time_ns, client, op) in returns {
        history.ok(client, op, time_ns, compacted.clone());
    }
    history
}

// Two concurrent compactions that both succeed at one store revision happened in the order of
// their targets, whichever was invoked first; only if the higher one returned before the lower
// one was invoked can no order explain them.
#[test]
fn compactions_at_one_revision_apply_in_the_order_of_their_targets() {
    let concurrent = two_compactions((100, 130), (110, 120));
    let report = concurrent.check();
    assert_eq!(report.verdict, Verdict::Linearizable, "{report}");

    let in_sequence = two_compactions((100, 105), (110, 120));
    let report = in_sequence.check();
    assert_eq!(report.verdict, Verdict::NotLinearizable, "{report}");
}

/// A read of `key` at revision `revision` (0: the store as it is).
fn get_at(key: &str, revision: i64) -> Request {
    match get(key) {
        Request::Range { key, range_end, .. } => Request::Range {
            key,
            range_end,
            revision,
            limit: 0,
            keys_only: false,
            count_only: false,
            serializable: false,
        },
        _ => unreachable!("get builds a range"),
    }
}

/// Grants lease 7 (op 1) and puts "a" on it (op 2); the rest is up to the caller.
fn leased_put(put_times: (u64, u64), revision: i64) -> Recorder {
    let mut history = Recorder::default();
    history.invoke(0, 1, 0, Request::LeaseGrant { id: 7, ttl: 10 });
    let granted = Response::LeaseGrant {
        header: header(1),
        id: 7,
        ttl: 10,
    };
    history.ok(0, 1, 5, granted);
    history.invoke(0, 2, put_times.0, put("a", "1", 7));
    let put_done = Response::Put {
        header: header(revision),
        prev_kv: None,
    };
    history.ok(0, 2, put_times.1, put_done);
    history
}

/// Op `op` reads "a" at `read_at` over [times], seeing it on lease 7, at store revision
/// `revision`.
fn sees_a_on_lease_7(history: &mut Recorder, op: u64, times: (u64, u64), read_at: i64) {
    let mut seen = kv("a", "1", 2, 2, 1);
    seen.lease = 7;
    history.invoke(1, op, times.0, get_at("a", read_at));
    let response = Response::Range {
        header: header(3),
        kvs: vec![seen],
        count: 1,
        more: false,
    };
    history.ok(1, op, times.1, response);
}

fn lease_properties(report: &CheckReport) -> Vec<&'static str> {
    report.violations.iter().map(|v| v.property).collect()
}

// A read at a past revision shows the store as it was then: after a lease's revoke returned, it
// may still see a key attached to the lease at a revision before the revoke's. Seen at the
// latest revision, or at a past revision the revoke had already reached, the key breaks the
// revoke (here the revoke found the lease empty at revision 1, and a put, invoked before the
// revoke returned, attached "a" to it at 2, which etcd would have refused).
#[test]
fn a_read_at_a_past_revision_may_see_a_revoked_lease() {
    let mut before_the_revoke = leased_put((10, 15), 2);
    before_the_revoke.invoke(0, 3, 20, Request::LeaseRevoke { id: 7 });
    let revoked = Response::LeaseRevoke { header: header(3) };
    before_the_revoke.ok(0, 3, 25, revoked);
    sees_a_on_lease_7(&mut before_the_revoke, 4, (30, 35), 2);
    let report = before_the_revoke.check();
    assert_eq!(report.verdict, Verdict::Linearizable, "{report}");
    assert!(report.violations.is_empty(), "{report}");

    for read_at in [0, 2] {
        let mut after_the_revoke = leased_put((10, 40), 2);
        after_the_revoke.invoke(0, 3, 20, Request::LeaseRevoke { id: 7 });
        let revoked = Response::LeaseRevoke { header: header(1) };
        after_the_revoke.ok(0, 3, 25, revoked);
        after_the_revoke.put(2, 4, (50, 60), "b", "1", 3);
        sees_a_on_lease_7(&mut after_the_revoke, 5, (70, 80), read_at);
        let report = after_the_revoke.check();
        assert_eq!(report.verdict, Verdict::Linearizable, "{report}");
        assert_eq!(lease_properties(&report), vec!["lease revoke"], "{report}");
    }
}

/// Puts "a" at revisions 2, 3 and 4, compacts to 3 (answered at revision 4, returning at 50),
/// then puts "a" at 5; a watch of "a" from revision 2 is invoked at 60, answered with `created`
/// (the store revision of its member then; `None`: never answered), and delivers `events`.
fn watch_below_compaction(created: Option<i64>, events: Vec<WatchEvent>) -> Recorder {
    let mut history = Recorder::default();
    history.put(0, 1, (0, 10), "a", "1", 2);
    history.put(0, 2, (20, 30), "a", "2", 3);
    history.put(0, 3, (31, 39), "a", "3", 4);
    history.invoke(1, 4, 40, Request::Compact { revision: 3 });
    history.ok(1, 4, 50, Response::Compact { header: header(4) });
    history.put(0, 5, (52, 58), "a", "4", 5);
    let request = Request::Watch {
        key: "a".into(),
        range_end: String::new(),
        start_revision: 2,
        prev_kv: false,
        filters: vec![],
    };
    history.invoke(9, 6, 60, request);
    let Some(created) = created else {
        let reason = "client timeout".to_string();
        let outcome = Outcome::Unknown { reason };
        history.records.push(HistoryRecord::Return {
            client: 9,
            op: 6,
            time_ns: 70,
            outcome,
        });
        return history;
    };
    history.ok(
        9,
        6,
        61,
        Response::Watch {
            header: header(created),
        },
    );
    if !events.is_empty() {
        history.records.push(HistoryRecord::Watch {
            client: 9,
            op: 6,
            time_ns: 62,
            events,
            canceled: false,
            compact_revision: 0,
        });
    }
    history
}

// A compaction reaches each member when that member applies it, so a watch below the
// compaction point is owed a cancel only by a member known to have applied the compaction when
// it created the watch: one whose store had passed the revision the compaction was answered at.
// A watch never answered may never have reached a member, and one created on a member still at
// that revision may have been served from history its member still held.
#[test]
fn a_watch_is_canceled_for_compaction_only_where_the_compaction_was_applied() {
    let report = watch_below_compaction(None, Vec::new()).check();
    assert!(report.violations.is_empty(), "{report}");

    let from_history: Vec<WatchEvent> = [(2, 1), (3, 2), (4, 3)]
        .into_iter()
        .map(|(revision, version)| {
            put_event(kv("a", &(revision - 1).to_string(), 2, revision, version))
        })
        .collect();
    let report = watch_below_compaction(Some(4), from_history).check();
    assert!(report.violations.is_empty(), "{report}");

    let report = watch_below_compaction(Some(5), Vec::new()).check();
    let properties: Vec<&str> = report.violations.iter().map(|v| v.property).collect();
    assert_eq!(properties, vec!["watch compaction cancel"], "{report}");
}
