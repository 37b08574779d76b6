//! The scenario catalogue and the `detcd-sim` command.

pub mod catalogue;
