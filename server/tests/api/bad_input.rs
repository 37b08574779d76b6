//! Bad input gets etcd's code and message, and the member keeps serving: garbage on the client
//! port, a malformed protobuf, a request over --max-request-bytes, a txn over --max-txn-ops, an
//! empty key, and auth calls while authentication is off.

use bytes::Bytes;
use detcd_proto::etcdserverpb::auth_client::AuthClient;
use detcd_proto::etcdserverpb::request_op::Request as Op;
use detcd_proto::etcdserverpb::{AuthStatusRequest, AuthUserAddRequest, RequestOp, TxnRequest};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

use crate::common::{Server, get, put};

fn address(server: &Server) -> String {
    server.endpoint.trim_start_matches("http://").to_string()
}

/// Garbage bytes on the client port close that connection and nothing else.
#[tokio::test]
async fn garbage_bytes_on_the_client_port() {
    let server = Server::start().await;
    let mut stream = tokio::net::TcpStream::connect(address(&server))
        .await
        .unwrap();
    stream
        .write_all(&[0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, b'\n'])
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut rest),
    )
    .await;
    server
        .kv()
        .await
        .put(put("still", "serving"))
        .await
        .unwrap();
}

/// A gRPC call whose message is not a valid protobuf fails with a status (not a dropped
/// connection), and the member goes on serving.
#[tokio::test]
async fn malformed_protobuf() {
    let server = Server::start().await;
    let stream = tokio::net::TcpStream::connect(address(&server))
        .await
        .unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    // A 5-byte gRPC frame header, then bytes that are no PutRequest (a field with wire type 7).
    let garbage = [0x0f, 0xff, 0xff, 0xff];
    let mut frame = vec![0];
    frame.extend_from_slice(&(garbage.len() as u32).to_be_bytes());
    frame.extend_from_slice(&garbage);
    let request = http::Request::post(format!("http://{}/etcdserverpb.KV/Put", address(&server)))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from(frame)))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let headers = response.headers().clone();
    let collected = response.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned().unwrap_or(headers);
    let status = trailers
        .get("grpc-status")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(status, (Code::Internal as i32).to_string());
    server
        .kv()
        .await
        .put(put("still", "serving"))
        .await
        .unwrap();
}

/// A request larger than --max-request-bytes is refused with etcd's "request is too large"
/// (InvalidArgument); nothing of it is stored.
#[tokio::test]
async fn request_too_large() {
    let server = Server::start_with(&["--max-request-bytes", "4096"]).await;
    let mut kv = server.kv().await;
    let refused = kv.put(put("big", &"x".repeat(5000))).await.unwrap_err();
    assert_eq!(
        (refused.code(), refused.message()),
        (Code::InvalidArgument, "etcdserver: request is too large")
    );
    assert_eq!(kv.range(get("big")).await.unwrap().into_inner().count, 0);
    kv.put(put("small", "v")).await.unwrap();
}

/// A request larger than gRPC's receive limit (--max-request-bytes plus 512 KiB) is refused as
/// etcd's gRPC server refuses it: ResourceExhausted, "grpc: received message larger than max".
#[tokio::test]
async fn message_over_the_receive_limit() {
    let server = Server::start_with(&["--max-request-bytes", "4096"]).await;
    let mut kv = server.kv().await;
    let refused = kv
        .put(put("huge", &"x".repeat(1024 * 1024)))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(
        refused
            .message()
            .starts_with("grpc: received message larger than max ("),
        "{}",
        refused.message()
    );
    kv.put(put("small", "v")).await.unwrap();
}

/// A txn with more operations than --max-txn-ops, and a put of the empty key, get etcd's
/// InvalidArgument errors.
#[tokio::test]
async fn too_many_ops_and_empty_keys() {
    let server = Server::start_with(&["--max-txn-ops", "4"]).await;
    let mut kv = server.kv().await;
    let op = |index: usize| RequestOp {
        request: Some(Op::RequestPut(put(&format!("k{index}"), "v"))),
    };
    let txn = TxnRequest {
        success: (0..5).map(op).collect(),
        ..TxnRequest::default()
    };
    let refused = kv.txn(txn).await.unwrap_err();
    assert_eq!(
        (refused.code(), refused.message()),
        (
            Code::InvalidArgument,
            "etcdserver: too many operations in txn request"
        )
    );
    let empty = kv.put(put("", "v")).await.unwrap_err();
    assert_eq!(
        (empty.code(), empty.message()),
        (Code::InvalidArgument, "etcdserver: key is not provided")
    );
}

/// Authentication is off: AuthStatus says so, and every other auth call gets etcd's
/// "authentication is not enabled".
#[tokio::test]
async fn auth_is_off() {
    let server = Server::start().await;
    let mut auth = AuthClient::new(server.channel().await);
    let status = auth
        .auth_status(AuthStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(!status.enabled);
    let refused = auth
        .user_add(AuthUserAddRequest {
            name: "root".into(),
            ..AuthUserAddRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (refused.code(), refused.message()),
        (
            Code::FailedPrecondition,
            "etcdserver: authentication is not enabled"
        )
    );
}
