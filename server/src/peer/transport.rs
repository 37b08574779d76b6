//! The sending side: a bounded queue and a task per peer, which keeps a stream open to the peer,
//! sends snapshots in pieces on calls of their own, and measures the round trip.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use detcd_core::NodeId;
use detcd_core::raft::{Message, MessageBody};
use detcd_proto::detcdpeerpb::peer_client::PeerClient;
use detcd_proto::detcdpeerpb::{Envelope, PingRequest, SnapshotChunk};
use futures::StreamExt as _;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use super::connect::{ClientTls, connect};
use crate::metrics::PeerMetrics;

/// Messages one peer may have waiting, at most; beyond it they are dropped (Raft copes).
const PEER_QUEUE_MAX: usize = 4096;
/// A snapshot goes in pieces of this size.
const SNAPSHOT_CHUNK_BYTES: usize = 1024 * 1024;
/// Waits between failed connections: doubling from the first to the last.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// How often the round trip to a connected peer is measured (etcd probes every few seconds).
const PING_INTERVAL: Duration = Duration::from_secs(4);

/// What a member answers a stream from a member the cluster removed (etcd: 410 "removed member").
pub const REMOVED: &str = "removed member";

/// Where each peer listens, as the replicated member list says.
pub type Peers = BTreeMap<NodeId, Vec<String>>;

/// Since when each reachable peer has been reachable (etcd's `ActiveSince`): the strict
/// reconfiguration check reads it before removing a member.
#[derive(Clone, Debug, Default)]
pub struct PeerHealth(Arc<Mutex<BTreeMap<NodeId, Instant>>>);

