//! A member's life in a real process: start, serve, and stop gracefully on SIGINT or SIGTERM
//! (stop accepting, finish the write in flight, exit 0).

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::api::ETCD_VERSION;
use crate::config::Config;
use crate::metrics::{self, Metrics};
use crate::server::{self, Services};

pub async fn run(config: Config) -> Result<(), String> {
    info!(target: "etcdmain", "detcd Version: {} (etcd API {ETCD_VERSION})", env!("CARGO_PKG_VERSION"));
    for warning in &config.warnings {
        warn!(target: "etcdmain", "{warning}");
    }
    let fsync = metrics::fsync_histogram();
    let started = server::start_member(&config, fsync.clone())?;
    let member = started.member.clone();
    let metrics = Metrics::new(member.clone(), config.quota_backend_bytes, fsync);
    let services = Services::new(&config, &started);
    let (stop, shutdown) = watch::channel(false);
    let mut listeners =
        crate::http::serve_all(&config, services, member.clone(), metrics, shutdown)?;
    tokio::spawn(server::announce_ready(member.clone()));
    if let Some(mode) = config.auto_compaction {
        tokio::spawn(crate::auto_compaction::run(member.clone(), mode));
    }
    if config.initial_corrupt_check {
        // etcd compares its hash with the peers' before serving; a member alone has none.
        info!(target: "etcdserver", "{:x} starting initial corruption check: no peer to compare with", member.info().id);
    }
    let mut terminate = signal(SignalKind::terminate()).map_err(|error| error.to_string())?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|error| error.to_string())?;
    tokio::select! {
        _ = terminate.recv() => info!(target: "etcdmain", "received terminated signal, shutting down..."),
        _ = interrupt.recv() => info!(target: "etcdmain", "received interrupt signal, shutting down..."),
    }
    let _ = stop.send(true);
    while listeners.join_next().await.is_some() {}
    // The writer finishes what it was given before the member task lets go of it.
    started.stop().await;
    info!(target: "etcdmain", "stopped serving");
    Ok(())
}
