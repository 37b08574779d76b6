//! The closed loop: clients run operations until the duration (or the total) is reached;
//! those started after the warm-up are measured. A watcher follows the workload's prefix when
//! it has one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use detcd_proto::etcdserverpb::watch_request::RequestUnion;
use detcd_proto::etcdserverpb::{WatchCreateRequest, WatchRequest};
use detcd_proto::prefix_end;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::mpsc;

use crate::Options;
use crate::clients::{self, Stubs};
use crate::procstat;
use crate::report::{Latency, Report};
use crate::workload::{Outcome, Prepared, Workload, status_text};

/// How long the watcher may take to deliver the last events after the clients stop.
const EVENT_GRACE: Duration = Duration::from_secs(10);
/// Distinct error messages kept for the report.
const ERRORS_KEPT: usize = 5;

fn histogram() -> Histogram<u64> {
    // Microseconds, 1 µs to 1 hour, 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

/// Errors from every client: a count and the first few messages.
#[derive(Debug, Default)]
struct Errors {
    count: AtomicU64,
    first: Mutex<Vec<String>>,
}

impl Errors {
    fn record(&self, error: String) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first.lock().unwrap();
        if first.len() < ERRORS_KEPT && !first.contains(&error) {
            first.push(error);
        }
    }
}

/// The watcher's side of the run: puts it must see, and how long their events took.
#[derive(Debug)]
pub struct Watcher {
    measure_from: Instant,
    /// Keys put and not yet seen, with when their put was sent.
    pending: Mutex<HashMap<Vec<u8>, Instant>>,
    latency: Mutex<Histogram<u64>>,
    acknowledged: AtomicU64,
    seen: AtomicU64,
}

impl Watcher {
    /// A put of `key` is about to be sent.
    pub fn expect_event(&self, key: Vec<u8>) {
        self.pending.lock().unwrap().insert(key, Instant::now());
    }

    /// The put of `key` failed: its event may never come.
    pub fn forget(&self, key: &[u8]) {
        self.pending.lock().unwrap().remove(key);
    }

    /// A change the watcher must see was acknowledged.
    pub fn acknowledged(&self) {
        self.acknowledged.fetch_add(1, Ordering::Relaxed);
    }

    fn saw(&self, key: &[u8]) {
        self.seen.fetch_add(1, Ordering::Relaxed);
        if let Some(sent) = self.pending.lock().unwrap().remove(key)
            && sent >= self.measure_from
        {
            let micros = sent.elapsed().as_micros() as u64;
            self.latency
                .lock()
                .unwrap()
                .saturating_record(micros.max(1));
        }
    }
}

/// Open a watch on `prefix` from the next revision; its events feed `watcher`, their order is
/// checked, and a broken stream is an error.
async fn start_watcher(
    stubs: &mut Stubs,
    prefix: &str,
    watcher: Arc<Watcher>,
    errors: Arc<Errors>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let (requests, queued) = mpsc::channel(1);
    let create = WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key: prefix.as_bytes().to_vec(),
            range_end: prefix_end(prefix.as_bytes()),
            ..WatchCreateRequest::default()
        })),
    };
    requests.send(create).await.expect("the channel is open");
    let stream = tokio_stream::wrappers::ReceiverStream::new(queued);
    let mut responses = stubs
        .watch
        .watch(stream)
        .await
        .map_err(status_text)?
        .into_inner();
    match responses.message().await.map_err(status_text)? {
        Some(created) if created.created => {}
        other => return Err(format!("the watch was not created: {other:?}")),
    }
    Ok(tokio::spawn(async move {
        let _requests = requests; // the stream lives as long as its sender
        let mut last = 0;
        loop {
            let response = match responses.message().await {
                Ok(Some(response)) => response,
                Ok(None) => return errors.record("the watch stream ended".into()),
                Err(status) => return errors.record(format!("watch: {}", status_text(status))),
            };
            if response.canceled {
                return errors.record(format!(
                    "the watch was canceled: {}",
                    response.cancel_reason
                ));
            }
            for event in &response.events {
                let kv = event
                    .kv
                    .as_ref()
                    .map_or((&[][..], 0), |kv| (&kv.key[..], kv.mod_revision));
                if kv.1 <= last {
                    errors.record(format!("watch event at revision {} after {last}", kv.1));
                }
                last = kv.1;
                watcher.saw(kv.0);
            }
        }
    }))
}

/// What the clients measured.
#[derive(Debug)]
struct Measured {
    ops: u64,
    conflicts: u64,
    latency: Histogram<u64>,
    /// When the client's last operation ended (before it cleans up).
    ended: Instant,
}

/// Where the run stands, shared by the clients.
#[derive(Debug)]
struct Clock {
    measure_from: Instant,
    until: Instant,
    total: Option<u64>,
    measured: AtomicU64,
}

impl Clock {
    fn over(&self) -> bool {
        Instant::now() >= self.until
            || self
                .total
                .is_some_and(|total| self.measured.load(Ordering::Relaxed) >= total)
    }
}

