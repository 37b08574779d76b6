//! The one task that owns the node: it takes inputs from two inboxes (clients' requests, and
//! peers' Raft messages), feeds them to the core with the current time through the core's drain
//! step, and carries out the outputs: messages go to the peers' send queues during the step,
//! persist batches to the storage writer and answers to the waiting request or stream after it,
//! and the deadline arms the one timer. No locks around the node; the rest of the server holds a
//! [`Member`] handle.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use detcd_core::io::{self, Driver, Halt};
use detcd_core::kv::{self, KvStore, MemberAttributes};
use detcd_core::raft::{Membership, Message, PersistBatch};
use detcd_core::{ClientId, Input, Instant, Node, NodeId, RequestId};
use tokio::sync::{mpsc, oneshot, watch};

use crate::peer::{PeerTransport, Peers};
use crate::storage_writer::{WriterEvent, WriterHandle};

/// The client id of every one-shot request: answers are told apart by request id alone.
const UNARY_CLIENT: ClientId = 0;
/// Answers one stream may have waiting for its client before the stream is closed as too slow.
pub const STREAM_BUFFER_MAX: usize = 4096;
/// Requests waiting for the member task, at most; senders wait beyond it.
const INBOX_MAX: usize = 16_384;
/// Raft messages from peers waiting for the member (each peer's stream waits when it is full).
const PEER_INBOX_MAX: usize = 4_096;

/// Who this member is, as fixed at start.
#[derive(Clone, Debug)]
pub struct MemberInfo {
    pub id: NodeId,
    pub cluster_id: u64,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
}

/// What the cluster knows of its members beyond their ids, as replicated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Members {
    /// Names and URLs, by id.
    pub attributes: BTreeMap<NodeId, MemberAttributes>,
    /// Members removed, whose ids never come back.
    pub removed: BTreeSet<NodeId>,
}

/// What the rest of the server may read of the node's state, as of its latest step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberState {
    pub leader: Option<NodeId>,
    pub term: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    pub membership: Membership,
    /// The store's size estimate, the figure the quota is checked against.
    pub db_size_bytes: u64,
    pub revision: i64,
    pub compact_revision: i64,
    /// Live keys.
    pub keys: u64,
    /// Puts and deletes this member applied, over its lifetime (etcd's mvcc counters).
    pub puts_applied: u64,
    pub deletes_applied: u64,
    pub no_space_alarm: bool,
    /// Leader changes this member has seen.
    pub leader_changes: u64,
    /// Names and URLs of the members, as replicated (shared: it rarely changes).
    pub members: Arc<Members>,
}

impl MemberState {
    pub fn is_learner(&self, id: NodeId) -> bool {
        self.membership.learners.contains(&id)
    }
}

/// A read of the node run on the member's task.
type Inspection = Box<dyn FnOnce(&Node<KvStore>) + Send>;

enum Command {
    Request {
        body: kv::Request,
        reply: oneshot::Sender<kv::Response>,
    },
    OpenStream {
        client: ClientId,
        answers: mpsc::Sender<kv::Response>,
    },
    StreamRequest {
        client: ClientId,
        body: kv::Request,
    },
    CloseStream {
        client: ClientId,
    },
    /// Read something of the node that its published state does not carry.
    Inspect(Inspection),
    /// Stop taking inputs, let the writer finish what it was given, then answer.
    Stop(oneshot::Sender<()>),
}

