//! The real listeners and etcd's TLS rules, dialled over loopback by hyper's client and rustls:
//! which protocols each listener speaks, who a TLS listener lets in (client certificates, the
//! CRL, cipher suites), self-signed certificates, and that bad clients never stop a listener.
//! The certificates are etcd's own test fixtures (`tests/fixtures/README.md`).
#![cfg(not(madsim))]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Extension;
use axum::routing::{get, post};
use bytes::Bytes;
use detcd::config::TlsFlags as TlsInfo;
use detcd::config::Url;
use detcd::net::{ConnInfo, Listener, ServeOptions, Transport, serve, server_config};
use http::{Request, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, SupportedCipherSuite, SupportedProtocolVersion};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

// ---------------------------------------------------------------------------------------------
// The server side: a tiny app, served on a fresh port.

fn fixture(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    assert!(
        path.is_file(),
        "missing test fixture {} (see tests/fixtures/README.md)",
        path.display()
    );
    path
}

/// How long `/slow` takes: long enough to be in flight at shutdown, short enough for a test.
const SLOW_ROUTE: Duration = Duration::from_millis(1000);

/// One plain route that tells the client what the server saw, one gRPC-like route (POST of
/// `application/grpc` to `/package.Service/Method`) that echoes its body, and one slow route.
fn app() -> Router {
    async fn whoami(version: Version, Extension(conn): Extension<ConnInfo>) -> String {
        let cn = conn.peer_common_name().unwrap_or_default();
        format!("{version:?} tls={} cn={cn}", conn.tls)
    }
    async fn echo(body: Bytes) -> ([(&'static str, &'static str); 1], Bytes) {
        ([("content-type", "application/grpc")], body)
    }
    async fn slow() -> &'static str {
        tokio::time::sleep(SLOW_ROUTE).await;
        "slow done"
    }
    Router::new()
        .route("/whoami", get(whoami))
        .route("/etcdserverpb.KV/Range", post(echo))
        .route("/slow", get(slow))
}

/// The fixture server's TLS flags: its certificate and key, plus whatever `extra` sets.
fn tls_info(extra: impl FnOnce(&mut TlsInfo)) -> TlsInfo {
    let mut info = TlsInfo {
        cert_file: Some(fixture("server.crt")),
        key_file: Some(fixture("server.key.insecure")),
        ..TlsInfo::default()
    };
    extra(&mut info);
    info
}

fn tls_config(info: &TlsInfo) -> Arc<rustls::ServerConfig> {
    server_config(info, Path::new("/nonexistent"), &[]).unwrap()
}

/// A listener serving `app()` until dropped (or `stop`ped).
struct TestServer {
    address: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    async fn start(url: &str, transport: Transport) -> TestServer {
        TestServer::start_with(url, transport, ServeOptions::default()).await
    }

