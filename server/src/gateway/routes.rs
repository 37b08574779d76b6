//! Which gRPC method answers which gateway path: etcd's `google.api.http` annotations (every
//! binding is a `POST` with `body: "*"`), resolved against our descriptor pool so that the
//! request and response types and the streaming kind come from the `.proto` files, not from a
//! second hand-written list.

use std::collections::BTreeMap;

use http::uri::PathAndQuery;
use prost_reflect::{DescriptorPool, MessageDescriptor};

/// (HTTP path, gRPC service, method). Paths are etcd 3.4's annotations
/// (`etcdserverpb/rpc.proto`, `v3lockpb/v3lock.proto`, `v3electionpb/v3election.proto`) with
/// 3.5's additions: `/v3/auth/status`, `/v3/maintenance/downgrade`. etcd 3.4 and 3.5 bind
/// HashKV to `/v3/maintenance/hash` as well, where Hash, registered first, shadows it; later
/// releases moved HashKV to `/v3/maintenance/hashkv`, which is what is served here.
const BINDINGS: &[(&str, &str, &str)] = &[
    ("/v3/kv/range", "etcdserverpb.KV", "Range"),
    ("/v3/kv/put", "etcdserverpb.KV", "Put"),
    ("/v3/kv/deleterange", "etcdserverpb.KV", "DeleteRange"),
    ("/v3/kv/txn", "etcdserverpb.KV", "Txn"),
    ("/v3/kv/compaction", "etcdserverpb.KV", "Compact"),
    ("/v3/watch", "etcdserverpb.Watch", "Watch"),
    ("/v3/lease/grant", "etcdserverpb.Lease", "LeaseGrant"),
    ("/v3/lease/revoke", "etcdserverpb.Lease", "LeaseRevoke"),
    ("/v3/kv/lease/revoke", "etcdserverpb.Lease", "LeaseRevoke"),
    (
        "/v3/lease/keepalive",
        "etcdserverpb.Lease",
        "LeaseKeepAlive",
    ),
    (
        "/v3/lease/timetolive",
        "etcdserverpb.Lease",
        "LeaseTimeToLive",
    ),
    (
        "/v3/kv/lease/timetolive",
        "etcdserverpb.Lease",
        "LeaseTimeToLive",
    ),
    ("/v3/lease/leases", "etcdserverpb.Lease", "LeaseLeases"),
    ("/v3/kv/lease/leases", "etcdserverpb.Lease", "LeaseLeases"),
    (
        "/v3/cluster/member/add",
        "etcdserverpb.Cluster",
        "MemberAdd",
    ),
    (
        "/v3/cluster/member/remove",
        "etcdserverpb.Cluster",
        "MemberRemove",
    ),
    (
        "/v3/cluster/member/update",
        "etcdserverpb.Cluster",
        "MemberUpdate",
    ),
    (
        "/v3/cluster/member/list",
        "etcdserverpb.Cluster",
        "MemberList",
    ),
    (
        "/v3/cluster/member/promote",
        "etcdserverpb.Cluster",
        "MemberPromote",
    ),
    ("/v3/maintenance/alarm", "etcdserverpb.Maintenance", "Alarm"),
    (
        "/v3/maintenance/status",
        "etcdserverpb.Maintenance",
        "Status",
    ),
    (
        "/v3/maintenance/defragment",
        "etcdserverpb.Maintenance",
        "Defragment",
    ),
    ("/v3/maintenance/hash", "etcdserverpb.Maintenance", "Hash"),
    (
        "/v3/maintenance/hashkv",
        "etcdserverpb.Maintenance",
        "HashKV",
    ),
    (
        "/v3/maintenance/snapshot",
        "etcdserverpb.Maintenance",
        "Snapshot",
    ),
    (
        "/v3/maintenance/transfer-leadership",
        "etcdserverpb.Maintenance",
        "MoveLeader",
    ),
    (
        "/v3/maintenance/downgrade",
        "etcdserverpb.Maintenance",
        "Downgrade",
    ),
    ("/v3/auth/enable", "etcdserverpb.Auth", "AuthEnable"),
    ("/v3/auth/disable", "etcdserverpb.Auth", "AuthDisable"),
    ("/v3/auth/status", "etcdserverpb.Auth", "AuthStatus"),
    ("/v3/auth/authenticate", "etcdserverpb.Auth", "Authenticate"),
    ("/v3/auth/user/add", "etcdserverpb.Auth", "UserAdd"),
    ("/v3/auth/user/get", "etcdserverpb.Auth", "UserGet"),
    ("/v3/auth/user/list", "etcdserverpb.Auth", "UserList"),
    ("/v3/auth/user/delete", "etcdserverpb.Auth", "UserDelete"),
    (
        "/v3/auth/user/changepw",
        "etcdserverpb.Auth",
        "UserChangePassword",
    ),
    ("/v3/auth/user/grant", "etcdserverpb.Auth", "UserGrantRole"),
    (
        "/v3/auth/user/revoke",
        "etcdserverpb.Auth",
        "UserRevokeRole",
    ),
    ("/v3/auth/role/add", "etcdserverpb.Auth", "RoleAdd"),
    ("/v3/auth/role/get", "etcdserverpb.Auth", "RoleGet"),
    ("/v3/auth/role/list", "etcdserverpb.Auth", "RoleList"),
    ("/v3/auth/role/delete", "etcdserverpb.Auth", "RoleDelete"),
    (
        "/v3/auth/role/grant",
        "etcdserverpb.Auth",
        "RoleGrantPermission",
    ),
    (
        "/v3/auth/role/revoke",
        "etcdserverpb.Auth",
        "RoleRevokePermission",
    ),
    ("/v3/lock/lock", "v3lockpb.Lock", "Lock"),
    ("/v3/lock/unlock", "v3lockpb.Lock", "Unlock"),
    ("/v3/election/campaign", "v3electionpb.Election", "Campaign"),
    ("/v3/election/proclaim", "v3electionpb.Election", "Proclaim"),
    ("/v3/election/leader", "v3electionpb.Election", "Leader"),
    ("/v3/election/observe", "v3electionpb.Election", "Observe"),
    ("/v3/election/resign", "v3electionpb.Election", "Resign"),
];

