//! The etcd v3 state machine: what a committed entry does, as etcd v3.4/v3.5 does it.
//!
//! [`KvStore`] implements [`StateMachine`]. Its replicated state — the MVCC history
//! ([`mvcc`]), the leases ([`lease::Lessor`]) and the alarms ([`quota::Alarms`]) — changes only in
//! `apply`, which is a pure function of the applied entries, and is what `snapshot` and `restore`
//! carry. Beside it live two per-member parts that are never replicated: the leader's lease
//! deadlines ([`lease::LeaseDeadlines`]) and this member's watch streams ([`watch::WatchHub`]).
//!
//! How the node drives it:
//!
//! - `route` says how to serve each request: writes, compaction, lease grant and revoke and alarm
//!   changes are proposed; ranges and read-only txns are reads (linearizable unless every range is
//!   serializable); lease keep-alive and time-to-live go to the leader; watch operations, HashKV,
//!   status and alarm listing are served locally.
//! - `serve` answers reads and local requests. A watch stream is the (client, request id) pair its
//!   operations arrive under; every answer for it, the created response included, goes out through
//!   `notify` and `serve` returns `None`.
//! - The leader calls `leader_tick` after every input; it returns a `LeaseRevoke` to propose for
//!   each lease past its deadline. `leadership_changed(now, true)` gives every lease a full TTL
//!   from `now`; a lease granted while leading starts its TTL at the next `leader_tick` or `serve`.
//! - `tick` (not yet part of the trait) moves lagging watchers forward and sends periodic progress
//!   notifications; `apply` and `serve` do the former too, so only progress notifications and a
//!   long catch-up on an idle store depend on it.

pub mod apply;
pub mod error;
pub mod lease;
pub mod mvcc;
pub mod quota;
pub mod range;
pub mod txn;
pub mod types;
pub mod validate;
pub mod watch;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::io::{ClientId, NodeId, RequestId};
use crate::raft::{ConfChange, Index, Membership};
use crate::state_machine::{DecodeError, Notifications, Route, ServiceError, StateMachine};
use crate::time::{Duration, Instant};

pub use error::{GrpcCode, KvError};
pub use types::*;

use apply::{Applier, stamp_txn};
use lease::{LeaseDeadlines, Lessor};
use mvcc::MvccStore;
use quota::{Alarms, LEASE_OVERHEAD_BYTES, request_cost};
use txn::{check_path, check_put_key, check_put_lease, txn_path};
use validate::validate;
use watch::WatchHub;

/// Limits and timings, with etcd's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvConfig {
    /// Past this size estimate the NOSPACE alarm is raised (etcd's `--quota-backend-bytes`, 2 GiB).
    pub quota_bytes: u64,
    /// Larger requests are refused (etcd's `--max-request-bytes`, 1.5 MiB).
    pub max_request_bytes: usize,
    /// Most compares, or operations in one branch, of a txn (etcd's `--max-txn-ops`, 128).
    pub max_txn_ops: usize,
    /// Most events one watcher is sent per delivery step; a watcher further behind catches up
    /// over several steps. A revision with more events is still sent whole.
    pub watch_events_buffered_max: usize,
    /// How often watches with `progress_notify` hear the store revision (etcd: 10 minutes).
    pub watch_progress_notify_interval: Duration,
    /// Granted TTLs are raised to this (see [`KvConfig::lease_ttl_min_secs_for`]).
    pub lease_ttl_min_secs: i64,
    /// How long the leader waits for an expired lease's revoke to apply before proposing it again
    /// (etcd's `defaultExpiredleaseRetryInterval`, 3 s).
    pub lease_revoke_retry_interval: Duration,
}

