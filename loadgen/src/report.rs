//! What a run measured: the summary line and the JSON report.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    /// From a histogram of microseconds; `None` when nothing was measured.
    pub fn of(histogram: &Histogram<u64>) -> Option<Latency> {
        if histogram.is_empty() {
            return None;
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Some(Latency {
            p50: ms(histogram.value_at_quantile(0.5)),
            p90: ms(histogram.value_at_quantile(0.9)),
            p99: ms(histogram.value_at_quantile(0.99)),
            p999: ms(histogram.value_at_quantile(0.999)),
            max: ms(histogram.max()),
        })
    }

    fn line(&self) -> String {
        format!(
            "p50 {:.3} p90 {:.3} p99 {:.3} p99.9 {:.3} max {:.3} ms",
            self.p50, self.p90, self.p99, self.p999, self.max
        )
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub workload: String,
    pub clients: usize,
    pub conns: usize,
    /// Operations measured (after the warm-up), those that failed included.
    pub ops: u64,
    pub seconds: f64,
    pub ops_per_second: f64,
    /// Failed requests and wrong answers.
    pub errors: u64,
    /// Optimistic updates that lost a race (txn-put, mixed): correct answers, not errors.
    pub conflicts: u64,
    pub latency: Option<Latency>,
    /// watch-latency: from sending a put to its event reaching the watcher.
    pub event_latency: Option<Latency>,
    pub server_cpu_seconds_per_op: Option<f64>,
    pub server_peak_rss_bytes: Option<u64>,
    pub bench_cpu_seconds_per_op: f64,
    pub first_errors: Vec<String>,
}

impl Report {
    /// A load that could not run (its set-up failed): one error, nothing measured.
    pub fn failed(workload: &str, clients: usize, conns: usize, error: String) -> Report {
        Report {
            workload: workload.to_string(),
            clients,
            conns,
            ops: 0,
            seconds: 0.0,
            ops_per_second: 0.0,
            errors: 1,
            conflicts: 0,
            latency: None,
            event_latency: None,
            server_cpu_seconds_per_op: None,
            server_peak_rss_bytes: None,
            bench_cpu_seconds_per_op: 0.0,
            first_errors: vec![error],
        }
    }

    /// One plain line.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "{}: {} ops in {:.2} s = {:.1} ops/s, {} errors",
            self.workload, self.ops, self.seconds, self.ops_per_second, self.errors
        );
        if self.conflicts > 0 {
            line += &format!(", {} conflicts", self.conflicts);
        }
        if let Some(latency) = &self.latency {
            line += &format!("; latency {}", latency.line());
        }
        if let Some(latency) = &self.event_latency {
            line += &format!("; put->event {}", latency.line());
        }
        if let Some(cpu) = self.server_cpu_seconds_per_op {
            line += &format!("; server {:.1} us CPU/op", cpu * 1e6);
        }
        if let Some(rss) = self.server_peak_rss_bytes {
            line += &format!(", peak RSS {:.1} MiB", rss as f64 / (1024.0 * 1024.0));
        }
        line += &format!(
            "; bench {:.1} us CPU/op",
            self.bench_cpu_seconds_per_op * 1e6
        );
        line
    }
}
