//! The catalogue's scenario files: each parses, each is listed, and each scripted one prints,
//! for the golden seed, exactly the output it keeps. `UPDATE_GOLDEN=1 cargo test -p
//! detcd-scenarios --test golden` rewrites the files instead; review the diff like code.

use std::path::PathBuf;

use detcd_scenarios::catalogue::{self, Scenario};
use detcd_scenarios::script::GOLDEN_SEED;
use detcd_sim::trace::TraceSettings;

fn catalogue_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("catalogue")
}

// Rule: a scripted scenario's output for the golden seed is the output its file keeps, and the
// run passes (every expectation held, the history checked).
#[test]
fn scripted_scenarios_match_their_golden_output() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut mismatched = Vec::new();
    for scenario in catalogue::all() {
        if !scenario.script.is_scripted() {
            continue;
        }
        let execution = scenario
            .execute(GOLDEN_SEED, &[], TraceSettings::hash_only())
            .expect("catalogue scripts name only members they have");
        let actual = scenario.script.rewrite(&execution.outputs);
        if update {
            let path = catalogue_dir().join(format!("{}.txt", scenario.name));
            std::fs::write(&path, &actual).expect("the catalogue is writable");
        } else if actual != scenario.source {
            mismatched.push(format!(
                "{}:\n{}",
                scenario.name,
                first_difference(&scenario.source, &actual)
            ));
        }
        assert!(
            execution.passed(),
            "{} fails for seed {GOLDEN_SEED}: {}",
            scenario.name,
            execution.failure().unwrap_or_default()
        );
    }
    assert!(
        mismatched.is_empty(),
        "output differs from the golden file (UPDATE_GOLDEN=1 to rewrite):\n{}",
        mismatched.join("\n")
    );
}

/// The first differing line of two texts, with its number.
fn first_difference(expected: &str, actual: &str) -> String {
    let mut expected_lines = expected.lines();
    let mut actual_lines = actual.lines();
    for number in 1.. {
        match (expected_lines.next(), actual_lines.next()) {
            (None, None) => break,
            (want, got) if want == got => continue,
            (want, got) => {
                return format!(
                    "  line {number}\n  expected: {}\n  actual:   {}",
                    want.unwrap_or("(end of file)"),
                    got.unwrap_or("(end of output)")
                );
            }
        }
    }
    "  only line endings differ".into()
}

// Rule: every file in the catalogue directory is in the catalogue, so none is silently left out
// of `list`, the golden test and CI's sweep.
#[test]
fn every_catalogue_file_is_listed() {
    let mut on_disk: Vec<String> = std::fs::read_dir(catalogue_dir())
        .expect("the catalogue directory exists")
        .map(|entry| {
            entry
                .expect("readable")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter_map(|name| name.strip_suffix(".txt").map(str::to_string))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = catalogue::FILES
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

// Rule: every scenario says what it teaches: a purpose of at least a sentence.
#[test]
fn every_scenario_has_a_purpose() {
    for scenario in catalogue::all() {
        assert!(
            scenario.purpose.len() > 40 && scenario.purpose.trim_end_matches(')').ends_with('.'),
            "{}: {:?}",
            scenario.name,
            scenario.purpose
        );
    }
}

// Rule: a file naming a member the cluster lacks is refused with the line that names it.
#[test]
fn a_missing_member_is_an_error_with_its_line() {
    let scenario = Scenario::parse("bad", "# Bad.\ncluster 3\ncrash 4\ncheck\n").expect("parses");
    let error = scenario
        .execute(1, &[], TraceSettings::hash_only())
        .expect_err("member 4 does not exist");
    assert!(
        error.contains("line 3") && error.contains("member 4"),
        "{error}"
    );
}
