//! Range reads with etcd's options (`applierV3backend.Range`).

use std::cmp::Ordering;

use crate::kv::mvcc::{KeyRange, MvccStore};
use crate::kv::types::{KeyValue, RangeRequest, RangeResponse, SortOrder, SortTarget};

/// Serve `request` from `store` as of revision `at` (already checked against the compaction
/// point). The header is left for the caller.
pub fn range(store: &MvccStore, request: &RangeRequest, at: i64) -> RangeResponse {
    let range = KeyRange::new(&request.key, &request.range_end);
    let visible: Vec<&KeyValue> = store.visible(&range, at).collect();
    // etcd counts the keys in the range before the revision filters and the limit.
    let count = visible.len() as i64;
    if request.count_only {
        return RangeResponse {
            count,
            ..RangeResponse::default()
        };
    }
    let mut kvs: Vec<&KeyValue> = visible
        .into_iter()
        .filter(|kv| passes_filters(request, kv))
        .collect();
    sort(&mut kvs, request.sort_order, request.sort_target);
    let limit = usize::try_from(request.limit).unwrap_or(0);
    let more = limit > 0 && kvs.len() > limit;
    if more {
        kvs.truncate(limit);
    }
    let kvs = kvs
        .into_iter()
        .map(|kv| {
            if request.keys_only {
                KeyValue {
                    value: Vec::new(),
                    ..kv.clone()
                }
            } else {
                kv.clone()
            }
        })
        .collect();
    RangeResponse {
        kvs,
        more,
        count,
        ..RangeResponse::default()
    }
}

/// The min/max mod and create revision filters; 0 means unbounded.
fn passes_filters(request: &RangeRequest, kv: &KeyValue) -> bool {
    let above = |value: i64, min: i64| min == 0 || value >= min;
    let below = |value: i64, max: i64| max == 0 || value <= max;
    above(kv.mod_revision, request.min_mod_revision)
        && below(kv.mod_revision, request.max_mod_revision)
        && above(kv.create_revision, request.min_create_revision)
        && below(kv.create_revision, request.max_create_revision)
}

/// etcd's sort rules: any target other than the key sorts ascending when no order is given; the
/// input is already ascending by key. The sort is stable, so ties stay in key order.
fn sort(kvs: &mut [&KeyValue], order: SortOrder, target: SortTarget) {
    let order = match (order, target) {
        (SortOrder::None, SortTarget::Key) | (SortOrder::Ascend, SortTarget::Key) => return,
        (SortOrder::None, _) => SortOrder::Ascend,
        (order, _) => order,
    };
    let by_target = |a: &&KeyValue, b: &&KeyValue| -> Ordering {
        match target {
            SortTarget::Key => a.key.cmp(&b.key),
            SortTarget::Version => a.version.cmp(&b.version),
            SortTarget::Create => a.create_revision.cmp(&b.create_revision),
            SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
            SortTarget::Value => a.value.cmp(&b.value),
        }
    };
    match order {
        SortOrder::Descend => kvs.sort_by(|a, b| by_target(b, a)),
        _ => kvs.sort_by(by_target),
    }
}
