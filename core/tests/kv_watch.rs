//! Watches: creation, ids, filters, prev_kv, cancel, history replay and compaction, progress,
//! bounded catch-up and survival across a snapshot restore.

mod kv_util;

// In a module named `kv` so that `cargo test -p detcd-core kv` selects these tests.
mod kv {

    use crate::kv_util::{Harness, delete_op, put_op, watch_responses};
    use detcd_core::kv::*;
    use detcd_core::state_machine::StateMachine;
    use detcd_core::time::{Duration, Instant};

    const CLIENT: u64 = 9;
    const STREAM: u64 = 1;

    fn watch(key: &str, range_end: &str) -> WatchCreateRequest {
        WatchCreateRequest {
            key: key.into(),
            range_end: range_end.into(),
            ..WatchCreateRequest::default()
        }
    }

    fn create(harness: &mut Harness, request: WatchCreateRequest) -> Vec<WatchResponse> {
        assert!(
            harness
                .serve(
                    CLIENT,
                    STREAM,
                    Request::Watch(WatchRequest::Create(request))
                )
                .is_none(),
            "watch answers go out as notifications"
        );
        watch_responses(&harness.take_notified())
    }

    fn events_of(responses: &[WatchResponse]) -> Vec<(EventKind, String, i64)> {
        responses
            .iter()
            .flat_map(|r| &r.events)
            .map(|e| {
                (
                    e.kind,
                    String::from_utf8_lossy(&e.kv.key).into_owned(),
                    e.kv.mod_revision,
                )
            })
            .collect()
    }

    // A create is answered with `created` (server-chosen ids start at 0 on each stream, as in etcd);
    // every later response of the stream goes to the same (client, request id).
    #[test]
    fn created_then_events_on_the_stream() {
        let mut harness = Harness::default();
        let created = create(&mut harness, watch("k", ""));
        assert_eq!(created.len(), 1);
        assert!(created[0].created && created[0].watch_id == 0 && created[0].header.revision == 1);
        harness.put("k", "1");
        harness.put("other", "1");
        let notified = harness.take_notified();
        assert_eq!(notified.len(), 1);
        assert_eq!((notified[0].0, notified[0].1), (CLIENT, STREAM));
        assert_eq!(
            events_of(&watch_responses(&notified)),
            [(EventKind::Put, "k".into(), 2)]
        );
    }

    // Several watches share one stream, each with its own id; a client-chosen id is kept, a
    // duplicate one refused with etcd's mvcc.ErrWatcherDuplicateID, an empty range with
    // ErrEmptyWatcherRange.
    #[test]
    fn watch_ids_on_a_shared_stream() {
        let mut harness = Harness::default();
        assert_eq!(
            create(
                &mut harness,
                WatchCreateRequest {
                    watch_id: 5,
                    ..watch("a", "")
                }
            )[0]
            .watch_id,
            5
        );
        assert_eq!(create(&mut harness, watch("b", ""))[0].watch_id, 0);
        assert_eq!(create(&mut harness, watch("c", ""))[0].watch_id, 1);
        let duplicate = create(
            &mut harness,
            WatchCreateRequest {
                watch_id: 5,
                ..watch("d", "")
            },
        );
        assert!(duplicate[0].canceled && duplicate[0].watch_id == -1);
        assert_eq!(
            duplicate[0].cancel_reason,
            "mvcc: duplicate watch ID provided on the WatchStream"
        );
        let empty = create(&mut harness, watch("z", "a"));
        assert_eq!(empty[0].cancel_reason, "mvcc: watcher range is empty");
        harness.put("a", "1");
        harness.put("b", "1");
        let ids: Vec<WatchId> = watch_responses(&harness.take_notified())
            .iter()
            .map(|r| r.watch_id)
            .collect();
        assert_eq!(ids, [5, 0]);
    }

    // Filters drop puts or deletes; prev_kv carries the key as it was before the change.
    #[test]
    fn filters_and_prev_kv() {
        let mut harness = Harness::default();
        create(
            &mut harness,
            WatchCreateRequest {
                filters: vec![WatchFilter::NoPut],
                prev_kv: true,
                ..watch("a", "\0")
            },
        );
        harness.put("a", "1");
        harness.put("b", "2");
        harness.delete("a", "c");
        let responses = watch_responses(&harness.take_notified());
        assert_eq!(
            events_of(&responses),
            [
                (EventKind::Delete, "a".into(), 4),
                (EventKind::Delete, "b".into(), 4)
            ]
        );
        assert_eq!(responses[0].events[1].prev_kv.as_ref().unwrap().value, b"2");
    }

