//! API keys of a tenant's service accounts (`keys:manage`): issue, list, rotate with an
//! overlap window, revoke.

use super::secret_text::KeyText;
use crate::extract::{ApiJson, ApiPath, Auth};
use crate::problem::Problem;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use custos_core::ids::{ApiKeyId, TenantCode};
use custos_core::policy::RoleName;
use custos_core::service::{ApiKeyCreated, ApiKeyView, NewApiKey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A new API key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateApiKey {
    /// Label.
    name: String,
    /// A built-in or custom role (service-writer, service-reader, ...).
    role: RoleName,
    /// Lifetime in days (default 90, at most the configured maximum).
    #[serde(default)]
    expires_in_days: Option<u32>,
}

/// The key, shown only in this response.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ApiKeyOut {
    id: String,
    /// The secret key: store it now; it is not shown again.
    #[schema(value_type = String)]
    key: KeyText,
    role: RoleName,
    expires_at: String,
}

impl From<ApiKeyCreated> for ApiKeyOut {
    fn from(k: ApiKeyCreated) -> Self {
        Self { id: k.id.to_string(), key: KeyText(k.key), role: k.role, expires_at: k.expires_at.to_rfc3339() }
    }
}

/// Issue an API key (operator or `keys:manage`).
#[utoipa::path(post, path = "/v1/tenants/{code}/api-keys", tag = "keys", request_body = CreateApiKey, security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code")),
    responses((status = 201, body = ApiKeyOut), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn create_api_key(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath(code): ApiPath<String>,
    ApiJson(req): ApiJson<CreateApiKey>,
) -> Result<(StatusCode, Json<ApiKeyOut>), Problem> {
    let code = TenantCode::parse(&code)?;
    let k = s
        .vault
        .create_api_key(&c, &code, NewApiKey { name: req.name, role: req.role, expires_in_days: req.expires_in_days })
        .await?;
    Ok((StatusCode::CREATED, Json(k.into())))
}

/// A key as listed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ApiKeyInfo {
    id: String,
    name: String,
    role: RoleName,
    created_at: String,
    expires_at: String,
    revoked_at: Option<String>,
    last_used_at: Option<String>,
}

impl From<ApiKeyView> for ApiKeyInfo {
    fn from(k: ApiKeyView) -> Self {
        Self {
            id: k.id.to_string(),
            name: k.name,
            role: k.role,
            created_at: k.created_at.to_rfc3339(),
            expires_at: k.expires_at.to_rfc3339(),
            revoked_at: k.revoked_at.map(|t| t.to_rfc3339()),
            last_used_at: k.last_used_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// Keys.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ApiKeyList {
    keys: Vec<ApiKeyInfo>,
}

/// List the tenant's API keys (never their secrets).
#[utoipa::path(get, path = "/v1/tenants/{code}/api-keys", tag = "keys", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code")),
    responses((status = 200, body = ApiKeyList), (status = 403, body = Problem)))]
pub(crate) async fn list_api_keys(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<ApiKeyList>, Problem> {
    let code = TenantCode::parse(&code)?;
    let keys = s.vault.list_api_keys(&c, &code).await?;
    Ok(Json(ApiKeyList { keys: keys.into_iter().map(ApiKeyInfo::from).collect() }))
}

/// Rotation options.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rotate {
    /// Hours the old key keeps working (default 24, at most 720).
    #[serde(default)]
    overlap_hours: Option<u32>,
    /// Lifetime of the new key in days.
    #[serde(default)]
    expires_in_days: Option<u32>,
}

/// Rotate a key: a new key with the same name and role; the old one works for the
/// overlap window.
#[utoipa::path(post, path = "/v1/tenants/{code}/api-keys/{id}/rotate", tag = "keys", request_body = Rotate, security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("id" = String, Path, description = "key id")),
    responses((status = 201, body = ApiKeyOut), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn rotate_api_key(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, id)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<Rotate>,
) -> Result<(StatusCode, Json<ApiKeyOut>), Problem> {
    let code = TenantCode::parse(&code)?;
    let id = ApiKeyId::parse(&id)?;
    let k = s.vault.rotate_api_key(&c, &code, &id, req.overlap_hours, req.expires_in_days).await?;
    Ok((StatusCode::CREATED, Json(k.into())))
}

/// Revoke a key at once.
#[utoipa::path(delete, path = "/v1/tenants/{code}/api-keys/{id}", tag = "keys", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("id" = String, Path, description = "key id")),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn revoke_api_key(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, id)): ApiPath<(String, String)>,
) -> Result<StatusCode, Problem> {
    let code = TenantCode::parse(&code)?;
    let id = ApiKeyId::parse(&id)?;
    s.vault.revoke_api_key(&c, &code, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
