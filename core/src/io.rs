//! The calling contract shared by every sans-IO machine, and the one drain step every driver uses.
//!
//! A driver (the simulator, the test network, the real server) owns all I/O: sockets, disks,
//! clocks, timers. It hands a [`Machine`] one [`Input`] at a time and carries out what the machine
//! outputs, through [`step`] (or [`drain`] after a start), which calls the driver's [`Driver`]
//! methods and returns the machine's next deadline. The loop of every driver has this shape:
//!
//! ```
//! use detcd_core::io::{self, Driver, Input, Machine, PersistToken};
//! use detcd_core::raft::PersistBatch;
//! use detcd_core::{ClientId, Instant, NodeId, RequestId};
//!
//! /// A driver that writes nothing for real: every batch is durable at once.
//! struct Outputs<M: Machine> {
//!     sent: Vec<(NodeId, M::Message)>,
//!     answered: Vec<(ClientId, RequestId, M::Response)>,
//!     durable_through: Option<PersistToken>,
//! }
//!
//! impl<M: Machine> Driver<M> for Outputs<M> {
//!     fn persist(&mut self, batch: PersistBatch) {
//!         // Write the batch, in token order; fsync; then report the durable prefix.
//!         self.durable_through = Some(batch.token);
//!     }
//!     fn send(&mut self, to: NodeId, message: M::Message) {
//!         self.sent.push((to, message)); // may go at once: the machine held back what must wait
//!     }
//!     fn respond(&mut self, client: ClientId, request: RequestId, body: M::Response) {
//!         self.answered.push((client, request, body)); // likewise
//!     }
//! }
//!
//! fn run<M: Machine>(machine: &mut M, inputs: Vec<Input<M::Message, M::Request>>) {
//!     let mut outputs = Outputs { sent: vec![], answered: vec![], durable_through: None };
//!     for input in inputs {
//!         let now = input.now();
//!         let mut deadline = io::step(machine, input, &mut outputs).expect("not halted");
//!         // Durability is reported as an input of its own, like any other event.
//!         while let Some(through) = outputs.durable_through.take() {
//!             deadline = io::step(machine, Input::Persisted { now, through }, &mut outputs)
//!                 .expect("not halted");
//!         }
//!         // Sleep until `deadline` or the next event, then feed `Input::Timeout` or that event.
//!         let _ = deadline;
//!     }
//! }
//! ```
//!
//! The rules, for every driver:
//!
//! - **Drain after every input.** Outputs are carried out in the order the machine returns them,
//!   until it returns [`Output::Timeout`], which doubles as "nothing more to do; wake me at this
//!   time" (or at any earlier input). [`step`] and [`drain`] do exactly this, with the bound
//!   [`OUTPUTS_PER_INPUT_MAX`]: a machine past it is stuck in a loop, a programmer error.
//! - **Persist in token order, report a durable prefix.** Every [`Output::Persist`] batch is
//!   written after the batches before it; `Input::Persisted { through: t }` says every batch up
//!   to and including `t` is durable. Group commit is the driver's choice: write several batches,
//!   fsync once, report the last token.
//! - **Send and respond at once.** The machine itself holds back every message and answer that
//!   depends on an unpersisted write (Raft's write-before-send rule), so a driver must not hold
//!   network sends or client answers behind an fsync; a `Send` may be lost, the protocol copes.
//! - **Storage errors stop the machine (fail-stop).** When a write or fsync fails, or data read
//!   back is corrupt, the driver reports nothing durable and drives the machine no further: the
//!   process stops (or, in the simulator, the node is stopped) and starts again only from what
//!   its disk holds. Limping on after a failed fsync could acknowledge what was never durable.
//! - **A halted machine is done.** [`Output::Halt`] (returned by [`step`] as `Err`) means the
//!   machine met input it cannot accept, such as a committed entry that does not decode; the
//!   driver stops it, like a storage error, and says why.
//! - **Client ids are the driver's.** A driver numbers client connections, rising within one
//!   start of the machine, never reusing one after [`Input::ClientClosed`]; request ids of one
//!   client rise. Answers may still name a client after it closed: the driver drops them.

