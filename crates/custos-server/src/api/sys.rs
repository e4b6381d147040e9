//! `sys` endpoints: health, unseal and seal.

use crate::extract::{AnyAuth, ApiJson, Meta};
use crate::problem::Problem;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Health and seal state.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// No keys in memory: data endpoints answer 503.
    sealed: bool,
    /// Unsealed and serving.
    ready: bool,
    /// Server version.
    version: &'static str,
    /// Whether the data directory has been initialised.
    initialized: bool,
    /// Whether this listener speaks TLS.
    tls: bool,
    /// Whether the FIPS-validated crypto module is in use.
    fips: bool,
    /// The audit trail: chain head and exporters.
    audit: AuditHealth,
    /// Tenants whose access review is overdue.
    access_reviews_overdue: usize,
    /// Data-subject requests open past their one-month due date.
    dsr_overdue: usize,
    /// Latest backups and restore drills.
    backups: Option<super::backups::BackupHealth>,
    /// The zone this node serves, its region, and this node's id (jobs run on the node
    /// holding their lease).
    zone: ZoneHealth,
}

/// Which zone and node answered.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ZoneHealth {
    name: String,
    region: Option<String>,
    node: String,
}

/// Audit trail health.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditHealth {
    /// Sequence number of the newest entry.
    head: i64,
    /// Each exporter's cursor, lag and last error.
    exporters: Vec<ExporterHealth>,
}

/// One exporter's state.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExporterHealth {
    name: String,
    cursor: i64,
    lag: i64,
    delivered: u64,
    last_error: Option<String>,
}

/// Prometheus metrics (text format): audit head, exporter cursors and lag.
#[utoipa::path(get, path = "/metrics", tag = "sys", responses((status = 200, content_type = "text/plain")))]
pub(crate) async fn metrics(State(s): State<AppState>) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let head = s.vault.audit_head_seq().await.unwrap_or(0);
    let mut out = String::new();
    out.push_str("# HELP custos_sealed 1 when the vault is sealed.\n# TYPE custos_sealed gauge\n");
    out.push_str(&format!("custos_sealed {}\n", u8::from(s.vault.is_sealed())));
    out.push_str(
        "# HELP custos_audit_head_seq Sequence number of the newest audit entry.\n# TYPE custos_audit_head_seq gauge\n",
    );
    out.push_str(&format!("custos_audit_head_seq {head}\n"));
    out.push_str("# HELP custos_audit_exporter_lag Audit entries not yet delivered by an exporter.\n# TYPE custos_audit_exporter_lag gauge\n");
    let snap = s.exporters.snapshot();
    for e in &snap {
        out.push_str(&format!(
            "custos_audit_exporter_lag{{exporter=\"{}\"}} {}\n",
            e.name,
            head.saturating_sub(e.cursor)
        ));
    }
    out.push_str("# HELP custos_audit_exporter_delivered_total Audit entries delivered since start.\n# TYPE custos_audit_exporter_delivered_total counter\n");
    for e in &snap {
        out.push_str(&format!("custos_audit_exporter_delivered_total{{exporter=\"{}\"}} {}\n", e.name, e.delivered));
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

/// Is the server up, sealed, ready?
#[utoipa::path(get, path = "/v1/sys/health", tag = "sys", responses((status = 200, body = Health)))]
pub(crate) async fn health(State(s): State<AppState>) -> Json<Health> {
    let sealed = s.vault.is_sealed();
    let initialized = matches!(s.vault.mode().await, Ok(Some(_)));
    let head = s.vault.audit_head_seq().await.unwrap_or(0);
    let exporters = s
        .exporters
        .snapshot()
        .into_iter()
        .map(|e| ExporterHealth {
            lag: head.saturating_sub(e.cursor),
            name: e.name,
            cursor: e.cursor,
            delivered: e.delivered,
            last_error: e.last_error,
        })
        .collect();
    Json(Health {
        sealed,
        ready: !sealed,
        version: env!("CARGO_PKG_VERSION"),
        initialized,
        tls: s.tls,
        fips: custos_crypto::fips_mode(),
        audit: AuditHealth { head, exporters },
        access_reviews_overdue: s.vault.overdue_access_reviews().await.map(|v| v.len()).unwrap_or(0),
        dsr_overdue: s.vault.overdue_dsrs().await.map(|v| v.len()).unwrap_or(0),
        backups: super::backups::backup_health(&s).await,
        zone: ZoneHealth {
            name: s.vault.zone().to_string(),
            region: s.zones.get(s.vault.zone().as_str()).and_then(|z| z.region.clone()),
            node: s.vault.node_id(),
        },
    })
}

/// One unseal share.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UnsealRequest {
    /// A share printed by `custos init`.
    share: String,
}

/// Unseal progress.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UnsealStatus {
    /// Still sealed.
    sealed: bool,
    /// Distinct shares given so far.
    progress: u8,
    /// Shares needed.
    threshold: u8,
}

/// Offer one share; at the threshold the vault unseals.
#[utoipa::path(post, path = "/v1/sys/unseal", tag = "sys", request_body = UnsealRequest,
    responses((status = 200, body = UnsealStatus), (status = 400, body = Problem)))]
pub(crate) async fn unseal(
    State(s): State<AppState>,
    Meta(meta): Meta,
    ApiJson(req): ApiJson<UnsealRequest>,
) -> Result<Json<UnsealStatus>, Problem> {
    let st = s.vault.unseal(&req.share, &meta).await?;
    Ok(Json(UnsealStatus { sealed: st.sealed, progress: st.progress, threshold: st.threshold }))
}

/// Drop every key from memory (operator token).
#[utoipa::path(post, path = "/v1/sys/seal", tag = "sys", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn seal(State(s): State<AppState>, AnyAuth(c): AnyAuth) -> Result<StatusCode, Problem> {
    s.vault.seal(&c).await?;
    Ok(StatusCode::NO_CONTENT)
}
