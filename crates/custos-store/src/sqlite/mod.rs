//! The embedded SQLite engine: one file per zone, WAL, `synchronous=FULL`, foreign keys
//! and `secure_delete` on; its migrations, WAL checkpoints, snapshots and loader, and
//! the erasure ledger file.

pub(crate) mod checkpoint;
mod ledger;
pub(crate) mod migrate;
pub(crate) mod snapshot;

use custos_core::store::StoreError;
pub use ledger::SqliteLedger;
use rusqlite::Connection;
pub use snapshot::load_snapshot;
use std::path::Path;

/// Tuning for the SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Read connections kept open.
    pub read_connections: usize,
    /// Most write sets in one group commit.
    pub max_batch: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self { read_connections: 4, max_batch: 512 }
    }
}

pub(crate) fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// A raw connection with the zone's settings.
pub(crate) fn open_conn(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(backend)?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; \
         PRAGMA busy_timeout=10000; PRAGMA secure_delete=ON;",
    )
    .map_err(backend)?;
    Ok(conn)
}

/// Copy every WAL frame into the database, then cut the WAL to nothing: the frames
/// holding removed rows (secure_delete zeroes them in the database) no longer exist
/// anywhere in the files.
pub(crate) fn compact(path: &Path) -> Result<(), StoreError> {
    let c = open_conn(path)?;
    let (busy, _, _): (i64, i64, i64) = c
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(backend)?;
    if busy != 0 {
        return Err(StoreError::Backend("WAL checkpoint could not complete (busy)".into()));
    }
    Ok(())
}
