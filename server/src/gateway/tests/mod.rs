//! The gateway driven through [`router`] with `tower::ServiceExt::oneshot` (no network), in front
//! of fake etcd services served by tonic's router, checked against what etcd 3.4.23 answered
//! (notes/e2e-one-member.md §5). `answers`: unary JSON; `errors`: statuses, bodies that are not
//! requests, paths and methods; `streams`: watch, keep-alive, observe, cancellation;
//! `limits`: `--max-concurrent-streams`.

mod answers;
mod errors;
mod fakes;
mod limits;
mod streams;

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;
use tokio::sync::mpsc;
use tower::ServiceExt;

use super::router;

/// How long a test waits for something that should happen at once.
const PROMPTLY: Duration = Duration::from_secs(5);
/// How long a test watches for something that must not happen.
const QUIET: Duration = Duration::from_millis(300);

/// The gateway in front of the fakes (no limit on concurrent calls), and what the fakes report.
fn gateway() -> (axum::Router, mpsc::UnboundedReceiver<String>) {
    gateway_with_streams_max(u32::MAX)
}

fn gateway_with_streams_max(
    max_concurrent_streams: u32,
) -> (axum::Router, mpsc::UnboundedReceiver<String>) {
    let (grpc, reports) = fakes::grpc_router();
    (router(grpc, max_concurrent_streams), reports)
}

/// A request as curl's `-X POST -d BODY` sends it: form-urlencoded.
fn curl_post(path: &str, body: impl Into<Body>) -> http::Request<Body> {
    http::Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.into())
        .unwrap()
}

async fn send(gateway: &axum::Router, request: http::Request<Body>) -> Response {
    tokio::time::timeout(PROMPTLY, gateway.clone().oneshot(request))
        .await
        .expect("the gateway answers promptly")
        .expect("the router is infallible")
}

/// A whole answer.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn read(response: Response) -> Answer {
    let (parts, body) = response.into_parts();
    let body = tokio::time::timeout(PROMPTLY, body.collect())
        .await
        .expect("the answer ends promptly")
        .expect("the body reads")
        .to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).expect("the answer is UTF-8"),
    }
}

async fn post(gateway: &axum::Router, path: &str, body: &str) -> Answer {
    read(send(gateway, curl_post(path, body.to_string())).await).await
}

/// The next piece of a streamed answer, as the gateway flushed it.
async fn next_chunk(body: &mut Body) -> Option<String> {
    let frame = tokio::time::timeout(PROMPTLY, body.frame())
        .await
        .expect("the stream sends promptly")?
        .expect("the body reads");
    let data = frame.into_data().expect("a data frame");
    Some(String::from_utf8(data.to_vec()).expect("UTF-8"))
}

/// The header of the captures, as the gateway writes it.
fn header_json(revision: i64) -> String {
    format!(
        r#"{{"cluster_id":"4737258103924239657","member_id":"10216970782564188914","revision":"{revision}","raft_term":"2"}}"#
    )
}

/// The fakes' next report.
async fn next_report(reports: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(PROMPTLY, reports.recv())
        .await
        .expect("the fakes report promptly")
        .expect("the fakes live as long as the gateway")
}
