//! The MVCC store against a simple model: a full map of the keys per revision and the list of
//! events per revision. Random sequences of puts, deletes, flat txns, compactions and (historical)
//! ranges must give the model's answers; afterwards every revision still readable must read as
//! the model's map, a watch replayed from any start revision must deliver exactly the model's
//! events, and a snapshot must restore the same store (equal HashKV).

mod kv_util;

// In a module named `kv` so that `cargo test -p detcd-core kv` selects these tests.
mod kv {

    use std::collections::BTreeMap;

    use crate::kv_util::{Harness, error, watch_responses};
    use detcd_core::kv::*;
    use detcd_core::state_machine::StateMachine;
    use detcd_core::time::Instant;
    use proptest::prelude::*;

    const KEYS: &[&str] = &["a", "b", "c", "d", "e"];

    #[derive(Clone, Debug)]
    enum Op {
        Put {
            key: usize,
            value: u8,
        },
        /// `end`: None = one key, Some(None) = every key from `key` on ("\0"), Some(Some(k)) = up to k.
        Delete {
            key: usize,
            end: Option<Option<usize>>,
        },
        Range {
            key: usize,
            end: Option<Option<usize>>,
            revision_back: i64,
            limit: i64,
        },
        Txn {
            compare_key: usize,
            target: u8,
            operand: i64,
            result: u8,
            success: Vec<Op>,
            failure: Vec<Op>,
        },
        Compact {
            revision_back: i64,
        },
    }

    fn key_end() -> impl Strategy<Value = Option<Option<usize>>> {
        prop_oneof![3 => Just(None), 1 => Just(Some(None)), 2 => (0..=KEYS.len()).prop_map(|k| Some(Some(k)))]
    }