impl KvConfig {
    /// etcd's minimum lease TTL: `ceil(3/2 * election ticks * heartbeat interval)` in seconds, so a
    /// lease outlives a leader election. etcd's defaults (10 ticks of 100 ms) give 2 s.
    pub fn lease_ttl_min_secs_for(election_ticks: u64, heartbeat_interval: Duration) -> i64 {
        let min_ttl =
            heartbeat_interval * u32::try_from(3 * election_ticks / 2).unwrap_or(u32::MAX);
        i64::try_from(min_ttl.as_millis().div_ceil(1000)).unwrap_or(i64::MAX)
    }
}

impl Default for KvConfig {
    fn default() -> Self {
        KvConfig {
            quota_bytes: 2 * 1024 * 1024 * 1024,
            max_request_bytes: 1024 * 1024 + 512 * 1024,
            max_txn_ops: 128,
            watch_events_buffered_max: 1024,
            watch_progress_notify_interval: Duration::from_secs(600),
            lease_ttl_min_secs: KvConfig::lease_ttl_min_secs_for(10, Duration::from_millis(100)),
            lease_revoke_retry_interval: Duration::from_secs(3),
        }
    }
}

/// What every member holds identically: the content of a snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Replicated {
    store: MvccStore,
    lessor: Lessor,
    alarms: Alarms,
    applied_index: Index,
    /// What the cluster knows of each member beyond its id (Raft keeps who votes).
    members: BTreeMap<NodeId, MemberAttributes>,
    /// Members removed: their ids never come back (etcd's removed-member list).
    removed: BTreeSet<NodeId>,
}

/// etcd allows one learner at a time.
const LEARNERS_MAX: usize = 1;

/// The state machine snapshot of a new cluster whose members are `members`: every initial
/// member computes the same one from `--initial-cluster` and starts from it.
pub fn bootstrap_snapshot(members: BTreeMap<NodeId, MemberAttributes>) -> Vec<u8> {
    let state = Replicated {
        members,
        ..Replicated::default()
    };
    postcard::to_allocvec(&state).expect("the replicated state always encodes")
}

/// The snapshot `snapshot` taken at another log position and in another cluster, as a restored
/// cluster starts from it: its first entry follows `applied_index`, and its members are
/// `members` (the old cluster's are forgotten). Fails when the bytes are not a store snapshot.
pub fn rebase_snapshot(
    snapshot: &[u8],
    applied_index: Index,
    members: BTreeMap<NodeId, MemberAttributes>,
) -> Result<Vec<u8>, DecodeError> {
    let mut state: Replicated = postcard::from_bytes(snapshot)
        .map_err(|error| DecodeError::new("the key-value store's snapshot", error))?;
    state.applied_index = applied_index;
    state.members = members;
    state.removed.clear();
    Ok(postcard::to_allocvec(&state).expect("the replicated state always encodes"))
}

/// What this member applied since it started, for etcd's mvcc metrics. Not replicated: a
/// restarted member counts from zero, as etcd's counters do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MvccCounters {
    /// Keys put, in puts and txns.
    pub puts: u64,
    /// Keys deleted, by deletes, txns and lease revocations (expiry included).
    pub deletes: u64,
    /// Keys that exist now.
    pub keys: u64,
}

/// The etcd state machine of one member (see the module documentation for the calling contract).
#[derive(Debug)]
pub struct KvStore {
    config: KvConfig,
    state: Replicated,
    deadlines: LeaseDeadlines,
    watches: WatchHub,
    counters: MvccCounters,
    /// Bumped whenever the member attributes change, so a driver can tell cheaply.
    members_generation: u64,
}

fn header(revision: i64) -> ResponseHeader {
    ResponseHeader {
        revision,
        ..ResponseHeader::default()
    }
}

impl KvStore {
    pub fn new(config: KvConfig) -> KvStore {
        assert!(
            config.watch_events_buffered_max > 0,
            "a watcher must be able to receive something"
        );
        assert!(
            config.max_txn_ops > 0,
            "a txn must be able to hold an operation"
        );
        KvStore {
            config,
            state: Replicated::default(),
            deadlines: LeaseDeadlines::default(),
            watches: WatchHub::default(),
            counters: MvccCounters::default(),
            members_generation: 0,
        }
    }

