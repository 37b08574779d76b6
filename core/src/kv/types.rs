//! etcd's v3 requests and responses, as the state machine sees them.
//!
//! Field names follow etcd's protobufs (`api/etcdserverpb/rpc.proto`) so that the real server maps
//! them one to one; revisions and lease ids are `i64` as there. An empty `range_end` names one key,
//! `"\0"` every key from `key` on, anything else the half-open range `[key, range_end)`.

use serde::{Deserialize, Serialize};

use crate::io::NodeId;
use crate::kv::error::KvError;
use crate::state_machine::ServiceError;

pub type LeaseId = i64;
pub type WatchId = i64;

/// One version of a key (etcd's `mvccpb.KeyValue`).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: Vec<u8>,
    /// The revision of the put that created the key (its current generation).
    pub create_revision: i64,
    /// The revision of the last change.
    pub mod_revision: i64,
    /// Puts since creation, starting at 1; a delete resets it.
    pub version: i64,
    pub value: Vec<u8>,
    /// The lease the key is attached to; 0 for none.
    pub lease: LeaseId,
}

/// Sent with every successful response. The node fills in the ids and term; the store sets the
/// revision (the store's revision after the request).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResponseHeader {
    pub cluster_id: u64,
    pub member_id: u64,
    pub revision: i64,
    pub raft_term: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SortOrder {
    #[default]
    None,
    Ascend,
    Descend,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SortTarget {
    #[default]
    Key,
    Version,
    Create,
    Mod,
    Value,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RangeRequest {
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
    /// At most this many keys; 0 for no limit.
    pub limit: i64,
    /// Read the store as of this revision; 0 for the current one.
    pub revision: i64,
    pub sort_order: SortOrder,
    pub sort_target: SortTarget,
    /// Served from this member's state without a read index (may be stale).
    pub serializable: bool,
    pub keys_only: bool,
    pub count_only: bool,
    /// 0 means no bound, for each of the four filters.
    pub min_mod_revision: i64,
    pub max_mod_revision: i64,
    pub min_create_revision: i64,
    pub max_create_revision: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RangeResponse {
    pub header: ResponseHeader,
    pub kvs: Vec<KeyValue>,
    /// More keys match than `limit` let through.
    pub more: bool,
    /// Keys in the range at the revision read, before the limit and the revision filters.
    pub count: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PutRequest {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub lease: LeaseId,
    pub prev_kv: bool,
    /// Keep the key's current value (the key must exist).
    pub ignore_value: bool,
    /// Keep the key's current lease (the key must exist).
    pub ignore_lease: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PutResponse {
    pub header: ResponseHeader,
    pub prev_kv: Option<KeyValue>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeleteRangeRequest {
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
    pub prev_kv: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeleteRangeResponse {
    pub header: ResponseHeader,
    pub deleted: i64,
    pub prev_kvs: Vec<KeyValue>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareResult {
    Equal,
    Greater,
    Less,
    NotEqual,
}

/// What a compare looks at, with the operand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareTarget {
    Version(i64),
    Create(i64),
    Mod(i64),
    Value(Vec<u8>),
    Lease(LeaseId),
}

/// One guard of a txn: every key in the range must satisfy it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compare {
    pub result: CompareResult,
    pub target: CompareTarget,
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestOp {
    Range(RangeRequest),
    Put(PutRequest),
    DeleteRange(DeleteRangeRequest),
    Txn(TxnRequest),
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TxnRequest {
    pub compare: Vec<Compare>,
    pub success: Vec<RequestOp>,
    pub failure: Vec<RequestOp>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseOp {
    Range(RangeResponse),
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TxnResponse {
    pub header: ResponseHeader,
    /// The compares all held and the success branch ran.
    pub succeeded: bool,
    pub responses: Vec<ResponseOp>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CompactRequest {
    pub revision: i64,
    /// etcd waits for the backend to drop the data; here compaction is always immediate.
    pub physical: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CompactResponse {
    pub header: ResponseHeader,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeaseGrantRequest {
    pub ttl_secs: i64,
    /// 0 lets the server choose.
    pub id: LeaseId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeaseGrantResponse {
    pub header: ResponseHeader,
    pub id: LeaseId,
    /// The TTL granted: the one asked for, raised to `lease_ttl_min_secs`.
    pub ttl_secs: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeaseRevokeRequest {
    pub id: LeaseId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeaseRevokeResponse {
    pub header: ResponseHeader,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeaseKeepAliveRequest {
    pub id: LeaseId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeaseKeepAliveResponse {
    pub header: ResponseHeader,
    pub id: LeaseId,
    /// The renewed TTL; 0 when the lease does not exist or has expired (etcd's answer).
    pub ttl_secs: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeaseTimeToLiveRequest {
    pub id: LeaseId,
    /// Also list the keys attached to the lease.
    pub keys: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeaseTimeToLiveResponse {
    pub header: ResponseHeader,
    pub id: LeaseId,
    /// Whole seconds left; -1 when the lease does not exist (etcd's answer).
    pub ttl_secs: i64,
    pub granted_ttl_secs: i64,
    pub keys: Vec<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeaseLeasesResponse {
    pub header: ResponseHeader,
    pub leases: Vec<LeaseId>,
}

/// One operation on a watch stream. A stream is the (client, request id) pair under which the
/// node hands these to `serve`; every response of the stream goes back under that pair, as on
/// etcd's bidirectional gRPC Watch stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WatchRequest {
    Create(WatchCreateRequest),
    Cancel {
        watch_id: WatchId,
    },
    /// Ask for a progress notification (sent once every watcher of the stream is synced).
    Progress,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WatchFilter {
    NoPut,
    NoDelete,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WatchCreateRequest {
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
    /// Replay history from this revision; 0 for changes after the current revision.
    pub start_revision: i64,
    pub progress_notify: bool,
    pub filters: Vec<WatchFilter>,
    pub prev_kv: bool,
    /// 0 lets the server choose (the stream's next free id, from 0 as in etcd).
    pub watch_id: WatchId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change. For a delete, `kv` holds the key and the delete's revision as `mod_revision`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub kind: EventKind,
    pub kv: KeyValue,
    /// The key before the change, when the watch asked for it and history still holds it.
    pub prev_kv: Option<KeyValue>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WatchResponse {
    pub header: ResponseHeader,
    /// -1 for a stream-wide progress notification (etcd's `InvalidWatchID`).
    pub watch_id: WatchId,
    pub created: bool,
    pub canceled: bool,
    /// Set when the watch is canceled because the revisions it needs were compacted.
    pub compact_revision: i64,
    pub cancel_reason: String,
    pub events: Vec<Event>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HashKvRequest {
    /// Hash the store up to this revision; 0 for the current one.
    pub revision: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HashKvResponse {
    pub header: ResponseHeader,
    pub hash: u32,
    pub compact_revision: i64,
    pub hash_revision: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StatusResponse {
    pub header: ResponseHeader,
    /// The store's size estimate, the figure the quota is checked against.
    pub db_size_bytes: u64,
    pub raft_applied_index: u64,
    pub alarms: Vec<AlarmMember>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AlarmType {
    NoSpace,
    Corrupt,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlarmAction {
    Get,
    Activate,
    Deactivate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AlarmMember {
    /// The member that raised it; 0 for an alarm raised by the replicated quota check.
    pub member_id: NodeId,
    pub alarm: AlarmType,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmRequest {
    pub action: AlarmAction,
    pub member_id: NodeId,
    /// `None` with `Get` lists every alarm.
    pub alarm: Option<AlarmType>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AlarmResponse {
    pub header: ResponseHeader,
    pub alarms: Vec<AlarmMember>,
}

/// What the cluster knows of a member beyond its id and vote (etcd's membership store):
/// replicated, so every member lists the same.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MemberAttributes {
    /// Set when the member publishes itself at start (or by `--initial-cluster` for a member of
    /// a new cluster); empty for a member added but not started yet.
    pub name: String,
    pub peer_urls: Vec<String>,
    /// Set when the member publishes itself at start.
    pub client_urls: Vec<String>,
}

/// A membership change took effect: the members now, with their attributes.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MemberListResponse {
    pub header: ResponseHeader,
    pub voters: Vec<NodeId>,
    pub learners: Vec<NodeId>,
    /// The attributes of every member the store knows, by id.
    pub attributes: Vec<(NodeId, MemberAttributes)>,
}

/// Hand leadership to another member (etcd's Maintenance.MoveLeader). Served by the leader; the
/// answer comes once `target_id` leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MoveLeaderRequest {
    pub target_id: NodeId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MoveLeaderResponse {
    pub header: ResponseHeader,
}

/// The whole replicated state as of the serving member's applied index (etcd's
/// Maintenance.Snapshot): what `KvStore::restore` takes.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SnapshotResponse {
    pub header: ResponseHeader,
    pub data: Vec<u8>,
}

/// Everything a client can ask of the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    Range(RangeRequest),
    Put(PutRequest),
    DeleteRange(DeleteRangeRequest),
    Txn(TxnRequest),
    Compact(CompactRequest),
    LeaseGrant(LeaseGrantRequest),
    /// From a client, or proposed by the leader when a lease expires.
    LeaseRevoke(LeaseRevokeRequest),
    LeaseKeepAlive(LeaseKeepAliveRequest),
    LeaseTimeToLive(LeaseTimeToLiveRequest),
    LeaseLeases,
    Watch(WatchRequest),
    HashKv(HashKvRequest),
    Status,
    Alarm(AlarmRequest),
    /// etcd's Cluster service: a membership change, replicated as a configuration entry and
    /// answered with the new member list.
    Member(MemberRequest),
    MoveLeader(MoveLeaderRequest),
    /// etcd's Defragment: snapshot the state and compact the log, answered once durable.
    Defragment,
    /// etcd's Maintenance.Snapshot, served by the member that receives it.
    Snapshot,
}

/// etcd's Cluster service. Add, Promote and Remove change the Raft configuration (replicated as
/// configuration entries); Update and Publish change a member's attributes (ordinary entries).
/// Members are named by their id; peer URLs mean nothing to the simulator, which leaves them out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberRequest {
    /// MemberAdd; `learner` adds a non-voting member that receives the log.
    Add {
        id: NodeId,
        learner: bool,
        peer_urls: Vec<String>,
    },
    Promote {
        id: NodeId,
    },
    Remove {
        id: NodeId,
    },
    /// MemberUpdate: the member's new peer URLs.
    Update {
        id: NodeId,
        peer_urls: Vec<String>,
    },
    /// A member says who it is when it starts (etcd's publish): its name and client URLs.
    Publish {
        id: NodeId,
        name: String,
        client_urls: Vec<String>,
    },
}

impl MemberRequest {
    /// The member the request is about.
    pub fn member(&self) -> NodeId {
        match *self {
            MemberRequest::Add { id, .. }
            | MemberRequest::Promote { id }
            | MemberRequest::Remove { id }
            | MemberRequest::Update { id, .. }
            | MemberRequest::Publish { id, .. } => id,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Range(RangeResponse),
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
    Compact(CompactResponse),
    LeaseGrant(LeaseGrantResponse),
    LeaseRevoke(LeaseRevokeResponse),
    LeaseKeepAlive(LeaseKeepAliveResponse),
    LeaseTimeToLive(LeaseTimeToLiveResponse),
    LeaseLeases(LeaseLeasesResponse),
    Watch(WatchResponse),
    HashKv(HashKvResponse),
    Status(StatusResponse),
    Alarm(AlarmResponse),
    MemberList(MemberListResponse),
    MoveLeader(MoveLeaderResponse),
    Defragment(ResponseHeader),
    Snapshot(SnapshotResponse),
    Error(KvError),
}

impl From<ServiceError> for Response {
    fn from(error: ServiceError) -> Response {
        Response::Error(KvError::Service(error))
    }
}

impl From<KvError> for Response {
    fn from(error: KvError) -> Response {
        Response::Error(error)
    }
}

impl Response {
    /// The error, if this response is one.
    pub fn error(&self) -> Option<&KvError> {
        match self {
            Response::Error(error) => Some(error),
            _ => None,
        }
    }

    /// The response's header, for the server to fill in the ids and term.
    pub fn header_mut(&mut self) -> Option<&mut ResponseHeader> {
        Some(match self {
            Response::Range(response) => &mut response.header,
            Response::Put(response) => &mut response.header,
            Response::DeleteRange(response) => &mut response.header,
            Response::Txn(response) => &mut response.header,
            Response::Compact(response) => &mut response.header,
            Response::LeaseGrant(response) => &mut response.header,
            Response::LeaseRevoke(response) => &mut response.header,
            Response::LeaseKeepAlive(response) => &mut response.header,
            Response::LeaseTimeToLive(response) => &mut response.header,
            Response::LeaseLeases(response) => &mut response.header,
            Response::Watch(response) => &mut response.header,
            Response::HashKv(response) => &mut response.header,
            Response::Status(response) => &mut response.header,
            Response::Alarm(response) => &mut response.header,
            Response::MemberList(response) => &mut response.header,
            Response::MoveLeader(response) => &mut response.header,
            Response::Defragment(header) => header,
            Response::Snapshot(response) => &mut response.header,
            Response::Error(_) => return None,
        })
    }
}

impl TxnRequest {
    /// True when some branch, at any depth, puts or deletes: such a txn is replicated; one that
    /// only reads is served like a range (etcd's `isTxnReadonly`).
    pub fn has_writes(&self) -> bool {
        self.success.iter().chain(&self.failure).any(|op| match op {
            RequestOp::Range(_) => false,
            RequestOp::Put(_) | RequestOp::DeleteRange(_) => true,
            RequestOp::Txn(txn) => txn.has_writes(),
        })
    }

    /// True when every range, at any depth, is serializable (etcd's `isTxnSerializable`).
    pub fn is_serializable(&self) -> bool {
        self.success.iter().chain(&self.failure).all(|op| match op {
            RequestOp::Range(range) => range.serializable,
            RequestOp::Put(_) | RequestOp::DeleteRange(_) => true,
            RequestOp::Txn(txn) => txn.is_serializable(),
        })
    }
}
