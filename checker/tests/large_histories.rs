//! Large etcd histories with many unknown outcomes are decided quickly by the revision pass,
//! correct ones and ones with a stale read.

use detcd_checker::budget::{Budget, Meter};
use detcd_checker::generate::{self, Shape, Workload};
use detcd_checker::history::{HistoryRecord, Outcome, Response};
use detcd_checker::revision::{self, RevisionOutcome};
use detcd_checker::{Verdict, check_etcd, etcd};

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

// A stale read (a late read answering what an earlier read of the key answered) in a long
// history with hundreds of gaps is found at once: which request stood in which gap cannot
// change real-time order, so the pass does not search the gaps again when real time fails.
// Each of the check's two walks (with and without the watches' evidence) stops there, so the
// check takes fewer steps than two walks of the whole correct history.
#[test]
fn stale_read_is_found_without_searching_the_gaps() {
    let workload = Workload {
        shape: Shape {
            clients: 32,
            operations: 20_000,
            unknown_percent: 2,
        },
        keys: 16,
        refused_percent: 1,
        serializable_percent: 0,
    };
    let mut records = generate::etcd_workload(11, workload);
    let clean = check_etcd(&etcd::from_records(&records).unwrap(), Budget::default());
    assert_eq!(clean.verdict, Verdict::Linearizable);

    let gets: Vec<(usize, String, i64)> = records
        .iter()
        .enumerate()
        .filter_map(|(index, record)| match record {
            HistoryRecord::Return {
                outcome: Outcome::Ok(Response::Range { header, kvs, .. }),
                ..
            } if kvs.len() == 1 => Some((index, kvs[0].key.clone(), header.revision)),
            _ => None,
        })
        .collect();
    let (late, key, late_revision) = gets[gets.len() * 2 / 3].clone();
    let (early, ..) = gets
        .iter()
        .rev()
        .find(|(index, seen, revision)| {
            *index < late && *seen == key && *revision + 100 < late_revision
        })
        .expect("an earlier read of the key");
    let HistoryRecord::Return { outcome: stale, .. } = records[*early].clone() else {
        unreachable!("reads are returns");
    };
    if let HistoryRecord::Return { outcome, .. } = &mut records[late] {
        *outcome = stale;
    }
    let report = check_etcd(&etcd::from_records(&records).unwrap(), Budget::default());
    assert_eq!(report.verdict, Verdict::NotLinearizable, "{report}");
    let counterexample = report.counterexample.as_ref().expect("a counterexample");
    assert!(
        counterexample.summary.contains("returned before"),
        "{report}"
    );
    assert!(
        report.steps < 2 * clean.steps,
        "{} steps, the correct history {}",
        report.steps,
        clean.steps
    );
}
