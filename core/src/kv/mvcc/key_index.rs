//! The revisions of one key, grouped into generations (etcd's `keyIndex`).

use serde::{Deserialize, Serialize};

use crate::kv::mvcc::Revision;
use crate::kv::types::KeyValue;

/// One life of a key: from the put that created it to the delete that ended it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Generation {
    /// Ascending; never empty. When `ended`, the last one is the delete (tombstone).
    revisions: Vec<Revision>,
    ended: bool,
}

/// What a write needs of a live key as it is: its newest record's create revision, version and
/// lease. A write always replaces the newest record, so with these at hand it builds its own
/// without searching the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveKey {
    pub create_revision: i64,
    pub version: i64,
    pub lease: i64,
}

impl LiveKey {
    pub fn of(kv: &KeyValue) -> LiveKey {
        LiveKey {
            create_revision: kv.create_revision,
            version: kv.version,
            lease: kv.lease,
        }
    }
}

/// Every generation of a key still visible at or after the compaction point, oldest first. Only
/// the last generation may be live (not ended).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KeyIndex {
    generations: Vec<Generation>,
    /// The revision of the newest change, kept beside the generations so that a write checks
    /// and extends the key without reading them first. Derived, so not in snapshots: the store
    /// sets it again when it is restored (`MvccStore`'s deserialization), as it does `live`.
    #[serde(skip)]
    newest: Option<Revision>,
    /// The newest record's [`LiveKey`] while the key is live. Derived from the history.
    #[serde(skip)]
    live: Option<LiveKey>,
}

impl KeyIndex {
    /// True when the key has a value at the newest revision.
    pub fn is_live(&self) -> bool {
        self.generations
            .last()
            .is_some_and(|generation| !generation.ended)
    }

    pub fn is_empty(&self) -> bool {
        self.generations.is_empty()
    }

    /// The key as it is, when it is live (see [`LiveKey`]).
    pub fn live(&self) -> Option<LiveKey> {
        debug_assert_eq!(self.live.is_some(), self.is_live(), "live is stale");
        self.live
    }

    /// Set what snapshots leave out (`newest` and `live`) on a key index restored from one;
    /// `record` finds a record of the restored history.
    pub fn restore_derived<'a>(&mut self, record: impl FnOnce(Revision) -> &'a KeyValue) {
        self.newest = self.newest_in_generations();
        self.live = match self.newest {
            Some(newest) if self.is_live() => Some(LiveKey::of(record(newest))),
            _ => None,
        };
    }

    /// Record a put at `revision` whose record `live` describes; it starts a new generation if
    /// the key is not live.
    pub fn put(&mut self, revision: Revision, live: LiveKey) {
        assert!(
            self.newest().is_none_or(|newest| newest < revision),
            "revisions of a key rise"
        );
        match self.generations.last_mut() {
            Some(generation) if !generation.ended => generation.revisions.push(revision),
            _ => self.generations.push(Generation {
                revisions: vec![revision],
                ended: false,
            }),
        }
        self.newest = Some(revision);
        self.live = Some(live);
    }

    /// Record a delete at `revision`, ending the live generation.
    pub fn tombstone(&mut self, revision: Revision) {
        assert!(self.is_live(), "only a live key can be deleted");
        assert!(
            self.newest().is_none_or(|newest| newest < revision),
            "revisions of a key rise"
        );
        let generation = self
            .generations
            .last_mut()
            .expect("a live key has a generation");
        generation.revisions.push(revision);
        generation.ended = true;
        self.newest = Some(revision);
        self.live = None;
    }

    /// The revision holding the key's value as of store revision `at`, or `None` if the key did
    /// not exist then. `at` must be at or after the compaction point.
    pub fn get(&self, at: i64) -> Option<Revision> {
        let generation = self
            .generations
            .iter()
            .rev()
            .find(|g| g.revisions[0].main <= at)?;
        let visible = generation
            .revisions
            .partition_point(|revision| revision.main <= at);
        let is_tombstone = generation.ended && visible == generation.revisions.len();
        (!is_tombstone).then(|| generation.revisions[visible - 1])
    }

    /// Forget what no read at or after `at` can see: generations that ended at or before `at`,
    /// and in the generation alive at `at`, every revision before the one visible at `at`.
    pub fn compact(&mut self, at: i64) {
        self.generations
            .retain(|g| !(g.ended && g.revisions.last().expect("not empty").main <= at));
        if let Some(first) = self.generations.first_mut() {
            let visible = first
                .revisions
                .partition_point(|revision| revision.main <= at);
            first.revisions.drain(..visible.saturating_sub(1));
        }
        if self.generations.is_empty() {
            self.newest = None;
        }
    }

    /// The oldest revision still referenced; after `compact(at)` it is the only one at or before
    /// `at`, so the store keeps its record and drops every other record before `at`.
    pub fn oldest(&self) -> Option<Revision> {
        self.generations
            .first()
            .map(|generation| generation.revisions[0])
    }

    /// The revision of the key's newest change.
    pub fn newest(&self) -> Option<Revision> {
        debug_assert_eq!(self.newest, self.newest_in_generations(), "newest is stale");
        self.newest
    }

    fn newest_in_generations(&self) -> Option<Revision> {
        self.generations
            .last()
            .map(|generation| *generation.revisions.last().expect("not empty"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(main: i64) -> Revision {
        Revision::new(main, 0)
    }

    /// A put at `revision` of a key created at 2 (the tests need only its revisions).
    fn put(index: &mut KeyIndex, revision: Revision) {
        let live = LiveKey {
            create_revision: 2,
            version: 1,
            lease: 0,
        };
        index.put(revision, live);
    }

    // A key's value at a revision is its newest put at or before it, unless a delete came after.
    #[test]
    fn get_sees_generations() {
        let mut index = KeyIndex::default();
        put(&mut index, rev(2));
        put(&mut index, rev(4));
        index.tombstone(rev(6));
        put(&mut index, rev(8));
        assert_eq!(index.get(1), None);
        assert_eq!(index.get(3), Some(rev(2)));
        assert_eq!(index.get(5), Some(rev(4)));
        assert_eq!(index.get(6), None);
        assert_eq!(index.get(7), None);
        assert_eq!(index.get(9), Some(rev(8)));
    }

    // Compaction keeps exactly what reads at or after the compaction point see (etcd's
    // keyIndex.compact): the visible revision and everything newer.
    #[test]
    fn compact_keeps_what_later_reads_see() {
        let mut index = KeyIndex::default();
        put(&mut index, rev(2));
        index.tombstone(rev(3));
        put(&mut index, rev(4));
        put(&mut index, rev(5));
        put(&mut index, rev(7));
        index.compact(6);
        assert_eq!(index.oldest(), Some(rev(5)));
        assert_eq!(index.get(6), Some(rev(5)));
        assert_eq!(index.get(7), Some(rev(7)));
        index.tombstone(rev(8));
        index.compact(8);
        assert!(index.is_empty());
    }
}
