//! Watch: one bidirectional stream carrying many watches.

use std::time::Duration;

use detcd_proto::etcdserverpb::watch_create_request::FilterType;
use detcd_proto::etcdserverpb::watch_request::RequestUnion;
use detcd_proto::etcdserverpb::{
    CompactionRequest, DeleteRangeRequest, WatchCancelRequest, WatchCreateRequest,
    WatchProgressRequest, WatchRequest, WatchResponse,
};
use detcd_proto::mvccpb::event::EventType;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

use crate::common::{Server, put};

/// A watch stream: requests in, responses out.
struct Stream {
    requests: mpsc::Sender<WatchRequest>,
    responses: Streaming<WatchResponse>,
}

impl Stream {
    async fn open(server: &Server) -> Stream {
        let (requests, receiver) = mpsc::channel(16);
        let responses = server
            .watch()
            .await
            .watch(ReceiverStream::new(receiver))
            .await
            .unwrap()
            .into_inner();
        Stream {
            requests,
            responses,
        }
    }

    async fn send(&self, request: RequestUnion) {
        let request = WatchRequest {
            request_union: Some(request),
        };
        self.requests.send(request).await.unwrap();
    }

    async fn create(&self, create: WatchCreateRequest) {
        self.send(RequestUnion::CreateRequest(create)).await;
    }

    async fn next(&mut self) -> WatchResponse {
        tokio::time::timeout(Duration::from_secs(5), self.responses.next())
            .await
            .expect("a response within 5 s")
            .expect("the stream is open")
            .expect("no error")
    }

    /// Responses until `count` events have come.
    async fn events(&mut self, count: usize) -> Vec<(i64, EventType, Vec<u8>, Vec<u8>)> {
        let mut events = Vec::new();
        while events.len() < count {
            let response = self.next().await;
            for event in response.events {
                let kind = event.r#type();
                let kv = event.kv.unwrap();
                events.push((response.watch_id, kind, kv.key, kv.value));
            }
        }
        events
    }
}

fn create(key: &str) -> WatchCreateRequest {
    WatchCreateRequest {
        key: key.into(),
        ..WatchCreateRequest::default()
    }
}

/// A watch from a past revision replays history before streaming new changes, with the key's
/// previous version when asked; the created response comes first, naming the watch.
#[tokio::test]
async fn replays_history_then_streams() {
    let server = Server::start().await;
    let mut kv = server.kv().await;
    kv.put(put("a", "1")).await.unwrap();
    kv.put(put("a", "2")).await.unwrap();
    let mut stream = Stream::open(&server).await;
    stream
        .create(WatchCreateRequest {
            start_revision: 1,
            prev_kv: true,
            ..create("a")
        })
        .await;
    let created = stream.next().await;
    assert!(created.created && created.events.is_empty());
    assert_eq!(created.watch_id, 0);
    let replay = stream.events(2).await;
    assert_eq!(replay[0].3, b"1");
    assert_eq!(replay[1].3, b"2");
    kv.put(put("a", "3")).await.unwrap();
    let response = stream.next().await;
    let event = &response.events[0];
    assert_eq!(event.kv.as_ref().unwrap().value, b"3");
    assert_eq!(event.prev_kv.as_ref().unwrap().value, b"2");
}

/// Several watches share a stream: client-chosen ids, filters, and cancel (answered with a
/// canceled response for that id), with each event delivered to the watches it concerns.
#[tokio::test]
async fn many_watches_on_one_stream() {
    let server = Server::start().await;
    let mut kv = server.kv().await;
    let mut stream = Stream::open(&server).await;
    stream
        .create(WatchCreateRequest {
            watch_id: 7,
            ..create("x")
        })
        .await;
    assert_eq!(stream.next().await.watch_id, 7);
    let no_puts = WatchCreateRequest {
        watch_id: 9,
        filters: vec![FilterType::Noput as i32],
        ..create("y")
    };
    stream.create(no_puts).await;
    assert_eq!(stream.next().await.watch_id, 9);
    stream
        .send(RequestUnion::CancelRequest(WatchCancelRequest {
            watch_id: 7,
        }))
        .await;
    let canceled = stream.next().await;
    assert!(canceled.canceled && canceled.watch_id == 7);
    kv.put(put("x", "1")).await.unwrap();
    kv.put(put("y", "1")).await.unwrap();
    kv.delete_range(DeleteRangeRequest {
        key: b"y".to_vec(),
        ..DeleteRangeRequest::default()
    })
    .await
    .unwrap();
    let events = stream.events(1).await;
    assert_eq!(events, [(9, EventType::Delete, b"y".to_vec(), Vec::new())]);
}

/// A watch that starts below the compaction point is canceled with the compact revision, so the
/// client knows what it missed.
#[tokio::test]
async fn canceled_below_the_compaction_point() {
    let server = Server::start().await;
    let mut kv = server.kv().await;
    for value in ["1", "2", "3"] {
        kv.put(put("c", value)).await.unwrap();
    }
    kv.compact(CompactionRequest {
        revision: 3,
        physical: true,
    })
    .await
    .unwrap();
    let mut stream = Stream::open(&server).await;
    stream
        .create(WatchCreateRequest {
            start_revision: 1,
            ..create("c")
        })
        .await;
    let mut response = stream.next().await;
    if response.created && !response.canceled {
        response = stream.next().await;
    }
    assert!(response.canceled);
    assert_eq!(response.compact_revision, 3);
}

/// A progress request is answered with the store's revision under watch id -1.
#[tokio::test]
async fn progress_on_request() {
    let server = Server::start().await;
    let mut kv = server.kv().await;
    kv.put(put("other", "1")).await.unwrap();
    let mut stream = Stream::open(&server).await;
    stream.create(create("p")).await;
    stream.next().await;
    stream
        .send(RequestUnion::ProgressRequest(WatchProgressRequest {}))
        .await;
    let progress = stream.next().await;
    assert_eq!(progress.watch_id, -1);
    assert_eq!(progress.header.unwrap().revision, 2);
}

/// A watch that asked for fragments gets an answer larger than a request may be (here
/// --max-request-bytes 16384) cut into fragments, all but the last marked; none is lost.
#[tokio::test]
async fn large_answers_come_in_fragments() {
    let server = Server::start_with(&["--max-request-bytes", "16384"]).await;
    let mut kv = server.kv().await;
    for key in 0..40 {
        kv.put(put(&format!("k{key:03}"), &"v".repeat(1000)))
            .await
            .unwrap();
    }
    // Replaying the history sends the 40 events (40 kB) as one answer, cut into fragments.
    let mut stream = Stream::open(&server).await;
    let fragmented = WatchCreateRequest {
        range_end: b"l".to_vec(),
        start_revision: 1,
        fragment: true,
        ..create("k")
    };
    stream.create(fragmented).await;
    stream.next().await;
    let mut events = 0;
    let mut fragments = 0;
    while events < 40 {
        let response = stream.next().await;
        fragments += usize::from(response.fragment);
        events += response.events.len();
    }
    assert_eq!(events, 40);
    assert!(fragments >= 2, "{fragments} fragments");
}
