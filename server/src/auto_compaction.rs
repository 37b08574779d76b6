//! etcd's auto-compaction (`--auto-compaction-mode`, `--auto-compaction-retention`), run by the
//! leader as etcd's compactor does: in periodic mode, keep `retention` of history by compacting
//! to the revision the store had that long ago (sampled every tenth of the retention, at most
//! hourly); in revision mode, every five minutes compact to `retention` revisions ago.

use std::collections::VecDeque;
use std::time::Duration;

use detcd_core::kv::{CompactRequest, KvError, Request, Response};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::config::AutoCompaction;
use crate::member::Member;

/// How often revision mode looks (etcd's `revInterval`).
const REVISION_MODE_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Periodic mode samples the revision this often, at most.
const SAMPLE_INTERVAL_MAX: Duration = Duration::from_secs(60 * 60);

/// Run the compactor until the member stops.
pub async fn run(member: Member, mode: AutoCompaction) {
    let interval = match mode {
        AutoCompaction::Periodic(retention) => {
            (retention / 10).clamp(Duration::from_secs(1), SAMPLE_INTERVAL_MAX)
        }
        AutoCompaction::Revision(_) => REVISION_MODE_INTERVAL,
    };
    let mut ticks = tokio::time::interval(interval);
    let mut samples = Samples::default();
    let mut compacted = 0;
    loop {
        ticks.tick().await;
        let state = member.state();
        if state.leader != Some(member.info().id) {
            // Only the leader compacts; a new leader starts its window afresh.
            samples = Samples::default();
            continue;
        }
        let target = match mode {
            AutoCompaction::Periodic(retention) => {
                samples.record(Instant::now(), state.revision);
                samples.revision_before(Instant::now(), retention)
            }
            AutoCompaction::Revision(retention) => Some(state.revision - retention),
        };
        let Some(target) = target.filter(|&target| target > compacted && target > 0) else {
            continue;
        };
        info!(target: "compactor", "Starting auto-compaction at revision {target} ({mode:?})");
        let request = Request::Compact(CompactRequest {
            revision: target,
            physical: false,
        });
        match member.request(request).await {
            Ok(Response::Compact(_)) | Ok(Response::Error(KvError::Compacted)) => {
                compacted = target;
                info!(target: "compactor", "Finished auto-compaction at revision {target}");
            }
            Ok(Response::Error(error)) => {
                warn!(target: "compactor", "Failed auto-compaction at revision {target} ({error})")
            }
            Ok(other) => warn!(target: "compactor", "unexpected answer to a compaction: {other:?}"),
            Err(_) => return,
        }
    }
}

/// The store's revision over time, as far back as the retention needs.
#[derive(Debug, Default)]
struct Samples {
    taken: VecDeque<(Instant, i64)>,
}

impl Samples {
    fn record(&mut self, now: Instant, revision: i64) {
        self.taken.push_back((now, revision));
    }

    /// The newest revision sampled at least `retention` before `now`; older samples are dropped.
    fn revision_before(&mut self, now: Instant, retention: Duration) -> Option<i64> {
        let old_enough = |at: Instant| now.duration_since(at) >= retention;
        while self.taken.len() >= 2 && old_enough(self.taken[1].0) {
            self.taken.pop_front();
        }
        self.taken
            .front()
            .filter(|&&(at, _)| old_enough(at))
            .map(|&(_, revision)| revision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Periodic mode compacts to the newest revision that is at least a retention old, never to
    // a newer one.
    #[test]
    fn periodic_mode_keeps_a_retention_of_history() {
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        let mut samples = Samples::default();
        let retention = Duration::from_secs(10);
        samples.record(at(0), 5);
        assert_eq!(samples.revision_before(at(5), retention), None);
        samples.record(at(5), 9);
        assert_eq!(samples.revision_before(at(10), retention), Some(5));
        samples.record(at(10), 20);
        assert_eq!(samples.revision_before(at(14), retention), Some(5));
        assert_eq!(samples.revision_before(at(15), retention), Some(9));
        assert_eq!(samples.revision_before(at(30), retention), Some(20));
    }
}