async fn client_loop(
    workload: Arc<Workload>,
    mut client: crate::workload::Client,
    prepared: Arc<Prepared>,
    watcher: Option<Arc<Watcher>>,
    clients: usize,
    clock: Arc<Clock>,
    errors: Arc<Errors>,
) -> Measured {
    let mut measured = Measured {
        ops: 0,
        conflicts: 0,
        latency: histogram(),
        ended: clock.measure_from,
    };
    while !clock.over() {
        let started = Instant::now();
        let outcome = workload
            .operate(&mut client, &prepared, watcher.as_deref(), clients)
            .await;
        let micros = started.elapsed().as_micros() as u64;
        if started >= clock.measure_from {
            clock.measured.fetch_add(1, Ordering::Relaxed);
            measured.ops += 1;
            measured.latency.saturating_record(micros.max(1));
        }
        match outcome {
            Ok(Outcome::Done) => {}
            Ok(Outcome::Conflict) if started >= clock.measure_from => measured.conflicts += 1,
            Ok(Outcome::Conflict) => {}
            // A wrong answer is an error in the warm-up too.
            Err(error) => {
                errors.record(error);
                // A failing member answers at once: do not spin on it.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    measured.ended = Instant::now();
    workload.finish(&mut client).await;
    measured
}

fn progress(options: &Options, clock: &Arc<Clock>) -> tokio::task::JoinHandle<()> {
    let bar = if options.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new((options.warmup + options.duration).as_millis() as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {elapsed}")
            .expect("a valid template"),
    );
    let clock = Arc::clone(clock);
    let start = Instant::now();
    tokio::spawn(async move {
        while !clock.over() {
            bar.set_position(start.elapsed().as_millis() as u64);
            let phase = if Instant::now() < clock.measure_from {
                "warming up".to_string()
            } else {
                format!("{} ops", clock.measured.load(Ordering::Relaxed))
            };
            bar.set_message(phase);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bar.finish_and_clear();
    })
}

/// Wait until the watcher saw every acknowledged change, or the grace runs out (an error).
async fn drain_watcher(watcher: &Watcher, errors: &Errors) {
    let deadline = Instant::now() + EVENT_GRACE;
    loop {
        let seen = watcher.seen.load(Ordering::Relaxed);
        let acknowledged = watcher.acknowledged.load(Ordering::Relaxed);
        if seen >= acknowledged {
            return;
        }
        if Instant::now() >= deadline {
            return errors.record(format!(
                "the watcher saw {seen} of {acknowledged} acknowledged changes"
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn run(options: &Options, workload: &Workload) -> Result<Report, String> {
    if options.clients == 0 {
        return Err("--clients must be at least 1".into());
    }
    let connections = clients::connect(&options.endpoints, options.conns).await?;
    let workload = Arc::new(workload.clone());
    let prepared = Arc::new(workload.prepare(&connections).await?);
    let errors = Arc::new(Errors::default());
    // Clients are made (leases granted, streams opened) before the clock starts.
    let mut clients = Vec::with_capacity(options.clients);
    for index in 0..options.clients {
        let stubs = connections[index % connections.len()].clone();
        clients.push(workload.client(index, stubs, options.seed).await?);
    }
    let start = Instant::now();
    let clock = Arc::new(Clock {
        measure_from: start + options.warmup,
        until: start + options.warmup + options.duration,
        total: options.total,
        measured: AtomicU64::new(0),
    });
    let watcher = workload.watched_prefix().map(|_| {
        Arc::new(Watcher {
            measure_from: clock.measure_from,
            pending: Mutex::default(),
            latency: Mutex::new(histogram()),
            acknowledged: AtomicU64::new(0),
            seen: AtomicU64::new(0),
        })
    });
    let watch_task = match (workload.watched_prefix(), &watcher) {
        (Some(prefix), Some(watcher)) => {
            let mut stubs = connections[0].clone();
            Some(start_watcher(&mut stubs, prefix, Arc::clone(watcher), Arc::clone(&errors)).await?)
        }
        _ => None,
    };
    let mut tasks = Vec::with_capacity(options.clients);
    for client in clients {
        tasks.push(tokio::spawn(client_loop(
            Arc::clone(&workload),
            client,
            Arc::clone(&prepared),
            watcher.clone(),
            options.clients,
            Arc::clone(&clock),
            Arc::clone(&errors),
        )));
    }
    let bar = progress(options, &clock);
    tokio::time::sleep_until(clock.measure_from.into()).await;
    let before = procstat::sample(&options.server_pids)?;
    let mut latency = histogram();
    let (mut ops, mut conflicts, mut ended) = (0, 0, clock.measure_from);
    for task in tasks {
        let measured = task.await.map_err(|error| error.to_string())?;
        ops += measured.ops;
        conflicts += measured.conflicts;
        ended = ended.max(measured.ended);
        latency
            .add(&measured.latency)
            .expect("histograms of equal bounds");
    }
    let seconds = ended.duration_since(clock.measure_from).as_secs_f64();
    let after = procstat::sample(&options.server_pids)?;
    let _ = bar.await;
    if let Some(watcher) = &watcher {
        drain_watcher(watcher, &errors).await;
    }
    if let Some(task) = watch_task {
        task.abort();
    }
    let per_op = |seconds: f64| seconds / ops.max(1) as f64;
    let event_latency = watcher
        .as_ref()
        .filter(|_| matches!(*workload, Workload::WatchLatency(_)))
        .and_then(|watcher| Latency::of(&watcher.latency.lock().unwrap()));
    let has_servers = !options.server_pids.is_empty();
    Ok(Report {
        workload: workload.name().to_string(),
        clients: options.clients,
        conns: options.conns,
        ops,
        seconds,
        ops_per_second: ops as f64 / seconds.max(f64::EPSILON),
        errors: errors.count.load(Ordering::Relaxed),
        conflicts,
        latency: Latency::of(&latency),
        event_latency,
        server_cpu_seconds_per_op: has_servers
            .then(|| per_op(after.server_cpu_seconds - before.server_cpu_seconds)),
        server_peak_rss_bytes: has_servers.then_some(after.server_peak_rss_bytes),
        bench_cpu_seconds_per_op: per_op(after.own_cpu_seconds - before.own_cpu_seconds),
        first_errors: errors.first.lock().unwrap().clone(),
    })
}
