//! `PrivacyStore` for SQLite: point reads inline, lists and scans off the runtime.

use super::{SqliteStore, backend, open_conn, privacy_read as r};
use async_trait::async_trait;
use custos_core::clock::Timestamp;
use custos_core::ids::{CollectionName, DisclosureId, DsrId, FileId, Pseudonym, RecipientId, RecordId, TenantCode};
use custos_core::store::{
    CollectionRow, DisclosureRow, DsrRow, FileRow, NoticeRow, PrivacyStore, RecipientRow, RecordRow, StoreError,
    SubjectState,
};
use custos_crypto::{Sealed, TokenHash};
use rusqlite::params;

#[async_trait]
impl PrivacyStore for SqliteStore {
    async fn subject_by_external(&self, tenant: &TenantCode, mac: &[u8; 32]) -> Result<Option<Pseudonym>, StoreError> {
        self.point(|c| r::subject_by_external(c, tenant, mac))
    }

    async fn subject_state(&self, tenant: &TenantCode, p: &Pseudonym) -> Result<Option<SubjectState>, StoreError> {
        self.point(|c| r::subject_state(c, tenant, p))
    }

    async fn recipient(&self, id: &RecipientId) -> Result<Option<RecipientRow>, StoreError> {
        self.point(|c| r::recipients_where(c, "id = ?1", [id.as_str()])).map(|mut v| v.pop())
    }

    async fn recipient_by_hash(&self, hash: &TokenHash) -> Result<Option<RecipientRow>, StoreError> {
        self.point(|c| r::recipients_where(c, "key_hash = ?1", [&hash.0[..]])).map(|mut v| v.pop())
    }

    async fn recipients(&self, tenant: &TenantCode) -> Result<Vec<RecipientRow>, StoreError> {
        let t = tenant.clone();
        self.read(move |c| r::recipients_where(c, "tenant = ?1", [t.as_str()])).await
    }

    async fn disclosures(&self, tenant: &TenantCode, subject: &Pseudonym) -> Result<Vec<DisclosureRow>, StoreError> {
        let (t, s) = (tenant.clone(), subject.clone());
        self.read(move |c| r::disclosures(c, &t, &s)).await
    }

    async fn disclosures_to(
        &self,
        recipient: &RecipientId,
        after: Option<&DisclosureId>,
        limit: u32,
    ) -> Result<Vec<DisclosureRow>, StoreError> {
        let (rc, after) = (recipient.clone(), after.cloned());
        self.read(move |c| r::disclosures_to(c, &rc, after.as_ref(), limit)).await
    }

    async fn dsr(&self, id: &DsrId) -> Result<Option<DsrRow>, StoreError> {
        self.point(|c| r::dsrs_where(c, "id = ?1", [id.as_str()])).map(|mut v| v.pop())
    }

    async fn dsrs(&self, tenant: &TenantCode, before: Option<&DsrId>, limit: u32) -> Result<Vec<DsrRow>, StoreError> {
        let (t, before) = (tenant.clone(), before.map(|b| b.as_str().to_owned()).unwrap_or_else(|| "~".into()));
        self.read(move |c| {
            r::dsrs_where(c, "tenant = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3", params![t.as_str(), before, limit])
        })
        .await
    }

    async fn open_dsrs_of(&self, tenant: &TenantCode, subject: &Pseudonym) -> Result<Vec<DsrRow>, StoreError> {
        self.point(|c| {
            r::dsrs_where(
                c,
                "tenant = ?1 AND subject = ?2 AND state = 'locked' ORDER BY id",
                params![tenant.as_str(), subject.as_str()],
            )
        })
    }

    async fn erasures_due(&self, now: Timestamp, limit: u32) -> Result<Vec<DsrRow>, StoreError> {
        self.read(move |c| {
            r::dsrs_where(
                c,
                "state = 'locked' AND purge_after <= ?1 ORDER BY purge_after LIMIT ?2",
                params![now.0, limit],
            )
        })
        .await
    }

