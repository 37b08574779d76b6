//! Small fake etcd services that answer as etcd 3.4.23 answered the captured requests
//! (notes/e2e-one-member.md §5), deterministically, and report what the gateway made them see.

use std::pin::Pin;

use futures::{Stream, StreamExt, stream};
use tokio::sync::mpsc;
use tonic::codec::Streaming;
use tonic::{Request, Response, Status};

use detcd_proto::etcdserverpb::compare::{CompareTarget, TargetUnion};
use detcd_proto::etcdserverpb::kv_server::{Kv, KvServer};
use detcd_proto::etcdserverpb::lease_server::{Lease, LeaseServer};
use detcd_proto::etcdserverpb::request_op::Request as RequestOneof;
use detcd_proto::etcdserverpb::response_op::Response as ResponseOneof;
use detcd_proto::etcdserverpb::watch_request::RequestUnion;
use detcd_proto::etcdserverpb::watch_server::{Watch, WatchServer};
use detcd_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse,
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse, LeaseStatus,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse, PutRequest, PutResponse, RangeRequest,
    RangeResponse, ResponseHeader, ResponseOp, TxnRequest, TxnResponse, WatchRequest,
    WatchResponse,
};
use detcd_proto::mvccpb::{Event, KeyValue};
use detcd_proto::v3electionpb::election_server::{Election, ElectionServer};
use detcd_proto::v3electionpb::{
    CampaignRequest, CampaignResponse, LeaderRequest, LeaderResponse, ProclaimRequest,
    ProclaimResponse, ResignRequest, ResignResponse,
};

/// The lease the captures granted with a client-chosen ID.
pub(super) const LEASE_ID: i64 = 1_234_567_890_123;
/// The lease etcd chose for `{"TTL":20}`.
pub(super) const CHOSEN_LEASE_ID: i64 = 212_410_598_557_607_183;
/// A lease no fake knows.
pub(super) const UNKNOWN_LEASE_ID: i64 = 42;

/// The header of the captures: cluster and member of that etcd, revision `revision`, term 2.
pub(super) fn header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        cluster_id: 4_737_258_103_924_239_657,
        member_id: 10_216_970_782_564_188_914,
        revision,
        raft_term: 2,
    })
}

/// The gRPC router of the fakes, and the receiving end of what they report.
pub(super) fn grpc_router() -> (axum::Router, mpsc::UnboundedReceiver<String>) {
    let (reports, reported) = mpsc::unbounded_channel();
    let router = tonic::service::Routes::new(KvServer::new(FakeKv {
        reports: reports.clone(),
    }))
    .add_service(LeaseServer::new(FakeLease))
    .add_service(WatchServer::new(FakeWatch {
        reports: reports.clone(),
    }))
    .add_service(ElectionServer::new(FakeElection))
    .into_axum_router();
    (router, reported)
}

type Reports = mpsc::UnboundedSender<String>;
type AnswerStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The key `foo` holds `bar`, written at revision 2; nothing else exists. Reports the
/// `authorization` metadata of each Put.
#[derive(Debug)]
struct FakeKv {
    reports: Reports,
}

