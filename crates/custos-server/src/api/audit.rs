//! Audit endpoints: querying a tenant's or the `sys` trail, the checkpoint public key,
//! and a verification of the whole chain.

use crate::extract::{AnyAuth, ApiPath, ApiQuery, Auth};
use crate::problem::Problem;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use custos_core::audit::{ChainedEntry, Outcome};
use custos_core::clock::Timestamp;
use custos_core::ids::{Pseudonym, TenantCode};
use custos_core::service::{AuditReport, PageRequest};
use custos_core::store::AuditFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The key that signs audit checkpoints.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PublicKey {
    /// Always `ed25519`.
    algorithm: &'static str,
    /// The public key, hex.
    public_key: String,
}

/// The checkpoint public key: verify a trail without the root key.
#[utoipa::path(get, path = "/v1/sys/audit/public-key", tag = "audit",
    responses((status = 200, body = PublicKey), (status = 404, body = Problem)))]
pub(crate) async fn public_key(State(s): State<AppState>) -> Result<Json<PublicKey>, Problem> {
    let pk =
        s.vault.audit_public_key().await?.ok_or_else(|| Problem::not_found("no key yet: unseal the vault once"))?;
    Ok(Json(PublicKey { algorithm: "ed25519", public_key: hex::encode(pk) }))
}

/// Result of a verification.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VerifyOut {
    /// True when the chain and every checkpoint verified.
    ok: bool,
    entries: i64,
    verified_to: i64,
    checkpoints: usize,
    last_checkpoint: Option<i64>,
    /// The first bad sequence number.
    first_bad_seq: Option<i64>,
    /// Kind of fault: edited-entry, missing-entry, out-of-order-entry, broken-link,
    /// truncated, forged-checkpoint, checkpoint-mismatch.
    fault: Option<&'static str>,
}

impl From<AuditReport> for VerifyOut {
    fn from(r: AuditReport) -> Self {
        Self {
            ok: r.fault.is_none(),
            entries: r.entries,
            verified_to: r.verified_to,
            checkpoints: r.checkpoints,
            last_checkpoint: r.last_checkpoint,
            first_bad_seq: r.fault.as_ref().map(|f| f.seq),
            fault: r.fault.map(|f| f.kind),
        }
    }
}

/// Recompute the audit chain and check its checkpoints (operator token).
#[utoipa::path(get, path = "/v1/sys/audit/verify", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = VerifyOut), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn verify(State(s): State<AppState>, AnyAuth(c): AnyAuth) -> Result<Json<VerifyOut>, Problem> {
    c.principal.require_operator()?;
    Ok(Json(s.vault.verify_audit(None).await?.into()))
}

/// Filters and paging of an audit query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// From this time (RFC 3339, inclusive).
    from: Option<String>,
    /// Before this time (RFC 3339).
    to: Option<String>,
    /// Principal id (API key id or operator token id).
    principal: Option<String>,
    /// Subject pseudonym.
    subject: Option<String>,
    /// Action, such as `record.read`.
    action: Option<String>,
    /// `ok`, `denied` or `error`.
    outcome: Option<String>,
    /// Cursor from the previous page.
    cursor: Option<String>,
    /// Page size, 1-1000 (default 100).
    limit: Option<u32>,
}

/// One audit entry.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EntryOut {
    seq: i64,
    time: String,
    zone: String,
    tenant: Option<String>,
    principal_kind: &'static str,
    principal_id: String,
    action: String,
    collection: Option<String>,
    record: Option<String>,
    subject: Option<String>,
    purpose: Option<String>,
    outcome: &'static str,
    reason: Option<String>,
    client: Option<String>,
    request_id: String,
    count: u32,
    /// The previous entry's chain hash (hex).
    prev_hash: String,
    /// This entry's chain hash (hex).
    hash: String,
}

impl From<ChainedEntry> for EntryOut {
    fn from(c: ChainedEntry) -> Self {
        let e = c.entry;
        Self {
            seq: c.seq,
            time: e.time.to_rfc3339(),
            zone: e.zone.to_string(),
            tenant: e.tenant.map(|t| t.to_string()),
            principal_kind: e.principal_kind.as_str(),
            principal_id: e.principal_id,
            action: e.action,
            collection: e.collection.map(|x| x.to_string()),
            record: e.record.map(|x| x.to_string()),
            subject: e.subject.map(|x| x.to_string()),
            purpose: e.purpose.map(|x| x.to_string()),
            outcome: e.outcome.as_str(),
            reason: e.reason,
            client: e.client,
            request_id: e.request_id,
            count: e.count,
            prev_hash: hex::encode(c.prev_hash),
            hash: hex::encode(c.hash),
        }
    }
}

/// A page of audit entries.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditPageOut {
    entries: Vec<EntryOut>,
    next: Option<String>,
}

fn filter(q: &AuditQuery) -> Result<AuditFilter, Problem> {
    let time = |v: &Option<String>, name: &str| -> Result<Option<Timestamp>, Problem> {
        v.as_deref()
            .map(|s| {
                Timestamp::parse_rfc3339(s).ok_or_else(|| Problem::invalid(format!("{name}: not an RFC 3339 time")))
            })
            .transpose()
    };
    let outcome = q
        .outcome
        .as_deref()
        .map(|o| Outcome::parse(o).ok_or_else(|| Problem::invalid("outcome: ok, denied or error")))
        .transpose()?;
    let bounded = |v: &Option<String>, name: &str| -> Result<Option<String>, Problem> {
        match v {
            Some(s) if s.len() > 64 || s.chars().any(char::is_control) => {
                Err(Problem::invalid(format!("{name}: too long")))
            }
            other => Ok(other.clone()),
        }
    };
    Ok(AuditFilter {
        tenant: None,
        from: time(&q.from, "from")?,
        to: time(&q.to, "to")?,
        principal: bounded(&q.principal, "principal")?,
        subject: q.subject.as_deref().map(Pseudonym::parse).transpose()?,
        action: bounded(&q.action, "action")?,
        outcome,
    })
}

/// A tenant's audit trail (tenant admins and auditors, operators).
#[utoipa::path(get, path = "/v1/tenants/{code}/audit", tag = "audit", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), AuditQuery),
    responses((status = 200, body = AuditPageOut), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn tenant_audit(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath(code): ApiPath<String>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPageOut>, Problem> {
    let code = TenantCode::parse(&code)?;
    let f = filter(&q)?;
    let page =
        s.vault.query_audit(&c, Some(&code), f, PageRequest { cursor: q.cursor.as_deref(), limit: q.limit }).await?;
    Ok(Json(AuditPageOut { entries: page.entries.into_iter().map(Into::into).collect(), next: page.next }))
}

/// The `sys` audit trail: entries of no tenant (unseal, seal, failed logins) (operators).
#[utoipa::path(get, path = "/v1/sys/audit", tag = "audit", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = AuditPageOut), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn sys_audit(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPageOut>, Problem> {
    let f = filter(&q)?;
    let page = s.vault.query_audit(&c, None, f, PageRequest { cursor: q.cursor.as_deref(), limit: q.limit }).await?;
    Ok(Json(AuditPageOut { entries: page.entries.into_iter().map(Into::into).collect(), next: page.next }))
}
