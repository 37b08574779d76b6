//! The scenario catalogue and the `detcd-sim` command.

pub mod audit;
pub mod catalogue;
