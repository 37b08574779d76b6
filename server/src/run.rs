//! A member's life in a real process: start, serve, and stop gracefully on SIGINT or SIGTERM
//! (stop accepting, finish the write in flight, exit 0).

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::api::ETCD_VERSION;
use crate::config::Config;
use crate::http::Listening;
use crate::member::Member;
use crate::metrics::{self, Metrics, PeerMetrics};
use crate::server::{self, Services, Started};

/// A member serving on its listeners.
#[derive(Debug)]
pub struct Running {
    started: Started,
    listening: Listening,
    stop: watch::Sender<bool>,
}

impl Running {
    pub fn member(&self) -> &Member {
        &self.started.member
    }

    /// Where the client URLs listen, in `--listen-client-urls` order (`host:port`).
    pub fn client_addresses(&self) -> &[String] {
        &self.listening.client_addresses
    }

    /// Stop accepting, let the listeners finish, and let the writer finish what it was given.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.listening.tasks.join_next().await.is_some() {}
        self.started.stop().await;
        info!(target: "etcdmain", "stopped serving");
    }
}

/// Start a member and its listeners; it serves until [`Running::stop`].
pub async fn start(config: &Config) -> Result<Running, String> {
    info!(target: "etcdmain", "detcd Version: {} (etcd API {ETCD_VERSION})", env!("CARGO_PKG_VERSION"));
    for warning in &config.warnings {
        warn!(target: "etcdmain", "{warning}");
    }
    let fsync = metrics::fsync_histogram();
    let peer_metrics = PeerMetrics::default();
    let started = server::start_member(config, fsync.clone(), peer_metrics.clone()).await?;
    let member = started.member.clone();
    let metrics = Metrics::new(
        member.clone(),
        config.quota_backend_bytes,
        fsync,
        &peer_metrics,
    );
    let services = Services::new(config, &started);
    let (stop, shutdown) = watch::channel(false);
    let listening = crate::http::serve_all(config, services, member.clone(), metrics, shutdown)?;
    tokio::spawn(server::announce_ready(member.clone()));
    if let Some(mode) = config.auto_compaction {
        tokio::spawn(crate::auto_compaction::run(member.clone(), mode));
    }
    Ok(Running {
        started,
        listening,
        stop,
    })
}

/// Serve until SIGTERM or SIGINT, then stop gracefully.
pub async fn run(config: Config) -> Result<(), String> {
    let mut terminate = signal(SignalKind::terminate()).map_err(|error| error.to_string())?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|error| error.to_string())?;
    let running = start(&config).await?;
    tokio::select! {
        _ = terminate.recv() => info!(target: "etcdmain", "received terminated signal, shutting down..."),
        _ = interrupt.recv() => info!(target: "etcdmain", "received interrupt signal, shutting down..."),
    }
    running.stop().await;
    Ok(())
}
