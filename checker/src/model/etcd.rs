//! The etcd KV model: an MVCC store with revisions, compaction and lease attachments.
//!
//! Semantics, as etcd has them: the revision starts at 1 on an empty store; each request that
//! writes (a put, a delete that deletes something, a txn whose branch writes, a lease revoke that
//! deletes keys) raises it by exactly one, however many keys it touches; every response header
//! carries the store revision after the request. `version` counts puts since creation and is
//! reset by a delete. Every response must match the model's, header revision included.
//!
//! Lease *existence* is deliberately not modelled: a lease granted by a request with an unknown
//! outcome, or expired by the server, would make a strict model reject correct histories. The
//! model tracks which keys are attached to which lease, so that a revoke (or an expiry, which
//! the checker adds as an operation with an unknown outcome) deletes them in one revision.
//! Grants and keep-alives therefore change nothing; [`crate::lease`] checks lease lifetimes.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use super::Model;
use crate::fast_hash::Digest128;
use crate::history::{
    Compare, CompareResult, CompareTarget, KeyValue, Request, Response, ResponseHeader,
};

pub const COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";
pub const FUTURE_REVISION: &str = "etcdserver: mvcc: required revision is a future revision";

/// The store: every version of every key since revision 1, so that reads at past revisions and
/// watches can be answered.
///
/// A store can also be rewound ([`Store::rewind`]): the revision pass walks one store forward
/// and takes back its latest revisions when it backtracks, instead of copying it at every
/// choice.
#[derive(Clone, Debug)]
pub struct Store {
    pub revision: i64,
    pub compact_revision: i64,
    /// Per key, its versions in revision order; `None` marks a deletion. Shared until written,
    /// so that the searches can clone a store in time proportional to its keys, not its history.
    keys: BTreeMap<Rc<str>, Rc<Versions>>,
    /// Which keys each lease holds.
    leases: BTreeMap<i64, BTreeSet<String>>,
    /// Every version written, as (revision, key), in revision order: the index that finds a
    /// revision's changes without looking at every key, and what a rewind takes back.
    written: Vec<(i64, Rc<str>)>,
    /// Every compaction, as (the store revision then, the compaction point before it).
    compactions: Vec<(i64, i64)>,
    /// The XOR of [`latest_digest`] over every key's latest version, kept up to date by every
    /// write and rewind, so that [`Store::live_digest`] costs the same however many keys there are.
    latest: u128,
}

/// The digest of one key's latest version (its revision, and the key then or its deletion).
fn latest_digest(key: &str, at: i64, kv: Option<&KeyValue>) -> u128 {
    let mut digest = Digest128::new();
    (key, at, kv).hash(&mut digest);
    digest.digest()
}

/// Stores are equal when they answer alike: the indexes kept for speed and rewinding follow
/// from the versions, and are left out.
impl PartialEq for Store {
    fn eq(&self, other: &Self) -> bool {
        self.revision == other.revision
            && self.compact_revision == other.compact_revision
            && self.keys == other.keys
            && self.leases == other.leases
    }
}

impl Eq for Store {}

impl Hash for Store {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.revision.hash(state);
        self.compact_revision.hash(state);
        self.keys.hash(state);
        self.leases.hash(state);
    }
}

impl Default for Store {
    fn default() -> Self {
        Store {
            revision: 1,
            compact_revision: 0,
            keys: BTreeMap::new(),
            leases: BTreeMap::new(),
            written: Vec::new(),
            compactions: Vec::new(),
            latest: 0,
        }
    }
}

/// One key's change at a revision: (key, the key before, the key after); `None` when absent.
pub type Change<'a> = (&'a str, Option<&'a KeyValue>, Option<&'a KeyValue>);

/// A key's versions: (revision, the key as written then, or `None` for a deletion).
type Versions = Vec<(i64, Option<KeyValue>)>;

/// The revision a write request is building; it becomes the store revision if anything is written.
struct Write {
    revision: i64,
    wrote: bool,
}

