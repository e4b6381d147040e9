//! Tenant endpoints: create, read, rotate the tenant key.

use crate::extract::{ApiJson, ApiPath, Auth};
use crate::problem::Problem;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use custos_core::ids::TenantCode;
use custos_core::service::TenantView;
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
    /// The tenant's residency zone (default: the zone this server serves). A tenant is
    /// created only by a node of its zone; any other zone is refused with 421 and the
    /// URL that zone is served at.
    #[serde(default)]
    zone: Option<String>,
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
    responses((status = 201, body = TenantOut), (status = 400, body = Problem), (status = 409, body = Problem),
        (status = 421, description = "the tenant's zone is served elsewhere", body = Problem), (status = 503, body = Problem)))]
pub(crate) async fn create_tenant(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiJson(req): ApiJson<CreateTenant>,
) -> Result<(StatusCode, Json<TenantOut>), Problem> {
    let code = TenantCode::parse_strict(&req.code)?;
    if let Some(z) = req.zone.as_deref().filter(|z| *z != s.vault.zone().as_str()) {
        return Err(wrong_zone(&s, z));
    }
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

/// 421 Misdirected Request: this node serves another zone.
fn wrong_zone(s: &AppState, zone: &str) -> Problem {
    let detail = match s.zones.get(zone) {
        Some(z) => match &z.url {
            Some(url) => format!("zone {zone} is served at {url}; this server serves zone {}", s.vault.zone()),
            None => format!("zone {zone} is served by other nodes; this server serves zone {}", s.vault.zone()),
        },
        None => format!("this deployment has no such zone; this server serves zone {}", s.vault.zone()),
    };
    Problem::new(StatusCode::MISDIRECTED_REQUEST, "wrong-zone", "Another zone", detail)
}
