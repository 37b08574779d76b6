//! The URLs etcd's flags take: `http://host:port`, `https://...`, `unix://path`, `unixs://path`.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scheme {
    Http,
    Https,
    Unix,
    Unixs,
}

impl Scheme {
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

/// A listen or advertise URL. For TCP schemes `address` is `host:port`; for unix schemes it is
/// the socket's path (etcd takes everything after `://`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Url {
    pub scheme: Scheme,
    pub address: String,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, String> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("URL {text:?} has no scheme"))?;
        let scheme = match scheme {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            "unix" => Scheme::Unix,
            "unixs" => Scheme::Unixs,
            other => {
                return Err(format!(
                    "URL scheme must be http, https, unix, or unixs: {other}://{rest}"
                ));
            }
        };
        let address = rest.trim_end_matches('/').to_string();
        if address.is_empty() {
            return Err(format!("URL {text:?} has no host"));
        }
        if !scheme.is_unix() {
            let (host, port) = address.rsplit_once(':').ok_or_else(|| {
                format!("URL address does not have the form \"host:port\": {text}")
            })?;
            if host.is_empty() || port.parse::<u16>().is_err() {
                return Err(format!(
                    "URL address does not have the form \"host:port\": {text}"
                ));
            }
        }
        Ok(Url { scheme, address })
    }

    /// The host, without the port (TCP schemes).
    pub fn host(&self) -> &str {
        self.address
            .rsplit_once(':')
            .map_or(self.address.as_str(), |(host, _)| host)
            .trim_start_matches('[')
            .trim_end_matches(']')
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_etcds_url_forms() {
        let url = Url::parse("https://localhost:20001").unwrap();
        assert_eq!((url.scheme, url.host()), (Scheme::Https, "localhost"));
        assert_eq!(url.to_string(), "https://localhost:20001");
        let unix = Url::parse("unix://localhost:20000").unwrap();
        assert_eq!(unix.address, "localhost:20000");
        assert!(Url::parse("ftp://x:1").is_err());
        assert!(Url::parse("http://localhost").is_err());
        assert_eq!(Url::parse("http://[::1]:2379").unwrap().host(), "::1");
    }
}
