//! Logical snapshots of the SQLite store. A snapshot reads every durable table inside
//! one read transaction on its own connection: WAL gives it one instant while the writer
//! goes on. Loading fills a new file in one transaction and checks every foreign key
//! before it commits, so a failed load leaves no half-restored zone.

use super::{backend, migrate, open_conn};
use custos_core::store::{
    Column, ColumnType, SnapshotInfo, SnapshotSink, SnapshotSource, StoreError, TableHeader, Value,
};
use rusqlite::Connection;
use rusqlite::types::ValueRef;
use std::path::Path;

/// Tables that hold nothing worth restoring: sign-in sessions, lockout counters,
/// one-time tokens (a restore signs everybody out) and job leases.
pub(crate) const EPHEMERAL: &[&str] = &["sessions", "throttle", "reset_tokens", "oidc_pending", "leases"];

fn table_names(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid")
        .map_err(backend)?;
    let names = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(backend)?;
    names.collect::<Result<Vec<_>, _>>().map_err(backend)
}

fn columns(conn: &Connection, table: &str) -> Result<Vec<Column>, StoreError> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info(\"{table}\")")).map_err(backend)?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?))).map_err(backend)?;
    let mut out = Vec::new();
    for row in rows {
        let (name, decl) = row.map_err(backend)?;
        let ty = match decl.to_ascii_uppercase().as_str() {
            "INTEGER" => ColumnType::Int,
            "TEXT" => ColumnType::Text,
            "BLOB" => ColumnType::Bytes,
            other => return Err(StoreError::Backend(format!("column {table}.{name} has unsupported type {other}"))),
        };
        out.push(Column { name, ty });
    }
    Ok(out)
}

fn schema_version(conn: &Connection) -> Result<u32, StoreError> {
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(backend)?;
    u32::try_from(v).map_err(|_| StoreError::Backend("schema version out of range".into()))
}

/// Stream every durable table of the database at `path` as of one instant.
pub(crate) fn snapshot(path: &Path, sink: &mut dyn SnapshotSink) -> Result<SnapshotInfo, StoreError> {
    let conn = open_conn(path)?;
    // Deferred: the first read fixes the snapshot every later read of this transaction sees.
    conn.execute_batch("BEGIN DEFERRED").map_err(backend)?;
    let result = snapshot_in(&conn, sink);
    let _ = conn.execute_batch("ROLLBACK");
    result
}

fn snapshot_in(conn: &Connection, sink: &mut dyn SnapshotSink) -> Result<SnapshotInfo, StoreError> {
    let schema_version = schema_version(conn)?;
    sink.begin(schema_version)?;
    let audit_head = conn
        .query_row("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", [], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .map(Some)
        .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })
        .map_err(backend)?
        .map(|(seq, h)| h.try_into().map(|h| (seq, h)))
        .transpose()
        .map_err(|_| StoreError::Backend("audit chain head is corrupt".into()))?;
    let mut counts = Vec::new();
    for name in table_names(conn)? {
        if EPHEMERAL.contains(&name.as_str()) {
            continue;
        }
        let header = TableHeader { columns: columns(conn, &name)?, name };
        sink.table(&header)?;
        let list = header.columns.iter().map(|c| format!("\"{}\"", c.name)).collect::<Vec<_>>().join(", ");
        let mut stmt = conn.prepare(&format!("SELECT {list} FROM \"{}\"", header.name)).map_err(backend)?;
        let mut rows = stmt.query([]).map_err(backend)?;
        let mut n = 0u64;
        let mut values = Vec::with_capacity(header.columns.len());
        while let Some(row) = rows.next().map_err(backend)? {
            values.clear();
            for (i, col) in header.columns.iter().enumerate() {
                values.push(value(row.get_ref(i).map_err(backend)?, col, &header.name)?);
            }
            sink.row(&values)?;
            n += 1;
        }
        sink.end_table(n)?;
        counts.push((header.name, n));
    }
    Ok(SnapshotInfo { schema_version, audit_head, counts })
}

