//! The concurrency recipes etcd's Lock and Election services are built on (etcd's clientv3
//! `concurrency` package, run inside the server): a key per contender under a prefix, created
//! with the contender's lease, and a wait for every older contender's key to be deleted.

use detcd_core::kv::{
    self, Compare, CompareResult, CompareTarget, DeleteRangeRequest, EventKind, KeyValue,
    PutRequest, RangeRequest, Request, RequestOp, Response, ResponseOp, SortOrder, SortTarget,
    TxnRequest, TxnResponse, WatchCreateRequest, WatchRequest,
};
use detcd_proto::prefix_end;
use futures::StreamExt;
use tonic::Status;

use super::ask;
use super::status::{stopped, unexpected};
use crate::member::Member;

/// Deletes a contender's key if it gives up (the client went away before it led or held the
/// lock), as etcd's Mutex and Election do when their context is canceled.
#[derive(Debug)]
pub struct Abandon {
    member: Member,
    key: Option<Vec<u8>>,
}

impl Abandon {
    pub fn new(member: &Member, key: &[u8]) -> Abandon {
        Abandon {
            member: member.clone(),
            key: Some(key.to_vec()),
        }
    }

    /// The contender got what it waited for: keep its key.
    pub fn keep(mut self) {
        self.key = None;
    }
}

impl Drop for Abandon {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let member = self.member.clone();
            tokio::spawn(async move {
                let delete = TxnRequest {
                    success: vec![delete(&key)],
                    ..TxnRequest::default()
                };
                let _ = txn(&member, delete).await;
            });
        }
    }
}

/// The key a contender holds: `prefix` followed by its lease in hex (etcd's naming).
pub fn contender_key(prefix: &[u8], lease: i64) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(format!("{lease:x}").as_bytes());
    key
}

pub async fn txn(member: &Member, txn: TxnRequest) -> Result<TxnResponse, Status> {
    match ask(member, Request::Txn(txn)).await? {
        Response::Txn(response) => Ok(response),
        other => Err(unexpected(&other)),
    }
}

pub async fn range(member: &Member, range: RangeRequest) -> Result<kv::RangeResponse, Status> {
    match ask(member, Request::Range(range)).await? {
        Response::Range(response) => Ok(response),
        other => Err(unexpected(&other)),
    }
}

pub fn create_revision_is(key: &[u8], revision: i64) -> Compare {
    Compare {
        result: CompareResult::Equal,
        target: CompareTarget::Create(revision),
        key: key.to_vec(),
        range_end: Vec::new(),
    }
}

pub fn get(key: &[u8]) -> RequestOp {
    RequestOp::Range(RangeRequest {
        key: key.to_vec(),
        ..RangeRequest::default()
    })
}

pub fn put(key: &[u8], value: Vec<u8>, lease: i64) -> RequestOp {
    RequestOp::Put(PutRequest {
        key: key.to_vec(),
        value,
        lease,
        ..PutRequest::default()
    })
}

pub fn delete(key: &[u8]) -> RequestOp {
    RequestOp::DeleteRange(DeleteRangeRequest {
        key: key.to_vec(),
        ..DeleteRangeRequest::default()
    })
}

/// The oldest key under `prefix` (the owner of a lock, the leader of an election).
pub async fn first_created(member: &Member, prefix: &[u8]) -> Result<Option<KeyValue>, Status> {
    let request = RangeRequest {
        key: prefix.to_vec(),
        range_end: prefix_end(prefix),
        sort_order: SortOrder::Ascend,
        sort_target: SortTarget::Create,
        limit: 1,
        ..RangeRequest::default()
    };
    Ok(range(member, request).await?.kvs.into_iter().next())
}

/// Create `key` with `lease` unless it exists; either way, return its create revision and the
/// txn's revision (etcd's `Mutex.tryAcquire` and `Election.Campaign` first step).
pub async fn create_if_absent(
    member: &Member,
    key: &[u8],
    value: Vec<u8>,
    lease: i64,
) -> Result<(KeyValue, TxnResponse), Status> {
    let response = txn(
        member,
        TxnRequest {
            compare: vec![create_revision_is(key, 0)],
            success: vec![put(key, value, lease), get(key)],
            failure: vec![get(key)],
        },
    )
    .await?;
    let kv = response
        .responses
        .iter()
        .find_map(|op| match op {
            ResponseOp::Range(range) => range.kvs.first().cloned(),
            _ => None,
        })
        .ok_or_else(|| Status::internal("the contender's key vanished"))?;
    Ok((kv, response))
}

/// Wait until no key under `prefix` was created at or before `max_create_revision`: every
/// older contender is gone (etcd's `waitDeletes`). Each round watches the newest such key for
/// its deletion, as etcd does, so a contender wakes only when its predecessor leaves.
pub async fn wait_deletes(
    member: &Member,
    prefix: &[u8],
    max_create_revision: i64,
) -> Result<(), Status> {
    loop {
        let request = RangeRequest {
            key: prefix.to_vec(),
            range_end: prefix_end(prefix),
            sort_order: SortOrder::Descend,
            sort_target: SortTarget::Create,
            max_create_revision,
            limit: 1,
            ..RangeRequest::default()
        };
        let response = range(member, request).await?;
        let Some(newest) = response.kvs.first() else {
            return Ok(());
        };
        wait_delete(member, &newest.key, response.header.revision).await?;
    }
}

/// Wait for `key` to be deleted after revision `revision`.
async fn wait_delete(member: &Member, key: &[u8], revision: i64) -> Result<(), Status> {
    let (sender, mut answers) = member.open_stream().await.map_err(stopped)?;
    let create = WatchCreateRequest {
        key: key.to_vec(),
        start_revision: revision + 1,
        ..WatchCreateRequest::default()
    };
    sender
        .send(Request::Watch(WatchRequest::Create(create)))
        .await
        .map_err(stopped)?;
    while let Some(answer) = answers.next().await {
        match answer {
            Response::Watch(watch) if watch.canceled => {
                return Err(Status::unavailable(watch.cancel_reason));
            }
            Response::Watch(watch) => {
                if watch
                    .events
                    .iter()
                    .any(|event| event.kind == EventKind::Delete)
                {
                    return Ok(());
                }
            }
            other => return Err(unexpected(&other)),
        }
    }
    Err(stopped(crate::member::MemberGone))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contender_keys_name_the_lease_in_hex() {
        assert_eq!(
            contender_key(b"a/", 0x186da25063f84205),
            b"a/186da25063f84205"
        );
    }
}
