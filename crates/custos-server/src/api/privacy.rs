//! Data-subject request endpoints: erasure (request, read, cancel), the request list
//! with its GDPR clock, export, and a tenant's privacy settings.

use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth, PurposeHeader};
use crate::problem::Problem;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use custos_core::ids::{DsrId, Pseudonym, TenantCode};
use custos_core::service::{ErasureView, TenantPrivacy};
use custos_core::store::{DsrEvent, DsrKind, DsrRow};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// An erasure request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ErasureRequest {
    /// Why (sealed; shown to no one through the API).
    #[serde(default)]
    reason: Option<String>,
    /// Also delete fields that would otherwise be kept anonymised.
    #[serde(default)]
    delete_shared: bool,
}

/// A recipient's notice on a request.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NoticeOut {
    recipient: String,
    notified_at: Option<String>,
    acknowledged_at: Option<String>,
    attempts: u32,
    last_error: Option<String>,
}

/// One step of a request's history.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventOut {
    at: String,
    event: String,
    by: String,
}

impl From<&DsrEvent> for EventOut {
    fn from(e: &DsrEvent) -> Self {
        Self { at: custos_core::clock::Timestamp(e.at).to_rfc3339(), event: e.event.clone(), by: e.by.clone() }
    }
}

/// A data-subject request and its GDPR clock.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DsrOut {
    id: String,
    kind: &'static str,
    /// The subject (null once purged).
    subject: Option<String>,
    /// `locked`, `cancelled`, `purged` (erasure) or `completed` (export).
    state: &'static str,
    received_at: String,
    /// One month after receipt.
    due_at: String,
    /// End of the grace window (erasure).
    purge_after: Option<String>,
    closed_at: Option<String>,
    delete_shared: bool,
    /// Open past its due date.
    overdue: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipients: Option<Vec<NoticeOut>>,
    history: Vec<EventOut>,
}

fn dsr_out(row: &DsrRow, now: custos_core::clock::Timestamp, recipients: Option<Vec<NoticeOut>>) -> DsrOut {
    DsrOut {
        id: row.id.to_string(),
        kind: match row.kind {
            DsrKind::Export => "export",
            DsrKind::Erasure => "erasure",
        },
        subject: row.subject.as_ref().map(|s| s.to_string()),
        state: row.state.as_str(),
        received_at: row.received_at.to_rfc3339(),
        due_at: row.due_at.to_rfc3339(),
        purge_after: row.purge_after.map(|t| t.to_rfc3339()),
        closed_at: row.closed_at.map(|t| t.to_rfc3339()),
        delete_shared: row.delete_shared,
        overdue: row.state.is_open() && row.due_at < now,
        recipients,
        history: row.history.iter().map(EventOut::from).collect(),
    }
}

fn erasure_out(v: ErasureView, now: custos_core::clock::Timestamp) -> DsrOut {
    let recipients = v
        .recipients
        .into_iter()
        .map(|n| NoticeOut {
            recipient: n.recipient.to_string(),
            notified_at: n.notified_at.map(|t| t.to_rfc3339()),
            acknowledged_at: n.acknowledged_at.map(|t| t.to_rfc3339()),
            attempts: n.attempts,
            last_error: n.last_error,
        })
        .collect();
    dsr_out(&v.row, now, Some(recipients))
}

/// Erase a subject in one request: locked now (invisible to everyone but request
/// handlers), every recipient notified, purged after the grace window.
#[utoipa::path(post, path = "/v1/tenants/{code}/subjects/{id}/erasure", tag = "privacy", request_body = ErasureRequest,
    security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("id" = String, Path, description = "subject pseudonym")),
    responses((status = 202, body = DsrOut), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn request_erasure(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, id)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<ErasureRequest>,
) -> Result<(StatusCode, Json<DsrOut>), Problem> {
    let code = TenantCode::parse(&code)?;
    let id = Pseudonym::parse(&id)?;
    let v = s.vault.request_erasure(&c, &code, &id, req.reason.as_deref(), req.delete_shared).await?;
    Ok((StatusCode::ACCEPTED, Json(erasure_out(v, s.vault.clock().now()))))
}

