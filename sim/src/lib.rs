//! The deterministic world detcd nodes run in.
//!
//! A [`World`] drives any [`detcd_core::Machine`] through a simulated network, disks and clocks,
//! from one seed. It is single-threaded and never reads the wall clock: one event queue ordered by
//! `(time, sequence)` decides what happens next, and every random choice comes from a ChaCha8
//! generator seeded by the run seed, split into a stream per subsystem. One seed reproduces one
//! run, and the trace hash says cheaply whether two runs were the same.
//!
//! Layout:
//! - [`cluster`]: detcd nodes in the world, and the cluster-wide Raft safety checks.
//! - [`run`]: one run start to verdict: fault phase, liveness phase, history check, report.
//! - [`world`]: the engine, the [`Host`] that builds machines, and every fault control.
//! - [`queue`]: the `(time, sequence)` event queue.
//! - [`network`]: latency, loss, duplication, reordering, [`Partition`]s and clogging.
//! - [`disk`]: write latency, in-order fsync completion, stalls, crash loss and torn writes.
//! - [`clock`]: per-node drift and steps.
//! - [`faults`]: the seeded random fault schedule of swarm runs.
//! - [`options`]: [`SimOptions`], every knob, fixed or drawn from the seed.
//! - [`overrides`]: `key=value` edits of a run's options, for replaying a seed with changes.
//! - [`shrink`]: the search for a smaller run that fails the same way.
//! - [`trace`]: structured trace events, their hash, JSON lines.
//! - [`ping`]: a trivial machine to test and benchmark the engine.

pub mod clock;
pub mod cluster;
pub mod disk;
pub mod faults;
pub mod history;
pub mod network;
pub mod options;
pub mod overrides;
pub mod ping;
pub mod queue;
pub mod random;
pub mod run;
pub mod shrink;
pub mod trace;
pub mod workload;
pub mod world;

pub use disk::StorageFailure;
pub use network::{DropReason, Partition};
pub use options::{FaultWeights, SimOptions};
pub use trace::{TraceEvent, TraceKind, TraceSettings};
pub use world::{Boot, ClientResponse, Host, NodeStatus, World, WorldStats};
