//! `--max-concurrent-streams N`: gateway calls share N places, a stream holds its place while it
//! is open, and a call beyond N waits for a place instead of failing (etcd's MaxStreams e2e
//! tests: a range answers with N-1 watches open and does not with N).

use axum::body::Body;
use http::StatusCode;

use super::{PROMPTLY, QUIET, curl_post, gateway_with_streams_max, next_chunk, post, send};

const WATCH: &str = r#"{"create_request" : {"key":"Zm9v","start_revision":1}}"#;
const RANGE: &str = r#"{"key":"Zm9v"}"#;

/// A watch through the gateway, open once its created response has come.
async fn open_watch(gateway: &axum::Router) -> Body {
    let mut answers = send(gateway, curl_post("/v3/watch", WATCH))
        .await
        .into_body();
    assert!(
        next_chunk(&mut answers)
            .await
            .unwrap()
            .contains(r#""created":true"#)
    );
    answers
}

#[tokio::test]
async fn a_call_beyond_the_limit_waits_until_a_stream_closes() {
    // N = 2 with two watches open: a range does not answer; when one watch's client goes away,
    // it does.
    let (gateway, _) = gateway_with_streams_max(2);
    let first = open_watch(&gateway).await;
    let _second = open_watch(&gateway).await;
    let range = tokio::spawn({
        let gateway = gateway.clone();
        async move { post(&gateway, "/v3/kv/range", RANGE).await }
    });
    tokio::time::sleep(QUIET).await;
    assert!(
        !range.is_finished(),
        "the range answered with every place taken"
    );
    drop(first);
    let answer = tokio::time::timeout(PROMPTLY, range)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn a_call_within_the_limit_answers_at_once() {
    // N = 2 with one watch open: a range answers.
    let (gateway, _) = gateway_with_streams_max(2);
    let _watch = open_watch(&gateway).await;
    assert_eq!(
        post(&gateway, "/v3/kv/range", RANGE).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn unary_calls_give_their_place_back_and_zero_sets_no_limit() {
    // N = 1: ranges one after another all answer. N = 0 (grpc-go's "unlimited"): a range
    // answers beside an open watch.
    let (gateway, _) = gateway_with_streams_max(1);
    for _ in 0..3 {
        assert_eq!(
            post(&gateway, "/v3/kv/range", RANGE).await.status,
            StatusCode::OK
        );
    }
    let (gateway, _) = gateway_with_streams_max(0);
    let _watch = open_watch(&gateway).await;
    assert_eq!(
        post(&gateway, "/v3/kv/range", RANGE).await.status,
        StatusCode::OK
    );
}
