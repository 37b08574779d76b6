//! Watches, served by each member from its own store (etcd's `watchable_store` and the gRPC watch
//! stream). Watches are sessions of this member, not replicated state, and are not in snapshots.
//!
//! Design: every watcher has the next revision it needs (`next_revision`). The history of the
//! MVCC store is the only source of events, for live changes and for replay alike:
//!
//! - After every applied entry, every request served and every `tick`, [`WatchHub::sync`] sends
//!   each watcher that is behind the store (`next_revision <= current`) the events it lacks, at
//!   most `watch_events_buffered_max` events per step and never splitting a revision. A watcher
//!   that kept up (etcd's synced group) is one revision behind after an apply and gets exactly
//!   that revision. A watcher created with a past start revision, or left behind by a snapshot
//!   restore (etcd's unsynced group), catches up from history over as many steps as it needs,
//!   so a slow watcher is bounded per step and never loses an event.
//! - A watcher whose next revision falls below the compaction point is canceled with
//!   `compact_revision` set, since the events it needs are gone.
//! - A watcher whose start revision is in the future waits until the store reaches it.
//!
//! Events of one revision therefore go out together, in revision order, without gaps or
//! duplicates, whatever the interleaving of applies, creates, restores and compactions.

use std::collections::BTreeMap;

use crate::io::{ClientId, RequestId};
use crate::kv::mvcc::{KeyRange, MvccStore, Record};
use crate::kv::types::{
    Event, EventKind, Response, ResponseHeader, WatchCreateRequest, WatchFilter, WatchId,
    WatchResponse,
};
use crate::state_machine::Notifications;
use crate::time::{Duration, Instant};

/// A watch stream: the (client, request id) its operations arrive under.
pub type StreamId = (ClientId, RequestId);

/// etcd's answer on a stream-wide progress notification and on a refused create.
const NO_WATCH_ID: WatchId = -1;

#[derive(Clone, Debug)]
struct Watcher {
    range: KeyRange,
    no_put: bool,
    no_delete: bool,
    prev_kv: bool,
    progress_notify: bool,
    /// The first revision this watcher has not been sent.
    next_revision: i64,
    /// Something was sent since the last periodic progress notification (etcd skips those
    /// watchers, as the events already told the client how far the store has come).
    sent_since_progress: bool,
}

impl Watcher {
    /// A watcher for `request`, or etcd's reason for refusing it.
    fn new(request: &WatchCreateRequest, store: &MvccStore) -> Result<Watcher, &'static str> {
        // etcd turns an empty key into "\0", the smallest key.
        let key = if request.key.is_empty() {
            vec![0]
        } else {
            request.key.clone()
        };
        let range = KeyRange::new(&key, &request.range_end);
        if range.is_empty() {
            return Err("mvcc: watcher range is empty");
        }
        let start = if request.start_revision > 0 {
            request.start_revision
        } else {
            store.current_revision() + 1
        };
        Ok(Watcher {
            range,
            no_put: request.filters.contains(&WatchFilter::NoPut),
            no_delete: request.filters.contains(&WatchFilter::NoDelete),
            prev_kv: request.prev_kv,
            progress_notify: request.progress_notify,
            next_revision: start,
            sent_since_progress: false,
        })
    }

    fn wants(&self, event: &Event) -> bool {
        let filtered = match event.kind {
            EventKind::Put => self.no_put,
            EventKind::Delete => self.no_delete,
        };
        !filtered && self.range.contains(&event.kv.key)
    }

    fn is_synced(&self, store: &MvccStore) -> bool {
        self.next_revision > store.current_revision()
    }
}

#[derive(Clone, Debug, Default)]
struct WatchStream {
    watchers: BTreeMap<WatchId, Watcher>,
    /// The next id the server hands out (etcd starts at 0 and skips ids in use).
    next_watch_id: WatchId,
}

/// Every watch stream of this member.
#[derive(Clone, Debug, Default)]
pub struct WatchHub {
    streams: BTreeMap<StreamId, WatchStream>,
    /// When the next periodic progress notification is due; `None` until a watch asks for them.
    next_progress_at: Option<Instant>,
    /// The lowest `next_revision` of any watcher (`None` without watchers), kept exact, so that
    /// the delivery step after every input costs nothing while every watcher is synced.
    lowest_next_revision: Option<i64>,
}

