//! detcd as a real server: the sans-IO core ([`detcd_core`]) behind etcd's v3 gRPC API, etcd's
//! flags and TLS, and an on-disk data dir laid out as etcd's.
//!
//! One task owns the node and runs the core's drain step (`member`); everything else talks to
//! it through its inbox. Storage is synchronous code behind a trait of ours (`storage`), written
//! by a thread of its own with group commit. The API layer (`api`) turns etcd's protobuf
//! messages into core requests and back, with etcd's headers, codes and messages.
//! What only a real build has (TLS, the HTTP listeners, the JSON gateway) sits behind
//! `cfg(not(madsim))`, so the same shell also builds with `RUSTFLAGS="--cfg madsim"`.

pub mod api;
pub mod auto_compaction;
pub mod cli;
pub mod config;
#[cfg(not(madsim))]
pub mod gateway;
#[cfg(not(madsim))]
pub mod http;
pub mod ids;
pub mod initial_cluster;
pub mod log;
pub mod member;
pub mod metrics;
#[cfg(not(madsim))]
pub mod net;
pub mod peer;
#[cfg(not(madsim))]
pub mod run;
pub mod server;
pub mod snapshot_cmd;
pub mod snapshot_file;
pub mod storage;
pub mod storage_writer;
#[cfg(not(madsim))]
pub mod tcp_proxy;
