//! The logical body of a backup (`custos-backup/1`, see docs/backup.md): JSON Lines,
//! independent of the store. A header line, then per table a header, one JSON array per
//! row and an end line with the row count, then an end-of-backup line. Bytes are base64.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use custos_core::store::{Column, ColumnType, SnapshotSink, SnapshotSource, StoreError, TableHeader, Value};
use serde_json::{Value as Json, json};
use std::io::{BufRead, Write};

/// The format name written in the body's first line and in the manifest.
pub const FORMAT: &str = "custos-backup/1";

/// The longest line a reader accepts (a file chunk is 64 KiB before base64).
const MAX_LINE: usize = 1 << 20;

fn io(e: std::io::Error) -> StoreError {
    StoreError::Backend(format!("backup stream: {e}"))
}

/// Writes a snapshot as the logical body.
pub struct BodyWriter<W: Write> {
    out: W,
    zone: String,
    columns: Vec<ColumnType>,
    line: Vec<u8>,
}

impl<W: Write> BodyWriter<W> {
    /// A body for `zone`; the header line is written when the snapshot begins.
    pub fn new(out: W, zone: &str) -> Self {
        Self { out, zone: zone.to_owned(), columns: Vec::new(), line: Vec::with_capacity(4096) }
    }

    /// Write the end-of-backup line and hand back the writer.
    pub fn finish(mut self) -> Result<W, StoreError> {
        writeln!(self.out, "{}", json!({ "end_of_backup": true })).map_err(io)?;
        Ok(self.out)
    }
}

impl<W: Write> SnapshotSink for BodyWriter<W> {
    fn begin(&mut self, schema_version: u32) -> Result<(), StoreError> {
        let head = json!({ "format": FORMAT, "zone": self.zone, "schema": schema_version });
        writeln!(self.out, "{head}").map_err(io)
    }

    fn table(&mut self, header: &TableHeader) -> Result<(), StoreError> {
        let cols: Vec<Json> = header.columns.iter().map(|c| json!([c.name, c.ty.as_str()])).collect();
        writeln!(self.out, "{}", json!({ "table": header.name, "columns": cols })).map_err(io)?;
        self.columns = header.columns.iter().map(|c| c.ty).collect();
        Ok(())
    }

    fn row(&mut self, values: &[Value]) -> Result<(), StoreError> {
        let row: Vec<Json> = values
            .iter()
            .map(|v| match v {
                Value::Null => Json::Null,
                Value::Int(i) => json!(i),
                Value::Text(t) => json!(t),
                Value::Bytes(b) => json!(B64.encode(b)),
            })
            .collect();
        self.line.clear();
        serde_json::to_writer(&mut self.line, &row).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.line.push(b'\n');
        self.out.write_all(&self.line).map_err(io)
    }

    fn end_table(&mut self, rows: u64) -> Result<(), StoreError> {
        writeln!(self.out, "{}", json!({ "end": rows })).map_err(io)
    }
}

/// The body's first line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyHeader {
    /// Zone the backup was taken from.
    pub zone: String,
    /// Schema version of the store it was taken from.
    pub schema_version: u32,
}

/// Reads a logical body; every structural fault is an error, and a body that stops
/// before its end-of-backup line is truncated.
pub struct BodyReader<R: BufRead> {
    input: R,
    line: String,
    columns: Vec<Column>,
    table: Option<String>,
    rows: u64,
    /// Rows per table, as read.
    pub counts: Vec<(String, u64)>,
    finished: bool,
}

fn bad(msg: impl Into<String>) -> StoreError {
    StoreError::Backend(format!("the backup body is malformed: {}", msg.into()))
}

