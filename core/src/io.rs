//! The calling contract shared by every sans-IO machine: inputs in, outputs drained.
//!
//! A driver (the simulator, the real server, a test network) owns all I/O. It calls
//! [`Machine::handle`] with one [`Input`], then calls [`Machine::poll_output`] until it returns
//! [`Output::Timeout`], which doubles as "nothing more to do; wake me at this time". Outputs must be
//! carried out in the order they are returned: a [`Output::Persist`] must be made durable before
//! the driver reports it with [`Input::Persisted`], and the machine itself holds back every message
//! that depends on an unpersisted write.

use serde::{Deserialize, Serialize};

use crate::raft::PersistBatch;
use crate::time::Instant;

/// A member of the cluster.
pub type NodeId = u64;
/// A client connection, as the driver numbers them.
pub type ClientId = u64;
/// A request on a client connection; the response carries the same id. The ids of one client
/// rise: the node applies a write at most once per (client, id) and skips a repeated one.
pub type RequestId = u64;

/// Identifies a [`PersistBatch`]; tokens rise by one per batch, and durability is reported for a
/// prefix: `Persisted { through: t }` means every batch up to and including `t` is durable.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct PersistToken(pub u64);

/// One input to a machine. Every input carries the driver's `now`.
#[derive(Clone, Debug)]
pub enum Input<M, Req> {
    /// A deadline returned by `Output::Timeout` has passed (or the driver simply woke it).
    Timeout { now: Instant },
    /// A message from a peer arrived.
    Message {
        now: Instant,
        from: NodeId,
        message: M,
    },
    /// A client request arrived.
    Request {
        now: Instant,
        client: ClientId,
        request: RequestId,
        body: Req,
    },
    /// Every persist batch through `through` is durable.
    Persisted { now: Instant, through: PersistToken },
    /// A client's connection closed; its streams (watches) end.
    ClientClosed { now: Instant, client: ClientId },
}

impl<M, Req> Input<M, Req> {
    pub fn now(&self) -> Instant {
        match self {
            Input::Timeout { now }
            | Input::Message { now, .. }
            | Input::Request { now, .. }
            | Input::Persisted { now, .. }
            | Input::ClientClosed { now, .. } => *now,
        }
    }
}

/// One output of a machine, drained with `poll_output` after every input.
#[derive(Clone, Debug)]
pub enum Output<M, Resp> {
    /// Write this batch durably, then report `Input::Persisted { through: batch.token }`.
    Persist(PersistBatch),
    /// Send a message to a peer. Delivery may fail; the protocol copes.
    Send { to: NodeId, message: M },
    /// Answer a client request (a watch answers many times with the same request id).
    Respond {
        client: ClientId,
        request: RequestId,
        body: Resp,
    },
    /// Nothing more to do now: call `handle(Input::Timeout)` at this time (or on any other input).
    Timeout(Instant),
}

/// A sans-IO state machine a driver can run: the detcd node, or a trivial machine for benchmarks.
pub trait Machine {
    type Message: Clone + std::fmt::Debug;
    type Request: Clone + std::fmt::Debug;
    type Response: Clone + std::fmt::Debug;

    fn handle(&mut self, input: Input<Self::Message, Self::Request>);
    fn poll_output(&mut self) -> Output<Self::Message, Self::Response>;
}
