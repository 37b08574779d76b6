//! The real build's listeners: on each client URL, as etcd serves them on one port, gRPC (HTTP/2
//! with `application/grpc`), the JSON gateway, `/health`, `/version` and `/metrics`; the same
//! `/health` and `/metrics` on `--listen-metrics-urls`; and the peer URLs bound (peers come with
//! clusters).

mod grpc_compat;
mod grpc_metrics;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::Path;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use detcd_core::kv;
use http::{Request, StatusCode, header};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{Config, Scheme, TlsFlags, Url};
use crate::gateway;
use crate::member::Member;
use crate::metrics::{self, Metrics};
use crate::net::{Listener, ServeOptions, Transport, serve, server_config};
use crate::peer::PeerService;
use crate::server::Services;
use detcd_proto::detcdpeerpb::peer_server::PeerServer;
use detcd_proto::etcdserverpb::auth_server::AuthServer;
use detcd_proto::etcdserverpb::cluster_server::ClusterServer;
use detcd_proto::etcdserverpb::kv_server::KvServer;
use detcd_proto::etcdserverpb::lease_server::LeaseServer;
use detcd_proto::etcdserverpb::maintenance_server::MaintenanceServer;
use detcd_proto::etcdserverpb::watch_server::WatchServer;
use detcd_proto::grpc::health::v1::health_server::HealthServer;
use detcd_proto::v3electionpb::election_server::ElectionServer;
use detcd_proto::v3lockpb::lock_server::LockServer;

use grpc_compat::GrpcCompatLayer;
pub use grpc_metrics::GrpcMetricsLayer;

/// What `/health` and `/metrics` read.
#[derive(Clone, Debug)]
struct Probe {
    member: Member,
    metrics: Metrics,
}

/// The listeners of a member, serving.
#[derive(Debug)]
pub struct Listening {
    pub tasks: JoinSet<()>,
    /// Where each client URL listens (a port 0 in a URL is chosen here).
    pub client_addresses: Vec<String>,
}

/// Bind every listener of `config` and serve until `shutdown` turns true. Errors name the URL
/// that could not be served (a port in use, a bad certificate).
pub fn serve_all(
    config: &Config,
    services: Services,
    member: Member,
    metrics: Metrics,
    shutdown: watch::Receiver<bool>,
) -> Result<Listening, String> {
    let probe = Probe { member, metrics };
    let peer_app = peer_router(config, services.peer.clone());
    let grpc = grpc_router(config, services, &probe);
    let gateway = gateway::router(grpc.clone(), config.max_concurrent_streams);
    let client_app = http_routes(&probe)
        .merge(gateway)
        .fallback_service(GrpcOrNotFound { grpc });
    let options = ServeOptions {
        max_concurrent_streams: config.max_concurrent_streams,
        ..ServeOptions::default()
    };
    let mut tasks = JoinSet::new();
    let mut client_addresses = Vec::new();
    let client_tls = &config.client_tls;
    let client_dir = config.data_dir.join("fixtures").join("client");
    for (address, schemes) in by_address(&config.listen_client_urls) {
        let transport = transport(
            &schemes,
            client_tls,
            &client_dir,
            &config.listen_client_urls,
        )?;
        let listener = bind(&schemes[0], &address)?;
        let secure = if matches!(transport, Transport::Plain) {
            "insecure"
        } else {
            "secure"
        };
        tracing::info!(target: "embed", "serving {secure} client requests on {}", listener.local_addr());
        client_addresses.push(listener.local_addr());
        tasks.spawn(serve(
            listener,
            transport,
            client_app.clone(),
            options.clone(),
            stopped(shutdown.clone()),
        ));
    }
    let metrics_app = http_routes(&probe);
    for (address, schemes) in by_address(&config.listen_metrics_urls) {
        let transport = transport(
            &schemes,
            client_tls,
            &client_dir,
            &config.listen_metrics_urls,
        )?;
        let listener = bind(&schemes[0], &address)?;
        tracing::info!(target: "embed", "serving metrics on {}", listener.local_addr());
        tasks.spawn(serve(
            listener,
            transport,
            metrics_app.clone(),
            options.clone(),
            stopped(shutdown.clone()),
        ));
    }
    let peer_tls = &config.peer_tls;
    let peer_dir = config.data_dir.join("fixtures").join("peer");
    for (address, schemes) in by_address(&config.listen_peer_urls) {
        let transport = transport(&schemes, peer_tls, &peer_dir, &config.listen_peer_urls)?;
        let listener = bind(&schemes[0], &address)?;
        tracing::info!(target: "embed", "listening for peers on {}", listener.local_addr());
        tasks.spawn(serve(
            listener,
            transport,
            peer_app.clone(),
            options.clone(),
            stopped(shutdown.clone()),
        ));
    }
    Ok(Listening {
        tasks,
        client_addresses,
    })
}