    /// Whether the NOSPACE alarm is raised: writes that grow the store are refused.
    pub fn no_space_alarm(&self) -> bool {
        self.state.alarms.is_raised(AlarmType::NoSpace)
    }

    /// What this member applied since it started.
    pub fn counters(&self) -> MvccCounters {
        self.counters
    }

    /// What the cluster knows of each member beyond its id.
    pub fn members(&self) -> &BTreeMap<NodeId, MemberAttributes> {
        &self.state.members
    }

    /// Members removed from the cluster: their ids never come back.
    pub fn removed_members(&self) -> &BTreeSet<NodeId> {
        &self.state.removed
    }

    /// A number that changes whenever [`KvStore::members`] or [`KvStore::removed_members`]
    /// does.
    pub fn members_generation(&self) -> u64 {
        self.members_generation
    }

    fn members_list(&self) -> Vec<(NodeId, MemberAttributes)> {
        let members = self.state.members.iter();
        members
            .map(|(&id, attributes)| (id, attributes.clone()))
            .collect()
    }

    /// A member's new peer URLs (MemberUpdate), or its name and client URLs when it starts
    /// (publish): ordinary entries, applied alike on every member.
    fn apply_member_attributes(&mut self, request: &MemberRequest) -> Result<Response, KvError> {
        let id = request.member();
        if !self.state.members.contains_key(&id) {
            return Err(ServiceError::Membership("etcdserver: member not found".into()).into());
        }
        if let MemberRequest::Update { peer_urls, .. } = request {
            self.check_peer_urls(id, peer_urls)
                .map_err(ServiceError::Membership)?;
        }
        let attributes = self.state.members.get_mut(&id).expect("checked above");
        match request {
            MemberRequest::Update { peer_urls, .. } => attributes.peer_urls = peer_urls.clone(),
            MemberRequest::Publish {
                name, client_urls, ..
            } => {
                attributes.name = name.clone();
                attributes.client_urls = client_urls.clone();
            }
            // Only an entry made by hand carries a configuration change's body without the
            // change itself: it changes nothing, on every member alike.
            MemberRequest::Add { .. }
            | MemberRequest::Promote { .. }
            | MemberRequest::Remove { .. } => {
                let message = format!("{request:?} comes without its Raft configuration change");
                return Err(ServiceError::Membership(message).into());
            }
        }
        self.members_generation += 1;
        Ok(Response::MemberList(MemberListResponse {
            header: header(self.state.store.current_revision()),
            attributes: self.members_list(),
            ..MemberListResponse::default()
        }))
    }

    /// Refuse peer URLs another member has.
    fn check_peer_urls(&self, id: NodeId, peer_urls: &[String]) -> Result<(), String> {
        let taken = self.state.members.iter().any(|(&other, attributes)| {
            other != id
                && attributes
                    .peer_urls
                    .iter()
                    .any(|url| peer_urls.contains(url))
        });
        match taken {
            true => Err("etcdserver: Peer URLs already exists".into()),
            false => Ok(()),
        }
    }

    /// Count the changes of the write that made revision `revision`.
    fn count_changes(&mut self, revision: i64) {
        for record in self.state.store.changes(revision, revision) {
            if record.tombstone {
                self.counters.deletes += 1;
                self.counters.keys = self.counters.keys.saturating_sub(1);
            } else {
                self.counters.puts += 1;
                if record.kv.version == 1 {
                    self.counters.keys += 1;
                }
            }
        }
    }

    pub fn config(&self) -> &KvConfig {
        &self.config
    }

    /// The MVCC store, for inspection.
    pub fn store(&self) -> &MvccStore {
        &self.state.store
    }

    pub fn lessor(&self) -> &Lessor {
        &self.state.lessor
    }

