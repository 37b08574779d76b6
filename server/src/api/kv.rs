//! etcd's KV service: Range, Put, DeleteRange, Txn, Compact.

use detcd_core::kv as core_kv;
use detcd_proto::etcdserverpb::{self as pb, kv_server::Kv};
use tonic::{Request, Response, Status};

use super::ask;
use super::convert;
use super::status::unexpected;
use crate::member::Member;

#[derive(Clone, Debug)]
pub struct KvService {
    pub member: Member,
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn range(
        &self,
        request: Request<pb::RangeRequest>,
    ) -> Result<Response<pb::RangeResponse>, Status> {
        let request = convert::range_request(request.into_inner())?;
        if !request.serializable && self.member.is_learner() {
            return Err(super::status::not_for_learner());
        }
        match ask(&self.member, core_kv::Request::Range(request)).await? {
            core_kv::Response::Range(response) => {
                Ok(Response::new(convert::range_response(response)))
            }
            other => Err(unexpected(&other)),
        }
    }

    async fn put(
        &self,
        request: Request<pb::PutRequest>,
    ) -> Result<Response<pb::PutResponse>, Status> {
        let request = convert::put_request(request.into_inner());
        match ask(&self.member, core_kv::Request::Put(request)).await? {
            core_kv::Response::Put(response) => Ok(Response::new(convert::put_response(response))),
            other => Err(unexpected(&other)),
        }
    }

    async fn delete_range(
        &self,
        request: Request<pb::DeleteRangeRequest>,
    ) -> Result<Response<pb::DeleteRangeResponse>, Status> {
        let request = convert::delete_request(request.into_inner());
        match ask(&self.member, core_kv::Request::DeleteRange(request)).await? {
            core_kv::Response::DeleteRange(response) => {
                Ok(Response::new(convert::delete_response(response)))
            }
            other => Err(unexpected(&other)),
        }
    }

    async fn txn(
        &self,
        request: Request<pb::TxnRequest>,
    ) -> Result<Response<pb::TxnResponse>, Status> {
        let request = convert::txn_request(request.into_inner())?;
        match ask(&self.member, core_kv::Request::Txn(request)).await? {
            core_kv::Response::Txn(response) => Ok(Response::new(convert::txn_response(response))),
            other => Err(unexpected(&other)),
        }
    }

    async fn compact(
        &self,
        request: Request<pb::CompactionRequest>,
    ) -> Result<Response<pb::CompactionResponse>, Status> {
        let request = request.into_inner();
        let compact = core_kv::CompactRequest {
            revision: request.revision,
            physical: request.physical,
        };
        match ask(&self.member, core_kv::Request::Compact(compact)).await? {
            core_kv::Response::Compact(response) => Ok(Response::new(pb::CompactionResponse {
                header: convert::header(response.header),
            })),
            other => Err(unexpected(&other)),
        }
    }
}
