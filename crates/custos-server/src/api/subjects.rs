//! Subject endpoints: create a pseudonymous subject, check one exists.

use crate::extract::{ApiJson, ApiPath, Auth};
use crate::problem::Problem;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use custos_core::ids::{Pseudonym, TenantCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A new subject: no fields yet (identifiers are record fields).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateSubject {}

/// A subject, known only by its pseudonym.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SubjectOut {
    /// The pseudonym.
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<String>,
}

/// Create a subject with a random pseudonym and its own key.
#[utoipa::path(post, path = "/v1/tenants/{code}/subjects", tag = "subjects", request_body = CreateSubject, security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code")),
    responses((status = 201, body = SubjectOut), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn create_subject(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath(code): ApiPath<String>,
    ApiJson(_body): ApiJson<CreateSubject>,
) -> Result<(StatusCode, Json<SubjectOut>), Problem> {
    let code = TenantCode::parse(&code)?;
    let id = s.vault.create_subject(&c, &code).await?;
    Ok((StatusCode::CREATED, Json(SubjectOut { id: id.to_string(), created_at: None })))
}

/// Read a subject (its pseudonym and creation time).
#[utoipa::path(get, path = "/v1/tenants/{code}/subjects/{id}", tag = "subjects", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("id" = String, Path, description = "subject pseudonym")),
    responses((status = 200, body = SubjectOut), (status = 404, body = Problem)))]
pub(crate) async fn get_subject(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, id)): ApiPath<(String, String)>,
) -> Result<Json<SubjectOut>, Problem> {
    let code = TenantCode::parse(&code)?;
    let id = Pseudonym::parse(&id)?;
    let created = s.vault.get_subject(&c, &code, &id).await?;
    Ok(Json(SubjectOut { id: id.to_string(), created_at: Some(created.to_rfc3339()) }))
}
