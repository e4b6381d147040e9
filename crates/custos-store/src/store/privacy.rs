//! `PrivacyStore` over the SQL engines.

use super::{Engine, SqlStore};
use crate::query::privacy_read as r;
use crate::sql::params;
use async_trait::async_trait;
use custos_core::clock::Timestamp;
use custos_core::ids::{CollectionName, DisclosureId, DsrId, FileId, Pseudonym, RecipientId, RecordId, TenantCode};
use custos_core::store::{
    CollectionRow, DisclosureRow, DsrRow, FileRow, NoticeRow, PrivacyStore, RecipientRow, RecordRow, StoreError,
    SubjectState,
};
use custos_crypto::{Sealed, TokenHash};

#[async_trait]
impl PrivacyStore for SqlStore {
    async fn subject_by_external(&self, tenant: &TenantCode, mac: &[u8; 32]) -> Result<Option<Pseudonym>, StoreError> {
        let (tenant, mac) = (tenant.clone(), *mac);
        self.point(move |c| r::subject_by_external(c, &tenant, &mac)).await
    }

    async fn subject_state(&self, tenant: &TenantCode, p: &Pseudonym) -> Result<Option<SubjectState>, StoreError> {
        let (tenant, p) = (tenant.clone(), p.clone());
        self.point(move |c| r::subject_state(c, &tenant, &p)).await
    }

    async fn recipient(&self, id: &RecipientId) -> Result<Option<RecipientRow>, StoreError> {
        let id = id.clone();
        self.point(move |c| r::recipients_where(c, "id = ?1", [id.as_str()])).await.map(|mut v| v.pop())
    }

    async fn recipient_by_hash(&self, hash: &TokenHash) -> Result<Option<RecipientRow>, StoreError> {
        let hash = hash.clone();
        self.point(move |c| r::recipients_where(c, "key_hash = ?1", [&hash.0[..]])).await.map(|mut v| v.pop())
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
        let id = id.clone();
        self.point(move |c| r::dsrs_where(c, "id = ?1", [id.as_str()])).await.map(|mut v| v.pop())
    }

    async fn dsrs(&self, tenant: &TenantCode, before: Option<&DsrId>, limit: u32) -> Result<Vec<DsrRow>, StoreError> {
        let (t, before) = (tenant.clone(), before.map(|b| b.as_str().to_owned()).unwrap_or_else(|| "~".into()));
        self.read(move |c| {
            r::dsrs_where(c, "tenant = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3", params![t.as_str(), before, limit])
        })
        .await
    }

    async fn open_dsrs_of(&self, tenant: &TenantCode, subject: &Pseudonym) -> Result<Vec<DsrRow>, StoreError> {
        let (tenant, subject) = (tenant.clone(), subject.clone());
        self.point(move |c| {
            r::dsrs_where(
                c,
                "tenant = ?1 AND subject = ?2 AND state = 'locked' ORDER BY id",
                params![tenant.as_str(), subject.as_str()],
            )
        })
        .await
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
                "state = 'locked' AND due_at < ?1 AND (CAST(?2 AS TEXT) IS NULL OR tenant = ?2) ORDER BY due_at",
                params![now.0, t],
            )
        })
        .await
    }

    async fn notices(&self, request: &DsrId) -> Result<Vec<NoticeRow>, StoreError> {
        let request = request.clone();
        self.point(move |c| r::notices_where(c, "request = ?1 ORDER BY recipient", [request.as_str()])).await
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
        let (id, tenant) = (id.clone(), tenant.clone());
        self.point(move |c| r::files_where(c, "id = ?1 AND tenant = ?2", params![id.as_str(), tenant.as_str()]))
            .await
            .map(|mut v| v.pop())
    }

    async fn file_chunk(&self, id: &FileId, n: u32) -> Result<Option<Sealed>, StoreError> {
        let id = id.clone();
        self.point(move |c| r::file_chunk(c, &id, n)).await
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
        match &self.engine {
            Engine::Sqlite { path, .. } => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || crate::sqlite::compact(&path))
                    .await
                    .map_err(|e| StoreError::Backend(format!("compact task failed: {e}")))?
            }
            Engine::Postgres { .. } => self.read(crate::postgres::compact).await,
        }
    }
}