    /// The size estimate the quota is checked against: the history plus the leases.
    pub fn size_bytes(&self) -> u64 {
        self.state.store.size_bytes() + self.state.lessor.len() as u64 * LEASE_OVERHEAD_BYTES
    }

    /// Per-member time-driven work for watches: one delivery step for lagging watchers, and the
    /// periodic progress notifications. Call it at `next_tick_deadline` on every member.
    pub fn tick_watches(&mut self, now: Instant, notify: &mut Notifications<Response>) {
        self.sync_watches(notify);
        self.watches.tick(
            now,
            self.config.watch_progress_notify_interval,
            &self.state.store,
            notify,
        );
    }

    /// When `tick` next has work: at once while a watcher lags, else at the next progress
    /// notification.
    pub fn next_tick_deadline(&self) -> Instant {
        if self.watches.has_unsynced(&self.state.store) {
            Instant::ZERO
        } else {
            self.watches.next_progress_at()
        }
    }

    /// The client's connection is gone: drop its watch streams.
    pub fn close_client(&mut self, client: ClientId) {
        self.watches.close_client(client);
    }

    pub fn watcher_count(&self) -> usize {
        self.watches.watcher_count()
    }

    fn sync_watches(&mut self, notify: &mut Notifications<Response>) {
        self.watches.sync(
            &self.state.store,
            self.config.watch_events_buffered_max,
            notify,
        );
    }

    fn validate(&self, request: &Request) -> Result<(), KvError> {
        validate(
            request,
            self.config.max_request_bytes,
            self.config.max_txn_ops,
        )
    }

    /// The quota check, run as a write is applied (see [`quota`]).
    fn check_quota(&mut self, request: &Request) -> Result<(), KvError> {
        let cost = request_cost(request);
        if cost == 0 {
            return Ok(());
        }
        if self.state.alarms.is_raised(AlarmType::NoSpace) {
            return Err(KvError::NoSpace);
        }
        if self.size_bytes() + cost >= self.config.quota_bytes {
            self.state.alarms.activate(AlarmMember {
                member_id: 0,
                alarm: AlarmType::NoSpace,
            });
            return Err(KvError::NoSpace);
        }
        Ok(())
    }

    fn apply_request(&mut self, index: Index, request: &Request) -> Result<Response, KvError> {
        self.validate(request)?;
        self.check_quota(request)?;
        match request {
            Request::Put(put) => self.apply_put(put).map(Response::Put),
            Request::DeleteRange(delete) => Ok(Response::DeleteRange(self.apply_delete(delete))),
            Request::Txn(txn) => self.apply_txn(txn).map(Response::Txn),
            Request::Compact(compact) => self.apply_compact(compact).map(Response::Compact),
            Request::LeaseGrant(grant) => self
                .apply_lease_grant(index, grant)
                .map(Response::LeaseGrant),
            Request::LeaseRevoke(revoke) => {
                self.apply_lease_revoke(revoke).map(Response::LeaseRevoke)
            }
            Request::Alarm(alarm) => Ok(Response::Alarm(self.apply_alarm(alarm))),
            // Reads are not normally proposed; when one is, the applied state answers it alike on
            // every member.
            Request::Range(_) | Request::LeaseLeases | Request::HashKv(_) | Request::Status => {
                Ok(self.read(request))
            }
            Request::LeaseKeepAlive(_) | Request::LeaseTimeToLive(_) | Request::Watch(_) => {
                panic!(
                    "{request:?} depends on the member and time serving it and is never proposed"
                )
            }
            Request::Member(member) => self.apply_member_attributes(member),
            Request::MoveLeader(_) | Request::Defragment | Request::Snapshot => {
                panic!("{request:?} is served by the member, never proposed")
            }
        }
    }

