//! Helpers the benchmarks share.

/// The CPU time this thread has run, where Linux tells it (`/proc/thread-self/schedstat`, in
/// nanoseconds): on a machine shared with other work, wall time overstates a benchmark's cost.
pub fn cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(nanos as f64 / 1e9)
}

/// Under `--profile-time` (a profiler attached) only criterion's routines run, not the plain
/// figures printed after them.
pub fn profiling() -> bool {
    std::env::args().any(|arg| arg == "--profile-time")
}
