//! Custos storage backends behind `custos_core::store::Store`, and the conformance suite
//! every backend must pass. Backend differences stay inside this crate.
#![forbid(unsafe_code)]

pub mod conformance;
mod conformance_identity;
mod conformance_nodes;
mod conformance_privacy;
mod postgres;
mod query;
mod scratch;
mod sql;
mod sqlite;
mod store;

pub use postgres::PgOptions;
pub use scratch::{SERVER_VAR, create_database, scratch_postgres};
pub use sqlite::{SqliteLedger, SqliteOptions, load_snapshot};
pub use store::SqlStore;
