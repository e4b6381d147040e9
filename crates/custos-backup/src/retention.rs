//! Retention: a backup older than its kind's window is deleted (manifest first, so a
//! half-deleted backup never looks whole), except the newest good one, which is always
//! kept. "Good" means its manifest verifies with this vault's key and its payload is at
//! the target at the size the manifest says. Every deletion is audited.

use crate::manifest::{BackupKind, Manifest};
use crate::{BackupError, target::Target};
use custos_core::Vault;
use custos_core::service::BackupEvent;
use std::sync::Arc;

/// How long each kind of backup is kept (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Full backups (default 7 days).
    pub full_ms: i64,
    /// Snapshots (default 2 days).
    pub snapshot_ms: i64,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self { full_ms: 7 * 86_400_000, snapshot_ms: 2 * 86_400_000 }
    }
}

impl RetentionPolicy {
    fn window(&self, kind: BackupKind) -> i64 {
        match kind {
            BackupKind::Full => self.full_ms,
            BackupKind::Snapshot => self.snapshot_ms,
        }
    }
}

/// What a prune did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Deleted backups.
    pub deleted: Vec<String>,
    /// Backups kept.
    pub kept: Vec<String>,
}

async fn is_good(vault: &Vault, target: &Target, m: &Manifest) -> bool {
    let key = vault.audit_public_key().await.ok().flatten().map(hex::encode);
    m.verify(key.as_deref()).is_ok() && target.size(&m.payload.file).await.ok() == Some(m.payload.bytes)
}

/// Delete the zone's expired backups at `target` (see the module docs).
pub async fn prune(vault: &Arc<Vault>, target: &Target, policy: RetentionPolicy) -> Result<PruneReport, BackupError> {
    let now = vault.clock().now().0;
    let all = target.manifests().await?;
    let mut newest_good = None;
    for m in all.iter().rev() {
        if is_good(vault, target, m).await {
            newest_good = Some(m.id.clone());
            break;
        }
    }
    let mut report = PruneReport::default();
    for m in all {
        let age = now - m.created_at;
        if age < policy.window(m.kind) || newest_good.as_deref() == Some(m.id.as_str()) {
            report.kept.push(m.id);
            continue;
        }
        let started = std::time::Instant::now();
        let r = async {
            target.delete(&Manifest::file_name(&m.id)).await?;
            target.delete(&m.payload.file).await
        }
        .await;
        let ev = BackupEvent {
            kind: "prune".into(),
            backup: m.id.clone(),
            at: vault.clock().now(),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            ok: r.is_ok(),
            detail: match &r {
                Ok(()) => format!("{} backup, {} h old", m.kind.as_str(), age / 3_600_000),
                Err(e) => e.to_string(),
            },
        };
        vault.record_backup_event(&ev).await?;
        r?;
        report.deleted.push(m.id);
    }
    Ok(report)
}
