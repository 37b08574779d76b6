//! Streaming calls: one `{"result":..}` line per answer, flushed as it comes; the body's JSON
//! values are the requests; the call is half-closed at the body's end and relayed until the
//! server ends it; and a client that goes away cancels the call.

use std::convert::Infallible;

use axum::body::Body;
use bytes::Bytes;
use http::StatusCode;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::fakes::{LEASE_ID, UNKNOWN_LEASE_ID};
use super::{QUIET, curl_post, gateway, header_json, next_chunk, next_report, post, send};

#[tokio::test]
async fn keep_alive_answers_each_request_and_ends_with_the_body() {
    // Two JSON values in one body are two requests; when the body ends the gateway half-closes
    // the call, the server ends it (as etcd's keep-alive does on EOF), and so does the answer.
    let (gateway, _) = gateway();
    let body = format!(r#"{{"ID":{LEASE_ID}}} {{"ID":7}}"#);
    let answer = post(&gateway, "/v3/lease/keepalive", &body).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "application/json");
    assert_eq!(
        answer.headers["grpc-metadata-content-type"],
        "application/grpc"
    );
    assert_eq!(
        answer.body,
        format!(
            "{{\"result\":{{\"header\":{h},\"ID\":\"{LEASE_ID}\",\"TTL\":\"2\"}}}}\n\
             {{\"result\":{{\"header\":{h},\"ID\":\"7\",\"TTL\":\"2\"}}}}\n",
            h = header_json(2)
        )
    );
}

#[tokio::test]
async fn an_empty_keep_alive_body_answers_nothing_and_ends() {
    // No request at all: 200 and an empty body, as etcd 3.4.23 answers.
    let (gateway, _) = gateway();
    let answer = post(&gateway, "/v3/lease/keepalive", "").await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, ""));
}

