//! The privacy lifecycle: pseudonymous subjects found by external ids, recipients and
//! disclosures, export, erasure (locked at once, purged after a grace window, notices to
//! every recipient), record and file deletion the same way, retention, encrypted files
//! and the GDPR clock. Purges are written to the erasure ledger, kept apart from the
//! data, and re-applied whenever the vault is unsealed over older data.

mod erasure;
mod export;
mod files;
mod notices;
mod recipients;
mod retention;
mod subjects;

pub use erasure::{ErasureView, NoticeView, PurgeTiming};
pub use export::ExportDocument;
pub use files::{FileDownload, FileUpload, FileView, NewFile};
pub use notices::{NoticeOutcome, OutgoingNotice};
pub use recipients::{Disclosed, DisclosureView, NewDisclosure, NewRecipient, RecipientCreated, RecipientView};
pub use retention::RetentionReport;

use super::Vault;
use crate::clock::Timestamp;
use crate::error::CoreError;
use crate::ids::TenantCode;
use crate::keyring::{read, write};
use crate::policy::{MemberKind, Permission, Principal};
use crate::store::{ErasureLedger, Visibility, WriteOp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Privacy settings (`[privacy]` in the configuration file).
#[derive(Debug, Clone)]
pub struct PrivacyConfig {
    /// Erasure grace window, milliseconds, unless a tenant sets its own (in days).
    pub grace_ms: i64,
    /// Deleted records and files are purged this many milliseconds later.
    pub delete_delay_ms: i64,
    /// File kinds and their retention in days (`None`: kept until deleted). Only these
    /// kinds are accepted.
    pub file_kinds: BTreeMap<String, Option<u32>>,
    /// Largest file, in bytes.
    pub max_file_bytes: u64,
    /// Content types accepted for files.
    pub content_types: Vec<String>,
    /// First delay before re-sending a failed erasure notice (doubles, at most 6 h).
    pub notice_retry_ms: i64,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            grace_ms: 30 * DAY_MS,
            delete_delay_ms: 30 * DAY_MS,
            file_kinds: BTreeMap::from([("transfer".to_owned(), Some(4)), ("attachment".to_owned(), None)]),
            max_file_bytes: 25 * 1024 * 1024,
            content_types: [
                "application/pdf",
                "text/csv",
                "text/plain",
                "image/png",
                "image/jpeg",
                "application/json",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ]
            .map(str::to_owned)
            .to_vec(),
            notice_retry_ms: 30_000,
        }
    }
}

/// A tenant's own privacy settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantPrivacy {
    /// Erasure grace window in days (1-90): recipients may fetch what they hold.
    pub grace_days: u32,
}

const DAY_MS: i64 = 86_400_000;

/// Longest grace window a tenant may set.
pub(crate) const MAX_GRACE_DAYS: u32 = 90;

fn privacy_meta_key(code: &TenantCode) -> String {
    format!("privacy/{code}")
}

/// Whether a principal handles data-subject requests and so sees locked subjects.
pub(crate) fn sees_locked(p: &Principal) -> bool {
    matches!(p, Principal::Member { permissions, kind: MemberKind::User | MemberKind::Service, .. }
        if permissions.has(Permission::DsrManage))
}

pub(crate) fn visibility(p: &Principal) -> Visibility {
    if sees_locked(p) { Visibility::All } else { Visibility::Live }
}

impl Vault {
    /// Replace the privacy settings (at start-up, from the configuration).
    pub fn set_privacy_config(&self, cfg: PrivacyConfig) {
        *write(&self.privacy) = cfg;
    }

    /// Largest accepted file, in bytes.
    pub fn max_file_bytes(&self) -> u64 {
        read(&self.privacy).max_file_bytes
    }

    pub(crate) fn privacy_config(&self) -> PrivacyConfig {
        read(&self.privacy).clone()
    }

    /// Use this erasure ledger (a file apart from the zone's data). Without one,
    /// purges refuse to run.
    pub fn set_ledger(&self, ledger: Arc<dyn ErasureLedger>) {
        *write(&self.ledger) = Some(ledger);
    }

    /// The erasure ledger (a restore or drill re-applies it to its copy).
    pub fn ledger(&self) -> Result<Arc<dyn ErasureLedger>, CoreError> {
        read(&self.ledger).clone().ok_or(CoreError::State("no erasure ledger is configured"))
    }

    /// A tenant's grace window in milliseconds: its own setting in days, or the
    /// deployment's.
    pub(crate) async fn grace_ms(&self, code: &TenantCode) -> Result<i64, CoreError> {
        Ok(match self.store.get_meta(&privacy_meta_key(code)).await? {
            Some(raw) => {
                let t = serde_json::from_slice::<TenantPrivacy>(&raw).map_err(|_| CoreError::Integrity)?;
                i64::from(t.grace_days) * DAY_MS
            }
            None => self.privacy_config().grace_ms,
        })
    }

    /// A tenant's privacy settings.
    pub async fn tenant_privacy(&self, c: &super::Caller, code: &TenantCode) -> Result<TenantPrivacy, CoreError> {
        let a = self.audit(c, "privacy.read").tenant(code);
        let r = async {
            self.ctx(&c.principal, code, crate::policy::Action::ManageDsr).await?;
            let days = self.grace_ms(code).await? / DAY_MS;
            Ok(TenantPrivacy { grace_days: u32::try_from(days).unwrap_or(u32::MAX) })
        }
        .await;
        self.settle(a, r).await
    }

    /// Change a tenant's privacy settings.
    pub async fn set_tenant_privacy(
        &self,
        c: &super::Caller,
        code: &TenantCode,
        settings: TenantPrivacy,
    ) -> Result<TenantPrivacy, CoreError> {
        let a = self.audit(c, "privacy.update").tenant(code);
        let r = async {
            self.ctx(&c.principal, code, crate::policy::Action::ManageDsr).await?;
            if !(1..=MAX_GRACE_DAYS).contains(&settings.grace_days) {
                return Err(CoreError::invalid("grace_days", format!("1 to {MAX_GRACE_DAYS} days")));
            }
            let raw = serde_json::to_vec(&settings).map_err(|_| CoreError::Integrity)?;
            self.apply_audited(vec![WriteOp::PutMeta(privacy_meta_key(code), raw)], &a).await?;
            Ok(settings)
        }
        .await;
        self.settle(a, r).await
    }

    pub(crate) fn delete_purge_time(&self, now: Timestamp) -> Timestamp {
        Timestamp(now.0.saturating_add(self.privacy_config().delete_delay_ms))
    }
}
