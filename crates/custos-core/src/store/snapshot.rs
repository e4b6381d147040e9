//! The logical snapshot boundary: a store streams a consistent copy of its zone as
//! tables of typed rows (the body of a backup, independent of the backend), and says how
//! long its longest commit took (the write stall a snapshot may cause).

use super::StoreError;

/// A column's logical type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// A 64-bit signed integer.
    Int,
    /// UTF-8 text.
    Text,
    /// Bytes (ciphertext, MACs, hashes).
    Bytes,
}

impl ColumnType {
    /// The name used in the backup format.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Int => "int",
            Self::Text => "text",
            Self::Bytes => "bytes",
        }
    }

    /// Parse the name used in the backup format.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "int" => Some(Self::Int),
            "text" => Some(Self::Text),
            "bytes" => Some(Self::Bytes),
            _ => None,
        }
    }
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
}

/// A column of a logical table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Name.
    pub name: String,
    /// Type.
    pub ty: ColumnType,
}

/// A logical table: its name and columns, in the order rows carry their values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableHeader {
    /// Name.
    pub name: String,
    /// Columns.
    pub columns: Vec<Column>,
}

/// Where a snapshot goes, table by table, row by row.
pub trait SnapshotSink {
    /// The snapshot starts; `schema_version` is the store's schema version.
    fn begin(&mut self, schema_version: u32) -> Result<(), StoreError>;
    /// A table starts.
    fn table(&mut self, header: &TableHeader) -> Result<(), StoreError>;
    /// A row of the current table, values in column order.
    fn row(&mut self, values: &[Value]) -> Result<(), StoreError>;
    /// The current table ends after `rows` rows.
    fn end_table(&mut self, rows: u64) -> Result<(), StoreError>;
}

/// Where a snapshot comes from when it is loaded.
pub trait SnapshotSource {
    /// The next table, or `None` after the last.
    fn next_table(&mut self) -> Result<Option<TableHeader>, StoreError>;
    /// The next row of the current table into `out`; `false` at the table's end.
    fn next_row(&mut self, out: &mut Vec<Value>) -> Result<bool, StoreError>;
}

/// What a snapshot saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The store's schema version.
    pub schema_version: u32,
    /// The audit chain's head (sequence number, hash) inside the snapshot.
    pub audit_head: Option<(i64, [u8; 32])>,
    /// Rows per table, in the order written.
    pub counts: Vec<(String, u64)>,
}

/// A store that can stream a consistent logical copy of itself.
pub trait LogicalSnapshot {
    /// Stream every durable table (not sessions, throttles or one-time tokens) as of one
    /// instant, without blocking writers. Blocking: run it off the async runtime.
    fn snapshot(&self, sink: &mut dyn SnapshotSink) -> Result<SnapshotInfo, StoreError>;

    /// The longest single commit since the last call (and reset it): what writers waited
    /// at most while something else, such as a snapshot, ran.
    fn take_longest_commit(&self) -> std::time::Duration;
}
