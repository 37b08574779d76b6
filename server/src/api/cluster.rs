//! etcd's Cluster service: the member list. Membership changes need the peer transport, which
//! comes with clusters; until then they answer Unimplemented, which names the gap.

use detcd_proto::etcdserverpb::{self as pb, cluster_server::Cluster};
use tonic::{Request, Response, Status};

use super::local_header;
use crate::member::Member;

#[derive(Clone, Debug)]
pub struct ClusterService {
    pub member: Member,
}

fn not_yet() -> Status {
    Status::unimplemented(
        "etcdserver: membership changes need the peer transport, not implemented yet",
    )
}

impl ClusterService {
    /// Every member of the latest configuration; this one with its name and URLs. (The others'
    /// URLs are replicated once peers are.)
    fn members(&self) -> Vec<pb::Member> {
        let info = self.member.info();
        let membership = self.member.state().membership;
        let learners = membership.learners.clone();
        membership
            .members()
            .map(|id| match id == info.id {
                true => pb::Member {
                    id,
                    name: info.name.clone(),
                    peer_ur_ls: info.peer_urls.clone(),
                    client_ur_ls: info.client_urls.clone(),
                    is_learner: learners.contains(&id),
                },
                false => pb::Member {
                    id,
                    is_learner: learners.contains(&id),
                    ..pb::Member::default()
                },
            })
            .collect()
    }
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_add(
        &self,
        _: Request<pb::MemberAddRequest>,
    ) -> Result<Response<pb::MemberAddResponse>, Status> {
        Err(not_yet())
    }

    async fn member_remove(
        &self,
        _: Request<pb::MemberRemoveRequest>,
    ) -> Result<Response<pb::MemberRemoveResponse>, Status> {
        Err(not_yet())
    }

    async fn member_update(
        &self,
        _: Request<pb::MemberUpdateRequest>,
    ) -> Result<Response<pb::MemberUpdateResponse>, Status> {
        Err(not_yet())
    }

    async fn member_list(
        &self,
        _: Request<pb::MemberListRequest>,
    ) -> Result<Response<pb::MemberListResponse>, Status> {
        Ok(Response::new(pb::MemberListResponse {
            header: local_header(&self.member),
            members: self.members(),
        }))
    }

    async fn member_promote(
        &self,
        _: Request<pb::MemberPromoteRequest>,
    ) -> Result<Response<pb::MemberPromoteResponse>, Status> {
        Err(not_yet())
    }
}
