//! detcd-checker: is a client history linearizable, and did watches and leases keep their word?
//!
//! The crate reads histories and knows nothing of the simulator or the core. Its layout follows
//! the pipeline:
//!
//! - [`history`]: our JSON-lines format of etcd operations (the format's documentation);
//!   [`formats`]: readers for Jepsen register logs and EDN kv histories.
//! - [`operation`]: the format-free shape every checker works on.
//! - [`model`]: sequential specifications: a register, a kv map and the etcd KV store.
//! - [`search`]: the general search (Wing & Gong with Lowe's memo), partitioned where the model
//!   allows; [`reference`]: a brute-force checker the property tests compare against.
//! - [`etcd`]: turns a detcd history into operations and watch streams;
//!   [`revision`]: the revision-guided pass for etcd histories, which searches only over what
//!   revisions leave open.
//! - [`watch`] and [`lease`]: the watch and lease guarantees, against the linearized order.
//! - [`counterexample`]: the smallest window that shows a violation, in words and as data.
//! - [`check`]: the entry points ([`check_file`]) and the report the command line prints;
//!   [`options`]: what a check may spend and assume ([`CheckOptions`], [`ClockUncertainty`]);
//!   [`budget`]: what it may spend, counted in search steps and memo entries, never in time,
//!   so that a verdict does not depend on the machine.
//! - [`generate`]: deterministic histories of correct systems, for benchmarks and property
//!   tests, up to the simulator's etcd workload at a million operations.

pub mod budget;
pub mod check;
pub mod counterexample;
pub mod etcd;
mod fast_hash;
pub mod formats;
pub mod history;
pub mod lease;
pub mod model;
pub mod operation;
pub mod options;
pub mod reference;
pub mod revision;
pub mod search;
pub mod watch;

pub use budget::Budget;
pub use check::{
    CheckReport, Verdict, check_etcd, check_etcd_with, check_file, check_file_with,
    check_operations, check_text, check_text_with,
};
pub use counterexample::{Counterexample, Violation};
pub use formats::{Format, ParseError};
pub use history::{HistoryRecord, HistoryWriter, read_history};
pub use options::{CheckOptions, ClockUncertainty};
pub mod generate;
