//! The response side: answers and errors written as etcd's gateway writes them.
//!
//! etcd 3.4 and 3.5 build grpc-gateway v1's `runtime.NewServeMux()` with no options, so answers
//! go through `JSONPb{OrigName: true}`: proto field names (`cluster_id`, but `ID`, `TTL` and
//! `grantedTTL` as the .proto spells them), 64-bit integers as decimal strings, bytes as padded
//! base64, enums by name, fields at their default value left out, compact, and every string
//! escaped by Go's `encoding/json`.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, StatusCode};
use prost_reflect::{DynamicMessage, MessageDescriptor, SerializeOptions};
use serde::Serialize;
use tonic::{Code, Status};

/// The Content-Type of every JSON answer, errors included (grpc-gateway's `JSONPb`).
const JSON_CONTENT_TYPE: &str = "application/json";

/// One answer of the gRPC call as the JSON object grpc-gateway writes.
pub(super) fn message_json(
    descriptor: &MessageDescriptor,
    encoded: &[u8],
) -> Result<Vec<u8>, Status> {
    let message = DynamicMessage::decode(descriptor.clone(), encoded).map_err(|error| {
        // What grpc-go's client says when a message does not decode.
        Status::internal(format!(
            "grpc: failed to unmarshal the received message {error}"
        ))
    })?;
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(true)
        .stringify_64_bit_integers(true)
        .use_enum_numbers(false);
    let mut json = Vec::new();
    message
        .serialize_with_options(&mut serde_json::Serializer::new(&mut json), &options)
        .map_err(|error| {
            Status::internal(format!("gateway: writing the answer as JSON: {error}"))
        })?;
    Ok(escape_like_go(json))
}

/// One answer of a stream: `{"result":MESSAGE}` and the newline grpc-gateway puts after each.
pub(super) fn result_line(descriptor: &MessageDescriptor, encoded: &[u8]) -> Result<Bytes, Status> {
    let message = message_json(descriptor, encoded)?;
    let mut line = Vec::with_capacity(message.len() + 12);
    line.extend_from_slice(b"{\"result\":");
    line.extend_from_slice(&message);
    line.extend_from_slice(b"}\n");
    Ok(Bytes::from(line))
}

/// The error that ends a stream, in grpc-gateway's `StreamError` shape. Nothing follows it, not
/// even a newline (grpc-gateway writes none).
pub(super) fn stream_error(status: &Status) -> Bytes {
    #[derive(Serialize)]
    struct StreamError<'a> {
        grpc_code: i32,
        http_code: u16,
        #[serde(skip_serializing_if = "str::is_empty")]
        message: &'a str,
        http_status: &'a str,
    }
    #[derive(Serialize)]
    struct Chunk<'a> {
        error: StreamError<'a>,
    }
    let http = http_status(status.code());
    let chunk = Chunk {
        error: StreamError {
            grpc_code: status.code() as i32,
            http_code: http.as_u16(),
            message: status.message(),
            http_status: http.canonical_reason().unwrap_or_default(),
        },
    };
    let json = serde_json::to_vec(&chunk).expect("a stream error serializes");
    Bytes::from(escape_like_go(json))
}

/// A failed call as grpc-gateway's `DefaultHTTPError` answers it:
/// `{"error":MSG,"message":MSG,"code":CODE}` with the HTTP status of the code.
pub(super) fn error_response(status: &Status) -> Response {
    // errorBody goes through JSONPb too, so empty fields are left out.
    #[derive(Serialize)]
    struct ErrorBody<'a> {
        #[serde(skip_serializing_if = "str::is_empty")]
        error: &'a str,
        #[serde(skip_serializing_if = "str::is_empty")]
        message: &'a str,
        code: i32,
    }
    let body = ErrorBody {
        error: status.message(),
        message: status.message(),
        code: status.code() as i32,
    };
    let json = serde_json::to_vec(&body).expect("an error body serializes");
    json_response(
        http_status(status.code()),
        HeaderMap::new(),
        Body::from(escape_like_go(json)),
    )
}

/// A JSON answer with the given status and extra headers.
pub(super) fn json_response(status: StatusCode, headers: HeaderMap, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    response
}

/// grpc-gateway v1's `HTTPStatusFromCode`.
pub(super) fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::REQUEST_TIMEOUT,
        Code::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument => StatusCode::BAD_REQUEST,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::FailedPrecondition => StatusCode::PRECONDITION_FAILED,
        Code::Aborted => StatusCode::CONFLICT,
        Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Go's `encoding/json` (which grpc-gateway's marshaler uses for every string) writes `<`, `>`,
/// `&`, U+2028 and U+2029 as `\u` escapes; serde_json writes them as they are. Outside strings
/// JSON text has none of them, so replacing them in the whole text is exact.
fn escape_like_go(json: Vec<u8>) -> Vec<u8> {
    const LINE_SEPARATOR: &[u8] = "\u{2028}".as_bytes();
    const PARAGRAPH_SEPARATOR: &[u8] = "\u{2029}".as_bytes();
    let special = |rest: &[u8]| {
        matches!(rest[0], b'<' | b'>' | b'&')
            || rest.starts_with(LINE_SEPARATOR)
            || rest.starts_with(PARAGRAPH_SEPARATOR)
    };
    if !(0..json.len()).any(|index| special(&json[index..])) {
        return json;
    }
    let mut escaped = Vec::with_capacity(json.len() + 32);
    let mut index = 0;
    while index < json.len() {
        let rest = &json[index..];
        let (replacement, length): (&[u8], usize) = match rest[0] {
            b'<' => (br"\u003c", 1),
            b'>' => (br"\u003e", 1),
            b'&' => (br"\u0026", 1),
            _ if rest.starts_with(LINE_SEPARATOR) => (br"\u2028", LINE_SEPARATOR.len()),
            _ if rest.starts_with(PARAGRAPH_SEPARATOR) => (br"\u2029", PARAGRAPH_SEPARATOR.len()),
            _ => (&rest[..1], 1),
        };
        escaped.extend_from_slice(replacement);
        index += length;
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_go_escapes_them() {
        // etcd 3.4.23 lists a user named "a<b&>\u2028" as "a\u003cb\u0026\u003e\u2028".
        let json = serde_json::to_vec(&serde_json::json!({"users": ["a<b&>\u{2028}é"]})).unwrap();
        assert_eq!(
            String::from_utf8(escape_like_go(json)).unwrap(),
            r#"{"users":["a\u003cb\u0026\u003e\u2028é"]}"#
        );
    }

    #[test]
    fn a_stream_error_has_grpc_gateways_fields_in_order_and_no_newline() {
        // grpc-gateway's StreamError: grpc_code, http_code, message, http_status.
        let chunk = stream_error(&Status::not_found("etcdserver: requested lease not found"));
        assert_eq!(
            chunk,
            Bytes::from_static(
                br#"{"error":{"grpc_code":5,"http_code":404,"message":"etcdserver: requested lease not found","http_status":"Not Found"}}"#
            )
        );
    }
}
