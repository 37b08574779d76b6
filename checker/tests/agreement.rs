//! Every algorithm agrees with the brute-force checker on small random histories, legal ones
//! (generated from a correct system) and illegal ones (one output corrupted).

use detcd_checker::budget::{Budget, Meter};
use detcd_checker::etcd;
use detcd_checker::generate::{self, Shape, SplitMix64, Workload};
use detcd_checker::history::{Request, Response};
use detcd_checker::model::Model;
use detcd_checker::model::etcd::EtcdModel;
use detcd_checker::model::kv::{KvModel, KvOutput};
use detcd_checker::model::register::{RegisterModel, RegisterOutput};
use detcd_checker::operation::Operation;
use detcd_checker::revision::{self, RevisionOutcome};
use detcd_checker::search::{self, SearchOutcome};
use detcd_checker::{Verdict, check_operations, reference};
use proptest::prelude::*;

const SHAPE: Shape = Shape {
    clients: 3,
    operations: 8,
    unknown_percent: 20,
};

/// Replaces the output of one completed operation (chosen by `pick`) using `corrupt`.
fn corrupt_one<I, O>(operations: &mut [Operation<I, O>], pick: u64, corrupt: impl Fn(&mut O, u64)) {
    let completed: Vec<usize> = (0..operations.len())
        .filter(|&index| !operations[index].is_open())
        .collect();
    if completed.is_empty() {
        return;
    }
    let chosen = completed[(pick % completed.len() as u64) as usize];
    if let Some(completion) = operations[chosen].completion.as_mut() {
        corrupt(&mut completion.output, pick);
    }
}

fn search_verdict<M: Model>(model: &M, operations: &[Operation<M::Input, M::Output>]) -> bool {
    let report = check_operations(model, operations, Budget::default());
    assert_ne!(
        report.verdict,
        Verdict::Unknown,
        "small histories are always decided"
    );
    report.verdict == Verdict::Linearizable
}

fn unpartitioned_verdict<M: Model>(
    model: &M,
    operations: &[Operation<M::Input, M::Output>],
) -> bool {
    let mut meter = Meter::start(Budget::default());
    match search::check(model, operations, &mut meter) {
        SearchOutcome::Linearizable => true,
        SearchOutcome::NotLinearizable(_) => false,
        SearchOutcome::Unknown => panic!("small histories are always decided"),
    }
}

fn revision_verdict(operations: &[Operation<Request, Response>]) -> bool {
    let mut meter = Meter::start(Budget::default());
    match revision::check(operations, &mut meter) {
        RevisionOutcome::Linearizable { .. } => true,
        RevisionOutcome::NotLinearizable(_) => false,
        RevisionOutcome::Unknown => panic!("small histories are always decided"),
    }
}

fn corrupt_register(output: &mut RegisterOutput, pick: u64) {
    if let RegisterOutput::Read(value) = output {
        *value = if pick.is_multiple_of(3) {
            None
        } else {
            Some((pick % 5) as i64)
        };
    }
}

fn corrupt_kv(output: &mut KvOutput, pick: u64) {
    if let KvOutput::Value(value) = output {
        value.push_str(&format!(" x {} y", pick % 8));
    }
}

/// Changes a read's value or any response's header revision.
fn corrupt_etcd(output: &mut Response, pick: u64) {
    match output {
        Response::Range { kvs, .. } if !kvs.is_empty() && pick.is_multiple_of(2) => {
            kvs[0].value.push('!')
        }
        Response::Range { header, .. }
        | Response::Put { header, .. }
        | Response::DeleteRange { header, .. }
        | Response::Txn { header, .. } => header.revision += if pick % 4 < 2 { 1 } else { -1 },
        _ => {}
    }
}

