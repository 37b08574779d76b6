//! A member's state machine driven directly, without Raft: entries are applied with rising log
//! indexes and notifications are collected, so tests read like a sequence of client calls.
#![allow(dead_code)]

use detcd_core::io::{ClientId, RequestId};
use detcd_core::kv::*;
use detcd_core::state_machine::{Notifications, StateMachine};
use detcd_core::time::Instant;

#[derive(Debug)]
pub struct Harness {
    pub kv: KvStore,
    pub index: u64,
    pub notified: Notifications<Response>,
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new(KvConfig::default())
    }
}

impl Harness {
    pub fn new(config: KvConfig) -> Harness {
        Harness {
            kv: KvStore::new(config),
            index: 0,
            notified: Vec::new(),
        }
    }

    /// Apply `request` as the next committed entry.
    pub fn apply(&mut self, request: Request) -> Response {
        self.index += 1;
        self.kv.apply(self.index, &request, &mut self.notified)
    }

    /// Serve `request` on this member (not leading) at time zero.
    pub fn serve(
        &mut self,
        client: ClientId,
        request_id: RequestId,
        request: Request,
    ) -> Option<Response> {
        self.kv.serve(
            Instant::ZERO,
            client,
            request_id,
            &request,
            false,
            &mut self.notified,
        )
    }

    pub fn take_notified(&mut self) -> Notifications<Response> {
        std::mem::take(&mut self.notified)
    }

    pub fn put(&mut self, key: &str, value: &str) -> PutResponse {
        match self.apply(put(key, value)) {
            Response::Put(response) => response,
            other => panic!("put failed: {other:?}"),
        }
    }

    pub fn delete(&mut self, key: &str, range_end: &str) -> DeleteRangeResponse {
        let request = DeleteRangeRequest {
            key: key.into(),
            range_end: range_end.into(),
            prev_kv: true,
        };
        match self.apply(Request::DeleteRange(request)) {
            Response::DeleteRange(response) => response,
            other => panic!("delete failed: {other:?}"),
        }
    }

    pub fn range(&mut self, request: RangeRequest) -> Response {
        self.serve(0, 0, Request::Range(request))
            .expect("a range is answered at once")
    }

    /// The range's keys, values and revisions, or panic on an error.
    pub fn range_ok(&mut self, request: RangeRequest) -> RangeResponse {
        match self.range(request) {
            Response::Range(response) => response,
            other => panic!("range failed: {other:?}"),
        }
    }

    pub fn get(&mut self, key: &str) -> Option<KeyValue> {
        self.range_ok(RangeRequest {
            key: key.into(),
            ..RangeRequest::default()
        })
        .kvs
        .pop()
    }

    pub fn revision(&self) -> i64 {
        self.kv.store().current_revision()
    }
}

pub fn put(key: &str, value: &str) -> Request {
    Request::Put(PutRequest {
        key: key.into(),
        value: value.into(),
        ..PutRequest::default()
    })
}

pub fn put_op(key: &str, value: &str) -> RequestOp {
    RequestOp::Put(PutRequest {
        key: key.into(),
        value: value.into(),
        ..PutRequest::default()
    })
}

pub fn delete_op(key: &str, range_end: &str) -> RequestOp {
    RequestOp::DeleteRange(DeleteRangeRequest {
        key: key.into(),
        range_end: range_end.into(),
        prev_kv: false,
    })
}

pub fn range_op(key: &str, range_end: &str) -> RequestOp {
    RequestOp::Range(RangeRequest {
        key: key.into(),
        range_end: range_end.into(),
        ..RangeRequest::default()
    })
}

pub fn compare(key: &str, result: CompareResult, target: CompareTarget) -> Compare {
    Compare {
        result,
        target,
        key: key.into(),
        range_end: Vec::new(),
    }
}

/// The error of `response`, or panic.
pub fn error(response: Response) -> KvError {
    match response {
        Response::Error(error) => error,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// The keys of `kvs`, as strings.
pub fn keys(kvs: &[KeyValue]) -> Vec<String> {
    kvs.iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect()
}

/// The watch responses among `notified`.
pub fn watch_responses(notified: &Notifications<Response>) -> Vec<WatchResponse> {
    notified
        .iter()
        .filter_map(|(_, _, response)| match response {
            Response::Watch(watch) => Some(watch.clone()),
            _ => None,
        })
        .collect()
}