    async fn start_with(url: &str, transport: Transport, options: ServeOptions) -> TestServer {
        let listener = Listener::bind(&Url::parse(url).unwrap()).unwrap();
        let address = listener.local_addr();
        let (stop, stopped) = oneshot::channel();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let task = tokio::spawn(serve(listener, transport, app(), options, shutdown));
        TestServer {
            address,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        (&mut self.task).await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// The client side: hyper's HTTP/1.1 and HTTP/2 clients over TCP, Unix sockets and rustls.

#[allow(deprecated)] // the ring provider, the server's decided backend
fn ring() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// A client trusting etcd's fixture CA, presenting `identity` (certificate and key fixtures),
/// offering `alpn`.
fn client_tls(identity: Option<(&str, &str)>, alpn: &[&str]) -> ClientConfig {
    client_tls_with(identity, alpn, ring(), rustls::ALL_VERSIONS)
}

fn client_tls_with(
    identity: Option<(&str, &str)>,
    alpn: &[&str],
    provider: rustls::crypto::CryptoProvider,
    versions: &[&'static SupportedProtocolVersion],
) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(fixture("ca.crt")).unwrap())
        .unwrap();
    let builder = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(fixture(cert))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let key = PrivateKeyDer::from_pem_file(fixture(key)).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    config.alpn_protocols = alpn
        .iter()
        .map(|protocol| protocol.as_bytes().to_vec())
        .collect();
    config
}

async fn tls_connect(
    address: &str,
    config: ClientConfig,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, BoxError> {
    let tcp = TcpStream::connect(address).await?;
    let name = ServerName::try_from("localhost")?;
    Ok(TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?)
}

/// `GET /whoami` over HTTP/1.1 on `io`: the server's answer.
async fn http1_get<I>(io: I) -> Result<String, BoxError>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(connection);
    let request = Request::get("/whoami")
        .header("host", "localhost")
        .body(Full::<Bytes>::default())?;
    let response = sender.send_request(request).await?;
    Ok(String::from_utf8(
        response.into_body().collect().await?.to_bytes().to_vec(),
    )?)
}

async fn http2_sender<I>(
    io: I,
) -> Result<hyper::client::conn::http2::SendRequest<Full<Bytes>>, BoxError>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn http2_send(
    sender: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Result<(http::HeaderMap, String), BoxError> {
    let response = sender.send_request(request).await?;
    let headers = response.headers().clone();
    let body = response.into_body().collect().await?.to_bytes().to_vec();
    Ok((headers, String::from_utf8(body)?))
}

fn whoami_h2() -> Request<Full<Bytes>> {
    Request::get("http://localhost/whoami")
        .body(Full::default())
        .unwrap()
}

/// `GET /whoami` over HTTP/2 with prior knowledge on `io`: the server's answer.
async fn http2_get<I>(io: I) -> Result<String, BoxError>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut sender = http2_sender(io).await?;
    Ok(http2_send(&mut sender, whoami_h2()).await?.1)
}

/// Over TLS with `config`: HTTP/2 if ALPN chose `h2`, else HTTP/1.1.
async fn tls_get(address: &str, config: ClientConfig) -> Result<String, BoxError> {
    let tls = tls_connect(address, config).await?;
    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
        http2_get(tls).await
    } else {
        http1_get(tls).await
    }
}

/// The error of a request the server refused, with its chain of causes.
fn refusal(result: Result<String, BoxError>) -> String {
    let error = match result {
        Ok(answer) => panic!("the server answered: {answer}"),
        Err(error) => error,
    };
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text += &format!(": {cause}");
        source = cause.source();
    }
    text
}

thread_local! {
    static WARNINGS: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The warnings the listener logs while `body` runs. One global subscriber writes each thread's
/// lines to that thread's buffer; a `#[tokio::test]` runs the listener's tasks on its own thread.
/// (A per-test `set_default` subscriber loses lines now and then: tracing caches a call site's
/// interest globally, and tests without a subscriber race to cache "never".)
async fn warnings_during<F: Future>(body: F) -> (F::Output, String) {
    struct ThreadBuffer;
    impl std::io::Write for ThreadBuffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            WARNINGS.with(|buffer| buffer.borrow_mut().extend_from_slice(bytes));
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(|| ThreadBuffer)
            .init();
    });
    WARNINGS.with(|buffer| buffer.borrow_mut().clear());
    let output = body.await;
    // Let the connection tasks finish logging what they refused.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let text = WARNINGS.with(|buffer| String::from_utf8(buffer.take()).unwrap());
    (output, text)
}

// ---------------------------------------------------------------------------------------------
// Protocols.

#[tokio::test]
async fn plain_listener_serves_http1_and_h2c() {
    // A plaintext listener speaks HTTP/1.1 (curl) and HTTP/2 with prior knowledge (gRPC).
    let server = TestServer::start("http://127.0.0.1:0", Transport::Plain).await;
    let answer = http1_get(TcpStream::connect(&server.address).await.unwrap())
        .await
        .unwrap();
    assert_eq!(answer, "HTTP/1.1 tls=false cn=");
    let answer = http2_get(TcpStream::connect(&server.address).await.unwrap())
        .await
        .unwrap();
    assert_eq!(answer, "HTTP/2.0 tls=false cn=");

    let mut sender = http2_sender(TcpStream::connect(&server.address).await.unwrap())
        .await
        .unwrap();
    let grpc = Request::post("http://localhost/etcdserverpb.KV/Range")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from_static(b"\0\0\0\0\x02hi")))
        .unwrap();
    let (headers, body) = http2_send(&mut sender, grpc).await.unwrap();
    assert_eq!(headers["content-type"], "application/grpc");
    assert_eq!(body, "\0\0\0\0\x02hi");
    server.stop().await;
}

