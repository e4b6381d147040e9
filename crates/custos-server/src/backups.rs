//! The served zone's backups: the settings they run with, and the scheduler that takes a
//! full backup and snapshots on time, prunes past the retention windows and runs restore
//! drills, each once its interval has passed since the last success.

use custos_backup::identity::Identities;
use custos_backup::retention::{RetentionPolicy, prune};
use custos_backup::take::{BackupPlan, take_backup};
use custos_backup::{BackupKind, Target};
use custos_core::Vault;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// When backups and drills run on their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Full backups (default daily).
    pub full_every: Duration,
    /// Snapshots between them (default hourly; `None`: none).
    pub snapshot_every: Option<Duration>,
    /// Restore drills (`None`: on request only).
    pub drill_every: Option<Duration>,
}

/// The zone's backup settings.
#[derive(Clone)]
pub struct BackupSettings {
    /// The target: a directory or `s3://bucket[/prefix]`.
    pub target: String,
    /// age recipients backups are encrypted to.
    pub recipients: Vec<String>,
    /// The schedule (`None`: backups on request only).
    pub schedule: Option<Schedule>,
    /// How long backups are kept.
    pub retention: RetentionPolicy,
    /// The identity scheduled drills open backups with (a drill key among the recipients).
    pub drill_identity: Option<Arc<Identities>>,
    /// Local space for payloads before upload and for drill copies.
    pub work_dir: PathBuf,
}

impl std::fmt::Debug for BackupSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupSettings")
            .field("target", &self.target)
            .field("recipients", &self.recipients.len())
            .field("schedule", &self.schedule)
            .field("retention", &self.retention)
            .field("drill_identity", &self.drill_identity.is_some())
            .finish_non_exhaustive()
    }
}

impl BackupSettings {
    /// Settings that back up on request only, to `target`.
    pub fn on_request(target: String, work_dir: PathBuf) -> Self {
        Self {
            target,
            recipients: Vec::new(),
            schedule: None,
            retention: RetentionPolicy::default(),
            drill_identity: None,
            work_dir,
        }
    }

    /// The zone's target.
    pub fn open_target(&self, zone: &str) -> Result<Target, custos_backup::BackupError> {
        Target::open(&self.target, zone)
    }

    /// Where payloads wait before upload.
    pub fn staging(&self) -> PathBuf {
        self.work_dir.join("staging")
    }

    /// Where drills restore.
    pub fn scratch(&self) -> PathBuf {
        self.work_dir.join("drills")
    }
}

fn due(last: Option<i64>, every: Duration, now: i64) -> bool {
    last.is_none_or(|at| now - at >= i64::try_from(every.as_millis()).unwrap_or(i64::MAX))
}

/// Retry a failed scheduled backup or drill after this long.
const RETRY: Duration = Duration::from_secs(300);

/// Run the schedule: a full backup when one is due, else a snapshot when due; then
/// prune; a drill when due. Checks every `tick`, or more often when an interval is
/// shorter.
pub fn spawn(vault: Arc<Vault>, settings: Arc<BackupSettings>, tick: Duration) -> Option<tokio::task::JoinHandle<()>> {
    let schedule = settings.schedule?;
    let tick = [Some(tick), Some(schedule.full_every), schedule.snapshot_every, schedule.drill_every]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(tick)
        .max(Duration::from_millis(500));
    Some(tokio::spawn(async move {
        let mut retry_at = 0i64;
        loop {
            tokio::time::sleep(tick).await;
            let now = vault.clock().now().0;
            if vault.is_sealed() || now < retry_at || !vault.hold_lease("backups", crate::jobs::lease_for(tick)).await {
                continue;
            }
            if let Err(e) = run_once(&vault, &settings, schedule, now).await {
                tracing::warn!(error = %e, "scheduled backup work failed; will retry");
                retry_at = now + i64::try_from(RETRY.as_millis()).unwrap_or(300_000);
            }
        }
    }))
}

async fn run_once(
    vault: &Arc<Vault>,
    settings: &BackupSettings,
    schedule: Schedule,
    now: i64,
) -> Result<(), custos_backup::BackupError> {
    let status = vault.backup_status().await?;
    let last_full = status.last_full.as_ref().map(|e| e.at.0);
    let last_any = [last_full, status.last_snapshot.as_ref().map(|e| e.at.0)].into_iter().flatten().max();
    let kind = if due(last_full, schedule.full_every, now) {
        Some(BackupKind::Full)
    } else {
        schedule.snapshot_every.filter(|every| due(last_any, *every, now)).map(|_| BackupKind::Snapshot)
    };
    let target = settings.open_target(vault.zone().as_str())?;
    if let Some(kind) = kind {
        let plan = BackupPlan { kind, recipients: settings.recipients.clone(), staging: settings.staging() };
        let out = take_backup(vault, &target, &plan, None).await?;
        tracing::info!(backup = %out.manifest.id, kind = kind.as_str(), bytes = out.manifest.payload.bytes, "backup taken");
        let pruned = prune(vault, &target, settings.retention).await?;
        if !pruned.deleted.is_empty() {
            tracing::info!(deleted = pruned.deleted.len(), "old backups pruned");
        }
    }
    if let (Some(every), Some(ids)) = (schedule.drill_every, &settings.drill_identity)
        && due(status.last_drill.as_ref().map(|e| e.at.0), every, now)
    {
        let r = custos_backup::drill::drill(vault, &target, ids.clone(), &settings.scratch()).await?;
        tracing::info!(backup = %r.event.backup, sample = r.sample, "restore drill passed");
    }
    Ok(())
}