    // The events of one revision (a txn) come in one response, ordered as the txn made them.
    #[test]
    fn a_revision_is_delivered_together() {
        let mut harness = Harness::default();
        harness.put("b", "0");
        create(&mut harness, watch("a", "\0"));
        let txn = TxnRequest {
            success: vec![put_op("c", "1"), delete_op("b", ""), put_op("a", "1")],
            ..TxnRequest::default()
        };
        harness.apply(Request::Txn(txn));
        let responses = watch_responses(&harness.take_notified());
        assert_eq!(responses.len(), 1);
        assert_eq!(
            events_of(&responses),
            [
                (EventKind::Put, "c".into(), 3),
                (EventKind::Delete, "b".into(), 3),
                (EventKind::Put, "a".into(), 3)
            ]
        );
    }

    // Cancel answers `canceled` and stops events; canceling an unknown id gets no answer.
    #[test]
    fn cancel_stops_events() {
        let mut harness = Harness::default();
        create(&mut harness, watch("k", ""));
        harness.serve(
            CLIENT,
            STREAM,
            Request::Watch(WatchRequest::Cancel { watch_id: 0 }),
        );
        let canceled = watch_responses(&harness.take_notified());
        assert!(canceled[0].canceled && canceled[0].watch_id == 0);
        harness.serve(
            CLIENT,
            STREAM,
            Request::Watch(WatchRequest::Cancel { watch_id: 0 }),
        );
        harness.put("k", "1");
        assert!(harness.take_notified().is_empty());
        assert_eq!(harness.kv.watcher_count(), 0);
    }

    // A start revision in the past replays history; below the compaction point the watch is
    // canceled with compact_revision set (watchable_store.go chooseAll: minRev < compactRev); at the
    // compaction point it still replays; a future start revision waits for it.
    #[test]
    fn start_revisions_and_compaction() {
        let mut harness = Harness::default();
        for value in ["1", "2", "3"] {
            harness.put("k", value);
        }
        harness.delete("k", "");
        harness.apply(Request::Compact(CompactRequest {
            revision: 5,
            physical: false,
        }));
        let compacted = create(
            &mut harness,
            WatchCreateRequest {
                start_revision: 4,
                ..watch("k", "")
            },
        );
        assert!(compacted[1].canceled);
        assert_eq!(compacted[1].compact_revision, 5);
        let at_compaction = create(
            &mut harness,
            WatchCreateRequest {
                start_revision: 5,
                ..watch("k", "")
            },
        );
        assert_eq!(
            events_of(&at_compaction),
            [(EventKind::Delete, "k".into(), 5)]
        );
        create(
            &mut harness,
            WatchCreateRequest {
                start_revision: 8,
                ..watch("k", "")
            },
        );
        harness.put("k", "6");
        harness.put("k", "7");
        assert!(
            events_of(&watch_responses(&harness.take_notified()))
                .iter()
                .all(|e| e.2 == 6 || e.2 == 7)
        );
        harness.put("k", "8");
        let future = watch_responses(&harness.take_notified());
        assert_eq!(
            future
                .iter()
                .filter(|r| r.events.iter().any(|e| e.kv.mod_revision == 8))
                .count(),
            2
        );
    }