/// A handle on the member task, cheap to clone.
#[derive(Clone, Debug)]
pub struct Member {
    inbox: mpsc::Sender<Command>,
    /// Raft messages from peers have an inbox of their own, so that heartbeats and votes do
    /// not queue behind a backlog of client requests.
    peer_inbox: mpsc::Sender<(NodeId, Message)>,
    info: Arc<MemberInfo>,
    state: watch::Receiver<MemberState>,
    next_stream: Arc<AtomicU64>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

/// The sending half of a stream under one client id (a watch stream).
#[derive(Clone, Debug)]
pub struct StreamSender {
    client: ClientId,
    inbox: mpsc::Sender<Command>,
}

impl StreamSender {
    pub async fn send(&self, body: kv::Request) -> Result<(), MemberGone> {
        let client = self.client;
        self.inbox
            .send(Command::StreamRequest { client, body })
            .await
            .map_err(|_| MemberGone)
    }
}

/// The answers of a stream; dropping it closes the stream in the node (its watches end).
#[derive(Debug)]
pub struct StreamAnswers {
    client: ClientId,
    inbox: mpsc::Sender<Command>,
    answers: mpsc::Receiver<kv::Response>,
}

impl futures::Stream for StreamAnswers {
    type Item = kv::Response;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<kv::Response>> {
        self.answers.poll_recv(context)
    }
}

impl Drop for StreamAnswers {
    fn drop(&mut self) {
        let close = Command::CloseStream {
            client: self.client,
        };
        // A full inbox is a busy member: close the stream from a task rather than block here.
        if let Err(mpsc::error::TrySendError::Full(close)) = self.inbox.try_send(close) {
            let inbox = self.inbox.clone();
            tokio::spawn(async move {
                let _ = inbox.send(close).await;
            });
        }
    }
}

/// The member task has stopped (the server is shutting down).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberGone;

impl Member {
    pub fn info(&self) -> &MemberInfo {
        &self.info
    }

    /// The node's state as of its latest step.
    pub fn state(&self) -> MemberState {
        self.state.borrow().clone()
    }

    /// Wait until the node's state satisfies `ready` (e.g. a leader is known).
    pub async fn wait_for(&self, ready: impl Fn(&MemberState) -> bool) -> Result<(), MemberGone> {
        let mut state = self.state.clone();
        state.wait_for(|s| ready(s)).await.map_err(|_| MemberGone)?;
        Ok(())
    }

    /// Send one request and wait for its answer.
    pub async fn request(&self, body: kv::Request) -> Result<kv::Response, MemberGone> {
        let (reply, answer) = oneshot::channel();
        self.inbox
            .send(Command::Request { body, reply })
            .await
            .map_err(|_| MemberGone)?;
        answer.await.map_err(|_| MemberGone)
    }

    /// Whether this member is a learner of the configuration it has applied.
    pub fn is_learner(&self) -> bool {
        self.with_state(|state| state.is_learner(self.info.id))
    }

    /// Read the node's state as of its latest step without copying it.
    pub fn with_state<T>(&self, read: impl FnOnce(&MemberState) -> T) -> T {
        read(&self.state.borrow())
    }

    /// Hand the node a Raft message from a peer (waits while the member is busy).
    pub async fn deliver(&self, from: NodeId, message: Message) -> Result<(), MemberGone> {
        self.peer_inbox
            .send((from, message))
            .await
            .map_err(|_| MemberGone)
    }

    /// Read something of the node between two steps (e.g. a follower's progress, on the leader).
    pub async fn inspect<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Node<KvStore>) -> T + Send + 'static,
    ) -> Result<T, MemberGone> {
        let (reply, answer) = oneshot::channel();
        let inspect = Box::new(move |node: &Node<KvStore>| {
            let _ = reply.send(read(node));
        });
        self.inbox
            .send(Command::Inspect(inspect))
            .await
            .map_err(|_| MemberGone)?;
        answer.await.map_err(|_| MemberGone)
    }

    /// Stop the member: no more inputs; the writer finishes the writes it was given (the fsync in
    /// flight included) before this returns.
    pub async fn stop(&self) {
        let (done, stopped) = oneshot::channel();
        if self.inbox.send(Command::Stop(done)).await.is_ok() {
            let _ = stopped.await;
        }
    }

    /// Open a stream (a watch stream) under a client id of its own.
    pub async fn open_stream(&self) -> Result<(StreamSender, StreamAnswers), MemberGone> {
        let client = self.next_stream.fetch_add(1, Ordering::Relaxed);
        let (answers_in, answers) = mpsc::channel(STREAM_BUFFER_MAX);
        self.inbox
            .send(Command::OpenStream {
                client,
                answers: answers_in,
            })
            .await
            .map_err(|_| MemberGone)?;
        let inbox = self.inbox.clone();
        let sender = StreamSender {
            client,
            inbox: inbox.clone(),
        };
        let answers = StreamAnswers {
            client,
            inbox,
            answers,
        };
        Ok((sender, answers))
    }
}

