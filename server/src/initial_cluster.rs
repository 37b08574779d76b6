//! `--initial-cluster` and `--initial-cluster-token`: the members a new cluster starts with, their
//! ids and the cluster's id, derived as etcd derives them; and how a member joining a running
//! cluster finds itself among the members the cluster reports.

use std::collections::BTreeMap;

use detcd_core::NodeId;
use detcd_core::kv::MemberAttributes;
use detcd_proto::etcdserverpb as pb;

use crate::config::Url;
use crate::ids;

/// One member `--initial-cluster` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitialMember {
    pub id: NodeId,
    pub name: String,
    /// Sorted, as etcd keeps them.
    pub peer_urls: Vec<String>,
}

/// The members `--initial-cluster` names, in the order it names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitialCluster {
    pub members: Vec<InitialMember>,
}

impl InitialCluster {
    /// Group `name=url` entries by name (a member may have several URLs) and derive the ids.
    pub fn new(entries: &[(String, Url)], token: &str) -> InitialCluster {
        let mut by_name: Vec<(String, Vec<Url>)> = Vec::new();
        for (name, url) in entries {
            match by_name.iter_mut().find(|(known, _)| known == name) {
                Some((_, urls)) => urls.push(url.clone()),
                None => by_name.push((name.clone(), vec![url.clone()])),
            }
        }
        let members = by_name
            .into_iter()
            .map(|(name, urls)| {
                let mut peer_urls: Vec<String> = urls.iter().map(Url::to_string).collect();
                peer_urls.sort();
                InitialMember {
                    id: ids::member_id(&urls, token),
                    name,
                    peer_urls,
                }
            })
            .collect();
        InitialCluster { members }
    }

    pub fn ids(&self) -> Vec<NodeId> {
        self.members.iter().map(|member| member.id).collect()
    }

    pub fn cluster_id(&self) -> u64 {
        ids::cluster_id(&self.ids())
    }

    /// The member named `name` (etcd's `--name`), which must be there.
    pub fn member_named(&self, name: &str) -> Result<&InitialMember, String> {
        let found = self.members.iter().find(|member| member.name == name);
        found.ok_or_else(|| {
            format!("couldn't find local name {name:?} in the initial cluster configuration")
        })
    }

    /// What the new cluster knows of its members: names and peer URLs (etcd counts them as
    /// started); client URLs come when each member publishes them.
    pub fn attributes(&self) -> BTreeMap<NodeId, MemberAttributes> {
        let attributes = |member: &InitialMember| MemberAttributes {
            name: member.name.clone(),
            peer_urls: member.peer_urls.clone(),
            client_urls: Vec::new(),
        };
        self.members
            .iter()
            .map(|member| (member.id, attributes(member)))
            .collect()
    }

    /// The peer URLs of every member but `name`: where a joining member asks about the cluster.
    pub fn peer_urls_except(&self, name: &str) -> Vec<String> {
        let others = self.members.iter().filter(|member| member.name != name);
        others.flat_map(|member| member.peer_urls.clone()).collect()
    }

    /// Match every member `--initial-cluster` names with a member the running cluster reports,
    /// by peer URLs (etcd's `ValidateClusterAndAssignIDs`); returns `name`'s id there.
    pub fn find_in(&self, running: &[pb::Member], name: &str) -> Result<NodeId, String> {
        if self.members.len() != running.len() {
            return Err("member count is unequal".into());
        }
        let mut own = None;
        for member in &self.members {
            let found = running.iter().find(|remote| {
                let mut urls = remote.peer_ur_ls.clone();
                urls.sort();
                urls == member.peer_urls
            });
            let Some(remote) = found else {
                return Err("unmatched member while checking PeerURLs".into());
            };
            if member.name == name {
                own = Some(remote.id);
            }
        }
        own.ok_or_else(|| {
            format!("couldn't find local name {name:?} in the initial cluster configuration")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(text: &[(&str, &str)]) -> InitialCluster {
        let entries: Vec<(String, Url)> = text
            .iter()
            .map(|(name, url)| (name.to_string(), Url::parse(url).unwrap()))
            .collect();
        InitialCluster::new(&entries, "new")
    }

    // A member listed with two URLs is one member; its id covers both, sorted.
    #[test]
    fn urls_of_one_name_make_one_member() {
        let two = cluster(&[
            ("a", "http://b:2"),
            ("a", "http://a:1"),
            ("b", "http://c:3"),
        ]);
        assert_eq!(two.members.len(), 2);
        assert_eq!(two.members[0].peer_urls, ["http://a:1", "http://b:2"]);
        let urls = [
            Url::parse("http://a:1").unwrap(),
            Url::parse("http://b:2").unwrap(),
        ];
        assert_eq!(two.members[0].id, ids::member_id(&urls, "new"));
    }

    // A joining member finds itself by its peer URLs; a list that does not match the running
    // cluster is refused with etcd's reasons.
    #[test]
    fn joining_matches_by_peer_urls() {
        let local = cluster(&[("a", "http://a:1"), ("new", "http://n:9")]);
        let remote = |id, url: &str| pb::Member {
            id,
            peer_ur_ls: vec![url.to_string()],
            ..pb::Member::default()
        };
        let running = [remote(7, "http://a:1"), remote(42, "http://n:9")];
        assert_eq!(local.find_in(&running, "new"), Ok(42));
        let short = [remote(7, "http://a:1")];
        assert_eq!(
            local.find_in(&short, "new").unwrap_err(),
            "member count is unequal"
        );
        let other = [remote(7, "http://a:1"), remote(42, "http://m:9")];
        assert_eq!(
            local.find_in(&other, "new").unwrap_err(),
            "unmatched member while checking PeerURLs"
        );
    }
}
