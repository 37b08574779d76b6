//! etcd's JSON gateway (grpc-gateway v1, as etcd 3.4 and 3.5 serve it): `POST /v3/kv/range`
//! with `{"key":"Zm9v"}` answers `{"header":{..},"kvs":[..],"count":"1"}`.
//!
//! As in etcd, the gateway is a gRPC client of the server itself: each HTTP request becomes one
//! gRPC call, made in process on the router that serves the gRPC services, so the call passes
//! through everything a network client's would (limits, metrics, auth). `routes` says which
//! method a path calls; `body` reads the request body as JSON values and encodes each as that
//! method's request; `call` makes the call (with `codec`'s pass-through codec) and relays the
//! answers; `json` writes answers and errors in grpc-gateway's JSON.

mod body;
mod call;
mod codec;
mod json;
mod routes;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use prost_reflect::DescriptorPool;
use tokio::sync::Semaphore;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};

use body::RequestMessages;
use routes::{CallKind, Routes};

/// etcd's JSON gateway: `/v3/...` and `/v3beta/...` (rewritten to `/v3/`), each a gRPC call
/// made in process on `grpc` (the router that serves the gRPC services), at most
/// `max_concurrent_streams` at once.
///
/// The limit stands for etcd's `--max-concurrent-streams`: etcd's gateway reaches the server
/// over one HTTP/2 connection, where that many streams may be open. A call beyond it waits
/// for one to end, and a stream (a watch) holds its place while it is open. 0, like
/// `u32::MAX`, sets no limit (grpc-go reads 0 as unlimited).
pub fn router(grpc: axum::Router, max_concurrent_streams: u32) -> axum::Router {
    let pool = DescriptorPool::decode(detcd_proto::FILE_DESCRIPTOR_SET)
        .expect("detcd-proto's descriptor set decodes");
    let permits = match usize::try_from(max_concurrent_streams) {
        Ok(0) | Err(_) => Semaphore::MAX_PERMITS,
        Ok(limit) => limit.min(Semaphore::MAX_PERMITS),
    };
    let gateway = Arc::new(Gateway {
        grpc,
        routes: Routes::resolve(&pool),
        permits: Arc::new(Semaphore::new(permits)),
    });
    axum::Router::new()
        .route("/v3/{*path}", any(serve))
        .route("/v3beta/{*path}", any(serve))
        .with_state(gateway)
}

/// What every gateway request shares.
#[derive(Debug)]
struct Gateway {
    /// The gRPC services, called in process.
    grpc: axum::Router,
    routes: Routes,
    /// One permit per call in flight (see [`router`]).
    permits: Arc<Semaphore>,
}

async fn serve(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let mut response = gateway.dispatch(request).await;
    add_cors_headers(response.headers_mut());
    response
}

impl Gateway {
    async fn dispatch(&self, request: Request) -> Response {
        // etcd answers a CORS preflight before routing.
        if request.method() == Method::OPTIONS {
            return StatusCode::OK.into_response();
        }
        let path = request.uri().path();
        let route = match path.strip_prefix("/v3beta/") {
            Some(rest) => self.routes.get(&format!("/v3/{rest}")),
            None => self.routes.get(path),
        };
        let Some(route) = route else {
            return plain_text(StatusCode::NOT_FOUND);
        };
        if request.method() != Method::POST {
            return plain_text(StatusCode::METHOD_NOT_ALLOWED);
        }
        let metadata = outgoing_metadata(request.headers());
        let messages = RequestMessages::new(request.into_body(), route.request.clone());
        match route.kind {
            CallKind::Unary => self.unary(route, metadata, messages).await,
            CallKind::ServerStreaming | CallKind::Bidi => {
                self.stream(route, metadata, messages).await
            }
        }
    }
}

/// Go's `http.Error`, which grpc-gateway answers an unknown path (404) or a known path with
/// another method (405) with: the status text and a newline, as plain text.
fn plain_text(status: StatusCode) -> Response {
    let text = format!("{}\n", status.canonical_reason().unwrap_or_default());
    let mut response = (status, text).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// etcd's CORS headers for its default `--cors=*`, on every gateway answer.
fn add_cors_headers(headers: &mut HeaderMap) {
    let cors = [
        (
            "access-control-allow-methods",
            "POST, GET, OPTIONS, PUT, DELETE",
        ),
        ("access-control-allow-origin", "*"),
        (
            "access-control-allow-headers",
            "accept, content-type, authorization",
        ),
    ];
    for (name, value) in cors {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
}

/// The gRPC metadata of the call, from the HTTP request's headers as grpc-gateway forwards them:
/// `Authorization` (etcd's auth reads the token there as well as in `token`) and every
/// `Grpc-Metadata-KEY` header as `KEY`. Binary (`-bin`) keys and values that are not valid
/// metadata are left out.
fn outgoing_metadata(headers: &HeaderMap) -> MetadataMap {
    let mut metadata = MetadataMap::new();
    for (name, value) in headers {
        let key = if name == AUTHORIZATION {
            "authorization"
        } else if let Some(key) = name.as_str().strip_prefix("grpc-metadata-") {
            key
        } else {
            continue;
        };
        if key.ends_with("-bin") {
            continue;
        }
        let key = MetadataKey::from_bytes(key.as_bytes());
        let value = MetadataValue::try_from(value.as_bytes());
        if let (Ok(key), Ok(value)) = (key, value) {
            metadata.append(key, value);
        }
    }
    metadata
}

/// The HTTP headers grpc-gateway makes of the call's response metadata: each key as
/// `Grpc-Metadata-KEY` (etcd's answers carry `Grpc-Metadata-Content-Type: application/grpc`).
/// gRPC's own status and transport headers are not metadata.
fn incoming_metadata_headers(metadata: &MetadataMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in &metadata.clone().into_headers() {
        let name = name.as_str();
        if name.starts_with("grpc-")
            || matches!(
                name,
                "te" | "trailer" | "transfer-encoding" | "content-length" | "date"
            )
        {
            continue;
        }
        if let Ok(name) = HeaderName::try_from(format!("grpc-metadata-{name}")) {
            headers.append(name, value.clone());
        }
    }
    headers
}

#[cfg(test)]
mod tests;