#[tokio::test]
async fn tls_listener_negotiates_h2_or_http1_by_alpn() {
    // Over TLS, ALPN picks the protocol: `h2` (what curl and gRPC offer first) or `http/1.1`.
    let server = TestServer::start(
        "https://127.0.0.1:0",
        Transport::Tls(tls_config(&tls_info(|_| ()))),
    )
    .await;
    let answer = tls_get(&server.address, client_tls(None, &["h2", "http/1.1"]))
        .await
        .unwrap();
    assert_eq!(answer, "HTTP/2.0 tls=true cn=");
    let answer = tls_get(&server.address, client_tls(None, &["http/1.1"]))
        .await
        .unwrap();
    assert_eq!(answer, "HTTP/1.1 tls=true cn=");
    let answer = tls_get(&server.address, client_tls(None, &[]))
        .await
        .unwrap();
    assert_eq!(answer, "HTTP/1.1 tls=true cn=");
    server.stop().await;
}

#[tokio::test]
async fn one_port_serves_plain_and_tls() {
    // A URL listed as both http and https is one port, where each connection picks by its first
    // byte (etcd's cmux), in both HTTP versions.
    let config = tls_config(&tls_info(|_| ()));
    let server = TestServer::start("http://127.0.0.1:0", Transport::PlainAndTls(config)).await;
    let connect = || TcpStream::connect(&server.address);
    assert_eq!(
        http1_get(connect().await.unwrap()).await.unwrap(),
        "HTTP/1.1 tls=false cn="
    );
    assert_eq!(
        http2_get(connect().await.unwrap()).await.unwrap(),
        "HTTP/2.0 tls=false cn="
    );
    let answer = tls_get(&server.address, client_tls(None, &["h2"]))
        .await
        .unwrap();
    assert_eq!(answer, "HTTP/2.0 tls=true cn=");
    let answer = tls_get(&server.address, client_tls(None, &["http/1.1"]))
        .await
        .unwrap();
    assert_eq!(answer, "HTTP/1.1 tls=true cn=");
    server.stop().await;
}

#[tokio::test]
async fn tls_only_port_refuses_plaintext() {
    // An https-only port never serves plaintext: that would bypass client certificate checks.
    let config = tls_config(&tls_info(|info| {
        info.trusted_ca_file = Some(fixture("ca.crt"))
    }));
    let server = TestServer::start("https://127.0.0.1:0", Transport::Tls(config)).await;
    let (result, log) = warnings_during(async {
        http1_get(TcpStream::connect(&server.address).await.unwrap()).await
    })
    .await;
    assert!(result.is_err(), "plaintext was served: {result:?}");
    assert!(
        log.contains("rejected connection from \"127.0.0.1:"),
        "{log}"
    );
    assert!(
        log.contains("first record does not look like a TLS handshake"),
        "{log}"
    );
    server.stop().await;
}

#[tokio::test]
async fn unix_socket_listeners_serve_plain_and_tls() {
    // `unix://` and `unixs://` URLs serve over a Unix socket, like their TCP counterparts.
    let dir = tempfile::tempdir().unwrap();
    let plain_path = dir.path().join("plain.sock");
    let server = TestServer::start(
        &format!("unix://{}", plain_path.display()),
        Transport::Plain,
    )
    .await;
    assert_eq!(server.address, plain_path.display().to_string());
    assert_eq!(
        http1_get(UnixStream::connect(&plain_path).await.unwrap())
            .await
            .unwrap(),
        "HTTP/1.1 tls=false cn="
    );
    assert_eq!(
        http2_get(UnixStream::connect(&plain_path).await.unwrap())
            .await
            .unwrap(),
        "HTTP/2.0 tls=false cn="
    );
    server.stop().await;
    assert!(
        !plain_path.exists(),
        "the socket file outlived its listener"
    );

    let tls_path = dir.path().join("tls.sock");
    let config = tls_config(&tls_info(|_| ()));
    let server = TestServer::start(
        &format!("unixs://{}", tls_path.display()),
        Transport::Tls(config),
    )
    .await;
    let unix = UnixStream::connect(&tls_path).await.unwrap();
    let connector = TlsConnector::from(Arc::new(client_tls(None, &["h2"])));
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), unix)
        .await
        .unwrap();
    assert_eq!(http2_get(tls).await.unwrap(), "HTTP/2.0 tls=true cn=");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Who a TLS listener lets in.

