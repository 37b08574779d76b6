//! CPU time and peak memory of processes, from /proc.

use procfs::process::Process;

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(process: &Process) -> Result<f64, String> {
    let stat = process.stat().map_err(|error| error.to_string())?;
    Ok((stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64)
}

/// Peak resident set size in bytes (VmHWM).
fn peak_rss_bytes(process: &Process) -> Result<u64, String> {
    let status = process.status().map_err(|error| error.to_string())?;
    Ok(status.vmhwm.unwrap_or(0) * 1024)
}

/// The servers' summed CPU seconds and peak RSS, and the tool's own CPU seconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    pub server_cpu_seconds: f64,
    pub server_peak_rss_bytes: u64,
    pub own_cpu_seconds: f64,
}

pub fn sample(server_pids: &[i32]) -> Result<Sample, String> {
    let mut sample = Sample::default();
    for &pid in server_pids {
        let process = Process::new(pid).map_err(|error| format!("server pid {pid}: {error}"))?;
        sample.server_cpu_seconds += cpu_seconds(&process)?;
        sample.server_peak_rss_bytes += peak_rss_bytes(&process)?;
    }
    let myself = Process::myself().map_err(|error| error.to_string())?;
    sample.own_cpu_seconds = cpu_seconds(&myself)?;
    Ok(sample)
}
