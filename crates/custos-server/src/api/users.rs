//! Staff users of a tenant (`users:manage`) and operators (`/v1/sys/users`, operators
//! only): create (with a password, or invited by email), list, read, change roles,
//! disable, delete.

use super::secret_text::SecretIn;
use crate::extract::{ApiJson, ApiPath, Auth};
use crate::problem::Problem;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use custos_core::ids::{TenantCode, UserId};
use custos_core::policy::RoleName;
use custos_core::service::{NewUser, UserChange, UserView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateUser {
    username: String,
    /// First password; leave out to send an invitation to `email`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    password: Option<SecretIn>,
    #[serde(default)]
    email: Option<String>,
    /// Roles; none means no access until given one.
    #[serde(default)]
    roles: Vec<RoleName>,
}

/// A user.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserOut {
    id: String,
    username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    roles: Vec<RoleName>,
    /// MFA set up.
    mfa: bool,
    disabled: bool,
    /// An invited user has none until the invitation is used.
    has_password: bool,
    created_at: String,
    last_login_at: Option<String>,
}

impl From<UserView> for UserOut {
    fn from(u: UserView) -> Self {
        Self {
            id: u.id.to_string(),
            username: u.username,
            email: u.email,
            roles: u.roles,
            mfa: u.mfa,
            disabled: u.disabled,
            has_password: u.has_password,
            created_at: u.created_at.to_rfc3339(),
            last_login_at: u.last_login_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// A change to a user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchUser {
    #[serde(default)]
    roles: Option<Vec<RoleName>>,
    #[serde(default)]
    disabled: Option<bool>,
}

/// Users.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserList {
    users: Vec<UserOut>,
}

async fn create(
    s: &AppState,
    c: &custos_core::service::Caller,
    tenant: Option<&TenantCode>,
    req: CreateUser,
) -> Result<(StatusCode, Json<UserOut>), Problem> {
    let new =
        NewUser { username: req.username, password: req.password.map(|p| p.0), email: req.email, roles: req.roles };
    let (view, mail) = s.vault.create_user(c, tenant, new).await?;
    if let Some(mail) = mail {
        match &s.mailer {
            Some(m) => m.send_later(mail),
            None => tracing::warn!("an invitation was created but no SMTP relay is configured"),
        }
    }
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// Create a staff user (`users:manage`; only roles whose permissions the caller holds).
#[utoipa::path(post, path = "/v1/tenants/{code}/users", tag = "users", request_body = CreateUser, security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code")),
    responses((status = 201, body = UserOut), (status = 400, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn create_user(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath(code): ApiPath<String>,
    ApiJson(req): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<UserOut>), Problem> {
    let code = TenantCode::parse(&code)?;
    create(&s, &c, Some(&code), req).await
}

/// List a tenant's staff users.
#[utoipa::path(get, path = "/v1/tenants/{code}/users", tag = "users", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code")),
    responses((status = 200, body = UserList), (status = 403, body = Problem)))]
pub(crate) async fn list_users(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<UserList>, Problem> {
    let code = TenantCode::parse(&code)?;
    let users = s.vault.list_users(&c, Some(&code)).await?;
    Ok(Json(UserList { users: users.into_iter().map(UserOut::from).collect() }))
}

/// Read a staff user.
#[utoipa::path(get, path = "/v1/tenants/{code}/users/{id}", tag = "users", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("id" = String, Path, description = "user id")),
    responses((status = 200, body = UserOut), (status = 404, body = Problem)))]
pub(crate) async fn get_user(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, id)): ApiPath<(String, String)>,
) -> Result<Json<UserOut>, Problem> {
    let code = TenantCode::parse(&code)?;
    let id = UserId::parse(&id)?;
    Ok(Json(s.vault.get_user(&c, Some(&code), &id).await?.into()))
}

/// Change a user's roles, or disable/enable it (disabling ends its sessions).
#[utoipa::path(patch, path = "/v1/tenants/{code}/users/{id}", tag = "users", request_body = PatchUser, security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("id" = String, Path, description = "user id")),
    responses((status = 200, body = UserOut), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn patch_user(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, id)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<PatchUser>,
) -> Result<Json<UserOut>, Problem> {
    let code = TenantCode::parse(&code)?;
    let id = UserId::parse(&id)?;
    let change = UserChange { roles: req.roles, disabled: req.disabled };
    Ok(Json(s.vault.update_user(&c, Some(&code), &id, change).await?.into()))
}

/// Delete a user with its sessions.
#[utoipa::path(delete, path = "/v1/tenants/{code}/users/{id}", tag = "users", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("id" = String, Path, description = "user id")),
    responses((status = 204), (status = 404, body = Problem)))]
pub(crate) async fn delete_user(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, id)): ApiPath<(String, String)>,
) -> Result<StatusCode, Problem> {
    let code = TenantCode::parse(&code)?;
    let id = UserId::parse(&id)?;
    s.vault.delete_user(&c, Some(&code), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create an operator user (operators only; MFA is required before first use).
#[utoipa::path(post, path = "/v1/sys/users", tag = "users", request_body = CreateUser, security(("bearer" = [])),
    responses((status = 201, body = UserOut), (status = 400, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn create_operator(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiJson(req): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<UserOut>), Problem> {
    create(&s, &c, None, req).await
}

/// List operator users.
#[utoipa::path(get, path = "/v1/sys/users", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserList), (status = 403, body = Problem)))]
pub(crate) async fn list_operators(State(s): State<AppState>, Auth(c): Auth) -> Result<Json<UserList>, Problem> {
    let users = s.vault.list_users(&c, None).await?;
    Ok(Json(UserList { users: users.into_iter().map(UserOut::from).collect() }))
}
