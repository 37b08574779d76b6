//! The real build's network edge: etcd's TLS flags turned into rustls configurations (`tls`, with
//! its helpers `pem`, `cipher_suites` and `auto_tls`); listen URLs and their sockets (`listen`);
//! and serving an axum app on one of them over TCP or a Unix socket, plain, TLS, or both on one
//! port (`serve`, with `sniff`), telling handlers who connected (`conn_info`).
//!
//! Everything here exists only without `cfg(madsim)`: in simulation there are no sockets, no TLS
//! and no HTTP/2, and the shell's gRPC services travel as Rust values.

mod auto_tls;
mod cipher_suites;
mod conn_info;
mod listen;
mod pem;
mod serve;
mod sniff;
mod tls;

pub use conn_info::ConnInfo;
pub use listen::{ListenError, Listener};
pub use serve::{ServeOptions, Transport, serve};
pub use tls::{TlsError, client_config, server_config};
