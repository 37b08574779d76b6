//! etcd's protobuf messages to the core's requests, and the core's responses back: one place for
//! every field, so the wire contract and the state machine meet in exactly one file.

use detcd_core::kv;
use detcd_proto::etcdserverpb as pb;
use detcd_proto::mvccpb;
use tonic::Status;

use super::status::invalid_argument;

pub fn header(header: kv::ResponseHeader) -> Option<pb::ResponseHeader> {
    Some(pb::ResponseHeader {
        cluster_id: header.cluster_id,
        member_id: header.member_id,
        revision: header.revision,
        raft_term: header.raft_term,
    })
}

/// Inside a txn, etcd fills only the revision of each operation's header.
fn inner_header(header: kv::ResponseHeader) -> Option<pb::ResponseHeader> {
    Some(pb::ResponseHeader {
        revision: header.revision,
        ..pb::ResponseHeader::default()
    })
}

pub fn key_value(kv: kv::KeyValue) -> mvccpb::KeyValue {
    mvccpb::KeyValue {
        key: kv.key,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: kv.value,
        lease: kv.lease,
    }
}

// ----- requests -----

pub fn range_request(request: pb::RangeRequest) -> Result<kv::RangeRequest, Status> {
    use pb::range_request::{SortOrder, SortTarget};
    let sort_order = match SortOrder::try_from(request.sort_order) {
        Ok(SortOrder::None) => kv::SortOrder::None,
        Ok(SortOrder::Ascend) => kv::SortOrder::Ascend,
        Ok(SortOrder::Descend) => kv::SortOrder::Descend,
        Err(_) => return Err(invalid_argument("etcdserver: invalid sort option")),
    };
    let sort_target = match SortTarget::try_from(request.sort_target) {
        Ok(SortTarget::Key) => kv::SortTarget::Key,
        Ok(SortTarget::Version) => kv::SortTarget::Version,
        Ok(SortTarget::Create) => kv::SortTarget::Create,
        Ok(SortTarget::Mod) => kv::SortTarget::Mod,
        Ok(SortTarget::Value) => kv::SortTarget::Value,
        Err(_) => return Err(invalid_argument("etcdserver: invalid sort option")),
    };
    Ok(kv::RangeRequest {
        key: request.key,
        range_end: request.range_end,
        limit: request.limit,
        revision: request.revision,
        sort_order,
        sort_target,
        serializable: request.serializable,
        keys_only: request.keys_only,
        count_only: request.count_only,
        min_mod_revision: request.min_mod_revision,
        max_mod_revision: request.max_mod_revision,
        min_create_revision: request.min_create_revision,
        max_create_revision: request.max_create_revision,
    })
}

pub fn put_request(request: pb::PutRequest) -> kv::PutRequest {
    kv::PutRequest {
        key: request.key,
        value: request.value,
        lease: request.lease,
        prev_kv: request.prev_kv,
        ignore_value: request.ignore_value,
        ignore_lease: request.ignore_lease,
    }
}

pub fn delete_request(request: pb::DeleteRangeRequest) -> kv::DeleteRangeRequest {
    kv::DeleteRangeRequest {
        key: request.key,
        range_end: request.range_end,
        prev_kv: request.prev_kv,
    }
}

pub fn txn_request(request: pb::TxnRequest) -> Result<kv::TxnRequest, Status> {
    Ok(kv::TxnRequest {
        compare: request
            .compare
            .into_iter()
            .map(compare)
            .collect::<Result<_, _>>()?,
        success: ops(request.success)?,
        failure: ops(request.failure)?,
    })
}

fn ops(ops: Vec<pb::RequestOp>) -> Result<Vec<kv::RequestOp>, Status> {
    ops.into_iter().map(request_op).collect()
}

fn request_op(op: pb::RequestOp) -> Result<kv::RequestOp, Status> {
    use pb::request_op::Request;
    Ok(match op.request {
        Some(Request::RequestRange(range)) => kv::RequestOp::Range(range_request(range)?),
        Some(Request::RequestPut(put)) => kv::RequestOp::Put(put_request(put)),
        Some(Request::RequestDeleteRange(delete)) => {
            kv::RequestOp::DeleteRange(delete_request(delete))
        }
        Some(Request::RequestTxn(txn)) => kv::RequestOp::Txn(txn_request(txn)?),
        // etcd checks an empty operation as a range of the empty key.
        None => return Err(invalid_argument("etcdserver: key not found")),
    })
}

fn compare(compare: pb::Compare) -> Result<kv::Compare, Status> {
    use pb::compare::{CompareResult, CompareTarget, TargetUnion};
    let result = match CompareResult::try_from(compare.result) {
        Ok(CompareResult::Equal) => kv::CompareResult::Equal,
        Ok(CompareResult::Greater) => kv::CompareResult::Greater,
        Ok(CompareResult::Less) => kv::CompareResult::Less,
        Ok(CompareResult::NotEqual) => kv::CompareResult::NotEqual,
        Err(_) => return Err(invalid_argument("etcdserver: invalid compare result")),
    };
    // The target names which operand counts; an operand of another kind compares as its zero,
    // as etcd's applier reads the union by the target.
    let union = compare.target_union;
    let target = match CompareTarget::try_from(compare.target) {
        Ok(CompareTarget::Version) => kv::CompareTarget::Version(match union {
            Some(TargetUnion::Version(version)) => version,
            _ => 0,
        }),
        Ok(CompareTarget::Create) => kv::CompareTarget::Create(match union {
            Some(TargetUnion::CreateRevision(revision)) => revision,
            _ => 0,
        }),
        Ok(CompareTarget::Mod) => kv::CompareTarget::Mod(match union {
            Some(TargetUnion::ModRevision(revision)) => revision,
            _ => 0,
        }),
        Ok(CompareTarget::Value) => kv::CompareTarget::Value(match union {
            Some(TargetUnion::Value(value)) => value,
            _ => Vec::new(),
        }),
        Ok(CompareTarget::Lease) => kv::CompareTarget::Lease(match union {
            Some(TargetUnion::Lease(lease)) => lease,
            _ => 0,
        }),
        Err(_) => return Err(invalid_argument("etcdserver: invalid compare target")),
    };
    Ok(kv::Compare {
        result,
        target,
        key: compare.key,
        range_end: compare.range_end,
    })
}