impl Store {
    /// Applies a request. An error leaves the store as it was.
    pub fn apply(&mut self, request: &Request) -> Result<Response, String> {
        self.validate(request)?;
        let mut write = Write {
            revision: self.revision + 1,
            wrote: false,
        };
        let mut response = self.execute(request, &mut write);
        if write.wrote {
            self.revision = write.revision;
        }
        set_header(&mut response, self.revision);
        Ok(response)
    }

    /// The key as of `revision`, if it existed then.
    pub fn get_at(&self, key: &str, revision: i64) -> Option<&KeyValue> {
        version_at(self.keys.get(key)?, revision)
    }

    /// Live keys in `[key, range_end)` as of `revision`, in key order.
    pub fn range_at(&self, key: &str, range_end: &str, revision: i64) -> Vec<KeyValue> {
        self.keys_in(key, range_end)
            .filter_map(|(_, versions)| version_at(versions, revision).cloned())
            .collect()
    }

    /// Every change made at exactly `revision`: (key, the key before, the key after), in key
    /// order.
    pub fn changes_at(&self, revision: i64) -> Vec<Change<'_>> {
        let first = self.written.partition_point(|(at, _)| *at < revision);
        let last = self.written.partition_point(|(at, _)| *at <= revision);
        let mut changes: Vec<Change<'_>> = self.written[first..last]
            .iter()
            .map(|(_, key)| {
                let versions = &self.keys[key];
                // Versions are in revision order, and most lookups are for the latest revision.
                let position = match versions.last() {
                    Some((at, _)) if *at == revision => versions.len() - 1,
                    _ => versions
                        .binary_search_by_key(&revision, |(at, _)| *at)
                        .expect("the index names a version of the key"),
                };
                let before = position
                    .checked_sub(1)
                    .and_then(|previous| versions[previous].1.as_ref());
                (&**key, before, versions[position].1.as_ref())
            })
            .collect();
        changes.sort_unstable_by(|first, second| first.0.cmp(second.0));
        changes
    }

    /// The keys written at revisions `first` through `last`, with their revisions, in
    /// revision order.
    pub fn keys_written(&self, first: i64, last: i64) -> impl Iterator<Item = (i64, &str)> {
        let from = self.written.partition_point(|(at, _)| *at < first);
        let to = self
            .written
            .partition_point(|(at, _)| *at <= last)
            .max(from);
        self.written[from..to].iter().map(|(at, key)| (*at, &**key))
    }

    /// Takes back every write made after `revision` and every compaction made when the store
    /// was past it: the store is again what it was when it had just reached `revision`.
    pub fn rewind(&mut self, revision: i64) {
        while self.written.last().is_some_and(|(at, _)| *at > revision) {
            let (_, key) = self.written.pop().expect("just looked at");
            let versions = Rc::make_mut(self.keys.get_mut(&key).expect("written keys exist"));
            let (at, undone) = versions
                .pop()
                .expect("the index names a version of the key");
            self.latest ^= latest_digest(&key, at, undone.as_ref());
            if let Some((at, kv)) = versions.last() {
                self.latest ^= latest_digest(&key, *at, kv.as_ref());
            }
            // The version before is the key's latest again, with its lease.
            let restored = versions
                .last()
                .map(|(_, kv)| kv.as_ref().map_or(0, |kv| kv.lease));
            if let Some(kv) = undone {
                self.detach(kv.lease, &key);
            }
            match restored {
                Some(0) => {}
                Some(lease) => {
                    self.leases
                        .entry(lease)
                        .or_default()
                        .insert(key.to_string());
                }
                None => {
                    self.keys.remove(&key);
                }
            }
        }
        while self
            .compactions
            .last()
            .is_some_and(|(at, _)| *at > revision)
        {
            let (_, before) = self.compactions.pop().expect("just looked at");
            self.compact_revision = before;
        }
        self.revision = self.revision.min(revision.max(1));
    }

    /// Whether `lease` holds keys now, that is, whether revoking it would write.
    pub fn lease_holds_keys(&self, lease: i64) -> bool {
        self.leases.contains_key(&lease)
    }

    /// A digest of what later requests can observe of the store when none of them reads a
    /// past revision: the revision, the compaction point and each key's latest version (which
    /// also says each key's lease). Stores with equal digests answer every such request alike.
    pub fn live_digest(&self) -> u128 {
        let mut digest = Digest128::new();
        (self.revision, self.compact_revision, self.latest).hash(&mut digest);
        digest.digest()
    }

    /// Keys attached to `lease` now.
    pub fn lease_keys(&self, lease: i64) -> Vec<String> {
        self.leases
            .get(&lease)
            .map(|keys| keys.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn keys_in<'s>(
        &'s self,
        key: &str,
        range_end: &str,
    ) -> impl Iterator<Item = (&'s str, &'s Versions)> {
        self.keys
            .range::<str, _>((std::ops::Bound::Included(key), std::ops::Bound::Unbounded))
            .map(|(name, versions)| (&**name, &**versions))
            .take_while(move |(name, _)| in_range(name, key, range_end))
    }

    fn validate(&self, request: &Request) -> Result<(), String> {
        match request {
            Request::Range { revision, .. } if *revision > self.revision => {
                Err(FUTURE_REVISION.to_string())
            }
            Request::Range { revision, .. }
                if *revision > 0 && *revision < self.compact_revision =>
            {
                Err(COMPACTED.to_string())
            }
            Request::Compact { revision } if *revision <= self.compact_revision => {
                Err(COMPACTED.to_string())
            }
            Request::Compact { revision } if *revision > self.revision => {
                Err(FUTURE_REVISION.to_string())
            }
            Request::Txn {
                success, failure, ..
            } => success
                .iter()
                .chain(failure)
                .try_for_each(|nested| self.validate(nested)),
            _ => Ok(()),
        }
    }

    fn execute(&mut self, request: &Request, write: &mut Write) -> Response {
        let header = ResponseHeader::default();
        match request {
            Request::Range { .. } => self.range(request),
            Request::Put {
                key,
                value,
                lease,
                prev_kv,
            } => {
                let previous = self.put(key, value, *lease, *prev_kv, write);
                Response::Put {
                    header,
                    prev_kv: previous,
                }
            }
            Request::DeleteRange {
                key,
                range_end,
                prev_kv,
            } => {
                let deleted = self.delete(key, range_end, write);
                Response::DeleteRange {
                    header,
                    deleted: deleted.len() as i64,
                    prev_kvs: if *prev_kv { deleted } else { Vec::new() },
                }
            }
            Request::Txn {
                compares,
                success,
                failure,
            } => {
                let succeeded = compares.iter().all(|compare| self.holds(compare));
                let branch = if succeeded { success } else { failure };
                let responses = branch
                    .iter()
                    .map(|nested| self.execute(nested, write))
                    .collect();
                Response::Txn {
                    header,
                    succeeded,
                    responses,
                }
            }
            Request::Compact { revision } => {
                self.compactions
                    .push((self.revision, self.compact_revision));
                self.compact_revision = *revision;
                Response::Compact { header }
            }
            Request::LeaseGrant { id, ttl } => Response::LeaseGrant {
                header,
                id: *id,
                ttl: *ttl,
            },
            Request::LeaseKeepAlive { id } => Response::LeaseKeepAlive {
                header,
                id: *id,
                ttl: 0,
            },
            Request::LeaseRevoke { id } => {
                for key in self.lease_keys(*id) {
                    self.delete(&key, "", write);
                }
                self.leases.remove(id);
                Response::LeaseRevoke { header }
            }
            Request::Watch { .. } => Response::Watch { header },
        }
    }

    /// What a range request finds, before it is shaped into a response.
    fn range_view<'s>(&'s self, request: &Request) -> RangeView<'s> {
        let Request::Range {
            key,
            range_end,
            revision,
            limit,
            keys_only,
            count_only,
            ..
        } = request
        else {
            unreachable!("range_view called with a range request");
        };
        let at = if *revision > 0 { *revision } else { i64::MAX };
        RangeView {
            found: self
                .keys_in(key, range_end)
                .filter_map(|(_, versions)| version_at(versions, at))
                .collect(),
            limit: *limit,
            keys_only: *keys_only,
            count_only: *count_only,
        }
    }

    fn range(&self, request: &Request) -> Response {
        let view = self.range_view(request);
        Response::Range {
            header: ResponseHeader::default(),
            kvs: view
                .shown()
                .map(|kv| KeyValue {
                    value: if view.keys_only {
                        String::new()
                    } else {
                        kv.value.clone()
                    },
                    ..kv.clone()
                })
                .collect(),
            count: view.count(),
            more: view.more(),
        }
    }

    /// For a range request: whether the store answers exactly `observed`, header included,
    /// found without building the answer (reads are most of a history). `None` for any other
    /// request.
    pub fn answers_range(&self, request: &Request, observed: &Response) -> Option<bool> {
        if !matches!(request, Request::Range { .. }) {
            return None;
        }
        let Response::Range {
            header,
            kvs,
            count,
            more,
        } = observed
        else {
            return Some(false);
        };
        if self.validate(request).is_err() || header.revision != self.revision {
            return Some(false);
        }
        let view = self.range_view(request);
        let shown_match = view.shown().count() == kvs.len()
            && view.shown().zip(kvs).all(|(expected, seen)| {
                let value_matches = if view.keys_only {
                    seen.value.is_empty()
                } else {
                    seen.value == expected.value
                };
                value_matches && same_but_value(expected, seen)
            });
        Some(*count == view.count() && *more == view.more() && shown_match)
    }

    /// Writes the key; returns what it replaced if `want_previous`.
    fn put(
        &mut self,
        key: &str,
        value: &str,
        lease: i64,
        want_previous: bool,
        write: &mut Write,
    ) -> Option<KeyValue> {
        // The replaced version is copied only when the response shows it.
        let (create_revision, version, old_lease, previous) = match self.get_at(key, i64::MAX) {
            Some(kv) => (
                kv.create_revision,
                kv.version + 1,
                Some(kv.lease),
                want_previous.then(|| kv.clone()),
            ),
            None => (write.revision, 1, None, None),
        };
        let kv = KeyValue {
            key: key.to_string(),
            value: value.to_string(),
            create_revision,
            mod_revision: write.revision,
            version,
            lease,
        };
        if let Some(old_lease) = old_lease {
            self.detach(old_lease, key);
        }
        if lease != 0 {
            self.leases
                .entry(lease)
                .or_default()
                .insert(key.to_string());
        }
        self.record(key, write, Some(kv));
        previous
    }

    /// Deletes the live keys in the range; returns them.
    fn delete(&mut self, key: &str, range_end: &str, write: &mut Write) -> Vec<KeyValue> {
        let deleted = self.range_at(key, range_end, i64::MAX);
        for kv in &deleted {
            self.detach(kv.lease, &kv.key);
            self.record(&kv.key, write, None);
        }
        deleted
    }

    fn record(&mut self, key: &str, write: &mut Write, kv: Option<KeyValue>) {
        // The index shares the map's copy of the key.
        let name = match self.keys.get_key_value(key) {
            Some((name, _)) => Rc::clone(name),
            None => Rc::from(key),
        };
        let versions = Rc::make_mut(self.keys.entry(Rc::clone(&name)).or_default());
        if let Some((at, before)) = versions.last() {
            self.latest ^= latest_digest(&name, *at, before.as_ref());
        }
        // A transaction touching a key twice leaves one version at its revision.
        if versions.last().is_some_and(|(at, _)| *at == write.revision) {
            versions.pop();
        } else {
            self.written.push((write.revision, Rc::clone(&name)));
        }
        self.latest ^= latest_digest(&name, write.revision, kv.as_ref());
        versions.push((write.revision, kv));
        write.wrote = true;
    }

    fn detach(&mut self, lease: i64, key: &str) {
        if let Some(keys) = self.leases.get_mut(&lease) {
            keys.remove(key);
            if keys.is_empty() {
                self.leases.remove(&lease);
            }
        }
    }

    /// A compare over a range holds when it holds for every key in it; a missing single key
    /// compares as zeros and the empty value.
    fn holds(&self, compare: &Compare) -> bool {
        if compare.range_end.is_empty() {
            let missing = KeyValue::default();
            let kv = self.get_at(&compare.key, i64::MAX).unwrap_or(&missing);
            return compare_holds(compare, kv);
        }
        self.range_at(&compare.key, &compare.range_end, i64::MAX)
            .iter()
            .all(|kv| compare_holds(compare, kv))
    }
}