fn header(store: &MvccStore) -> ResponseHeader {
    ResponseHeader {
        revision: store.current_revision(),
        ..ResponseHeader::default()
    }
}

fn send(notify: &mut Notifications<Response>, stream: StreamId, response: WatchResponse) {
    notify.push((stream.0, stream.1, Response::Watch(response)));
}

impl WatchHub {
    /// Create a watch on `stream`. The created response goes out first; the history the watch
    /// asked for follows at the next delivery step.
    pub fn create(
        &mut self,
        now: Instant,
        progress_interval: Duration,
        stream_id: StreamId,
        request: &WatchCreateRequest,
        store: &MvccStore,
        notify: &mut Notifications<Response>,
    ) {
        let stream = self.streams.entry(stream_id).or_default();
        let duplicate = request.watch_id != 0 && stream.watchers.contains_key(&request.watch_id);
        let watcher = match Watcher::new(request, store) {
            Ok(_) if duplicate => Err("mvcc: duplicate watch ID provided on the WatchStream"),
            result => result,
        };
        let watcher = match watcher {
            Ok(watcher) => watcher,
            Err(reason) => return send(notify, stream_id, refused(store, reason)),
        };
        if watcher.progress_notify && self.next_progress_at.is_none() {
            self.next_progress_at = Some(now + progress_interval);
        }
        let watch_id = if request.watch_id != 0 {
            request.watch_id
        } else {
            stream.free_id()
        };
        let next_revision = watcher.next_revision;
        stream.watchers.insert(watch_id, watcher);
        self.lowest_next_revision = Some(
            self.lowest_next_revision
                .map_or(next_revision, |lowest| lowest.min(next_revision)),
        );
        let created = WatchResponse {
            header: header(store),
            watch_id,
            created: true,
            ..WatchResponse::default()
        };
        send(notify, stream_id, created);
    }

    /// Cancel a watch; an unknown id gets no answer, as in etcd.
    pub fn cancel(
        &mut self,
        stream_id: StreamId,
        watch_id: WatchId,
        store: &MvccStore,
        notify: &mut Notifications<Response>,
    ) {
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            return;
        };
        if stream.watchers.remove(&watch_id).is_some() {
            self.update_lowest_next_revision();
            let canceled = WatchResponse {
                header: header(store),
                watch_id,
                canceled: true,
                ..WatchResponse::default()
            };
            send(notify, stream_id, canceled);
        }
    }

    /// A progress request: answered with the store revision once every watcher of the stream has
    /// been sent everything up to it (etcd 3.5's `RequestProgress`), otherwise not at all.
    pub fn request_progress(
        &mut self,
        stream_id: StreamId,
        store: &MvccStore,
        notify: &mut Notifications<Response>,
    ) {
        let synced = self
            .streams
            .get(&stream_id)
            .is_none_or(|stream| stream.watchers.values().all(|w| w.is_synced(store)));
        if synced {
            let progress = WatchResponse {
                header: header(store),
                watch_id: NO_WATCH_ID,
                ..WatchResponse::default()
            };
            send(notify, stream_id, progress);
        }
    }

    /// Forget every stream of `client` (its connection is gone).
    pub fn close_client(&mut self, client: ClientId) {
        self.streams
            .retain(|(stream_client, _), _| *stream_client != client);
        self.update_lowest_next_revision();
    }

    fn update_lowest_next_revision(&mut self) {
        self.lowest_next_revision = self
            .streams
            .values()
            .flat_map(|stream| stream.watchers.values())
            .map(|watcher| watcher.next_revision)
            .min();
    }

    pub fn watcher_count(&self) -> usize {
        self.streams
            .values()
            .map(|stream| stream.watchers.len())
            .sum()
    }

    /// True when some watcher still lacks revisions the store has.
    pub fn has_unsynced(&self, store: &MvccStore) -> bool {
        let unsynced = self
            .lowest_next_revision
            .is_some_and(|lowest| lowest <= store.current_revision());
        debug_assert_eq!(
            unsynced,
            self.streams
                .values()
                .flat_map(|stream| stream.watchers.values())
                .any(|w| !w.is_synced(store)),
            "lowest_next_revision is stale"
        );
        unsynced
    }

    /// One step of delivery: every watcher behind the store gets its next batch (see the module
    /// comment), or is canceled if compaction removed what it needs.
    pub fn sync(
        &mut self,
        store: &MvccStore,
        events_per_step_max: usize,
        notify: &mut Notifications<Response>,
    ) {
        if !self.has_unsynced(store) {
            return;
        }
        let mut lowest: Option<i64> = None;
        for (&stream_id, stream) in &mut self.streams {
            stream.watchers.retain(|&watch_id, watcher| {
                if watcher.is_synced(store) {
                    lowest = Some(
                        lowest.map_or(watcher.next_revision, |l| l.min(watcher.next_revision)),
                    );
                    return true;
                }
                if watcher.next_revision < store.compact_revision() {
                    send(notify, stream_id, compacted(store, watch_id));
                    return false;
                }
                if let Some(response) = next_batch(watcher, watch_id, store, events_per_step_max) {
                    send(notify, stream_id, response);
                }
                lowest =
                    Some(lowest.map_or(watcher.next_revision, |l| l.min(watcher.next_revision)));
                true
            });
        }
        self.lowest_next_revision = lowest;
    }

    /// Periodic progress notifications for watches that asked for them (etcd's
    /// `ProgressNotifyInterval`): a synced watcher that was sent nothing during the last interval
    /// gets an empty response carrying the store revision.
    pub fn tick(
        &mut self,
        now: Instant,
        interval: Duration,
        store: &MvccStore,
        notify: &mut Notifications<Response>,
    ) {
        let Some(due) = self.next_progress_at else {
            return;
        };
        if now < due {
            return;
        }
        for (&stream_id, stream) in &mut self.streams {
            for (&watch_id, watcher) in &mut stream.watchers {
                if watcher.progress_notify
                    && !watcher.sent_since_progress
                    && watcher.is_synced(store)
                {
                    send(
                        notify,
                        stream_id,
                        WatchResponse {
                            header: header(store),
                            watch_id,
                            ..WatchResponse::default()
                        },
                    );
                }
                watcher.sent_since_progress = false;
            }
        }
        self.next_progress_at = Some(now + interval);
    }

    /// When `tick` next has progress notifications to send.
    pub fn next_progress_at(&self) -> Instant {
        self.next_progress_at.unwrap_or(Instant::NEVER)
    }
}

