//! The receiving side: `detcdpeerpb.Peer` on the peer listener.

use std::sync::Arc;

use detcd_core::NodeId;
use detcd_core::raft::{Message, MessageBody};
use detcd_proto::detcdpeerpb::peer_server::Peer;
use detcd_proto::detcdpeerpb::{
    Envelope, MembersRequest, MembersResponse, PingRequest, PingResponse, SnapshotChunk,
    StreamClosed,
};
use detcd_proto::etcdserverpb::{
    LeaseKeepAliveRequest, LeaseKeepAliveResponse, LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
    MemberPromoteRequest, MemberPromoteResponse,
};
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status, Streaming};

use crate::api::cluster::{ClusterService, member_list};
use crate::api::lease;
use crate::member::Member;
use crate::metrics::PeerMetrics;

/// The largest snapshot a peer may send: the largest quota etcd allows, and room for the rest.
const SNAPSHOT_BYTES_MAX: u64 = 9 * 1024 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct PeerService {
    pub member: Member,
    pub metrics: PeerMetrics,
    /// Serves promotions forwarded to this member while it leads.
    pub cluster: ClusterService,
    /// One snapshot is received at a time: each is held whole until the member takes it.
    pub receiving_snapshot: Arc<Semaphore>,
}

impl PeerService {
    /// Refuse a sender from another cluster, one that is not a member, or a message meant for
    /// another member. A member still joining knows no members yet, and takes messages from any
    /// member of its cluster.
    fn check_sender(&self, cluster_id: u64, from: NodeId, to: NodeId) -> Result<(), Status> {
        let info = self.member.info();
        if cluster_id != info.cluster_id {
            tracing::warn!(target: "rafthttp",
                "rejected a stream from member {from:x} of cluster {cluster_id:x} (this is cluster {:x})",
                info.cluster_id);
            return Err(Status::failed_precondition(format!(
                "request cluster ID mismatch (got {cluster_id:x} want {:x})",
                info.cluster_id
            )));
        }
        let (known, removed) = self.member.with_state(|state| {
            let membership = &state.membership;
            let known = membership.voters.is_empty() || membership.contains(from);
            (known, state.members.removed.contains(&from))
        });
        if removed {
            tracing::warn!(target: "rafthttp", "rejected a stream from {from:x}: it was removed from the cluster");
            return Err(Status::permission_denied(super::transport::REMOVED));
        }
        if to != info.id || !known {
            tracing::warn!(target: "rafthttp",
                "rejected a stream from {from:x} to {to:x}: not a member of cluster {:x}",
                info.cluster_id);
            return Err(Status::permission_denied(format!(
                "member {from:x} is not a member of cluster {:x}",
                info.cluster_id
            )));
        }
        Ok(())
    }

    async fn deliver(&self, from: NodeId, message: Message) -> Result<(), Status> {
        self.member
            .deliver(from, message)
            .await
            .map_err(|_| Status::unavailable("etcdserver: server stopped"))
    }
}

#[tonic::async_trait]
impl Peer for PeerService {
    /// Hand every message of the stream to the member task.
    async fn stream(
        &self,
        request: Request<Streaming<Envelope>>,
    ) -> Result<Response<StreamClosed>, Status> {
        let mut incoming = request.into_inner();
        while let Some(envelope) = incoming.message().await? {
            self.check_sender(envelope.cluster_id, envelope.from, envelope.to)?;
            self.metrics
                .received_bytes(envelope.from, envelope.message.len() as u64);
            let Ok(message) = postcard::from_bytes::<Message>(&envelope.message) else {
                // Data from a peer is input: a message that does not decode is dropped.
                tracing::warn!(target: "rafthttp", "dropped a message from {:x} that does not decode", envelope.from);
                continue;
            };
            self.deliver(envelope.from, message).await?;
        }
        Ok(Response::new(StreamClosed {}))
    }

    /// Put a snapshot together from its pieces, then hand it to the member task.
    async fn snapshot(
        &self,
        request: Request<Streaming<SnapshotChunk>>,
    ) -> Result<Response<StreamClosed>, Status> {
        let mut incoming = request.into_inner();
        let Some(first) = incoming.message().await? else {
            return Ok(Response::new(StreamClosed {}));
        };
        let (from, to) = (first.from, first.to);
        self.check_sender(first.cluster_id, from, to)?;
        let _receiving = self
            .receiving_snapshot
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let mut message = match postcard::from_bytes::<Message>(&first.message) {
            Ok(
                message @ Message {
                    body: MessageBody::InstallSnapshot { .. },
                    ..
                },
            ) => message,
            _ => {
                tracing::warn!(target: "rafthttp", "dropped a snapshot from {from:x} that does not decode");
                return Err(Status::invalid_argument(
                    "the snapshot's message does not decode",
                ));
            }
        };
        let MessageBody::InstallSnapshot { snapshot } = &mut message.body else {
            unreachable!("matched above");
        };
        let mut data = first.data;
        let mut last = first.last;
        while !last {
            let Some(chunk) = incoming.message().await? else {
                tracing::warn!(target: "rafthttp", "a snapshot from {from:x} ended before its last piece");
                return Err(Status::aborted("the snapshot ended before its last piece"));
            };
            if (data.len() + chunk.data.len()) as u64 > SNAPSHOT_BYTES_MAX {
                return Err(Status::resource_exhausted(
                    "the snapshot is larger than any quota",
                ));
            }
            data.extend_from_slice(&chunk.data);
            last = chunk.last;
        }
        tracing::info!(target: "rafthttp",
            "received database snapshot [index: {}, from: {from:x}, size: {} bytes]",
            snapshot.index, data.len());
        self.metrics.received_bytes(from, data.len() as u64);
        snapshot.data = data;
        self.deliver(from, message).await?;
        Ok(Response::new(StreamClosed {}))
    }

    async fn members(
        &self,
        _: Request<MembersRequest>,
    ) -> Result<Response<MembersResponse>, Status> {
        Ok(Response::new(MembersResponse {
            cluster_id: self.member.info().cluster_id,
            members: member_list(&self.member.state()),
        }))
    }

    async fn ping(&self, _: Request<PingRequest>) -> Result<Response<PingResponse>, Status> {
        Ok(Response::new(PingResponse {}))
    }

    async fn promote(
        &self,
        request: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        let id = request.into_inner().id;
        let info = self.member.info();
        if self.member.with_state(|state| state.leader) != Some(info.id) {
            // Leadership moved on meanwhile; the member that forwarded it tries again.
            return Err(Status::unavailable("etcdserver: not leader"));
        }
        let members = self.cluster.promote_here(id).await?;
        Ok(Response::new(MemberPromoteResponse {
            header: None,
            members,
        }))
    }

    /// A keep-alive a follower forwarded; answered only while this member leads (otherwise
    /// "not leader", and the follower tries the new leader).
    async fn lease_keep_alive(
        &self,
        request: Request<LeaseKeepAliveRequest>,
    ) -> Result<Response<LeaseKeepAliveResponse>, Status> {
        let id = request.into_inner().id;
        Ok(Response::new(
            lease::keep_alive_here(&self.member, id).await?,
        ))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        let request = request.into_inner();
        Ok(Response::new(
            lease::time_to_live_here(&self.member, request).await?,
        ))
    }
}