/// A key as of `revision`, from its versions, if it existed then.
fn version_at(versions: &Versions, revision: i64) -> Option<&KeyValue> {
    // Most reads are of the latest version: no search through the key's history for those.
    if let Some((at, latest)) = versions.last()
        && *at <= revision
    {
        return latest.as_ref();
    }
    let newer = versions.partition_point(|(at, _)| *at <= revision);
    versions[..newer].last()?.1.as_ref()
}

/// The live keys a range request found: `shown` are those its response lists.
struct RangeView<'s> {
    found: Vec<&'s KeyValue>,
    limit: i64,
    keys_only: bool,
    count_only: bool,
}

impl RangeView<'_> {
    fn count(&self) -> i64 {
        self.found.len() as i64
    }

    fn more(&self) -> bool {
        self.limit > 0 && self.count() > self.limit
    }

    fn shown(&self) -> impl Iterator<Item = &KeyValue> {
        let shown = match (self.count_only, self.more()) {
            (true, _) => 0,
            (false, true) => self.limit as usize,
            (false, false) => self.found.len(),
        };
        self.found[..shown].iter().copied()
    }
}

/// Everything but the value.
fn same_but_value(first: &KeyValue, second: &KeyValue) -> bool {
    first.key == second.key
        && first.create_revision == second.create_revision
        && first.mod_revision == second.mod_revision
        && first.version == second.version
        && first.lease == second.lease
}