    fn apply_put(&mut self, put: &PutRequest) -> Result<PutResponse, KvError> {
        // etcd checks a lone put's lease before its key, and a txn's the other way round.
        check_put_lease(&self.state.lessor, put)?;
        check_put_key(&self.state.store, put)?;
        let mut applier = Applier::new(&mut self.state.store, &mut self.state.lessor);
        let response = applier.put(put);
        Ok(PutResponse {
            header: header(applier.end()),
            ..response
        })
    }

    fn apply_delete(&mut self, delete: &DeleteRangeRequest) -> DeleteRangeResponse {
        let mut applier = Applier::new(&mut self.state.store, &mut self.state.lessor);
        let response = applier.delete_range(delete);
        DeleteRangeResponse {
            header: header(applier.end()),
            ..response
        }
    }

    /// A txn: branches chosen and checked against the store before the txn, then run in one write
    /// transaction. Also serves read-only txns, which write nothing.
    fn apply_txn(&mut self, txn: &TxnRequest) -> Result<TxnResponse, KvError> {
        let path = txn_path(&self.state.store, self.state.store.current_revision(), txn);
        check_path(
            &self.state.store,
            &self.state.lessor,
            txn,
            &mut path.iter().copied(),
        )?;
        let mut applier = Applier::new(&mut self.state.store, &mut self.state.lessor);
        let mut response = applier.txn(txn, &mut path.into_iter());
        stamp_txn(&mut response, applier.end());
        Ok(response)
    }

    fn apply_compact(&mut self, compact: &CompactRequest) -> Result<CompactResponse, KvError> {
        self.state.store.compact(compact.revision)?;
        Ok(CompactResponse {
            header: header(self.state.store.current_revision()),
        })
    }

    fn apply_lease_grant(
        &mut self,
        index: Index,
        grant: &LeaseGrantRequest,
    ) -> Result<LeaseGrantResponse, KvError> {
        let id = if grant.id == 0 {
            self.state.lessor.choose_id(index)
        } else {
            grant.id
        };
        let lease = self
            .state
            .lessor
            .grant(id, grant.ttl_secs, self.config.lease_ttl_min_secs)?;
        let ttl_secs = lease.ttl_secs;
        Ok(LeaseGrantResponse {
            header: header(self.state.store.current_revision()),
            id,
            ttl_secs,
        })
    }

    /// Revoke a lease and delete its keys, all in one revision (from a client, or the leader's
    /// expiry).
    fn apply_lease_revoke(
        &mut self,
        revoke: &LeaseRevokeRequest,
    ) -> Result<LeaseRevokeResponse, KvError> {
        let lease = self.state.lessor.revoke(revoke.id)?;
        let mut applier = Applier::new(&mut self.state.store, &mut self.state.lessor);
        applier.delete_keys(&lease.keys);
        Ok(LeaseRevokeResponse {
            header: header(applier.end()),
        })
    }

    fn apply_alarm(&mut self, request: &AlarmRequest) -> AlarmResponse {
        let alarms = &mut self.state.alarms;
        let changed = request.alarm.map(|alarm| AlarmMember {
            member_id: request.member_id,
            alarm,
        });
        match (request.action, changed) {
            (AlarmAction::Activate, Some(member)) => alarms.activate(member),
            (AlarmAction::Deactivate, Some(member)) => alarms.deactivate(member),
            _ => {}
        }
        let listed = match request.action {
            AlarmAction::Get => alarms.list(request.alarm),
            _ => changed.into_iter().collect(),
        };
        AlarmResponse {
            header: header(self.state.store.current_revision()),
            alarms: listed,
        }
    }

