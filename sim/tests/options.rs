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

// Rule: swarm seeds draw profiles, not one average world: some crash whole groups, up to the
// whole cluster, over slow disks without corruption (durability); some run with no crashes at
// all and a lossy network (network); and every drawn world keeps its crash bound consistent.
#[test]
fn swarm_draws_durability_and_network_profiles() {
    let drawn: Vec<SimOptions> = (0..100).map(SimOptions::draw).collect();
    let durability = drawn.iter().filter(|options| {
        options.crashed_max == options.node_count
            && options.fault_weights.crash_group > 0
            && options.corruption_probability == 0.0
            && options.disk_latency_ms_max > options.latency_ms_max
    });
    assert!(durability.count() >= 20, "too few durability seeds");
    let network = drawn.iter().filter(|options| {
        options.fault_weights.crash == 0
            && options.fault_weights.crash_group == 0
            && options.loss_probability > 0.0
            && options.fault_weights.partition > 0
    });
    assert!(network.count() >= 10, "too few network seeds");
    for options in &drawn {
        let whole = options.crashed_max == options.node_count;
        assert!(whole || options.crashed_max == (options.node_count - 1) / 2);
        assert!(
            !whole || options.corruption_probability == 0.0,
            "a world that may crash every node never corrupts a disk for good"
        );
        let resized = options.clone().with_node_count(5);
        assert_eq!(resized.crashed_max, if whole { 5 } else { 2 });
    }
}