fn compare_holds(compare: &Compare, kv: &KeyValue) -> bool {
    let ordering = match &compare.target {
        CompareTarget::Version(operand) => kv.version.cmp(operand),
        CompareTarget::CreateRevision(operand) => kv.create_revision.cmp(operand),
        CompareTarget::ModRevision(operand) => kv.mod_revision.cmp(operand),
        CompareTarget::Value(operand) => kv.value.as_str().cmp(operand.as_str()),
        CompareTarget::Lease(operand) => kv.lease.cmp(operand),
    };
    match compare.result {
        CompareResult::Equal => ordering.is_eq(),
        CompareResult::NotEqual => ordering.is_ne(),
        CompareResult::Greater => ordering.is_gt(),
        CompareResult::Less => ordering.is_lt(),
    }
}

/// Whether `name` falls in etcd's range `[key, range_end)`: an empty end means the key alone,
/// `"\0"` means every key from `key` on.
pub fn in_range(name: &str, key: &str, range_end: &str) -> bool {
    match range_end {
        "" => name == key,
        "\0" => name >= key,
        end => name >= key && name < end,
    }
}

fn set_header(response: &mut Response, revision: i64) {
    response.header_mut().revision = revision;
}

/// Whether an observed response is the one the model computed. Lease TTLs are the server's
/// choice, and nested transaction headers are not compared.
pub fn responses_match(expected: &Response, observed: &Response) -> bool {
    match (expected, observed) {
        (
            Response::LeaseGrant { header, id, .. },
            Response::LeaseGrant {
                header: seen,
                id: seen_id,
                ..
            },
        )
        | (
            Response::LeaseKeepAlive { header, id, .. },
            Response::LeaseKeepAlive {
                header: seen,
                id: seen_id,
                ..
            },
        ) => header == seen && id == seen_id,
        (
            Response::Txn {
                header,
                succeeded,
                responses,
            },
            Response::Txn {
                header: seen,
                succeeded: seen_succeeded,
                responses: seen_responses,
            },
        ) => {
            header == seen
                && succeeded == seen_succeeded
                && responses.len() == seen_responses.len()
                && responses
                    .iter()
                    .zip(seen_responses)
                    .all(|(nested, seen)| nested_responses_match(nested, seen))
        }
        _ => expected == observed,
    }
}

