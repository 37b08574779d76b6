//! Raft, as etcd does it.

mod types;

pub use types::*;