impl WatchStream {
    fn free_id(&mut self) -> WatchId {
        while self.watchers.contains_key(&self.next_watch_id) {
            self.next_watch_id += 1;
        }
        self.next_watch_id += 1;
        self.next_watch_id - 1
    }
}

/// etcd's answer to a create it refuses: created and canceled at once, with the reason.
fn refused(store: &MvccStore, reason: &str) -> WatchResponse {
    WatchResponse {
        header: header(store),
        watch_id: NO_WATCH_ID,
        created: true,
        canceled: true,
        cancel_reason: reason.to_string(),
        ..WatchResponse::default()
    }
}

fn compacted(store: &MvccStore, watch_id: WatchId) -> WatchResponse {
    WatchResponse {
        header: header(store),
        watch_id,
        canceled: true,
        compact_revision: store.compact_revision(),
        ..WatchResponse::default()
    }
}

/// The watcher's next events: whole revisions from `next_revision` on, stopping before a revision
/// that would take the batch past `events_max` (a single revision is always sent whole). Advances
/// `next_revision` past the revisions taken; `None` when none of them had a matching event.
fn next_batch(
    watcher: &mut Watcher,
    watch_id: WatchId,
    store: &MvccStore,
    events_max: usize,
) -> Option<WatchResponse> {
    let mut events: Vec<Event> = Vec::new();
    while watcher.next_revision <= store.current_revision() {
        let revision = watcher.next_revision;
        let revision_events: Vec<Event> = store
            .changes(revision, revision)
            .map(Record::event)
            .filter(|event| watcher.wants(event))
            .map(|event| with_prev_kv(event, watcher.prev_kv, store))
            .collect();
        if !events.is_empty() && events.len() + revision_events.len() > events_max {
            break;
        }
        events.extend(revision_events);
        watcher.next_revision += 1;
    }
    if events.is_empty() {
        return None;
    }
    watcher.sent_since_progress = true;
    Some(WatchResponse {
        header: header(store),
        watch_id,
        events,
        ..WatchResponse::default()
    })
}

fn with_prev_kv(mut event: Event, wanted: bool, store: &MvccStore) -> Event {
    if wanted {
        event.prev_kv = store.prev_kv(&event.kv.key, event.kv.mod_revision);
    }
    event
}
