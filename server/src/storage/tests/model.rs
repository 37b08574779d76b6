//! Recovery equals the model: whatever batches were written (entries that overlap and truncate,
//! hard states, snapshots that do and do not continue the log, compactions, segment cuts), a
//! reopen recovers `PersistedState::apply` of all of them; and a crash that tears the last write
//! recovers the model of every write before it, or of all of them, never anything else.

use detcd_core::io::PersistToken;
use detcd_core::raft::{
    Entry, HardState, Index, Membership, PersistBatch, PersistedState, Snapshot, Term,
};
use proptest::prelude::*;
use proptest::sample::Index as Pick;

use super::faulty::FaultyDisk;
use super::{METADATA, files, head_bytes, wal_dir};
use crate::storage::{Storage, StorageOptions};

/// One step of a test: a write of some batches, a compaction, or a restart.
#[derive(Clone, Debug)]
enum Step {
    Write(Vec<BatchPlan>),
    Compact,
    Reopen,
}

/// A batch in the abstract; [`Planner`] makes it concrete against the log as it stands.
#[derive(Clone, Debug)]
struct BatchPlan {
    /// 0: at an entry of the log (continues it); 1: the stored snapshot again; 2: past the log
    /// in a new term (replaces it). With a pick.
    snapshot: Option<(u8, Pick)>,
    /// How far before the end of the log the entries start, how many, and whether in a new term.
    entries: Option<(u8, u8, bool)>,
    hard_state: bool,
    data_bytes: u8,
}

fn batch_plan() -> impl Strategy<Value = BatchPlan> {
    let snapshot = prop::option::weighted(0.2, (0u8..3, any::<Pick>()));
    let entries = prop::option::weighted(0.8, (0u8..5, 1u8..5, prop::bool::weighted(0.2)));
    (snapshot, entries, any::<bool>(), 0u8..150).prop_map(
        |(snapshot, entries, hard_state, data_bytes)| BatchPlan {
            snapshot,
            entries,
            hard_state,
            data_bytes,
        },
    )
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        10 => prop::collection::vec(batch_plan(), 1..4).prop_map(Step::Write),
        1 => Just(Step::Compact),
        1 => Just(Step::Reopen),
    ]
}

fn options() -> impl Strategy<Value = StorageOptions> {
    let compact = prop_oneof![Just(u64::MAX), 500u64..3000];
    (100u64..2000, compact, 0usize..4).prop_map(|(segment, compact, kept)| StorageOptions {
        segment_bytes_max: segment,
        compact_wal_bytes_min: compact,
        snap_files_kept: kept,
    })
}

/// Makes batches concrete, keeping the model of what they add up to.
#[derive(Default)]
struct Planner {
    state: PersistedState,
    term: Term,
    token: u64,
}

impl Planner {
    fn last_index(state: &PersistedState) -> Index {
        state
            .entries
            .last()
            .map(|e| e.index)
            .or(state.snapshot.as_ref().map(|s| s.index))
            .unwrap_or(0)
    }

    fn realize(&mut self, plan: &BatchPlan) -> PersistBatch {
        self.token += 1;
        let mut batch = PersistBatch {
            token: PersistToken(self.token),
            ..PersistBatch::default()
        };
        if let Some((kind, pick)) = &plan.snapshot {
            batch.snapshot = Some(self.snapshot(*kind, pick));
        }
        // Entries attach to the log as it stands after the snapshot.
        let mut after_snapshot = self.state.clone();
        after_snapshot.apply(&batch);
        if let Some((back, count, new_term)) = plan.entries {
            let last = Planner::last_index(&after_snapshot);
            let start = (last + 1).saturating_sub(u64::from(back)).max(1);
            self.term += u64::from(new_term || self.term == 0);
            batch.entries = (start..start + u64::from(count))
                .map(|index| Entry {
                    term: self.term,
                    index,
                    kind: detcd_core::raft::EntryKind::Normal,
                    data: vec![index as u8; usize::from(plan.data_bytes)],
                })
                .collect();
        }
        if plan.hard_state {
            batch.hard_state = Some(HardState {
                term: self.term,
                voted_for: self.term.is_multiple_of(2).then_some(self.term % 3 + 1),
                commit: Planner::last_index(&after_snapshot),
            });
        }
        self.state.apply(&batch);
        batch
    }

    /// A snapshot is known by its term and index, as its file is named: its content is a
    /// function of them (Raft makes the state at an index the same everywhere).
    fn snapshot(&mut self, kind: u8, pick: &Pick) -> Snapshot {
        let (index, term) = match (kind, &self.state.snapshot) {
            (0, _) if !self.state.entries.is_empty() => {
                let entry = pick.get(&self.state.entries);
                (entry.index, entry.term)
            }
            (1, Some(stored)) => (stored.index, stored.term),
            _ => {
                self.term += 1;
                (
                    Planner::last_index(&self.state) + pick.index(3) as u64,
                    self.term,
                )
            }
        };
        let index = index.max(1);
        Snapshot {
            index,
            term,
            membership: Membership::with_voters(1..=(term % 3 + 1)),
            data: vec![term as u8; ((index * 7 + term * 13) % 200) as usize],
        }
    }
}

