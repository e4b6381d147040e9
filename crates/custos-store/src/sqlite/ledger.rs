//! The erasure ledger as its own SQLite file beside the zone database: one row per
//! purged subject, each hashed into a chain, written with `synchronous=FULL`. It is never
//! part of the zone's data files or their backups, so it outlives restoring them.

use super::backend;
use async_trait::async_trait;
use custos_core::clock::Timestamp;
use custos_core::ids::{DsrId, Pseudonym, TenantCode};
use custos_core::store::{ErasureLedger, LedgerEntry, StoreError};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The ledger file.
pub struct SqliteLedger {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteLedger").field("path", &self.path).finish_non_exhaustive()
    }
}

fn entry_hash(prev: &[u8], e: &LedgerEntry) -> [u8; 32] {
    let line = format!("{}\n{}\n{}\n{}\n{}", e.seq, e.tenant, e.pseudonym, e.request, e.at.0);
    let mut buf = prev.to_vec();
    buf.extend_from_slice(line.as_bytes());
    custos_crypto::sha256(&buf)
}

impl SqliteLedger {
    /// Open (creating if needed) the ledger at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(backend)?;
        conn.execute_batch(
            "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON; \
             CREATE TABLE IF NOT EXISTS erasures (
                 seq INTEGER PRIMARY KEY, tenant TEXT NOT NULL, pseudonym TEXT NOT NULL, request TEXT NOT NULL,
                 at INTEGER NOT NULL, hash BLOB NOT NULL, UNIQUE (tenant, pseudonym));",
        )
        .map_err(backend)?;
        Ok(Self { path: path.to_owned(), conn: Arc::new(Mutex::new(conn)) })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut c)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("ledger task failed: {e}")))?
    }

    /// Check every entry's hash link; the first broken sequence number, if any.
    pub async fn verify(&self) -> Result<Option<i64>, StoreError> {
        self.run(|c| {
            let mut st = c
                .prepare("SELECT seq, tenant, pseudonym, request, at, hash FROM erasures ORDER BY seq")
                .map_err(backend)?;
            let mut rows = st.query([]).map_err(backend)?;
            let mut prev = vec![0u8; 32];
            while let Some(r) = rows.next().map_err(backend)? {
                let e = parse(r)?;
                let stored: Vec<u8> = r.get(5).map_err(backend)?;
                if entry_hash(&prev, &e)[..] != stored[..] {
                    return Ok(Some(e.seq));
                }
                prev = stored;
            }
            Ok(None)
        })
        .await
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Backend(format!("ledger {what} does not parse"))
}

fn parse(r: &rusqlite::Row<'_>) -> Result<LedgerEntry, StoreError> {
    Ok(LedgerEntry {
        seq: r.get(0).map_err(backend)?,
        tenant: TenantCode::parse(&r.get::<_, String>(1).map_err(backend)?).map_err(|_| corrupt("tenant"))?,
        pseudonym: Pseudonym::parse(&r.get::<_, String>(2).map_err(backend)?).map_err(|_| corrupt("pseudonym"))?,
        request: DsrId::parse(&r.get::<_, String>(3).map_err(backend)?).map_err(|_| corrupt("request"))?,
        at: Timestamp(r.get(4).map_err(backend)?),
    })
}

#[async_trait]
impl ErasureLedger for SqliteLedger {
    async fn append(
        &self,
        tenant: &TenantCode,
        pseudonym: &Pseudonym,
        request: &DsrId,
        at: Timestamp,
    ) -> Result<LedgerEntry, StoreError> {
        let (t, p, rq) = (tenant.clone(), pseudonym.clone(), request.clone());
        self.run(move |c| {
            let tx = c.transaction().map_err(backend)?;
            let existing = tx
                .query_row(
                    "SELECT seq, tenant, pseudonym, request, at FROM erasures WHERE tenant = ?1 AND pseudonym = ?2",
                    params![t.as_str(), p.as_str()],
                    |r| Ok(parse(r)),
                )
                .optional()
                .map_err(backend)?;
            if let Some(e) = existing {
                return e;
            }
            let last: Option<(i64, Vec<u8>)> = tx
                .query_row("SELECT seq, hash FROM erasures ORDER BY seq DESC LIMIT 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(backend)?;
            let (seq, prev) = match last {
                Some((s, h)) => (s + 1, h),
                None => (1, vec![0u8; 32]),
            };
            let e = LedgerEntry { seq, tenant: t, pseudonym: p, request: rq, at };
            let hash = entry_hash(&prev, &e);
            tx.execute(
                "INSERT INTO erasures (seq, tenant, pseudonym, request, at, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![e.seq, e.tenant.as_str(), e.pseudonym.as_str(), e.request.as_str(), e.at.0, &hash[..]],
            )
            .map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(e)
        })
        .await
    }

    async fn contains(&self, tenant: &TenantCode, pseudonym: &Pseudonym) -> Result<bool, StoreError> {
        let (t, p) = (tenant.clone(), pseudonym.clone());
        self.run(move |c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM erasures WHERE tenant = ?1 AND pseudonym = ?2)",
                params![t.as_str(), p.as_str()],
                |r| r.get(0),
            )
            .map_err(backend)
        })
        .await
    }

    async fn entries(&self, after: i64, limit: u32) -> Result<Vec<LedgerEntry>, StoreError> {
        self.run(move |c| {
            let mut st = c
                .prepare(
                    "SELECT seq, tenant, pseudonym, request, at FROM erasures WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )
                .map_err(backend)?;
            let mut rows = st.query(params![after, limit]).map_err(backend)?;
            let mut out = Vec::new();
            while let Some(r) = rows.next().map_err(backend)? {
                out.push(parse(r)?);
            }
            Ok(out)
        })
        .await
    }
}
