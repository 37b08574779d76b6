//! The multi-version store: a key index over a revision-ordered history (etcd's `kvstore` with
//! its `treeIndex` and backend).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::kv::error::KvError;
use crate::kv::mvcc::{KeyIndex, KeyRange, LiveKey, Revision};
use crate::kv::types::{Event, EventKind, KeyValue};

/// What the size estimate charges per stored change beyond its key and value: etcd's boltdb
/// stores a revision key, the encoded `KeyValue` and page overhead for each.
const RECORD_OVERHEAD_BYTES: u64 = 64;

/// One change in the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// For a delete: the key and `mod_revision` only, as in etcd's delete events.
    pub kv: KeyValue,
    pub tombstone: bool,
}

impl Record {
    fn size_bytes(&self) -> u64 {
        (self.kv.key.len() + self.kv.value.len()) as u64 + RECORD_OVERHEAD_BYTES
    }

    pub fn event(&self) -> Event {
        let kind = if self.tombstone {
            EventKind::Delete
        } else {
            EventKind::Put
        };
        Event {
            kind,
            kv: self.kv.clone(),
            prev_kv: None,
        }
    }
}

/// The replicated key-value history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredMvcc")]
pub struct MvccStore {
    index: BTreeMap<Vec<u8>, KeyIndex>,
    /// Every change still needed: all changes after the compaction point, the changes made at it,
    /// and for each key the one change visible at it.
    records: BTreeMap<Revision, Record>,
    /// The revision of the last write transaction that changed something; 1 for a new store.
    current_revision: i64,
    /// The last compaction point; -1 before the first compaction, as in etcd.
    compact_revision: i64,
    /// Sum of the records' sizes, for the quota.
    size_bytes: u64,
}

/// An [`MvccStore`] as snapshots carry it: the same fields, without what each key index derives
/// from the history (its [`LiveKey`]), which turning it into a store sets again.
#[derive(Deserialize)]
struct StoredMvcc {
    index: BTreeMap<Vec<u8>, KeyIndex>,
    records: BTreeMap<Revision, Record>,
    current_revision: i64,
    compact_revision: i64,
    size_bytes: u64,
}

impl From<StoredMvcc> for MvccStore {
    fn from(stored: StoredMvcc) -> MvccStore {
        let StoredMvcc {
            mut index,
            records,
            current_revision,
            compact_revision,
            size_bytes,
        } = stored;
        for key_index in index.values_mut() {
            key_index.restore_derived(|revision| &records[&revision].kv);
        }
        MvccStore {
            index,
            records,
            current_revision,
            compact_revision,
            size_bytes,
        }
    }
}

impl Default for MvccStore {
    fn default() -> Self {
        MvccStore::new()
    }
}

impl MvccStore {
    pub fn new() -> MvccStore {
        MvccStore {
            index: BTreeMap::new(),
            records: BTreeMap::new(),
            current_revision: 1,
            compact_revision: -1,
            size_bytes: 0,
        }
    }

    pub fn current_revision(&self) -> i64 {
        self.current_revision
    }

    pub fn compact_revision(&self) -> i64 {
        self.compact_revision
    }

    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// The revision a read of `revision` (0: the current one) is served at, or etcd's error if the
    /// store cannot serve it. Reading exactly at the compaction point is allowed.
    pub fn read_revision(&self, revision: i64) -> Result<i64, KvError> {
        if revision > self.current_revision {
            return Err(KvError::FutureRevision);
        }
        let at = if revision <= 0 {
            self.current_revision
        } else {
            revision
        };
        if at < self.compact_revision {
            return Err(KvError::Compacted);
        }
        Ok(at)
    }

    /// The key as of revision `at`.
    pub fn get(&self, key: &[u8], at: i64) -> Option<&KeyValue> {
        let revision = self.index.get(key)?.get(at)?;
        Some(&self.records[&revision].kv)
    }

