//! Custos storage backends behind `custos_core::store::Store`, and the conformance suite
//! every backend must pass. Backend differences stay inside this crate.
#![forbid(unsafe_code)]

pub mod conformance;
mod conformance_identity;
mod conformance_privacy;
mod sqlite;

pub use sqlite::{SqliteLedger, SqliteOptions, SqliteStore, load_snapshot};