use serde::{Deserialize, Serialize};

pub use crate::raft::PersistBatch;
use crate::time::Instant;

/// A member of the cluster.
pub type NodeId = u64;
/// A client connection, as the driver numbers them.
pub type ClientId = u64;
/// A request on a client connection; the response carries the same id. The ids of one client
/// rise: the node applies a write at most once per (client, id) and skips a repeated one.
pub type RequestId = u64;

/// A machine that emits this many outputs for one input without a `Timeout` is stuck in a loop.
pub const OUTPUTS_PER_INPUT_MAX: usize = 1 << 20;

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
    /// A client's connection closed: its streams (watches) end, and the machine forgets it.
    /// The driver never uses this client id again.
    ClientClosed { now: Instant, client: ClientId },
    /// Start an election now, as if the election timeout had passed (etcd raft's `Campaign`): a
    /// script's or an operator's nudge. A machine without elections ignores it.
    Campaign { now: Instant },
}

impl<M, Req> Input<M, Req> {
    pub fn now(&self) -> Instant {
        match self {
            Input::Timeout { now }
            | Input::Message { now, .. }
            | Input::Request { now, .. }
            | Input::Persisted { now, .. }
            | Input::ClientClosed { now, .. }
            | Input::Campaign { now } => *now,
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
    /// The machine cannot go on: stop driving it (see [`Halt`]).
    Halt(Halt),
}

/// Why a machine stopped for good: it met input it cannot accept, such as persisted or
/// replicated data that does not decode. Like a storage error, this stops the member; it starts
/// again only from what its disk holds, after an operator has looked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Halt {
    pub reason: String,
}

impl std::fmt::Display for Halt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Halt {}

/// A sans-IO state machine a driver can run: the detcd node, or a trivial machine for benchmarks.
pub trait Machine {
    type Message: Clone + std::fmt::Debug;
    type Request: Clone + std::fmt::Debug;
    type Response: Clone + std::fmt::Debug;

    fn handle(&mut self, input: Input<Self::Message, Self::Request>);
    fn poll_output(&mut self) -> Output<Self::Message, Self::Response>;
}

/// What a driver does with a machine's outputs (see the module documentation for the rules).
pub trait Driver<M: Machine + ?Sized> {
    /// Write `batch` after every earlier batch; report it durable with `Input::Persisted`.
    fn persist(&mut self, batch: PersistBatch);
    /// Send `message` to peer `to`, now.
    fn send(&mut self, to: NodeId, message: M::Message);
    /// Answer `request` of `client`, now.
    fn respond(&mut self, client: ClientId, request: RequestId, body: M::Response);
}

/// The drain step: hand `input` to `machine`, then carry out everything it outputs. Returns the
/// machine's next deadline, or why it halted.
pub fn step<M: Machine + ?Sized>(
    machine: &mut M,
    input: Input<M::Message, M::Request>,
    driver: &mut impl Driver<M>,
) -> Result<Instant, Halt> {
    machine.handle(input);
    drain(machine, driver)
}

/// Carry out everything `machine` outputs, up to its next deadline (which is returned), as after
/// a start; [`step`] is this after an input.
pub fn drain<M: Machine + ?Sized>(
    machine: &mut M,
    driver: &mut impl Driver<M>,
) -> Result<Instant, Halt> {
    for _ in 0..OUTPUTS_PER_INPUT_MAX {
        match machine.poll_output() {
            Output::Persist(batch) => driver.persist(batch),
            Output::Send { to, message } => driver.send(to, message),
            Output::Respond {
                client,
                request,
                body,
            } => driver.respond(client, request, body),
            Output::Timeout(deadline) => return Ok(deadline),
            Output::Halt(halt) => return Err(halt),
        }
    }
    panic!("a machine gave {OUTPUTS_PER_INPUT_MAX} outputs for one input: it is stuck in a loop");
}
