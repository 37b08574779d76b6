//! Member and cluster ids, derived as etcd derives them, so that they are stable across restarts
//! and equal to what etcd would choose for the same flags (clients and tests compare them).

use sha1::{Digest, Sha1};

use crate::config::Url;

/// A member's id: the first 8 bytes (big endian) of SHA-1 over its sorted peer URLs, joined with
/// nothing, and the cluster token (etcd's `membership.NewMember`).
pub fn member_id(peer_urls: &[Url], cluster_token: &str) -> u64 {
    let mut urls: Vec<String> = peer_urls.iter().map(Url::to_string).collect();
    urls.sort();
    let mut hasher = Sha1::new();
    for url in &urls {
        hasher.update(url.as_bytes());
    }
    hasher.update(cluster_token.as_bytes());
    first_eight(&hasher.finalize())
}

/// The id MemberAdd gives a new member: as [`member_id`], with no cluster token and the time of
/// the request in Unix seconds after the URLs (etcd's `NewMember("", urls, "", now)`), so that a
/// member added again at the same URLs gets a new id.
pub fn added_member_id(peer_urls: &[Url], unix_seconds: u64) -> u64 {
    member_id(peer_urls, &unix_seconds.to_string())
}

/// The cluster's id: the first 8 bytes of SHA-1 over the sorted member ids, 8 bytes big endian
/// each (etcd's `RaftCluster.genID`).
pub fn cluster_id(member_ids: &[u64]) -> u64 {
    let mut ids = member_ids.to_vec();
    ids.sort_unstable();
    let mut hasher = Sha1::new();
    for id in ids {
        hasher.update(id.to_be_bytes());
    }
    first_eight(&hasher.finalize())
}

fn first_eight(digest: &[u8]) -> u64 {
    u64::from_be_bytes(digest[..8].try_into().expect("SHA-1 has 20 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The ids etcd 3.4.23 gives a one-member cluster of its e2e suite (read from its responses).
    #[test]
    fn equal_to_etcds() {
        let url = |text| Url::parse(text).unwrap();
        let member = member_id(&[url("https://localhost:20001")], "new");
        assert_eq!(member, 0x00a8_f345_8387_986d);
        assert_eq!(cluster_id(&[member]), 0x34c2_1a2d_427d_b393);
        let plain = member_id(&[url("http://localhost:20001")], "new");
        assert_eq!(plain, 0xca50_e935_7181_d758);
        assert_eq!(cluster_id(&[plain]), 0x034f_27e8_3b3b_c2ff);
    }
}
