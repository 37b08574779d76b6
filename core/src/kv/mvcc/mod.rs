//! Multi-version storage: every change is kept under its revision until compaction, so the store
//! can be read as of any revision since the compaction point and watchers can replay history.

mod key_index;
mod key_range;
mod revision;
mod store;

pub use key_index::{KeyIndex, LiveKey};
pub use key_range::KeyRange;
pub use revision::Revision;
pub use store::{MvccStore, Put, Record, Replaced, WriteTxn};
