//! The narration tells a brain split the way a student needs it: every election with its term
//! and voters, the old leader stepping down, the minority's failed writes and the heal.

mod common;

use detcd_sim::cluster::ClusterEvent;

// Rule: every leader of the run is announced at the time it was elected, with its term and the
// members that voted for it.
#[test]
fn every_election_is_told_with_term_and_voters() {
    let record = common::brain_split(1);
    let lines = detcd_reports::explain(&record);
    let mut elections = 0;
    for (at, event) in &record.events {
        let ClusterEvent::Elected { node, term, voters } = event else {
            continue;
        };
        let voters: Vec<String> = voters.iter().map(u64::to_string).collect();
        let told = format!(
            "{:>9}  member {node} becomes LEADER of term {term} with the votes of {}",
            at.to_string(),
            voters.join(", ")
        );
        assert!(
            lines.iter().any(|line| line.starts_with(&told)),
            "missing: {told}\n{lines:#?}"
        );
        elections += 1;
    }
    assert!(elections >= 2, "the brain split elects a second leader");
}

// Rule: the leader cut off in the minority is told stepping down for lack of a quorum, after the
// split; writes sent to the minority are told failing, and the heal is told.
#[test]
fn brain_split_step_down_failures_and_heal_are_told() {
    let record = common::brain_split(1);
    let lines = detcd_reports::explain(&record);
    let old_leader = record
        .events
        .iter()
        .find_map(|(_, event)| match event {
            ClusterEvent::SteppedDown { node, term } => Some((*node, *term)),
            _ => None,
        })
        .expect("the old leader steps down");
    let split = position(&lines, "the network SPLITS");
    let step_down = position(
        &lines,
        &format!(
            "member {} STEPS DOWN as leader of term {}",
            old_leader.0, old_leader.1
        ),
    );
    assert!(lines[step_down].contains("quorum"), "{}", lines[step_down]);
    let minority_failure = lines
        .iter()
        .position(|line| line.contains("minority side of the partition") && line.contains("FAIL"))
        .unwrap_or_else(|| panic!("no failure told on the minority side:\n{lines:#?}"));
    assert!(lines[minority_failure].contains("FAIL with \"etcdserver: no leader\""));
    let heal = position(&lines, "the network HEALS");
    assert!(split < step_down && step_down < heal && minority_failure < heal);
    // Lines are in time order.
    let times: Vec<f64> = lines
        .iter()
        .map(|line| {
            line.trim_start()
                .split('s')
                .next()
                .expect("a time")
                .parse()
                .expect("seconds")
        })
        .collect();
    assert!(times.windows(2).all(|pair| pair[0] <= pair[1]));
}

fn position(lines: &[String], needle: &str) -> usize {
    lines
        .iter()
        .position(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no line says {needle:?}:\n{lines:#?}"))
}
