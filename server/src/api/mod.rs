//! etcd's v3 gRPC services over the member: each call becomes a core request, each answer an
//! etcd response with etcd's header, codes and messages.

pub mod auth;
pub mod cluster;
pub mod convert;
pub mod election;
pub mod health;
pub mod kv;
pub mod lease;
pub mod lock;
pub mod maintenance;
pub mod recipes;
pub mod status;
pub mod watch;

use detcd_core::kv as core_kv;
use tonic::Status;

use crate::member::Member;

/// The version of etcd whose API detcd speaks, as servers report it (clients check it, and
/// etcd's own tests expect it).
pub const ETCD_VERSION: &str = "3.4.23";
/// The cluster version, as etcd reports it once the cluster runs.
pub const CLUSTER_VERSION: &str = "3.4.0";

/// Ask the member and turn a failure into etcd's status: what every service does.
async fn ask(member: &Member, request: core_kv::Request) -> Result<core_kv::Response, Status> {
    match member.request(request).await.map_err(status::stopped)? {
        core_kv::Response::Error(error) => Err(status::kv_error(&error)),
        response => Ok(response),
    }
}

/// The header of an answer the server makes up itself (auth status, elections).
fn local_header(member: &Member) -> Option<detcd_proto::etcdserverpb::ResponseHeader> {
    let state = member.state();
    Some(detcd_proto::etcdserverpb::ResponseHeader {
        cluster_id: member.info().cluster_id,
        member_id: member.info().id,
        revision: state.revision,
        raft_term: state.term,
    })
}
