//! etcd's `(key, range_end)` convention, decoded once.

use std::ops::Bound;

/// Bounds on keys, in the form `BTreeMap::range` takes.
pub type KeyBounds<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

/// The keys a request names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyRange {
    /// `range_end` empty: exactly `key`.
    Single(Vec<u8>),
    /// `range_end == "\0"`: every key at or after `key`.
    From(Vec<u8>),
    /// Every key in `[start, end)`; empty when `end <= start`.
    Between(Vec<u8>, Vec<u8>),
}

impl KeyRange {
    pub fn new(key: &[u8], range_end: &[u8]) -> KeyRange {
        match range_end {
            [] => KeyRange::Single(key.to_vec()),
            [0] => KeyRange::From(key.to_vec()),
            end => KeyRange::Between(key.to_vec(), end.to_vec()),
        }
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        match self {
            KeyRange::Single(single) => key == single.as_slice(),
            KeyRange::From(start) => key >= start.as_slice(),
            KeyRange::Between(start, end) => key >= start.as_slice() && key < end.as_slice(),
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, KeyRange::Between(start, end) if end <= start)
    }

    /// Bounds for `BTreeMap::range`; `None` when the range is empty (`range` panics on an
    /// inverted range, so callers must not ask it).
    pub fn bounds(&self) -> Option<KeyBounds<'_>> {
        if self.is_empty() {
            return None;
        }
        Some(match self {
            KeyRange::Single(key) => (
                Bound::Included(key.as_slice()),
                Bound::Included(key.as_slice()),
            ),
            KeyRange::From(start) => (Bound::Included(start.as_slice()), Bound::Unbounded),
            KeyRange::Between(start, end) => (
                Bound::Included(start.as_slice()),
                Bound::Excluded(end.as_slice()),
            ),
        })
    }
}