/// How a method's messages flow, which decides how the gateway reads the body and writes the
/// answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CallKind {
    /// One request (the body's first JSON value), one JSON response.
    Unary,
    /// One request; the response is a stream of `{"result":..}` lines (Snapshot, Observe).
    ServerStreaming,
    /// Every JSON value of the body is a request; the response is a stream (Watch,
    /// LeaseKeepAlive).
    Bidi,
}

/// One gateway path, resolved.
#[derive(Debug, Clone)]
pub(super) struct Route {
    /// `/etcdserverpb.KV/Range`: the gRPC method called in process.
    pub(super) grpc_path: PathAndQuery,
    pub(super) request: MessageDescriptor,
    pub(super) response: MessageDescriptor,
    pub(super) kind: CallKind,
}

/// Every binding of [`BINDINGS`], by HTTP path.
#[derive(Debug)]
pub(super) struct Routes {
    by_path: BTreeMap<&'static str, Route>,
}

impl Routes {
    /// Resolves every binding against `pool`. A binding whose method the pool lacks, or a
    /// client-streaming-only method (etcd has none), is a programmer error.
    pub(super) fn resolve(pool: &DescriptorPool) -> Routes {
        let mut by_path = BTreeMap::new();
        for &(http_path, service_name, method_name) in BINDINGS {
            let service = pool.get_service_by_name(service_name).unwrap_or_else(|| {
                panic!("gateway binding {http_path}: no service {service_name}")
            });
            let method = service
                .methods()
                .find(|method| method.name() == method_name)
                .unwrap_or_else(|| {
                    panic!("gateway binding {http_path}: no method {service_name}.{method_name}")
                });
            let kind = match (method.is_client_streaming(), method.is_server_streaming()) {
                (false, false) => CallKind::Unary,
                (false, true) => CallKind::ServerStreaming,
                (true, true) => CallKind::Bidi,
                (true, false) => panic!("gateway binding {http_path}: client streaming only"),
            };
            let grpc_path = PathAndQuery::try_from(format!("/{service_name}/{method_name}"))
                .expect("a service and method name form a valid path");
            let route = Route {
                grpc_path,
                request: method.input(),
                response: method.output(),
                kind,
            };
            let previous = by_path.insert(http_path, route);
            assert!(previous.is_none(), "gateway path {http_path} bound twice");
        }
        Routes { by_path }
    }

    /// The route of a path already rewritten from `/v3beta/` to `/v3/`.
    pub(super) fn get(&self, http_path: &str) -> Option<&Route> {
        self.by_path.get(http_path)
    }
}