#[tonic::async_trait]
impl Kv for FakeKv {
    async fn range(
        &self,
        request: Request<RangeRequest>,
    ) -> Result<Response<RangeResponse>, Status> {
        let request = request.into_inner();
        if request.revision > 2 {
            return Err(Status::out_of_range(
                "etcdserver: mvcc: required revision is a future revision",
            ));
        }
        let mut answer = RangeResponse {
            header: header(2),
            ..RangeResponse::default()
        };
        if request.key == b"foo" {
            answer.kvs.push(KeyValue {
                key: b"foo".to_vec(),
                create_revision: 2,
                mod_revision: 2,
                version: 1,
                value: if request.keys_only {
                    Vec::new()
                } else {
                    b"bar".to_vec()
                },
                lease: 0,
            });
            answer.count = 1;
        }
        Ok(Response::new(answer))
    }

    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("none");
        let _ = self
            .reports
            .send(format!("put authorization: {authorization}"));
        Ok(Response::new(PutResponse {
            header: header(2),
            prev_kv: None,
        }))
    }

    async fn delete_range(
        &self,
        _: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        Err(Status::unimplemented("delete_range"))
    }

    /// Succeeds (a put at revision 3) only for the capture's txn: `create_revision(foo) == 0`
    /// then `put foo bar`; anything else fails at revision 2.
    async fn txn(&self, request: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        let request = request.into_inner();
        let compares_creation = request.compare.len() == 1
            && request.compare[0].target == CompareTarget::Create as i32
            && request.compare[0].key == b"foo"
            && request.compare[0].target_union == Some(TargetUnion::CreateRevision(0));
        let puts_foo = matches!(
            request.success.as_slice(),
            [op] if matches!(&op.request, Some(RequestOneof::RequestPut(put))
                if put.key == b"foo" && put.value == b"bar")
        );
        if !(compares_creation && puts_foo) {
            return Ok(Response::new(TxnResponse {
                header: header(2),
                ..TxnResponse::default()
            }));
        }
        let put = PutResponse {
            header: Some(ResponseHeader {
                revision: 3,
                ..ResponseHeader::default()
            }),
            prev_kv: None,
        };
        Ok(Response::new(TxnResponse {
            header: header(3),
            succeeded: true,
            responses: vec![ResponseOp {
                response: Some(ResponseOneof::ResponsePut(put)),
            }],
        }))
    }

    async fn compact(
        &self,
        _: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        Err(Status::unimplemented("compact"))
    }
}

/// Leases as the captures saw them: [`LEASE_ID`] granted with 2 s and attached to `foo`,
/// [`CHOSEN_LEASE_ID`] with 20 s; revoking or keeping alive [`UNKNOWN_LEASE_ID`] fails.
#[derive(Debug)]
struct FakeLease;

#[tonic::async_trait]
impl Lease for FakeLease {
    async fn lease_grant(
        &self,
        request: Request<LeaseGrantRequest>,
    ) -> Result<Response<LeaseGrantResponse>, Status> {
        let request = request.into_inner();
        Ok(Response::new(LeaseGrantResponse {
            header: header(2),
            id: if request.id == 0 {
                CHOSEN_LEASE_ID
            } else {
                request.id
            },
            // etcd raises a TTL below its minimum to 2 s.
            ttl: request.ttl.max(2),
            error: String::new(),
        }))
    }

    async fn lease_revoke(
        &self,
        request: Request<LeaseRevokeRequest>,
    ) -> Result<Response<LeaseRevokeResponse>, Status> {
        if request.into_inner().id == UNKNOWN_LEASE_ID {
            return Err(Status::not_found("etcdserver: requested lease not found"));
        }
        Ok(Response::new(LeaseRevokeResponse { header: header(5) }))
    }

    type LeaseKeepAliveStream = AnswerStream<LeaseKeepAliveResponse>;

    /// Answers each request in turn and ends when the requests end, as etcd's handler returns
    /// on EOF.
    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let answers = request.into_inner().map(|request| {
            let id = request?.id;
            if id == UNKNOWN_LEASE_ID {
                return Err(Status::not_found("etcdserver: requested lease not found"));
            }
            Ok(LeaseKeepAliveResponse {
                header: header(2),
                id,
                ttl: 2,
            })
        });
        Ok(Response::new(Box::pin(answers)))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        let request = request.into_inner();
        let mut answer = LeaseTimeToLiveResponse {
            header: header(2),
            id: request.id,
            ttl: -1,
            ..LeaseTimeToLiveResponse::default()
        };
        if request.id == LEASE_ID {
            answer.ttl = 1;
            answer.granted_ttl = 2;
            if request.keys {
                answer.keys = vec![b"foo".to_vec()];
            }
        }
        Ok(Response::new(answer))
    }

    async fn lease_leases(
        &self,
        _: Request<LeaseLeasesRequest>,
    ) -> Result<Response<LeaseLeasesResponse>, Status> {
        Ok(Response::new(LeaseLeasesResponse {
            header: header(2),
            leases: vec![
                LeaseStatus { id: LEASE_ID },
                LeaseStatus {
                    id: CHOSEN_LEASE_ID,
                },
            ],
        }))
    }
}

