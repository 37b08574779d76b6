//! Requests only the leader can answer, forwarded from a follower over the peer port, as etcd
//! forwards them over its peer HTTP API: lease keep-alives and time-to-live (only the leader
//! keeps lease deadlines) and learner promotions (only the leader knows a learner's progress).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use detcd_core::NodeId;
use detcd_proto::detcdpeerpb::peer_client::PeerClient;
use tonic::Status;
use tonic::transport::Channel;

use super::{ClientTls, connect};
use crate::member::Member;

/// How long a forwarded request may take, retries included (etcd's request timeout).
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause before trying again while leadership moves.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// A connection to the current leader's peer service, kept while it leads.
#[derive(Clone, Debug)]
pub struct LeaderLink {
    member: Member,
    tls: ClientTls,
    cached: Arc<Mutex<Option<(NodeId, Channel)>>>,
}

/// Whether `status` says the member asked does not lead (so the request goes to the leader,
/// or is tried again once there is one).
pub fn not_leader(status: &Status) -> bool {
    matches!(
        status.message(),
        "etcdserver: not leader" | "etcdserver: no leader"
    )
}

impl LeaderLink {
    pub fn new(member: Member, tls: ClientTls) -> LeaderLink {
        LeaderLink {
            member,
            tls,
            cached: Arc::default(),
        }
    }

    /// Run `call` on the leader's peer service until it answers, trying again while there is
    /// no leader, while the leader cannot be reached and while leadership moves (the leader
    /// answers "not leader"); any other answer is the caller's. Gives etcd's timeout error
    /// after `FORWARD_TIMEOUT`.
    pub async fn call<T, F, Fut>(&self, mut call: F) -> Result<T, Status>
    where
        F: FnMut(PeerClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let deadline = Instant::now() + FORWARD_TIMEOUT;
        loop {
            let answer = match self.client().await {
                Ok(client) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    tokio::time::timeout(left, call(client)).await
                }
                Err(status) => Ok(Err(status)),
            };
            match answer {
                Ok(Ok(response)) => return Ok(response.into_inner()),
                Ok(Err(status)) if !retry(&status) => return Err(status),
                Ok(Err(_)) => self.forget(),
                Err(_elapsed) => {}
            }
            if Instant::now() + RETRY_PAUSE >= deadline {
                return Err(Status::unavailable("etcdserver: request timed out"));
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// A client of the current leader, on the kept connection if it still leads.
    async fn client(&self) -> Result<PeerClient<Channel>, Status> {
        let leader = self.member.with_state(|state| state.leader);
        let Some(leader) = leader else {
            return Err(Status::unavailable("etcdserver: no leader"));
        };
        if let Some((id, channel)) = self.cached.lock().expect("not poisoned").as_ref()
            && *id == leader
        {
            return Ok(PeerClient::new(channel.clone()));
        }
        let urls = self.member.with_state(|state| {
            let attributes = state.members.attributes.get(&leader);
            attributes.map(|m| m.peer_urls.clone()).unwrap_or_default()
        });
        let mut last = Status::unavailable("etcdserver: no leader");
        for url in urls {
            match connect(&url, &self.tls).await {
                Ok(channel) => {
                    *self.cached.lock().expect("not poisoned") = Some((leader, channel.clone()));
                    return Ok(PeerClient::new(channel));
                }
                Err(error) => last = Status::unavailable(error),
            }
        }
        Err(last)
    }

    fn forget(&self) {
        *self.cached.lock().expect("not poisoned") = None;
    }
}

/// Worth trying again: no leader, a deposed leader, or a leader that could not be reached.
fn retry(status: &Status) -> bool {
    let unreachable = matches!(
        status.code(),
        tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::Unknown
    ) && !status.message().starts_with("etcdserver: ");
    not_leader(status) || unreachable
}
