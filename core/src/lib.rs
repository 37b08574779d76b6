//! The sans-IO detcd node: Raft, and the etcd state machine it replicates.
//!
//! Nothing in this crate reads a clock, opens a socket, spawns a thread or draws OS randomness;
//! clippy's `disallowed-methods` and `disallowed-types` (see `clippy.toml`) make that a build
//! error. Every input carries `now`; randomness comes from a ChaCha RNG seeded by configuration;
//! only ordered containers are used, so no hash order leaks into behaviour. A driver — the
//! simulator, a test network, or the real server — owns all I/O. See [`io`] for the contract.

pub mod io;
pub mod kv;
pub mod node;
pub mod raft;
pub mod state_machine;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;

pub use io::{ClientId, Input, Machine, NodeId, Output, PersistToken, RequestId};
pub use node::{Boot, Node, NodeConfig};
pub use time::{Duration, Instant};