#[tokio::test]
async fn an_error_as_the_first_answer_sets_the_http_status() {
    // The stream's error object (no newline after it) with the status of its code; an error
    // after answers only ends the body.
    let (gateway, _) = gateway();
    let error = r#"{"error":{"grpc_code":5,"http_code":404,"message":"etcdserver: requested lease not found","http_status":"Not Found"}}"#;
    let answer = post(
        &gateway,
        "/v3/lease/keepalive",
        &format!(r#"{{"ID":{UNKNOWN_LEASE_ID}}}"#),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.body, error);
    let body = format!(r#"{{"ID":{LEASE_ID}}}{{"ID":{UNKNOWN_LEASE_ID}}}"#);
    let answer = post(&gateway, "/v3/lease/keepalive", &body).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer
            .body
            .ends_with(&format!("\"TTL\":\"2\"}}}}\n{error}")),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn a_watch_stays_open_after_the_body_ends_and_delivers_events() {
    // The capture's watch: the created response, then foo's event, each its own line; the
    // body has ended, yet the answer stays open, as etcd's watch server streams until the
    // client goes away.
    let (gateway, mut reports) = gateway();
    let body = r#"{"create_request" : {"key":"Zm9v","start_revision":1}}"#;
    let response = send(&gateway, curl_post("/v3/watch", body)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut answers = response.into_body();
    assert_eq!(
        next_chunk(&mut answers).await.unwrap(),
        format!(
            "{{\"result\":{{\"header\":{},\"created\":true}}}}\n",
            header_json(2)
        )
    );
    assert_eq!(
        next_chunk(&mut answers).await.unwrap(),
        format!(
            "{{\"result\":{{\"header\":{},\"events\":[{{\"kv\":{{\"key\":\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"YmFy\"}}}}]}}}}\n",
            header_json(2)
        )
    );
    assert_eq!(next_report(&mut reports).await, "requests ended");
    let more = tokio::time::timeout(QUIET, http_body_util::BodyExt::frame(&mut answers)).await;
    assert!(
        more.is_err(),
        "the watch answer ended or sent more: {more:?}"
    );
}

#[tokio::test]
async fn a_later_request_that_is_not_json_half_closes_the_call() {
    // As grpc-gateway stops sending at its first decoding error: the watch created by the
    // first value is answered and stays open; the server sees its requests end.
    let (gateway, mut reports) = gateway();
    let body = r#"{"create_request":{"key":"YQ=="}} garbage"#;
    let response = send(&gateway, curl_post("/v3/watch", body)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut answers = response.into_body();
    assert!(
        next_chunk(&mut answers)
            .await
            .unwrap()
            .contains(r#""created":true"#)
    );
    assert_eq!(next_report(&mut reports).await, "requests ended");
    let more = tokio::time::timeout(QUIET, http_body_util::BodyExt::frame(&mut answers)).await;
    assert!(
        more.is_err(),
        "the watch answer ended or sent more: {more:?}"
    );
}

#[tokio::test]
async fn requests_are_sent_as_their_json_values_arrive() {
    // An interactive watch: each create request, arriving in pieces over an open body, is
    // answered before the body ends.
    let (gateway, _) = gateway();
    let (chunks, body) = open_body();
    // The gateway reads the first request before it calls (and answers the HTTP request).
    chunks
        .send(Ok(Bytes::from_static(
            br#"{"create_request":{"key":"YQ=="}}"#,
        )))
        .await
        .unwrap();
    let response = send(&gateway, curl_post("/v3/watch", body)).await;
    let mut answers = response.into_body();
    assert!(
        next_chunk(&mut answers)
            .await
            .unwrap()
            .contains(r#""created":true"#)
    );
    chunks
        .send(Ok(Bytes::from_static(br#"{"create_request":"#)))
        .await
        .unwrap();
    chunks
        .send(Ok(Bytes::from_static(br#"{"key":"Yg=="}}"#)))
        .await
        .unwrap();
    let second = next_chunk(&mut answers).await.unwrap();
    assert!(
        second.contains(r#""watch_id":"1","created":true"#),
        "{second}"
    );
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_the_call() {
    // Dropping the answer (hyper does when the HTTP client leaves) ends the in-process call as
    // an HTTP/2 reset would: the server's answers are dropped, and its request stream, though
    // the HTTP body is still open, ends (tonic's server reads a cancelled request stream as
    // ended, as it reads a reset with CANCEL from the network).
    let (gateway, mut reports) = gateway();
    let (chunks, body) = open_body();
    chunks
        .send(Ok(Bytes::from_static(
            br#"{"create_request":{"key":"YQ=="}}"#,
        )))
        .await
        .unwrap();
    let response = send(&gateway, curl_post("/v3/watch", body)).await;
    let mut answers = response.into_body();
    assert!(
        next_chunk(&mut answers)
            .await
            .unwrap()
            .contains(r#""created":true"#)
    );
    drop(answers);
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(next_report(&mut reports).await);
    }
    seen.sort();
    assert_eq!(seen, ["answers dropped", "requests ended"]);
}

#[tokio::test]
async fn a_server_stream_answers_one_request_with_lines() {
    // Observe (server streaming) reads one request and relays each answer as a line until the
    // server ends the call.
    let (gateway, _) = gateway();
    let answer = post(
        &gateway,
        "/v3/election/observe",
        r#"{"name":"ZWxlY3Rpb24="}"#,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let lines: Vec<_> = answer.body.lines().collect();
    assert_eq!(lines.len(), 2, "{}", answer.body);
    assert!(lines[0].starts_with(r#"{"result":{"header":"#));
    assert!(lines[1].contains(r#""kv":{"key":"ZWxlY3Rpb24=","create_revision":"6","mod_revision":"7","version":"2","value":"dg=="}"#));
}

/// A request body that stays open until the sender is dropped.
fn open_body() -> (mpsc::Sender<Result<Bytes, Infallible>>, Body) {
    let (chunks, received) = mpsc::channel(4);
    (chunks, Body::from_stream(ReceiverStream::new(received)))
}
