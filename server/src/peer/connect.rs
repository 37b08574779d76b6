//! Connecting to a peer's URL: TCP or a Unix socket, with TLS when the URL says `https` or
//! `unixs` (real builds); madsim's network in simulated builds.

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

/// A peer connection gives up after this long without an answer to its handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The TLS a member presents to its peers (`--peer-*` flags), when it has any.
#[cfg(not(madsim))]
#[derive(Clone, Debug, Default)]
pub struct ClientTls {
    pub config: Option<std::sync::Arc<rustls::ClientConfig>>,
}

/// Simulated peers speak no TLS.
#[cfg(madsim)]
#[derive(Clone, Debug, Default)]
pub struct ClientTls;

/// The TLS this member presents to its peers, from the `--peer-*` flags; none without them.
#[cfg(not(madsim))]
pub fn client_tls(config: &crate::config::Config) -> Result<ClientTls, String> {
    if !config.peer_tls.is_enabled() {
        return Ok(ClientTls::default());
    }
    let dir = config.data_dir.join("fixtures").join("peer");
    let hosts: Vec<String> = config
        .listen_peer_urls
        .iter()
        .map(|url| url.host().to_string())
        .collect();
    let mut tls = crate::net::client_config(&config.peer_tls, &dir, &hosts)
        .map_err(|error| format!("cannot set up peer TLS: {error}"))?;
    tls.alpn_protocols = vec![b"h2".to_vec()];
    Ok(ClientTls {
        config: Some(std::sync::Arc::new(tls)),
    })
}

#[cfg(madsim)]
pub fn client_tls(_: &crate::config::Config) -> Result<ClientTls, String> {
    Ok(ClientTls)
}

/// A channel to the peer at `url`; gRPC over HTTP/2, with TLS for `https` and `unixs`.
#[cfg(not(madsim))]
pub async fn connect(url: &str, tls: &ClientTls) -> Result<Channel, String> {
    use hyper_util::rt::TokioIo;
    use tokio::io::{AsyncRead, AsyncWrite};

    use crate::config::Url;

    /// A byte stream to a peer, whatever carries it.
    trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
    impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

    let url = Url::parse(url)?;
    // tonic wants an http URI; the connector below decides how to reach the peer.
    let authority = if url.scheme.is_unix() {
        "localhost"
    } else {
        &url.address
    };
    let endpoint = Endpoint::from_shared(format!("http://{authority}"))
        .map_err(|error| error.to_string())?
        .connect_timeout(CONNECT_TIMEOUT);
    let tls = tls.config.clone();
    let connector = tower::service_fn(move |_: http::Uri| {
        let url = url.clone();
        let tls = tls.clone();
        async move {
            let io: Box<dyn Io> = if url.scheme.is_unix() {
                Box::new(tokio::net::UnixStream::connect(&url.address).await?)
            } else {
                // etcd's members listen on IPv4: dial localhost there, not at ::1 first.
                let address = match url.address.strip_prefix("localhost:") {
                    Some(port) => format!("127.0.0.1:{port}"),
                    None => url.address.clone(),
                };
                let stream = tokio::net::TcpStream::connect(address).await?;
                stream.set_nodelay(true)?;
                Box::new(stream)
            };
            if !url.scheme.is_tls() {
                return Ok::<_, std::io::Error>(TokioIo::new(io));
            }
            let Some(config) = tls else {
                return Err(std::io::Error::other(format!(
                    "{url} needs peer TLS (--peer-cert-file and --peer-key-file, or --peer-auto-tls)"
                )));
            };
            let host = if url.scheme.is_unix() {
                "localhost"
            } else {
                url.host()
            };
            let name = rustls::pki_types::ServerName::try_from(host.to_string())
                .map_err(std::io::Error::other)?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, io)
                .await?;
            let io: Box<dyn Io> = Box::new(stream);
            Ok(TokioIo::new(io))
        }
    });
    endpoint
        .connect_with_connector(connector)
        .await
        .map_err(|error| error.to_string())
}

#[cfg(madsim)]
pub async fn connect(url: &str, _: &ClientTls) -> Result<Channel, String> {
    let url = crate::config::Url::parse(url)?;
    Endpoint::from_shared(format!("http://{}", url.address))
        .map_err(|error| error.to_string())?
        .connect_timeout(CONNECT_TIMEOUT)
        .connect()
        .await
        .map_err(|error| error.to_string())
}
