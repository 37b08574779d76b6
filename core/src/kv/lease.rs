//! Leases (etcd's `lessor`), split in two:
//!
//! - [`Lessor`]: the replicated part — which leases exist, their TTLs and attached keys. Changed
//!   only by applied entries, so it is identical on every member and lives in snapshots.
//! - [`LeaseDeadlines`]: when each lease expires. Not replicated: only the leader keeps
//!   deadlines, set from the `now` it is given. It proposes a revoke for every lease past its
//!   deadline, and every member deletes the lease's keys when that revoke is applied, at the same
//!   revision. A new leader starts every lease afresh at now + TTL (etcd's `Promote`), so a lease
//!   never expires early because leadership moved; a member that is not leading has no deadlines
//!   and so never expires anything.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::kv::error::KvError;
use crate::kv::types::LeaseId;
use crate::raft::Index;
use crate::time::{Duration, Instant};

/// etcd's `MaxLeaseTTL`: a longer TTL is refused.
pub const LEASE_TTL_MAX_SECS: i64 = 9_000_000_000;

/// One lease: its TTL (already raised to the minimum) and the keys attached to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub id: LeaseId,
    pub ttl_secs: i64,
    pub keys: BTreeSet<Vec<u8>>,
}

impl Lease {
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_secs.max(0).unsigned_abs())
    }
}

/// The replicated leases.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Lessor {
    leases: BTreeMap<LeaseId, Lease>,
    /// Counts grants and revokes, so the leader's deadlines are brought in line only after a
    /// change. Not replicated state: it starts again at zero in a restored lessor.
    #[serde(skip)]
    changes: u64,
}

/// Two lessors are equal when they hold the same leases; the change count is not state.
impl PartialEq for Lessor {
    fn eq(&self, other: &Lessor) -> bool {
        self.leases == other.leases
    }
}

impl Eq for Lessor {}

impl Lessor {
    pub fn get(&self, id: LeaseId) -> Option<&Lease> {
        self.leases.get(&id)
    }

    pub fn len(&self) -> usize {
        self.leases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }

    pub fn ids(&self) -> impl Iterator<Item = LeaseId> + '_ {
        self.leases.keys().copied()
    }

    /// Grant lease `id` (etcd's `Grant`): a TTL below `ttl_min_secs` is raised to it.
    pub fn grant(
        &mut self,
        id: LeaseId,
        ttl_secs: i64,
        ttl_min_secs: i64,
    ) -> Result<&Lease, KvError> {
        assert!(
            id != 0,
            "the caller chooses an id for a request without one"
        );
        if ttl_secs > LEASE_TTL_MAX_SECS {
            return Err(KvError::LeaseTtlTooLarge);
        }
        if self.leases.contains_key(&id) {
            return Err(KvError::LeaseExists);
        }
        let lease = Lease {
            id,
            ttl_secs: ttl_secs.max(ttl_min_secs),
            keys: BTreeSet::new(),
        };
        self.changes += 1;
        Ok(self.leases.entry(id).or_insert(lease))
    }

    /// Remove lease `id`; the caller deletes its keys in the same write transaction.
    pub fn revoke(&mut self, id: LeaseId) -> Result<Lease, KvError> {
        self.changes += 1;
        self.leases.remove(&id).ok_or(KvError::LeaseNotFound)
    }

    /// Attach `key` to lease `id`, which must exist (puts check it first).
    pub fn attach(&mut self, id: LeaseId, key: &[u8]) {
        let lease = self
            .leases
            .get_mut(&id)
            .expect("puts check that their lease exists");
        lease.keys.insert(key.to_vec());
    }

    /// Detach `key` from lease `id`, if the lease still exists (a revoke removes it first).
    pub fn detach(&mut self, id: LeaseId, key: &[u8]) {
        if let Some(lease) = self.leases.get_mut(&id) {
            lease.keys.remove(key);
        }
    }

    /// An id for a grant that left the choice to the server. etcd draws it from a generator on the
    /// proposing member; here it is derived from the entry's log index when the grant is applied,
    /// so every member picks the same one. Positive, as etcd's are.
    pub fn choose_id(&self, index: Index) -> LeaseId {
        let mut seed = index;
        loop {
            seed = splitmix64(seed);
            let id = (seed >> 1) as LeaseId;
            if id != 0 && !self.leases.contains_key(&id) {
                return id;
            }
        }
    }
}

fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The leader's lease deadlines (see the module comment).
#[derive(Clone, Debug, Default)]
pub struct LeaseDeadlines {
    leading: bool,
    deadlines: BTreeMap<LeaseId, Instant>,
    /// Leases whose revoke has been proposed, with when to propose it again if it has not been
    /// applied by then (the proposal may be lost).
    revoking: BTreeMap<LeaseId, Instant>,
    /// The lessor's change count when the deadlines were last brought in line with it.
    lessor_changes_seen: Option<u64>,
    /// The earliest time `expire` has something to do, kept up to date by every change, so the
    /// leader's tick after every input costs no scan of the leases.
    next_due: Option<Instant>,
}

impl LeaseDeadlines {
    pub fn is_leading(&self) -> bool {
        self.leading
    }

    /// This member became leader at `now`: every lease gets a full TTL from now.
    pub fn promote(&mut self, now: Instant, lessor: &Lessor) {
        self.leading = true;
        self.deadlines = lessor
            .leases
            .values()
            .map(|lease| (lease.id, now + lease.ttl()))
            .collect();
        self.revoking.clear();
        self.lessor_changes_seen = Some(lessor.changes);
        self.update_next_due();
    }

    /// This member stopped leading: it forgets every deadline and so expires nothing.
    pub fn demote(&mut self) {
        *self = LeaseDeadlines::default();
    }

    /// The leases were replaced (snapshot restore): a leader starts each afresh at its next tick.
    pub fn forget_deadlines(&mut self) {
        self.deadlines.clear();
        self.revoking.clear();
        self.lessor_changes_seen = None;
        self.update_next_due();
    }

    /// Bring the deadlines in line with the leases: a lease granted since the last call starts its
    /// TTL now; a revoked lease is forgotten. Called with every `now` the leader sees.
    pub fn refresh(&mut self, now: Instant, lessor: &Lessor) {
        if !self.leading || self.lessor_changes_seen == Some(lessor.changes) {
            return;
        }
        self.lessor_changes_seen = Some(lessor.changes);
        self.deadlines
            .retain(|id, _| lessor.leases.contains_key(id));
        self.revoking.retain(|id, _| lessor.leases.contains_key(id));
        for lease in lessor.leases.values() {
            self.deadlines.entry(lease.id).or_insert(now + lease.ttl());
        }
        self.update_next_due();
    }

    /// Leases past their deadline whose revoke should be proposed now: each once, and again only
    /// after `retry` if the first proposal has not been applied (etcd's expired-lease retry).
    pub fn expire(&mut self, now: Instant, retry: Duration) -> Vec<LeaseId> {
        if self.next_deadline() > now {
            return Vec::new();
        }
        let due: Vec<LeaseId> = self
            .deadlines
            .iter()
            .filter(|&(id, deadline)| {
                *deadline <= now
                    && self
                        .revoking
                        .get(id)
                        .is_none_or(|retry_at| *retry_at <= now)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &due {
            self.revoking.insert(*id, now + retry);
        }
        self.update_next_due();
        due
    }

    /// Keep-alive on the leader: the lease runs a full TTL from now. Returns the TTL, or `None`
    /// when the lease is unknown or already expired (its revoke is on the way).
    pub fn renew(&mut self, now: Instant, lease: &Lease) -> Option<i64> {
        assert!(self.leading, "only the leader renews leases");
        let deadline = self.deadlines.entry(lease.id).or_insert(now + lease.ttl());
        let renewed = *deadline > now;
        if renewed {
            *deadline = now + lease.ttl();
        }
        self.update_next_due();
        renewed.then_some(lease.ttl_secs)
    }

    /// Whole seconds left before the lease expires, as etcd reports them (truncated, never below 0).
    pub fn remaining_secs(&self, now: Instant, lease: &Lease) -> i64 {
        let deadline = self
            .deadlines
            .get(&lease.id)
            .copied()
            .unwrap_or(now + lease.ttl());
        i64::try_from(deadline.saturating_duration_since(now).as_secs()).unwrap_or(i64::MAX)
    }

    /// The earliest time `expire` has something to do.
    pub fn next_deadline(&self) -> Instant {
        let next_due = self.next_due.unwrap_or(Instant::NEVER);
        debug_assert_eq!(next_due, self.compute_next_due(), "next_due is stale");
        next_due
    }

    fn update_next_due(&mut self) {
        let next_due = self.compute_next_due();
        self.next_due = (next_due != Instant::NEVER).then_some(next_due);
    }

    fn compute_next_due(&self) -> Instant {
        let pending = self
            .deadlines
            .iter()
            .map(|(id, deadline)| match self.revoking.get(id) {
                Some(retry_at) => (*deadline).max(*retry_at),
                None => *deadline,
            });
        pending.min().unwrap_or(Instant::NEVER)
    }
}
