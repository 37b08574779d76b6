//! Scenario files: a fault scenario written as commands a newcomer can read, with its expected
//! output kept beside each command, in the style of etcd raft's interaction tests.
//!
//! ```text
//! # Five members; the leader and one follower lose the other three.     <- the purpose: the
//! # The old leader steps down by check-quorum...                           first `#` paragraph
//!
//! cluster 5
//! clients 8 mix=put:40,get:40,txn:10,lease:5,watch:5
//! ----
//! 5 members, 8 clients
//!
//! # Member 1 leads before the split.                                    <- a comment
//! elect 1
//! ----
//!    0.412s  member 1 elected leader of term 2 by [1, 2, 3]
//! ```
//!
//! A *block* is comment lines, then one or more commands, then `----` and the output those
//! commands printed, ending at a blank line. A file with outputs is *scripted*: its outputs are
//! golden, compared for seed [`GOLDEN_SEED`] by the test suite and rewritten when
//! `UPDATE_GOLDEN=1` is set. A file without any `----` is *randomized*: the same commands, run
//! for many seeds, checked by its `expect` commands and the checker alone.
//!
//! Setup commands (`cluster`, `clients`, `network`, `disk`, `faults`, `swarm`, `set`) shape the
//! world and come before the first action; they are option overrides, the same keys `--set`
//! takes. Actions (`run`, `partition`, `crash`, `put`, `expect`...) drive the running world. A
//! file ends with `check`, which heals everything, requires the cluster to recover and checks
//! the clients' history. [`parse`] documents every command.

mod interpret;
mod parse;

pub use interpret::{Execution, execute, options};
pub use parse::{Action, Block, Command, Expectation, Line, ParseError, Script, Setup, parse};

/// The seed whose outputs a scripted scenario keeps.
pub const GOLDEN_SEED: u64 = 1;
