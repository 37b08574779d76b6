//! The determinism audit: every seed run twice, in separate processes, must leave the same trace.
//!
//! Running a seed twice in one process would miss what differs between processes: hash-map
//! seeds, addresses, anything read from the environment. So each run is a child process (this
//! same executable, `detcd-sim trace ...`) that writes its full trace as JSON lines and prints
//! the trace hash. Equal hashes pass and the traces are deleted; on a mismatch the two traces
//! are compared line by line and the first diverging event is shown, and both files are kept.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::catalogue::Scenario;

/// The hidden subcommand a child runs, and the prefix of the line it prints.
pub const TRACE_COMMAND: &str = "trace";
pub const TRACE_HASH_PREFIX: &str = "trace hash ";
/// A diverging line is shown up to this many characters; the whole trace stays on disk.
const LINE_CHARS_SHOWN_MAX: usize = 1_000;

/// What the audit found for one seed.
#[derive(Debug, PartialEq, Eq)]
pub enum SeedAudit {
    Identical {
        hash: u64,
    },
    Diverged {
        hashes: [u64; 2],
        traces: [PathBuf; 2],
        divergence: Option<Divergence>,
    },
    /// A child did not run to its hash (it panicked, or could not be started).
    Broken(String),
}

/// The first line where two traces differ; `None` on a side means that trace had ended.
#[derive(Debug, PartialEq, Eq)]
pub struct Divergence {
    pub line_number: usize,
    pub lines: [Option<String>; 2],
}

/// Audit every seed of `seeds`, printing one line per seed and a summary. True when every seed
/// left identical traces in both processes.
pub fn audit(
    scenario: &Scenario,
    seeds: Range<u64>,
    overrides: &[(String, String)],
    trace_dir: &Path,
) -> io::Result<bool> {
    let executable = std::env::current_exe()?;
    fs::create_dir_all(trace_dir)?;
    let (mut identical, mut diverged, mut broken) = (0, 0, 0);
    for seed in seeds {
        // A scenario named by its path becomes one file name.
        let stem = scenario.name.replace(['/', '\\'], "_");
        let traces = [1, 2].map(|run| trace_dir.join(format!("{stem}-{seed}-run{run}.jsonl")));
        let found = audit_seed(&executable, scenario, seed, overrides, &traces);
        print_seed(seed, &found);
        match found {
            SeedAudit::Identical { .. } => identical += 1,
            SeedAudit::Diverged { .. } => diverged += 1,
            SeedAudit::Broken(_) => broken += 1,
        }
    }
    println!("\n{identical} seeds identical, {diverged} diverged, {broken} could not run");
    if diverged > 0 {
        println!("traces of diverging seeds kept in {}", trace_dir.display());
    } else {
        // Only removes the directory if nothing is left in it, such as a user's own files.
        let _ = fs::remove_dir(trace_dir);
    }
    Ok(diverged == 0 && broken == 0)
}

/// Run `seed` in two child processes at once (one per core) and compare what they traced.
pub fn audit_seed(
    executable: &Path,
    scenario: &Scenario,
    seed: u64,
    overrides: &[(String, String)],
    traces: &[PathBuf; 2],
) -> SeedAudit {
    let children = traces
        .each_ref()
        .map(|trace| spawn_trace(executable, scenario, seed, overrides, trace));
    let hashes = children.map(|child| child.and_then(wait_for_hash));
    let hashes = match hashes {
        [Ok(first), Ok(second)] => [first, second],
        [Err(why), _] | [_, Err(why)] => {
            remove_traces(traces);
            return SeedAudit::Broken(why);
        }
    };
    if hashes[0] == hashes[1] {
        remove_traces(traces);
        return SeedAudit::Identical { hash: hashes[0] };
    }
    let divergence = match first_divergence(&traces[0], &traces[1]) {
        Ok(divergence) => divergence,
        Err(error) => return SeedAudit::Broken(format!("cannot compare the traces: {error}")),
    };
    SeedAudit::Diverged {
        hashes,
        traces: traces.clone(),
        divergence,
    }
}

fn spawn_trace(
    executable: &Path,
    scenario: &Scenario,
    seed: u64,
    overrides: &[(String, String)],
    trace: &Path,
) -> Result<Child, String> {
    let mut command = Command::new(executable);
    command
        .args([TRACE_COMMAND, &scenario.name, "--seed", &seed.to_string()])
        .arg("--out")
        .arg(trace);
    for (key, value) in overrides {
        command.arg("--set").arg(format!("{key}={value}"));
    }
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot start {}: {error}", executable.display()))
}

fn wait_for_hash(child: Child) -> Result<u64, String> {
    let output = child
        .wait_with_output()
        .map_err(|error| error.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let hash = stdout
        .lines()
        .find_map(|line| line.strip_prefix(TRACE_HASH_PREFIX))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok());
    match (output.status.success(), hash) {
        (true, Some(hash)) => Ok(hash),
        _ => Err(format!(
            "the run exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    }
}

fn remove_traces(traces: &[PathBuf; 2]) {
    for trace in traces {
        // A child that failed early may not have created its file.
        let _ = fs::remove_file(trace);
    }
}

/// The first line (numbered from 1) where the two JSON-lines traces differ, or `None` if they
/// are the same.
pub fn first_divergence(first: &Path, second: &Path) -> io::Result<Option<Divergence>> {
    let mut first = BufReader::new(File::open(first)?).lines();
    let mut second = BufReader::new(File::open(second)?).lines();
    let mut line_number = 0;
    loop {
        line_number += 1;
        let lines = [first.next().transpose()?, second.next().transpose()?];
        match &lines {
            [None, None] => return Ok(None),
            [a, b] if a == b => continue,
            _ => return Ok(Some(Divergence { line_number, lines })),
        }
    }
}

fn print_seed(seed: u64, found: &SeedAudit) {
    match found {
        SeedAudit::Identical { hash } => println!("seed {seed:>6}  identical  {hash:016x}"),
        SeedAudit::Broken(why) => println!("seed {seed:>6}  could not run: {why}"),
        SeedAudit::Diverged {
            hashes,
            traces,
            divergence,
        } => {
            println!(
                "seed {seed:>6}  DIVERGED   {:016x} != {:016x}",
                hashes[0], hashes[1]
            );
            match divergence {
                Some(divergence) => print_divergence(divergence, traces),
                None => println!("              the JSON traces are equal; only the hashes differ"),
            }
        }
    }
}

fn print_divergence(divergence: &Divergence, traces: &[PathBuf; 2]) {
    println!(
        "              first diverging event at line {}:",
        divergence.line_number
    );
    for (line, trace) in divergence.lines.iter().zip(traces) {
        let shown = match line {
            Some(line) if line.chars().count() > LINE_CHARS_SHOWN_MAX => {
                let head: String = line.chars().take(LINE_CHARS_SHOWN_MAX).collect();
                format!("{head}...")
            }
            Some(line) => line.clone(),
            None => "(the trace ends here)".into(),
        };
        println!("              {}: {shown}", trace.display());
    }
}