/// Whether two responses inside a transaction are alike, headers at every depth aside (as
/// [`Response::without_nested_headers`] has them), without copying either.
fn nested_responses_match(expected: &Response, observed: &Response) -> bool {
    match (expected, observed) {
        (
            Response::Txn {
                succeeded,
                responses,
                ..
            },
            Response::Txn {
                succeeded: seen_succeeded,
                responses: seen_responses,
                ..
            },
        ) => {
            succeeded == seen_succeeded
                && responses.len() == seen_responses.len()
                && responses
                    .iter()
                    .zip(seen_responses)
                    .all(|(nested, seen)| nested_responses_match(nested, seen))
        }
        (Response::Txn { .. }, _) | (_, Response::Txn { .. }) => false,
        _ if expected.header() == observed.header() => expected == observed,
        _ => {
            let mut expected = expected.clone();
            expected.header_mut().revision = observed.header().revision;
            expected == *observed
        }
    }
}

/// A lease grant with id 0 lets the server choose; the response says which id it chose. Any
/// other request is returned as it is, uncopied.
pub fn with_granted_id<'a>(request: &'a Request, response: Option<&Response>) -> Cow<'a, Request> {
    match (request, response) {
        (Request::LeaseGrant { id: 0, ttl }, Some(Response::LeaseGrant { id, .. })) => {
            Cow::Owned(Request::LeaseGrant { id: *id, ttl: *ttl })
        }
        _ => Cow::Borrowed(request),
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EtcdModel;

impl Model for EtcdModel {
    type Input = Request;
    type Output = Response;
    type State = Store;

    fn init(&self) -> Store {
        Store::default()
    }

    fn step(&self, state: &Store, input: &Request, output: Option<&Response>) -> Option<Store> {
        let mut next = state.clone();
        let expected = next.apply(&with_granted_id(input, output)).ok()?;
        match output {
            None => Some(next),
            Some(observed) => responses_match(&expected, observed).then_some(next),
        }
    }

    fn may_change_state(&self, input: &Request) -> bool {
        !matches!(
            input,
            Request::Range { .. }
                | Request::LeaseGrant { .. }
                | Request::LeaseKeepAlive { .. }
                | Request::Watch { .. }
        )
    }

    fn describe_operation(&self, input: &Request, output: Option<&Response>) -> String {
        describe_request(input, output)
    }

    fn describe_state(&self, state: &Store) -> String {
        describe_store(state, state.revision)
    }
}

/// An operation in words: `put "a" = "1" -> revision 5`.
pub fn describe_request(request: &Request, response: Option<&Response>) -> String {
    let asked = match request {
        Request::Range {
            key,
            range_end,
            revision,
            ..
        } => {
            let at = if *revision > 0 {
                format!(" at revision {revision}")
            } else {
                String::new()
            };
            format!("range {}{at}", describe_range(key, range_end))
        }
        Request::Put {
            key, value, lease, ..
        } if *lease != 0 => format!("put {key:?} = {value:?} with lease {lease}"),
        Request::Put { key, value, .. } => format!("put {key:?} = {value:?}"),
        Request::DeleteRange { key, range_end, .. } => {
            format!("delete {}", describe_range(key, range_end))
        }
        Request::Txn {
            compares,
            success,
            failure,
        } => {
            format!(
                "txn ({} compares, {} then-ops, {} else-ops)",
                compares.len(),
                success.len(),
                failure.len()
            )
        }
        Request::Compact { revision } => format!("compact to revision {revision}"),
        Request::LeaseGrant { id, ttl } => format!("grant lease {id} for {ttl}s"),
        Request::LeaseRevoke { id } => format!("revoke lease {id}"),
        Request::LeaseKeepAlive { id } => format!("keep lease {id} alive"),
        Request::Watch {
            key,
            range_end,
            start_revision,
            ..
        } => {
            format!(
                "watch {} from revision {start_revision}",
                describe_range(key, range_end)
            )
        }
    };
    match response {
        None => format!("{asked} (outcome unknown)"),
        Some(Response::Range {
            header, kvs, count, ..
        }) => {
            let shown: Vec<String> = kvs.iter().map(describe_kv).collect();
            format!(
                "{asked} -> [{}] (count {count}) at revision {}",
                shown.join(", "),
                header.revision
            )
        }
        Some(Response::DeleteRange {
            header, deleted, ..
        }) => {
            format!(
                "{asked} -> {deleted} deleted at revision {}",
                header.revision
            )
        }
        Some(Response::Txn {
            header, succeeded, ..
        }) => {
            let branch = if *succeeded { "then" } else { "else" };
            format!("{asked} -> took {branch} at revision {}", header.revision)
        }
        Some(other) => format!("{asked} -> revision {}", other.header().revision),
    }
}

fn describe_range(key: &str, range_end: &str) -> String {
    match range_end {
        "" => format!("{key:?}"),
        "\0" => format!("[{key:?}, end)"),
        end => format!("[{key:?}, {end:?})"),
    }
}

pub fn describe_kv(kv: &KeyValue) -> String {
    format!(
        "{:?} = {:?} (create {}, mod {}, version {})",
        kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version
    )
}

/// The live keys as of `revision`, in words.
pub fn describe_store(store: &Store, revision: i64) -> String {
    let kvs = store.range_at("", "\0", revision);
    let shown: Vec<String> = kvs.iter().map(describe_kv).collect();
    if shown.is_empty() {
        return format!("revision {revision}, no keys");
    }
    format!("revision {revision}: {}", shown.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str) -> Request {
        Request::Put {
            key: key.into(),
            value: value.into(),
            lease: 0,
            prev_kv: false,
        }
    }

    fn get(key: &str) -> Request {
        Request::Range {
            key: key.into(),
            range_end: String::new(),
            revision: 0,
            limit: 0,
            keys_only: false,
            count_only: false,
            serializable: false,
        }
    }

    // Revisions start at 1, each write raises them by one, version counts puts since creation
    // and a delete resets it; a delete of nothing leaves the revision alone.
    #[test]
    fn revisions_and_versions_follow_etcd() {
        let mut store = Store::default();
        store.apply(&put("a", "1")).unwrap();
        store.apply(&put("a", "2")).unwrap();
        let Response::Range { header, kvs, .. } = store.apply(&get("a")).unwrap() else {
            panic!("range")
        };
        assert_eq!(header.revision, 3);
        assert_eq!(
            (kvs[0].create_revision, kvs[0].mod_revision, kvs[0].version),
            (2, 3, 2)
        );

        let delete = Request::DeleteRange {
            key: "a".into(),
            range_end: String::new(),
            prev_kv: false,
        };
        assert_eq!(store.apply(&delete).unwrap().header().revision, 4);
        assert_eq!(store.apply(&delete).unwrap().header().revision, 4);
        store.apply(&put("a", "3")).unwrap();
        assert_eq!(
            store
                .get_at("a", 5)
                .map(|kv| (kv.create_revision, kv.version)),
            Some((5, 1))
        );
        assert_eq!(store.get_at("a", 3).map(|kv| kv.value.as_str()), Some("2"));
    }

    // Revoking a lease deletes all its keys in one revision; compaction rejects old and future
    // revisions with etcd's messages.
    #[test]
    fn revoke_and_compact() {
        let mut store = Store::default();
        store
            .apply(&Request::Put {
                key: "a".into(),
                value: "1".into(),
                lease: 7,
                prev_kv: false,
            })
            .unwrap();
        store
            .apply(&Request::Put {
                key: "b".into(),
                value: "1".into(),
                lease: 7,
                prev_kv: false,
            })
            .unwrap();
        assert_eq!(
            store
                .apply(&Request::LeaseRevoke { id: 7 })
                .unwrap()
                .header()
                .revision,
            4
        );
        assert!(store.range_at("a", "\0", 4).is_empty());
        assert_eq!(store.changes_at(4).len(), 2);

        assert_eq!(
            store.apply(&Request::Compact { revision: 9 }),
            Err(FUTURE_REVISION.to_string())
        );
        store.apply(&Request::Compact { revision: 3 }).unwrap();
        assert_eq!(
            store.apply(&Request::Compact { revision: 3 }),
            Err(COMPACTED.to_string())
        );
    }

    // Rewinding takes back writes, lease attachments and compactions: after rewinding to a
    // revision the store equals a copy taken when it had just got there, answers the same,
    // and goes forward again alike.
    #[test]
    fn rewind_restores_the_store() {
        let requests = [
            Request::Put {
                key: "a".into(),
                value: "1".into(),
                lease: 7,
                prev_kv: false,
            },
            put("b", "1"),
            Request::Compact { revision: 2 },
            Request::Put {
                key: "b".into(),
                value: "2".into(),
                lease: 7,
                prev_kv: false,
            },
            Request::Txn {
                compares: Vec::new(),
                success: vec![put("a", "2"), put("a", "3"), put("c", "1")],
                failure: Vec::new(),
            },
            Request::LeaseRevoke { id: 7 },
            Request::DeleteRange {
                key: "a".into(),
                range_end: "\0".into(),
                prev_kv: false,
            },
        ];
        let mut store = Store::default();
        let mut copies = vec![store.clone()];
        for request in &requests {
            store.apply(request).unwrap();
            copies.push(store.clone());
        }
        assert_eq!(store.revision, 7);
        let changed: Vec<&str> = store
            .changes_at(5)
            .into_iter()
            .map(|(key, ..)| key)
            .collect();
        assert_eq!(changed, ["a", "c"]);
        for copy in copies.iter().rev() {
            let mut rewound = store.clone();
            rewound.rewind(copy.revision);
            // A compaction leaves the revision alone, so the copy after it is the one to match.
            let expected = copies
                .iter()
                .rev()
                .find(|candidate| candidate.revision == copy.revision)
                .unwrap();
            assert_eq!(&rewound, expected);
            assert_eq!(
                rewound.changes_at(copy.revision),
                expected.changes_at(copy.revision)
            );
            assert_eq!(rewound.lease_keys(7), expected.lease_keys(7));
            // The digest kept up to date through writes and rewinds is the one built forward.
            assert_eq!(rewound.live_digest(), expected.live_digest());
        }
        // Stores that answer differently have different digests.
        let digests: BTreeSet<u128> = copies.iter().map(Store::live_digest).collect();
        assert_eq!(digests.len(), copies.len());
        // The compaction made at revision 3 stays; the second put of "b" is gone.
        store.rewind(3);
        assert_eq!((store.revision, store.compact_revision), (3, 2));
        assert!(store.changes_at(4).is_empty());
        store.apply(&put("b", "9")).unwrap();
        assert_eq!(store.get_at("b", 4).map(|kv| kv.version), Some(2));
    }

    // Responses inside a transaction are compared without their headers, at every depth; the
    // outer header, the branch taken and everything else must match.
    #[test]
    fn nested_headers_do_not_count() {
        let read = |revision: i64, value: &str| Response::Range {
            header: ResponseHeader { revision },
            kvs: vec![KeyValue {
                key: "a".into(),
                value: value.into(),
                ..KeyValue::default()
            }],
            count: 1,
            more: false,
        };
        let txn = |revision: i64, nested: Vec<Response>| Response::Txn {
            header: ResponseHeader { revision },
            succeeded: true,
            responses: nested,
        };
        let expected = txn(5, vec![read(0, "1"), txn(0, vec![read(0, "2")])]);
        let observed = txn(5, vec![read(4, "1"), txn(3, vec![read(2, "2")])]);
        assert!(responses_match(&expected, &observed));
        assert!(!responses_match(
            &txn(6, vec![read(0, "1")]),
            &txn(5, vec![read(0, "1")])
        ));
        assert!(!responses_match(
            &txn(5, vec![read(0, "1")]),
            &txn(5, vec![read(0, "9")])
        ));
        assert!(!responses_match(
            &txn(5, vec![read(0, "1")]),
            &txn(5, vec![])
        ));
        assert!(!responses_match(&read(5, "1"), &read(4, "1")));
    }
}
