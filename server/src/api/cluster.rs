//! etcd's Cluster service: the member list and membership changes, with etcd's strict
//! reconfiguration checks (`--strict-reconfig-check`, on by default).
//!
//! A change is checked here against this member's view (who has started, which peers it has
//! been connected to), then replicated; every member then checks it again as it applies it
//! (ids, peer URLs, learners), so all of them take or refuse it alike.

use std::time::{Duration, SystemTime};

use detcd_core::NodeId;
use detcd_core::kv::{self, MemberAttributes, MemberListResponse, MemberRequest};
use detcd_proto::detcdpeerpb::peer_client::PeerClient;
use detcd_proto::etcdserverpb::{self as pb, cluster_server::Cluster};
use tonic::{Request, Response, Status};

use super::ask;
use crate::config::Url;
use crate::ids;
use crate::member::{Member, MemberState};
use crate::peer::{LeaderLink, PeerHealth};

/// How long a peer must have been reachable to count as connected (etcd's `HealthInterval`).
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);
/// A learner may be promoted once it has this share of the leader's log (etcd's
/// `readyPercent`).
const LEARNER_READY_SHARE: f64 = 0.9;

#[derive(Clone, Debug)]
pub struct ClusterService {
    pub member: Member,
    pub strict_reconfig_check: bool,
    /// Since when each peer has been reachable.
    pub peer_health: PeerHealth,
    /// Where a promotion goes (only the leader knows whether a learner has caught up).
    pub leader: LeaderLink,
}

fn not_enough_started() -> Status {
    Status::failed_precondition(
        "etcdserver: re-configuration failed due to not enough started members",
    )
}

fn unhealthy() -> Status {
    Status::unavailable("etcdserver: unhealthy cluster")
}

fn bad_urls() -> Status {
    Status::invalid_argument("etcdserver: given member URLs are invalid")
}

/// Every member of the latest configuration, by id, with what the cluster knows of it; a member
/// added but not started yet has no name and no client URLs (etcdctl shows it "unstarted").
pub fn member_list(state: &MemberState) -> Vec<pb::Member> {
    let learners = &state.membership.learners;
    state
        .membership
        .members()
        .map(|id| to_member(state, id, learners.contains(&id)))
        .collect()
}

fn to_member(state: &MemberState, id: NodeId, is_learner: bool) -> pb::Member {
    let attributes = state
        .members
        .attributes
        .get(&id)
        .cloned()
        .unwrap_or_default();
    pb_member(id, attributes, is_learner)
}

fn pb_member(id: NodeId, attributes: MemberAttributes, is_learner: bool) -> pb::Member {
    pb::Member {
        id,
        name: attributes.name,
        peer_ur_ls: attributes.peer_urls,
        client_ur_ls: attributes.client_urls,
        is_learner,
    }
}

/// The members after a change, as its answer lists them.
fn changed_members(answer: &MemberListResponse) -> Vec<pb::Member> {
    let attributes: std::collections::BTreeMap<_, _> = answer.attributes.iter().cloned().collect();
    let voters = answer.voters.iter().map(|&id| (id, false));
    let learners = answer.learners.iter().map(|&id| (id, true));
    let mut members: Vec<pb::Member> = voters
        .chain(learners)
        .map(|(id, is_learner)| {
            let known = attributes.get(&id).cloned().unwrap_or_default();
            pb_member(id, known, is_learner)
        })
        .collect();
    members.sort_by_key(|member| member.id);
    members
}

/// Peer URLs as etcd keeps them: each a valid URL, sorted.
fn peer_urls(urls: &[String]) -> Result<Vec<Url>, Status> {
    if urls.is_empty() {
        return Err(bad_urls());
    }
    let mut parsed = urls
        .iter()
        .map(|url| Url::parse(url).map_err(|_| bad_urls()))
        .collect::<Result<Vec<_>, _>>()?;
    parsed.sort_by_key(Url::to_string);
    Ok(parsed)
}

/// The votes a Raft configuration of `voters` voters needs.
fn quorum(voters: usize) -> usize {
    voters / 2 + 1
}

