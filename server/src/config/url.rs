//! The URLs etcd's flags take: `http://host:port`, `https://...`, `unix://...`, `unixs://...`.

use std::fmt;

/// A URL's scheme, as etcd accepts it (`types.NewURLs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scheme {
    Http,
    Https,
    Unix,
    Unixs,
}

impl Scheme {
    /// Whether the scheme asks for TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Scheme::Https | Scheme::Unixs)
    }

    pub fn is_unix(self) -> bool {
        matches!(self, Scheme::Unix | Scheme::Unixs)
    }

    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Unix => "unix",
            Scheme::Unixs => "unixs",
        }
    }
}

/// A listen or advertise URL. For TCP schemes `address` is `host:port`; for a Unix socket it is
/// the socket file's path: etcd names a socket `unix://host:port`, meaning the file `host:port`
/// in the working directory, and `unix:///absolute/path` names one elsewhere.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Url {
    pub scheme: Scheme,
    pub address: String,
}

impl Url {
    /// Parse a URL by etcd's rules: one of the four schemes, `host:port`, no path.
    pub fn parse(text: &str) -> Result<Url, String> {
        let text = text.trim();
        let invalid = |reason: &str| format!("{reason}: {text}");
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| invalid("URL scheme must be http, https, unix, or unixs"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            "unix" => Scheme::Unix,
            "unixs" => Scheme::Unixs,
            _ => return Err(invalid("URL scheme must be http, https, unix, or unixs")),
        };
        let address = rest.trim_end_matches('/');
        if scheme.is_unix() && rest.starts_with('/') {
            return Ok(Url {
                scheme,
                address: rest.to_string(),
            });
        }
        if address.contains('/') {
            return Err(invalid("URL must not contain a path"));
        }
        if split_host_port(address).is_none() {
            return Err(invalid(r#"URL address does not have the form "host:port""#));
        }
        Ok(Url {
            scheme,
            address: address.to_string(),
        })
    }

    /// The host, without port or brackets (what a self-signed certificate is made for); empty
    /// for a Unix socket.
    pub fn host(&self) -> &str {
        if self.scheme.is_unix() {
            return "";
        }
        split_host_port(&self.address).map_or("", |(host, _)| host)
    }
}

/// `host:port` → (`host`, `port`), `[::1]:2379` → (`::1`, `2379`); the port may be empty (as in
/// Go's `net.SplitHostPort`) but must be there.
pub fn split_host_port(address: &str) -> Option<(&str, &str)> {
    if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return Some((host, after.strip_prefix(':')?));
    }
    let (host, port) = address.rsplit_once(':')?;
    (!host.contains(':')).then_some((host, port))
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // etcd's URL rules: four schemes, host:port, no path; Unix sockets by name or path.
    #[test]
    fn parses_etcds_url_forms() {
        let url = Url::parse("https://localhost:20001").unwrap();
        assert_eq!((url.scheme, url.host()), (Scheme::Https, "localhost"));
        assert_eq!(url.to_string(), "https://localhost:20001");
        assert_eq!(Url::parse("http://[::1]:2379").unwrap().host(), "::1");
        assert_eq!(
            Url::parse("unix://localhost:20000").unwrap().address,
            "localhost:20000"
        );
        assert_eq!(
            Url::parse("unixs:///tmp/etcd.sock").unwrap().address,
            "/tmp/etcd.sock"
        );
        assert_eq!(
            Url::parse("HTTP://127.0.0.1:2379/").unwrap().to_string(),
            "http://127.0.0.1:2379"
        );
        for bad in [
            "ftp://x:1",
            "http://localhost",
            "http://x:1/path",
            "localhost:2379",
            "http://::1:2379",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }
}