    /// The keys of `range` that exist at revision `at`, in key order.
    pub fn visible<'a>(
        &'a self,
        range: &KeyRange,
        at: i64,
    ) -> impl Iterator<Item = &'a KeyValue> + 'a {
        let entries = range
            .bounds()
            .map(|bounds| self.index.range::<[u8], _>(bounds));
        entries
            .into_iter()
            .flatten()
            .filter_map(move |(_, index)| Some(&self.records[&index.get(at)?].kv))
    }

    /// The changes of revisions `from..=to`, in revision order.
    pub fn changes(&self, from: i64, to: i64) -> impl Iterator<Item = &Record> {
        let end = Revision::first_of(to.saturating_add(1));
        let start = Revision::first_of(from).min(end);
        self.records.range(start..end).map(|(_, record)| record)
    }

    /// The key just before the change at revision `main`, when history still holds it (the read
    /// at `main - 1` is not below the compaction point).
    pub fn prev_kv(&self, key: &[u8], main: i64) -> Option<KeyValue> {
        let at = main - 1;
        if at < self.compact_revision {
            return None;
        }
        self.get(key, at).cloned()
    }

    /// Start a write transaction; its changes share one new revision, made current by `end`.
    pub fn write(&mut self) -> WriteTxn<'_> {
        WriteTxn {
            store: self,
            changes: Vec::new(),
        }
    }

    /// Drop the history before `at` (etcd's compaction). Reads at `at` and later still work, and
    /// the changes made at `at` stay, so a watch may still start there.
    pub fn compact(&mut self, at: i64) -> Result<(), KvError> {
        if at <= self.compact_revision {
            return Err(KvError::Compacted);
        }
        if at > self.current_revision {
            return Err(KvError::FutureRevision);
        }
        let mut keep = BTreeSet::new();
        self.index.retain(|_, index| {
            index.compact(at);
            keep.extend(index.oldest());
            !index.is_empty()
        });
        let unreachable: Vec<Revision> = self
            .records
            .range(..Revision::first_of(at))
            .map(|(revision, _)| *revision)
            .filter(|r| !keep.contains(r))
            .collect();
        for revision in unreachable {
            let record = self.records.remove(&revision).expect("listed above");
            self.size_bytes -= record.size_bytes();
        }
        self.compact_revision = at;
        Ok(())
    }

    /// A hash of the history up to revision `at` (0: the current one) and of the compaction point:
    /// equal on every member that applied the same entries (etcd's HashKV). FNV-1a, because it is
    /// fixed by its definition, unlike std's `DefaultHasher`.
    pub fn hash(&self, at: i64) -> Result<(u32, i64), KvError> {
        if at > self.current_revision {
            return Err(KvError::FutureRevision);
        }
        if at > 0 && at < self.compact_revision {
            return Err(KvError::Compacted);
        }
        let at = if at <= 0 { self.current_revision } else { at };
        let mut hash = Fnv1a::default();
        hash.write_i64(self.compact_revision);
        for (revision, record) in self.records.range(..Revision::first_of(at + 1)) {
            hash.write_i64(revision.main);
            hash.write_i64(revision.sub);
            hash.write(&[u8::from(record.tombstone)]);
            hash.write_bytes(&record.kv.key);
            hash.write_bytes(&record.kv.value);
            hash.write_i64(record.kv.create_revision);
            hash.write_i64(record.kv.version);
            hash.write_i64(record.kv.lease);
        }
        Ok((hash.finish(), at))
    }

    /// Record a put of `key` at `revision`, a change of a write transaction reading at `at` (see
    /// [`WriteTxn::put`]). A write reads the key as it is, so what it replaces is the key's
    /// newest record, whose [`LiveKey`] the index holds: a put of a key that exists costs one
    /// search of the key index, and the history is searched only for a value kept or returned.
    fn put(&mut self, key: &[u8], at: i64, revision: Revision, put: Put) -> Option<Replaced> {
        let (record, replaced) = match self.index.get_mut(key) {
            Some(index) => {
                let newest = index.newest().expect("an indexed key has a change");
                assert!(newest.main <= at, "a write reads the key as it is");
                let prev = index.live();
                debug_assert_eq!(
                    prev,
                    index.get(at).map(|at| LiveKey::of(&self.records[&at].kv)),
                    "the index's live key is its newest record's"
                );
                let needs_kv = put.value.is_none() || put.prev_kv;
                let prev_kv = prev.filter(|_| needs_kv).map(|_| &self.records[&newest].kv);
                let (record, live, replaced) = put.record(key, revision, prev, prev_kv);
                index.put(revision, live);
                (record, replaced)
            }
            None => {
                let (record, live, replaced) = put.record(key, revision, None, None);
                let mut index = KeyIndex::default();
                index.put(revision, live);
                self.index.insert(key.to_vec(), index);
                (record, replaced)
            }
        };
        self.add_record(revision, record);
        replaced
    }

    /// Record the delete of the live key `key` at `revision`.
    fn delete(&mut self, key: &[u8], revision: Revision) {
        let index = self.index.get_mut(key).expect("only a live key is deleted");
        index.tombstone(revision);
        let kv = KeyValue {
            key: key.to_vec(),
            mod_revision: revision.main,
            ..KeyValue::default()
        };
        let record = Record {
            kv,
            tombstone: true,
        };
        self.add_record(revision, record);
    }

    fn add_record(&mut self, revision: Revision, record: Record) {
        self.size_bytes += record.size_bytes();
        let replaced = self.records.insert(revision, record);
        assert!(replaced.is_none(), "a revision is written once");
    }
}

