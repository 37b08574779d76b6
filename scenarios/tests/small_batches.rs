//! Appends of one entry each: the catalogue's leader-change scenario with every member's
//! `batch_bytes_max` below one entry's size, so every append carries exactly one entry.
//!
//! Rule: a leader's stream of appends to a follower stays bounded however small its batches, and
//! however the network reorders them. Before the rule, 10 of these 33 seeds ended with a member
//! producing over a million outputs for one input: late rejections of an earlier stream each
//! restarted the stream and resent a window of one-entry appends, and the resends multiplied.

use detcd_scenarios::catalogue;
use detcd_sim::trace::TraceSettings;

#[test]
fn one_entry_appends_through_leader_changes_stay_bounded() {
    let scenario = catalogue::find("watch-leader-change").expect("in the catalogue");
    let overrides = vec![("batch_bytes_max".to_string(), "200".to_string())];
    let failed: Vec<String> = (1..=33)
        .filter_map(|seed| {
            let run = scenario
                .execute(seed, &overrides, TraceSettings::hash_only())
                .expect("the scenario runs");
            run.failure()
                .map(|failure| format!("seed {seed}: {failure}"))
        })
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}