/// Run `steps` on a fresh data dir, checking every reopen against the model; returns the
/// storage still open and the planner.
fn run(
    dir: &std::path::Path,
    options: &StorageOptions,
    steps: &[Step],
) -> Result<(Storage<FaultyDisk>, Planner, u64), TestCaseError> {
    let open = || Storage::open(FaultyDisk::no_sync(), dir, METADATA, options.clone());
    let (mut storage, recovered) = open().expect("a fresh data dir opens");
    prop_assert_eq!(recovered.incarnation, 1);
    let mut planner = Planner::default();
    let mut incarnation = 1;
    for step in steps {
        match step {
            Step::Write(plans) => {
                let batches: Vec<_> = plans.iter().map(|plan| planner.realize(plan)).collect();
                storage.write(&batches).expect("the write succeeds");
            }
            Step::Compact => storage.compact().expect("compaction succeeds"),
            Step::Reopen => {
                drop(storage);
                let (reopened, recovered) = open().expect("the data dir reopens");
                storage = reopened;
                incarnation += 1;
                prop_assert_eq!(&recovered.persisted, &planner.state);
                prop_assert_eq!(recovered.incarnation, incarnation);
                prop_assert!(recovered.warnings.is_empty(), "{:?}", recovered.warnings);
            }
        }
    }
    Ok((storage, planner, incarnation))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    // Reopening recovers exactly PersistedState::apply of every batch written.
    #[test]
    fn storage_recovers_the_model(
        options in options(),
        steps in prop::collection::vec(step(), 1..30),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (storage, planner, incarnation) = run(dir.path(), &options, &steps)?;
        drop(storage);
        let (storage, recovered) =
            Storage::open(FaultyDisk::no_sync(), dir.path(), METADATA, options.clone()).unwrap();
        prop_assert_eq!(recovered.persisted, planner.state);
        prop_assert_eq!(recovered.incarnation, incarnation + 1);
        prop_assert_eq!(recovered.metadata, Some(METADATA));
        prop_assert!(recovered.warnings.is_empty(), "{:?}", recovered.warnings);
        let snap_files = files(&dir.path().join("member").join("snap")).len();
        let kept = if options.snap_files_kept == 0 { usize::MAX } else { options.snap_files_kept };
        prop_assert!(snap_files <= kept, "{} snap files", snap_files);
        let on_disk: u64 = [wal_dir(dir.path()), dir.path().join("member").join("snap")]
            .iter()
            .flat_map(|d| files(d))
            .map(|f| std::fs::metadata(f).unwrap().len())
            .sum();
        prop_assert_eq!(storage.size_bytes(), on_disk);
    }

    // A crash in the middle of the last write (its bytes cut at any offset, or zeroed from
    // there as a file extended but never written reads) recovers the model of every earlier
    // write, or of all of them when the cut lands at the end; never more, never less.
    //
    // The torn write is made by cutting a write that returned; so that nothing it did after
    // its fsync (releasing older snap files, compacting) happens, those are off.
    #[test]
    fn storage_recovers_a_prefix_after_a_torn_write(
        options in options().prop_map(|o| StorageOptions {
            compact_wal_bytes_min: u64::MAX,
            snap_files_kept: usize::MAX,
            ..o
        }),
        steps in prop::collection::vec(step(), 0..20),
        last in prop::collection::vec(batch_plan(), 1..4),
        cut in any::<Pick>(),
        zeroed in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (mut storage, mut planner, incarnation) = run(dir.path(), &options, &steps)?;
        let before_state = planner.state.clone();
        let before = files(&wal_dir(dir.path())).pop().unwrap();
        let before_bytes = std::fs::metadata(&before).unwrap().len() as usize;
        let batches: Vec<_> = last.iter().map(|plan| planner.realize(plan)).collect();
        storage.write(&batches).unwrap();
        drop(storage);

        let after = files(&wal_dir(dir.path())).pop().unwrap();
        let bytes = std::fs::read(&after).unwrap();
        let start = if after == before { before_bytes } else { head_bytes(&bytes) };
        let at = start + cut.index(bytes.len() - start + 1);
        if zeroed {
            let mut torn = bytes.clone();
            torn[at..].fill(0);
            std::fs::write(&after, torn).unwrap();
        } else {
            std::fs::write(&after, &bytes[..at]).unwrap();
        }

        let (_, recovered) =
            Storage::open(FaultyDisk::no_sync(), dir.path(), METADATA, options).unwrap();
        let expected = if at == bytes.len() { &planner.state } else { &before_state };
        prop_assert_eq!(&recovered.persisted, expected);
        prop_assert_eq!(recovered.incarnation, incarnation + 1);
        // A cut exactly where the write began leaves a clean end: nothing to warn about.
        let torn = at < bytes.len() && (zeroed || at > start);
        prop_assert_eq!(recovered.warnings.len(), usize::from(torn), "{:?}", recovered.warnings);
    }
}