/// What a put writes besides its key: a value and a lease, each given or kept from the key as it
/// is, and whether the caller wants the previous key-value back.
#[derive(Debug)]
pub struct Put {
    /// `None` keeps the key's current value (an empty one if the key does not exist).
    pub value: Option<Vec<u8>>,
    /// `None` keeps the key's current lease (none if the key does not exist).
    pub lease: Option<i64>,
    /// Return the previous key-value whole (etcd's `prev_kv`); it is cloned only then.
    pub prev_kv: bool,
}

impl Put {
    /// The record of this put of `key` at `revision` over the key as it is, `prev`, and what it
    /// replaced. `prev_kv` is the previous key-value, read when the put keeps its value or
    /// returns it.
    fn record(
        self,
        key: &[u8],
        revision: Revision,
        prev: Option<LiveKey>,
        prev_kv: Option<&KeyValue>,
    ) -> (Record, LiveKey, Option<Replaced>) {
        let value = self
            .value
            .unwrap_or_else(|| prev_kv.map_or_else(Vec::new, |prev| prev.value.clone()));
        let live = LiveKey {
            create_revision: prev.map_or(revision.main, |prev| prev.create_revision),
            version: prev.map_or(1, |prev| prev.version + 1),
            lease: self
                .lease
                .unwrap_or_else(|| prev.map_or(0, |prev| prev.lease)),
        };
        let kv = KeyValue {
            key: key.to_vec(),
            create_revision: live.create_revision,
            mod_revision: revision.main,
            version: live.version,
            value,
            lease: live.lease,
        };
        let replaced = prev.map(|prev| Replaced {
            lease: prev.lease,
            kv: self
                .prev_kv
                .then(|| prev_kv.expect("read when asked for").clone()),
        });
        let record = Record {
            kv,
            tombstone: false,
        };
        (record, live, replaced)
    }
}

/// The key a put replaced, as much of it as the put asked for.
#[derive(Debug)]
pub struct Replaced {
    /// The lease the key was attached to (0: none).
    pub lease: i64,
    /// The whole previous key-value, when the put asked for it.
    pub kv: Option<KeyValue>,
}

/// A write transaction (etcd's `storeTxnWrite`): reads see its own earlier writes; every change
/// gets revision (current + 1, sub) with rising sub; `end` makes that revision current if anything
/// changed, so the store revision rises once per transaction, not per key.
#[derive(Debug)]
pub struct WriteTxn<'a> {
    store: &'a mut MvccStore,
    changes: Vec<Revision>,
}

