//! `sys` backup endpoints for operators: take a backup now, list the zone's backups with
//! the latest outcomes, and run a restore drill. Each request is audited before it runs.

use crate::extract::{AnyAuth, ApiJson};
use crate::problem::Problem;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use custos_backup::identity::Identities;
use custos_backup::take::{BackupPlan, take_backup};
use custos_backup::{BackupError, BackupKind, Manifest};
use custos_core::service::BackupEvent;
use custos_crypto::Secret;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

impl From<BackupError> for Problem {
    fn from(e: BackupError) -> Self {
        match e {
            BackupError::Invalid(m) => Problem::invalid(m),
            BackupError::NotFound(m) => Problem::not_found(m),
            BackupError::Tampered(m) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "backup-invalid",
                "Backup fails verification",
                format!("the backup fails verification: {m}"),
            ),
            BackupError::Core(c) => c.into(),
            other => {
                tracing::error!(error = %other, "backup failed");
                Problem::new(
                    StatusCode::BAD_GATEWAY,
                    "backup-failed",
                    "Backup failed",
                    "the backup could not be written; see the server log",
                )
            }
        }
    }
}

/// A backup to take now.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BackupRequest {
    /// `full` (default) or `snapshot`.
    kind: Option<String>,
    /// The zone (default and only choice: the served zone).
    zone: Option<String>,
    /// Another target than the configured one: a directory or `s3://bucket[/prefix]`.
    target: Option<String>,
    /// Extra age recipients (`age1…`), added to the configured ones.
    #[serde(default)]
    recipients: Vec<String>,
}

/// A backup taken.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BackupCreated {
    /// Backup id.
    id: String,
    /// Where its manifest is.
    location: String,
    /// Its signed manifest.
    #[schema(value_type = Object)]
    manifest: Manifest,
}

/// One recorded backup, prune, restore or drill.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BackupEventView {
    kind: String,
    backup: String,
    /// RFC 3339.
    at: String,
    duration_ms: u64,
    ok: bool,
    detail: String,
}

impl From<BackupEvent> for BackupEventView {
    fn from(e: BackupEvent) -> Self {
        Self {
            kind: e.kind,
            backup: e.backup,
            at: e.at.to_rfc3339(),
            duration_ms: e.duration_ms,
            ok: e.ok,
            detail: e.detail,
        }
    }
}

/// The latest backup outcomes, in full (the backup listing).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BackupStatusView {
    /// Last successful full backup.
    last_full: Option<BackupEventView>,
    /// Last successful snapshot.
    last_snapshot: Option<BackupEventView>,
    /// Last restore drill, good or not.
    last_drill: Option<BackupEventView>,
    /// Last successful restore drill.
    last_good_drill: Option<BackupEventView>,
    /// A backup failed after the last success.
    last_failure: Option<BackupEventView>,
}

/// The latest backup outcomes in brief (health: times and outcomes, no details).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BackupHealth {
    /// Id of the newest successful backup.
    last_backup: Option<String>,
    /// When it was taken (RFC 3339).
    last_backup_at: Option<String>,
    /// When the last restore drill ran, and whether it passed.
    last_drill_at: Option<String>,
    last_drill_ok: Option<bool>,
    /// When the last restore drill passed.
    last_good_drill_at: Option<String>,
    /// A backup failed after the last successful one.
    failing: bool,
}

pub(crate) async fn backup_health(s: &AppState) -> Option<BackupHealth> {
    let st = s.vault.backup_status().await.ok()?;
    let newest = [st.last_full.as_ref(), st.last_snapshot.as_ref()].into_iter().flatten().max_by_key(|e| e.at);
    Some(BackupHealth {
        last_backup: newest.map(|e| e.backup.clone()),
        last_backup_at: newest.map(|e| e.at.to_rfc3339()),
        last_drill_at: st.last_drill.as_ref().map(|e| e.at.to_rfc3339()),
        last_drill_ok: st.last_drill.as_ref().map(|e| e.ok),
        last_good_drill_at: st.last_good_drill.as_ref().map(|e| e.at.to_rfc3339()),
        failing: st.last_failure.is_some(),
    })
}

async fn status_view(s: &AppState) -> Result<BackupStatusView, Problem> {
    let st = s.vault.backup_status().await?;
    Ok(BackupStatusView {
        last_full: st.last_full.map(Into::into),
        last_snapshot: st.last_snapshot.map(Into::into),
        last_drill: st.last_drill.map(Into::into),
        last_good_drill: st.last_good_drill.map(Into::into),
        last_failure: st.last_failure.map(Into::into),
    })
}

/// The zone's backups.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BackupList {
    /// The configured target.
    target: String,
    /// Latest outcomes.
    status: BackupStatusView,
    /// Manifests at the target, oldest first.
    #[schema(value_type = Vec<Object>)]
    backups: Vec<Manifest>,
}

