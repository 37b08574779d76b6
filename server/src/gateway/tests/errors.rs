//! Failures answer as grpc-gateway v1 answers them: a gRPC status as
//! `{"error":MSG,"message":MSG,"code":CODE}` with the code's HTTP status, a body that is not a
//! request as InvalidArgument (Unknown for a streamed request), and Go's plain-text 404 and 405.

use http::{Method, StatusCode};

use super::{curl_post, gateway, post, read, send};

#[tokio::test]
async fn a_grpc_status_becomes_the_error_body_with_its_http_status() {
    // OutOfRange is 400 and NotFound 404, with etcd's messages as the fake returns them.
    let (gateway, _) = gateway();
    let answer = post(&gateway, "/v3/kv/range", r#"{"key":"Zm9v","revision":99}"#).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.body,
        r#"{"error":"etcdserver: mvcc: required revision is a future revision","message":"etcdserver: mvcc: required revision is a future revision","code":11}"#
    );
    assert_eq!(answer.headers["content-type"], "application/json");
    let answer = post(&gateway, "/v3/kv/lease/revoke", r#"{"ID":42}"#).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(
        answer.body,
        r#"{"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5}"#
    );
}

#[tokio::test]
async fn an_unknown_code_status_is_a_500_with_the_exact_captured_body() {
    // Proclaim and Resign without a leader, on /v3 and /v3beta, answer exactly what the e2e
    // tests compare against, quotes escaped.
    let (gateway, _) = gateway();
    let expected = r#"{"error":"\"leader\" field must be provided","message":"\"leader\" field must be provided","code":2}"#;
    for (path, body) in [
        ("/v3/election/proclaim", r#"{"value":"djI="}"#),
        ("/v3/election/resign", "{}"),
        ("/v3beta/election/proclaim", r#"{"value":"djI="}"#),
        ("/v3beta/election/resign", "{}"),
    ] {
        let answer = post(&gateway, path, body).await;
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert_eq!(answer.body, expected, "{path}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_is_invalid_argument() {
    // Code 3 and HTTP 400, with the JSON parser's message in both fields.
    let (gateway, _) = gateway();
    let answer = post(&gateway, "/v3/kv/txn", "garbage").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(body["code"], 3);
    assert_eq!(body["error"], body["message"]);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("expected value"),
        "{body}"
    );
}

#[tokio::test]
async fn a_value_that_is_not_the_request_message_is_invalid_argument() {
    // A number where bytes belong, and an array where the message belongs.
    let (gateway, _) = gateway();
    for body in [r#"{"key":5}"#, "[1]"] {
        let answer = post(&gateway, "/v3/kv/range", body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            answer.body.ends_with(r#","code":3}"#),
            "{body}: {}",
            answer.body
        );
    }
}

#[tokio::test]
async fn unknown_fields_are_ignored_and_null_is_the_empty_request() {
    // The capture's malformed txn names fields etcd does not have; they are skipped (the fake
    // then sees an empty txn and fails it). `null` is read as `{}`, as Go reads it.
    let (gateway, _) = gateway();
    let body = r#"{"compare":[{"result":0,"target":1,"key":"Zm9v","TargetUnion":null}],"success":[{"Request":{"RequestPut":{"key":"Zm9v","value":"YmFy"}}}]}"#;
    assert_eq!(
        post(&gateway, "/v3/kv/txn", body).await.status,
        StatusCode::OK
    );
    let empty = post(&gateway, "/v3/lease/leases", "{}").await;
    let null = post(&gateway, "/v3/lease/leases", "null").await;
    assert_eq!((null.status, null.body), (empty.status, empty.body));
}

#[tokio::test]
async fn a_streamed_request_that_is_not_json_is_unknown() {
    // grpc-gateway returns a bidirectional call's decoding error unwrapped: code 2, HTTP 500
    // (etcd 3.4.23 answers `garbage` to /v3/watch so).
    let (gateway, _) = gateway();
    let answer = post(&gateway, "/v3/watch", "garbage").await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(answer.body.ends_with(r#","code":2}"#), "{}", answer.body);
}

#[tokio::test]
async fn an_unknown_path_is_a_plain_404_and_another_method_a_plain_405() {
    // Go's http.Error: the status text and a newline, text/plain, nosniff; CORS headers too.
    let (gateway, _) = gateway();
    for path in ["/v3/kv/nope", "/v3/kv/range/", "/v3beta/nope"] {
        let answer = post(&gateway, path, "{}").await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.body, "Not Found\n");
        assert_eq!(answer.headers["content-type"], "text/plain; charset=utf-8");
        assert_eq!(answer.headers["x-content-type-options"], "nosniff");
        assert_eq!(answer.headers["access-control-allow-origin"], "*");
    }
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let request = http::Request::builder()
            .method(method.clone())
            .uri("/v3/kv/range")
            .body(axum::body::Body::empty())
            .unwrap();
        let answer = read(send(&gateway, request).await).await;
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(answer.body, "Method Not Allowed\n");
    }
}

#[tokio::test]
async fn a_cors_preflight_is_answered_before_routing() {
    // etcd answers OPTIONS with 200, an empty body and its CORS headers, on any path.
    let (gateway, _) = gateway();
    for path in ["/v3/kv/range", "/v3/kv/nope"] {
        let request = http::Request::builder()
            .method(Method::OPTIONS)
            .uri(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let answer = read(send(&gateway, request).await).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_eq!(answer.body, "");
        assert_eq!(answer.headers["access-control-allow-origin"], "*");
    }
}

#[tokio::test]
async fn every_path_of_etcds_annotations_reaches_its_grpc_method() {
    // Each path is routed to a gRPC call: the fakes serve four services, so the others answer
    // Unimplemented from tonic (501), never the gateway's 404.
    let (gateway, _) = gateway();
    let paths = [
        "/v3/kv/range",
        "/v3/kv/put",
        "/v3/kv/deleterange",
        "/v3/kv/txn",
        "/v3/kv/compaction",
        "/v3/lease/grant",
        "/v3/lease/revoke",
        "/v3/kv/lease/revoke",
        "/v3/lease/timetolive",
        "/v3/kv/lease/timetolive",
        "/v3/lease/leases",
        "/v3/kv/lease/leases",
        "/v3/cluster/member/add",
        "/v3/cluster/member/remove",
        "/v3/cluster/member/update",
        "/v3/cluster/member/list",
        "/v3/cluster/member/promote",
        "/v3/maintenance/alarm",
        "/v3/maintenance/status",
        "/v3/maintenance/defragment",
        "/v3/maintenance/hash",
        "/v3/maintenance/hashkv",
        "/v3/maintenance/snapshot",
        "/v3/maintenance/transfer-leadership",
        "/v3/maintenance/downgrade",
        "/v3/auth/enable",
        "/v3/auth/disable",
        "/v3/auth/status",
        "/v3/auth/authenticate",
        "/v3/auth/user/add",
        "/v3/auth/user/get",
        "/v3/auth/user/list",
        "/v3/auth/user/delete",
        "/v3/auth/user/changepw",
        "/v3/auth/user/grant",
        "/v3/auth/user/revoke",
        "/v3/auth/role/add",
        "/v3/auth/role/get",
        "/v3/auth/role/list",
        "/v3/auth/role/delete",
        "/v3/auth/role/grant",
        "/v3/auth/role/revoke",
        "/v3/lock/lock",
        "/v3/lock/unlock",
        "/v3/election/campaign",
        "/v3/election/proclaim",
        "/v3/election/leader",
        "/v3/election/observe",
        "/v3/election/resign",
    ];
    for path in paths {
        let answer = read(send(&gateway, curl_post(path, "{}")).await).await;
        assert_ne!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            answer.body
        );
        assert_eq!(answer.headers["content-type"], "application/json", "{path}");
    }
}
