//! Reports of simulated runs, for people who would rather look than read logs: a self-contained
//! HTML timeline ([`html`]) and the run told in words ([`explain`]).
//!
//! Both are built from a [`RunRecord`]: [`record`] runs the options with the trace kept in memory
//! and keeps what a report needs. Everything shown is simulated time, so the report of a seed is
//! the same on every machine.
//!
//! Layout: [`record`](mod@record) collects, [`timeline`] lays the run out in time, `svg` draws it,
//! `html` wraps it in a page, `explain` tells it.

mod explain;
mod html;
pub mod record;
mod svg;
pub mod timeline;

pub use explain::explain;
pub use html::html;
pub use record::{ClientOperation, OutcomeClass, RunRecord, Trace, record};
