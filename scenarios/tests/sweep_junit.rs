//! `sweep --junit FILE` writes a JUnit report that CI test reporters can read: well-formed XML
//! with one `<testsuites>` root, one testcase per scenario and seed, and for each failed run a
//! `<failure>` carrying the verdict and the command that replays it.

mod common;

use common::{Scratch, detcd_sim, read, stdout};
use detcd_scenarios::catalogue;
use detcd_scenarios::sweep::{self, RunResult, junit};
use roxmltree::{Document, Node};

fn testcases<'a>(document: &'a Document) -> Vec<Node<'a, 'a>> {
    document
        .descendants()
        .filter(|node| node.has_tag_name("testcase"))
        .collect()
}

fn failure_message(testcase: Node) -> Option<String> {
    testcase
        .children()
        .find(|node| node.has_tag_name("failure"))
        .map(|failure| failure.attribute("message").unwrap_or_default().to_string())
}

// Rule: the report of a real sweep parses, has one testcase per run named after its scenario and
// seed, and a failure for each failed run whose message holds the verdict and the exact replay
// command; a passing run has none; the counts on the root add up.
#[test]
fn the_junit_report_has_a_testcase_per_run_and_replays_each_failure() {
    let scratch = Scratch::new("sweep-junit");
    let (passes, fails) = scratch.scenarios();
    let report = scratch.path("sweep.xml");
    let output = detcd_sim(&[
        "sweep", &passes, &fails, "--seeds", "3..6", "--junit", &report,
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));

    let xml = read(&report);
    let document = Document::parse(&xml).unwrap_or_else(|error| panic!("{error}:\n{xml}"));
    let root = document.root_element();
    assert!(root.has_tag_name("testsuites"), "{xml}");
    assert_eq!(root.attribute("tests"), Some("6"));
    assert_eq!(root.attribute("failures"), Some("3"));
    assert!(root.attribute("time").is_some());

    let cases = testcases(&document);
    assert_eq!(cases.len(), 6, "one testcase per scenario and seed:\n{xml}");
    for (case, (scenario, seed)) in cases.iter().zip([
        (&passes, 3),
        (&passes, 4),
        (&passes, 5),
        (&fails, 3),
        (&fails, 4),
        (&fails, 5),
    ]) {
        assert_eq!(case.attribute("classname"), Some(scenario.as_str()));
        assert_eq!(
            case.attribute("name"),
            Some(format!("seed {seed}").as_str())
        );
        let message = failure_message(*case);
        if scenario == &passes {
            assert_eq!(message, None, "a passing run has no failure");
            continue;
        }
        let message = message.expect("a failed run has a failure");
        let replay = format!("cargo run --release -p detcd-scenarios -- run {fails} --seed {seed}");
        assert_eq!(
            message,
            format!(
                "liveness: the healed cluster did not serve a write and a read in time\n\
                 replay: {replay}"
            )
        );
    }
}

// Rule: whatever a failure's text holds (markup, quotes, line breaks, control characters a panic
// message may carry), the report stays well-formed XML and the message reads back unchanged,
// bar the control characters XML cannot carry.
#[test]
fn the_junit_report_escapes_what_a_failure_says() {
    let said = "a <planted> \"panic\" & 'such'\n\tsecond line \u{1b}[31m";
    let result = sweep::sweep_with(1, &(1..4).into(), &[], 1, |_, seed| {
        assert!(seed != 2, "{said}");
        RunResult {
            failure: None,
            overrides: Vec::new(),
            retried: false,
            measures: None,
        }
    });
    let healthy = catalogue::find("healthy-5").expect("healthy-5 is in the catalogue");
    let xml = junit::xml(&result.lines(&[healthy]), result.elapsed_secs);

    let document = Document::parse(&xml).unwrap_or_else(|error| panic!("{error}:\n{xml}"));
    let cases = testcases(&document);
    assert_eq!(cases.len(), 3, "{xml}");
    let message = failure_message(cases[1]).expect("seed 2 failed");
    let said_in_xml = said.replace('\u{1b}', "\u{fffd}");
    assert!(message.contains(&said_in_xml), "{message:?}");
    assert!(
        message
            .ends_with("replay: cargo run --release -p detcd-scenarios -- run healthy-5 --seed 2"),
        "{message:?}"
    );
}

// Rule: a run whose history check stays undecided found nothing wrong and proved nothing: the
// report marks it skipped (with its replay command), not failed, and the sweep exits 3, not 1,
// when nothing else failed.
#[test]
fn an_undecided_check_is_skipped_not_failed() {
    let scratch = Scratch::new("sweep-junit-undecided");
    let (passes, _) = scratch.scenarios();
    let report = scratch.path("sweep.xml");
    let output = detcd_sim(&[
        "sweep",
        &passes,
        "--seeds",
        "1..3",
        "--set",
        "check_steps_max=1",
        "--junit",
        &report,
    ]);
    let table = stdout(&output);
    assert_eq!(output.status.code(), Some(3), "{table}");
    assert!(
        table.contains("2 history checks stayed undecided"),
        "{table}"
    );

    let xml = read(&report);
    let document = Document::parse(&xml).unwrap_or_else(|error| panic!("{error}:\n{xml}"));
    let root = document.root_element();
    assert_eq!(root.attribute("failures"), Some("0"), "{xml}");
    let suite = root.first_element_child().expect("one suite");
    assert_eq!(suite.attribute("skipped"), Some("2"), "{xml}");
    for case in testcases(&document) {
        assert_eq!(failure_message(case), None, "{xml}");
        let skipped = case
            .children()
            .find(|node| node.has_tag_name("skipped"))
            .unwrap_or_else(|| panic!("the run is skipped:\n{xml}"));
        let message = skipped.attribute("message").unwrap_or_default();
        assert!(
            message.contains("inconclusive") && message.contains("replay: "),
            "{message}"
        );
    }
}
