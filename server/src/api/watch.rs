//! etcd's Watch service: one bidirectional stream carrying many watches, each created, canceled
//! and asked for progress over it; answers come back on the same stream, fragmented when a
//! watch asked for it and an answer is larger than a request may be.

use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use detcd_core::kv as core_kv;
use detcd_proto::etcdserverpb::{self as pb, watch_request::RequestUnion, watch_server::Watch};
use futures::{Stream, StreamExt};
use prost::Message as _;
use tonic::{Request, Response, Status, Streaming};

use super::convert;
use super::status::{kv_error, stopped};
use crate::member::{Member, StreamSender};

#[derive(Clone, Debug)]
pub struct WatchService {
    pub member: Member,
    /// Larger answers are split for watches that asked for fragments (etcd splits at the
    /// request size limit).
    pub max_request_bytes: usize,
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchResponse, Status>> + Send>>;

/// Which watches of a stream asked for fragmented answers: creates are answered in order, so
/// each `created` answer takes the flag of the oldest create not yet answered.
#[derive(Debug, Default)]
struct Fragmenting {
    creates: VecDeque<bool>,
    watches: BTreeMap<i64, bool>,
}

#[tonic::async_trait]
impl Watch for WatchService {
    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<Streaming<pb::WatchRequest>>,
    ) -> Result<Response<WatchStream>, Status> {
        let incoming = request.into_inner();
        let (sender, answers) = self.member.open_stream().await.map_err(stopped)?;
        let fragmenting = Arc::new(Mutex::new(Fragmenting::default()));
        tokio::spawn(forward(incoming, sender, Arc::clone(&fragmenting)));
        let limit = self.max_request_bytes;
        let responses = answers.flat_map(move |answer| {
            let responses = match answer {
                core_kv::Response::Watch(response) => {
                    let fragment = fragmenting
                        .lock()
                        .expect("no thread panics holding it")
                        .note(&response);
                    let response = convert::watch_response(response);
                    match fragment {
                        true => fragments(response, limit),
                        false => vec![response],
                    }
                    .into_iter()
                    .map(Ok)
                    .collect()
                }
                core_kv::Response::Error(error) => vec![Err(kv_error(&error))],
                other => panic!("a watch stream got {other:?}"),
            };
            futures::stream::iter(responses)
        });
        Ok(Response::new(Box::pin(responses)))
    }
}

impl Fragmenting {
    /// Remember what a created answer starts; say whether this answer's watch fragments.
    fn note(&mut self, response: &core_kv::WatchResponse) -> bool {
        if response.created {
            let fragment = self.creates.pop_front().unwrap_or(false);
            self.watches.insert(response.watch_id, fragment);
        }
        let fragment = self
            .watches
            .get(&response.watch_id)
            .copied()
            .unwrap_or(false);
        if response.canceled {
            self.watches.remove(&response.watch_id);
        }
        fragment
    }
}

/// The client's requests, into the member, until the client's side ends.
async fn forward(
    mut incoming: Streaming<pb::WatchRequest>,
    sender: StreamSender,
    fragmenting: Arc<Mutex<Fragmenting>>,
) {
    while let Some(Ok(request)) = incoming.next().await {
        let request = match request.request_union {
            Some(RequestUnion::CreateRequest(create)) => {
                fragmenting
                    .lock()
                    .expect("no thread panics holding it")
                    .creates
                    .push_back(create.fragment);
                core_kv::WatchRequest::Create(convert::watch_create(create))
            }
            Some(RequestUnion::CancelRequest(cancel)) => core_kv::WatchRequest::Cancel {
                watch_id: cancel.watch_id,
            },
            Some(RequestUnion::ProgressRequest(_)) => core_kv::WatchRequest::Progress,
            None => continue,
        };
        if sender.send(core_kv::Request::Watch(request)).await.is_err() {
            return;
        }
    }
}

/// Split an answer whose events exceed `limit` bytes into answers of at most `limit` bytes of
/// events each (at least one event each), all but the last marked `fragment`.
fn fragments(response: pb::WatchResponse, limit: usize) -> Vec<pb::WatchResponse> {
    if response.encoded_len() <= limit || response.events.len() < 2 {
        return vec![response];
    }
    let mut parts = Vec::new();
    let mut events = Vec::new();
    let mut size = 0;
    for event in response.events.iter().cloned() {
        let event_size = event.encoded_len();
        if !events.is_empty() && size + event_size > limit {
            parts.push(std::mem::take(&mut events));
            size = 0;
        }
        size += event_size;
        events.push(event);
    }
    parts.push(events);
    let count = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(index, events)| pb::WatchResponse {
            events,
            fragment: index + 1 < count,
            ..response.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use detcd_proto::mvccpb;

    // An answer larger than the limit is cut into fragments under it, every one but the last
    // marked, and no event is lost or reordered.
    #[test]
    fn large_answers_are_fragmented() {
        let event = |n: u8| mvccpb::Event {
            kv: Some(mvccpb::KeyValue {
                key: vec![n],
                value: vec![0; 100],
                ..mvccpb::KeyValue::default()
            }),
            ..mvccpb::Event::default()
        };
        let response = pb::WatchResponse {
            watch_id: 3,
            events: (0..10).map(event).collect(),
            ..pb::WatchResponse::default()
        };
        let parts = fragments(response.clone(), 250);
        assert!(parts.len() > 1);
        assert!(parts[..parts.len() - 1].iter().all(|part| part.fragment));
        assert!(!parts.last().unwrap().fragment);
        let events: Vec<_> = parts.iter().flat_map(|part| part.events.clone()).collect();
        assert_eq!(events, response.events);
        assert_eq!(fragments(response, 1 << 20).len(), 1);
    }
}