    /// Reads answered from this member's applied state alone.
    fn read(&self, request: &Request) -> Response {
        let store = &self.state.store;
        let revision = store.current_revision();
        match request {
            Request::Range(request) => match store.read_revision(request.revision) {
                Ok(at) => Response::Range(RangeResponse {
                    header: header(revision),
                    ..range::range(store, request, at)
                }),
                Err(error) => Response::Error(error),
            },
            Request::LeaseLeases => Response::LeaseLeases(LeaseLeasesResponse {
                header: header(revision),
                leases: self.state.lessor.ids().collect(),
            }),
            Request::HashKv(request) => match store.hash(request.revision) {
                Ok((hash, hash_revision)) => Response::HashKv(HashKvResponse {
                    header: header(revision),
                    hash,
                    compact_revision: store.compact_revision(),
                    hash_revision,
                }),
                Err(error) => Response::Error(error),
            },
            Request::Status => Response::Status(StatusResponse {
                header: header(revision),
                db_size_bytes: self.size_bytes(),
                raft_applied_index: self.state.applied_index,
                alarms: self.state.alarms.list(None),
            }),
            Request::Alarm(alarm) => Response::Alarm(AlarmResponse {
                header: header(revision),
                alarms: self.state.alarms.list(alarm.alarm),
            }),
            _ => panic!("{request:?} is not a read"),
        }
    }

    /// Keep-alive, on the leader only: the lease runs a full TTL from now. An unknown or expired
    /// lease gets TTL 0, as etcd answers.
    fn serve_keep_alive(&mut self, now: Instant, keep_alive: &LeaseKeepAliveRequest) -> Response {
        let ttl_secs = match self.state.lessor.get(keep_alive.id) {
            Some(lease) => self.deadlines.renew(now, lease).unwrap_or(0),
            None => 0,
        };
        let revision = self.state.store.current_revision();
        Response::LeaseKeepAlive(LeaseKeepAliveResponse {
            header: header(revision),
            id: keep_alive.id,
            ttl_secs,
        })
    }

    /// Time-to-live, on the leader only (only it knows deadlines). An unknown lease gets TTL -1,
    /// as etcd answers.
    fn serve_time_to_live(&self, now: Instant, request: &LeaseTimeToLiveRequest) -> Response {
        let mut response = LeaseTimeToLiveResponse {
            header: header(self.state.store.current_revision()),
            id: request.id,
            ttl_secs: -1,
            ..LeaseTimeToLiveResponse::default()
        };
        if let Some(lease) = self.state.lessor.get(request.id) {
            response.ttl_secs = self.deadlines.remaining_secs(now, lease);
            response.granted_ttl_secs = lease.ttl_secs;
            if request.keys {
                response.keys = lease.keys.iter().cloned().collect();
            }
        }
        Response::LeaseTimeToLive(response)
    }

    fn serve_watch(
        &mut self,
        now: Instant,
        stream: watch::StreamId,
        request: &WatchRequest,
        notify: &mut Notifications<Response>,
    ) {
        let store = &self.state.store;
        match request {
            WatchRequest::Create(create) => self.watches.create(
                now,
                self.config.watch_progress_notify_interval,
                stream,
                create,
                store,
                notify,
            ),
            WatchRequest::Cancel { watch_id } => {
                self.watches.cancel(stream, *watch_id, store, notify)
            }
            WatchRequest::Progress => self.watches.request_progress(stream, store, notify),
        }
    }