/// The node and everything its outputs reach.
struct Task {
    node: Node<KvStore>,
    info: Arc<MemberInfo>,
    origin: tokio::time::Instant,
    writer: WriterHandle,
    outputs: Outputs,
    next_request: RequestId,
    waiting: BTreeMap<RequestId, oneshot::Sender<kv::Response>>,
    streams: BTreeMap<ClientId, mpsc::Sender<kv::Response>>,
    state: watch::Sender<MemberState>,
    leader_changes: u64,
    /// The member list as of the generation the store had when it was last read.
    members: (u64, Arc<Members>),
    /// Where to reach peers before the member list is known (a member joining a running
    /// cluster knows it only once the leader's snapshot arrives).
    initial_peers: Peers,
}

/// What one drain step output: messages go to the peers at once; batches and answers are
/// carried out once the step is over (when the node's term, which answers carry, is final).
#[derive(Debug)]
struct Outputs {
    batches: Vec<PersistBatch>,
    answers: Vec<(ClientId, RequestId, kv::Response)>,
    /// Messages go at once: a peer's queue never waits for fsync.
    transport: PeerTransport,
}

impl Driver<Node<KvStore>> for Outputs {
    fn persist(&mut self, batch: PersistBatch) {
        self.batches.push(batch);
    }

    fn send(&mut self, to: NodeId, message: Message) {
        self.transport.send(to, message);
    }

    fn respond(&mut self, client: ClientId, request: RequestId, body: kv::Response) {
        self.answers.push((client, request, body));
    }
}

/// Sleep until the node's `deadline`, in its time since `origin`; forever for `Instant::NEVER`.
async fn sleep_until(origin: tokio::time::Instant, deadline: Instant) {
    if deadline == Instant::NEVER {
        return std::future::pending().await;
    }
    tokio::time::sleep_until(origin + std::time::Duration::from_nanos(deadline.as_nanos())).await;
}

/// Start the member task on the current runtime; it runs until the returned handle and every
/// clone of it are dropped, or until the node halts or storage fails (then the process exits:
/// fail-stop). `initial_peers` reach the cluster until the replicated member list is known.
pub fn spawn(
    node: Node<KvStore>,
    info: MemberInfo,
    writer: WriterHandle,
    transport: PeerTransport,
    initial_peers: Peers,
) -> Member {
    let info = Arc::new(info);
    let (inbox, commands) = mpsc::channel(INBOX_MAX);
    let (peer_inbox, peer_messages) = mpsc::channel(PEER_INBOX_MAX);
    let (state_tx, state_rx) = watch::channel(MemberState::default());
    let mut task = Task {
        node,
        info: Arc::clone(&info),
        origin: tokio::time::Instant::now(),
        writer,
        outputs: Outputs {
            batches: Vec::new(),
            answers: Vec::new(),
            transport,
        },
        next_request: 1,
        waiting: BTreeMap::new(),
        streams: BTreeMap::new(),
        state: state_tx,
        leader_changes: 0,
        members: (u64::MAX, Arc::default()),
        initial_peers,
    };
    task.publish_state();
    tokio::spawn(async move {
        match task.run(commands, peer_messages).await {
            Ok(Ended::Stopped) => {}
            Ok(Ended::Removed) => {
                tracing::error!(target: "etcdserver", "the member has been permanently removed from the cluster");
                tracing::info!(target: "etcdserver", "the data-dir used by this member must be removed.");
                std::process::exit(0);
            }
            Err(halt) => {
                tracing::error!(error = %halt, "etcdserver: the member stopped");
                std::process::exit(1);
            }
        }
    });
    Member {
        inbox,
        peer_inbox,
        info,
        state: state_rx,
        next_stream: Arc::new(AtomicU64::new(UNARY_CLIENT + 1)),
    }
}