/// A data-subject request: state, due date, recipients notified and acknowledged, history.
#[utoipa::path(get, path = "/v1/tenants/{code}/erasures/{request}", tag = "privacy", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("request" = String, Path, description = "request id")),
    responses((status = 200, body = DsrOut), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn get_erasure(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, id)): ApiPath<(String, String)>,
) -> Result<Json<DsrOut>, Problem> {
    let code = TenantCode::parse(&code)?;
    let id = DsrId::parse(&id)?;
    let v = s.vault.get_dsr(&c, &code, &id).await?;
    Ok(Json(erasure_out(v, s.vault.clock().now())))
}

/// Cancel an erasure while it is locked: the subject is active again.
#[utoipa::path(post, path = "/v1/tenants/{code}/erasures/{request}/cancel", tag = "privacy", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("request" = String, Path, description = "request id")),
    responses((status = 200, body = DsrOut), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn cancel_erasure(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, id)): ApiPath<(String, String)>,
) -> Result<Json<DsrOut>, Problem> {
    let code = TenantCode::parse(&code)?;
    let id = DsrId::parse(&id)?;
    let v = s.vault.cancel_erasure(&c, &code, &id).await?;
    Ok(Json(erasure_out(v, s.vault.clock().now())))
}

/// Paging of the request list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct DsrQuery {
    /// Requests older than this id (the previous page's last).
    before: Option<String>,
    /// Page size, 1-500 (default 50).
    limit: Option<u32>,
}

/// A page of requests.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DsrPage {
    requests: Vec<DsrOut>,
}

/// A tenant's data-subject requests, newest first, with their GDPR clock.
#[utoipa::path(get, path = "/v1/tenants/{code}/dsr-requests", tag = "privacy", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), DsrQuery),
    responses((status = 200, body = DsrPage), (status = 403, body = Problem)))]
pub(crate) async fn list_dsrs(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath(code): ApiPath<String>,
    ApiQuery(q): ApiQuery<DsrQuery>,
) -> Result<Json<DsrPage>, Problem> {
    let code = TenantCode::parse(&code)?;
    let before = q.before.as_deref().map(DsrId::parse).transpose()?;
    let rows = s.vault.list_dsrs(&c, &code, before.as_ref(), q.limit.unwrap_or(50)).await?;
    let now = s.vault.clock().now();
    Ok(Json(DsrPage { requests: rows.iter().map(|r| dsr_out(r, now, None)).collect() }))
}

/// Everything held on a subject as one JSON document (GDPR Art. 15/20; schema in
/// docs/privacy.md). Needs `Custos-Purpose: dsr`.
#[utoipa::path(get, path = "/v1/tenants/{code}/subjects/{id}/export", tag = "privacy", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("id" = String, Path, description = "subject pseudonym"),
           ("Custos-Purpose" = String, Header, description = "must be dsr")),
    responses((status = 200, body = Object), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn export_subject(
    State(s): State<AppState>,
    Auth(c): Auth,
    PurposeHeader(purpose): PurposeHeader,
    ApiPath((code, id)): ApiPath<(String, String)>,
) -> Result<Json<Value>, Problem> {
    let code = TenantCode::parse(&code)?;
    let id = Pseudonym::parse(&id)?;
    Ok(Json(s.vault.export_subject(&c, &code, &id, purpose.as_ref()).await?.0))
}

/// A tenant's privacy settings.
#[utoipa::path(get, path = "/v1/tenants/{code}/privacy", tag = "privacy", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code")),
    responses((status = 200, body = TenantPrivacy), (status = 403, body = Problem)))]
pub(crate) async fn get_privacy(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<TenantPrivacy>, Problem> {
    let code = TenantCode::parse(&code)?;
    Ok(Json(s.vault.tenant_privacy(&c, &code).await?))
}

/// Change a tenant's privacy settings (the erasure grace window, 1-90 days).
#[utoipa::path(put, path = "/v1/tenants/{code}/privacy", tag = "privacy", request_body = TenantPrivacy, security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code")),
    responses((status = 200, body = TenantPrivacy), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn put_privacy(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath(code): ApiPath<String>,
    ApiJson(body): ApiJson<TenantPrivacy>,
) -> Result<Json<TenantPrivacy>, Problem> {
    let code = TenantCode::parse(&code)?;
    Ok(Json(s.vault.set_tenant_privacy(&c, &code, body).await?))
}