#[tokio::test]
async fn client_cert_auth_requires_a_certificate_from_the_ca() {
    // With --client-cert-auth, a client without a certificate is refused, one with a certificate
    // from the trusted CA is served, and handlers see its common name.
    let info = tls_info(|info| {
        info.trusted_ca_file = Some(fixture("ca.crt"));
        info.client_cert_auth = true;
    });
    let server = TestServer::start("https://127.0.0.1:0", Transport::Tls(tls_config(&info))).await;
    let (refused, log) = warnings_during(tls_get(&server.address, client_tls(None, &["h2"]))).await;
    // The client reads the server's alert, not merely a reset connection.
    let error = refusal(refused);
    assert!(error.contains("CertificateRequired"), "{error}");
    assert!(
        log.contains("rejected connection from \"127.0.0.1:"),
        "{log}"
    );
    assert!(log.contains("ServerName \"localhost\""), "{log}");

    let identity = Some(("server.crt", "server.key.insecure"));
    let answer = tls_get(&server.address, client_tls(identity, &["h2"]))
        .await
        .unwrap();
    assert_eq!(answer, "HTTP/2.0 tls=true cn=example.com");
    server.stop().await;
}

#[tokio::test]
async fn trusted_ca_alone_requires_a_certificate_as_etcd_does() {
    // etcd requires a client certificate whenever --trusted-ca-file is set, even without
    // --client-cert-auth (etcd-io/etcd#11124; checked against etcd 3.4.23); without a trusted CA
    // no certificate is asked for.
    let info = tls_info(|info| info.trusted_ca_file = Some(fixture("ca.crt")));
    let server = TestServer::start("https://127.0.0.1:0", Transport::Tls(tls_config(&info))).await;
    let refused = tls_get(&server.address, client_tls(None, &["h2"])).await;
    assert!(
        refused.is_err(),
        "served without a client certificate: {refused:?}"
    );
    let identity = Some(("server.crt", "server.key.insecure"));
    assert_eq!(
        tls_get(&server.address, client_tls(identity, &["h2"]))
            .await
            .unwrap(),
        "HTTP/2.0 tls=true cn=example.com"
    );
    server.stop().await;

    let server = TestServer::start(
        "https://127.0.0.1:0",
        Transport::Tls(tls_config(&tls_info(|_| ()))),
    )
    .await;
    assert_eq!(
        tls_get(&server.address, client_tls(None, &["h2"]))
            .await
            .unwrap(),
        "HTTP/2.0 tls=true cn="
    );
    server.stop().await;
}

#[tokio::test]
async fn revoked_certificate_is_refused_though_the_crl_expired() {
    // etcd's revoke.crl (nextUpdate 2021) still revokes server-revoked.crt, as etcd honours it
    // (TestCtlV3GetRevokedCRL); server.crt, not on the list, is served.
    let info = tls_info(|info| {
        info.trusted_ca_file = Some(fixture("ca.crt"));
        info.client_cert_auth = true;
        info.crl_file = Some(fixture("revoke.crl"));
    });
    let server = TestServer::start("https://127.0.0.1:0", Transport::Tls(tls_config(&info))).await;
    for alpn in [&["h2"][..], &["http/1.1"][..]] {
        let revoked = Some(("server-revoked.crt", "server-revoked.key.insecure"));
        let (refused, log) =
            warnings_during(tls_get(&server.address, client_tls(revoked, alpn))).await;
        let error = refusal(refused);
        assert!(error.contains("CertificateRevoked"), "{error}");
        assert!(
            log.contains("rejected connection from \"127.0.0.1:"),
            "{log}"
        );
        assert!(log.contains("Revoked"), "{log}");
    }
    let good = Some(("server.crt", "server.key.insecure"));
    assert_eq!(
        tls_get(&server.address, client_tls(good, &["h2"]))
            .await
            .unwrap(),
        "HTTP/2.0 tls=true cn=example.com"
    );
    server.stop().await;
}

