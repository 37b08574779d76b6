//! From the node's etcd types to the checker's history format.
//!
//! The node speaks bytes; the history speaks UTF-8 text. The workload only writes ASCII keys and
//! values, so the conversion is exact for everything it produces; anything else is converted
//! lossily rather than refused, because a history with a replacement character still says more
//! than a crashed run. Only the requests the workload issues have a history form: converting any
//! other request is a programmer error and panics, naming the request.

use detcd_checker::history::{
    Compare, CompareResult, CompareTarget, EventType, HistoryRecord, KeyValue, Outcome, Request,
    Response, ResponseHeader, WatchEvent, WatchFilter,
};
use detcd_core::kv;

/// The history form of a request the workload sent.
pub fn request(request: &kv::Request) -> Request {
    match request {
        kv::Request::Range(range) => range_request(range),
        kv::Request::Put(put) => put_request(put),
        kv::Request::DeleteRange(delete) => delete_request(delete),
        kv::Request::Txn(txn) => txn_request(txn),
        kv::Request::Compact(compact) => Request::Compact {
            revision: compact.revision,
        },
        kv::Request::LeaseGrant(grant) => Request::LeaseGrant {
            id: grant.id,
            ttl: grant.ttl_secs,
        },
        kv::Request::LeaseRevoke(revoke) => Request::LeaseRevoke { id: revoke.id },
        kv::Request::LeaseKeepAlive(keep_alive) => Request::LeaseKeepAlive { id: keep_alive.id },
        kv::Request::Watch(kv::WatchRequest::Create(create)) => watch_request(create),
        other => panic!("the history format has no record for {other:?}"),
    }
}

fn range_request(range: &kv::RangeRequest) -> Request {
    // The history has no sorting or revision filters; dropping them would misstate the request.
    assert!(
        range.sort_order == kv::SortOrder::None
            && range.sort_target == kv::SortTarget::Key
            && range.min_mod_revision == 0
            && range.max_mod_revision == 0
            && range.min_create_revision == 0
            && range.max_create_revision == 0,
        "the history format cannot record sorted or filtered ranges: {range:?}"
    );
    Request::Range {
        key: text(&range.key),
        range_end: text(&range.range_end),
        revision: range.revision,
        limit: range.limit,
        keys_only: range.keys_only,
        count_only: range.count_only,
        serializable: range.serializable,
    }
}

fn put_request(put: &kv::PutRequest) -> Request {
    assert!(
        !put.ignore_value && !put.ignore_lease,
        "the history format cannot record puts that keep the value or lease: {put:?}"
    );
    Request::Put {
        key: text(&put.key),
        value: text(&put.value),
        lease: put.lease,
        prev_kv: put.prev_kv,
    }
}

fn delete_request(delete: &kv::DeleteRangeRequest) -> Request {
    Request::DeleteRange {
        key: text(&delete.key),
        range_end: text(&delete.range_end),
        prev_kv: delete.prev_kv,
    }
}

fn txn_request(txn: &kv::TxnRequest) -> Request {
    let branch = |ops: &[kv::RequestOp]| ops.iter().map(request_op).collect();
    Request::Txn {
        compares: txn.compare.iter().map(compare).collect(),
        success: branch(&txn.success),
        failure: branch(&txn.failure),
    }
}

fn request_op(op: &kv::RequestOp) -> Request {
    match op {
        kv::RequestOp::Range(range) => range_request(range),
        kv::RequestOp::Put(put) => put_request(put),
        kv::RequestOp::DeleteRange(delete) => delete_request(delete),
        kv::RequestOp::Txn(txn) => txn_request(txn),
    }
}

fn compare(compare: &kv::Compare) -> Compare {
    Compare {
        key: text(&compare.key),
        range_end: text(&compare.range_end),
        target: match &compare.target {
            kv::CompareTarget::Version(version) => CompareTarget::Version(*version),
            kv::CompareTarget::Create(revision) => CompareTarget::CreateRevision(*revision),
            kv::CompareTarget::Mod(revision) => CompareTarget::ModRevision(*revision),
            kv::CompareTarget::Value(value) => CompareTarget::Value(text(value)),
            kv::CompareTarget::Lease(lease) => CompareTarget::Lease(*lease),
        },
        result: match compare.result {
            kv::CompareResult::Equal => CompareResult::Equal,
            kv::CompareResult::Greater => CompareResult::Greater,
            kv::CompareResult::Less => CompareResult::Less,
            kv::CompareResult::NotEqual => CompareResult::NotEqual,
        },
    }
}

