//! Logical snapshots of a PostgreSQL zone: one `REPEATABLE READ` read-only transaction
//! (one instant; writers of every node go on), rows streamed table by table in the
//! store-independent form the backup format carries.

use crate::sql::{Connection, PgConn, backend};
use crate::sqlite::snapshot::EPHEMERAL;
use custos_core::store::{Column, ColumnType, SnapshotInfo, SnapshotSink, StoreError, TableHeader, Value};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::Type;

fn pg(e: postgres::Error) -> StoreError {
    backend(e.into())
}

/// Stream every durable table as of one instant.
pub(crate) fn snapshot(c: &Connection, sink: &mut dyn SnapshotSink) -> Result<SnapshotInfo, StoreError> {
    let Connection::Pg(conn) = c else {
        return Err(StoreError::Backend("not a PostgreSQL connection".into()));
    };
    conn.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").map_err(backend)?;
    let out = snapshot_in(c, conn, sink);
    let _ = conn.batch("ROLLBACK");
    out
}

fn tables(conn: &PgConn) -> Result<Vec<TableHeader>, StoreError> {
    let rows = conn
        .client()
        .query(
            "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name <> 'custos_schema' \
             ORDER BY table_name, ordinal_position",
            &[],
        )
        .map_err(pg)?;
    let mut out: Vec<TableHeader> = Vec::new();
    for r in rows {
        let (table, name, ty): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        if EPHEMERAL.contains(&table.as_str()) {
            continue;
        }
        let ty = match ty.as_str() {
            "bigint" => ColumnType::Int,
            "text" => ColumnType::Text,
            "bytea" => ColumnType::Bytes,
            other => return Err(StoreError::Backend(format!("column {table}.{name} has unsupported type {other}"))),
        };
        match out.last_mut() {
            Some(h) if h.name == table => h.columns.push(Column { name, ty }),
            _ => out.push(TableHeader { name: table, columns: vec![Column { name, ty }] }),
        }
    }
    Ok(out)
}

fn snapshot_in(c: &Connection, conn: &PgConn, sink: &mut dyn SnapshotSink) -> Result<SnapshotInfo, StoreError> {
    let schema_version = super::migrate::version(c)?;
    sink.begin(schema_version)?;
    let audit_head = crate::query::read::audit_head(c)?;
    let mut counts = Vec::new();
    for header in tables(conn)? {
        sink.table(&header)?;
        let list = header.columns.iter().map(|c| format!("\"{}\"", c.name)).collect::<Vec<_>>().join(", ");
        let sql = format!("SELECT {list} FROM \"{}\"", header.name);
        let mut client = conn.client();
        let mut rows = client.query_raw(sql.as_str(), std::iter::empty::<i64>()).map_err(pg)?;
        let mut n = 0u64;
        let mut values = Vec::with_capacity(header.columns.len());
        while let Some(row) = rows.next().map_err(pg)? {
            values.clear();
            for i in 0..header.columns.len() {
                values.push(value(&row, i)?);
            }
            sink.row(&values)?;
            n += 1;
        }
        sink.end_table(n)?;
        counts.push((header.name, n));
    }
    Ok(SnapshotInfo { schema_version, audit_head, counts })
}

fn value(row: &postgres::Row, i: usize) -> Result<Value, StoreError> {
    let ty = row.columns().get(i).map(|c| c.type_().clone()).unwrap_or(Type::UNKNOWN);
    Ok(if ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(i).map_err(pg)?.map_or(Value::Null, Value::Int)
    } else if ty == Type::TEXT {
        row.try_get::<_, Option<String>>(i).map_err(pg)?.map_or(Value::Null, Value::Text)
    } else if ty == Type::BYTEA {
        row.try_get::<_, Option<Vec<u8>>>(i).map_err(pg)?.map_or(Value::Null, Value::Bytes)
    } else {
        return Err(StoreError::Backend(format!("unsupported column type {ty}")));
    })
}
