//! `sweep-merge` of the shards' `--json` files tells what the unsharded sweep tells: the same
//! runs with the same verdicts, the same table and replay commands, the same exit code.

mod common;

use common::{Scratch, detcd_sim, read, stdout};
use detcd_scenarios::sweep::record;

/// The table and failures without the total line's tail, which says how the runs were made
/// (seeds per second, or how many files were merged) rather than what they found.
fn findings(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| match line.starts_with("total ") {
            true => line
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
            false => line.to_string(),
        })
        .collect()
}

// Rule: merging the JSON lines of shards 1/3, 2/3 and 3/3 gives the unsharded sweep's lines
// exactly (each run's verdict, measures and replay command), and `sweep-merge` prints the
// unsharded sweep's table and failures and fails as it did.
#[test]
fn merged_shards_equal_the_unsharded_sweep() {
    let scratch = Scratch::new("sweep-merge");
    let (passes, fails) = scratch.scenarios();
    let sweep = |json: &str, shard: Option<&str>| {
        let mut args = vec!["sweep", &passes, &fails, "--seeds", "2..10", "--json", json];
        args.extend(shard.iter().flat_map(|shard| ["--shard", shard]));
        detcd_sim(&args)
    };
    let whole = scratch.path("whole.jsonl");
    let unsharded = sweep(&whole, None);
    assert_eq!(unsharded.status.code(), Some(1), "{}", stdout(&unsharded));

    let mut shard_files = Vec::new();
    let mut merged_lines = Vec::new();
    for shard in ["1/3", "2/3", "3/3"] {
        let file = scratch.path(&format!("shard-{}.jsonl", &shard[..1]));
        assert_eq!(sweep(&file, Some(shard)).status.code(), Some(1));
        merged_lines.extend(record::read(file.as_ref()).expect("the shard's lines read back"));
        shard_files.push(file);
    }
    let merged_lines = record::merge(merged_lines).expect("the shards are disjoint");
    let whole_lines = record::read(whole.as_ref()).expect("the sweep's lines read back");
    assert_eq!(whole_lines.len(), 16);
    assert_eq!(merged_lines, whole_lines);
    assert_eq!(
        read(&whole).lines().count(),
        16,
        "one JSON object per line and run"
    );

    let mut args = vec!["sweep-merge"];
    args.extend(shard_files.iter().map(String::as_str));
    let merged = detcd_sim(&args);
    assert_eq!(merged.status.code(), unsharded.status.code());
    assert_eq!(findings(&stdout(&merged)), findings(&stdout(&unsharded)));
    assert!(stdout(&merged).contains("merged from 3 files"));
}

// Rule: a run in two of the files (the same shard given twice) is a usage error, not a run
// counted twice.
#[test]
fn merging_a_run_twice_is_a_usage_error() {
    let scratch = Scratch::new("sweep-merge-twice");
    let (passes, _) = scratch.scenarios();
    let file = scratch.path("shard.jsonl");
    let sweep = detcd_sim(&["sweep", &passes, "--seeds", "1..3", "--json", &file]);
    assert!(sweep.status.success(), "{}", stdout(&sweep));
    let merged = detcd_sim(&["sweep-merge", &file, &file]);
    assert_eq!(merged.status.code(), Some(2));
    assert!(common::stderr(&merged).contains("appears more than once"));
}
