//! Roles of a tenant: the built-in ones and custom roles (`users:manage`).

use crate::extract::{ApiJson, ApiPath, Auth};
use crate::problem::Problem;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use custos_core::ids::TenantCode;
use custos_core::policy::{Permission, RoleName};
use custos_core::service::RoleView;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A role.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RoleOut {
    name: String,
    builtin: bool,
    permissions: Vec<&'static str>,
}

impl From<RoleView> for RoleOut {
    fn from(r: RoleView) -> Self {
        Self { name: r.name, builtin: r.builtin, permissions: r.permissions.names() }
    }
}

/// Roles.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RoleList {
    roles: Vec<RoleOut>,
}

/// A custom role's permissions.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutRole {
    permissions: Vec<Permission>,
}

/// Built-in and custom roles with their permissions.
#[utoipa::path(get, path = "/v1/tenants/{code}/roles", tag = "users", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code")),
    responses((status = 200, body = RoleList), (status = 403, body = Problem)))]
pub(crate) async fn list_roles(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<RoleList>, Problem> {
    let code = TenantCode::parse(&code)?;
    let roles = s.vault.list_roles(&c, &code).await?;
    Ok(Json(RoleList { roles: roles.into_iter().map(RoleOut::from).collect() }))
}

/// Create or replace a custom role (only permissions the caller holds).
#[utoipa::path(put, path = "/v1/tenants/{code}/roles/{name}", tag = "users", request_body = PutRole, security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("name" = String, Path, description = "role name")),
    responses((status = 200, body = RoleOut), (status = 400, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn put_role(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, name)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<PutRole>,
) -> Result<Json<RoleOut>, Problem> {
    let code = TenantCode::parse(&code)?;
    let name = RoleName::parse(&name)?;
    Ok(Json(s.vault.put_role(&c, &code, &name, &req.permissions).await?.into()))
}

/// Delete a custom role.
#[utoipa::path(delete, path = "/v1/tenants/{code}/roles/{name}", tag = "users", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("name" = String, Path, description = "role name")),
    responses((status = 204), (status = 404, body = Problem)))]
pub(crate) async fn delete_role(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, name)): ApiPath<(String, String)>,
) -> Result<StatusCode, Problem> {
    let code = TenantCode::parse(&code)?;
    let name = RoleName::parse(&name)?;
    s.vault.delete_role(&c, &code, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