/// Gives a later completed read the answer of an earlier one: a stale read when both read the
/// same keys, a wrong one otherwise.
fn answer_late_read_early(operations: &mut [Operation<Request, Response>], pick: u64) {
    let reads: Vec<usize> = (0..operations.len())
        .filter(|&index| matches!(operations[index].output(), Some(Response::Range { .. })))
        .collect();
    let count = reads.len() as u64;
    if count < 2 {
        return;
    }
    let (late, early) = (
        reads[(pick % count) as usize],
        reads[(pick / count % count) as usize],
    );
    if early < late {
        let answer = operations[early].output().cloned();
        if let (Some(completion), Some(answer)) = (operations[late].completion.as_mut(), answer) {
            completion.output = answer;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    // The register search (with memo) agrees with trying every order.
    #[test]
    fn register_search_matches_brute_force(seed: u64, corrupt: bool, pick: u64) {
        let mut operations = generate::register_history(seed, SHAPE);
        if corrupt {
            corrupt_one(&mut operations, pick, corrupt_register);
        }
        let expected = reference::is_linearizable(&RegisterModel, &operations);
        prop_assert!(corrupt || expected, "generated histories are legal");
        prop_assert_eq!(search_verdict(&RegisterModel, &operations), expected);
    }

    // The kv search, partitioned by key, agrees with trying every order of the whole history.
    #[test]
    fn kv_partitioned_search_matches_brute_force(seed: u64, corrupt: bool, pick: u64) {
        let mut operations = generate::kv_history(seed, SHAPE, 2);
        if corrupt {
            corrupt_one(&mut operations, pick, corrupt_kv);
        }
        let expected = reference::is_linearizable(&KvModel, &operations);
        prop_assert!(corrupt || expected, "generated histories are legal");
        prop_assert_eq!(search_verdict(&KvModel, &operations), expected);
    }

    // For etcd histories, the revision-guided pass and the general search both agree with
    // trying every order, with unknown-outcome writes among the operations.
    #[test]
    fn etcd_algorithms_match_brute_force(seed: u64, corrupt: bool, pick: u64) {
        let mut operations = generate::etcd_history(seed, SHAPE);
        if corrupt {
            corrupt_one(&mut operations, pick, corrupt_etcd);
        }
        let expected = reference::is_linearizable(&EtcdModel, &operations);
        prop_assert!(corrupt || expected, "generated histories are legal");
        prop_assert_eq!(revision_verdict(&operations), expected);
        prop_assert_eq!(unpartitioned_verdict(&EtcdModel, &operations), expected);
    }
}

// The revision pass's pruning (evidence from responses, pinned values, interchangeable
// candidates, remembered dead ends) never changes its verdict: on larger histories with many
// unknown-outcome writes it agrees with the exact general search, legal or corrupted.
proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn revision_pass_pruning_matches_search(seed: u64, corrupt: bool, pick: u64) {
        let shape = Shape {
            clients: 4,
            operations: 14,
            unknown_percent: 45,
        };
        let mut operations = generate::etcd_history(seed, shape);
        if corrupt {
            corrupt_one(&mut operations, pick, corrupt_etcd);
        }
        let expected = unpartitioned_verdict(&EtcdModel, &operations);
        prop_assert!(corrupt || expected, "generated histories are legal");
        prop_assert_eq!(revision_verdict(&operations), expected);
    }
}

// On the simulator's request mix (leases and their expiries, ranges over prefixes, deletes of
// several keys, compare-and-swap transactions, refused requests) the revision-guided pass
// agrees with the exact general search: on legal histories, with one response corrupted, and
// with a read answered as an earlier read was (stale reads among them).
proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn revision_pass_matches_search_on_the_simulator_mix(seed: u64, corrupt: u8, pick: u64) {
        let workload = Workload {
            shape: Shape {
                clients: 4,
                operations: 14,
                unknown_percent: 25,
            },
            keys: 3,
            refused_percent: 5,
            serializable_percent: 10,
        };
        let records = generate::etcd_workload(seed, workload);
        let mut operations = etcd::from_records(&records).unwrap().operations;
        match corrupt % 3 {
            0 => {}
            1 => corrupt_one(&mut operations, pick, corrupt_etcd),
            _ => answer_late_read_early(&mut operations, pick),
        }
        let expected = unpartitioned_verdict(&EtcdModel, &operations);
        prop_assert!(corrupt % 3 != 0 || expected, "generated histories are legal");
        prop_assert_eq!(revision_verdict(&operations), expected);
    }
}

// The generators are deterministic: one seed, one history, so benchmarks and failures repeat.
#[test]
fn generators_are_deterministic() {
    assert_eq!(
        generate::kv_history(7, SHAPE, 3),
        generate::kv_history(7, SHAPE, 3)
    );
    let mut first = SplitMix64::new(1);
    let mut second = SplitMix64::new(1);
    assert_eq!(first.next_u64(), second.next_u64());
}