/// How the member task ended without failing.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The server stopped it.
    Stopped,
    /// The cluster removed this member: it stops for good (etcd exits 0 then).
    Removed,
}

impl Task {
    fn now(&self) -> Instant {
        let elapsed = tokio::time::Instant::now().duration_since(self.origin);
        Instant::from_nanos(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX))
    }

    async fn run(
        &mut self,
        mut commands: mpsc::Receiver<Command>,
        mut peer_messages: mpsc::Receiver<(NodeId, Message)>,
    ) -> Result<Ended, Halt> {
        let mut deadline = self.carry_out(None)?;
        let removed_by_peer = self.outputs.transport.removed_signal();
        // When this member applied its own removal: it goes on for ten heartbeats, as etcd
        // does, so that the others learn the removal is committed (a removed leader's last
        // heartbeats carry the commit) and its answer reaches the client that asked.
        let mut leave_at = None;
        loop {
            if leave_at.is_none() && self.members.1.removed.contains(&self.info.id) {
                let heartbeat = self.node.raft().config().heartbeat_interval;
                leave_at = Some(self.now() + 10 * heartbeat);
            }
            if leave_at.is_some_and(|at| self.now() >= at) {
                self.stop_writer().await?;
                return Ok(Ended::Removed);
            }
            let sleep = sleep_until(
                self.origin,
                leave_at.map_or(deadline, |at| deadline.min(at)),
            );
            let input = tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Stop(done)) => {
                        self.stop_writer().await?;
                        let _ = done.send(());
                        return Ok(Ended::Stopped);
                    }
                    Some(command) => self.command(command),
                    None => return Ok(Ended::Stopped), // every handle is gone
                },
                Some((from, message)) = peer_messages.recv() => {
                    Some(Input::Message { now: self.now(), from, message })
                }
                () = removed_by_peer.notified() => {
                    // A peer refused this member as removed: it missed its own removal.
                    self.stop_writer().await?;
                    return Ok(Ended::Removed);
                }
                event = self.writer.events.recv() => match event {
                    Some(WriterEvent::Durable(through)) => {
                        Some(Input::Persisted { now: self.now(), through })
                    }
                    Some(WriterEvent::Failed(error)) => {
                        return Err(Halt { reason: format!("storage failed: {error}") });
                    }
                    Some(WriterEvent::Stopped) | None => {
                        return Err(Halt { reason: "the storage writer stopped".into() });
                    }
                },
                () = sleep => Some(Input::Timeout { now: self.now() }),
            };
            if let Some(input) = input {
                deadline = self.carry_out(Some(input))?;
            }
        }
    }

    /// Wait for the writer to finish what it was given.
    async fn stop_writer(&mut self) -> Result<(), Halt> {
        self.writer.stop();
        while let Some(event) = self.writer.events.recv().await {
            match event {
                WriterEvent::Durable(_) => {}
                WriterEvent::Stopped => break,
                WriterEvent::Failed(error) => {
                    return Err(Halt {
                        reason: format!("storage failed: {error}"),
                    });
                }
            }
        }
        Ok(())
    }

    /// Turn a command into the node's input; `None` when there is nothing for the node.
    fn command(&mut self, command: Command) -> Option<Input<Message, kv::Request>> {
        let now = self.now();
        match command {
            Command::Request { body, reply } => {
                let request = self.next_request;
                self.next_request += 1;
                self.waiting.insert(request, reply);
                Some(Input::Request {
                    now,
                    client: UNARY_CLIENT,
                    request,
                    body,
                })
            }
            Command::OpenStream { client, answers } => {
                self.streams.insert(client, answers);
                None
            }
            Command::StreamRequest { client, body } => self
                .streams
                .contains_key(&client)
                .then_some(Input::Request {
                    now,
                    client,
                    request: 1,
                    body,
                }),
            Command::CloseStream { client } => {
                self.streams.remove(&client);
                Some(Input::ClientClosed { now, client })
            }
            Command::Inspect(read) => {
                read(&self.node);
                None
            }
            Command::Stop(_) => unreachable!("the run loop stops on Stop"),
        }
    }

    /// The drain step, then everything that follows it: batches to the writer, answers to their
    /// requests and streams, the state published. Returns the node's next deadline.
    fn carry_out(&mut self, input: Option<Input<Message, kv::Request>>) -> Result<Instant, Halt> {
        let mut deadline = match input {
            Some(input) => io::step(&mut self.node, input, &mut self.outputs),
            None => io::drain(&mut self.node, &mut self.outputs),
        }?;
        let batches = std::mem::take(&mut self.outputs.batches);
        if !batches.is_empty() {
            self.writer.write(batches)?;
        }
        let mut overflowed = Vec::new();
        for (client, request, body) in std::mem::take(&mut self.outputs.answers) {
            if !self.answer(client, request, body) {
                overflowed.push(client);
            }
        }
        for client in overflowed {
            tracing::warn!(
                client,
                "closing a watch stream whose client does not keep up"
            );
            let now = self.now();
            deadline = self.carry_out(Some(Input::ClientClosed { now, client }))?;
        }
        self.publish_state();
        Ok(deadline)
    }

    /// Hand an answer to whoever waits for it, with the header's ids and term filled in. False
    /// when a stream's client does not keep up, which closes the stream.
    fn answer(&mut self, client: ClientId, request: RequestId, mut body: kv::Response) -> bool {
        if let Some(header) = body.header_mut() {
            header.cluster_id = self.info.cluster_id;
            header.member_id = self.info.id;
            header.raft_term = self.node.raft().term();
        }
        if client == UNARY_CLIENT {
            if let Some(reply) = self.waiting.remove(&request) {
                // The caller may have given up (its client went away): nothing to do then.
                let _ = reply.send(body);
            }
            return true;
        }
        let Some(answers) = self.streams.get(&client) else {
            return true; // the stream closed: answers for it are dropped
        };
        if answers.try_send(body).is_err() {
            self.streams.remove(&client);
            return false;
        }
        true
    }

    /// Follow the replicated member list: the transport reaches every member at its peer URLs.
    fn follow_members(&mut self) {
        let store = self.node.state();
        if store.members_generation() == self.members.0 {
            return;
        }
        let members = Arc::new(Members {
            attributes: store.members().clone(),
            removed: store.removed_members().clone(),
        });
        let peers: Peers = match members.attributes.is_empty() {
            true => self.initial_peers.clone(),
            false => members
                .attributes
                .iter()
                .map(|(&id, attributes)| (id, attributes.peer_urls.clone()))
                .collect(),
        };
        self.outputs.transport.set_peers(&peers);
        self.members = (store.members_generation(), members);
    }

    fn publish_state(&mut self) {
        self.follow_members();
        let raft = self.node.raft();
        let store = self.node.state();
        let leader = raft.leader();
        let previous = self.state.borrow().leader;
        if leader.is_some() && leader != previous {
            self.leader_changes += 1;
        }
        let state = MemberState {
            leader,
            term: raft.term(),
            commit_index: raft.commit_index(),
            applied_index: raft.applied_index(),
            membership: raft.membership().clone(),
            db_size_bytes: store.size_bytes(),
            revision: store.store().current_revision(),
            compact_revision: store.store().compact_revision(),
            keys: store.counters().keys,
            puts_applied: store.counters().puts,
            deletes_applied: store.counters().deletes,
            no_space_alarm: store.no_space_alarm(),
            leader_changes: self.leader_changes,
            members: Arc::clone(&self.members.1),
        };
        self.state.send_if_modified(|current| {
            let changed = *current != state;
            *current = state;
            changed
        });
    }
}