/// The voting members (but `except`), and how many of them have published themselves since
/// they started (etcd's `IsStarted`: they have a name).
fn started_voters(state: &MemberState, except: Option<NodeId>) -> (usize, usize) {
    let voters: Vec<NodeId> = state
        .membership
        .voters
        .iter()
        .copied()
        .filter(|&id| Some(id) != except)
        .collect();
    let started = voters
        .iter()
        .filter(|id| {
            let attributes = state.members.attributes.get(id);
            attributes.is_some_and(|member| !member.name.is_empty())
        })
        .count();
    (voters.len(), started)
}

impl ClusterService {
    /// etcd's Cluster answers carry no revision.
    fn header(&self) -> Option<pb::ResponseHeader> {
        super::local_header(&self.member).map(|header| pb::ResponseHeader {
            revision: 0,
            ..header
        })
    }

    /// Replicate a change and return the members after it.
    async fn change(&self, request: MemberRequest) -> Result<Vec<pb::Member>, Status> {
        let update = matches!(request, MemberRequest::Update { .. });
        match ask(&self.member, kv::Request::Member(request)).await? {
            kv::Response::MemberList(answer) if update => {
                // Attributes changed, the configuration did not: take its learners as they are.
                let state = self.member.state();
                let mut members = member_list(&state);
                for member in &mut members {
                    if let Some((_, known)) =
                        answer.attributes.iter().find(|(id, _)| *id == member.id)
                    {
                        member.peer_ur_ls = known.peer_urls.clone();
                    }
                }
                Ok(members)
            }
            kv::Response::MemberList(answer) => Ok(changed_members(&answer)),
            other => Err(super::status::unexpected(&other)),
        }
    }

    /// Whether this member has been connected to `peer` for at least [`HEALTH_INTERVAL`].
    fn connected(&self, peer: NodeId) -> bool {
        peer == self.member.info().id
            || self
                .peer_health
                .active_since(peer)
                .is_some_and(|since| since.elapsed() >= HEALTH_INTERVAL)
    }

    /// etcd's `mayAddMember`: a new voter must not leave the started members short of a quorum,
    /// and this member must have been connected to every voter for a while (learner or not).
    fn may_add(&self, state: &MemberState, learner: bool) -> Result<(), Status> {
        let (voters, started) = started_voters(state, None);
        let members = voters + 1;
        // Adding a second member to a cluster of one (how a restored cluster grows) is allowed.
        let restoring = started == 1 && members == 2;
        if !learner && !restoring && started < quorum(members) {
            tracing::warn!(target: "etcdserver", "not enough started members, rejecting member add");
            return Err(not_enough_started());
        }
        if !state.membership.voters.iter().all(|&id| self.connected(id)) {
            tracing::warn!(target: "etcdserver", "not healthy for reconfigure, rejecting member add");
            return Err(unhealthy());
        }
        Ok(())
    }

    /// etcd's `mayRemoveMember`: removing a voter must leave a started quorum, and must not
    /// break the quorum this member is connected to.
    fn may_remove(&self, state: &MemberState, id: NodeId) -> Result<(), Status> {
        if state.membership.learners.contains(&id) {
            return Ok(());
        }
        let (voters, started) = started_voters(state, Some(id));
        if started < quorum(voters) {
            tracing::warn!(target: "etcdserver", "not enough started members, rejecting remove member {id:x}");
            return Err(not_enough_started());
        }
        // A member that is down is no part of the active quorum.
        if id != self.member.info().id && self.peer_health.active_since(id).is_none() {
            return Ok(());
        }
        let voters = &state.membership.voters;
        let active = voters
            .iter()
            .filter(|&&voter| self.connected(voter))
            .count();
        if active.saturating_sub(1) < quorum(voters.len() - 1) {
            tracing::warn!(target: "etcdserver", "reconfigure breaks active quorum, rejecting remove member {id:x}");
            return Err(unhealthy());
        }
        Ok(())
    }

    /// Promote a learner, on the leader (only it knows how far the learner has caught up);
    /// another member forwards the request to it.
    pub async fn promote(&self, id: NodeId) -> Result<Vec<pb::Member>, Status> {
        let leader = self.member.with_state(|state| state.leader);
        match leader {
            Some(leader) if leader == self.member.info().id => self.promote_here(id).await,
            Some(_) => self.forward_promote(id).await,
            None => Err(Status::unavailable("etcdserver: no leader")),
        }
    }

