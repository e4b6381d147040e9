//! Access reviews (`access:review`): the report of every principal, and its
//! confirmation with the changes made.

use crate::extract::{ApiJson, ApiPath, Auth};
use crate::problem::Problem;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use custos_core::ids::{ApiKeyId, TenantCode, UserId};
use custos_core::service::{ConfirmReview, PrincipalReview};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One principal.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PrincipalOut {
    id: String,
    /// user or service.
    kind: &'static str,
    name: Option<String>,
    roles: Vec<String>,
    permissions: Vec<&'static str>,
    /// MFA set up (users).
    mfa: Option<bool>,
    /// Disabled user, or revoked or expired key.
    inactive: bool,
    /// Last login (users) or use (keys).
    last_active_at: Option<String>,
    created_at: String,
    age_days: i64,
    expires_at: Option<String>,
}

impl From<PrincipalReview> for PrincipalOut {
    fn from(p: PrincipalReview) -> Self {
        Self {
            id: p.id,
            kind: p.kind,
            name: p.name,
            roles: p.roles,
            permissions: p.permissions,
            mfa: p.mfa,
            inactive: p.inactive,
            last_active_at: p.last_active_at.map(|t| t.to_rfc3339()),
            created_at: p.created_at.to_rfc3339(),
            age_days: p.age_days,
            expires_at: p.expires_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// The previous review.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LastReview {
    id: String,
    reviewer: String,
    at: String,
}

/// The access-review report.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReviewOut {
    tenant: String,
    generated_at: String,
    last_review: Option<LastReview>,
    due_at: String,
    overdue: bool,
    principals: Vec<PrincipalOut>,
}

/// Every principal of the tenant with roles, effective permissions, MFA status, last
/// activity and key ages.
#[utoipa::path(get, path = "/v1/tenants/{code}/access-review", tag = "users", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code")),
    responses((status = 200, body = ReviewOut), (status = 403, body = Problem)))]
pub(crate) async fn access_review(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<ReviewOut>, Problem> {
    let code = TenantCode::parse(&code)?;
    let r = s.vault.access_review(&c, &code).await?;
    Ok(Json(ReviewOut {
        tenant: r.tenant.to_string(),
        generated_at: r.generated_at.to_rfc3339(),
        last_review: r.last_review.map(|(id, reviewer, at)| LastReview { id, reviewer, at: at.to_rfc3339() }),
        due_at: r.due_at.to_rfc3339(),
        overdue: r.overdue,
        principals: r.principals.into_iter().map(PrincipalOut::from).collect(),
    }))
}

/// A confirmation with the changes to make.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfirmIn {
    /// Users to disable.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    disable_users: Vec<UserId>,
    /// Keys to revoke.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    revoke_keys: Vec<ApiKeyId>,
}

/// The recorded review.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConfirmOut {
    id: String,
    reviewer: String,
    at: String,
    principals_reviewed: usize,
    changes: Vec<String>,
}

/// Confirm the review: records the reviewer, the time and the changes made with it.
#[utoipa::path(post, path = "/v1/tenants/{code}/access-review/confirm", tag = "users", request_body = ConfirmIn, security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code")),
    responses((status = 200, body = ConfirmOut), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn confirm(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath(code): ApiPath<String>,
    ApiJson(req): ApiJson<ConfirmIn>,
) -> Result<Json<ConfirmOut>, Problem> {
    let code = TenantCode::parse(&code)?;
    let r = s
        .vault
        .confirm_access_review(
            &c,
            &code,
            ConfirmReview { disable_users: req.disable_users, revoke_keys: req.revoke_keys },
        )
        .await?;
    Ok(Json(ConfirmOut {
        id: r.id,
        reviewer: r.reviewer,
        at: r.at.to_rfc3339(),
        principals_reviewed: r.principals_reviewed,
        changes: r.changes,
    }))
}
