//! etcd's two-part revision.

use serde::{Deserialize, Serialize};

/// Where a change sits in the store's history. `main` is the store revision of the write
/// transaction, rising by one per transaction that changes something; `sub` numbers the changes
/// within that transaction from 0, so a txn's writes share `main` and are ordered by `sub`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Revision {
    pub main: i64,
    pub sub: i64,
}

impl Revision {
    pub const fn new(main: i64, sub: i64) -> Revision {
        Revision { main, sub }
    }

    /// The first revision of transaction `main`: every change of `main` sorts at or after it.
    pub const fn first_of(main: i64) -> Revision {
        Revision { main, sub: 0 }
    }
}
