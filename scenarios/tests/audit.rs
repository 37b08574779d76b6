//! The determinism audit: a seed run in two processes leaves the same trace, and when two traces
//! differ the audit finds the first diverging event.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use detcd_scenarios::audit::{Divergence, first_divergence};

fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("detcd-audit-test-{test}-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("the temporary directory is writable");
    dir
}

// Rule: two seeds of healthy-5, each run twice in separate processes, give identical trace
// hashes; the audit says so per seed, exits 0 and leaves no trace behind.
#[test]
fn audit_of_healthy_seeds_finds_identical_traces() {
    let dir = scratch_dir("healthy").join("traces");
    let output = Command::new(env!("CARGO_BIN_EXE_detcd-sim"))
        .args(["audit", "healthy-5", "--seeds", "1..3"])
        .arg("--trace-dir")
        .arg(&dir)
        .output()
        .expect("detcd-sim starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for seed in [1, 2] {
        let line = stdout
            .lines()
            .find(|line| line.starts_with(&format!("seed {seed:>6}")))
            .unwrap_or_else(|| panic!("no line for seed {seed}:\n{stdout}"));
        assert!(line.contains("identical"), "{line}");
    }
    assert!(
        stdout.contains("2 seeds identical, 0 diverged, 0 could not run"),
        "{stdout}"
    );
    assert!(!dir.exists(), "the traces of identical seeds were kept");
}

// Rule: the first divergence is the first line that differs, numbered from 1; a trace that ends
// early diverges where it ends; equal traces do not diverge.
#[test]
fn first_divergence_finds_the_first_differing_line() {
    let dir = scratch_dir("divergence");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        fs::write(&path, text).expect("writable");
        path
    };
    let base = write("base.jsonl", "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n");
    let same = write("same.jsonl", "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n");
    let changed = write("changed.jsonl", "{\"a\":1}\n{\"b\":9}\n{\"c\":3}\n");
    let shorter = write("shorter.jsonl", "{\"a\":1}\n{\"b\":2}\n");

    assert_eq!(first_divergence(&base, &same).expect("readable"), None);
    assert_eq!(
        first_divergence(&base, &changed).expect("readable"),
        Some(Divergence {
            line_number: 2,
            lines: [Some("{\"b\":2}".into()), Some("{\"b\":9}".into())],
        })
    );
    assert_eq!(
        first_divergence(&base, &shorter).expect("readable"),
        Some(Divergence {
            line_number: 3,
            lines: [Some("{\"c\":3}".into()), None],
        })
    );
    fs::remove_dir_all(&dir).expect("removable");
}
