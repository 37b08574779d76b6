//! A member started with `--initial-cluster-state existing` joins a running cluster: it asks the
//! peers `--initial-cluster` names who is in the cluster (etcd's `GetClusterFromRemotePeers`), and
//! finds itself in the answer by its peer URLs (it was added with `etcdctl member add`).

use std::time::Duration;

use detcd_proto::detcdpeerpb::MembersRequest;
use detcd_proto::detcdpeerpb::peer_client::PeerClient;
use detcd_proto::etcdserverpb::Member;

use super::connect::{ClientTls, connect};

/// How long one peer may take to answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// The cluster's id and members, from the first of `peer_urls` that answers.
pub async fn learn_cluster(
    peer_urls: &[String],
    tls: &ClientTls,
) -> Result<(u64, Vec<Member>), String> {
    let mut failures = Vec::new();
    for url in peer_urls {
        let ask = async {
            let channel = connect(url, tls).await?;
            let answer = PeerClient::new(channel)
                .members(MembersRequest {})
                .await
                .map_err(|status| status.message().to_string())?;
            Ok::<_, String>(answer.into_inner())
        };
        match tokio::time::timeout(ASK_TIMEOUT, ask).await {
            Ok(Ok(answer)) => return Ok((answer.cluster_id, answer.members)),
            Ok(Err(error)) => failures.push(format!("{url}: {error}")),
            Err(_) => failures.push(format!("{url}: no answer within {ASK_TIMEOUT:?}")),
        }
    }
    Err(format!(
        "cannot fetch cluster info from peer urls: could not retrieve cluster information from \
         the given URLs ({})",
        failures.join("; ")
    ))
}
