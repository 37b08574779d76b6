//! Txn compares and the checks etcd makes before a txn writes anything (`applierV3backend.Txn`):
//! the branch of every txn, nested ones included, is chosen from the store as it was before the
//! txn, and the chosen operations are checked, so that a failing txn changes nothing.

use std::cmp::Ordering;

use crate::kv::error::KvError;
use crate::kv::lease::Lessor;
use crate::kv::mvcc::{KeyRange, MvccStore};
use crate::kv::types::{
    Compare, CompareResult, CompareTarget, KeyValue, PutRequest, RequestOp, TxnRequest,
};

/// The branch taken by `txn` and by each nested txn of the taken branch, depth first (etcd's
/// `compareToPath`): true for success.
pub fn txn_path(store: &MvccStore, at: i64, txn: &TxnRequest) -> Vec<bool> {
    let succeeded = txn
        .compare
        .iter()
        .all(|compare| compare_holds(store, at, compare));
    let mut path = vec![succeeded];
    for op in branch(txn, succeeded) {
        if let RequestOp::Txn(nested) = op {
            path.extend(txn_path(store, at, nested));
        }
    }
    path
}

/// The operations of the branch `succeeded` selects.
pub fn branch(txn: &TxnRequest, succeeded: bool) -> &[RequestOp] {
    if succeeded {
        &txn.success
    } else {
        &txn.failure
    }
}

/// Check the operations `path` selects, without writing (etcd's `checkRequests`).
pub fn check_path(
    store: &MvccStore,
    lessor: &Lessor,
    txn: &TxnRequest,
    path: &mut impl Iterator<Item = bool>,
) -> Result<(), KvError> {
    let succeeded = path.next().expect("the path covers every txn it chose");
    for op in branch(txn, succeeded) {
        match op {
            RequestOp::Range(range) if range.revision != 0 => {
                store.read_revision(range.revision)?;
            }
            RequestOp::Range(_) | RequestOp::DeleteRange(_) => {}
            RequestOp::Put(put) => {
                check_put_key(store, put)?;
                check_put_lease(lessor, put)?;
            }
            RequestOp::Txn(nested) => check_path(store, lessor, nested, path)?,
        }
    }
    Ok(())
}

/// `ignore_value` and `ignore_lease` keep something of the current key, so it must exist.
pub fn check_put_key(store: &MvccStore, put: &PutRequest) -> Result<(), KvError> {
    let needs_key = put.ignore_value || put.ignore_lease;
    if needs_key && store.get(&put.key, store.current_revision()).is_none() {
        return Err(KvError::KeyNotFound);
    }
    Ok(())
}

/// A put may only attach a lease that exists.
pub fn check_put_lease(lessor: &Lessor, put: &PutRequest) -> Result<(), KvError> {
    if put.lease != 0 && lessor.get(put.lease).is_none() {
        return Err(KvError::LeaseNotFound);
    }
    Ok(())
}

/// etcd's `applyCompare`: every key of the range must satisfy the compare. With no key in the
/// range, a value compare fails (a missing value cannot be told from an empty one) and the others
/// compare against zero.
fn compare_holds(store: &MvccStore, at: i64, compare: &Compare) -> bool {
    let range = KeyRange::new(&compare.key, &compare.range_end);
    let mut kvs = store.visible(&range, at).peekable();
    if kvs.peek().is_none() {
        return !matches!(compare.target, CompareTarget::Value(_))
            && compare_kv(compare, &KeyValue::default());
    }
    kvs.all(|kv| compare_kv(compare, kv))
}

fn compare_kv(compare: &Compare, kv: &KeyValue) -> bool {
    let ordering = match &compare.target {
        CompareTarget::Version(version) => kv.version.cmp(version),
        CompareTarget::Create(revision) => kv.create_revision.cmp(revision),
        CompareTarget::Mod(revision) => kv.mod_revision.cmp(revision),
        CompareTarget::Value(value) => kv.value.cmp(value),
        CompareTarget::Lease(lease) => kv.lease.cmp(lease),
    };
    match compare.result {
        CompareResult::Equal => ordering == Ordering::Equal,
        CompareResult::NotEqual => ordering != Ordering::Equal,
        CompareResult::Greater => ordering == Ordering::Greater,
        CompareResult::Less => ordering == Ordering::Less,
    }
}
