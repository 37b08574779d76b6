//! The scenario catalogue and the `detcd-sim` command.

pub mod audit;
pub mod catalogue;
pub mod script;
pub mod sweep;
