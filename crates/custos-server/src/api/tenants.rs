//! Tenant endpoints: create, read, rotate the tenant key, issue API keys.

use crate::extract::{ApiJson, ApiPath, Auth};
use crate::problem::Problem;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use custos_core::ids::TenantCode;
use custos_core::policy::Role;
use custos_core::service::{NewApiKey, TenantView};
use custos_crypto::Secret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A new tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTenant {
    /// Unique account code: 2-32 of a-z, 0-9, '-'.
    code: String,
    /// Organisation name.
    name: String,
}

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TenantOut {
    code: String,
    zone: String,
    key_version: u32,
}

impl From<TenantView> for TenantOut {
    fn from(t: TenantView) -> Self {
        Self { code: t.code.to_string(), zone: t.zone.to_string(), key_version: t.key_version }
    }
}

/// Create a tenant (operator only).
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", request_body = CreateTenant, security(("bearer" = [])),
    responses((status = 201, body = TenantOut), (status = 400, body = Problem), (status = 409, body = Problem), (status = 503, body = Problem)))]
pub(crate) async fn create_tenant(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiJson(req): ApiJson<CreateTenant>,
) -> Result<(StatusCode, Json<TenantOut>), Problem> {
    let code = TenantCode::parse_strict(&req.code)?;
    let t = s.vault.create_tenant(&c, code, &req.name).await?;
    Ok((StatusCode::CREATED, Json(t.into())))
}

/// Read a tenant.
#[utoipa::path(get, path = "/v1/tenants/{code}", tag = "tenants", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code")),
    responses((status = 200, body = TenantOut), (status = 404, body = Problem)))]
pub(crate) async fn get_tenant(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<TenantOut>, Problem> {
    let code = TenantCode::parse(&code)?;
    Ok(Json(s.vault.get_tenant(&c, &code).await?.into()))
}

/// The new key version.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Rotated {
    key_version: u32,
}

/// Add a tenant key version (operator or tenant admin). New writes use it; a background
/// job rewraps older data.
#[utoipa::path(post, path = "/v1/tenants/{code}/keys/rotate", tag = "tenants", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code")),
    responses((status = 200, body = Rotated), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn rotate(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<Rotated>, Problem> {
    let code = TenantCode::parse(&code)?;
    Ok(Json(Rotated { key_version: s.vault.rotate_tenant_key(&c, &code).await? }))
}

/// A new API key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateApiKey {
    /// Label.
    name: String,
    /// admin, writer or reader.
    role: Role,
    /// Lifetime in days (default 90, at most 730).
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
    role: Role,
    expires_at: String,
}

/// Serialises a secret exactly once, into the creation response.
#[derive(Debug)]
pub(crate) struct KeyText(Secret<String>);

impl Serialize for KeyText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.expose())
    }
}

/// Issue an API key for the tenant (operator or tenant admin).
#[utoipa::path(post, path = "/v1/tenants/{code}/api-keys", tag = "tenants", request_body = CreateApiKey, security(("bearer" = [])),
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
    Ok((
        StatusCode::CREATED,
        Json(ApiKeyOut {
            id: k.id.to_string(),
            key: KeyText(k.key),
            role: k.role,
            expires_at: k.expires_at.to_rfc3339(),
        }),
    ))
}