    fn serve_request(
        &mut self,
        now: Instant,
        stream: watch::StreamId,
        request: &Request,
        leading: bool,
        notify: &mut Notifications<Response>,
    ) -> Option<Response> {
        if let Err(error) = self.validate(request) {
            return Some(Response::Error(error));
        }
        match request {
            Request::Txn(txn) => {
                assert!(
                    !txn.has_writes(),
                    "a txn that writes is proposed, not served"
                );
                Some(
                    self.apply_txn(txn)
                        .map_or_else(Response::Error, Response::Txn),
                )
            }
            Request::LeaseKeepAlive(_) | Request::LeaseTimeToLive(_) if !leading => {
                Some(ServiceError::NotLeader.into())
            }
            Request::LeaseKeepAlive(keep_alive) => Some(self.serve_keep_alive(now, keep_alive)),
            Request::LeaseTimeToLive(request) => Some(self.serve_time_to_live(now, request)),
            Request::Watch(watch) => {
                self.serve_watch(now, stream, watch, notify);
                None
            }
            Request::Alarm(alarm) => {
                assert!(
                    alarm.action == AlarmAction::Get,
                    "alarm changes are proposed, not served"
                );
                Some(self.read(request))
            }
            Request::Range(_) | Request::LeaseLeases | Request::HashKv(_) | Request::Status => {
                Some(self.read(request))
            }
            // The node serves it once the target leads.
            Request::MoveLeader(_) => Some(Response::MoveLeader(MoveLeaderResponse {
                header: header(self.state.store.current_revision()),
            })),
            // The node serves it once the snapshot is durable.
            Request::Defragment => Some(Response::Defragment(header(
                self.state.store.current_revision(),
            ))),
            Request::Snapshot => Some(Response::Snapshot(SnapshotResponse {
                header: header(self.state.store.current_revision()),
                data: StateMachine::snapshot(self),
            })),
            _ => panic!("{request:?} is proposed, not served"),
        }
    }
}

impl StateMachine for KvStore {
    type Request = Request;
    type Response = Response;

    fn route(&self, request: &Request) -> Route {
        match request {
            Request::Range(range) => Route::Read {
                linearizable: !range.serializable,
            },
            Request::Txn(txn) if !txn.has_writes() => Route::Read {
                linearizable: !txn.is_serializable(),
            },
            Request::Put(_)
            | Request::DeleteRange(_)
            | Request::Txn(_)
            | Request::Compact(_)
            | Request::LeaseGrant(_)
            | Request::LeaseRevoke(_) => Route::Propose,
            Request::Alarm(alarm) if alarm.action == AlarmAction::Get => Route::Local,
            Request::Alarm(_) => Route::Propose,
            Request::LeaseKeepAlive(_) | Request::LeaseTimeToLive(_) => Route::Leader,
            // etcd lists leases after a linearizable read barrier, on any member.
            Request::LeaseLeases => Route::Read { linearizable: true },
            Request::Watch(_) | Request::HashKv(_) | Request::Status => Route::Local,
            Request::MoveLeader(move_leader) => Route::TransferLeader(move_leader.target_id),
            Request::Defragment => Route::Snapshot,
            Request::Snapshot => Route::Local,
            Request::Member(member) => match *member {
                MemberRequest::Add {
                    id, learner: true, ..
                } => Route::ConfChange(ConfChange::AddLearner(id)),
                MemberRequest::Add {
                    id, learner: false, ..
                } => Route::ConfChange(ConfChange::AddVoter(id)),
                MemberRequest::Promote { id } => Route::ConfChange(ConfChange::Promote(id)),
                MemberRequest::Remove { id } => Route::ConfChange(ConfChange::Remove(id)),
                MemberRequest::Update { .. } | MemberRequest::Publish { .. } => Route::Propose,
            },
        }
    }

    fn apply(
        &mut self,
        index: Index,
        request: &Request,
        notify: &mut Notifications<Response>,
    ) -> Response {
        assert!(
            index > self.state.applied_index,
            "entries are applied once, in log order"
        );
        self.state.applied_index = index;
        let before = self.state.store.current_revision();
        let response = self
            .apply_request(index, request)
            .unwrap_or_else(Response::Error);
        let after = self.state.store.current_revision();
        if after > before {
            self.count_changes(after);
        }
        self.sync_watches(notify);
        response
    }

    fn check_conf_change(&self, request: &Request, membership: &Membership) -> Result<(), String> {
        let Request::Member(change) = request else {
            return Ok(());
        };
        if self.state.removed.contains(&change.member()) {
            return Err("etcdserver: member not found".into());
        }
        match change {
            MemberRequest::Add {
                id,
                learner,
                peer_urls,
            } => {
                if self.state.members.contains_key(id) || membership.contains(*id) {
                    return Err("etcdserver: member ID already exist".into());
                }
                if *learner && membership.learners.len() >= LEARNERS_MAX {
                    return Err("etcdserver: too many learner members in cluster".into());
                }
                self.check_peer_urls(*id, peer_urls)
            }
            _ => Ok(()),
        }
    }