    async fn dsrs_overdue(&self, tenant: Option<&TenantCode>, now: Timestamp) -> Result<Vec<DsrRow>, StoreError> {
        let t = tenant.map(|t| t.as_str().to_owned());
        self.read(move |c| {
            r::dsrs_where(
                c,
                "state = 'locked' AND due_at < ?1 AND (?2 IS NULL OR tenant = ?2) ORDER BY due_at",
                params![now.0, t],
            )
        })
        .await
    }

    async fn notices(&self, request: &DsrId) -> Result<Vec<NoticeRow>, StoreError> {
        self.point(|c| r::notices_where(c, "request = ?1 ORDER BY recipient", [request.as_str()]))
    }

    async fn notices_due(&self, now: Timestamp, limit: u32) -> Result<Vec<NoticeRow>, StoreError> {
        self.read(move |c| {
            r::notices_where(
                c,
                "next_attempt_at IS NOT NULL AND next_attempt_at <= ?1 ORDER BY next_attempt_at LIMIT ?2",
                params![now.0, limit],
            )
        })
        .await
    }

    async fn subject_records(
        &self,
        tenant: &TenantCode,
        subject: &Pseudonym,
        after: Option<&RecordId>,
        limit: u32,
    ) -> Result<Vec<RecordRow>, StoreError> {
        let (t, s, a) = (tenant.clone(), subject.clone(), after.cloned());
        self.read(move |c| r::subject_records(c, &t, &s, a.as_ref(), limit)).await
    }

    async fn records_created_before(
        &self,
        tenant: &TenantCode,
        collection: &CollectionName,
        cutoff: Timestamp,
        limit: u32,
    ) -> Result<Vec<RecordId>, StoreError> {
        let (t, coll) = (tenant.clone(), collection.clone());
        self.read(move |c| r::records_created_before(c, &t, &coll, cutoff, limit)).await
    }

    async fn records_purge_due(&self, now: Timestamp, limit: u32) -> Result<Vec<(TenantCode, RecordId)>, StoreError> {
        self.read(move |c| r::records_purge_due(c, now, limit)).await
    }

    async fn collections(&self, tenant: &TenantCode) -> Result<Vec<CollectionRow>, StoreError> {
        let t = tenant.clone();
        self.read(move |c| r::collections(c, &t)).await
    }

    async fn file(&self, tenant: &TenantCode, id: &FileId) -> Result<Option<FileRow>, StoreError> {
        self.point(|c| r::files_where(c, "id = ?1 AND tenant = ?2", params![id.as_str(), tenant.as_str()]))
            .map(|mut v| v.pop())
    }

    async fn file_chunk(&self, id: &FileId, n: u32) -> Result<Option<Sealed>, StoreError> {
        self.point(|c| r::file_chunk(c, id, n))
    }

    async fn subject_files(&self, tenant: &TenantCode, subject: &Pseudonym) -> Result<Vec<FileRow>, StoreError> {
        let (t, s) = (tenant.clone(), subject.clone());
        self.read(move |c| {
            r::files_where(c, "tenant = ?1 AND subject = ?2 ORDER BY id", params![t.as_str(), s.as_str()])
        })
        .await
    }

    async fn files_purge_due(&self, now: Timestamp, limit: u32) -> Result<Vec<FileRow>, StoreError> {
        self.read(move |c| {
            r::files_where(
                c,
                "(expires_at IS NOT NULL AND expires_at <= ?1) OR (purge_after IS NOT NULL AND purge_after <= ?1) \
                 ORDER BY id LIMIT ?2",
                params![now.0, limit],
            )
        })
        .await
    }

    async fn compact(&self) -> Result<(), StoreError> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let c = open_conn(&path)?;
            // Copy every WAL frame into the database, then cut the WAL to nothing: the
            // frames holding removed rows (secure_delete zeroes them in the database)
            // no longer exist anywhere in the files.
            let (busy, _, _): (i64, i64, i64) = c
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(backend)?;
            if busy != 0 {
                return Err(StoreError::Backend("WAL checkpoint could not complete (busy)".into()));
            }
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Backend(format!("compact task failed: {e}")))?
    }
}
