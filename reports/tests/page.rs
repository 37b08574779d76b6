//! The report is one self-contained, deterministic page.

mod common;

// Rule: the page needs no network (no external script, style, font or image), carries the
// narration, and is the same byte for byte when the same run is recorded again (no wall-clock
// time leaks in). Set DETCD_REPORT_OUT to keep the page for a look in a browser.
#[test]
fn report_is_self_contained_and_deterministic() {
    let title = "5-node brain split, leader in the minority";
    let html = detcd_reports::html(&common::brain_split(1), title);
    let again = detcd_reports::html(&common::brain_split(1), title);
    assert!(
        html == again,
        "two recordings of seed 1 give different reports"
    );
    let without_namespace = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for external in ["http://", "https://", "src=", "@import", "url("] {
        assert!(
            !without_namespace.contains(external),
            "the page refers to {external}"
        );
    }
    assert!(html.contains("<h2>What happened</h2>"));
    assert!(html.contains("becomes LEADER of term"));
    if let Some(path) = std::env::var_os("DETCD_REPORT_OUT") {
        std::fs::write(path, &html).expect("the report is written");
    }
}
