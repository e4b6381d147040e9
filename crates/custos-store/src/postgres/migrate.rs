//! Schema migrations on PostgreSQL: the SQLite steps, translated (64-bit integers,
//! BYTEA), tracked in `custos_schema`, run under an advisory lock so nodes starting
//! together migrate once.

use crate::sql::{Connection, OptionalExtension, backend};
use custos_core::store::StoreError;

const MIGRATE_LOCK: i64 = crate::sql::WRITE_LOCK + 1;

/// A SQLite step as PostgreSQL DDL.
pub(crate) fn translate(sql: &str) -> String {
    sql.replace("INTEGER", "BIGINT").replace("BLOB", "BYTEA").replace(" WITHOUT ROWID", "")
}

/// The schema version of the database (0: empty).
pub(crate) fn version(c: &Connection) -> Result<u32, StoreError> {
    let v: Option<i64> =
        c.query_row("SELECT max(version) FROM custos_schema", (), |r| r.get(0)).optional().map_err(backend)?.flatten();
    u32::try_from(v.unwrap_or(0)).map_err(|_| StoreError::Backend("schema version out of range".into()))
}

/// Bring the database to the newest schema, one transaction per step.
pub(crate) fn migrate(c: &Connection) -> Result<(), StoreError> {
    c.execute_batch(&format!(
        "SELECT pg_advisory_lock({MIGRATE_LOCK}); \
         CREATE TABLE IF NOT EXISTS custos_schema (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    ))
    .map_err(backend)?;
    let result = steps(c);
    let unlock = c.execute_batch(&format!("SELECT pg_advisory_unlock({MIGRATE_LOCK})")).map_err(backend);
    result.and(unlock)
}

fn steps(c: &Connection) -> Result<(), StoreError> {
    let steps = crate::sqlite::migrate::MIGRATIONS;
    let current = version(c)? as usize;
    if current > steps.len() {
        return Err(StoreError::Backend(format!(
            "database schema version {current} is newer than this binary ({})",
            steps.len()
        )));
    }
    for (i, sql) in steps.iter().enumerate().skip(current) {
        let ddl = format!("BEGIN; {} INSERT INTO custos_schema (version) VALUES ({}); COMMIT;", translate(sql), i + 1);
        if let Err(e) = c.execute_batch(&ddl) {
            let _ = c.execute_batch("ROLLBACK");
            return Err(backend(e));
        }
    }
    Ok(())
}