async fn stopped(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// The URLs of one list grouped by address: an address listed as both http and https serves
/// both on one port.
fn by_address(urls: &[Url]) -> BTreeMap<String, Vec<Scheme>> {
    let mut grouped: BTreeMap<String, Vec<Scheme>> = BTreeMap::new();
    for url in urls {
        let schemes = grouped.entry(url.address.clone()).or_default();
        if !schemes.contains(&url.scheme) {
            schemes.push(url.scheme);
        }
    }
    grouped
}

fn transport(
    schemes: &[Scheme],
    info: &TlsFlags,
    auto_tls_dir: &Path,
    urls: &[Url],
) -> Result<Transport, String> {
    let secure = schemes.iter().any(|scheme| scheme.is_tls());
    let plain = schemes.iter().any(|scheme| !scheme.is_tls());
    if !secure {
        return Ok(Transport::Plain);
    }
    let hosts: Vec<String> = urls.iter().map(|url| url.host().to_string()).collect();
    let config = server_config(info, auto_tls_dir, &hosts).map_err(|error| error.to_string())?;
    Ok(match plain {
        true => Transport::PlainAndTls(config),
        false => Transport::Tls(config),
    })
}

fn bind(scheme: &Scheme, address: &str) -> Result<Listener, String> {
    let url = Url {
        scheme: *scheme,
        address: address.to_string(),
    };
    Listener::bind(&url).map_err(|error| format!("cannot listen on {url}: {error}"))
}

/// A learner serves only Status and serializable Ranges (which the KV service checks), as etcd's
/// interceptors allow: everything else, streams included, is refused with etcd's status.
async fn learner_guard(
    State(member): State<Member>,
    request: Request<Body>,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    let allowed = matches!(
        path,
        "/etcdserverpb.Maintenance/Status" | "/etcdserverpb.KV/Range"
    );
    if !allowed && member.is_learner() {
        let refusal = crate::api::status::not_for_learner();
        return refusal.into_http::<Body>().map(Body::new);
    }
    next.run(request).await
}

/// The largest message a peer may send with etcd's request limit: a batch of entries (a
/// snapshot comes in pieces far below it).
const PEER_MESSAGE_BYTES_MAX: usize = 256 * 1024 * 1024;

/// detcd's peer service, and nothing else, on the peer URLs (etcd answers 404 for the rest).
fn peer_router(config: &Config, peer: PeerService) -> Router {
    // An append carries at least one entry however large: one request at the limit must pass.
    let limit = PEER_MESSAGE_BYTES_MAX.max(config.max_request_bytes.saturating_mul(2));
    let service = PeerServer::new(peer).max_decoding_message_size(limit);
    tonic::service::Routes::new(service).into_axum_router()
}

/// Every gRPC service, with etcd's receive limit (the request limit plus 512 KiB for framing)
/// and etcd's gRPC metrics.
fn grpc_router(config: &Config, services: Services, probe: &Probe) -> Router {
    let limit = config.max_request_bytes + 512 * 1024;
    tonic::service::Routes::new(KvServer::new(services.kv).max_decoding_message_size(limit))
        .add_service(WatchServer::new(services.watch).max_decoding_message_size(limit))
        .add_service(LeaseServer::new(services.lease).max_decoding_message_size(limit))
        .add_service(ClusterServer::new(services.cluster).max_decoding_message_size(limit))
        .add_service(MaintenanceServer::new(services.maintenance).max_decoding_message_size(limit))
        .add_service(AuthServer::new(services.auth).max_decoding_message_size(limit))
        .add_service(LockServer::new(services.lock).max_decoding_message_size(limit))
        .add_service(ElectionServer::new(services.election).max_decoding_message_size(limit))
        .add_service(HealthServer::new(services.health))
        .into_axum_router()
        .layer(axum::middleware::from_fn_with_state(
            probe.member.clone(),
            learner_guard,
        ))
        .layer(GrpcCompatLayer)
        .layer(GrpcMetricsLayer::new(probe.metrics.clone()))
}

fn http_routes(probe: &Probe) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/version", get(version))
        .route("/metrics", get(metrics_text))
        .with_state(probe.clone())
}

/// etcd 3.4's `/health`: false while an alarm is raised, without a leader, or when a read
/// through Raft does not answer within a second.
async fn health(State(probe): State<Probe>) -> Response {
    let state = probe.member.state();
    let healthy = !state.no_space_alarm
        && state.leader.is_some()
        && tokio::time::timeout(Duration::from_secs(1), health_read(&probe.member))
            .await
            .is_ok_and(|answered| answered);
    match healthy {
        true => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"health":"true"}"#,
        )
            .into_response(),
        // etcd answers with http.Error: text/plain and a newline.
        false => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "{\"health\":\"false\"}\n",
        )
            .into_response(),
    }
}

async fn health_read(member: &Member) -> bool {
    let read = kv::Request::Range(kv::RangeRequest {
        key: b"health".to_vec(),
        ..kv::RangeRequest::default()
    });
    matches!(member.request(read).await, Ok(kv::Response::Range(_)))
}

async fn version() -> Response {
    let body = format!(
        r#"{{"etcdserver":"{}","etcdcluster":"{}"}}"#,
        crate::api::ETCD_VERSION,
        crate::api::CLUSTER_VERSION
    );
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn metrics_text(State(probe): State<Probe>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        probe.metrics.encode(),
    )
        .into_response()
}

/// gRPC calls (`application/grpc`) to the gRPC services; anything else that matched no route is
/// not found, as etcd answers.
#[derive(Clone, Debug)]
struct GrpcOrNotFound {
    grpc: Router,
}

impl tower::Service<Request<Body>> for GrpcOrNotFound {
    type Response = Response;
    type Error = Infallible;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let is_grpc = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/grpc"));
        if !is_grpc {
            return Box::pin(async {
                Ok((StatusCode::NOT_FOUND, "404 page not found\n").into_response())
            });
        }
        let grpc = self.grpc.clone();
        Box::pin(async move {
            let response = tower::ServiceExt::oneshot(grpc, request).await;
            Ok(response.unwrap_or_else(|never| match never {}))
        })
    }
}