#[tokio::test]
async fn refused_client_keeps_writing_until_it_reads_the_alert() {
    // A TLS 1.3 client sends its request right after its certificate; the server refuses the
    // certificate, but closes gently, so the client's later writes still succeed and its next
    // read is the alert (closing at once would make the kernel reset the connection, and curl
    // would report "broken pipe" instead of "alert certificate revoked").
    let info = tls_info(|info| {
        info.trusted_ca_file = Some(fixture("ca.crt"));
        info.crl_file = Some(fixture("revoke.crl"));
    });
    let server = TestServer::start("https://127.0.0.1:0", Transport::Tls(tls_config(&info))).await;
    let revoked = Some(("server-revoked.crt", "server-revoked.key.insecure"));
    let mut tls = tls_connect(&server.address, client_tls(revoked, &["http/1.1"]))
        .await
        .unwrap();
    let request = b"GET /whoami HTTP/1.1\r\nhost: localhost\r\n\r\n";
    tls.write_all(request).await.unwrap();
    tls.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let written_later = async {
        tls.write_all(request).await?;
        tls.flush().await
    };
    assert!(
        written_later.await.is_ok(),
        "the refused connection was reset"
    );
    let mut answer = Vec::new();
    let error = tls.read_to_end(&mut answer).await.unwrap_err().to_string();
    assert!(error.contains("CertificateRevoked"), "{error}");
    server.stop().await;
}

