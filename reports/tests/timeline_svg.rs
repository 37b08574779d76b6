//! The drawn timeline is the run: read back from the report's SVG, its lanes, terms, partition
//! and client operations match the run's Raft events, trace and history.

mod common;

use std::collections::BTreeMap;

use detcd_checker::history::{HistoryRecord, Outcome, is_definitive_error};
use detcd_reports::RunRecord;
use detcd_sim::cluster::ClusterEvent;
use detcd_sim::trace::TraceKind;
use roxmltree::{Document, Node};

/// The `<svg id="timeline">` element of the report, as XML text.
fn timeline_svg(html: &str) -> &str {
    let start = html
        .find("<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"timeline\"")
        .expect("a timeline");
    let end = start + html[start..].find("</svg>").expect("closed") + "</svg>".len();
    &html[start..end]
}

fn elements<'a>(document: &'a Document, class: &str) -> Vec<Node<'a, 'a>> {
    document
        .descendants()
        .filter(|node| {
            node.attribute("class")
                .is_some_and(|classes| classes.split(' ').any(|c| c == class))
        })
        .collect()
}

fn number(node: &Node, attribute: &str) -> u64 {
    node.attribute(attribute)
        .unwrap_or_else(|| panic!("{attribute} on {node:?}"))
        .parse()
        .expect("a number")
}

fn role_name(role: detcd_core::raft::Role) -> &'static str {
    use detcd_core::raft::Role;
    match role {
        Role::Follower => "follower",
        Role::PreCandidate => "pre-candidate",
        Role::Candidate => "candidate",
        Role::Leader => "leader",
    }
}

fn brain_split_report() -> (RunRecord, String) {
    let record = common::brain_split(1);
    let html = detcd_reports::html(&record, "brain split");
    (record, html)
}

// Rule: there is one lane per member, and wherever the observer saw a member take a role in a
// term, the drawing shows that member in that role with that term at that time.
#[test]
fn node_lanes_show_every_role_change() {
    let (record, html) = brain_split_report();
    let document = Document::parse(timeline_svg(&html)).expect("the SVG is well-formed XML");
    let lanes: Vec<u64> = elements(&document, "node")
        .iter()
        .map(|n| number(n, "data-node"))
        .collect();
    assert_eq!(lanes, record.members);

    let states = elements(&document, "state");
    let mut checked = 0;
    for (at, event) in &record.events {
        let ClusterEvent::RoleChanged { node, role, term } = event else {
            continue;
        };
        // Only the last change of a member within one millisecond is visible at that resolution.
        let superseded = record.events.iter().any(|(later, e)| {
            later > at
                && later.as_millis() == at.as_millis()
                && matches!(e, ClusterEvent::RoleChanged { node: n, .. } if n == node)
        });
        if superseded {
            continue;
        }
        let ms = at.as_millis();
        let covering = states.iter().find(|rect| {
            number(rect, "data-node") == *node
                && number(rect, "data-t0") <= ms
                && ms < number(rect, "data-t1")
        });
        let rect = covering.unwrap_or_else(|| panic!("no span of member {node} at {at}"));
        assert_eq!(
            rect.attribute("data-role"),
            Some(role_name(*role)),
            "member {node} at {at}"
        );
        assert_eq!(number(rect, "data-term"), *term, "member {node} at {at}");
        checked += 1;
    }
    assert!(
        checked >= 20,
        "a brain split changes roles often, checked {checked}"
    );
}

// Rule: a member's lane labels each term it enters, in order, and only those.
#[test]
fn term_labels_follow_each_members_terms() {
    let (record, html) = brain_split_report();
    let document = Document::parse(timeline_svg(&html)).expect("well-formed");
    for &member in &record.members {
        let mut expected: Vec<u64> = Vec::new();
        for (_, event) in &record.events {
            if let ClusterEvent::RoleChanged { node, term, .. } = event
                && *node == member
                && expected.last() != Some(term)
            {
                expected.push(*term);
            }
        }
        let shown: Vec<u64> = elements(&document, "term")
            .iter()
            .filter(|label| number(label, "data-node") == member)
            .map(|label| number(label, "data-term"))
            .collect();
        assert_eq!(shown, expected, "terms of member {member}");
    }
    let elected: Vec<(u64, u64)> = elements(&document, "elected")
        .iter()
        .map(|marker| (number(marker, "data-node"), number(marker, "data-term")))
        .collect();
    let mut leaders: Vec<(u64, u64)> = record
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            ClusterEvent::Elected { node, term, .. } => Some((*node, *term)),
            _ => None,
        })
        .collect();
    leaders.sort_unstable();
    let mut elected_sorted = elected.clone();
    elected_sorted.sort_unstable();
    assert_eq!(elected_sorted, leaders);
    assert!(
        !elements(&document, "stepped-down").is_empty(),
        "the old leader steps down"
    );
}

// Rule: every request a client sent is one bar on its client's lane, coloured by the outcome
// the history records for it (ok, failed: a definitive error, unknown: anything else).
#[test]
fn client_bars_match_the_history() {
    let (record, html) = brain_split_report();
    let document = Document::parse(timeline_svg(&html)).expect("well-formed");
    let sent = record
        .trace
        .iter()
        .filter(|event| matches!(event.kind, TraceKind::ClientRequest { .. }))
        .count();
    let bars = elements(&document, "op");
    assert_eq!(bars.len(), sent);

    let mut expected: BTreeMap<u64, &str> = BTreeMap::new();
    for history_record in &record.history {
        match history_record {
            HistoryRecord::Invoke { op, .. } => {
                expected.insert(*op, "unknown");
            }
            HistoryRecord::Return { op, outcome, .. } => {
                let class = match outcome {
                    Outcome::Ok(_) => "ok",
                    Outcome::Error { message } if is_definitive_error(message) => "failed",
                    Outcome::Error { .. } | Outcome::Unknown { .. } => "unknown",
                };
                expected.insert(*op, class);
            }
            HistoryRecord::Watch { .. } => {}
        }
    }
    let drawn: BTreeMap<u64, &str> = bars
        .iter()
        .map(|bar| {
            (
                number(bar, "data-op"),
                bar.attribute("data-outcome").expect("an outcome"),
            )
        })
        .collect();
    assert_eq!(drawn, expected);
    for class in ["ok", "failed", "unknown"] {
        assert!(
            drawn.values().any(|&c| c == class),
            "a brain split has {class} requests"
        );
    }
}

// Rule: a partition is a band from the split to the heal that says who can reach whom.
#[test]
fn partition_band_spans_split_to_heal() {
    let (record, html) = brain_split_report();
    let document = Document::parse(timeline_svg(&html)).expect("well-formed");
    let bands = elements(&document, "partition-band");
    assert_eq!(bands.len(), 1);
    assert_eq!(
        (number(&bands[0], "data-t0"), number(&bands[0], "data-t1")),
        (5_000, 12_000)
    );
    let group = elements(&document, "partition")[0];
    let shape = group.attribute("data-shape").expect("a shape");
    let sides: Vec<usize> = shape
        .split(" | ")
        .map(|side| side.split(' ').count())
        .collect();
    assert_eq!(sides, [2, 3], "{shape}");
    assert_eq!(record.members.len(), 5);
}
