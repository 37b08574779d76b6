//! Peers: Raft messages between members over detcd's own gRPC service (`detcdpeerpb.Peer`),
//! on `--listen-peer-urls`, with peer TLS in real builds; and how a member joining a running
//! cluster learns it.
//!
//! Sending never blocks the member task: each peer has a bounded queue and a task of its own
//! that keeps one stream open to the peer (reconnecting with backoff); a message that finds the
//! queue full is dropped, as etcd drops it, and Raft retransmits. Receiving checks that the
//! message comes from this cluster and from one of its members, then hands it to the member task.

mod connect;
mod join;
mod leader;
mod service;
mod transport;

pub use connect::{ClientTls, client_tls, connect};
pub use join::learn_cluster;
pub use leader::{LeaderLink, not_leader};
pub use service::PeerService;
pub use transport::{PeerHealth, PeerTransport, Peers};