    /// Promote on this member, the leader.
    pub async fn promote_here(&self, id: NodeId) -> Result<Vec<pb::Member>, Status> {
        let ready = self
            .member
            .inspect(move |node| {
                let raft = node.raft();
                raft.progress_state(id)
                    .map(|(_, matched)| (matched, raft.last_index()))
            })
            .await
            .map_err(super::status::stopped)?;
        if let Some((matched, leader_matched)) = ready
            && (matched as f64) < (leader_matched as f64) * LEARNER_READY_SHARE
        {
            return Err(Status::failed_precondition(
                "etcdserver: can only promote a learner member which is in sync with leader",
            ));
        }
        if self.strict_reconfig_check {
            let state = self.member.state();
            // The learner counts as a started voter of the new configuration.
            let (voters, started) = started_voters(&state, None);
            if started + 1 < quorum(voters + 1) {
                return Err(not_enough_started());
            }
        }
        self.change(MemberRequest::Promote { id }).await
    }

    async fn forward_promote(&self, id: NodeId) -> Result<Vec<pb::Member>, Status> {
        let request = pb::MemberPromoteRequest { id };
        let call = |mut leader: PeerClient<_>| async move { leader.promote(request).await };
        Ok(self.leader.call(call).await?.members)
    }
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_add(
        &self,
        request: Request<pb::MemberAddRequest>,
    ) -> Result<Response<pb::MemberAddResponse>, Status> {
        let request = request.into_inner();
        let urls = peer_urls(&request.peer_ur_ls)?;
        let unix_seconds = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let id = ids::added_member_id(&urls, unix_seconds);
        if self.strict_reconfig_check {
            self.may_add(&self.member.state(), request.is_learner)?;
        }
        let peer_urls: Vec<String> = urls.iter().map(Url::to_string).collect();
        let members = self
            .change(MemberRequest::Add {
                id,
                learner: request.is_learner,
                peer_urls: peer_urls.clone(),
            })
            .await?;
        Ok(Response::new(pb::MemberAddResponse {
            header: self.header(),
            member: Some(pb::Member {
                id,
                peer_ur_ls: peer_urls,
                is_learner: request.is_learner,
                ..pb::Member::default()
            }),
            members,
        }))
    }

    async fn member_remove(
        &self,
        request: Request<pb::MemberRemoveRequest>,
    ) -> Result<Response<pb::MemberRemoveResponse>, Status> {
        let id = request.into_inner().id;
        if self.strict_reconfig_check {
            self.may_remove(&self.member.state(), id)?;
        }
        let members = self.change(MemberRequest::Remove { id }).await?;
        Ok(Response::new(pb::MemberRemoveResponse {
            header: self.header(),
            members,
        }))
    }

    async fn member_update(
        &self,
        request: Request<pb::MemberUpdateRequest>,
    ) -> Result<Response<pb::MemberUpdateResponse>, Status> {
        let request = request.into_inner();
        let urls = peer_urls(&request.peer_ur_ls)?;
        let peer_urls = urls.iter().map(Url::to_string).collect();
        let members = self
            .change(MemberRequest::Update {
                id: request.id,
                peer_urls,
            })
            .await?;
        Ok(Response::new(pb::MemberUpdateResponse {
            header: self.header(),
            members,
        }))
    }

    async fn member_list(
        &self,
        _: Request<pb::MemberListRequest>,
    ) -> Result<Response<pb::MemberListResponse>, Status> {
        Ok(Response::new(pb::MemberListResponse {
            header: self.header(),
            members: self.member.with_state(member_list),
        }))
    }

    async fn member_promote(
        &self,
        request: Request<pb::MemberPromoteRequest>,
    ) -> Result<Response<pb::MemberPromoteResponse>, Status> {
        let members = self.promote(request.into_inner().id).await?;
        Ok(Response::new(pb::MemberPromoteResponse {
            header: self.header(),
            members,
        }))
    }
}