    // A watcher far behind catches up from history at most watch_events_buffered_max events per
    // step, never splitting a revision; while it lags the stream gets no progress notification.
    #[test]
    fn lagging_watcher_catches_up_in_bounded_batches() {
        let mut harness = Harness::new(KvConfig {
            watch_events_buffered_max: 2,
            ..KvConfig::default()
        });
        for i in 0..5 {
            harness.put(&format!("k{i}"), "v");
        }
        let first = create(
            &mut harness,
            WatchCreateRequest {
                start_revision: 2,
                ..watch("k", "l")
            },
        );
        assert_eq!(first[1].events.len(), 2);
        assert_eq!(harness.kv.next_tick_deadline(), Instant::ZERO);
        harness.serve(CLIENT, STREAM, Request::Watch(WatchRequest::Progress));
        let mut rest = watch_responses(&harness.take_notified());
        assert_eq!(
            rest.len(),
            1,
            "a progress request waits until the stream is synced"
        );
        while harness.kv.next_tick_deadline() == Instant::ZERO {
            harness
                .kv
                .tick_watches(Instant::ZERO, &mut harness.notified);
            rest.extend(watch_responses(&harness.take_notified()));
        }
        assert_eq!(
            rest.iter().map(|r| r.events.len()).collect::<Vec<_>>(),
            [2, 1]
        );
        let revisions: Vec<i64> = events_of(&first[1..])
            .into_iter()
            .chain(events_of(&rest))
            .map(|e| e.2)
            .collect();
        assert_eq!(revisions, [2, 3, 4, 5, 6]);
        harness.serve(CLIENT, STREAM, Request::Watch(WatchRequest::Progress));
        let progress = watch_responses(&harness.take_notified());
        assert_eq!((progress[0].watch_id, progress[0].header.revision), (-1, 6));
    }

    // progress_notify: a synced watch that heard nothing for an interval gets an empty response with
    // the store revision; one that was sent events in the interval does not.
    #[test]
    fn periodic_progress_notifications() {
        let mut harness = Harness::default();
        let interval = harness.kv.config().watch_progress_notify_interval;
        create(
            &mut harness,
            WatchCreateRequest {
                progress_notify: true,
                ..watch("quiet", "")
            },
        );
        create(
            &mut harness,
            WatchCreateRequest {
                progress_notify: true,
                ..watch("busy", "")
            },
        );
        harness.put("busy", "1");
        harness.take_notified();
        assert_eq!(harness.kv.next_tick_deadline(), Instant::ZERO + interval);
        harness
            .kv
            .tick_watches(Instant::ZERO + interval, &mut harness.notified);
        let progress = watch_responses(&harness.take_notified());
        assert_eq!(progress.len(), 1);
        assert_eq!(
            (
                progress[0].watch_id,
                progress[0].header.revision,
                progress[0].events.len()
            ),
            (0, 2, 0)
        );
        harness
            .kv
            .tick_watches(Instant::ZERO + interval * 2, &mut harness.notified);
        assert_eq!(watch_responses(&harness.take_notified()).len(), 2);
        harness.kv.tick_watches(
            Instant::ZERO + interval * 2 + Duration::from_secs(1),
            &mut harness.notified,
        );
        assert!(harness.take_notified().is_empty());
    }

    // Watches are not replicated: after a snapshot restore a watcher keeps its place and catches up
    // from the restored history, or is canceled if that history was compacted.
    #[test]
    fn watchers_survive_restore() {
        let mut behind = Harness::default();
        let mut ahead = Harness::default();
        for harness in [&mut behind, &mut ahead] {
            harness.put("k", "1");
        }
        create(&mut behind, watch("k", ""));
        create(
            &mut behind,
            WatchCreateRequest {
                watch_id: 7,
                ..watch("k", "")
            },
        );
        ahead.put("k", "2");
        ahead.put("k", "3");
        behind
            .kv
            .restore(&ahead.kv.snapshot())
            .expect("a snapshot decodes");
        behind.kv.tick_watches(Instant::ZERO, &mut behind.notified);
        let caught_up = watch_responses(&behind.take_notified());
        assert_eq!(
            events_of(&caught_up[..1]),
            [
                (EventKind::Put, "k".into(), 3),
                (EventKind::Put, "k".into(), 4)
            ]
        );

        ahead.put("k", "4");
        ahead.apply(Request::Compact(CompactRequest {
            revision: 5,
            physical: false,
        }));
        ahead.put("k", "5");
        let mut lagging = Harness::default();
        lagging.put("k", "1");
        create(&mut lagging, watch("k", ""));
        lagging
            .kv
            .restore(&ahead.kv.snapshot())
            .expect("a snapshot decodes");
        lagging
            .kv
            .tick_watches(Instant::ZERO, &mut lagging.notified);
        let canceled = watch_responses(&lagging.take_notified());
        assert!(canceled[0].canceled && canceled[0].compact_revision == 5);
    }

    // A closed connection drops its streams.
    #[test]
    fn closing_a_client_drops_its_watches() {
        let mut harness = Harness::default();
        create(&mut harness, watch("k", ""));
        harness.kv.close_client(CLIENT);
        harness.put("k", "1");
        assert!(harness.take_notified().is_empty());
    }
}