impl WriteTxn<'_> {
    pub fn store(&self) -> &MvccStore {
        self.store
    }

    /// The revision this transaction writes at.
    pub fn main(&self) -> i64 {
        self.store.current_revision + 1
    }

    /// The revision reads inside the transaction are served at: its own, once it has written.
    pub fn read_revision(&self) -> i64 {
        if self.changes.is_empty() {
            self.store.current_revision
        } else {
            self.main()
        }
    }

    /// Put `key`; returns what the put replaced, or `None` if the key did not exist.
    pub fn put(&mut self, key: &[u8], put: Put) -> Option<Replaced> {
        let at = self.read_revision();
        let revision = self.next_revision();
        let replaced = self.store.put(key, at, revision, put);
        self.changes.push(revision);
        replaced
    }

    /// Delete every key of `range`; returns the deleted keys as they were, in key order.
    pub fn delete_range(&mut self, range: &KeyRange) -> Vec<KeyValue> {
        let deleted: Vec<KeyValue> = self
            .store
            .visible(range, self.read_revision())
            .cloned()
            .collect();
        for prev in &deleted {
            let revision = self.next_revision();
            self.store.delete(&prev.key, revision);
            self.changes.push(revision);
        }
        deleted
    }

    /// True once the transaction has changed something.
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// Finish the transaction; returns the store revision after it.
    pub fn end(mut self) -> i64 {
        self.commit();
        self.store.current_revision
    }

    fn commit(&mut self) {
        if !self.changes.is_empty() {
            self.store.current_revision += 1;
            self.changes.clear();
        }
    }

    /// The revision of this transaction's next change.
    fn next_revision(&self) -> Revision {
        Revision::new(self.main(), self.changes.len() as i64)
    }
}

/// A transaction dropped without `end` still commits: its records are already in the history, and
/// leaving the revision behind them would let the next transaction reuse it.
impl Drop for WriteTxn<'_> {
    fn drop(&mut self) {
        self.commit();
    }
}

/// 32-bit FNV-1a, with lengths written before byte strings so that field boundaries count.
#[derive(Debug)]
struct Fnv1a(u32);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0x811c_9dc5)
    }
}

impl Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u32::from(*byte)).wrapping_mul(0x0100_0193);
        }
    }

    fn write_i64(&mut self, value: i64) {
        self.write(&value.to_le_bytes());
    }

    fn write_bytes(&mut self, bytes: &[u8]) {
        self.write_i64(bytes.len() as i64);
        self.write(bytes);
    }

    fn finish(&self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(store: &mut MvccStore, key: &[u8], value: &[u8]) -> KeyValue {
        let mut txn = store.write();
        let put = Put {
            value: Some(value.to_vec()),
            lease: None,
            prev_kv: false,
        };
        txn.put(key, put);
        let revision = txn.end();
        store.get(key, revision).expect("just put").clone()
    }

    /// The store as a snapshot carries it, restored the way a member restores one.
    fn through_snapshot(store: &MvccStore) -> MvccStore {
        let bytes = postcard::to_allocvec(store).expect("a store encodes");
        postcard::from_bytes(&bytes).expect("a store's snapshot decodes")
    }

    // A store restored from a snapshot taken after a compaction goes on exactly as the store it
    // was taken of: a put of a key that lived through the compaction continues its generation
    // (same create revision, next version) instead of creating the key anew.
    #[test]
    fn a_restored_compacted_store_continues_every_live_key() {
        let mut original = MvccStore::new();
        put(&mut original, b"k", b"1");
        put(&mut original, b"other", b"1");
        put(&mut original, b"k", b"2");
        put(&mut original, b"other", b"2");
        original.compact(original.current_revision()).unwrap();
        let mut restored = through_snapshot(&original);
        assert_eq!(restored, original);
        let after_restore = put(&mut restored, b"k", b"3");
        let never_restored = put(&mut original, b"k", b"3");
        assert_eq!(after_restore, never_restored);
        assert_eq!(
            (after_restore.create_revision, after_restore.version),
            (2, 3)
        );
        assert_eq!(restored, original);
    }
}