impl<R: BufRead> BodyReader<R> {
    /// Read the header line.
    pub fn new(input: R) -> Result<(Self, BodyHeader), StoreError> {
        let mut r = Self {
            input,
            line: String::new(),
            columns: Vec::new(),
            table: None,
            rows: 0,
            counts: Vec::new(),
            finished: false,
        };
        let head = r.next_json()?.ok_or_else(|| bad("it is empty"))?;
        if head.get("format").and_then(Json::as_str) != Some(FORMAT) {
            return Err(bad(format!("it is not {FORMAT}")));
        }
        let zone = head.get("zone").and_then(Json::as_str).ok_or_else(|| bad("no zone"))?.to_owned();
        let schema_version = head
            .get("schema")
            .and_then(Json::as_u64)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| bad("no schema"))?;
        Ok((r, BodyHeader { zone, schema_version }))
    }

    /// Whether the end-of-backup line was read.
    pub fn finished(&self) -> bool {
        self.finished
    }

    fn next_json(&mut self) -> Result<Option<Json>, StoreError> {
        self.line.clear();
        let n = std::io::Read::take(&mut self.input, MAX_LINE as u64 + 1).read_line(&mut self.line).map_err(io)?;
        if n == 0 {
            return Ok(None);
        }
        if n > MAX_LINE || !self.line.ends_with('\n') {
            return Err(bad("a line is cut off or too long"));
        }
        serde_json::from_str(&self.line).map(Some).map_err(|_| bad("a line is not JSON"))
    }
}

impl<R: BufRead> SnapshotSource for BodyReader<R> {
    fn next_table(&mut self) -> Result<Option<TableHeader>, StoreError> {
        if self.table.is_some() {
            return Err(bad("a table was not read to its end"));
        }
        let j = self.next_json()?.ok_or_else(|| bad("it ends before its end-of-backup line (truncated)"))?;
        if j.get("end_of_backup") == Some(&Json::Bool(true)) {
            if self.next_json()?.is_some() {
                return Err(bad("there is data after the end-of-backup line"));
            }
            self.finished = true;
            return Ok(None);
        }
        let name = j.get("table").and_then(Json::as_str).ok_or_else(|| bad("expected a table header"))?.to_owned();
        let cols = j.get("columns").and_then(Json::as_array).ok_or_else(|| bad("a table header has no columns"))?;
        let mut columns = Vec::with_capacity(cols.len());
        for c in cols {
            let pair = c.as_array().filter(|p| p.len() == 2).ok_or_else(|| bad("a column is not [name, type]"))?;
            let (Some(n), Some(t)) = (pair[0].as_str(), pair[1].as_str().and_then(ColumnType::parse)) else {
                return Err(bad("a column is not [name, type]"));
            };
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                return Err(bad("a column name is not a plain identifier"));
            }
            columns.push(Column { name: n.to_owned(), ty: t });
        }
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err(bad("a table name is not a plain identifier"));
        }
        self.columns = columns.clone();
        self.table = Some(name.clone());
        self.rows = 0;
        Ok(Some(TableHeader { name, columns }))
    }

    fn next_row(&mut self, out: &mut Vec<Value>) -> Result<bool, StoreError> {
        let Some(table) = self.table.clone() else { return Err(bad("a row outside a table")) };
        let j = self.next_json()?.ok_or_else(|| bad("it ends inside a table (truncated)"))?;
        if let Some(end) = j.get("end") {
            if end.as_u64() != Some(self.rows) {
                return Err(bad(format!("table {table} ends with a count that does not match its rows")));
            }
            self.counts.push((table, self.rows));
            self.table = None;
            return Ok(false);
        }
        let arr = j.as_array().ok_or_else(|| bad("expected a row"))?;
        if arr.len() != self.columns.len() {
            return Err(bad(format!("a row of {table} has the wrong number of values")));
        }
        out.clear();
        for (v, c) in arr.iter().zip(&self.columns) {
            out.push(match (v, c.ty) {
                (Json::Null, _) => Value::Null,
                (Json::Number(n), ColumnType::Int) => {
                    Value::Int(n.as_i64().ok_or_else(|| bad("an integer is out of range"))?)
                }
                (Json::String(s), ColumnType::Text) => Value::Text(s.clone()),
                (Json::String(s), ColumnType::Bytes) => {
                    Value::Bytes(B64.decode(s).map_err(|_| bad("bytes are not base64"))?)
                }
                _ => return Err(bad(format!("a value of {table}.{} has the wrong type", c.name))),
            });
        }
        self.rows += 1;
        Ok(true)
    }
}
