//! `detcd gateway start`: etcd's L4 gateway, a TCP proxy in front of a cluster's client URLs.
//! Each accepted connection goes to the next endpoint in turn and its bytes are copied both
//! ways untouched (gRPC, the JSON gateway, TLS alike). An endpoint that cannot be dialed is set
//! aside for `--retry-delay` and the next one is tried.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// A dial that takes longer than this fails, and the next endpoint is tried.
const DIAL_TIMEOUT: Duration = Duration::from_secs(2);

/// etcd's `gateway start` flags (they may come before or after `start`, as cobra allows).
#[derive(Debug, Parser)]
#[command(
    name = "detcd gateway",
    about = "L4 gateway: proxies TCP connections to a cluster's client URLs"
)]
struct Flags {
    /// The subcommand: `start`.
    action: String,
    /// Where the gateway listens.
    #[arg(long, default_value = "127.0.0.1:23790")]
    listen_addr: String,
    /// The client URLs (or host:port) of the members, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:2379")]
    endpoints: Vec<String>,
    /// How long an endpoint that could not be dialed is left out (Go duration: 1m, 30s, 500ms).
    #[arg(long, default_value = "1m")]
    retry_delay: String,
    /// DNS discovery of the endpoints (not supported: refused). The three flags after it only
    /// go with it.
    #[arg(long, default_value = "")]
    discovery_srv: String,
    #[arg(long, default_value = "")]
    discovery_srv_name: String,
    #[arg(long)]
    insecure_discovery: bool,
    /// Only used to verify discovered endpoints.
    #[arg(long, default_value = "")]
    trusted_ca_file: String,
}

/// Run `detcd gateway ...`; returns the exit code.
pub fn main(args: &[String]) -> i32 {
    let argv = std::iter::once("detcd gateway".to_string()).chain(args.iter().cloned());
    let flags = match Flags::try_parse_from(argv) {
        Ok(flags) => flags,
        Err(error) => {
            let _ = error.print();
            return 2;
        }
    };
    if flags.action != "start" {
        eprintln!(
            "Error: unknown command {:?} for \"detcd gateway\" (only \"start\")",
            flags.action
        );
        return 2;
    }
    if !flags.discovery_srv.is_empty() {
        eprintln!(
            "Error: --discovery-srv is not supported by detcd; list the members with --endpoints"
        );
        return 2;
    }
    let Some(retry_delay) = crate::config::parse_go_duration(&flags.retry_delay) else {
        eprintln!("Error: invalid --retry-delay {:?}", flags.retry_delay);
        return 2;
    };
    crate::log::init(crate::config::LogLevel::Info, false);
    let endpoints: Vec<String> = flags.endpoints.iter().map(|e| strip_scheme(e)).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the async runtime starts");
    match runtime.block_on(run(&flags.listen_addr, endpoints, retry_delay)) {
        Ok(()) => 0,
        Err(message) => {
            tracing::error!(target: "etcdmain", "{message}");
            1
        }
    }
}

/// `http://localhost:2379` -> `localhost:2379`, as etcd's gateway takes its endpoints.
fn strip_scheme(endpoint: &str) -> String {
    let without = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest);
    without.trim_end_matches('/').to_string()
}

/// The endpoints and which are set aside until when.
#[derive(Debug)]
struct Endpoints {
    addresses: Vec<String>,
    inactive_until: Vec<Option<Instant>>,
    next: usize,
}

impl Endpoints {
    /// The endpoints to try for the next connection, the next in turn first, then the others,
    /// leaving out those set aside.
    fn order(&mut self) -> Vec<usize> {
        let count = self.addresses.len();
        let start = self.next;
        self.next = (self.next + 1) % count;
        let now = Instant::now();
        (0..count)
            .map(|offset| (start + offset) % count)
            .filter(|&index| self.inactive_until[index].is_none_or(|until| until <= now))
            .collect()
    }
}

async fn run(listen: &str, addresses: Vec<String>, retry_delay: Duration) -> Result<(), String> {
    if addresses.is_empty() {
        return Err("gateway: no endpoints given".into());
    }
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|error| format!("cannot listen on {listen}: {error}"))?;
    tracing::info!(target: "tcpproxy", "ready to proxy client requests to {addresses:?}");
    let count = addresses.len();
    let endpoints = Arc::new(Mutex::new(Endpoints {
        addresses,
        inactive_until: vec![None; count],
        next: 0,
    }));
    loop {
        let (client, _) = listener
            .accept()
            .await
            .map_err(|error| format!("accept on {listen}: {error}"))?;
        tokio::spawn(proxy(client, Arc::clone(&endpoints), retry_delay));
    }
}

/// Dial the next endpoint that answers and copy bytes both ways until either side closes.
async fn proxy(mut client: TcpStream, endpoints: Arc<Mutex<Endpoints>>, retry_delay: Duration) {
    let (order, addresses) = {
        let mut endpoints = endpoints.lock().unwrap_or_else(|p| p.into_inner());
        (endpoints.order(), endpoints.addresses.clone())
    };
    for index in order {
        let address = &addresses[index];
        let dialed = tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(address)).await;
        match dialed {
            Ok(Ok(mut upstream)) => {
                let _ = upstream.set_nodelay(true);
                let _ = client.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                return;
            }
            Ok(Err(error)) => {
                deactivate(&endpoints, index, address, &error.to_string(), retry_delay)
            }
            Err(_) => deactivate(&endpoints, index, address, "dial timed out", retry_delay),
        }
    }
    tracing::warn!(target: "tcpproxy", "no endpoint available; closed a client connection");
}

fn deactivate(
    endpoints: &Mutex<Endpoints>,
    index: usize,
    address: &str,
    error: &str,
    retry_delay: Duration,
) {
    tracing::warn!(target: "tcpproxy", "deactivated endpoint {address} for {retry_delay:?}: {error}");
    let mut endpoints = endpoints.lock().unwrap_or_else(|p| p.into_inner());
    endpoints.inactive_until[index] = Some(Instant::now() + retry_delay);
}

#[cfg(test)]
mod tests {
    use super::*;

    // Connections go to the endpoints in turn; an endpoint set aside is skipped until its
    // delay is over.
    #[tokio::test]
    async fn round_robin_skips_inactive_endpoints() {
        let mut endpoints = Endpoints {
            addresses: vec!["a".into(), "b".into(), "c".into()],
            inactive_until: vec![None; 3],
            next: 0,
        };
        assert_eq!(endpoints.order(), [0, 1, 2]);
        assert_eq!(endpoints.order(), [1, 2, 0]);
        endpoints.inactive_until[2] = Some(Instant::now() + Duration::from_secs(60));
        assert_eq!(endpoints.order(), [0, 1]);
        endpoints.inactive_until[2] = Some(Instant::now());
        assert_eq!(endpoints.order(), [0, 1, 2]);
    }

    #[test]
    fn schemes_are_stripped() {
        assert_eq!(strip_scheme("http://localhost:20000"), "localhost:20000");
        assert_eq!(strip_scheme("127.0.0.1:2379"), "127.0.0.1:2379");
    }
}
