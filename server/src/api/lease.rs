//! etcd's Lease service: grant, revoke, keep-alive (a stream), time-to-live, list.

use std::pin::Pin;

use detcd_core::kv as core_kv;
use detcd_proto::detcdpeerpb::peer_client::PeerClient;
use detcd_proto::etcdserverpb::{self as pb, lease_server::Lease};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::convert;
use super::status::unexpected;
use super::{ask, local_header};
use crate::member::Member;
use crate::peer::{LeaderLink, not_leader};

#[derive(Clone, Debug)]
pub struct LeaseService {
    pub member: Member,
    /// Where keep-alives and time-to-live requests go when this member does not lead.
    pub leader: LeaderLink,
}

type KeepAliveStream =
    Pin<Box<dyn Stream<Item = Result<pb::LeaseKeepAliveResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Lease for LeaseService {
    async fn lease_grant(
        &self,
        request: Request<pb::LeaseGrantRequest>,
    ) -> Result<Response<pb::LeaseGrantResponse>, Status> {
        let request = request.into_inner();
        let grant = core_kv::LeaseGrantRequest {
            ttl_secs: request.ttl,
            id: request.id,
        };
        match ask(&self.member, core_kv::Request::LeaseGrant(grant)).await? {
            core_kv::Response::LeaseGrant(response) => Ok(Response::new(pb::LeaseGrantResponse {
                header: convert::header(response.header),
                id: response.id,
                ttl: response.ttl_secs,
                error: String::new(),
            })),
            other => Err(unexpected(&other)),
        }
    }

    async fn lease_revoke(
        &self,
        request: Request<pb::LeaseRevokeRequest>,
    ) -> Result<Response<pb::LeaseRevokeResponse>, Status> {
        let revoke = core_kv::LeaseRevokeRequest {
            id: request.into_inner().id,
        };
        match ask(&self.member, core_kv::Request::LeaseRevoke(revoke)).await? {
            core_kv::Response::LeaseRevoke(response) => {
                Ok(Response::new(pb::LeaseRevokeResponse {
                    header: convert::header(response.header),
                }))
            }
            other => Err(unexpected(&other)),
        }
    }

    type LeaseKeepAliveStream = KeepAliveStream;

    /// Each request renews its lease and gets one answer; the stream ends when the client's
    /// side ends (etcd returns on EOF) or on the first error.
    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<pb::LeaseKeepAliveRequest>>,
    ) -> Result<Response<KeepAliveStream>, Status> {
        let mut incoming = request.into_inner();
        let service = self.clone();
        let (answers, receiver) = mpsc::channel(16);
        tokio::spawn(async move {
            while let Some(request) = incoming.next().await {
                let answer = match request {
                    Ok(request) => service.keep_alive(request.id).await,
                    Err(status) => Err(status),
                };
                let failed = answer.is_err();
                if answers.send(answer).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<pb::LeaseTimeToLiveRequest>,
    ) -> Result<Response<pb::LeaseTimeToLiveResponse>, Status> {
        let request = request.into_inner();
        match time_to_live_here(&self.member, request).await {
            Err(status) if not_leader(&status) => {
                let call = |mut leader: PeerClient<_>| async move {
                    leader.lease_time_to_live(request).await
                };
                let mut answer = self.leader.call(call).await?;
                answer.header = local_header(&self.member);
                Ok(Response::new(answer))
            }
            answer => answer.map(Response::new),
        }
    }

    async fn lease_leases(
        &self,
        _: Request<pb::LeaseLeasesRequest>,
    ) -> Result<Response<pb::LeaseLeasesResponse>, Status> {
        match ask(&self.member, core_kv::Request::LeaseLeases).await? {
            core_kv::Response::LeaseLeases(response) => {
                Ok(Response::new(pb::LeaseLeasesResponse {
                    header: convert::header(response.header),
                    leases: response
                        .leases
                        .into_iter()
                        .map(|id| pb::LeaseStatus { id })
                        .collect(),
                }))
            }
            other => Err(unexpected(&other)),
        }
    }
}

impl LeaseService {
    /// Renew on this member when it leads, else on the leader (etcd's LeaseRenew).
    async fn keep_alive(&self, id: i64) -> Result<pb::LeaseKeepAliveResponse, Status> {
        match keep_alive_here(&self.member, id).await {
            Err(status) if not_leader(&status) => {
                let request = pb::LeaseKeepAliveRequest { id };
                let call = |mut leader: PeerClient<_>| async move {
                    leader.lease_keep_alive(request).await
                };
                let mut answer = self.leader.call(call).await?;
                answer.header = local_header(&self.member);
                Ok(answer)
            }
            answer => answer,
        }
    }
}

/// Renew a lease on this member; "not leader" unless it leads.
pub async fn keep_alive_here(
    member: &Member,
    id: i64,
) -> Result<pb::LeaseKeepAliveResponse, Status> {
    let request = core_kv::Request::LeaseKeepAlive(core_kv::LeaseKeepAliveRequest { id });
    match ask(member, request).await? {
        core_kv::Response::LeaseKeepAlive(response) => Ok(pb::LeaseKeepAliveResponse {
            header: convert::header(response.header),
            id: response.id,
            ttl: response.ttl_secs,
        }),
        other => Err(unexpected(&other)),
    }
}

/// A lease's time to live from this member; "not leader" unless it leads.
pub async fn time_to_live_here(
    member: &Member,
    request: pb::LeaseTimeToLiveRequest,
) -> Result<pb::LeaseTimeToLiveResponse, Status> {
    let ttl = core_kv::LeaseTimeToLiveRequest {
        id: request.id,
        keys: request.keys,
    };
    match ask(member, core_kv::Request::LeaseTimeToLive(ttl)).await? {
        core_kv::Response::LeaseTimeToLive(response) => Ok(pb::LeaseTimeToLiveResponse {
            header: convert::header(response.header),
            id: response.id,
            ttl: response.ttl_secs,
            granted_ttl: response.granted_ttl_secs,
            keys: response.keys,
        }),
        other => Err(unexpected(&other)),
    }
}
