//! The retention job: records past their collection's retention, deleted records and
//! files past their delay, files past their kind's expiry, and erasures past their
//! grace window are purged, each batch with its audit entry.

use super::super::Vault;
use crate::clock::Timestamp;
use crate::error::CoreError;
use crate::ids::TenantCode;
use crate::schema::CollectionSchema;
use crate::store::{PrivacyOp, WriteOp};
use std::collections::BTreeMap;

/// Rows removed per transaction.
const BATCH: u32 = 500;

/// What one run removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Records past their collection's retention.
    pub records_expired: usize,
    /// Deleted records past their delay.
    pub records_deleted: usize,
    /// Files expired or deleted.
    pub files: usize,
    /// Subjects purged after their erasure's grace window.
    pub subjects: usize,
}

impl RetentionReport {
    fn any(&self) -> bool {
        self.records_expired + self.records_deleted + self.files + self.subjects > 0
    }
}

impl Vault {
    /// Run every purge that is due now. Sealed: nothing (purges need the keys for
    /// anonymisation and run again after unseal).
    pub async fn run_retention(&self) -> Result<RetentionReport, CoreError> {
        self.keys()?;
        let mut report = RetentionReport::default();
        let now = self.clock.now();
        for tenant in self.store.list_tenants().await? {
            report.records_expired += self.expire_records(&tenant.code, now).await?;
        }
        loop {
            let due = self.store.records_purge_due(now, BATCH).await?;
            if due.is_empty() {
                break;
            }
            let mut by_tenant: BTreeMap<TenantCode, Vec<_>> = BTreeMap::new();
            for (t, id) in due {
                by_tenant.entry(t).or_default().push(id);
            }
            for (t, ids) in by_tenant {
                report.records_deleted += ids.len();
                let mut a = self.audit_system("record.purge").tenant(&t);
                a.set_count(ids.len());
                self.apply_audited(vec![WriteOp::Privacy(PrivacyOp::PurgeRecords { tenant: t, ids })], &a).await?;
            }
        }
        loop {
            let due = self.store.files_purge_due(now, BATCH).await?;
            if due.is_empty() {
                break;
            }
            let mut by_tenant: BTreeMap<TenantCode, Vec<_>> = BTreeMap::new();
            for f in due {
                by_tenant.entry(f.tenant).or_default().push(f.id);
            }
            for (t, ids) in by_tenant {
                report.files += ids.len();
                let mut a = self.audit_system("file.purge").tenant(&t);
                a.set_count(ids.len());
                self.apply_audited(vec![WriteOp::Privacy(PrivacyOp::PurgeFiles { tenant: t, ids })], &a).await?;
            }
        }
        report.subjects = self.purge_due_erasures().await?;
        if report.any() {
            self.store.compact().await?;
        }
        Ok(report)
    }

    async fn expire_records(&self, code: &TenantCode, now: Timestamp) -> Result<usize, CoreError> {
        let mut n = 0;
        for coll in self.store.collections(code).await? {
            let schema: CollectionSchema = serde_json::from_str(&coll.schema_json).map_err(|_| CoreError::Integrity)?;
            let Some(days) = schema.retention_days else { continue };
            let cutoff = Timestamp(now.0 - i64::from(days) * 86_400_000);
            loop {
                let ids = self.store.records_created_before(code, &coll.name, cutoff, BATCH).await?;
                if ids.is_empty() {
                    break;
                }
                n += ids.len();
                let mut a = self.audit_system("retention.purge").tenant(code).collection(&coll.name);
                a.set_count(ids.len());
                let op = PrivacyOp::PurgeRecords { tenant: code.clone(), ids };
                self.apply_audited(vec![WriteOp::Privacy(op)], &a).await?;
            }
        }
        Ok(n)
    }
}
