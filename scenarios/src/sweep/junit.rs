//! A sweep as a JUnit XML report, the format GitLab, Jenkins and GitHub's test reporters read:
//! one `<testsuites>` root, a `<testsuite>` per scenario, a `<testcase>` per run (classname the
//! scenario, name `seed N`), and a `<failure>` with the verdict and replay command; a run whose
//! history check stayed undecided is `<skipped>` (nothing found, nothing proven), with its
//! replay command too.
//!
//! Written by hand: the report is a few fixed elements whose only variable parts are escaped
//! by [`escape`], which an XML crate would not make shorter or safer, and no XML writer is in
//! the workspace's lock file to reuse.

use std::fmt::Write as _;

use super::record::{self, RunLine};

/// The report of `lines`, which took `elapsed_secs` of wall-clock time in all.
pub fn xml(lines: &[RunLine], elapsed_secs: f64) -> String {
    let failures = lines.iter().filter(|line| line.failed()).count();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"detcd-sim sweep\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" \
         time=\"{elapsed_secs:.3}\">",
        lines.len()
    );
    for scenario in record::scenario_names(lines) {
        let runs: Vec<&RunLine> = lines
            .iter()
            .filter(|line| line.scenario == scenario)
            .collect();
        push_suite(&mut xml, &scenario, &runs);
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// One scenario's runs as a `<testsuite>`.
fn push_suite(xml: &mut String, scenario: &str, runs: &[&RunLine]) {
    let failures = runs.iter().filter(|run| run.failed()).count();
    let skipped = runs.iter().filter(|run| run.undecided()).count();
    let time: f64 = runs.iter().map(|run| run.wall_secs).sum();
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" \
         skipped=\"{skipped}\" time=\"{time:.3}\">",
        escape(scenario),
        runs.len()
    );
    for run in runs {
        push_case(xml, run);
    }
    xml.push_str("  </testsuite>\n");
}

/// One run as a `<testcase>`, with a `<failure>` if it failed.
fn push_case(xml: &mut String, run: &RunLine) {
    let _ = write!(
        xml,
        "    <testcase classname=\"{}\" name=\"seed {}\" time=\"{:.3}\"",
        escape(&run.scenario),
        run.seed,
        run.wall_secs
    );
    let Some(failure) = &run.failure else {
        xml.push_str("/>\n");
        return;
    };
    // Reporters show the message in their summaries and the body in the details: both carry
    // the verdict and the command, so that either is enough to reproduce the failure.
    let text = escape(&format!(
        "{failure}\nreplay: {}",
        run.replay.as_deref().unwrap_or_default()
    ));
    let element = match run.undecided() {
        true => "skipped",
        false => "failure",
    };
    let _ = writeln!(
        xml,
        ">\n      <{element} message=\"{text}\" type=\"{}\">{text}</{element}>\n    </testcase>",
        escape(&run.verdict)
    );
}

/// `text` as XML 1.0 character data, fit for an attribute value or an element: markup
/// characters as entities; line breaks and tabs as character references, since a parser turns
/// them into spaces in attribute values otherwise; and the control characters XML 1.0 cannot
/// carry at all (a panic message may hold any) as U+FFFD.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\n' => escaped.push_str("&#10;"),
            '\r' => escaped.push_str("&#13;"),
            '\t' => escaped.push_str("&#9;"),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => escaped.push('\u{fffd}'),
            character => escaped.push(character),
        }
    }
    escaped
}
