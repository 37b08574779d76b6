//! Large etcd histories with many unknown outcomes are decided quickly by the revision pass.

use detcd_checker::budget::{Budget, Meter};
use detcd_checker::generate::{self, Shape};
use detcd_checker::revision::{self, RevisionOutcome};

// Hundreds of writes with unknown outcomes, most of them never revealed, leave hundreds of
// revisions open; the pass still decides within a small budget of steps: unknown reads are dropped,
// responses pin what most gaps wrote, interchangeable candidates are tried once, and the walk
// backtracks in place. (The old pass copied its bookkeeping per candidate and tried every
// candidate at every gap.)
/// A small budget for 3,000 operations (about 1,600 revisions): a few walks over them.
const STEPS_MAX: u64 = 10_000;

#[test]
fn many_unknown_writes_decide_fast() {
    for seed in 0..3 {
        let operations = generate::etcd_history(
            seed,
            Shape {
                clients: 16,
                operations: 3_000,
                unknown_percent: 25,
            },
        );
        let open = operations
            .iter()
            .filter(|operation| operation.is_open())
            .count();
        assert!(open > 600, "seed {seed}: {open} unknown outcomes");
        let mut meter = Meter::start(Budget::with_steps_max(STEPS_MAX));
        let outcome = revision::check(&operations, &mut meter);
        assert!(
            matches!(outcome, RevisionOutcome::Linearizable { .. }),
            "seed {seed}: {outcome:?} after {} steps",
            meter.steps()
        );
    }
}
