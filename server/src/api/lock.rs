//! etcd's Lock service (`v3lockpb`), built on lease, txn and watch as etcd builds it (etcd's
//! `concurrency.Mutex`): the lock holder is the oldest key under `name/`; a waiter's key is
//! `name/<lease in hex>`, and it holds the lock once every older key is gone.

use detcd_core::kv::TxnRequest;
use detcd_proto::v3lockpb::{self as pb, lock_server::Lock};
use tonic::{Request, Response, Status};

use super::convert;
use super::recipes::{Abandon, contender_key, create_if_absent, delete, txn, wait_deletes};
use crate::member::Member;

#[derive(Clone, Debug)]
pub struct LockService {
    pub member: Member,
}

#[tonic::async_trait]
impl Lock for LockService {
    /// Wait until the lock `name` is held with `lease`; the answer names the key that holds it,
    /// which lives as long as the lease (or until Unlock).
    async fn lock(
        &self,
        request: Request<pb::LockRequest>,
    ) -> Result<Response<pb::LockResponse>, Status> {
        let request = request.into_inner();
        let mut prefix = request.name;
        prefix.push(b'/');
        let key = contender_key(&prefix, request.lease);
        let (kv, created) = create_if_absent(&self.member, &key, Vec::new(), request.lease).await?;
        let abandon = Abandon::new(&self.member, &key);
        wait_deletes(&self.member, &prefix, kv.create_revision - 1).await?;
        abandon.keep();
        Ok(Response::new(pb::LockResponse {
            header: convert::header(created.header),
            key,
        }))
    }

    async fn unlock(
        &self,
        request: Request<pb::UnlockRequest>,
    ) -> Result<Response<pb::UnlockResponse>, Status> {
        let key = request.into_inner().key;
        let response = txn(
            &self.member,
            TxnRequest {
                success: vec![delete(&key)],
                ..TxnRequest::default()
            },
        )
        .await?;
        Ok(Response::new(pb::UnlockResponse {
            header: convert::header(response.header),
        }))
    }
}
