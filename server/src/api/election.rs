//! etcd's Election service (`v3electionpb`), built on lease, txn and watch as etcd builds it:
//! a candidate's key is `name/<lease in hex>`; the leader is the oldest key under `name/`.

use std::pin::Pin;

use detcd_core::kv::{
    EventKind, Request, Response as KvResponse, TxnRequest, WatchCreateRequest, WatchRequest,
};
use detcd_proto::v3electionpb::{self as pb, election_server::Election};
use futures::{Stream, StreamExt};
use tonic::{Code, Request as GrpcRequest, Response, Status};

use super::convert;
use super::recipes::{
    Abandon, contender_key, create_if_absent, create_revision_is, delete, first_created, put, txn,
    wait_deletes,
};
use super::status::{stopped, unexpected};
use crate::member::Member;
use detcd_proto::prefix_end;

#[derive(Clone, Debug)]
pub struct ElectionService {
    pub member: Member,
}

/// etcd's errors of this service are plain Go errors, which gRPC sends as Unknown.
fn unknown(message: &str) -> Status {
    Status::new(Code::Unknown, message)
}

fn missing_leader() -> Status {
    unknown("\"leader\" field must be provided")
}

fn prefix(name: &[u8]) -> Vec<u8> {
    let mut prefix = name.to_vec();
    prefix.push(b'/');
    prefix
}

type ObserveStream = Pin<Box<dyn Stream<Item = Result<pb::LeaderResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Election for ElectionService {
    /// Become a candidate with the given lease and wait to lead; a candidate that already leads
    /// just sets its value (proclaims).
    async fn campaign(
        &self,
        request: GrpcRequest<pb::CampaignRequest>,
    ) -> Result<Response<pb::CampaignResponse>, Status> {
        let request = request.into_inner();
        let prefix = prefix(&request.name);
        let key = contender_key(&prefix, request.lease);
        let (kv, created) =
            create_if_absent(&self.member, &key, request.value.clone(), request.lease).await?;
        let abandon = Abandon::new(&self.member, &key);
        if !created.succeeded && kv.value != request.value {
            self.proclaim_value(&key, kv.create_revision, request.lease, request.value)
                .await?;
        }
        wait_deletes(&self.member, &prefix, kv.create_revision - 1).await?;
        abandon.keep();
        let leader = pb::LeaderKey {
            name: request.name,
            key,
            rev: kv.create_revision,
            lease: request.lease,
        };
        Ok(Response::new(pb::CampaignResponse {
            header: convert::header(created.header),
            leader: Some(leader),
        }))
    }

    async fn proclaim(
        &self,
        request: GrpcRequest<pb::ProclaimRequest>,
    ) -> Result<Response<pb::ProclaimResponse>, Status> {
        let request = request.into_inner();
        let leader = request.leader.ok_or_else(missing_leader)?;
        let response = self
            .proclaim_value(&leader.key, leader.rev, leader.lease, request.value)
            .await?;
        Ok(Response::new(pb::ProclaimResponse {
            header: convert::header(response.header),
        }))
    }

    async fn leader(
        &self,
        request: GrpcRequest<pb::LeaderRequest>,
    ) -> Result<Response<pb::LeaderResponse>, Status> {
        let prefix = prefix(&request.into_inner().name);
        let state = self.member.state();
        let leader = first_created(&self.member, &prefix)
            .await?
            .ok_or_else(|| unknown("election: no leader"))?;
        Ok(Response::new(pb::LeaderResponse {
            header: super::local_header(&self.member).map(|header| {
                detcd_proto::etcdserverpb::ResponseHeader {
                    revision: state.revision,
                    ..header
                }
            }),
            kv: Some(convert::key_value(leader)),
        }))
    }

    type ObserveStream = ObserveStream;

    /// The leader now, then every change of leader (or of its value), until the client leaves.
    async fn observe(
        &self,
        request: GrpcRequest<pb::LeaderRequest>,
    ) -> Result<Response<ObserveStream>, Status> {
        let prefix = prefix(&request.into_inner().name);
        let member = self.member.clone();
        let (answers, receiver) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            if let Err(status) = observe(&member, &prefix, &answers).await {
                let _ = answers.send(Err(status)).await;
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(receiver),
        )))
    }

    async fn resign(
        &self,
        request: GrpcRequest<pb::ResignRequest>,
    ) -> Result<Response<pb::ResignResponse>, Status> {
        let leader = request.into_inner().leader.ok_or_else(missing_leader)?;
        let response = txn(
            &self.member,
            TxnRequest {
                compare: vec![create_revision_is(&leader.key, leader.rev)],
                success: vec![delete(&leader.key)],
                failure: Vec::new(),
            },
        )
        .await?;
        Ok(Response::new(pb::ResignResponse {
            header: convert::header(response.header),
        }))
    }
}

impl ElectionService {
    /// Set the leader's value, if `key` is still the candidate created at `revision`.
    async fn proclaim_value(
        &self,
        key: &[u8],
        revision: i64,
        lease: i64,
        value: Vec<u8>,
    ) -> Result<detcd_core::kv::TxnResponse, Status> {
        let response = txn(
            &self.member,
            TxnRequest {
                compare: vec![create_revision_is(key, revision)],
                success: vec![put(key, value, lease)],
                failure: Vec::new(),
            },
        )
        .await?;
        match response.succeeded {
            true => Ok(response),
            false => Err(unknown("election: not leader")),
        }
    }
}

/// Send the leader whenever it changes: watch the prefix, and after every change look again.
async fn observe(
    member: &Member,
    prefix: &[u8],
    answers: &tokio::sync::mpsc::Sender<Result<pb::LeaderResponse, Status>>,
) -> Result<(), Status> {
    let (sender, mut events) = member.open_stream().await.map_err(stopped)?;
    let create = WatchCreateRequest {
        key: prefix.to_vec(),
        range_end: prefix_end(prefix),
        ..WatchCreateRequest::default()
    };
    sender
        .send(Request::Watch(WatchRequest::Create(create)))
        .await
        .map_err(stopped)?;
    let mut last_sent: Option<(Vec<u8>, i64)> = None;
    loop {
        if let Some(leader) = first_created(member, prefix).await? {
            let seen = (leader.key.clone(), leader.mod_revision);
            if last_sent.as_ref() != Some(&seen) {
                last_sent = Some(seen);
                let response = pb::LeaderResponse {
                    header: super::local_header(member),
                    kv: Some(convert::key_value(leader)),
                };
                if answers.send(Ok(response)).await.is_err() {
                    return Ok(()); // the client went away
                }
            }
        }
        // Wait for the next change under the prefix.
        loop {
            match events.next().await {
                Some(KvResponse::Watch(watch)) if watch.canceled => {
                    return Err(Status::unavailable(watch.cancel_reason));
                }
                Some(KvResponse::Watch(watch)) => {
                    if watch
                        .events
                        .iter()
                        .any(|event| matches!(event.kind, EventKind::Put | EventKind::Delete))
                    {
                        break;
                    }
                }
                Some(other) => return Err(unexpected(&other)),
                None => return Err(stopped(crate::member::MemberGone)),
            }
            if answers.is_closed() {
                return Ok(());
            }
        }
    }
}