#[tokio::test]
async fn cipher_suites_restrict_tls12_and_leave_tls13() {
    // --cipher-suites limits TLS 1.2 to the listed suites; TLS 1.3 is negotiated as before.
    use rustls::crypto::ring::cipher_suite;
    let info = tls_info(|info| {
        info.cipher_suites = vec!["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_owned()]
    });
    let server = TestServer::start("https://127.0.0.1:0", Transport::Tls(tls_config(&info))).await;
    let tls12_only = |suite: SupportedCipherSuite| {
        let provider = rustls::crypto::CryptoProvider {
            cipher_suites: vec![suite],
            ..ring()
        };
        client_tls_with(None, &["h2"], provider, &[&rustls::version::TLS12])
    };

    let outside = tls12_only(cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384);
    let refused = tls_connect(&server.address, outside).await;
    assert!(refused.is_err(), "a suite outside the list was negotiated");

    let listed = tls_connect(
        &server.address,
        tls12_only(cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
    )
    .await
    .unwrap();
    let session = listed.get_ref().1;
    assert_eq!(
        session.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    assert_eq!(
        session.negotiated_cipher_suite(),
        Some(cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)
    );
    assert_eq!(http2_get(listed).await.unwrap(), "HTTP/2.0 tls=true cn=");

    let tls13 = tls_connect(&server.address, client_tls(None, &["h2"]))
        .await
        .unwrap();
    assert_eq!(
        tls13.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(http2_get(tls13).await.unwrap(), "HTTP/2.0 tls=true cn=");
    server.stop().await;
}

#[tokio::test]
async fn ecdsa_certificate_with_sec1_key_serves() {
    // An ECDSA certificate whose key is in SEC1 PEM (`EC PRIVATE KEY`) serves as well as RSA.
    let info = tls_info(|info| {
        info.cert_file = Some(fixture("server-ecdsa.crt"));
        info.key_file = Some(fixture("server-ecdsa.key.insecure"));
    });
    let server = TestServer::start("https://127.0.0.1:0", Transport::Tls(tls_config(&info))).await;
    assert_eq!(
        tls_get(&server.address, client_tls(None, &["h2"]))
            .await
            .unwrap(),
        "HTTP/2.0 tls=true cn="
    );
    server.stop().await;
}

#[test]
fn bad_tls_files_fail_at_start() {
    // A key that does not match its certificate, a missing file, or a certificate without its
    // key stop the server at start with a message naming the files.
    let mismatched = tls_info(|info| info.key_file = Some(fixture("server-ecdsa.key.insecure")));
    let error = server_config(&mismatched, Path::new("/nonexistent"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("server.crt") && error.contains("server-ecdsa.key.insecure"),
        "{error}"
    );

    let missing =
        tls_info(|info| info.trusted_ca_file = Some(PathBuf::from("/nonexistent/ca.crt")));
    let error = server_config(&missing, Path::new("/nonexistent"), &[])
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("/nonexistent/ca.crt: "), "{error}");

    let no_key = tls_info(|info| info.key_file = None);
    let error = server_config(&no_key, Path::new("/nonexistent"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("KeyFile and CertFile must both be present[key: , cert: "),
        "{error}"
    );

    let unknown_suite = tls_info(|info| info.cipher_suites = vec!["TLS_FOO".to_owned()]);
    let error = server_config(&unknown_suite, Path::new("/nonexistent"), &[])
        .unwrap_err()
        .to_string();
    assert_eq!(error, r#"unexpected TLS cipher suite "TLS_FOO""#);
}

// ---------------------------------------------------------------------------------------------
// Self-signed certificates.

#[tokio::test]
async fn auto_tls_makes_a_working_certificate_and_reuses_it() {
    // --auto-tls writes a self-signed certificate for the listen hosts under the given directory,
    // which a client trusting that certificate accepts for `localhost`; the next start reuses it.
    let data_dir = tempfile::tempdir().unwrap();
    let fixtures = data_dir.path().join("fixtures/client");
    let info = TlsInfo {
        auto_tls: true,
        ..TlsInfo::default()
    };
    let hosts = ["localhost:20000".to_owned()];
    let config = server_config(&info, &fixtures, &hosts).unwrap();
    let cert_pem = std::fs::read(fixtures.join("cert.pem")).unwrap();
    let key_mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(fixtures.join("key.pem"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(key_mode & 0o777, 0o600);

    let server = TestServer::start("https://127.0.0.1:0", Transport::Tls(config)).await;
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(&cert_pem).unwrap())
        .unwrap();
    let mut client = ClientConfig::builder_with_provider(Arc::new(ring()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"h2".to_vec()];
    assert_eq!(
        tls_get(&server.address, client).await.unwrap(),
        "HTTP/2.0 tls=true cn="
    );
    server.stop().await;

    server_config(&info, &fixtures, &hosts).unwrap();
    assert_eq!(
        std::fs::read(fixtures.join("cert.pem")).unwrap(),
        cert_pem,
        "the certificate was regenerated"
    );
}

#[tokio::test]
async fn self_signed_peers_skip_verification_but_not_signatures() {
    // A peer whose own certificate is self-signed dials another self-signed peer without
    // verifying it (etcd's --peer-auto-tls), presenting its certificate as the client's.
    let dir = tempfile::tempdir().unwrap();
    let info = TlsInfo {
        auto_tls: true,
        ..TlsInfo::default()
    };
    let server_config =
        server_config(&info, &dir.path().join("a"), &["127.0.0.1:0".to_owned()]).unwrap();
    let server = TestServer::start("https://127.0.0.1:0", Transport::Tls(server_config)).await;
    let mut client = detcd::net::client_config(&info, &dir.path().join("b"), &[]).unwrap();
    client.alpn_protocols = vec![b"h2".to_vec()];
    assert_eq!(
        tls_get(&server.address, client).await.unwrap(),
        "HTTP/2.0 tls=true cn="
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Robustness.

#[tokio::test]
async fn garbage_is_dropped_and_the_next_client_served() {
    // Bytes that are neither HTTP nor TLS, or a TLS record that is not a handshake, cost only
    // their own connection: the listener serves the next client.
    let config = tls_config(&tls_info(|_| ()));
    for transport in [
        Transport::Plain,
        Transport::Tls(config.clone()),
        Transport::PlainAndTls(config.clone()),
    ] {
        let server = TestServer::start("http://127.0.0.1:0", transport.clone()).await;
        for garbage in [
            &b"\x16\x03\x01\x00\x05hello garbage"[..],
            b"\x00\xff\xfe garbage\r\n\r\n",
            b"\x16",
        ] {
            let mut stream = TcpStream::connect(&server.address).await.unwrap();
            stream.write_all(garbage).await.unwrap();
            stream.shutdown().await.unwrap();
            let mut answer = Vec::new();
            let read =
                tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
            assert!(read.is_ok(), "{transport:?}: the connection was not closed");
        }
        let answer = match transport {
            Transport::Plain => http1_get(TcpStream::connect(&server.address).await.unwrap()).await,
            _ => tls_get(&server.address, client_tls(None, &["h2"])).await,
        };
        assert!(answer.is_ok(), "{transport:?}: {answer:?}");
        server.stop().await;
    }
}

#[tokio::test]
async fn silent_client_is_dropped_after_the_handshake_timeout() {
    // A client that connects to a TLS port and sends nothing holds its connection only until
    // the handshake timeout, and meanwhile others are served.
    let options = ServeOptions {
        handshake_timeout: Duration::from_millis(200),
        ..ServeOptions::default()
    };
    let config = tls_config(&tls_info(|_| ()));
    let server =
        TestServer::start_with("https://127.0.0.1:0", Transport::Tls(config), options).await;
    let mut silent = TcpStream::connect(&server.address).await.unwrap();
    assert!(
        tls_get(&server.address, client_tls(None, &["h2"]))
            .await
            .is_ok()
    );
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut byte)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the silent connection stayed open: {read:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn frequent_http2_pings_are_tolerated() {
    // A client pinging far more often than etcdctl's 2 s keeps its connection: no GOAWAY
    // too_many_pings, as grpc-go's server would send.
    let server = TestServer::start("http://127.0.0.1:0", Transport::Plain).await;
    let io = TokioIo::new(TcpStream::connect(&server.address).await.unwrap());
    let (mut sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_millis(10))
        .keep_alive_timeout(Duration::from_secs(1))
        .keep_alive_while_idle(true)
        .handshake(io)
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    http2_send(&mut sender, whoami_h2()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !connection.is_finished(),
        "the server closed a pinging connection"
    );
    assert_eq!(
        http2_send(&mut sender, whoami_h2()).await.unwrap().1,
        "HTTP/2.0 tls=false cn="
    );
    server.stop().await;
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_and_refuses_new_ones() {
    // On shutdown the listener closes at once, while a request already running completes.
    let server = TestServer::start("http://127.0.0.1:0", Transport::Plain).await;
    let address = server.address.clone();
    let mut sender = http2_sender(TcpStream::connect(&address).await.unwrap())
        .await
        .unwrap();
    let slow = Request::get("http://localhost/slow")
        .body(Full::default())
        .unwrap();
    let in_flight = tokio::spawn(async move { http2_send(&mut sender, slow).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop().await;
    assert!(
        TcpStream::connect(&address).await.is_err(),
        "still accepting after shutdown"
    );
    assert_eq!(in_flight.await.unwrap().unwrap().1, "slow done");
}

#[tokio::test]
async fn shutdown_closes_what_outlives_the_grace_period() {
    // A request that outlasts the grace period does not hold the shutdown up.
    let options = ServeOptions {
        shutdown_grace: Duration::from_millis(50),
        ..ServeOptions::default()
    };
    let server = TestServer::start_with("http://127.0.0.1:0", Transport::Plain, options).await;
    let mut sender = http2_sender(TcpStream::connect(&server.address).await.unwrap())
        .await
        .unwrap();
    let slow = Request::get("http://localhost/slow")
        .body(Full::default())
        .unwrap();
    let in_flight = tokio::spawn(async move { http2_send(&mut sender, slow).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = tokio::time::Instant::now();
    server.stop().await;
    assert!(
        started.elapsed() < SLOW_ROUTE / 2,
        "shutdown waited {:?}",
        started.elapsed()
    );
    assert!(
        in_flight.await.unwrap().is_err(),
        "the request outlived its connection"
    );
}
