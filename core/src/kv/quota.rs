//! The space quota and alarms (etcd's `quota.go` and `alarm` store).
//!
//! etcd checks the quota before proposing and raises the NOSPACE alarm through Raft. Here the
//! check runs when the request is applied, against the replicated size estimate, so every member
//! reaches the same verdict and raises the alarm at the same entry without a second proposal.
//! While NOSPACE is raised, requests that would grow the store (puts, txns with a put, lease
//! grants) are refused; reads, deletes, compaction and disarming still work.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::kv::types::{AlarmMember, AlarmType, Request, RequestOp, TxnRequest};

/// etcd's `kvOverhead`: what one put is charged beyond its key and value.
const PUT_OVERHEAD_BYTES: u64 = 256;
/// etcd's `leaseOverhead`: what a lease grant is charged.
pub const LEASE_OVERHEAD_BYTES: u64 = 64;

/// What `request` would add to the store, as etcd's `BackendQuota.Cost` estimates it; 0 for a
/// request the quota never refuses.
pub fn request_cost(request: &Request) -> u64 {
    match request {
        Request::Put(put) => put_cost(&put.key, &put.value),
        Request::Txn(txn) => txn_cost(txn),
        Request::LeaseGrant(_) => LEASE_OVERHEAD_BYTES,
        _ => 0,
    }
}

fn put_cost(key: &[u8], value: &[u8]) -> u64 {
    PUT_OVERHEAD_BYTES + (key.len() + value.len()) as u64
}

/// The costlier branch, since either may run.
fn txn_cost(txn: &TxnRequest) -> u64 {
    let branch_cost = |ops: &[RequestOp]| -> u64 {
        ops.iter()
            .map(|op| match op {
                RequestOp::Put(put) => put_cost(&put.key, &put.value),
                RequestOp::Txn(nested) => txn_cost(nested),
                RequestOp::Range(_) | RequestOp::DeleteRange(_) => 0,
            })
            .sum()
    };
    branch_cost(&txn.success).max(branch_cost(&txn.failure))
}

/// The raised alarms, replicated.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarms {
    raised: BTreeSet<AlarmMember>,
}

impl Alarms {
    pub fn is_raised(&self, alarm: AlarmType) -> bool {
        self.raised.iter().any(|member| member.alarm == alarm)
    }

    pub fn activate(&mut self, member: AlarmMember) {
        self.raised.insert(member);
    }

    pub fn deactivate(&mut self, member: AlarmMember) {
        self.raised.remove(&member);
    }

    /// The raised alarms of type `alarm`, or all of them.
    pub fn list(&self, alarm: Option<AlarmType>) -> Vec<AlarmMember> {
        self.raised
            .iter()
            .filter(|member| alarm.is_none_or(|alarm| member.alarm == alarm))
            .copied()
            .collect()
    }
}
