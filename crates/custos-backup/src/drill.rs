//! Restore drills: the newest backup at the zone's target is restored into a scratch
//! directory exactly as `custos restore` would (signature, checksums, counts, audit head,
//! ledger re-applied, whole audit chain verified), then opened with the live root key to
//! decrypt a sample of records. The result is recorded and audited either way; the
//! scratch copy is removed.

use crate::identity::Identities;
use crate::restore::{BackupSource, RestoreRequest, restore};
use crate::{BackupError, target::Target};
use custos_core::Vault;
use custos_core::service::BackupEvent;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Records decrypted by a drill.
pub const SAMPLE: usize = 50;

/// What a drill found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrillResult {
    /// The recorded event (time, backup, duration, outcome, summary).
    pub event: BackupEvent,
    /// Rows restored.
    pub rows: u64,
    /// Audit entries verified.
    pub audit_entries: i64,
    /// Records decrypted.
    pub sample: usize,
}

/// Run a drill against the newest backup of the live vault's zone.
pub async fn drill(
    live: &Arc<Vault>,
    target: &Target,
    identities: Arc<Identities>,
    scratch_root: &Path,
) -> Result<DrillResult, BackupError> {
    let started = Instant::now();
    let newest = target.manifests().await?.pop();
    let scratch = scratch_root.join(format!("drill-{}", custos_crypto::random_hex(6)?));
    let outcome = match &newest {
        None => Err(BackupError::NotFound("there is no backup to drill".into())),
        Some(m) => run(live, target, identities, &scratch, &m.id).await,
    };
    let _ = std::fs::remove_dir_all(&scratch);
    let event = BackupEvent {
        kind: "drill".into(),
        backup: newest.as_ref().map_or_else(|| "-".into(), |m| m.id.clone()),
        at: live.clock().now(),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        ok: outcome.is_ok(),
        detail: match &outcome {
            Ok((rows, entries, sample)) => {
                format!("{rows} rows restored, audit chain verified ({entries} entries), {sample} records decrypted")
            }
            Err(e) => e.to_string(),
        },
    };
    live.record_backup_event(&event).await?;
    let (rows, audit_entries, sample) = outcome?;
    Ok(DrillResult { event, rows, audit_entries, sample })
}

async fn run(
    live: &Arc<Vault>,
    target: &Target,
    identities: Arc<Identities>,
    scratch: &Path,
    id: &str,
) -> Result<(u64, i64, usize), BackupError> {
    std::fs::create_dir_all(scratch)?;
    let trusted = live.audit_public_key().await?.map(hex::encode);
    let report = restore(RestoreRequest {
        source: BackupSource::Target(target.clone(), id.to_owned()),
        identities,
        db_path: scratch.join("zone.db"),
        ledger: live.ledger().ok(),
        trusted_key: trusted,
        clock: live.clock().clone(),
        zone: Some(live.zone().to_string()),
        progress: None,
    })
    .await?;
    live.lend_root_to(&report.vault).await?;
    let sample = report.vault.decrypt_sample(SAMPLE).await?;
    report.vault.seal_now();
    Ok((report.manifest.counts.values().sum(), report.audit_entries, sample))
}
