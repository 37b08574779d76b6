//! `sweep --shard K/N` cuts a seed range into N disjoint slices that together are the range,
//! so N CI jobs run every seed exactly once; a shard that does not exist is a usage error.

mod common;

use std::collections::BTreeSet;
use std::sync::Mutex;

use common::{detcd_sim, stderr};
use detcd_scenarios::sweep::{self, RunResult, SeedPlan, SeedRange, Shard};

/// The seeds a sweep of `plan` runs, as the engine hands them out.
fn seeds_run(plan: &SeedPlan) -> Vec<u64> {
    let seen = Mutex::new(Vec::new());
    sweep::sweep_with(1, plan, &[], 2, |_, seed| {
        seen.lock().expect("no run panics").push(seed);
        RunResult {
            failure: None,
            overrides: Vec::new(),
            retried: false,
            measures: None,
        }
    });
    seen.into_inner().expect("no run panics")
}

// Rule: for every N and every range, the N shards' seeds are disjoint, their union is the
// range, and no shard runs a seed twice; their sizes differ by one at most.
#[test]
fn shards_are_disjoint_and_together_are_the_range() {
    for range in [1..2, 1..34, 34..230, 7..12] {
        let whole: BTreeSet<u64> = range.clone().collect();
        for count in 1..=5 {
            let mut union = BTreeSet::new();
            let mut sizes = Vec::new();
            for index in 1..=count {
                let plan = SeedPlan {
                    range: SeedRange::from(range.clone()),
                    shard: Shard { index, count },
                    time_budget: None,
                };
                let seeds = seeds_run(&plan);
                for seed in &seeds {
                    assert!(
                        union.insert(*seed),
                        "seed {seed} of {range:?} is in two shards of {count} (or twice in one)"
                    );
                }
                sizes.push(seeds.len());
            }
            assert_eq!(
                union, whole,
                "the {count} shards of {range:?} are the range"
            );
            let (smallest, largest) = (sizes.iter().min(), sizes.iter().max());
            assert!(
                largest.zip(smallest).is_some_and(|(l, s)| l - s <= 1),
                "{count} shards of {range:?} are balanced: {sizes:?}"
            );
        }
    }
}

// Rule: `--shard` takes K/N with 1 <= K <= N; anything else is a usage error (exit 2) that says
// what a shard looks like, before any run.
#[test]
fn a_shard_that_does_not_exist_is_a_usage_error() {
    for (shard, says) in [
        ("0/4", "shards count from 1"),
        ("5/4", "there is no shard 5 of 4"),
        ("1/0", "0 shards"),
        ("two/4", "expected K/N"),
        ("3", "expected K/N"),
    ] {
        let output = detcd_sim(&["sweep", "healthy-5", "--seeds", "1..3", "--shard", shard]);
        assert_eq!(output.status.code(), Some(2), "{shard}");
        let stderr = stderr(&output);
        assert!(stderr.contains("--shard"), "{shard}: {stderr}");
        assert!(stderr.contains(says), "{shard}: {stderr}");
    }
}
