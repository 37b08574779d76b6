//! The checks etcd's gRPC layer makes before a request reaches Raft (`v3rpc/key.go`) and the
//! request size limit (`processInternalRaftRequestOnce`). They depend only on the request and the
//! configuration, so they give the same verdict wherever they run.

use std::collections::BTreeSet;

use crate::kv::error::KvError;
use crate::kv::types::{
    DeleteRangeRequest, PutRequest, RangeRequest, Request, RequestOp, TxnRequest,
};

/// Check `request` against etcd's rules and limits.
pub fn validate(
    request: &Request,
    max_request_bytes: usize,
    max_txn_ops: usize,
) -> Result<(), KvError> {
    if !within_size(request, max_request_bytes) {
        return Err(KvError::RequestTooLarge);
    }
    match request {
        Request::Range(range) => check_range(range),
        Request::Put(put) => check_put(put),
        Request::DeleteRange(delete) => check_delete(delete),
        Request::Txn(txn) => {
            check_txn(txn, max_txn_ops)?;
            // As in etcd, overlaps are checked only once the op count is known to be within
            // bounds, since their check grows with the square of it.
            check_overlaps(&txn.success)?;
            check_overlaps(&txn.failure)?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A put encodes to its key and value and at most this much more: the variant tag (5 bytes at
/// most), two length prefixes and the lease (10 each at most) and three flags.
const PUT_OVERHEAD_BYTES_MAX: usize = 38;

/// Whether `request` encodes to at most `max_request_bytes`. Measuring the encoding walks every
/// byte of a key or value (serde sees a `Vec<u8>` as a sequence of numbers), which costs a put
/// as much as its whole MVCC write; a put well within the limit is let through on its key and
/// value sizes instead, with the same verdict.
fn within_size(request: &Request, max_request_bytes: usize) -> bool {
    if let Request::Put(put) = request
        && put.key.len() + put.value.len() + PUT_OVERHEAD_BYTES_MAX <= max_request_bytes
    {
        return true;
    }
    let size_bytes =
        postcard::experimental::serialized_size(request).expect("requests always encode");
    size_bytes <= max_request_bytes
}

fn check_range(range: &RangeRequest) -> Result<(), KvError> {
    if range.key.is_empty() {
        return Err(KvError::EmptyKey);
    }
    Ok(())
}

fn check_put(put: &PutRequest) -> Result<(), KvError> {
    if put.key.is_empty() {
        return Err(KvError::EmptyKey);
    }
    if put.ignore_value && !put.value.is_empty() {
        return Err(KvError::ValueProvided);
    }
    if put.ignore_lease && put.lease != 0 {
        return Err(KvError::LeaseProvided);
    }
    Ok(())
}

fn check_delete(delete: &DeleteRangeRequest) -> Result<(), KvError> {
    if delete.key.is_empty() {
        return Err(KvError::EmptyKey);
    }
    Ok(())
}

/// etcd's `checkTxnRequest`: no part (compares, success, failure) may exceed `max_txn_ops`, and
/// a nested txn is held to what the outer one left unused (`max_txn_ops` minus its largest part).
fn check_txn(txn: &TxnRequest, max_txn_ops: usize) -> Result<(), KvError> {
    let largest_part = txn
        .compare
        .len()
        .max(txn.success.len())
        .max(txn.failure.len());
    if largest_part > max_txn_ops {
        return Err(KvError::TooManyOps);
    }
    if txn.compare.iter().any(|compare| compare.key.is_empty()) {
        return Err(KvError::EmptyKey);
    }
    for op in txn.success.iter().chain(&txn.failure) {
        match op {
            RequestOp::Range(range) => check_range(range)?,
            RequestOp::Put(put) => check_put(put)?,
            RequestOp::DeleteRange(delete) => check_delete(delete)?,
            RequestOp::Txn(nested) => check_txn(nested, max_txn_ops - largest_part)?,
        }
    }
    Ok(())
}

/// A delete as etcd's overlap check sees it. etcd builds the interval `[key, range_end)` from the
/// raw bytes, so a `"\0"` range end ("every key from `key` on") makes an empty interval that
/// overlaps nothing; this mirrors that, since clients can observe which txns are refused.
struct DeleteInterval<'a> {
    key: &'a [u8],
    range_end: &'a [u8],
}

impl DeleteInterval<'_> {
    fn contains(&self, key: &[u8]) -> bool {
        if self.range_end.is_empty() {
            key == self.key
        } else {
            self.key <= key && key < self.range_end
        }
    }
}

/// etcd's `checkIntervals`: within one txn no key may be put twice or both put and deleted, at any
/// depth; the two branches of a nested txn may put the same key, since only one runs. Returns the
/// keys put and the deletes made at this level and below.
fn check_overlaps(
    ops: &[RequestOp],
) -> Result<(BTreeSet<&[u8]>, Vec<DeleteInterval<'_>>), KvError> {
    let mut deletes: Vec<DeleteInterval<'_>> = ops
        .iter()
        .filter_map(|op| match op {
            RequestOp::DeleteRange(delete) => Some(DeleteInterval {
                key: &delete.key,
                range_end: &delete.range_end,
            }),
            _ => None,
        })
        .collect();
    let mut puts: BTreeSet<&[u8]> = BTreeSet::new();
    for op in ops {
        let RequestOp::Txn(nested) = op else { continue };
        let (puts_then, deletes_then) = check_overlaps(&nested.success)?;
        let (puts_else, deletes_else) = check_overlaps(&nested.failure)?;
        for key in &puts_then {
            if puts.contains(key) || deletes.iter().any(|delete| delete.contains(key)) {
                return Err(KvError::DuplicateKey);
            }
            puts.insert(key);
        }
        for key in &puts_else {
            let put_elsewhere = puts.contains(key) && !puts_then.contains(key);
            if put_elsewhere || deletes.iter().any(|delete| delete.contains(key)) {
                return Err(KvError::DuplicateKey);
            }
            puts.insert(key);
        }
        deletes.extend(deletes_then);
        deletes.extend(deletes_else);
    }
    for op in ops {
        let RequestOp::Put(put) = op else { continue };
        if puts.contains(put.key.as_slice())
            || deletes.iter().any(|delete| delete.contains(&put.key))
        {
            return Err(KvError::DuplicateKey);
        }
        puts.insert(&put.key);
    }
    Ok((puts, deletes))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The shortcut for puts never lets through what the encoded size refuses: the overhead
    // allowance covers a put with every field at its widest.
    #[test]
    fn put_overhead_is_an_upper_bound() {
        let widest = PutRequest {
            key: vec![1; 300],
            value: vec![2; 70_000],
            lease: i64::MIN,
            prev_kv: true,
            ignore_value: true,
            ignore_lease: true,
        };
        let payload = widest.key.len() + widest.value.len();
        let size = postcard::experimental::serialized_size(&Request::Put(widest)).unwrap();
        assert!(
            size <= payload + PUT_OVERHEAD_BYTES_MAX,
            "{size} > {payload} + allowance"
        );
    }
}