fn watch_request(create: &kv::WatchCreateRequest) -> Request {
    Request::Watch {
        key: text(&create.key),
        range_end: text(&create.range_end),
        start_revision: create.start_revision,
        prev_kv: create.prev_kv,
        filters: create
            .filters
            .iter()
            .map(|filter| match filter {
                kv::WatchFilter::NoPut => WatchFilter::NoPut,
                kv::WatchFilter::NoDelete => WatchFilter::NoDelete,
            })
            .collect(),
    }
}

/// What a request's first response says: an error with etcd's exact text, a refused watch
/// (created and canceled at once, with the server's reason), or the converted response.
pub fn outcome(response: &kv::Response) -> Outcome {
    match response {
        kv::Response::Error(error) => Outcome::Error {
            message: error.message().to_string(),
        },
        kv::Response::Watch(watch) if watch.canceled => Outcome::Error {
            message: match watch.cancel_reason.as_str() {
                "" => "watch canceled".to_string(),
                reason => reason.to_string(),
            },
        },
        other => Outcome::Ok(self::response(other)),
    }
}

/// The history form of a successful response to a request the workload sent.
pub fn response(response: &kv::Response) -> Response {
    match response {
        kv::Response::Range(range) => range_response(range),
        kv::Response::Put(put) => put_response(put),
        kv::Response::DeleteRange(delete) => delete_response(delete),
        kv::Response::Txn(txn) => txn_response(txn),
        kv::Response::Compact(compact) => Response::Compact {
            header: header(&compact.header),
        },
        kv::Response::LeaseGrant(grant) => Response::LeaseGrant {
            header: header(&grant.header),
            id: grant.id,
            ttl: grant.ttl_secs,
        },
        kv::Response::LeaseRevoke(revoke) => Response::LeaseRevoke {
            header: header(&revoke.header),
        },
        kv::Response::LeaseKeepAlive(keep_alive) => Response::LeaseKeepAlive {
            header: header(&keep_alive.header),
            id: keep_alive.id,
            ttl: keep_alive.ttl_secs,
        },
        kv::Response::Watch(watch) => Response::Watch {
            header: header(&watch.header),
        },
        other => panic!("the history format has no response for {other:?}"),
    }
}

fn range_response(range: &kv::RangeResponse) -> Response {
    Response::Range {
        header: header(&range.header),
        kvs: range.kvs.iter().map(key_value).collect(),
        count: range.count,
        more: range.more,
    }
}

fn put_response(put: &kv::PutResponse) -> Response {
    Response::Put {
        header: header(&put.header),
        prev_kv: put.prev_kv.as_ref().map(key_value),
    }
}

fn delete_response(delete: &kv::DeleteRangeResponse) -> Response {
    Response::DeleteRange {
        header: header(&delete.header),
        deleted: delete.deleted,
        prev_kvs: delete.prev_kvs.iter().map(key_value).collect(),
    }
}

fn txn_response(txn: &kv::TxnResponse) -> Response {
    Response::Txn {
        header: header(&txn.header),
        succeeded: txn.succeeded,
        responses: txn
            .responses
            .iter()
            .map(|op| match op {
                kv::ResponseOp::Range(range) => range_response(range),
                kv::ResponseOp::Put(put) => put_response(put),
                kv::ResponseOp::DeleteRange(delete) => delete_response(delete),
                kv::ResponseOp::Txn(nested) => txn_response(nested),
            })
            .collect(),
    }
}

/// One response delivered on an open watch (events, or the server canceling it).
pub fn watch_record(
    client: u64,
    op: u64,
    time_ns: u64,
    watch: &kv::WatchResponse,
) -> HistoryRecord {
    HistoryRecord::Watch {
        client,
        op,
        time_ns,
        events: watch.events.iter().map(watch_event).collect(),
        canceled: watch.canceled,
        compact_revision: watch.compact_revision,
    }
}

fn watch_event(event: &kv::Event) -> WatchEvent {
    WatchEvent {
        event_type: match event.kind {
            kv::EventKind::Put => EventType::Put,
            kv::EventKind::Delete => EventType::Delete,
        },
        kv: key_value(&event.kv),
        prev_kv: event.prev_kv.as_ref().map(key_value),
    }
}

fn header(header: &kv::ResponseHeader) -> ResponseHeader {
    ResponseHeader {
        revision: header.revision,
    }
}

pub fn key_value(kv: &kv::KeyValue) -> KeyValue {
    KeyValue {
        key: text(&kv.key),
        value: text(&kv.value),
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        lease: kv.lease,
    }
}

/// Bytes as history text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
