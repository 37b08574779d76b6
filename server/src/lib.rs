//! detcd as a real server: the sans-IO core ([`detcd_core`]) behind etcd's v3 gRPC API, etcd's
//! flags and TLS, and an on-disk data dir laid out as etcd's.
//!
//! One task owns the node and runs the core's drain step (`member`); everything else talks to
//! it through its inbox. Storage is synchronous code behind a trait of ours (`storage`), written
//! by a thread of its own with group commit. The API layer (`api`) turns etcd's protobuf
//! messages into core requests and back, with etcd's headers, codes and messages.
//! What only a real build has (TLS, the HTTP listeners, the JSON gateway) sits behind
//! `cfg(not(madsim))`, so the same shell also builds with `RUSTFLAGS="--cfg madsim"`.

#[cfg(not(madsim))]
pub mod net;