/// Answers each create request with a created response, and the first with `foo`'s put event
/// as well; stays open after the requests end, until the client drops the answers. Reports how
/// the request stream ended (`requests ended` or `requests failed: CODE`) and `answers dropped`.
#[derive(Debug)]
struct FakeWatch {
    reports: Reports,
}

#[tonic::async_trait]
impl Watch for FakeWatch {
    type WatchStream = AnswerStream<WatchResponse>;

    async fn watch(
        &self,
        request: Request<Streaming<WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let mut requests = request.into_inner();
        let (answers, answered) = mpsc::channel(16);
        let (reports, closed) = (self.reports.clone(), answers.clone());
        tokio::spawn(async move {
            closed.closed().await;
            let _ = reports.send("answers dropped".to_string());
        });
        let reports = self.reports.clone();
        tokio::spawn(async move {
            let mut watch_id = 0;
            loop {
                match requests.message().await {
                    Ok(Some(WatchRequest {
                        request_union: Some(RequestUnion::CreateRequest(create)),
                    })) => {
                        let created = WatchResponse {
                            header: header(2),
                            watch_id,
                            created: true,
                            ..WatchResponse::default()
                        };
                        let _ = answers.send(Ok(created)).await;
                        if watch_id == 0 && create.key == b"foo" {
                            let _ = answers.send(Ok(foo_put_event())).await;
                        }
                        watch_id += 1;
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        let _ = reports.send("requests ended".to_string());
                        return;
                    }
                    Err(status) => {
                        let _ = reports.send(format!("requests failed: {:?}", status.code()));
                        return;
                    }
                }
            }
        });
        let answers = stream::unfold(answered, |mut answered| async move {
            answered.recv().await.map(|answer| (answer, answered))
        });
        Ok(Response::new(Box::pin(answers)))
    }
}

fn foo_put_event() -> WatchResponse {
    WatchResponse {
        header: header(2),
        events: vec![Event {
            r#type: 0,
            kv: Some(KeyValue {
                key: b"foo".to_vec(),
                create_revision: 2,
                mod_revision: 2,
                version: 1,
                value: b"bar".to_vec(),
                lease: 0,
            }),
            prev_kv: None,
        }],
        ..WatchResponse::default()
    }
}

/// Proclaim and Resign without a leader fail as etcd's election server does (code Unknown);
/// Observe sends the leader twice and ends.
#[derive(Debug)]
struct FakeElection;

const LEADER_MISSING: &str = "\"leader\" field must be provided";

#[tonic::async_trait]
impl Election for FakeElection {
    async fn campaign(
        &self,
        _: Request<CampaignRequest>,
    ) -> Result<Response<CampaignResponse>, Status> {
        Err(Status::unimplemented("campaign"))
    }

    async fn proclaim(
        &self,
        request: Request<ProclaimRequest>,
    ) -> Result<Response<ProclaimResponse>, Status> {
        if request.into_inner().leader.is_none() {
            return Err(Status::unknown(LEADER_MISSING));
        }
        Ok(Response::new(ProclaimResponse { header: header(7) }))
    }

    async fn leader(&self, _: Request<LeaderRequest>) -> Result<Response<LeaderResponse>, Status> {
        Err(Status::unimplemented("leader"))
    }

    type ObserveStream = AnswerStream<LeaderResponse>;

    async fn observe(
        &self,
        request: Request<LeaderRequest>,
    ) -> Result<Response<Self::ObserveStream>, Status> {
        let name = request.into_inner().name;
        let leader = move |revision| LeaderResponse {
            header: header(revision),
            kv: Some(KeyValue {
                key: name.clone(),
                create_revision: 6,
                mod_revision: revision,
                version: revision - 5,
                value: b"v".to_vec(),
                lease: 0,
            }),
        };
        let answers = stream::iter([Ok(leader(6)), Ok(leader(7))]);
        Ok(Response::new(Box::pin(answers)))
    }

    async fn resign(
        &self,
        request: Request<ResignRequest>,
    ) -> Result<Response<ResignResponse>, Status> {
        if request.into_inner().leader.is_none() {
            return Err(Status::unknown(LEADER_MISSING));
        }
        Ok(Response::new(ResignResponse { header: header(8) }))
    }
}