pub fn watch_create(request: pb::WatchCreateRequest) -> kv::WatchCreateRequest {
    use pb::watch_create_request::FilterType;
    kv::WatchCreateRequest {
        key: request.key,
        range_end: request.range_end,
        start_revision: request.start_revision,
        progress_notify: request.progress_notify,
        filters: request
            .filters
            .into_iter()
            .filter_map(|filter| match FilterType::try_from(filter) {
                Ok(FilterType::Noput) => Some(kv::WatchFilter::NoPut),
                Ok(FilterType::Nodelete) => Some(kv::WatchFilter::NoDelete),
                Err(_) => None,
            })
            .collect(),
        prev_kv: request.prev_kv,
        watch_id: request.watch_id,
    }
}

pub fn alarm_request(request: pb::AlarmRequest) -> Result<kv::AlarmRequest, Status> {
    use pb::alarm_request::AlarmAction;
    let action = match AlarmAction::try_from(request.action) {
        Ok(AlarmAction::Get) => kv::AlarmAction::Get,
        Ok(AlarmAction::Activate) => kv::AlarmAction::Activate,
        Ok(AlarmAction::Deactivate) => kv::AlarmAction::Deactivate,
        Err(_) => return Err(invalid_argument("etcdserver: invalid alarm action")),
    };
    Ok(kv::AlarmRequest {
        action,
        member_id: request.member_id,
        alarm: alarm_type(request.alarm),
    })
}

/// `NONE` (0) names no alarm in particular: every alarm, for a listing.
fn alarm_type(alarm: i32) -> Option<kv::AlarmType> {
    match pb::AlarmType::try_from(alarm) {
        Ok(pb::AlarmType::Nospace) => Some(kv::AlarmType::NoSpace),
        Ok(pb::AlarmType::Corrupt) => Some(kv::AlarmType::Corrupt),
        _ => None,
    }
}

// ----- responses -----

pub fn range_response(response: kv::RangeResponse) -> pb::RangeResponse {
    pb::RangeResponse {
        header: header(response.header),
        kvs: response.kvs.into_iter().map(key_value).collect(),
        more: response.more,
        count: response.count,
    }
}

pub fn put_response(response: kv::PutResponse) -> pb::PutResponse {
    pb::PutResponse {
        header: header(response.header),
        prev_kv: response.prev_kv.map(key_value),
    }
}

pub fn delete_response(response: kv::DeleteRangeResponse) -> pb::DeleteRangeResponse {
    pb::DeleteRangeResponse {
        header: header(response.header),
        deleted: response.deleted,
        prev_kvs: response.prev_kvs.into_iter().map(key_value).collect(),
    }
}

pub fn txn_response(response: kv::TxnResponse) -> pb::TxnResponse {
    pb::TxnResponse {
        header: header(response.header),
        succeeded: response.succeeded,
        responses: response.responses.into_iter().map(response_op).collect(),
    }
}

fn response_op(op: kv::ResponseOp) -> pb::ResponseOp {
    use pb::response_op::Response;
    let response = match op {
        kv::ResponseOp::Range(range) => Response::ResponseRange(pb::RangeResponse {
            header: inner_header(range.header),
            ..range_response(range)
        }),
        kv::ResponseOp::Put(put) => Response::ResponsePut(pb::PutResponse {
            header: inner_header(put.header),
            ..put_response(put)
        }),
        kv::ResponseOp::DeleteRange(delete) => {
            Response::ResponseDeleteRange(pb::DeleteRangeResponse {
                header: inner_header(delete.header),
                ..delete_response(delete)
            })
        }
        kv::ResponseOp::Txn(txn) => Response::ResponseTxn(pb::TxnResponse {
            header: inner_header(txn.header),
            ..txn_response(txn)
        }),
    };
    pb::ResponseOp {
        response: Some(response),
    }
}

pub fn event(event: kv::Event) -> mvccpb::Event {
    let kind = match event.kind {
        kv::EventKind::Put => mvccpb::event::EventType::Put,
        kv::EventKind::Delete => mvccpb::event::EventType::Delete,
    };
    mvccpb::Event {
        r#type: kind as i32,
        kv: Some(key_value(event.kv)),
        prev_kv: event.prev_kv.map(key_value),
    }
}

pub fn watch_response(response: kv::WatchResponse) -> pb::WatchResponse {
    pb::WatchResponse {
        header: header(response.header),
        watch_id: response.watch_id,
        created: response.created,
        canceled: response.canceled,
        compact_revision: response.compact_revision,
        cancel_reason: response.cancel_reason,
        fragment: false,
        events: response.events.into_iter().map(event).collect(),
    }
}

pub fn alarm_member(alarm: kv::AlarmMember) -> pb::AlarmMember {
    pb::AlarmMember {
        member_id: alarm.member_id,
        alarm: match alarm.alarm {
            kv::AlarmType::NoSpace => pb::AlarmType::Nospace,
            kv::AlarmType::Corrupt => pb::AlarmType::Corrupt,
        } as i32,
    }
}
