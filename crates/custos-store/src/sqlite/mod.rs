//! The embedded SQLite store: one file per zone, WAL, `synchronous=FULL`. One writer
//! thread applies write sets in group commits; reads use a small pool of connections.

mod apply;
mod checkpoint;
mod identity;
mod identity_apply;
mod identity_read;
mod ledger;
mod migrate;
mod privacy;
mod privacy_apply;
mod privacy_read;
mod read;
mod snapshot;
mod writer;

use async_trait::async_trait;
use custos_core::audit::{ChainedEntry, Checkpoint};
use custos_core::ids::{CollectionName, Pseudonym, RecordId, TenantCode};
use custos_core::store::{
    ApiKeyRow, AuditFilter, CollectionRow, IndexRow, OperatorRow, RecordFilter, RecordRow, Store, StoreError,
    SubjectRow, TenantKeyRow, TenantRow, Visibility, WriteOp,
};
use custos_crypto::TokenHash;
pub use ledger::SqliteLedger;
use rusqlite::Connection;
pub use snapshot::load_snapshot;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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

/// SQLite-backed `Store`.
pub struct SqliteStore {
    path: PathBuf,
    writer: writer::Writer,
    _checkpointer: checkpoint::Checkpointer,
    readers: Arc<Mutex<Vec<Connection>>>,
    max_readers: usize,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

pub(crate) fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn open_conn(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(backend)?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; \
         PRAGMA busy_timeout=10000; PRAGMA secure_delete=ON;",
    )
    .map_err(backend)?;
    Ok(conn)
}

impl SqliteStore {
    /// Open (creating and migrating if needed) the zone database at `path`.
    pub fn open(path: &Path, options: SqliteOptions) -> Result<Self, StoreError> {
        let mut conn = open_conn(path)?;
        migrate::migrate(&mut conn)?;
        // The writer never checkpoints; a separate thread does, so commits stay short.
        conn.execute_batch("PRAGMA wal_autocheckpoint=0; PRAGMA cache_size=-32768;").map_err(backend)?;
        let writer = writer::Writer::start(conn, options.max_batch)?;
        let checkpointer = checkpoint::Checkpointer::start(open_conn(path)?)?;
        Ok(Self {
            path: path.to_owned(),
            writer,
            _checkpointer: checkpointer,
            readers: Arc::new(Mutex::new(Vec::new())),
            max_readers: options.read_connections.max(1),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run a point read (one indexed row, microseconds from the page cache) on a pooled
    /// connection, inline: a thread hop would cost more than the query.
    fn point<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        with_pooled(&self.readers, &self.path, self.max_readers, f)
    }

    /// Run a scan (pages of records, rewrap batches) on a pooled connection, off the
    /// async runtime.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.readers.clone();
        let path = self.path.clone();
        let max = self.max_readers;
        tokio::task::spawn_blocking(move || with_pooled(&pool, &path, max, f))
            .await
            .map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?
    }
}

fn with_pooled<T>(
    pool: &Mutex<Vec<Connection>>,
    path: &Path,
    max: usize,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let conn = pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
    let conn = match conn {
        Some(c) => c,
        None => open_conn(path)?,
    };
    let out = f(&conn);
    let mut pool = pool.lock().unwrap_or_else(|p| p.into_inner());
    if pool.len() < max {
        pool.push(conn);
    }
    out
}

impl custos_core::store::LogicalSnapshot for SqliteStore {
    fn snapshot(
        &self,
        sink: &mut dyn custos_core::store::SnapshotSink,
    ) -> Result<custos_core::store::SnapshotInfo, StoreError> {
        snapshot::snapshot(&self.path, sink)
    }

    fn take_longest_commit(&self) -> std::time::Duration {
        self.writer.take_longest()
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn apply(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.writer.submit(ops).await
    }

    async fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.point(|c| read::meta(c, key))
    }

    async fn operator_by_hash(&self, hash: &TokenHash) -> Result<Option<OperatorRow>, StoreError> {
        self.point(|c| read::operator_by_hash(c, hash))
    }

    async fn api_key_by_hash(&self, hash: &TokenHash) -> Result<Option<ApiKeyRow>, StoreError> {
        self.point(|c| read::api_key_by_hash(c, hash))
    }

    async fn get_tenant(&self, code: &TenantCode) -> Result<Option<TenantRow>, StoreError> {
        self.point(|c| read::tenant(c, code))
    }

    async fn list_tenants(&self) -> Result<Vec<TenantRow>, StoreError> {
        self.read(read::tenants).await
    }

    async fn get_tenant_key(&self, code: &TenantCode, version: u32) -> Result<Option<TenantKeyRow>, StoreError> {
        self.point(|c| read::tenant_key(c, code, version))
    }

    async fn get_collection(
        &self,
        tenant: &TenantCode,
        name: &CollectionName,
    ) -> Result<Option<CollectionRow>, StoreError> {
        self.point(|c| read::collection(c, tenant, name))
    }

    async fn get_subject(&self, tenant: &TenantCode, pseudonym: &Pseudonym) -> Result<Option<SubjectRow>, StoreError> {
        self.point(|c| read::subject(c, tenant, pseudonym))
    }

    async fn get_record(
        &self,
        tenant: &TenantCode,
        collection: &CollectionName,
        id: &RecordId,
    ) -> Result<Option<RecordRow>, StoreError> {
        self.point(|c| read::record(c, tenant, collection, id))
    }

    async fn list_records(
        &self,
        tenant: &TenantCode,
        filter: &RecordFilter,
        after: Option<&RecordId>,
        limit: u32,
        visibility: Visibility,
    ) -> Result<Vec<RecordRow>, StoreError> {
        let (tenant, filter, after) = (tenant.clone(), filter.clone(), after.cloned());
        self.read(move |c| read::records(c, &tenant, &filter, after.as_ref(), limit, visibility)).await
    }

    async fn audit_head(&self) -> Result<Option<(i64, [u8; 32])>, StoreError> {
        self.point(read::audit_head)
    }

    async fn audit_last_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        self.point(read::audit_last_checkpoint)
    }

    async fn audit_checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        self.read(read::audit_checkpoints).await
    }

    async fn audit_query(&self, filter: &AuditFilter, after: i64, limit: u32) -> Result<Vec<ChainedEntry>, StoreError> {
        let filter = filter.clone();
        self.read(move |c| read::audit_query(c, &filter, after, limit)).await
    }

    async fn audit_after(&self, after: i64, limit: u32) -> Result<Vec<ChainedEntry>, StoreError> {
        self.read(move |c| read::audit_after(c, after, limit)).await
    }

    async fn subjects_below(
        &self,
        tenant: &TenantCode,
        version: u32,
        limit: u32,
    ) -> Result<Vec<SubjectRow>, StoreError> {
        let tenant = tenant.clone();
        self.read(move |c| read::subjects_below(c, &tenant, version, limit)).await
    }

    async fn records_below(
        &self,
        tenant: &TenantCode,
        version: u32,
        limit: u32,
    ) -> Result<Vec<(RecordRow, Vec<IndexRow>)>, StoreError> {
        let tenant = tenant.clone();
        self.read(move |c| read::records_below(c, &tenant, version, limit)).await
    }
}
