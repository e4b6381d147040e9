//! `SqlStore`: the one `Store` implementation, over SQLite or PostgreSQL. Writes go to
//! one writer per process (group commit); reads use a pool. Point reads on SQLite run
//! inline (microseconds from the page cache); everything else runs off the runtime.

mod identity;
mod pool;
mod privacy;
mod writer;

use crate::query::read;
use crate::sql::Connection;
use async_trait::async_trait;
use custos_core::audit::{ChainedEntry, Checkpoint};
use custos_core::ids::{CollectionName, Pseudonym, RecordId, TenantCode};
use custos_core::store::{
    ApiKeyRow, AuditFilter, CollectionRow, IndexRow, OperatorRow, RecordFilter, RecordRow, SnapshotInfo, SnapshotSink,
    Store, StoreError, SubjectRow, TenantKeyRow, TenantRow, Visibility, WriteOp,
};
use custos_crypto::TokenHash;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which engine, and what only it needs.
enum Engine {
    Sqlite { path: PathBuf, _checkpointer: crate::sqlite::checkpoint::Checkpointer },
    Postgres { shown: String },
}

/// The zone store.
pub struct SqlStore {
    engine: Engine,
    writer: writer::Writer,
    pool: Arc<pool::Pool>,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.engine {
            Engine::Sqlite { path, .. } => f.debug_struct("SqlStore").field("sqlite", path).finish_non_exhaustive(),
            Engine::Postgres { shown } => f.debug_struct("SqlStore").field("postgres", shown).finish_non_exhaustive(),
        }
    }
}

impl SqlStore {
    /// Open (creating and migrating if needed) the SQLite zone database at `path`.
    pub fn open_sqlite(path: &Path, options: crate::SqliteOptions) -> Result<Self, StoreError> {
        let mut conn = crate::sqlite::open_conn(path)?;
        crate::sqlite::migrate::migrate(&mut conn)?;
        // The writer never checkpoints; a separate thread does, so commits stay short.
        conn.execute_batch("PRAGMA wal_autocheckpoint=0; PRAGMA cache_size=-32768;").map_err(crate::sqlite::backend)?;
        let writer = writer::Writer::start(Connection::Lite(conn), options.max_batch, None)?;
        let checkpointer = crate::sqlite::checkpoint::Checkpointer::start(crate::sqlite::open_conn(path)?)?;
        let p = path.to_owned();
        let pool = pool::Pool::new(
            options.read_connections,
            Box::new(move || crate::sqlite::open_conn(&p).map(Connection::Lite)),
        );
        Ok(Self {
            engine: Engine::Sqlite { path: path.to_owned(), _checkpointer: checkpointer },
            writer,
            pool: Arc::new(pool),
        })
    }

    /// Connect to (and migrate, if needed) the PostgreSQL zone database.
    pub async fn connect_postgres(options: &crate::PgOptions) -> Result<Self, StoreError> {
        let options = options.clone();
        tokio::task::spawn_blocking(move || Self::connect_postgres_blocking(&options))
            .await
            .map_err(|e| StoreError::Backend(format!("connect task failed: {e}")))?
    }

    fn connect_postgres_blocking(options: &crate::PgOptions) -> Result<Self, StoreError> {
        let connector = crate::postgres::Connector::new(options)?;
        let first = connector.connect()?;
        crate::postgres::migrate::migrate(&first)?;
        let c2 = connector.clone();
        let writer = writer::Writer::start(first, options.max_batch, Some(Box::new(move || c2.connect())))?;
        let shown = connector.shown();
        let pool = pool::Pool::new(options.max_connections, Box::new(move || connector.connect()));
        Ok(Self { engine: Engine::Postgres { shown }, writer, pool: Arc::new(pool) })
    }

    /// The SQLite database file (`None` on PostgreSQL).
    pub fn path(&self) -> Option<&Path> {
        match &self.engine {
            Engine::Sqlite { path, .. } => Some(path),
            Engine::Postgres { .. } => None,
        }
    }

    /// A one-row read. SQLite answers from its page cache in microseconds, so inline;
    /// PostgreSQL is a network round trip, so off the runtime.
    async fn point<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        match self.engine {
            Engine::Sqlite { .. } => self.pool.with(f),
            Engine::Postgres { .. } => self.read(f).await,
        }
    }

    /// A scan (pages of records, rewrap batches), off the async runtime.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = self
            .pool
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Backend("store is closing".into()))?;
        let pool = self.pool.clone();
        let out = tokio::task::spawn_blocking(move || {
            let out = pool.with(f);
            drop(permit);
            out
        })
        .await;
        out.map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?
    }
}

impl custos_core::store::LogicalSnapshot for SqlStore {
    fn snapshot(&self, sink: &mut dyn SnapshotSink) -> Result<SnapshotInfo, StoreError> {
        match &self.engine {
            Engine::Sqlite { path, .. } => crate::sqlite::snapshot::snapshot(path, sink),
            Engine::Postgres { .. } => crate::postgres::snapshot::snapshot(&self.pool.connect()?, sink),
        }
    }

    fn take_longest_commit(&self) -> std::time::Duration {
        self.writer.take_longest()
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn apply(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.writer.submit(ops).await
    }

    async fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_owned();
        self.point(move |c| read::meta(c, &key)).await
    }

    async fn operator_by_hash(&self, hash: &TokenHash) -> Result<Option<OperatorRow>, StoreError> {
        let hash = hash.clone();
        self.point(move |c| read::operator_by_hash(c, &hash)).await
    }

    async fn api_key_by_hash(&self, hash: &TokenHash) -> Result<Option<ApiKeyRow>, StoreError> {
        let hash = hash.clone();
        self.point(move |c| read::api_key_by_hash(c, &hash)).await
    }

    async fn get_tenant(&self, code: &TenantCode) -> Result<Option<TenantRow>, StoreError> {
        let code = code.clone();
        self.point(move |c| read::tenant(c, &code)).await
    }

    async fn list_tenants(&self) -> Result<Vec<TenantRow>, StoreError> {
        self.read(read::tenants).await
    }

    async fn get_tenant_key(&self, code: &TenantCode, version: u32) -> Result<Option<TenantKeyRow>, StoreError> {
        let code = code.clone();
        self.point(move |c| read::tenant_key(c, &code, version)).await
    }

    async fn get_collection(
        &self,
        tenant: &TenantCode,
        name: &CollectionName,
    ) -> Result<Option<CollectionRow>, StoreError> {
        let (tenant, name) = (tenant.clone(), name.clone());
        self.point(move |c| read::collection(c, &tenant, &name)).await
    }

    async fn get_subject(&self, tenant: &TenantCode, pseudonym: &Pseudonym) -> Result<Option<SubjectRow>, StoreError> {
        let (tenant, p) = (tenant.clone(), pseudonym.clone());
        self.point(move |c| read::subject(c, &tenant, &p)).await
    }

    async fn get_record(
        &self,
        tenant: &TenantCode,
        collection: &CollectionName,
        id: &RecordId,
    ) -> Result<Option<RecordRow>, StoreError> {
        let (tenant, coll, id) = (tenant.clone(), collection.clone(), id.clone());
        self.point(move |c| read::record(c, &tenant, &coll, &id)).await
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
        self.point(read::audit_head).await
    }

    async fn audit_last_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        self.point(read::audit_last_checkpoint).await
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
