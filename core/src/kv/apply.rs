//! Executing checked key-value operations in one write transaction, keeping lease attachments in
//! step with the keys (etcd's `applierV3backend` Put, DeleteRange, Range and Txn).

use crate::kv::lease::Lessor;
use crate::kv::mvcc::{KeyRange, MvccStore, Put, WriteTxn};
use crate::kv::range::range;
use crate::kv::txn::branch;
use crate::kv::types::{
    DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse,
    RequestOp, ResponseOp, TxnRequest, TxnResponse,
};

/// One write transaction over the store and the leases. Every operation given to it has passed
/// its checks, so none can fail halfway and leave a partial transaction behind.
#[derive(Debug)]
pub struct Applier<'a> {
    txn: WriteTxn<'a>,
    lessor: &'a mut Lessor,
}

impl<'a> Applier<'a> {
    pub fn new(store: &'a mut MvccStore, lessor: &'a mut Lessor) -> Applier<'a> {
        Applier {
            txn: store.write(),
            lessor,
        }
    }

    /// Finish; returns the store revision after the transaction.
    pub fn end(self) -> i64 {
        self.txn.end()
    }

    pub fn put(&mut self, request: &PutRequest) -> PutResponse {
        // `ignore_value` and `ignore_lease` keep the key's current value or lease; the store
        // reads the key once for that and for what the put replaces.
        let put = Put {
            value: (!request.ignore_value).then(|| request.value.clone()),
            lease: (!request.ignore_lease).then_some(request.lease),
            prev_kv: request.prev_kv,
        };
        let lease_given = put.lease;
        let replaced = self.txn.put(&request.key, put);
        let prev_lease = replaced.as_ref().map_or(0, |replaced| replaced.lease);
        if replaced.is_some() {
            self.lessor.detach(prev_lease, &request.key);
        }
        let lease = lease_given.unwrap_or(prev_lease);
        if lease != 0 {
            self.lessor.attach(lease, &request.key);
        }
        PutResponse {
            prev_kv: replaced.and_then(|replaced| replaced.kv),
            ..PutResponse::default()
        }
    }

    pub fn delete_range(&mut self, request: &DeleteRangeRequest) -> DeleteRangeResponse {
        let deleted = self
            .txn
            .delete_range(&KeyRange::new(&request.key, &request.range_end));
        for prev in &deleted {
            self.lessor.detach(prev.lease, &prev.key);
        }
        DeleteRangeResponse {
            deleted: deleted.len() as i64,
            prev_kvs: if request.prev_kv { deleted } else { Vec::new() },
            ..DeleteRangeResponse::default()
        }
    }

    /// Delete the keys of a revoked lease, in key order so every member deletes them alike.
    pub fn delete_keys<'k>(&mut self, keys: impl IntoIterator<Item = &'k Vec<u8>>) {
        for key in keys {
            self.txn.delete_range(&KeyRange::Single(key.clone()));
        }
    }

    /// A range inside the transaction sees its earlier writes, unless it names a past revision.
    pub fn range(&self, request: &RangeRequest) -> RangeResponse {
        let at = if request.revision > 0 {
            request.revision
        } else {
            self.txn.read_revision()
        };
        range(self.txn.store(), request, at)
    }

    /// Run the branches `path` chose (see `txn::txn_path`).
    pub fn txn(
        &mut self,
        request: &TxnRequest,
        path: &mut impl Iterator<Item = bool>,
    ) -> TxnResponse {
        let succeeded = path.next().expect("the path covers every txn it chose");
        let responses = branch(request, succeeded)
            .iter()
            .map(|op| match op {
                RequestOp::Range(range) => ResponseOp::Range(self.range(range)),
                RequestOp::Put(put) => ResponseOp::Put(self.put(put)),
                RequestOp::DeleteRange(delete) => {
                    ResponseOp::DeleteRange(self.delete_range(delete))
                }
                RequestOp::Txn(nested) => ResponseOp::Txn(self.txn(nested, path)),
            })
            .collect();
        TxnResponse {
            succeeded,
            responses,
            ..TxnResponse::default()
        }
    }
}

/// Give a txn response and every response inside it the store revision after the txn.
pub fn stamp_txn(response: &mut TxnResponse, revision: i64) {
    response.header.revision = revision;
    for op in &mut response.responses {
        match op {
            ResponseOp::Range(range) => range.header.revision = revision,
            ResponseOp::Put(put) => put.header.revision = revision,
            ResponseOp::DeleteRange(delete) => delete.header.revision = revision,
            ResponseOp::Txn(nested) => stamp_txn(nested, revision),
        }
    }
}
