//! Serving one listener: every accepted connection gets a task of its own, which (when TLS is
//! on) tells TLS from plaintext by the first byte, shakes hands, then runs HTTP/1.1 or HTTP/2
//! (h2c with prior knowledge in plaintext, as gRPC clients speak it; by ALPN over TLS) into the
//! app. A connection that fails is logged and dropped; the listener never stops for it.
//!
//! HTTP/2 pings: hyper's HTTP/2 server (the h2 crate) answers every PING and has no policy
//! against frequent ones, unlike grpc-go's `too_many_pings` GOAWAY, so etcdctl's keepalive pings
//! (`--keepalive-time`, 2 s) are always tolerated.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::ServerConfig;
use rustls::server::Acceptor;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;
use tower::ServiceExt;

use super::conn_info::ConnInfo;
use super::listen::{Accepted, Listener};
use super::sniff;

/// How long the accept loop waits after a failed accept (out of file descriptors, usually)
/// before trying again, so that it does not spin while the condition lasts.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// How long a refused connection is kept open, its incoming bytes dropped, so that the client
/// reads the TLS alert before the connection goes (`close_gently`).
const REFUSED_LINGER: Duration = Duration::from_millis(500);

/// What a listener speaks.
#[derive(Clone, Debug)]
pub enum Transport {
    /// `http://` or `unix://`.
    Plain,
    /// `https://` or `unixs://`: a connection that does not open with a TLS handshake is refused.
    Tls(Arc<ServerConfig>),
    /// The same address listed under both schemes: each connection picks, by its first byte
    /// (etcd multiplexes such a port with cmux; its e2e config `clientTLSAndNonTLS` uses one).
    PlainAndTls(Arc<ServerConfig>),
}

/// Per-listener settings, with etcd's defaults.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// etcd's `--max-concurrent-streams`: HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// etcd's `--grpc-keepalive-interval`: after this long without frames from a client, ping
    /// it; `None` never pings.
    pub keepalive_interval: Option<Duration>,
    /// etcd's `--grpc-keepalive-timeout`: a ping not answered within this closes the connection.
    pub keepalive_timeout: Duration,
    /// Where TLS is on, the time a new connection has to send its first byte and finish its
    /// handshake. A plaintext-only listener has no such limit.
    pub handshake_timeout: Duration,
    /// On shutdown, how long in-flight requests may take to finish before their connections
    /// are closed (open watch streams never finish by themselves).
    pub shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_concurrent_streams: u32::MAX,
            keepalive_interval: Some(Duration::from_secs(2 * 60 * 60)),
            keepalive_timeout: Duration::from_secs(20),
            handshake_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(2),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets the open
/// connections finish what they are doing for `options.shutdown_grace`, closes the rest, and
/// returns. Dropping the future instead closes every connection at once. Every request carries
/// a [`ConnInfo`] in its extensions.
pub async fn serve(
    listener: Listener,
    transport: Transport,
    app: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) {
    let (stop_sender, stop) = watch::channel(false);
    let grace = options.shutdown_grace;
    let shared = Arc::new(Shared {
        http: http_builder(&options),
        transport,
        app,
        options,
        stop,
    });
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(finished) = connections.join_next(), if !connections.is_empty() => {
                if let Err(error) = finished {
                    tracing::error!(%error, "connection task failed");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok(Accepted::Tcp(stream, remote)) => {
                    connections.spawn(shared.clone().connection(stream, Some(remote)));
                }
                Ok(Accepted::Unix(stream)) => {
                    connections.spawn(shared.clone().connection(stream, None));
                }
                Err(error) => {
                    tracing::warn!(listener = %listener.local_addr(), %error, "accept failed; retrying");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                }
            },
        }
    }
    drop(listener);
    let _ = stop_sender.send(true);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, drain).await.is_err() {
        tracing::debug!(
            open = connections.len(),
            "shutdown grace over; closing the open connections"
        );
        connections.shutdown().await;
    }
}

fn http_builder(options: &ServeOptions) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http2()
        .max_concurrent_streams(options.max_concurrent_streams)
        .keep_alive_interval(options.keepalive_interval)
        .keep_alive_timeout(options.keepalive_timeout)
        .timer(TokioTimer::new());
    builder
}

/// What every connection task of one listener shares.
struct Shared {
    http: auto::Builder<TokioExecutor>,
    transport: Transport,
    app: Router,
    options: ServeOptions,
    /// Becomes true when the listener shuts down.
    stop: watch::Receiver<bool>,
}

