//! The `[backup]` section: the zone's target, the operators' age recipients, the
//! schedule (full backups, snapshots, drills), retention windows and the drill identity.

use crate::config_privacy::duration_ms;
use anyhow::{Context, Result, bail};
use custos_backup::identity::{Identities, Recipients};
use custos_backup::retention::RetentionPolicy;
use custos_server::backups::{BackupSettings, Schedule};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// `[backup]` as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackup {
    /// A directory (relative to the data directory when not absolute) or
    /// `s3://bucket[/prefix]` (credentials and endpoint from the `AWS_*` variables).
    #[serde(default = "default_target")]
    pub target: String,
    /// The operators' age recipients (`age1…`).
    #[serde(default)]
    pub recipients: Vec<String>,
    /// Run backups on a schedule (needs recipients).
    #[serde(default = "yes")]
    pub schedule: bool,
    /// Full backup interval (`24h`).
    #[serde(default = "default_full")]
    pub full_every: String,
    /// Snapshot interval between full backups (`1h`; `off` for none).
    #[serde(default = "default_snapshot")]
    pub snapshot_every: String,
    /// Keep full backups this long (`7d`).
    #[serde(default = "default_retention")]
    pub retention: String,
    /// Keep snapshots this long (`2d`).
    #[serde(default = "default_snapshot_retention")]
    pub snapshot_retention: String,
    /// Restore drill interval (`7d`; `off` for on request only).
    #[serde(default = "off")]
    pub drill_every: String,
    /// The age identity file scheduled drills use (its recipient must be among `recipients`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill_identity: Option<PathBuf>,
}

impl Default for RawBackup {
    fn default() -> Self {
        Self {
            target: default_target(),
            recipients: Vec::new(),
            schedule: false,
            full_every: default_full(),
            snapshot_every: default_snapshot(),
            retention: default_retention(),
            snapshot_retention: default_snapshot_retention(),
            drill_every: off(),
            drill_identity: None,
        }
    }
}

fn default_target() -> String {
    "backups".into()
}
fn yes() -> bool {
    true
}
fn default_full() -> String {
    "24h".into()
}
fn default_snapshot() -> String {
    "1h".into()
}
fn default_retention() -> String {
    "7d".into()
}
fn default_snapshot_retention() -> String {
    "2d".into()
}
fn off() -> String {
    "off".into()
}

fn interval(what: &str, s: &str, min_ms: i64) -> Result<Option<Duration>> {
    if s.trim() == "off" {
        return Ok(None);
    }
    let ms = duration_ms(what, s)?;
    if ms < min_ms {
        bail!("{what} must be at least {}s", min_ms / 1000);
    }
    Ok(Some(Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))))
}

/// Check `[backup]` and turn it into the server's settings.
pub fn check(dir: &Path, raw: &RawBackup) -> Result<BackupSettings> {
    const DAY: i64 = 86_400_000;
    let target = if raw.target.starts_with("s3://") {
        raw.target.clone()
    } else {
        let p = Path::new(raw.target.strip_prefix("dir:").unwrap_or(&raw.target));
        let p = if p.is_absolute() { p.to_owned() } else { dir.join(p) };
        p.to_str().context("backup.target is not valid UTF-8")?.to_owned()
    };
    if !raw.recipients.is_empty() {
        Recipients::parse(&raw.recipients).context("backup.recipients")?;
    }
    let full = duration_ms("backup.retention", &raw.retention)?;
    let snap = duration_ms("backup.snapshot_retention", &raw.snapshot_retention)?;
    if !(3_600_000..=3650 * DAY).contains(&full) || !(3_600_000..=3650 * DAY).contains(&snap) {
        bail!("backup.retention and backup.snapshot_retention must be between 1h and 3650d");
    }
    let full_every = interval("backup.full_every", &raw.full_every, 1_000)?
        .context("backup.full_every cannot be off; set backup.schedule = false instead")?;
    let schedule = Schedule {
        full_every,
        snapshot_every: interval("backup.snapshot_every", &raw.snapshot_every, 1_000)?,
        drill_every: interval("backup.drill_every", &raw.drill_every, 1_000)?,
    };
    let drill_identity = match &raw.drill_identity {
        Some(p) => {
            let p = if p.is_absolute() { p.clone() } else { dir.join(p) };
            Some(Arc::new(Identities::read(&p).context("backup.drill_identity")?))
        }
        None => None,
    };
    if schedule.drill_every.is_some() && drill_identity.is_none() {
        bail!("backup.drill_every needs backup.drill_identity");
    }
    if raw.schedule && raw.recipients.is_empty() {
        bail!("backup.schedule needs backup.recipients (the operators' age public keys)");
    }
    Ok(BackupSettings {
        target,
        recipients: raw.recipients.clone(),
        schedule: raw.schedule.then_some(schedule),
        retention: RetentionPolicy { full_ms: full, snapshot_ms: snap },
        drill_identity,
        work_dir: dir.join("backup-work"),
    })
}
