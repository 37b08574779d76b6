//! Which fillers may stand in a gap, in the order the search tries them.
//!
//! The order is the pass's: fillers invoked by the time the gap's revision was seen, not used
//! elsewhere on the path, those that put a key still owing puts first (earliest deadline
//! first), by invoke time otherwise. Fillers that never took effect stay candidates to the end
//! of the history, so listing them all at every gap would make the pass quadratic. Two things
//! keep it linear:
//!
//! - When the evidence says what the gap's write did to a key (the revision's first fact), only
//!   the fillers that can do that are listed: any other that wrote the revision would be
//!   refused by that very fact, so leaving it out changes nothing but the work.
//! - Otherwise the fillers are produced lazily, and the search rarely looks past the first.

use super::facts::{Seen, put_values};
use crate::etcd::EtcdOperation;
use crate::fast_hash::FastMap;
use crate::history::Request;
use crate::model::etcd::{Store, in_range};

/// Where each filler (by position in the plan's fillers) may write.
#[derive(Debug, Default)]
pub(super) struct FillerIndex<'a> {
    by_put: FastMap<(&'a str, &'a str), Vec<usize>>,
    by_put_key: FastMap<&'a str, Vec<usize>>,
    by_delete_key: FastMap<&'a str, Vec<usize>>,
    /// Fillers that delete a range of keys: (position, key, range end).
    range_deletes: Vec<(usize, &'a str, &'a str)>,
    /// Revokes and expiries, by lease.
    by_lease: FastMap<i64, Vec<usize>>,
    /// Per filler, the keys it may put.
    pub(super) put_keys: Vec<Vec<&'a str>>,
    /// Per filler that is a revoke or an expiry, its lease.
    pub(super) revokes: Vec<Option<i64>>,
}

impl<'a> FillerIndex<'a> {
    pub(super) fn new(operations: &'a [EtcdOperation], fillers: &[usize]) -> Self {
        let mut index = FillerIndex::default();
        for (position, &filler) in fillers.iter().enumerate() {
            let request = &operations[filler].input;
            let mut keys = Vec::new();
            for (key, value) in put_values(request) {
                if keys.last() != Some(&key) {
                    keys.push(key);
                    index.by_put_key.entry(key).or_default().push(position);
                }
                index.by_put.entry((key, value)).or_default().push(position);
            }
            index.put_keys.push(keys);
            index.add_deletes(position, request);
            let lease = match request {
                Request::LeaseRevoke { id } => Some(*id),
                _ => None,
            };
            if let Some(id) = lease {
                index.by_lease.entry(id).or_default().push(position);
            }
            index.revokes.push(lease);
        }
        index
    }

    fn add_deletes(&mut self, position: usize, request: &'a Request) {
        match request {
            Request::DeleteRange { key, range_end, .. } if range_end.is_empty() => {
                let deleters = self.by_delete_key.entry(key).or_default();
                if deleters.last() != Some(&position) {
                    deleters.push(position);
                }
            }
            Request::DeleteRange { key, range_end, .. }
                if self
                    .range_deletes
                    .last()
                    .is_none_or(|(last, ..)| *last != position) =>
            {
                self.range_deletes.push((position, key, range_end));
            }
            Request::Txn {
                success, failure, ..
            } => {
                for nested in success.iter().chain(failure) {
                    self.add_deletes(position, nested);
                }
            }
            _ => {}
        }
    }

    /// The fillers that may put `key`, in position order.
    pub(super) fn by_put_key(&self, key: &str) -> Option<&Vec<usize>> {
        self.by_put_key.get(key)
    }

    /// The fillers that can leave `key` as `seen` says in one write on top of `store`, in
    /// position order.
    pub(super) fn able(&self, key: &str, seen: &Seen<'_>, store: &Store) -> Vec<usize> {
        let listed = |positions: Option<&Vec<usize>>| positions.cloned().unwrap_or_default();
        let mut able = match seen {
            Seen::Put {
                kv,
                value_known: true,
            } => listed(self.by_put.get(&(key, kv.value.as_str()))),
            Seen::Put { .. } | Seen::Written | Seen::Created => listed(self.by_put_key.get(key)),
            Seen::Deleted => {
                let mut able = listed(self.by_delete_key.get(key));
                able.extend(
                    self.range_deletes
                        .iter()
                        .filter(|(_, first, end)| in_range(key, first, end))
                        .map(|(position, _, _)| *position),
                );
                // A revoke deletes the keys its lease holds.
                let lease = store.get_at(key, i64::MAX).map_or(0, |kv| kv.lease);
                if lease != 0 {
                    able.extend(listed(self.by_lease.get(&lease)));
                }
                able
            }
        };
        able.sort_unstable();
        able.dedup();
        able
    }
}

/// The candidates of one gap, produced as the search asks for them.
#[derive(Debug)]
pub(super) struct Candidates {
    /// Tried first, in this order.
    listed: Vec<usize>,
    next_listed: usize,
    /// When the list is not every candidate: the positions not yet scanned and the end of the
    /// eligible ones.
    scan: Option<(usize, usize)>,
    /// The keys owing puts, sorted: a scanned filler that puts one was in the list already.
    deadline_keys: Vec<String>,
    /// Whether the list was narrowed by a fact (so the rest were left out, not just deferred).
    pub(super) narrowed: bool,
}

impl Candidates {
    /// Only `listed`, in that order.
    pub(super) fn narrowed(listed: Vec<usize>) -> Self {
        Candidates {
            listed,
            next_listed: 0,
            scan: None,
            deadline_keys: Vec::new(),
            narrowed: true,
        }
    }

    /// `listed` (the eligible fillers that put a key of `deadline_keys`), then every other
    /// position below `end`.
    pub(super) fn all(listed: Vec<usize>, end: usize, mut deadline_keys: Vec<String>) -> Self {
        deadline_keys.sort_unstable();
        Candidates {
            listed,
            next_listed: 0,
            scan: Some((0, end)),
            deadline_keys,
            narrowed: false,
        }
    }

    /// The next candidate not `used` that can write on top of `store` (a revoke of a lease
    /// that holds no keys writes nothing, and there are as many expiries as leases).
    pub(super) fn next(
        &mut self,
        used: &[bool],
        index: &FillerIndex<'_>,
        store: &Store,
    ) -> Option<usize> {
        let can_write = |position: usize| {
            !used[position]
                && index.revokes[position].is_none_or(|lease| store.lease_holds_keys(lease))
        };
        while let Some(&position) = self.listed.get(self.next_listed) {
            self.next_listed += 1;
            if can_write(position) {
                return Some(position);
            }
        }
        let (next, end) = self.scan.as_mut()?;
        while *next < *end {
            let position = *next;
            *next += 1;
            let listed = index.put_keys[position].iter().any(|key| {
                self.deadline_keys
                    .binary_search_by(|owing| owing.as_str().cmp(key))
                    .is_ok()
            });
            if can_write(position) && !listed {
                return Some(position);
            }
        }
        None
    }
}