impl PeerHealth {
    /// Since when `peer` has been reachable; `None` while it is not.
    pub fn active_since(&self, peer: NodeId) -> Option<Instant> {
        self.lock().get(&peer).copied()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<NodeId, Instant>> {
        // A panic elsewhere cannot leave the map half-written: each change is one insert/remove.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn reachable(&self, peer: NodeId) {
        self.lock().entry(peer).or_insert_with(Instant::now);
    }

    fn unreachable(&self, peer: NodeId) {
        self.lock().remove(&peer);
    }
}

/// Who sends, to which cluster, how: shared by every peer's task.
#[derive(Clone, Debug)]
struct Context {
    id: NodeId,
    cluster_id: u64,
    tls: ClientTls,
    metrics: PeerMetrics,
    health: PeerHealth,
    /// Raised when a peer refuses this member as removed from the cluster.
    removed: Arc<Notify>,
}

/// The member's senders, one per peer.
#[derive(Debug)]
pub struct PeerTransport {
    context: Context,
    senders: BTreeMap<NodeId, Sender>,
}

#[derive(Debug)]
enum Outgoing {
    Envelope(Envelope),
    /// An InstallSnapshot, sent in pieces on a call of its own.
    Snapshot(Message),
}

#[derive(Debug)]
struct Sender {
    urls: Vec<String>,
    queue: mpsc::Sender<Outgoing>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PeerTransport {
    pub fn new(
        id: NodeId,
        cluster_id: u64,
        tls: ClientTls,
        metrics: PeerMetrics,
        health: PeerHealth,
    ) -> PeerTransport {
        let context = Context {
            id,
            cluster_id,
            tls,
            metrics,
            health,
            removed: Arc::new(Notify::new()),
        };
        PeerTransport {
            context,
            senders: BTreeMap::new(),
        }
    }

    /// Follow the member list: a sender for every other member with URLs, none for members gone,
    /// a new connection for a member whose URLs changed.
    pub fn set_peers(&mut self, peers: &Peers) {
        let health = &self.context.health;
        self.senders.retain(|id, sender| {
            let keep = peers.get(id).is_some_and(|urls| *urls == sender.urls);
            if !keep {
                health.unreachable(*id);
            }
            keep
        });
        for (&id, urls) in peers {
            if id == self.context.id || urls.is_empty() || self.senders.contains_key(&id) {
                continue;
            }
            let (queue, queued) = mpsc::channel(PEER_QUEUE_MAX);
            let task = tokio::spawn(send_to(self.context.clone(), id, urls.clone(), queued));
            let urls = urls.clone();
            self.senders.insert(id, Sender { urls, queue, task });
        }
    }

    /// Raised when a peer refuses this member as removed from the cluster.
    pub fn removed_signal(&self) -> Arc<Notify> {
        Arc::clone(&self.context.removed)
    }

    /// Queue `message` for `to`; drop it when the peer's queue is full or the peer is unknown.
    pub fn send(&mut self, to: NodeId, message: Message) {
        let Some(sender) = self.senders.get(&to) else {
            tracing::debug!(target: "rafthttp", to = %format!("{to:x}"), "no URL for peer; message dropped");
            return;
        };
        let outgoing = match message.body {
            MessageBody::InstallSnapshot { .. } => Outgoing::Snapshot(message),
            _ => Outgoing::Envelope(Envelope {
                cluster_id: self.context.cluster_id,
                from: self.context.id,
                to,
                message: postcard::to_allocvec(&message).expect("a Raft message encodes"),
            }),
        };
        if sender.queue.try_send(outgoing).is_err() {
            self.context.metrics.sent_failure(to);
            tracing::warn!(target: "rafthttp",
                "dropped internal Raft message to {to:x} since sending buffer is full (bad/overloaded network)");
        }
    }
}

/// Keep a stream open to the peer and move its queue onto it; reconnect with backoff.
async fn send_to(
    context: Context,
    to: NodeId,
    urls: Vec<String>,
    mut queued: mpsc::Receiver<Outgoing>,
) {
    let mut backoff = BACKOFF_MIN;
    let mut attempt = 0usize;
    loop {
        let url = &urls[attempt % urls.len()];
        attempt += 1;
        let channel = match connect(url, &context.tls).await {
            Ok(channel) => channel,
            Err(error) => {
                tracing::debug!(target: "rafthttp", peer = %format!("{to:x}"), %url, %error, "cannot reach peer");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        let delivered = stream_to(&context, to, channel, &mut queued).await;
        context.health.unreachable(to);
        let Some(delivered) = delivered else {
            return; // the transport let go of this peer
        };
        if delivered {
            backoff = BACKOFF_MIN;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Send the queue on one connection until it fails. Returns whether anything went through, or
/// `None` when the queue closed.
async fn stream_to(
    context: &Context,
    to: NodeId,
    channel: Channel,
    queued: &mut mpsc::Receiver<Outgoing>,
) -> Option<bool> {
    let (connection, outgoing) = mpsc::channel(64);
    let mut client = PeerClient::new(channel.clone());
    // The call runs on its own, so that waiting for room on the connection never stops it.
    let mut call = Abort(tokio::spawn(async move {
        client.stream(ReceiverStream::new(outgoing)).await
    }));
    let _pings = Abort(tokio::spawn(ping(context.clone(), to, channel.clone())));
    let mut snapshot: Option<Abort<()>> = None;
    let mut delivered = false;
    loop {
        tokio::select! {
            outgoing = queued.recv() => match outgoing {
                // A message waits for room on the connection; the queue behind it fills and
                // drops meanwhile.
                Some(Outgoing::Envelope(envelope)) => {
                    let bytes = envelope.message.len() as u64;
                    if connection.send(envelope).await.is_err() {
                        context.metrics.sent_failure(to);
                        return Some(delivered);
                    }
                    context.metrics.sent_bytes(to, bytes);
                    delivered = true;
                }
                Some(Outgoing::Snapshot(message)) => {
                    if snapshot.as_ref().is_some_and(|task| !task.0.is_finished()) {
                        // One snapshot at a time; the leader sends another if this one is lost.
                        tracing::debug!(target: "rafthttp", "a snapshot to {to:x} is still on its way; dropped another");
                        continue;
                    }
                    let send = send_snapshot(context.clone(), to, channel.clone(), message);
                    snapshot = Some(Abort(tokio::spawn(send)));
                }
                None => return None,
            },
            result = &mut call.0 => {
                if let Ok(Err(status)) = result {
                    if status.code() == tonic::Code::PermissionDenied && status.message() == REMOVED {
                        context.removed.notify_one();
                    }
                    tracing::debug!(target: "rafthttp", peer = %format!("{to:x}"), %status, "stream to peer ended");
                }
                return Some(delivered);
            }
        }
    }
}

/// A task that stops when its handle is dropped.
struct Abort<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for Abort<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Measure the round trip to the peer now and then; a peer that answers is reachable.
async fn ping(context: Context, to: NodeId, channel: Channel) {
    let mut client = PeerClient::new(channel);
    loop {
        let start = Instant::now();
        let answered = tokio::time::timeout(PING_INTERVAL, client.ping(PingRequest {})).await;
        match answered {
            Ok(Ok(_)) => {
                context.metrics.round_trip(to, start.elapsed());
                context.health.reachable(to);
            }
            _ => context.health.unreachable(to),
        }
        tokio::time::sleep(PING_INTERVAL).await;
    }
}

/// Send an InstallSnapshot in pieces: the message without its data first, then the data
/// [`SNAPSHOT_CHUNK_BYTES`] at a time, so no piece is ever the size of the whole state.
async fn send_snapshot(context: Context, to: NodeId, channel: Channel, mut message: Message) {
    let MessageBody::InstallSnapshot { snapshot } = &mut message.body else {
        unreachable!("only InstallSnapshot messages are sent as snapshots");
    };
    let data = Arc::new(std::mem::take(&mut snapshot.data));
    let (index, size) = (snapshot.index, data.len());
    let header = postcard::to_allocvec(&message).expect("a Raft message encodes");
    let pieces = data.len().div_ceil(SNAPSHOT_CHUNK_BYTES).max(1);
    let (cluster_id, from) = (context.cluster_id, context.id);
    let chunks = futures::stream::iter(0..pieces).map({
        let data = Arc::clone(&data);
        move |piece| {
            let start = piece * SNAPSHOT_CHUNK_BYTES;
            let end = (start + SNAPSHOT_CHUNK_BYTES).min(data.len());
            SnapshotChunk {
                cluster_id,
                from,
                to,
                message: if piece == 0 {
                    header.clone()
                } else {
                    Vec::new()
                },
                data: data[start..end].to_vec(),
                last: piece + 1 == pieces,
            }
        }
    });
    tracing::info!(target: "rafthttp", "start to send database snapshot [index: {index}, to: {to:x}, size: {size} bytes]");
    let started = Instant::now();
    match PeerClient::new(channel).snapshot(chunks).await {
        Ok(_) => {
            context.metrics.sent_bytes(to, size as u64);
            context.metrics.snapshot_sent(to, started.elapsed());
            tracing::info!(target: "rafthttp", "sent database snapshot to writer [{size} bytes] to {to:x}");
        }
        Err(status) => {
            context.metrics.sent_failure(to);
            tracing::warn!(target: "rafthttp", "database snapshot [index: {index}, to: {to:x}] failed to be sent out: {}", status.message());
        }
    }
}
