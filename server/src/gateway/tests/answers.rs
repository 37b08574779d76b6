//! Unary calls answer byte for byte what etcd 3.4.23's gateway answered the captured requests.

use http::StatusCode;
use prost_reflect::DescriptorPool;

use super::fakes::{CHOSEN_LEASE_ID, LEASE_ID};
use super::{gateway, header_json, next_report, post, read, send};

#[tokio::test]
async fn put_answers_the_captured_json_with_etcds_headers() {
    // A put answers its header with int64s as strings, Content-Type application/json, the
    // call's metadata as Grpc-Metadata-Content-Type, and etcd's CORS headers.
    let (gateway, _) = gateway();
    let answer = post(&gateway, "/v3/kv/put", r#"{"key":"Zm9v","value":"YmFy"}"#).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, format!(r#"{{"header":{}}}"#, header_json(2)));
    let header = |name: &str| {
        answer
            .headers
            .get(name)
            .map(|value| value.to_str().unwrap())
    };
    assert_eq!(header("content-type"), Some("application/json"));
    assert_eq!(
        header("grpc-metadata-content-type"),
        Some("application/grpc")
    );
    assert_eq!(header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        header("access-control-allow-methods"),
        Some("POST, GET, OPTIONS, PUT, DELETE")
    );
    assert_eq!(
        header("access-control-allow-headers"),
        Some("accept, content-type, authorization")
    );
}

#[tokio::test]
async fn range_answers_proto_field_names_int64_strings_and_base64() {
    // kvs use the proto's snake_case names, revisions and count are strings, bytes base64,
    // and the zero lease and the false `more` are left out.
    let (gateway, _) = gateway();
    let answer = post(&gateway, "/v3/kv/range", r#"{"key":"Zm9v"}"#).await;
    assert_eq!(
        answer.body,
        format!(
            r#"{{"header":{},"kvs":[{{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}}],"count":"1"}}"#,
            header_json(2)
        )
    );
}

#[tokio::test]
async fn range_of_a_missing_key_leaves_every_default_out() {
    // No kvs and a zero count: only the header remains, as etcd answers.
    let (gateway, _) = gateway();
    let answer = post(&gateway, "/v3/kv/range", r#"{"key":"bm9uZQ=="}"#).await;
    assert_eq!(answer.body, format!(r#"{{"header":{}}}"#, header_json(2)));
}

#[tokio::test]
async fn lower_camel_case_request_fields_are_accepted() {
    // `keysOnly` is read as `keys_only`: the fake leaves the value out.
    let (gateway, _) = gateway();
    let answer = post(
        &gateway,
        "/v3/kv/range",
        r#"{"key":"Zm9v","keysOnly":true}"#,
    )
    .await;
    assert!(
        answer
            .body
            .contains(r#""kvs":[{"key":"Zm9v","create_revision":"2""#)
    );
    assert!(!answer.body.contains("value"), "{}", answer.body);
}

#[tokio::test]
async fn int64_request_fields_are_accepted_as_strings_and_numbers() {
    // `"revision":"2"` is revision 2 (answered); `"revision":99` is 99 (a future revision).
    let (gateway, _) = gateway();
    let answer = post(&gateway, "/v3/kv/range", r#"{"key":"Zm9v","revision":"2"}"#).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.contains(r#""count":"1""#), "{}", answer.body);
    let answer = post(&gateway, "/v3/kv/range", r#"{"key":"Zm9v","revision":99}"#).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn txn_in_grpc_gateway_form_is_read_and_answered_with_oneof_proto_names() {
    // The capture's txn body (lowerCamelCase, an enum by name, int64 as a string) reaches the
    // fake as `create_revision(foo) == 0 → put foo bar`; the answer names the oneof
    // `response_put` and leaves the inner header at its revision.
    let (gateway, _) = gateway();
    let body = r#"{"compare":[{"target":"CREATE","key":"Zm9v","createRevision":"0"}],"success":[{"requestPut":{"key":"Zm9v","value":"YmFy"}}]}"#;
    let answer = post(&gateway, "/v3/kv/txn", body).await;
    assert_eq!(
        answer.body,
        format!(
            r#"{{"header":{},"succeeded":true,"responses":[{{"response_put":{{"header":{{"revision":"3"}}}}}}]}}"#,
            header_json(3)
        )
    );
}

#[tokio::test]
async fn lease_grant_answers_id_and_ttl_by_their_proto_names_as_strings() {
    // `ID` and `TTL` keep the proto's spelling; a client-chosen ID comes back as a string.
    let (gateway, _) = gateway();
    let answer = post(
        &gateway,
        "/v3/lease/grant",
        &format!(r#"{{"ID":{LEASE_ID}}}"#),
    )
    .await;
    assert_eq!(
        answer.body,
        format!(
            r#"{{"header":{},"ID":"{LEASE_ID}","TTL":"2"}}"#,
            header_json(2)
        )
    );
    let answer = post(&gateway, "/v3/lease/grant", r#"{"TTL":20}"#).await;
    assert_eq!(
        answer.body,
        format!(
            r#"{{"header":{},"ID":"{CHOSEN_LEASE_ID}","TTL":"20"}}"#,
            header_json(2)
        )
    );
}

#[tokio::test]
async fn lease_time_to_live_answers_granted_ttl_on_both_paths() {
    // `/v3/lease/timetolive` and its additional binding `/v3/kv/lease/timetolive` answer alike:
    // `grantedTTL` as the proto spells it, keys in base64.
    let (gateway, _) = gateway();
    let expected = format!(
        r#"{{"header":{},"ID":"{LEASE_ID}","TTL":"1","grantedTTL":"2","keys":["Zm9v"]}}"#,
        header_json(2)
    );
    let body = format!(r#"{{"ID":{LEASE_ID},"keys":true}}"#);
    for path in ["/v3/lease/timetolive", "/v3/kv/lease/timetolive"] {
        assert_eq!(post(&gateway, path, &body).await.body, expected, "{path}");
    }
    let unknown = post(&gateway, "/v3/lease/timetolive", r#"{"ID":42}"#).await;
    assert_eq!(
        unknown.body,
        format!(r#"{{"header":{},"ID":"42","TTL":"-1"}}"#, header_json(2))
    );
}

#[tokio::test]
async fn lease_leases_answers_on_both_paths_and_an_empty_body_is_the_empty_request() {
    // `{}`, an empty body, and the `/v3/kv/lease/leases` binding all list the two leases.
    let (gateway, _) = gateway();
    let expected = format!(
        r#"{{"header":{},"leases":[{{"ID":"{LEASE_ID}"}},{{"ID":"{CHOSEN_LEASE_ID}"}}]}}"#,
        header_json(2)
    );
    assert_eq!(
        post(&gateway, "/v3/lease/leases", "{}").await.body,
        expected
    );
    assert_eq!(
        post(&gateway, "/v3/kv/lease/leases", "{}").await.body,
        expected
    );
    assert_eq!(post(&gateway, "/v3/lease/leases", "").await.body, expected);
}

#[tokio::test]
async fn v3beta_paths_answer_as_v3() {
    // etcd rewrites `/v3beta/` to `/v3/` before routing.
    let (gateway, _) = gateway();
    let body = r#"{"key":"Zm9v"}"#;
    let v3 = post(&gateway, "/v3/kv/range", body).await;
    let v3beta = post(&gateway, "/v3beta/kv/range", body).await;
    assert_eq!((v3beta.status, v3beta.body), (v3.status, v3.body));
}

#[tokio::test]
async fn the_body_is_json_whatever_the_content_type() {
    // curl's form-urlencoded, application/json and no Content-Type at all read the same.
    let (gateway, _) = gateway();
    let body = r#"{"key":"Zm9v"}"#;
    let mut answers = Vec::new();
    for content_type in [
        Some("application/x-www-form-urlencoded"),
        Some("application/json"),
        None,
    ] {
        let mut request = http::Request::builder().method("POST").uri("/v3/kv/range");
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let answer = read(send(&gateway, request.body(body.into()).unwrap()).await).await;
        assert_eq!(answer.status, StatusCode::OK, "{content_type:?}");
        answers.push(answer.body);
    }
    assert!(
        answers.iter().all(|answer| *answer == answers[0]),
        "{answers:?}"
    );
}

#[tokio::test]
async fn request_headers_reach_the_server_as_metadata() {
    // grpc-gateway forwards `Authorization` as the call's `authorization` metadata, and a
    // `Grpc-Metadata-KEY` header as `KEY`.
    let (gateway, mut reports) = gateway();
    for (header, token) in [
        ("authorization", "token-1"),
        ("grpc-metadata-authorization", "token-2"),
    ] {
        let request = http::Request::builder()
            .method("POST")
            .uri("/v3/kv/put")
            .header(header, token)
            .body(r#"{"key":"Zm9v"}"#.into())
            .unwrap();
        assert_eq!(send(&gateway, request).await.status(), StatusCode::OK);
        let report = next_report(&mut reports).await;
        assert_eq!(report, format!("put authorization: {token}"), "{header}");
    }
}

#[test]
fn every_message_declares_its_fields_in_number_order() {
    // Go's jsonpb writes fields in declaration order, prost-reflect in field-number order;
    // they agree only while every message of our protos declares its fields in number order.
    let pool = DescriptorPool::decode(detcd_proto::FILE_DESCRIPTOR_SET).unwrap();
    for message in pool.all_messages() {
        let by_number: Vec<_> = message
            .fields()
            .map(|field| field.name().to_string())
            .collect();
        let declared: Vec<_> = message
            .descriptor_proto()
            .field
            .iter()
            .map(|field| field.name().to_string())
            .collect();
        assert_eq!(by_number, declared, "{}", message.full_name());
    }
}
