//! The storage writer: persist batches are written in token order and made durable with one
//! fsync per group (group commit), off the member task, which hears back which prefix is durable.
//! A real build writes on a thread of its own; a simulated build (madsim refuses threads) on a
//! task.

use std::time::Instant;

use detcd_core::PersistToken;
use detcd_core::io::Halt;
use detcd_core::raft::PersistBatch;
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::{mpsc, oneshot};

use crate::storage::{Disk, Storage};

/// What the writer tells the member task.
#[derive(Debug)]
pub enum WriterEvent {
    /// Every batch through this token is durable.
    Durable(PersistToken),
    /// A write or fsync failed: nothing more is known durable, the member must stop.
    Failed(String),
    /// Everything queued before the stop is written; the writer is gone.
    Stopped,
}

enum Job {
    Write(Vec<PersistBatch>),
    /// Rewrite the WAL compactly (etcd's defragment); answer when done.
    Compact(oneshot::Sender<Result<(), String>>),
    /// Finish what is queued, then stop.
    Stop,
}

/// The member task's end of the writer.
#[derive(Debug)]
pub struct WriterHandle {
    jobs: mpsc::UnboundedSender<Job>,
    pub events: mpsc::UnboundedReceiver<WriterEvent>,
}

/// Asks the writer to compact the WAL; held by the API (defragment).
#[derive(Clone, Debug)]
pub struct Compactor {
    jobs: mpsc::UnboundedSender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Job::Write(batches) => write!(f, "Write({} batches)", batches.len()),
            Job::Compact(_) => f.write_str("Compact"),
            Job::Stop => f.write_str("Stop"),
        }
    }
}

impl WriterHandle {
    /// Queue batches (in token order, after every batch queued before them).
    pub fn write(&self, batches: Vec<PersistBatch>) -> Result<(), Halt> {
        self.jobs.send(Job::Write(batches)).map_err(|_| Halt {
            reason: "the storage writer stopped".into(),
        })
    }

    /// Finish what is queued and stop; `WriterEvent::Stopped` follows the last `Durable`.
    pub fn stop(&self) {
        let _ = self.jobs.send(Job::Stop);
    }

    pub fn compactor(&self) -> Compactor {
        Compactor {
            jobs: self.jobs.clone(),
        }
    }
}

impl Compactor {
    /// Rewrite the WAL compactly once everything queued before is written.
    pub async fn compact(&self) -> Result<(), String> {
        let (done, result) = oneshot::channel();
        self.jobs
            .send(Job::Compact(done))
            .map_err(|_| "the storage writer stopped".to_string())?;
        result
            .await
            .map_err(|_| "the storage writer stopped".to_string())?
    }
}

/// Start the writer over `storage`; `fsync` records how long each group took to be durable
/// (etcd's `etcd_disk_wal_fsync_duration_seconds`).
pub fn spawn<D>(storage: Storage<D>, fsync: Histogram) -> WriterHandle
where
    D: Disk + Send + 'static,
    D::File: Send,
    D::Lock: Send,
{
    let (jobs, jobs_rx) = mpsc::unbounded_channel();
    let (events_tx, events) = mpsc::unbounded_channel();
    let writer = Writer {
        storage,
        jobs: jobs_rx,
        events: events_tx,
        fsync,
    };
    writer.start();
    WriterHandle { jobs, events }
}

struct Writer<D: Disk> {
    storage: Storage<D>,
    jobs: mpsc::UnboundedReceiver<Job>,
    events: mpsc::UnboundedSender<WriterEvent>,
    fsync: Histogram,
}

impl<D> Writer<D>
where
    D: Disk + Send + 'static,
    D::File: Send,
    D::Lock: Send,
{
    #[cfg(not(madsim))]
    fn start(mut self) {
        std::thread::Builder::new()
            .name("detcd-storage-writer".into())
            .spawn(move || {
                while let Some(job) = self.jobs.blocking_recv() {
                    if !self.work(job) {
                        return;
                    }
                }
            })
            .expect("the storage writer thread starts");
    }

    #[cfg(madsim)]
    fn start(mut self) {
        tokio::spawn(async move {
            while let Some(job) = self.jobs.recv().await {
                if !self.work(job) {
                    return;
                }
            }
        });
    }
}

/// What one turn of the writer does: the writes queued, then a compaction or a stop.
#[derive(Debug, Default)]
struct Turn {
    batches: Vec<PersistBatch>,
    compaction: Option<oneshot::Sender<Result<(), String>>>,
    stop: bool,
}

impl<D: Disk> Writer<D> {
    /// Carry out `job` and every write queued behind it, with one fsync for all of them. False
    /// once the writer is done: stopped, or storage failed (and the member stops with it).
    fn work(&mut self, job: Job) -> bool {
        let mut turn = Turn::default();
        let mut next = Some(job);
        while let Some(job) = next.take().or_else(|| self.jobs.try_recv().ok()) {
            match job {
                Job::Write(more) => turn.batches.extend(more),
                // A compaction or a stop comes after the writes queued before it.
                Job::Compact(done) => {
                    turn.compaction = Some(done);
                    break;
                }
                Job::Stop => {
                    turn.stop = true;
                    break;
                }
            }
        }
        if !self.write(&turn.batches) {
            return false;
        }
        if let Some(done) = turn.compaction {
            let result = self.storage.compact().map_err(|error| error.to_string());
            let failed = result.clone().err();
            let _ = done.send(result);
            if let Some(message) = failed {
                let _ = self.events.send(WriterEvent::Failed(message));
                return false;
            }
        }
        if turn.stop {
            let _ = self.events.send(WriterEvent::Stopped);
            return false;
        }
        true
    }

    /// Write and fsync `batches` (none: nothing to do) and report them durable (the storage
    /// compacts its WAL after a snapshot by itself). False when storage failed.
    fn write(&mut self, batches: &[PersistBatch]) -> bool {
        let Some(last) = batches.last() else {
            return true;
        };
        let through = last.token;
        let started = Instant::now();
        let written = self.storage.write(batches);
        self.fsync.observe(started.elapsed().as_secs_f64());
        if let Err(error) = written {
            let _ = self.events.send(WriterEvent::Failed(error.to_string()));
            return false;
        }
        let _ = self.events.send(WriterEvent::Durable(through));
        true
    }
}