/// Take a backup of the zone now (operator token).
#[utoipa::path(post, path = "/v1/sys/backups", tag = "sys", security(("bearer" = [])), request_body = BackupRequest,
    responses((status = 201, body = BackupCreated), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 503, body = Problem)))]
pub(crate) async fn create_backup(
    State(s): State<AppState>,
    AnyAuth(c): AnyAuth,
    ApiJson(req): ApiJson<BackupRequest>,
) -> Result<(StatusCode, Json<BackupCreated>), Problem> {
    s.vault.authorize_backup(&c, "backup.request").await?;
    let kind = match req.kind.as_deref() {
        None | Some("full") => BackupKind::Full,
        Some("snapshot") => BackupKind::Snapshot,
        Some(_) => return Err(Problem::invalid("kind must be full or snapshot")),
    };
    if req.zone.as_deref().is_some_and(|z| z != s.vault.zone().as_str()) {
        return Err(Problem::invalid("this server serves another zone"));
    }
    let settings = &s.backups;
    if req.recipients.len() > 32 {
        return Err(Problem::invalid("at most 32 recipients"));
    }
    let mut recipients = settings.recipients.clone();
    recipients.extend(req.recipients);
    recipients.dedup();
    // Everything is checked before the target is touched (a directory target is created).
    custos_backup::identity::Recipients::parse(&recipients)?;
    let target = match &req.target {
        Some(t) => custos_backup::Target::open(&check_target(t)?, s.vault.zone().as_str())?,
        None => settings.open_target(s.vault.zone().as_str())?,
    };
    let plan = BackupPlan { kind, recipients, staging: settings.staging() };
    let out = take_backup(&s.vault, &target, &plan, None).await?;
    Ok((
        StatusCode::CREATED,
        Json(BackupCreated { id: out.manifest.id.clone(), location: out.location, manifest: out.manifest }),
    ))
}

fn check_target(t: &str) -> Result<String, Problem> {
    let ok = t.len() <= 1024
        && !t.chars().any(char::is_control)
        && (t.starts_with("s3://") || std::path::Path::new(t.strip_prefix("dir:").unwrap_or(t)).is_absolute());
    if ok {
        Ok(t.to_owned())
    } else {
        Err(Problem::invalid("target must be an absolute directory or s3://bucket[/prefix]"))
    }
}

/// The zone's backups and the latest outcomes (operator token).
#[utoipa::path(get, path = "/v1/sys/backups", tag = "sys", security(("bearer" = [])),
    responses((status = 200, body = BackupList), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn list_backups(State(s): State<AppState>, AnyAuth(c): AnyAuth) -> Result<Json<BackupList>, Problem> {
    s.vault.authorize_backup(&c, "backup.list").await?;
    let target = s.backups.open_target(s.vault.zone().as_str())?;
    let backups = target.manifests().await?;
    Ok(Json(BackupList { target: target.describe().to_owned(), status: status_view(&s).await?, backups }))
}

/// A restore drill to run now.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DrillRequest {
    /// An age identity file's text; default: the configured drill identity.
    identity: Option<String>,
}

impl std::fmt::Debug for DrillRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DrillRequest([REDACTED])")
    }
}

/// A drill's result.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DrillView {
    /// The recorded outcome.
    result: BackupEventView,
    /// Rows restored.
    rows: u64,
    /// Audit entries verified.
    audit_entries: i64,
    /// Records decrypted.
    sample: usize,
}

/// Restore the newest backup into scratch space, verify it, decrypt a sample, record
/// the result (operator token). A failed drill is recorded too and answers 422.
#[utoipa::path(post, path = "/v1/sys/restore-drills", tag = "sys", security(("bearer" = [])), request_body = DrillRequest,
    responses((status = 200, body = DrillView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn restore_drill(
    State(s): State<AppState>,
    AnyAuth(c): AnyAuth,
    ApiJson(req): ApiJson<DrillRequest>,
) -> Result<Json<DrillView>, Problem> {
    s.vault.authorize_backup(&c, "backup.drill-request").await?;
    let ids = match req.identity {
        Some(text) => Arc::new(Identities::parse(&Secret::new(text))?),
        None => s
            .backups
            .drill_identity
            .clone()
            .ok_or_else(|| Problem::invalid("no identity given and no backup.drill_identity configured"))?,
    };
    let target = s.backups.open_target(s.vault.zone().as_str())?;
    match custos_backup::drill::drill(&s.vault, &target, ids, &s.backups.scratch()).await {
        Ok(r) => Ok(Json(DrillView {
            result: r.event.into(),
            rows: r.rows,
            audit_entries: r.audit_entries,
            sample: r.sample,
        })),
        Err(BackupError::Core(e)) => Err(e.into()),
        Err(e) => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "drill-failed",
            "Restore drill failed",
            format!("the restore drill failed (recorded): {e}"),
        )),
    }
}
