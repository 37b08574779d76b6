//! The sockets of listen URLs, as etcd binds them: `http://host:port` and `https://host:port`
//! over TCP, `unix://` and `unixs://` over Unix sockets.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use tokio::net::{TcpListener, TcpSocket, TcpStream, UnixListener, UnixStream};

use crate::config::Url;
use crate::config::url::split_host_port;

/// The backlog of a listening socket (Go takes the kernel's `somaxconn`, 4096 on current Linux).
const BACKLOG_MAX: u32 = 4096;

/// A bound socket, ready to accept. A Unix socket's file is removed when the listener drops,
/// as etcd removes it on close.
#[derive(Debug)]
pub enum Listener {
    Tcp(TcpListener),
    Unix {
        listener: UnixListener,
        path: PathBuf,
    },
}

/// An accepted connection and, over TCP, where it came from.
pub(super) enum Accepted {
    Tcp(TcpStream, SocketAddr),
    Unix(UnixStream),
}

impl Listener {
    /// Binds the URL's socket. Must run inside the Tokio runtime.
    ///
    /// TCP: `localhost` binds 127.0.0.1 (as etcd: its listeners log `127.0.0.1:2379`), an empty
    /// host binds every interface, any other host must be an IP (etcd: "expected IP in URL for
    /// binding"); `SO_REUSEADDR` is set, as Go sets it, so that a server restarted at once on
    /// the same port binds while the old connections sit in TIME_WAIT. Unix: a stale socket
    /// file left by a killed server is removed first; any other file there is left alone, and
    /// the bind fails.
    pub fn bind(url: &Url) -> Result<Listener, ListenError> {
        let failed = |source| ListenError::Bind {
            url: url.to_string(),
            source,
        };
        if url.scheme.is_unix() {
            let path = PathBuf::from(&url.address);
            remove_stale_socket(&path).map_err(failed)?;
            let listener = UnixListener::bind(&path).map_err(failed)?;
            return Ok(Listener::Unix { listener, path });
        }
        let (host, port) = split_host_port(&url.address).ok_or_else(|| ListenError::Url {
            url: url.to_string(),
            reason: r#"URL address does not have the form "host:port""#,
        })?;
        let port: u16 = port.parse().map_err(|_| ListenError::Url {
            url: url.to_string(),
            reason: "invalid port",
        })?;
        let ip = match host {
            "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            // Linux makes `[::]` dual-stack unless `net.ipv6.bindv6only` is set, as Go's `:port`.
            "" => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => host.parse().map_err(|_| ListenError::Url {
                url: url.to_string(),
                reason: "expected IP in URL for binding",
            })?,
        };
        bind_tcp(SocketAddr::new(ip, port))
            .map(Listener::Tcp)
            .map_err(failed)
    }

    /// The bound address (the port the kernel chose for port 0), or the socket's path.
    pub fn local_addr(&self) -> String {
        match self {
            Listener::Tcp(listener) => listener
                .local_addr()
                .map_or_else(|error| error.to_string(), |addr| addr.to_string()),
            Listener::Unix { path, .. } => path.display().to_string(),
        }
    }

    pub(super) async fn accept(&self) -> io::Result<Accepted> {
        match self {
            Listener::Tcp(listener) => {
                let (stream, remote) = listener.accept().await?;
                // gRPC sends small frames that must not wait for Nagle's algorithm; Go sets this
                // on every TCP connection.
                stream.set_nodelay(true)?;
                Ok(Accepted::Tcp(stream, remote))
            }
            Listener::Unix { listener, .. } => Ok(Accepted::Unix(listener.accept().await?.0)),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix { path, .. } = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn bind_tcp(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(BACKLOG_MAX)
}

fn remove_stale_socket(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_socket() => std::fs::remove_file(path),
        Ok(_) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

/// Why a listen URL cannot be served. Both stop the server at start.
#[derive(Debug)]
pub enum ListenError {
    Url { url: String, reason: &'static str },
    Bind { url: String, source: io::Error },
}

impl fmt::Display for ListenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenError::Url { url, reason } => write!(f, "{reason}: {url}"),
            ListenError::Bind { url, source } => write!(f, "listen {url}: {source}"),
        }
    }
}

impl std::error::Error for ListenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ListenError::Url { .. } => None,
            ListenError::Bind { source, .. } => Some(source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn localhost_binds_ipv4_loopback_and_names_must_be_ips() {
        // etcd binds `localhost` to 127.0.0.1 and refuses other host names.
        let listener = Listener::bind(&Url::parse("http://localhost:0").unwrap()).unwrap();
        assert!(
            listener.local_addr().starts_with("127.0.0.1:"),
            "{}",
            listener.local_addr()
        );
        let error = Listener::bind(&Url::parse("http://example.com:0").unwrap()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "expected IP in URL for binding: http://example.com:0"
        );
    }

    #[tokio::test]
    async fn rebinding_a_port_right_after_close_works() {
        // SO_REUSEADDR: a port with a connection in TIME_WAIT can be bound again at once, as
        // etcd's e2e tests do when they start clusters back to back.
        let listener = Listener::bind(&Url::parse("http://127.0.0.1:0").unwrap()).unwrap();
        let address = listener.local_addr();
        let client = TcpStream::connect(&address).await.unwrap();
        let Accepted::Tcp(server_side, _) = listener.accept().await.unwrap() else {
            unreachable!()
        };
        // The server closes first, so its side of the connection enters TIME_WAIT.
        drop(server_side);
        drop(listener);
        drop(client);
        Listener::bind(&Url::parse(&format!("http://{address}")).unwrap()).unwrap();
    }

    #[tokio::test]
    async fn stale_socket_file_is_replaced_and_removed_on_drop() {
        // A socket file left by a killed server does not stop the next bind; dropping removes it.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("detcd.sock");
        // Closing a std listener leaves its file behind, as a killed process does.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let url = Url::parse(&format!("unix://{}", path.display())).unwrap();
        let listener = Listener::bind(&url).unwrap();
        assert!(path.exists());
        drop(listener);
        assert!(!path.exists());
    }
}