    fn apply_conf_change(
        &mut self,
        index: Index,
        request: &Request,
        membership: &Membership,
    ) -> Response {
        assert!(
            index > self.state.applied_index,
            "entries are applied once, in log order"
        );
        self.state.applied_index = index;
        self.members_generation += 1;
        match request {
            Request::Member(MemberRequest::Add { id, peer_urls, .. }) => {
                let attributes = MemberAttributes {
                    peer_urls: peer_urls.clone(),
                    ..MemberAttributes::default()
                };
                self.state.members.insert(*id, attributes);
            }
            Request::Member(MemberRequest::Remove { id }) => {
                self.state.members.remove(id);
                self.state.removed.insert(*id);
            }
            _ => {}
        }
        Response::MemberList(MemberListResponse {
            header: header(self.state.store.current_revision()),
            voters: membership.voters.iter().copied().collect(),
            learners: membership.learners.iter().copied().collect(),
            attributes: self.members_list(),
        })
    }

    fn serve(
        &mut self,
        now: Instant,
        client: ClientId,
        request_id: RequestId,
        request: &Request,
        leading: bool,
        notify: &mut Notifications<Response>,
    ) -> Option<Response> {
        self.deadlines.refresh(now, &self.state.lessor);
        let response = self.serve_request(now, (client, request_id), request, leading, notify);
        self.sync_watches(notify);
        response
    }

    fn validate(&self, request: &Request) -> Result<(), Response> {
        KvStore::validate(self, request).map_err(Response::Error)
    }

    /// Watches on every member; lease expiry on the leader.
    fn tick(
        &mut self,
        now: Instant,
        leading: bool,
        notify: &mut Notifications<Response>,
    ) -> Vec<Request> {
        self.tick_watches(now, notify);
        if !leading {
            return Vec::new();
        }
        self.deadlines.refresh(now, &self.state.lessor);
        let expired = self
            .deadlines
            .expire(now, self.config.lease_revoke_retry_interval);
        expired
            .into_iter()
            .map(|id| Request::LeaseRevoke(LeaseRevokeRequest { id }))
            .collect()
    }

    fn next_deadline(&self, leading: bool) -> Instant {
        let leases = if leading {
            self.deadlines.next_deadline()
        } else {
            Instant::NEVER
        };
        self.next_tick_deadline().min(leases)
    }

    fn leadership_changed(&mut self, now: Instant, leading: bool) {
        if leading {
            self.deadlines.promote(now, &self.state.lessor);
        } else {
            self.deadlines.demote();
        }
    }

    fn client_closed(&mut self, client: ClientId) {
        self.close_client(client);
    }

    fn snapshot(&self) -> Vec<u8> {
        postcard::to_allocvec(&self.state).expect("the replicated state always encodes")
    }

    /// Watchers survive a restore: each keeps the next revision it needs and catches up from the
    /// restored history at the next delivery step, or is canceled if that history was compacted.
    /// A leader gives the restored leases fresh deadlines at its next tick.
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), DecodeError> {
        // An empty snapshot is the bootstrap state of a new cluster.
        self.state = if snapshot.is_empty() {
            Replicated::default()
        } else {
            postcard::from_bytes(snapshot)
                .map_err(|error| DecodeError::new("the key-value store's snapshot", error))?
        };
        self.deadlines.forget_deadlines();
        self.members_generation += 1;
        let store = &self.state.store;
        let all = mvcc::KeyRange::From(vec![0]);
        self.counters.keys = store.visible(&all, store.current_revision()).count() as u64;
        Ok(())
    }
}
