//! The connections and the gRPC clients on them.

use std::time::Duration;

use detcd_proto::etcdserverpb::kv_client::KvClient;
use detcd_proto::etcdserverpb::lease_client::LeaseClient;
use detcd_proto::etcdserverpb::watch_client::WatchClient;
use tonic::transport::{Channel, Endpoint};

/// One client's stubs, all on the same connection.
#[derive(Clone, Debug)]
pub struct Stubs {
    pub kv: KvClient<Channel>,
    pub lease: LeaseClient<Channel>,
    pub watch: WatchClient<Channel>,
}

impl Stubs {
    fn new(channel: Channel) -> Stubs {
        Stubs {
            kv: KvClient::new(channel.clone()).max_decoding_message_size(usize::MAX),
            lease: LeaseClient::new(channel.clone()),
            watch: WatchClient::new(channel).max_decoding_message_size(usize::MAX),
        }
    }
}

/// `conns` connections over `endpoints` in turn.
pub async fn connect(endpoints: &[String], conns: usize) -> Result<Vec<Stubs>, String> {
    if endpoints.is_empty() || conns == 0 {
        return Err("give at least one endpoint and one connection".into());
    }
    let mut connections = Vec::with_capacity(conns);
    for i in 0..conns {
        let endpoint = &endpoints[i % endpoints.len()];
        let url = if endpoint.contains("://") {
            endpoint.clone()
        } else {
            format!("http://{endpoint}")
        };
        let channel = Endpoint::from_shared(url.clone())
            .map_err(|error| format!("{url}: {error}"))?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(|error| format!("cannot connect to {url}: {error}"))?;
        connections.push(Stubs::new(channel));
    }
    Ok(connections)
}
