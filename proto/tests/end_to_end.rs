//! The generated real-mode stubs work end to end: a tonic server built from the generated `Kv`
//! trait answers a Range called through the generated `KvClient` over TCP on 127.0.0.1. (The
//! simulated stubs are exercised by the server's madsim tests, not here.)
#![cfg(not(madsim))]

use detcd_proto::etcdserverpb::kv_client::KvClient;
use detcd_proto::etcdserverpb::kv_server::{Kv, KvServer};
use detcd_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, ResponseHeader, TxnRequest, TxnResponse,
};
use detcd_proto::mvccpb::KeyValue;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// Answers every Range with the requested key holding the value "v" at revision 3.
#[derive(Debug)]
struct OneKeyStore;

#[tonic::async_trait]
impl Kv for OneKeyStore {
    async fn range(
        &self,
        request: Request<RangeRequest>,
    ) -> Result<Response<RangeResponse>, Status> {
        let key = request.into_inner().key;
        Ok(Response::new(RangeResponse {
            header: Some(ResponseHeader {
                revision: 3,
                ..ResponseHeader::default()
            }),
            kvs: vec![KeyValue {
                key,
                value: b"v".to_vec(),
                mod_revision: 3,
                ..KeyValue::default()
            }],
            more: false,
            count: 1,
        }))
    }

    async fn put(&self, _: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        Err(Status::unimplemented("put"))
    }

    async fn delete_range(
        &self,
        _: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        Err(Status::unimplemented("delete_range"))
    }

    async fn txn(&self, _: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        Err(Status::unimplemented("txn"))
    }

    async fn compact(
        &self,
        _: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        Err(Status::unimplemented("compact"))
    }
}

#[tokio::test]
async fn generated_client_calls_generated_server_over_tcp() {
    // One Range round trip, then an rpc the server leaves unimplemented comes back as
    // Unimplemented with its message, as etcd's clients expect gRPC statuses to travel.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(
        Server::builder()
            .add_service(KvServer::new(OneKeyStore))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );

    let mut client = KvClient::connect(format!("http://{address}"))
        .await
        .unwrap();
    let response = client
        .range(RangeRequest {
            key: b"foo".to_vec(),
            ..RangeRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.count, 1);
    assert_eq!(response.header.unwrap().revision, 3);
    assert_eq!(response.kvs[0].key, b"foo");
    assert_eq!(response.kvs[0].value, b"v");

    let status = client.put(PutRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    assert_eq!(status.message(), "put");

    server.abort();
}