impl Shared {
    async fn connection<S>(self: Arc<Self>, stream: S, remote_addr: Option<SocketAddr>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let plain = ConnInfo {
            remote_addr,
            tls: false,
            peer_certificates: None,
        };
        let (config, plain_allowed) = match &self.transport {
            Transport::Plain => return self.serve_http(stream, plain).await,
            Transport::Tls(config) => (config.clone(), false),
            Transport::PlainAndTls(config) => (config.clone(), true),
        };
        let deadline = Instant::now() + self.options.handshake_timeout;
        let (first_byte, stream) = match timeout_at(deadline, sniff::first_byte(stream)).await {
            Ok(Ok(Some(sniffed))) => sniffed,
            // Closed or reset before a byte: a port probe, nothing to report.
            Ok(Ok(None) | Err(_)) => return,
            Err(_) => return reject(remote_addr, "timed out before the first byte", None),
        };
        if first_byte != sniff::TLS_HANDSHAKE_RECORD {
            if plain_allowed {
                return self.serve_http(stream, plain).await;
            }
            let error = "tls: first record does not look like a TLS handshake";
            reject(remote_addr, error, None);
            return close_gently(stream).await;
        }
        let mut server_name = None;
        let tls = match timeout_at(deadline, handshake(stream, config, &mut server_name)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err((error, stream))) => {
                reject(remote_addr, error, server_name.as_deref());
                if let Some(stream) = stream {
                    close_gently(stream).await;
                }
                return;
            }
            Err(_) => {
                return reject(
                    remote_addr,
                    "TLS handshake timed out",
                    server_name.as_deref(),
                );
            }
        };
        let peer_certificates = tls.get_ref().1.peer_certificates().map(Arc::from);
        let info = ConnInfo {
            remote_addr,
            tls: true,
            peer_certificates,
        };
        self.serve_http(tls, info).await;
    }

    /// HTTP/1.1 or HTTP/2 (hyper-util reads the HTTP/2 preface to tell) until the client goes
    /// or the listener stops; then in-flight requests finish (HTTP/2 sends GOAWAY).
    async fn serve_http<I>(&self, io: I, info: ConnInfo)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let app = self.app.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(info.clone());
            app.clone().oneshot(request)
        });
        let mut connection = pin!(
            self.http
                .serve_connection_with_upgrades(TokioIo::new(io), service)
        );
        let mut stop = self.stop.clone();
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = async { let _ = stop.wait_for(|stopping| *stopping).await; } => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        // Clients that vanish mid-request and malformed HTTP (answered with 400 by hyper) end
        // here; neither is the server's concern.
        if let Err(error) = result {
            tracing::debug!(%error, "connection closed with an error");
        }
    }
}

/// The server side of a TLS handshake. The client's SNI name lands in `server_name` as soon as
/// its hello is read, for the log line of a refusal; a refusal gives the stream back, if it
/// still has it, for `close_gently`.
async fn handshake<S>(
    stream: S,
    config: Arc<ServerConfig>,
    server_name: &mut Option<String>,
) -> Result<TlsStream<S>, (io::Error, Option<S>)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut hello = LazyConfigAcceptor::new(Acceptor::default(), stream);
    let start = match (&mut hello).await {
        Ok(start) => start,
        Err(error) => return Err((error, hello.take_io())),
    };
    *server_name = start.client_hello().server_name().map(str::to_owned);
    let accept = start.into_stream(config).into_fallible();
    accept
        .await
        .map_err(|(error, stream)| (error, Some(stream)))
}

/// Closes a refused connection so that the client learns why. rustls has already written its
/// alert (`bad_certificate`, `certificate_revoked`, ...), but a TLS 1.3 client has usually sent
/// its request by then; closing with those bytes unread makes the kernel send a reset, which
/// can reach the client before the alert and hide it (curl then says "broken pipe" instead of
/// "alert certificate revoked"). So: FIN first, then read and drop what still comes, briefly.
async fn close_gently<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let _ = stream.shutdown().await;
    let mut discarded = [0u8; 4096];
    let drain = async { while let Ok(1..) = stream.read(&mut discarded).await {} };
    let _ = tokio::time::timeout(REFUSED_LINGER, drain).await;
}

/// etcd's log line for a connection refused before HTTP: a failed handshake, a refused or
/// revoked client certificate, or plaintext on a TLS-only port.
fn reject(remote_addr: Option<SocketAddr>, error: impl fmt::Display, server_name: Option<&str>) {
    // Unix clients are unnamed; Go prints their address as "@".
    let from = remote_addr.map_or_else(|| "@".to_owned(), |address| address.to_string());
    let error = error.to_string();
    match server_name {
        Some(name) => tracing::warn!(
            "rejected connection from {from:?} (error {error:?}, ServerName {name:?})"
        ),
        None => tracing::warn!("rejected connection from {from:?} (error {error:?})"),
    }
}