    fn simple_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..KEYS.len(), 0u8..4).prop_map(|(key, value)| Op::Put { key, value }),
            2 => (0..KEYS.len(), key_end()).prop_map(|(key, end)| Op::Delete { key, end }),
            1 => (0..KEYS.len(), key_end(), 0i64..4, 0i64..3).prop_map(|(key, end, revision_back, limit)| Op::Range { key, end, revision_back, limit }),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        let txn = (
            0..KEYS.len(),
            0u8..4,
            0i64..6,
            0u8..4,
            prop::collection::vec(simple_op(), 0..4),
            prop::collection::vec(simple_op(), 0..4),
        )
            .prop_map(
                |(compare_key, target, operand, result, success, failure)| Op::Txn {
                    compare_key,
                    target,
                    operand,
                    result,
                    success,
                    failure,
                },
            );
        prop_oneof![
            6 => simple_op(),
            3 => txn,
            1 => (-2i64..6).prop_map(|revision_back| Op::Compact { revision_back }),
        ]
    }

    fn key_bytes(key: usize) -> Vec<u8> {
        KEYS.get(key)
            .map_or(b"z".to_vec(), |k| k.as_bytes().to_vec())
    }

    fn end_bytes(end: &Option<Option<usize>>) -> Vec<u8> {
        match end {
            None => Vec::new(),
            Some(None) => vec![0],
            Some(Some(key)) => key_bytes(*key),
        }
    }

    /// The model: a full key map per revision (index = revision) and the events of each revision.
    struct Model {
        maps: Vec<BTreeMap<Vec<u8>, KeyValue>>,
        events: Vec<Vec<(EventKind, KeyValue)>>,
        compacted: i64,
    }

    impl Model {
        fn new() -> Model {
            // Revision 0 is unused; revision 1 is the empty store.
            Model {
                maps: vec![BTreeMap::new(), BTreeMap::new()],
                events: vec![Vec::new(), Vec::new()],
                compacted: -1,
            }
        }

        fn current(&self) -> i64 {
            self.maps.len() as i64 - 1
        }

        fn in_range(key: &[u8], start: &[u8], end: &[u8]) -> bool {
            match end {
                [] => key == start,
                [0] => key >= start,
                end => key >= start && key < end,
            }
        }

        fn read(&self, start: &[u8], end: &[u8], at: i64) -> Vec<KeyValue> {
            self.maps[at as usize]
                .values()
                .filter(|kv| Model::in_range(&kv.key, start, end))
                .cloned()
                .collect()
        }

        /// Run a write transaction of `ops` (already chosen); commits a revision if anything changed.
        fn write(&mut self, ops: &[Op]) {
            let main = self.current() + 1;
            let mut map = self.maps.last().unwrap().clone();
            let mut events = Vec::new();
            for op in ops {
                match op {
                    Op::Put { key, value } => {
                        let key = key_bytes(*key);
                        let prev = map.get(&key);
                        let kv = KeyValue {
                            key: key.clone(),
                            create_revision: prev.map_or(main, |p| p.create_revision),
                            mod_revision: main,
                            version: prev.map_or(1, |p| p.version + 1),
                            value: vec![*value],
                            lease: 0,
                        };
                        map.insert(key, kv.clone());
                        events.push((EventKind::Put, kv));
                    }
                    Op::Delete { key, end } => {
                        let (start, end) = (key_bytes(*key), end_bytes(end));
                        let doomed: Vec<Vec<u8>> = map
                            .keys()
                            .filter(|k| Model::in_range(k, &start, &end))
                            .cloned()
                            .collect();
                        for key in doomed {
                            map.remove(&key);
                            events.push((
                                EventKind::Delete,
                                KeyValue {
                                    key,
                                    mod_revision: main,
                                    ..KeyValue::default()
                                },
                            ));
                        }
                    }
                    Op::Range { .. } => {}
                    Op::Txn { .. } | Op::Compact { .. } => unreachable!("txns are flat"),
                }
            }
            if !events.is_empty() {
                self.maps.push(map);
                self.events.push(events);
            }
        }

        /// etcd's duplicate-key rule for a flat branch: a key put twice, or put and deleted (a delete
        /// ending in "\0" conflicts with nothing, as in etcd).
        fn has_duplicates(ops: &[Op]) -> bool {
            let puts: Vec<Vec<u8>> = ops
                .iter()
                .filter_map(|op| {
                    if let Op::Put { key, .. } = op {
                        Some(key_bytes(*key))
                    } else {
                        None
                    }
                })
                .collect();
            let twice = puts
                .iter()
                .enumerate()
                .any(|(i, key)| puts[..i].contains(key));
            let deleted = ops.iter().any(|op| match op {
                Op::Delete { key, end: None } => puts.contains(&key_bytes(*key)),
                Op::Delete {
                    key,
                    end: Some(Some(end)),
                } => puts
                    .iter()
                    .any(|put| Model::in_range(put, &key_bytes(*key), &key_bytes(*end))),
                _ => false,
            });
            twice || deleted
        }

        fn compare_holds(&self, key: usize, target: u8, operand: i64, result: u8) -> bool {
            let kv = self.maps.last().unwrap().get(&key_bytes(key));
            if target == 3 && kv.is_none() {
                return false;
            }
            let kv = kv.cloned().unwrap_or_default();
            let ordering = match target {
                0 => kv.version.cmp(&operand),
                1 => kv.create_revision.cmp(&operand),
                2 => kv.mod_revision.cmp(&operand),
                _ => kv.value.cmp(&vec![operand as u8]),
            };
            match result {
                0 => ordering.is_eq(),
                1 => ordering.is_gt(),
                2 => ordering.is_lt(),
                _ => ordering.is_ne(),
            }
        }
    }

    fn compare_for(key: usize, target: u8, operand: i64, result: u8) -> Compare {
        let target = match target {
            0 => CompareTarget::Version(operand),
            1 => CompareTarget::Create(operand),
            2 => CompareTarget::Mod(operand),
            _ => CompareTarget::Value(vec![operand as u8]),
        };
        let result = [
            CompareResult::Equal,
            CompareResult::Greater,
            CompareResult::Less,
            CompareResult::NotEqual,
        ][result as usize];
        Compare {
            result,
            target,
            key: key_bytes(key),
            range_end: Vec::new(),
        }
    }

    fn to_request_op(op: &Op, current: i64) -> RequestOp {
        match op {
            Op::Put { key, value } => RequestOp::Put(PutRequest {
                key: key_bytes(*key),
                value: vec![*value],
                ..PutRequest::default()
            }),
            Op::Delete { key, end } => RequestOp::DeleteRange(DeleteRangeRequest {
                key: key_bytes(*key),
                range_end: end_bytes(end),
                prev_kv: false,
            }),
            Op::Range {
                key, end, limit, ..
            } => RequestOp::Range(range_request(*key, end, 0, *limit, current)),
            Op::Txn { .. } | Op::Compact { .. } => unreachable!("txns are flat"),
        }
    }

    fn range_request(
        key: usize,
        end: &Option<Option<usize>>,
        revision_back: i64,
        limit: i64,
        current: i64,
    ) -> RangeRequest {
        let revision = if revision_back == 0 {
            0
        } else {
            current + 1 - revision_back
        };
        RangeRequest {
            key: key_bytes(key),
            range_end: end_bytes(end),
            revision,
            limit,
            ..RangeRequest::default()
        }
    }

    /// The model's answer to a range read, or its error.
    fn model_range(
        model: &Model,
        request: &RangeRequest,
    ) -> Result<(Vec<KeyValue>, i64, bool), KvError> {
        if request.revision > model.current() {
            return Err(KvError::FutureRevision);
        }
        let at = if request.revision <= 0 {
            model.current()
        } else {
            request.revision
        };
        if at < model.compacted {
            return Err(KvError::Compacted);
        }
        let all = model.read(&request.key, &request.range_end, at);
        let count = all.len() as i64;
        let limit = request.limit as usize;
        let more = limit > 0 && all.len() > limit;
        let kvs = if more { all[..limit].to_vec() } else { all };
        Ok((kvs, count, more))
    }

    fn run_op(harness: &mut Harness, model: &mut Model, op: &Op) {
        let current = model.current();
        match op {
            Op::Put { .. } | Op::Delete { .. } => {
                let request = match to_request_op(op, current) {
                    RequestOp::Put(put) => Request::Put(put),
                    RequestOp::DeleteRange(delete) => Request::DeleteRange(delete),
                    _ => unreachable!(),
                };
                let response = harness.apply(request);
                assert!(response.error().is_none(), "{response:?}");
                model.write(std::slice::from_ref(op));
            }
            Op::Range {
                key,
                end,
                revision_back,
                limit,
            } => {
                let request = range_request(*key, end, *revision_back, *limit, current);
                let expected = model_range(model, &request);
                match (harness.range(request), expected) {
                    (Response::Range(got), Ok((kvs, count, more))) => {
                        assert_eq!((got.kvs, got.count, got.more), (kvs, count, more));
                        assert_eq!(got.header.revision, current);
                    }
                    (Response::Error(got), Err(expected)) => assert_eq!(got, expected),
                    (got, expected) => panic!("range: got {got:?}, model {expected:?}"),
                }
            }
            Op::Txn {
                compare_key,
                target,
                operand,
                result,
                success,
                failure,
            } => run_txn(
                harness,
                model,
                (*compare_key, *target, *operand, *result),
                success,
                failure,
            ),
            Op::Compact { revision_back } => {
                let revision = current - revision_back;
                let expected = if revision <= model.compacted {
                    Err(KvError::Compacted)
                } else if revision > current {
                    Err(KvError::FutureRevision)
                } else {
                    Ok(())
                };
                let response = harness.apply(Request::Compact(CompactRequest {
                    revision,
                    physical: false,
                }));
                match (response, expected) {
                    (Response::Compact(_), Ok(())) => model.compacted = revision,
                    (Response::Error(got), Err(expected)) => assert_eq!(got, expected),
                    (got, expected) => {
                        panic!("compact {revision}: got {got:?}, model {expected:?}")
                    }
                }
            }
        }
    }

    fn run_txn(
        harness: &mut Harness,
        model: &mut Model,
        guard: (usize, u8, i64, u8),
        success: &[Op],
        failure: &[Op],
    ) {
        let current = model.current();
        let request = TxnRequest {
            compare: vec![compare_for(guard.0, guard.1, guard.2, guard.3)],
            success: success
                .iter()
                .map(|op| to_request_op(op, current))
                .collect(),
            failure: failure
                .iter()
                .map(|op| to_request_op(op, current))
                .collect(),
        };
        let duplicates = Model::has_duplicates(success) || Model::has_duplicates(failure);
        let response = if request.has_writes() {
            harness.apply(Request::Txn(request))
        } else {
            harness.serve(0, 0, Request::Txn(request)).unwrap()
        };
        if duplicates {
            assert_eq!(error(response), KvError::DuplicateKey);
            return;
        }
        let Response::Txn(response) = response else {
            panic!("txn failed: {response:?}")
        };
        let succeeded = model.compare_holds(guard.0, guard.1, guard.2, guard.3);
        assert_eq!(response.succeeded, succeeded);
        model.write(if succeeded { success } else { failure });
        assert_eq!(
            response.header.revision,
            model.current(),
            "a txn takes one revision at most"
        );
    }

    /// Every revision the store still serves reads as the model's map; older ones are compacted.
    fn check_history(harness: &mut Harness, model: &Model) {
        for at in 1..=model.current() {
            let request = RangeRequest {
                key: vec![0],
                range_end: vec![0],
                revision: at,
                ..RangeRequest::default()
            };
            let response = harness.range(request);
            if at < model.compacted {
                assert_eq!(error(response), KvError::Compacted);
            } else {
                let Response::Range(got) = response else {
                    panic!("read at {at}: {response:?}")
                };
                assert_eq!(got.kvs, model.read(&[0], &[0], at), "read at {at}");
            }
        }
    }

    /// The model's events from revision `start` on, with prev_kv where history still holds it
    /// (the revision before the event is not below `compacted`).
    fn model_events(model: &Model, start: i64, compacted: i64) -> Vec<Event> {
        let mut expected = Vec::new();
        for revision in start.max(2)..=model.current() {
            for (kind, kv) in &model.events[revision as usize] {
                let prev_kv = (revision > compacted)
                    .then(|| model.maps[revision as usize - 1].get(&kv.key).cloned())
                    .flatten();
                expected.push(Event {
                    kind: *kind,
                    kv: kv.clone(),
                    prev_kv,
                });
            }
        }
        expected
    }

    /// Events of a watch, checking that no revision is split across responses.
    fn delivered_events(responses: &[WatchResponse], batch_max: usize) -> Vec<Event> {
        let mut events: Vec<Event> = Vec::new();
        for response in responses.iter().filter(|r| !r.events.is_empty()) {
            let first = response.events[0].kv.mod_revision;
            let last = response.events.last().unwrap().kv.mod_revision;
            assert!(
                events.last().is_none_or(|e| e.kv.mod_revision < first),
                "a revision is never split or repeated"
            );
            assert!(
                response.events.len() <= batch_max || first == last,
                "batches stay within watch_events_buffered_max"
            );
            events.extend(response.events.iter().cloned());
        }
        events
    }

    /// A watch from every start revision replays exactly the model's events, or is canceled with the
    /// compaction point when it starts below it.
    fn check_replay(harness: &mut Harness, model: &Model, batch_max: usize) {
        for start in 1..=model.current() + 1 {
            let create = WatchCreateRequest {
                key: vec![0],
                range_end: vec![0],
                start_revision: start,
                prev_kv: true,
                ..WatchCreateRequest::default()
            };
            harness.take_notified();
            harness.serve(
                100,
                start as u64,
                Request::Watch(WatchRequest::Create(create)),
            );
            for _ in 0..model.current() + 1 {
                harness
                    .kv
                    .tick_watches(Instant::ZERO, &mut harness.notified);
            }
            let responses: Vec<WatchResponse> = watch_responses(&harness.take_notified())
                .into_iter()
                .filter(|r| !r.created)
                .collect();
            if start < model.compacted {
                assert!(
                    responses[0].canceled && responses[0].compact_revision == model.compacted,
                    "start {start}: {responses:?}"
                );
                continue;
            }
            assert_eq!(
                delivered_events(&responses, batch_max),
                model_events(model, start, model.compacted),
                "watch from {start}"
            );
            harness.serve(
                100,
                start as u64,
                Request::Watch(WatchRequest::Cancel { watch_id: 0 }),
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        // The store answers every request as the model does, keeps every readable revision equal to
        // the model's, replays the model's events from any start revision (in batches that never
        // split a revision), delivers them live to a watch opened at the start, and round-trips
        // through a snapshot with an equal HashKV.
        #[test]
        fn store_matches_model(ops in prop::collection::vec(op(), 1..40), batch_max in 1usize..5) {
            let config = KvConfig { watch_events_buffered_max: batch_max, ..KvConfig::default() };
            let mut harness = Harness::new(config);
            let mut model = Model::new();
            let live = WatchCreateRequest { key: vec![0], range_end: vec![0], prev_kv: true, ..Default::default() };
            harness.serve(1, 1, Request::Watch(WatchRequest::Create(live)));
            for op in &ops {
                run_op(&mut harness, &mut model, op);
            }
            let live_responses: Vec<WatchResponse> = harness
                .take_notified()
                .into_iter()
                .filter(|(client, _, _)| *client == 1)
                .filter_map(|(_, _, r)| if let Response::Watch(w) = r { Some(w) } else { None })
                .collect();
            prop_assert!(live_responses.iter().all(|r| !r.canceled), "a synced watcher is never canceled");
            // A live watcher is sent each revision as it is applied, before anything can compact
            // it, so every event carries its prev_kv.
            prop_assert_eq!(delivered_events(&live_responses, usize::MAX), model_events(&model, 2, -1));

            check_history(&mut harness, &model);
            check_replay(&mut harness, &model, batch_max);

            let mut restored = KvStore::new(KvConfig::default());
            restored.restore(&harness.kv.snapshot()).expect("a snapshot decodes");
            prop_assert_eq!(restored.store(), harness.kv.store());
            let hash_kv = Request::HashKv(HashKvRequest { revision: 0 });
            let hash = |kv: &mut KvStore| kv.serve(Instant::ZERO, 0, 0, &hash_kv, false, &mut Vec::new());
            prop_assert_eq!(hash(&mut restored), hash(&mut harness.kv));
        }
    }
}
