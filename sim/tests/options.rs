//! Swarm options: drawn deterministically from the seed, and printed in full.

use detcd_sim::SimOptions;

// Rule: `SimOptions::draw` is a function of the seed alone, and different seeds draw different
// worlds.
#[test]
fn draw_is_deterministic() {
    for seed in 0..50 {
        assert_eq!(SimOptions::draw(seed), SimOptions::draw(seed));
        SimOptions::draw(seed).validate();
    }
    let distinct: Vec<String> = (0..50)
        .map(|seed| SimOptions::draw(seed).to_string())
        .collect();
    let mut unique = distinct.clone();
    unique.sort();
    unique.dedup();
    assert!(
        unique.len() > 45,
        "only {} distinct option sets in 50 seeds",
        unique.len()
    );
}

// Rule: the printed options name every field of `SimOptions` (and of its fault weights), so a
// knob added later without a line in `Display` fails here.
#[test]
fn display_prints_every_knob() {
    let options = SimOptions::draw(3);
    let printed = options.to_string();
    let debug = format!("{options:?}");
    let field_names = debug
        .split([' ', '{', ','])
        .filter_map(|word| word.strip_suffix(':'));
    let mut count = 0;
    for name in field_names {
        assert!(
            printed.contains(name),
            "Display is missing `{name}`:\n{printed}"
        );
        count += 1;
    }
    assert!(count >= 30, "Debug listed only {count} fields");
    println!("{printed}");
}