fn value(v: ValueRef<'_>, col: &Column, table: &str) -> Result<Value, StoreError> {
    let bad = || StoreError::Backend(format!("column {table}.{} holds a value of another type", col.name));
    Ok(match (v, col.ty) {
        (ValueRef::Null, _) => Value::Null,
        (ValueRef::Integer(i), ColumnType::Int) => Value::Int(i),
        (ValueRef::Text(t), ColumnType::Text) => Value::Text(std::str::from_utf8(t).map_err(|_| bad())?.to_owned()),
        (ValueRef::Blob(b), ColumnType::Bytes) => Value::Bytes(b.to_vec()),
        _ => return Err(bad()),
    })
}

/// Create the database at `path` (which must not exist) and load a snapshot into it in
/// one transaction. Returns the rows loaded per table. On any error the transaction
/// rolls back; the caller removes the file.
pub fn load_snapshot(path: &Path, source: &mut dyn SnapshotSource) -> Result<Vec<(String, u64)>, StoreError> {
    if path.exists() {
        return Err(StoreError::Conflict("a database exists at the restore target"));
    }
    let mut conn = open_conn(path)?;
    migrate::migrate(&mut conn)?;
    conn.execute_batch("PRAGMA foreign_keys=OFF; BEGIN IMMEDIATE").map_err(backend)?;
    let result = load_in(&conn, source);
    match result {
        Ok(counts) => {
            conn.execute_batch("COMMIT; PRAGMA foreign_keys=ON").map_err(backend)?;
            Ok(counts)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn load_in(conn: &Connection, source: &mut dyn SnapshotSource) -> Result<Vec<(String, u64)>, StoreError> {
    let known = table_names(conn)?;
    let mut counts = Vec::new();
    let mut values = Vec::new();
    while let Some(header) = source.next_table()? {
        if !known.contains(&header.name) || EPHEMERAL.contains(&header.name.as_str()) {
            return Err(StoreError::Backend(format!(
                "the backup holds a table this version does not know: {}",
                header.name
            )));
        }
        if counts.iter().any(|(t, _)| *t == header.name) {
            return Err(StoreError::Backend(format!("the backup holds table {} twice", header.name)));
        }
        let ours = columns(conn, &header.name)?;
        for c in &header.columns {
            if !ours.iter().any(|o| o.name == c.name && o.ty == c.ty) {
                return Err(StoreError::Backend(format!(
                    "column {}.{} of the backup does not match this version's schema",
                    header.name, c.name
                )));
            }
        }
        let list = header.columns.iter().map(|c| format!("\"{}\"", c.name)).collect::<Vec<_>>().join(", ");
        let marks = (1..=header.columns.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
        let mut stmt =
            conn.prepare(&format!("INSERT INTO \"{}\" ({list}) VALUES ({marks})", header.name)).map_err(backend)?;
        let mut n = 0u64;
        while source.next_row(&mut values)? {
            if values.len() != header.columns.len() {
                return Err(StoreError::Backend(format!("a row of {} has the wrong number of values", header.name)));
            }
            for (i, v) in values.iter().enumerate() {
                let idx = i + 1;
                match v {
                    Value::Null => stmt.raw_bind_parameter(idx, rusqlite::types::Null),
                    Value::Int(x) => stmt.raw_bind_parameter(idx, x),
                    Value::Text(t) => stmt.raw_bind_parameter(idx, t.as_str()),
                    Value::Bytes(b) => stmt.raw_bind_parameter(idx, b.as_slice()),
                }
                .map_err(backend)?;
            }
            stmt.raw_execute().map_err(backend)?;
            n += 1;
        }
        counts.push((header.name, n));
    }
    let broken: i64 =
        conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).map_err(backend)?;
    if broken > 0 {
        return Err(StoreError::Backend(format!("{broken} rows of the backup refer to rows it does not hold")));
    }
    Ok(counts)
}
